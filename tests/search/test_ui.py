from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import psutil
import pytest
import yaml
from mlflow.tracking import MlflowClient

from search.cli.ui import start_ui
from search.engine.config import SearchConfig
from search.errors import SearchError
from search.record.tracking import VIEW_KEY, VIEW_TAG

pytestmark = pytest.mark.slow


def test_ui_serves_the_search_runs_on_localhost_and_stops_by_pid(tmp_path: Path) -> None:
    cfg = SearchConfig.from_dict({"name": "s", "data": str(tmp_path), "storage": str(tmp_path / "results")})
    cfg.search_dir.mkdir(parents=True)
    (cfg.search_dir / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))  # as a search writes it
    client = MlflowClient(cfg.resolved_tracking_uri())
    experiment_id = client.create_experiment("s", artifact_location=(cfg.search_dir / "mlartifacts").as_uri())
    run = client.create_run(experiment_id, run_name="parent")
    proc, url = start_ui(cfg.search_dir)
    try:
        assert url.startswith("http://127.0.0.1:") and url.endswith(f"/#/experiments/{experiment_id}/runs?workflowType=machine_learning&viewStateShareKey={VIEW_KEY}")
        view = json.loads(client.get_experiment(experiment_id).tags[VIEW_TAG])  # written for a store from before views
        assert view["selectedColumns"] == ["metrics.`val_top1`", "metrics.`gmacs_clip`", "metrics.`params`"]
        assert view["orderByKey"] == "metrics.`val_top1`" and view["orderByAsc"] is False
        base = url.split("/#")[0]
        body = json.load(urllib.request.urlopen(f"{base}/api/2.0/mlflow/runs/get?run_id={run.info.run_id}"))
        assert body["run"]["info"]["run_name"] == "parent"
        tree = [" ".join(p.cmdline()) for p in psutil.Process(proc.pid).children(recursive=True)]
        assert not [c for c in tree if "huey" in c], tree  # no GenAI job consumers (about 236 MB each)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert proc.poll() is not None
    with pytest.raises(SearchError, match="not a search directory"):
        start_ui(tmp_path)


def test_sigterm_to_vidnas_ui_stops_the_server_and_its_workers(tmp_path: Path) -> None:
    """A user's `kill PID` of `vidnas ui`: exit 0, and nothing it started keeps running."""
    cfg = SearchConfig.from_dict({"name": "s", "data": str(tmp_path), "storage": str(tmp_path / "results")})
    cfg.search_dir.mkdir(parents=True)
    (cfg.search_dir / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))  # as a search writes it
    client = MlflowClient(cfg.resolved_tracking_uri())
    client.create_experiment("s", artifact_location=(cfg.search_dir / "mlartifacts").as_uri())
    ui = subprocess.Popen([sys.executable, "-m", "search.cli", "ui", str(cfg.search_dir)], stdout=subprocess.PIPE,
                          text=True)
    try:
        line = ui.stdout.readline()
        assert line.startswith(f"MLflow UI of {cfg.search_dir}: http://127.0.0.1:"), line
        started = psutil.Process(ui.pid).children(recursive=True)
        assert started  # the server and its workers
        ui.send_signal(signal.SIGTERM)
        assert ui.wait(timeout=20) == 0
        gone, alive = psutil.wait_procs(started, timeout=10)
        assert not alive, [" ".join(p.cmdline()) for p in alive]
    finally:
        if ui.poll() is None:
            ui.kill()


def test_a_search_that_logged_to_a_tracking_server_is_shown_there(tmp_path: Path, mlflow_server: str,
                                                                  capsys) -> None:
    """A cluster search logs to the cluster's MLflow server: `vidnas ui DIR` (the hint every search
    prints) gives that server's runs page instead of starting a server on a store it does not have."""
    from search.cli.main import main

    cfg = SearchConfig.from_dict({"name": "remote", "data": str(tmp_path), "storage": str(tmp_path / "results"),
                                  "tracking_uri": mlflow_server})
    cfg.search_dir.mkdir(parents=True)
    (cfg.search_dir / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))  # as a search writes it
    experiment_id = MlflowClient(mlflow_server).create_experiment("remote")
    assert main(["ui", str(cfg.search_dir)]) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith(f"MLflow UI of {cfg.search_dir}: {mlflow_server}/#/experiments/{experiment_id}/runs")
    assert out.endswith("(its tracking server)") and not (cfg.search_dir / "mlflow.db").exists()
    urllib.request.urlopen(out.split(": ", 1)[1].split(" ")[0].split("/#")[0] + "/health", timeout=5).close()
