"""`vidnas cluster up --local | down | status`."""
from __future__ import annotations

import argparse
from pathlib import Path

from cluster.local import LocalCluster, down, up

DEFAULT_STATE = Path(".vidnas/cluster")


def add_up(p: argparse.ArgumentParser) -> None:
    p.add_argument("--local", action="store_true", required=True,
                   help="start a Ray head and an MLflow server on this machine (127.0.0.1)")
    p.add_argument("--state", type=Path, default=DEFAULT_STATE, help=f"state directory (default {DEFAULT_STATE})")
    p.add_argument("--cpus", type=int, help="CPUs the Ray head offers (default: all)")
    p.add_argument("--dashboard-port", type=int, help="Ray dashboard / Jobs API port (default: a free one)")
    p.add_argument("--mlflow-port", type=int, help="MLflow server port (default: a free one)")


def run_up(args: argparse.Namespace) -> int:
    c = up(args.state, num_cpus=args.cpus, dashboard_port=args.dashboard_port, mlflow_port=args.mlflow_port)
    print(f"Ray head:     {c.ray_address}\nJobs API:     {c.dashboard_url}  (vidnas submit CONFIG --address "
          f"{c.dashboard_url})\nMLflow:       {c.tracking_uri}\nprocesses:    {len(c.pids)} (stop them with "
          f"`vidnas cluster down --state {args.state}`)")
    return 0


def add_down(p: argparse.ArgumentParser) -> None:
    p.add_argument("--state", type=Path, default=DEFAULT_STATE, help=f"state directory (default {DEFAULT_STATE})")


def run_down(args: argparse.Namespace) -> int:
    stopped = down(args.state)
    print(f"stopped {len(stopped)} processes of the cluster in {args.state}")
    return 0


def run_status(args: argparse.Namespace) -> int:
    c = LocalCluster.read(args.state)
    print(f"Ray head {c.ray_address}, Jobs API {c.dashboard_url}, MLflow {c.tracking_uri}, {len(c.pids)} processes")
    return 0
