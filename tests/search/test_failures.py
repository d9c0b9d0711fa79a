"""A trial that runs out of memory, in any phase, is a failed trial with its reason in Ray, Optuna,
MLflow and the table; it is not retried, and the trials beside it finish.

No GPU here: `VIDNAS_INJECT_OOM` makes a phase raise CUDA's own `OutOfMemoryError` inside the real
trial processes, which is what a full GPU raises."""
from __future__ import annotations

import shutil
from pathlib import Path

import optuna
import pytest
import ray
import torch
import yaml
from mlflow.tracking import MlflowClient
from ray.tune import ExperimentAnalysis

from search.engine.config import SearchConfig
from search.engine.tuner import Search, open_study, resume_search, run_search
from search.record import tracking
from search.trial.setup import FAULT_ENV
from spaces import get_preset

pytestmark = [pytest.mark.ray, pytest.mark.slow]
PHASES = {"build": "i2d", "forward": "i3d", "backward": "s3d", "evaluation": "tsn_r50",
          "latency": "s3d_g"}
CLEAN = "i3d_top_heavy_3b"


def test_out_of_memory_in_any_phase_is_a_failed_trial_and_spares_its_neighbours(
        store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    slugs = {name: get_preset(name, frames=16, crop=32, num_classes=6).scaled(width=0.125, depth=0.34)
             .as_space_point().slug() for name in [*PHASES.values(), CLEAN]}  # what a warm start trains
    assert len(set(slugs.values())) == len(slugs)
    monkeypatch.setenv(FAULT_ENV, ",".join(f"{phase}:{slugs[name]}" for phase, name in PHASES.items()))
    cfg = SearchConfig.from_dict({
        "name": "oom", "data": store, "storage": str(tmp_path), "trials": 6, "epochs": 1, "min_epochs": 1,
        "early_stopping": False, "concurrency": 2, "sampler": "random", "max_failures": 2,
        "warm_start": [*PHASES.values(), CLEAN], "warm_start_width": 0.125, "warm_start_depth": 0.34,
        "space": {"frames": [16], "crop": 32, "widths": [0.125], "depths": [0.34], "families": ["inception", "resnet"],
                  "backbones": ["inception_v1", "resnet50"], "temporal_kernels": [3]},
        "optim": {"batch_size": 16}})
    outcome = run_search(cfg, num_cpus=2, verbose=0)
    assert outcome.finished
    rows = {r["preset"]: r for r in outcome.rows}
    assert sorted(rows) == sorted([*PHASES.values(), CLEAN])
    for phase, name in PHASES.items():
        assert rows[name]["state"] == "failed"
        assert rows[name]["reason"] == f"out of memory in {phase}: CUDA out of memory (injected in {phase})"
    assert rows[CLEAN]["state"] == "complete" and rows[CLEAN]["epochs"] == 1 and rows[CLEAN]["pareto"]

    study = open_study(cfg.search_dir)
    states = {t.user_attrs["ray_trial_id"]: t.state for t in study.get_trials()}
    assert len(states) == 6
    for row in rows.values():
        expected = optuna.trial.TrialState.COMPLETE if row["preset"] == CLEAN else optuna.trial.TrialState.FAIL
        assert states[row["trial_id"]] == expected

    client = MlflowClient(cfg.resolved_tracking_uri())
    for row in rows.values():
        run = client.get_run(row["mlflow_run_id"])
        assert run.info.status == ("FINISHED" if row["preset"] == CLEAN else "FAILED")
        assert run.data.tags["vidnas.reason"] == row["reason"]

    # reported as failed by the trial itself: not a crash, so Tune did not retry it
    trials = ExperimentAnalysis(str(cfg.search_dir / "tune")).trials
    assert len(trials) == 6 and {t.status for t in trials} == {"TERMINATED"}
    assert all(t.run_metadata.num_failures == 0 for t in trials)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_a_gpu_trial_on_a_node_without_cuda_fails_instead_of_training_on_the_cpu(store: str, tmp_path: Path) -> None:
    """Ray is told this node has a GPU (as a misconfigured cluster node would say); CUDA finds none."""
    ray.init(address="local", num_cpus=2, num_gpus=1, include_dashboard=False, configure_logging=False)
    try:
        cfg = SearchConfig.from_dict({
            "name": "nocuda", "data": store, "storage": str(tmp_path), "trials": 1, "epochs": 1, "min_epochs": 1,
            "early_stopping": False, "sampler": "random", "gpus_per_trial": 0.5, "concurrency": 1,
            "space": {"frames": [8], "crop": 32, "widths": [0.125], "depths": [0.34], "families": ["resnet"],
                      "backbones": ["resnet50"], "temporal_ops": ["2d"]}})
        outcome = run_search(cfg, verbose=0)
    finally:
        ray.shutdown()
    [row] = outcome.rows
    assert row["state"] == "failed" and row["epochs"] == 0
    assert row["reason"].startswith("gpus_per_trial=0.5, but CUDA finds no GPU on node ")
    assert row["train_seconds"] is None  # it never trained, on any device


def test_a_crashed_trial_stays_failed_after_resume(store: str, tmp_path: Path) -> None:
    """A trial that crashed `max_failures + 1` times is FAIL in Optuna; `--resume` does not run it
    again (Tune's resume_errored would, and then Optuna and the table would disagree)."""
    data = tmp_path / "store"
    shutil.copytree(store, data)
    cfg = SearchConfig.from_dict({
        "name": "crash", "data": str(data), "storage": str(tmp_path), "trials": 1, "epochs": 1, "min_epochs": 1,
        "early_stopping": False, "sampler": "random", "max_failures": 0, "concurrency": 1,
        "space": {"frames": [8], "crop": 32, "widths": [0.125], "depths": [0.34], "families": ["resnet"],
                  "backbones": ["resnet50"], "temporal_ops": ["2d"]}})
    search = Search(cfg)
    shutil.rmtree(data)  # the trial cannot open its store: it crashes
    first = search.run(resume=False, num_cpus=2, verbose=0)
    assert first.finished and [r["state"] for r in first.rows] == ["failed"]
    shutil.copytree(store, data)  # the cause is gone; the failed trial stays failed
    again = resume_search(cfg.search_dir, num_cpus=2, verbose=0)
    assert again.finished and [(r["trial_id"], r["state"]) for r in again.rows] == [
        (first.rows[0]["trial_id"], "failed")]
    [trial] = open_study(cfg.search_dir).get_trials()
    assert trial.state == optuna.trial.TrialState.FAIL
    client = MlflowClient(cfg.resolved_tracking_uri())
    experiment = client.get_experiment_by_name("crash").experiment_id
    run = client.get_run(tracking.find_trial_run(client, experiment, again.parent_run_id,
                                                 trial.user_attrs["ray_trial_id"]))
    assert run.info.status == "FAILED" and client.get_metric_history(run.info.run_id, "val_top1") == []
    # the note names what it died of: the last line of the traceback Tune kept
    assert run.data.tags["mlflow.note.content"].startswith("failed: trial process crashed: ")
    assert str(data) in run.data.tags["mlflow.note.content"], run.data.tags["mlflow.note.content"]
    assert again.rows[0]["reason"] == run.data.tags["mlflow.note.content"].removeprefix("failed: ")
    [tune_trial] = ExperimentAnalysis(str(cfg.search_dir / "tune")).trials
    assert tune_trial.status == "ERROR"


def test_a_search_where_no_trial_completes_exits_1(store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture) -> None:
    from search.cli.main import main

    monkeypatch.setenv(FAULT_ENV, "forward")  # every trial
    config = tmp_path / "search.yaml"
    config.write_text(yaml.safe_dump({
        "name": "allfail", "data": store, "storage": str(tmp_path), "trials": 1, "epochs": 1, "min_epochs": 1,
        "early_stopping": False, "sampler": "random", "concurrency": 1,
        "space": {"frames": [8], "crop": 32, "widths": [0.125], "depths": [0.34], "families": ["resnet"],
                  "backbones": ["resnet50"], "temporal_ops": ["2d"]}}))
    assert main(["search", str(config), "--cpus", "2", "--verbose", "0"]) == 1
    assert "failed: no trial completed; the reasons are in the results table's `reason` column" in capsys.readouterr().out
    assert main(["search", str(tmp_path / "missing.yaml")]) == 2
