"""`vidnas cluster up --local | add-node | down`: a real Ray head and an MLflow tracking server on
this machine, and more Ray nodes joined to the head, each in its own process group, recorded in a
state directory and stopped by pid.

Never `ray stop`: it kills every Ray process on the machine, other users' too.

    STATE_DIR/cluster.json   addresses and the process groups to stop
    STATE_DIR/mlflow.db      the tracking server's backend store
    STATE_DIR/artifacts/     its artifact store
    STATE_DIR/*.log          the servers' output
"""
from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from search.errors import UserError
from search.net import MLFLOW_SERVER_ENV, free_port, ray_auth_env
from spaces import atomic

STATE_FILE = "cluster.json"


class ClusterError(UserError):
    """A cluster that cannot start or be found (reported in one line)."""


@dataclass(frozen=True)
class LocalCluster:
    state_dir: str
    ray_address: str  # GCS address for `ray.init(address=...)`
    dashboard_url: str  # the Ray Jobs API (`vidnas submit --address`)
    tracking_uri: str  # the MLflow tracking server
    ray_pid: int  # `ray start --block`: leader of the Ray process group
    mlflow_pid: int  # leader of the MLflow server's process group
    pids: tuple[int, ...]  # every process of both groups, recorded at start
    nodes: tuple[tuple[int, tuple[int, ...]], ...] = ()  # added nodes: (group leader, its processes)

    def save(self) -> None:
        atomic.write_text(Path(self.state_dir, STATE_FILE), json.dumps(asdict(self), indent=2))

    @classmethod
    def read(cls, state_dir: str | Path) -> LocalCluster:
        path = Path(state_dir, STATE_FILE)
        if not path.is_file():
            raise ClusterError(f"{state_dir}: no local cluster here (no {STATE_FILE}); start one with "
                               "`vidnas cluster up --local`")
        data = json.loads(path.read_text())
        nodes = tuple((leader, tuple(pids)) for leader, pids in data.get("nodes", []))
        return cls(**data | {"pids": tuple(data["pids"]), "nodes": nodes})


def up(state_dir: str | Path, *, num_cpus: int | None = None, dashboard_port: int | None = None,
       mlflow_port: int | None = None, timeout: float = 180.0) -> LocalCluster:
    state = Path(state_dir).expanduser().resolve()
    state.mkdir(parents=True, exist_ok=True)
    if (state / STATE_FILE).is_file():
        running = LocalCluster.read(state)
        if any(psutil.pid_exists(p) for p in (running.ray_pid, running.mlflow_pid)):
            raise ClusterError(f"{state} already runs a cluster ({running.dashboard_url}); `vidnas cluster down` first")
    gcs_port, dashboard_port, mlflow_port = free_port(), dashboard_port or free_port(), mlflow_port or free_port()
    # every port its own, free now: another Ray on this machine (a local search) holds the defaults,
    # and a job agent that cannot bind 52365 leaves the Jobs API with "No available agent". The
    # autoscaler's monitor is not started (vidnas uses none); the Ray Client server cannot be left out.
    ray_cmd = [str(Path(sys.executable).parent / "ray"), "start", "--head", "--block", "--port", str(gcs_port),
               "--node-ip-address", "127.0.0.1", "--dashboard-host", "127.0.0.1", "--dashboard-port",
               str(dashboard_port), "--dashboard-agent-listen-port", str(free_port()), "--ray-client-server-port",
               str(free_port()), "--no-monitor", "--metrics-export-port", str(free_port()), "--disable-usage-stats"]
    if num_cpus is not None:
        ray_cmd += ["--num-cpus", str(num_cpus)]
    mlflow_cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{state / 'mlflow.db'}",
                  "--artifacts-destination", str(state / "artifacts"), "--host", "127.0.0.1", "--port",
                  str(mlflow_port), "--workers", "1"]
    ray_proc = _spawn(ray_cmd, state / "ray.log")
    mlflow_proc = _spawn(mlflow_cmd, state / "mlflow.log", MLFLOW_SERVER_ENV)
    dashboard, tracking = f"http://127.0.0.1:{dashboard_port}", f"http://127.0.0.1:{mlflow_port}"
    try:
        _wait_http(f"{dashboard}/api/version", ray_proc, "the Ray dashboard", timeout)
        _wait_http(f"{tracking}/health", mlflow_proc, "the MLflow server", timeout)
    except ClusterError:
        _stop_groups([ray_proc.pid, mlflow_proc.pid], [])
        raise
    pids = tuple(sorted({p.pid for leader in (ray_proc.pid, mlflow_proc.pid) for p in _tree(leader)}))
    cluster = LocalCluster(str(state), f"127.0.0.1:{gcs_port}", dashboard, tracking, ray_proc.pid, mlflow_proc.pid,
                           pids)
    cluster.save()
    return cluster


def add_node(state_dir: str | Path, *, num_cpus: int | None = None, num_gpus: int | None = None,
             timeout: float = 120.0) -> tuple[int, tuple[int, ...], str]:
    """Join one more Ray node (`ray start --address HEAD --block`, in its own process group) to
    the local cluster, with its own resources; recorded so that `down` stops it too. Returns its
    group leader, its processes and its Ray node id, once the head sees it alive."""
    cluster = LocalCluster.read(Path(state_dir).expanduser().resolve())
    state = Path(cluster.state_dir)
    index = len(cluster.nodes) + 1
    command = [str(Path(sys.executable).parent / "ray"), "start", "--address", cluster.ray_address, "--block",
               "--node-ip-address", "127.0.0.1", "--node-manager-port", str(free_port()), "--object-manager-port",
               str(free_port()), "--dashboard-agent-listen-port", str(free_port()), "--metrics-export-port",
               str(free_port()), "--disable-usage-stats"]
    command += ["--num-cpus", str(num_cpus)] if num_cpus is not None else []
    command += ["--num-gpus", str(num_gpus)] if num_gpus is not None else []
    before = _alive_nodes(cluster.ray_address)
    proc = _spawn(command, state / f"node-{index}.log")
    deadline = time.time() + timeout
    new: set[str] = set()
    while time.time() < deadline and not new:
        if proc.poll() is not None:
            raise ClusterError(f"ray start (node {index}) exited with status {proc.returncode} (see node-{index}.log)")
        time.sleep(1.0)
        new = _alive_nodes(cluster.ray_address) - before
    if not new:
        _stop_groups([proc.pid], [])
        raise ClusterError(f"node {index} did not join {cluster.ray_address} within {timeout:.0f} s")
    pids = tuple(sorted(p.pid for p in _tree(proc.pid)))
    dataclasses.replace(cluster, nodes=(*cluster.nodes, (proc.pid, pids))).save()
    return proc.pid, pids, new.pop()


def _alive_nodes(address: str) -> set[str]:
    """Ray node ids alive in the cluster, asked of its GCS by a short-lived driver."""
    code = ("import ray, json; ray.init(address=%r, configure_logging=False, log_to_driver=False); "
            "print(json.dumps([n['NodeID'] for n in ray.nodes() if n['Alive']]))" % address)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env=os.environ | ray_auth_env())
    if done.returncode != 0:
        raise ClusterError(f"cannot ask the Ray head at {address} for its nodes: "
                           f"{(done.stderr.strip().splitlines() or ['?'])[-1][:200]}")
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def down(state_dir: str | Path, *, timeout: float = 60.0) -> list[int]:
    """Stop the recorded process groups (SIGTERM, then SIGKILL); returns the pids that were alive."""
    cluster = LocalCluster.read(Path(state_dir).expanduser().resolve())
    every = [*cluster.pids, *(p for _, pids in cluster.nodes for p in pids)]
    alive = [p for p in every if _alive(p)]
    leaders = [leader for leader, _ in cluster.nodes] + [cluster.ray_pid, cluster.mlflow_pid]
    _stop_groups(leaders, every, timeout=timeout)
    Path(cluster.state_dir, STATE_FILE).unlink()
    return alive


def _spawn(command: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    with open(log, "ab") as out:  # a session of its own: its group is exactly what we started
        # jobs run `python`: this environment's, with vidnas's dependencies
        path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                env=os.environ | {"RAY_USAGE_STATS_ENABLED": "0", "PATH": path} | ray_auth_env()
                                | (env or {}))


def _wait_http(url: str, proc: subprocess.Popen, what: str, timeout: float) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise ClusterError(f"{what} exited with status {proc.returncode} (see its log in the state directory)")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:  # it answers (e.g. 401 under token auth): it is up
            return
        except OSError:
            time.sleep(0.5)
    raise ClusterError(f"{what} did not answer on {url} within {timeout:.0f} s")


def _tree(pid: int) -> list[psutil.Process]:
    try:
        leader = psutil.Process(pid)
        return [leader, *leader.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _stop_groups(leaders: list[int], pids: list[int], timeout: float = 60.0) -> None:
    every = set(pids) | {p.pid for leader in leaders for p in _tree(leader)}
    for leader in leaders:
        try:
            os.killpg(leader, signal.SIGTERM)  # our own process groups only
        except ProcessLookupError:
            pass
    deadline = time.time() + timeout
    while time.time() < deadline and any(_alive(p) for p in every):
        time.sleep(0.3)
    for pid in every:
        if _alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    for leader in leaders:  # reap our direct children
        try:
            os.waitpid(leader, os.WNOHANG)
        except ChildProcessError:
            pass
