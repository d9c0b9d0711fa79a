"""Reproducible trials: the same config and seed train the same network, bit for bit, on CPU; a
trial killed mid-way and resumed from its checkpoint (model, optimizer, schedule and every RNG
state) ends exactly where an uninterrupted one ends."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from search.engine.config import SearchConfig
from search.engine.glue import ray_running
from search.engine.tuner import open_study, resume_search, run_search

pytestmark = [pytest.mark.ray, pytest.mark.slow]
EPOCHS = 4
METRICS = ("train_loss", "val_loss", "val_top1", "val_within_pair")


@pytest.fixture(scope="module", autouse=True)
def _one_ray() -> Iterator[None]:
    """One local Ray for the module's in-process searches, as a job of several searches has
    (search.engine.glue.ray_running); the killed search runs in a process, and a Ray, of its own."""
    with ray_running(None, num_cpus=2, verbose=0):
        yield


def _config(store: str, root: Path, name: str) -> SearchConfig:
    return SearchConfig.from_dict({
        "name": name, "data": store, "storage": str(root), "trials": 1, "epochs": EPOCHS, "early_stopping": False,
        "concurrency": 1, "sampler": "random", "seed": 3, "warm_start": ["tsn_r50"], "warm_start_width": 0.125,
        "warm_start_depth": 0.34, "optim": {"batch_size": 16},
        "space": {"frames": [8], "crop": 32, "widths": [0.125], "depths": [0.34], "families": ["resnet"],
                  "backbones": ["resnet50"]}})


def _history(cfg: SearchConfig) -> dict[str, list[tuple[int, float]]]:
    """Per metric, (epoch, value) of the search's one trial, from MLflow."""
    client = MlflowClient(cfg.resolved_tracking_uri())
    experiment = client.get_experiment_by_name(cfg.experiment_name)
    runs = [r for r in client.search_runs([experiment.experiment_id]) if "mlflow.parentRunId" in r.data.tags]
    assert len(runs) == 1
    return {m: sorted((p.step, p.value) for p in client.get_metric_history(runs[0].info.run_id, m)) for m in METRICS}


def _kill_after_first_checkpoint(cfg: SearchConfig, tmp_path: Path) -> None:
    path = tmp_path / f"{cfg.name}.yaml"
    path.write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    proc = subprocess.Popen([sys.executable, "-m", "search.cli.main", "search", str(path), "--cpus", "2", "--verbose", "0"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and not list((cfg.search_dir / "tune").glob("*/checkpoint_000000")):
        time.sleep(0.05)
    children = subprocess.run(["ps", "-o", "pid=", "--ppid", str(proc.pid)], capture_output=True, text=True).stdout
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and the trial die hard, mid-training
    proc.wait()
    for pid in map(int, children.split()):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    done = list((cfg.search_dir / "tune").glob("*/checkpoint_*"))
    assert 1 <= len(done) < EPOCHS, f"expected a kill mid-trial, found checkpoints {sorted(p.name for p in done)}"


def test_same_seed_same_metrics_and_a_resumed_trial_ends_where_an_uninterrupted_one_does(store: str,
                                                                                        tmp_path: Path) -> None:
    straight = _config(store, tmp_path / "a", "straight")
    assert run_search(straight, num_cpus=2, verbose=0).finished
    again = _config(store, tmp_path / "b", "again")
    assert run_search(again, num_cpus=2, verbose=0).finished
    reference = _history(straight)
    assert [e for e, _ in reference["val_loss"]] == list(range(1, EPOCHS + 1))
    assert _history(again) == reference  # bit-identical, every epoch, every metric

    killed = _config(store, tmp_path / "c", "killed")
    _kill_after_first_checkpoint(killed, tmp_path)
    assert resume_search(killed.search_dir, num_cpus=2, verbose=0).finished
    assert _history(killed) == reference  # one point per epoch, each equal to the uninterrupted run's


def _decisions(cfg: SearchConfig) -> list[tuple]:
    """Each Optuna trial in number order: its parameters, state, epochs reached and values."""
    study = open_study(cfg.search_dir)
    return [(t.number, sorted(t.params.items()), t.state.name, t.user_attrs.get("epochs"), t.values)
            for t in study.get_trials(deepcopy=False)]


def test_reproducible_order_makes_two_searches_with_trials_at_once_decide_alike(store: str, tmp_path: Path) -> None:
    """Two trials at once under MO-ASHA and TPE (which models from the third trial on): with
    `reproducible_order`, draws and rung decisions do not depend on which trial reported first."""
    def config(name: str) -> SearchConfig:
        return SearchConfig.from_dict({
            "name": name, "data": store, "storage": str(tmp_path), "trials": 4, "epochs": 2, "min_epochs": 1,
            "reduction_factor": 2, "early_stopping": True, "concurrency": 2, "sampler": "tpe", "seed": 5,
            "reproducible_order": True, "system_metrics_s": None, "optim": {"batch_size": 16},
            "space": {"frames": [8], "crop": 32, "widths": [0.125], "depths": [0.34], "families": ["inception", "resnet"],
                      "backbones": ["inception_v1", "resnet50"]}})

    first, second = config("first"), config("second")
    assert run_search(first, num_cpus=2, verbose=0).finished and run_search(second, num_cpus=2, verbose=0).finished
    decided = _decisions(first)
    assert len(decided) == 4 and _decisions(second) == decided
    assert {state for _, _, state, _, _ in decided} <= {"COMPLETE", "PRUNED"}
    rungs = json.loads((first.search_dir / "moasha.json").read_text())
    assert sorted(rungs["batches"].values()) == [0, 0, 1, 1]  # two batches of two
