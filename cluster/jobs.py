"""Submitting searches to a Ray cluster through the Ray Jobs API, and following them.

    vidnas submit CONFIG.yaml --address http://HOST:8265 [--tracking-uri http://HOST:5000]
    vidnas jobs --address ...      vidnas logs JOB [--follow] --address ...      vidnas stop JOB --address ...

The job's runtime environment is this project as its working directory (minus data/, results/,
.git/, .venv/), and the search config travels in an environment variable with the MLflow URI
set in it. The driver holds no GPU. Before anything is submitted, the Jobs API and the MLflow
server are checked: a connection or authentication failure is one line.
"""
from __future__ import annotations

import dataclasses
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from cluster import auth
from cluster.local import ClusterError
from search.engine.config import SearchConfig

PROJECT = Path(__file__).resolve().parents[1]
EXCLUDES = ["data/", "results/", ".git/", ".venv/", ".vidnas/", "**/__pycache__/", "*.egg-info/", ".pytest_cache/"]
CONFIG_ENV = "VIDNAS_SEARCH_CONFIG"


def client(address: str) -> Any:
    """A JobSubmissionClient that has answered, or a one-line ClusterError."""
    from ray.exceptions import AuthenticationError
    from ray.job_submission import JobSubmissionClient
    try:
        jobs = JobSubmissionClient(address, headers=auth.headers())
        jobs.list_jobs()
        return jobs
    except AuthenticationError:
        raise ClusterError(f"the Ray Jobs API at {address} refused the credentials: set RAY_AUTH_TOKEN "
                           "(or ~/.ray/auth_token) to the cluster's token") from None
    except (ConnectionError, OSError) as e:
        raise ClusterError(f"cannot reach the Ray Jobs API at {address}: {_first_line(e)}") from None
    except RuntimeError as e:
        if "401" in str(e) or "nauthorized" in str(e) or "token" in str(e).lower():
            raise ClusterError(f"the Ray Jobs API at {address} refused the credentials: set RAY_AUTH_TOKEN "
                               "(or ~/.ray/auth_token) to the cluster's token") from None
        raise ClusterError(f"the Ray Jobs API at {address} failed: {_first_line(e)}") from None


def check_tracking(uri: str) -> None:
    if not uri.startswith(("http://", "https://")):
        return  # a database or file store: the job's nodes must see it; nothing to ping
    try:
        urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=10)
    except (urllib.error.URLError, OSError) as e:
        raise ClusterError(f"the MLflow server at {uri} does not answer: {_first_line(e)}") from None


AGENT_WAIT_S = 180.0


def submit(config_path: Path, address: str, *, tracking_uri: str | None = None, job_id: str | None = None) -> str:
    cfg = SearchConfig.from_yaml(config_path)
    if tracking_uri:
        cfg = dataclasses.replace(cfg, tracking_uri=tracking_uri)
    if cfg.tracking_uri is None:
        raise ClusterError("a search on a cluster needs a tracking server: pass --tracking-uri http://HOST:5000 "
                           "(or set tracking_uri in the config)")
    check_tracking(cfg.tracking_uri)
    jobs = client(address)
    # the job's driver joins the cluster it runs on; relative local paths mean the submitter's
    cfg = dataclasses.replace(cfg, address="auto", data=_absolute(cfg.data), storage=_absolute(cfg.storage))
    request = {
        "entrypoint": f"python -m search.cli.main search --config-env {CONFIG_ENV} --verbose 1",
        "submission_id": job_id,
        "runtime_env": {"working_dir": str(PROJECT), "excludes": EXCLUDES,
                        "env_vars": {CONFIG_ENV: yaml.safe_dump(cfg.to_dict(), sort_keys=False),
                                     "RAY_CHDIR_TO_TRIAL_DIR": "1"}},
        "entrypoint_num_cpus": 0, "entrypoint_num_gpus": 0, "metadata": {"vidnas_search": cfg.name}}
    deadline = time.time() + AGENT_WAIT_S
    while True:  # a head that just started may have no job agent yet ("please try again later")
        try:
            return jobs.submit_job(**request)
        except RuntimeError as e:
            if "No available agent" not in str(e) or time.time() > deadline:
                raise ClusterError(f"the Ray Jobs API at {address} did not take the job: {_first_line(e)}") from None
            time.sleep(2)


def wait(address: str, job_id: str, *, timeout: float = 3600.0) -> str:
    jobs = client(address)
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = str(jobs.get_job_status(job_id).value)
        if status in ("SUCCEEDED", "FAILED", "STOPPED"):
            return status
        time.sleep(2)
    raise ClusterError(f"job {job_id} still running after {timeout:.0f} s")


def _absolute(path: str) -> str:
    return path if "://" in path else str(Path(path).expanduser().resolve())


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
