"""A search interrupted at any moment says the same thing in Ray, Optuna, MLflow and its table, and
`--resume` finishes it without losing or duplicating anything.

Each case starts `vidnas search` in its own process group (as a terminal runs it), signals it while
the first or the last wave of trials runs, checks the four stores, resumes, and checks them again:
- SIGINT to the group: Ctrl-C in a terminal;
- SIGTERM to the driver: a scheduler or `kill PID` stopping the job;
- SIGKILL to the group: the machine or the job dies; nothing is saved on the way out.

The SIGTERM case also moves the search directory before resuming it from another working directory.
Three cases run by default; `pytest -m matrix tests/search/test_interrupt.py` runs all twelve
(signal x wave x early stopping), which the closing note of issue 11 reports.
"""
from __future__ import annotations

import dataclasses
import json
from collections import Counter
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pyarrow.parquet as pq
import pytest
import yaml
from mlflow.tracking import MlflowClient
from ray.tune import ExperimentAnalysis

from search.engine.config import SearchConfig
from search.engine.tuner import open_study

pytestmark = [pytest.mark.ray, pytest.mark.slow]
TRIALS, CONCURRENCY, EPOCHS = 4, 2, 4
OPTUNA = {"complete": "COMPLETE", "pruned": "PRUNED", "failed": "FAIL", "interrupted": "RUNNING"}
MLFLOW = {"complete": "FINISHED", "pruned": "KILLED", "failed": "FAILED", "interrupted": "KILLED"}


def _config(store: str, tmp_path: Path, early_stopping: bool) -> SearchConfig:
    return SearchConfig.from_dict({
        "name": "t", "data": store, "storage": str(tmp_path / "results"), "trials": TRIALS, "epochs": EPOCHS,
        "min_epochs": 2, "reduction_factor": 2, "concurrency": CONCURRENCY, "early_stopping": early_stopping,
        "sampler": "random", "seed": 3, "optim": {"batch_size": 16},
        "space": {"frames": [8], "crop": 32, "widths": [0.125], "depths": [0.34], "families": ["resnet", "vov"],
                  "backbones": ["resnet50", "vov3d_m"], "tosa_depths": [1]}})


def _table(search_dir: Path) -> list[dict]:
    path = search_dir / "results.parquet"
    return pq.read_table(path).to_pylist() if path.exists() else []


def _live(search_dir: Path, ended: set[str]) -> set[str]:
    """Trials that have not ended and whose newest checkpoint is epoch 1 or 3: the one rung is at
    epoch 2 and the last epoch is 4, so each is sure to train one more epoch before it can end."""
    newest: dict[str, int] = {}
    for path in (search_dir / "tune").glob("*/checkpoint_*"):
        trial_id = path.parent.name.split("-")[0]
        newest[trial_id] = max(newest.get(trial_id, -1), int(path.name.split("_")[1]) + 1)
    return {t for t, epoch in newest.items() if epoch % 2 == 1 and t not in ended}


def _interrupt(cfg: SearchConfig, tmp_path: Path, sig: signal.Signals, wave: str) -> tuple[int, str]:
    path = tmp_path / "search.yaml"
    path.write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    log = tmp_path / "driver.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "search.cli.main", "search", str(path), "--cpus", "2",
                                 "--verbose", "0"], stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + 400
    while time.time() < deadline and proc.poll() is None:
        ended = {r["trial_id"] for r in _table(cfg.search_dir)}
        if _live(cfg.search_dir, ended) and (wave == "first" and not ended or wave == "last" and len(ended) >= TRIALS - CONCURRENCY):
            break
        time.sleep(0.2)
    assert proc.poll() is None, f"the search ended before it could be interrupted:\n{log.read_text()[-2000:]}"
    assert len(_table(cfg.search_dir)) < TRIALS
    if sig == signal.SIGTERM:
        os.kill(proc.pid, sig)  # the driver only, as `kill PID` does
    else:
        os.killpg(proc.pid, sig)  # the process group, as Ctrl-C in a terminal does
    code = proc.wait(timeout=300)
    if sig == signal.SIGKILL:  # Ray's processes lose their driver; stop any survivor by pid
        os.killpg(proc.pid, signal.SIGKILL) if _group_alive(proc.pid) else None
    return code, log.read_text()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def _optuna(search_dir: Path) -> list[optuna.trial.FrozenTrial]:
    return open_study(search_dir).get_trials(deepcopy=False)


def _check_agreement(cfg: SearchConfig, *, finished: bool) -> list[dict]:
    """Ray, Optuna, MLflow and the table say the same thing about every trial."""
    rows = _table(cfg.search_dir)
    ids = [r["trial_id"] for r in rows]
    assert len(ids) == len(set(ids))
    states = {r["trial_id"]: r["state"] for r in rows}
    said = [(r["trial_id"], r["state"], r["epochs"], r["reason"]) for r in rows]  # why, where a state is wrong
    if finished:
        assert len(rows) == TRIALS and set(states.values()) <= {"complete", "pruned"}, said
    else:
        assert "interrupted" in states.values() and "failed" not in states.values(), said

    # a trial is pruned only where MO-ASHA stopped it (its saved decisions), and never on the front
    saved = cfg.search_dir / "moasha.json"  # written at MO-ASHA's first rung decision
    stopped = set(json.loads(saved.read_text())["stopped"]) if saved.exists() else set()
    assert cfg.early_stopping or not saved.exists()
    assert {t for t, s in states.items() if s == "pruned"} == stopped & set(states)
    assert not any(r["pareto"] for r in rows if r["state"] != "complete")
    assert all(r["epochs"] == EPOCHS for r in rows if r["state"] == "complete")

    # Optuna: one trial per row, in the matching state; a complete one carries the table's values
    every = _optuna(cfg.search_dir)
    trials = {t.user_attrs["ray_trial_id"]: t for t in every if "ray_trial_id" in t.user_attrs}
    # a draw the driver died on before it became a Ray trial knows none: FAIL once the search ends
    assert all(t.state.name in ("FAIL", "RUNNING") for t in every if "ray_trial_id" not in t.user_attrs)
    for trial_id, state in states.items():
        assert trials[trial_id].state.name == OPTUNA[state], (trial_id, state)
        if state == "complete":
            row = next(r for r in rows if r["trial_id"] == trial_id)
            assert trials[trial_id].values == pytest.approx([row["val_top1"], row["gmacs_clip"]])
    # a trial Tune lost to a hard kill (started after its last snapshot) has no row and never counts
    assert all(t.state.name in ("FAIL", "RUNNING") for i, t in trials.items() if i not in states)
    assert not finished or not [t for t in every if t.state.name == "RUNNING"]

    # MLflow: one child run per row (none twice), its status and state tag, one point per epoch
    client = MlflowClient(cfg.resolved_tracking_uri())
    experiment = client.get_experiment_by_name(cfg.experiment_name).experiment_id
    runs = client.search_runs([experiment], max_results=1000)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1 and parents[0].info.status == ("FINISHED" if finished else "KILLED")
    children = [r for r in runs if r.data.tags.get("vidnas.trial_id") in states]
    ids = sorted(c.data.tags["vidnas.trial_id"] for c in children)
    assert len(ids) == len(set(ids))  # never two runs for one trial
    # a run opens when its trial starts: only an interrupted trial that never reported may have none
    assert set(ids) >= {r["trial_id"] for r in rows if not (r["state"] == "interrupted" and r["epochs"] == 0)}
    for child in children:
        row = next(r for r in rows if r["trial_id"] == child.data.tags["vidnas.trial_id"])
        assert child.info.status == MLFLOW[row["state"]]
        assert child.data.tags["vidnas.state"] == row["state"]
        assert child.data.tags["vidnas.pruned"] == str(row["state"] == "pruned").lower()
        steps = [m.step for m in client.get_metric_history(child.info.run_id, "val_top1")]
        if row["state"] == "interrupted":  # logged epochs may run ahead of the last one Tune saw
            assert steps == list(range(1, len(steps) + 1)) and len(steps) >= row["epochs"]
        else:
            assert steps == list(range(1, row["epochs"] + 1))
    assert all(r.info.status != "RUNNING" for r in runs)
    for orphan in [r for r in runs if r not in children and r not in parents]:
        assert orphan.info.status == "KILLED" and orphan.data.tags["vidnas.orphan"] == "true"

    # Ray Tune: the same trials; ended ones TERMINATED, interrupted ones waiting to resume
    tune_trials = {t.trial_id: t for t in ExperimentAnalysis(str(cfg.search_dir / "tune")).trials}
    for trial_id, state in states.items():
        if trial_id in tune_trials:
            expected = {"TERMINATED"} if state != "interrupted" else {"PENDING", "PAUSED", "RUNNING"}
            assert tune_trials[trial_id].status in expected, (trial_id, state)
    assert not finished or set(tune_trials) == set(states)
    held = {"table": Counter(states.values()), "Optuna": Counter(t.state.name for t in every),
            "MLflow": Counter(f"{c.info.status}/{c.data.tags['vidnas.state']}" for c in children),
            "Tune": Counter(t.status for t in tune_trials.values())}
    print(f"  {'after --resume' if finished else 'after the signal'}: "
          + "; ".join(f"{store} {dict(sorted(counts.items()))}" for store, counts in held.items()))
    return rows


def _run_case(store: str, tmp_path: Path, sig: signal.Signals, wave: str, early_stopping: bool,
              move: bool = False) -> None:
    cfg = _config(store, tmp_path, early_stopping)
    code, log = _interrupt(cfg, tmp_path, sig, wave)
    print(f"\n{_name((sig, wave, early_stopping, *([move] if move else [])))}: exit {code}")
    if sig != signal.SIGKILL:  # stopped and saved: interrupted, says so, and says how to go on
        assert code == 130, log[-2000:]
        assert f"vidnas search --resume {cfg.search_dir}" in log
        _check_agreement(cfg, finished=False)
    if move:  # resumed from elsewhere, in another working directory: the directory knows itself
        old = cfg.search_dir
        cfg = dataclasses.replace(cfg, storage=str(tmp_path / "moved"))
        cfg.search_dir.parent.mkdir()
        shutil.move(old, cfg.search_dir)
    out = subprocess.run([sys.executable, "-m", "search.cli.main", "search", "--resume", str(cfg.search_dir), "--cpus",
                          "2", "--verbose", "0"], capture_output=True, text=True, timeout=600, cwd=cfg.search_dir.parent,
                         env=os.environ | {"PYTHONPATH": str(Path(__file__).parents[2])})
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    _check_agreement(cfg, finished=True)
    if move:  # nothing written where it was (MLflow's artifact locations were moved along)
        assert not old.exists()
        client = MlflowClient(cfg.resolved_tracking_uri())
        experiment = client.get_experiment_by_name(cfg.experiment_name)
        assert experiment.artifact_location == (cfg.search_dir / "mlartifacts").as_uri()
        runs = client.search_runs([experiment.experiment_id])
        assert all(r.info.artifact_uri.startswith(experiment.artifact_location) for r in runs)


DEFAULT = [(signal.SIGINT, "first", True), (signal.SIGTERM, "last", True, True), (signal.SIGKILL, "last", True)]
MATRIX = [(s, w, e) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL) for w in ("first", "last")
          for e in (True, False) if (s, w, e) not in [c[:3] for c in DEFAULT]]


def _name(case: tuple) -> str:
    sig, wave, early_stopping, *move = case
    return f"{sig.name}-{wave}-{'es' if early_stopping else 'fifo'}" + ("-moved" if move else "")


@pytest.mark.parametrize("case", DEFAULT, ids=[_name(c) for c in DEFAULT])
def test_an_interrupted_search_agrees_everywhere_and_resumes(store: str, tmp_path: Path, case: tuple) -> None:
    _run_case(store, tmp_path, *case)


@pytest.mark.matrix
@pytest.mark.parametrize("case", MATRIX, ids=[_name(c) for c in MATRIX])
def test_interrupt_matrix(store: str, tmp_path: Path, case: tuple) -> None:
    _run_case(store, tmp_path, *case)
