"""`vidnas cluster up --local | down | status`."""
from __future__ import annotations

import argparse
from pathlib import Path

from cluster import jobs
from cluster.local import LocalCluster, add_node, down, up

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


def add_add_node(p: argparse.ArgumentParser) -> None:
    p.add_argument("--state", type=Path, default=DEFAULT_STATE, help=f"state directory (default {DEFAULT_STATE})")
    p.add_argument("--cpus", type=int, help="CPUs the node offers (default: all)")
    p.add_argument("--gpus", type=int, help="GPUs the node offers (default: what CUDA finds)")


def run_add_node(args: argparse.Namespace) -> int:
    leader, pids, node_id = add_node(args.state, num_cpus=args.cpus, num_gpus=args.gpus)
    print(f"Ray node {node_id} joined ({len(pids)} processes, group {leader}); `vidnas cluster down --state "
          f"{args.state}` stops it with the rest")
    return 0


def add_down(p: argparse.ArgumentParser) -> None:
    p.add_argument("--state", type=Path, default=DEFAULT_STATE, help=f"state directory (default {DEFAULT_STATE})")


def run_down(args: argparse.Namespace) -> int:
    stopped = down(args.state)
    print(f"stopped {len(stopped)} processes of the cluster in {args.state}")
    return 0


def run_status(args: argparse.Namespace) -> int:
    from cluster.inventory import format_inventory, inventory

    c = LocalCluster.read(args.state)
    print(f"Ray head {c.ray_address}, Jobs API {c.dashboard_url}, MLflow {c.tracking_uri}\n")
    print(format_inventory(inventory([c.ray_pid, c.mlflow_pid, *(leader for leader, _ in c.nodes)])))
    return 0


def _add_address(p: argparse.ArgumentParser) -> None:
    p.add_argument("--address", required=True, help="the Ray Jobs API, e.g. http://127.0.0.1:8265")


def add_submit(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", type=Path, help="a search config (YAML)")
    _add_address(p)
    p.add_argument("--tracking-uri", help="the MLflow server the trials log to (overrides the config)")
    p.add_argument("--job-id", help="a submission id (default: Ray's)")


def run_submit(args: argparse.Namespace) -> int:
    job_id = jobs.submit(args.config, args.address, tracking_uri=args.tracking_uri, job_id=args.job_id)
    print(f"submitted {job_id}\nfollow it:  vidnas logs {job_id} --follow --address {args.address}\n"
          f"dashboard:  {args.address}/#/jobs/{job_id}")
    return 0


def add_jobs(p: argparse.ArgumentParser) -> None:
    _add_address(p)


def run_jobs(args: argparse.Namespace) -> int:
    for job in jobs.client(args.address).list_jobs():
        print(f"{job.submission_id or job.job_id:<28} {str(job.status.value):<10} {job.entrypoint[:60]}")
    return 0


def add_logs(p: argparse.ArgumentParser) -> None:
    p.add_argument("job_id")
    _add_address(p)
    p.add_argument("--follow", action="store_true", help="stream until the job ends")


def run_logs(args: argparse.Namespace) -> int:
    client = jobs.client(args.address)
    if not args.follow:
        print(client.get_job_logs(args.job_id), end="")
        return 0
    import asyncio

    async def tail() -> None:
        async for lines in client.tail_job_logs(args.job_id):
            print(lines, end="", flush=True)

    asyncio.run(tail())
    return 0


def add_stop(p: argparse.ArgumentParser) -> None:
    p.add_argument("job_id")
    _add_address(p)


def run_stop(args: argparse.Namespace) -> int:
    stopped = jobs.client(args.address).stop_job(args.job_id)
    print(f"{args.job_id}: {'stop requested' if stopped else 'was not running'}")
    return 0
