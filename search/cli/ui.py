"""`vidnas ui [SEARCH_DIR]`: the MLflow UI over a search's tracking store, on 127.0.0.1 only."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from mlflow.tracking import MlflowClient

from search.engine.config import load_search_config
from search.errors import SearchError
from search.net import MLFLOW_SERVER_ENV, free_port, serve_until_interrupted
from search.record.tracking import VIEW_TAG, check_local_store, runs_page, share_view


def start_ui(search_dir: Path, *, port: int | None = None, timeout: float = 120.0) -> tuple[subprocess.Popen, str]:
    """Start `mlflow server` (one worker) on the search's store; return the process and the URL
    of the search's runs page once the server answers. The caller stops it by its pid."""
    cfg = load_search_config(search_dir)
    search_dir = cfg.search_dir
    uri = cfg.resolved_tracking_uri()
    check_local_store(uri)  # a damaged store: one line, not a server that exits
    experiment = MlflowClient(uri).get_experiment_by_name(cfg.experiment_name)
    if experiment is None:
        raise SearchError(f"{search_dir}: no MLflow experiment {cfg.experiment_name!r} yet (has the search started?)")
    _ensure_view(MlflowClient(uri), experiment, cfg)
    port = port or free_port()
    command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", uri, "--host", "127.0.0.1",
               "--port", str(port), "--workers", "1", "--artifacts-destination", str(search_dir / "mlartifacts")]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=os.environ | MLFLOW_SERVER_ENV, start_new_session=True)  # stopped as a group
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SearchError(f"the MLflow server exited with status {proc.returncode}")
        try:
            urllib.request.urlopen(f"{base}/health", timeout=2)
            return proc, runs_page(base, experiment.experiment_id)
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SearchError(f"the MLflow server did not answer on {base} within {timeout:.0f} s")


def _ensure_view(client: MlflowClient, experiment, cfg) -> None:
    """The view the runs page URL names, for a search from before searches stored it."""
    if VIEW_TAG not in experiment.tags:
        share_view(client, experiment.experiment_id, cfg.objectives)


def run_ui(args) -> int:
    cfg = load_search_config(args.search_dir)
    uri = cfg.resolved_tracking_uri()
    if uri.startswith(("http://", "https://")):  # the search logged to a tracking server: it serves the UI
        experiment = MlflowClient(uri).get_experiment_by_name(cfg.experiment_name)
        if experiment is None:
            raise SearchError(f"{uri}: no MLflow experiment {cfg.experiment_name!r} there (has the search started?)")
        _ensure_view(MlflowClient(uri), experiment, cfg)
        print(f"MLflow UI of {args.search_dir}: {runs_page(uri, experiment.experiment_id)} (its tracking server)")
        return 0
    proc, url = start_ui(args.search_dir, port=args.port)
    return serve_until_interrupted(proc, f"MLflow UI of {args.search_dir}: {url}\n(Ctrl-C stops it)")


def add_ui(p) -> None:
    p.add_argument("search_dir", nargs="?", type=Path, default=Path("results/demo"),
                   help="a search directory (default: results/demo)")
    p.add_argument("--port", type=int, help="port on 127.0.0.1 (default: a free one)")
