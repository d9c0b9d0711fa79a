"""What a local cluster runs, process by process: its role, why vidnas starts it, its memory.

`vidnas cluster status` prints it, so a user sees that nothing runs that vidnas does not use (the
MLflow server's GenAI job workers are not started: MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false).
"""
from __future__ import annotations

from dataclasses import dataclass

import psutil

# (a word of the command line, role, why it runs), first match wins
ROLES = (
    ("gcs_server", "Ray GCS", "the cluster's state: nodes, actors, jobs"),
    ("raylet", "Ray raylet", "schedules this node's trials and starts their workers"),
    ("DashboardAgent", "Ray dashboard agent", "runs the submitted jobs' drivers and serves their logs"),
    ("RuntimeEnvAgent", "Ray runtime-env agent", "sets up each job's working directory"),
    ("dashboard.py", "Ray dashboard", "serves the Jobs API that `vidnas submit` talks to"),
    ("log_monitor.py", "Ray log monitor", "streams workers' logs to the job log (`vidnas logs`)"),
    ("monitor.py", "Ray monitor", "the autoscaler (vidnas starts Ray with --no-monitor: should not run)"),
    ("ray.util.client.server", "Ray Client server", "ray:// clients; vidnas uses none, `ray start` has no switch"),
    ("ray::", "Ray worker", "runs trials (idle workers are kept for reuse)"),
    ("default_worker.py", "Ray worker", "runs trials (idle workers are kept for reuse)"),
    ("huey", "MLflow job worker", "MLflow's GenAI jobs: vidnas uses none (should not run)"),
    ("uvicorn", "MLflow server", "tracking store and UI for every search on the cluster"),
    ("mlflow", "MLflow server", "tracking store and UI for every search on the cluster"),
    ("ray start", "Ray node", "the `ray start --block` that holds the node's processes"),
    ("ray-dashboard-JobHead", "Ray dashboard module", "JobHead: the Jobs API itself"),
    ("ray-dashboard-", "Ray dashboard module", "{}: Ray's dashboard starts every module (no switch)"),
    ("multiprocessing.forkserver", "Ray dashboard fork server", "starts the dashboard's modules"),
    ("multiprocessing.resource_tracker", "Ray dashboard helper", "Python's resource tracker of the fork server"),
)


@dataclass(frozen=True)
class Process:
    pid: int
    role: str
    why: str
    rss_mb: float


def classify(command: str) -> tuple[str, str]:
    """(role, why) of a command line; an unknown one is ("other", its first words)."""
    for word, role, why in ROLES:
        if word in command:
            module = command.split(word, 1)[1].split("-", 1)[0] if "{}" in why else ""
            return role, why.format(module)
    return "other", command[:60]


def inventory(leaders: list[int]) -> list[Process]:
    """Every live process of the groups these leaders started, with role and resident memory."""
    out = []
    for leader in leaders:
        try:
            root = psutil.Process(leader)
            tree = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for p in tree:
            try:
                role, why = classify(" ".join(p.cmdline()))
                out.append(Process(p.pid, role, why, p.memory_info().rss / 2**20))
            except (psutil.NoSuchProcess, psutil.ZombieProcess):
                continue
    return out


def format_inventory(processes: list[Process]) -> str:
    lines = [f"{'pid':>8} {'MB':>7}  {'role':<26} why"]
    lines += [f"{p.pid:>8} {p.rss_mb:>7.0f}  {p.role:<26} {p.why}" for p in processes]
    lines.append(f"{len(processes)} processes, {sum(p.rss_mb for p in processes):.0f} MB resident in all")
    return "\n".join(lines)
