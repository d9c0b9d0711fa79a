"""A search whose whole state lives in object storage: a real S3 endpoint (moto server) and a real
MLflow tracking server, both on 127.0.0.1. The search is interrupted (Ctrl-C to its process
group), its first machine's working copy is deleted, and `vidnas search --resume URI` finishes it
from another working directory that knows only the URI. Nothing is lost or duplicated in Ray,
Optuna, MLflow or the table."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
import yaml
from mlflow.tracking import MlflowClient

from search.engine.config import SearchConfig
from search.engine.searcher import JOURNAL_FILE, STUDY_FILE
from search.errors import EXIT_INTERRUPTED, ConfigError
from search.record import tracking
from search.record.storage import SearchStorage, read_whole, split_search_uri

ROOT = Path(__file__).parents[2]
TRIALS = 3
pytestmark = [pytest.mark.ray, pytest.mark.slow]


def _s3(port: int) -> pafs.S3FileSystem:
    return pafs.S3FileSystem(endpoint_override=f"127.0.0.1:{port}", scheme="http", region="us-east-1",
                             allow_bucket_creation=True)


def _remote_rows(s3: pafs.S3FileSystem) -> list[dict]:
    path = "bucket/searches/s3demo/results.parquet"
    if s3.get_file_info(path).type == pafs.FileType.NotFound:
        return []
    return pq.read_table(pa.BufferReader(read_whole(s3, path))).to_pylist()  # the search may be putting it


def _vidnas(args: list[str], cwd: Path, env: dict[str, str], log: Path) -> subprocess.Popen:
    cwd.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        return subprocess.Popen([sys.executable, "-m", "search.cli.main", *args], cwd=cwd, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def test_local_mlflow_stores_are_refused_for_object_storage_and_clusters(store: str, tmp_path: Path) -> None:
    base = {"name": "x", "data": store, "space": {"families": ["inception"], "backbones": ["inception_v1"]}}
    with pytest.raises(ConfigError, match=r"^tracking_uri=None: a search stored at s3://bucket/searches needs an "
                                          r"MLflow tracking server \(tracking_uri: http://HOST:PORT"):
        SearchConfig.from_dict(base | {"storage": "s3://bucket/searches?endpoint_override=x"})
    with pytest.raises(ConfigError, match=r"^tracking_uri='sqlite:////shared/m.db': a search on a Ray cluster "
                                          r"\(address=10.0.0.1:6379\) needs an MLflow tracking server.*sqlite on a "
                                          r"shared mount corrupts"):
        SearchConfig.from_dict(base | {"storage": str(tmp_path), "address": "10.0.0.1:6379",
                                       "tracking_uri": "sqlite:////shared/m.db"})
    ok = SearchConfig.from_dict(base | {"storage": "s3://bucket/searches?scheme=http", "tracking_uri": "http://h:5000"})
    assert ok.remote and ok.search_dir.parent.name == "searches" and ok.search_dir.name.startswith("x-")
    assert split_search_uri("s3://bucket/searches/x?scheme=http") == ("s3://bucket/searches?scheme=http", "x")
    assert SearchStorage("s3://bucket/searches?scheme=http", "x").uri == "s3://bucket/searches/x?scheme=http"


def test_a_search_in_s3_resumes_from_another_machine_that_knows_only_its_uri(
        store: str, tmp_path: Path, s3_server: int, mlflow_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_EC2_METADATA_DISABLED": "true",
                       "VIDNAS_CACHE": str(tmp_path / "cache-c")}.items():
        monkeypatch.setenv(key, value)
    s3 = _s3(s3_server)
    s3.create_dir("bucket")
    storage = f"s3://bucket/searches?endpoint_override=127.0.0.1:{s3_server}&scheme=http&region=us-east-1"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cfg = SearchConfig.from_dict({
        "name": "s3demo", "data": store, "storage": storage, "tracking_uri": mlflow_server, "trials": TRIALS,
        "epochs": 2, "min_epochs": 1, "early_stopping": False, "sampler": "random", "seed": 1, "concurrency": 2,
        "system_metrics_s": None, "optim": {"batch_size": 16},
        "space": {"frames": [8], "crop": 32, "widths": [0.125], "depths": [0.34], "families": ["inception"],
                  "backbones": ["inception_v1"]}})
    config = tmp_path / "search.yaml"
    config.write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))

    # machine A starts it, and is stopped (Ctrl-C to the group) once a trial has ended
    first = _vidnas(["search", str(config), "--cpus", "2", "--verbose", "0"], tmp_path / "a",
                    env | {"VIDNAS_CACHE": str(tmp_path / "cache-a")}, tmp_path / "a.log")
    deadline = time.time() + 400
    while time.time() < deadline and first.poll() is None and not _remote_rows(s3):
        time.sleep(0.5)
    assert first.poll() is None, (tmp_path / "a.log").read_text()[-3000:]
    os.killpg(first.pid, signal.SIGINT)
    assert first.wait(timeout=300) == EXIT_INTERRUPTED, (tmp_path / "a.log").read_text()[-3000:]
    uri = f"s3://bucket/searches/s3demo?endpoint_override=127.0.0.1:{s3_server}&scheme=http&region=us-east-1"
    said = (tmp_path / "a.log").read_text()
    assert f"vidnas search --resume {uri}" in said and "View run" not in said
    kept = {i.path.removeprefix("bucket/searches/s3demo/") for i in s3.get_file_info(
        pafs.FileSelector("bucket/searches/s3demo", recursive=True)) if i.type == pafs.FileType.File}
    assert {"config.yaml", STUDY_FILE, JOURNAL_FILE, "results.parquet", tracking.PARENT_FILE, "tune/tuner.pkl"} <= kept
    before = _remote_rows(s3)
    assert 1 <= len([r for r in before if r["state"] == "complete"]) < TRIALS
    shutil.rmtree(tmp_path / "cache-a")  # machine A and its working copy are gone

    # machine B knows only the URI
    second = _vidnas(["search", "--resume", uri, "--cpus", "2", "--verbose", "0"], tmp_path / "b",
                     env | {"VIDNAS_CACHE": str(tmp_path / "cache-b")}, tmp_path / "b.log")
    assert second.wait(timeout=600) == 0, (tmp_path / "b.log").read_text()[-3000:]

    rows = _remote_rows(s3)
    ids = [r["trial_id"] for r in rows]
    assert len(ids) == len(set(ids)) == TRIALS and {r["state"] for r in rows} == {"complete"}
    assert {r["trial_id"] for r in before if r["state"] == "complete"} <= set(ids)
    assert all(r["epochs"] == 2 for r in rows)
    # Optuna, from the journal in S3 (pulled into a third working copy)
    third = SearchStorage(*split_search_uri(uri))  # a working copy in cache-c
    assert third.local.is_relative_to(tmp_path / "cache-c") and not third.local.exists()
    assert set(third.pull()) >= {"config.yaml", STUDY_FILE, JOURNAL_FILE, "results.parquet"}
    study = optuna.load_study(study_name=yaml.safe_load((third.local / STUDY_FILE).read_text())["study_name"],
                              storage=optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(
                                  str(third.local / JOURNAL_FILE))))
    told = [t for t in study.get_trials(deepcopy=False) if "ray_trial_id" in t.user_attrs]
    assert sorted(t.user_attrs["ray_trial_id"] for t in told) == sorted(ids)
    assert {t.state.name for t in told} == {"COMPLETE"}
    # MLflow (the server): one finished run per trial, and the search's run finished
    client = MlflowClient(mlflow_server)
    experiment = client.get_experiment_by_name("s3demo")
    runs = client.search_runs([experiment.experiment_id])
    children = [r for r in runs if tracking.TRIAL_TAG in r.data.tags]
    assert sorted(r.data.tags[tracking.TRIAL_TAG] for r in children) == sorted(ids)
    assert {r.info.status for r in children} == {"FINISHED"}
    assert [r.info.status for r in runs if tracking.TRIAL_TAG not in r.data.tags] == ["FINISHED"]
    # Tune's experiment in S3 knows the same trials, each trained to its last epoch once
    assert s3.get_file_info("bucket/searches/s3demo/tune/tuner.pkl").type == pafs.FileType.File
    for trial_id in ids:
        checkpoints = SearchStorage(*split_search_uri(uri)).glob_tune(f"{trial_id}-")
        assert [c.rsplit("_", 1)[1] for c in checkpoints][-1] == "000001"  # epochs 1, 2 -> checkpoint_000001
    # nothing was written where the commands ran
    assert not any((tmp_path / "b").iterdir()) and not any((tmp_path / "a").iterdir())
