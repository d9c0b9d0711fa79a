"""A search on two real Ray nodes (a head and a second `ray start --address`, on 127.0.0.1, one
CPU each) with an MLflow server: trials are placed on both nodes; the second node is killed by its
pids mid-search; its trial resumes from its last checkpoint on the surviving node; and nothing is
lost or duplicated in Ray, Optuna, MLflow or the table."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from cluster.local import add_node, down, up
from search.data.synth import write_synth
from search.engine.tuner import open_study
from search.record import tracking
from search.record.results import read_results

pytestmark = [pytest.mark.ray, pytest.mark.slow]
TRIALS, EPOCHS = 2, 30


def _epochs_by_trial(search_dir: Path) -> dict[str, list[tuple[int, str]]]:
    """Tune's record of every result each trial reported: (epoch, node id), in order."""
    out: dict[str, list[tuple[int, str]]] = {}
    for path in sorted((search_dir / "tune").glob("*/result.json")):
        lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        out[path.parent.name.split("-")[0]] = [(r["epoch"], r["node_id"]) for r in lines if "node_id" in r]
    return out


def _checkpoints(search_dir: Path) -> dict[str, int]:
    """Checkpoints each trial has in the storage (written at every epoch's report)."""
    out: dict[str, int] = {}
    for path in (search_dir / "tune").glob("*/checkpoint_*"):
        trial = path.parent.name.split("-")[0]
        out[trial] = max(out.get(trial, 0), int(path.name.split("_")[1]) + 1)
    return out


def test_a_lost_node_s_trial_resumes_on_the_surviving_node(tmp_path: Path) -> None:
    store = tmp_path / "tiny"
    write_synth(store, size_name="tiny", seed=0, workers=1, progress=False)
    cluster = up(tmp_path / "cluster", num_cpus=1)  # the head: one trial at a time
    try:
        _, worker_pids, worker_id = add_node(tmp_path / "cluster", num_cpus=1)
        config = {"name": "two", "data": str(store), "storage": str(tmp_path / "results"), "trials": TRIALS,
                  "epochs": EPOCHS, "min_epochs": 1, "early_stopping": False, "sampler": "random", "seed": 2,
                  "cpus_per_trial": 1, "max_failures": 2, "system_metrics_s": None,
                  "address": cluster.ray_address, "tracking_uri": cluster.tracking_uri,
                  "space": {"frames": [8], "crop": 32, "widths": [0.125], "depths": [0.34],
                            "families": ["inception"], "backbones": ["inception_v1"]}, "optim": {"batch_size": 16}}
        path = tmp_path / "two.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        search_dir = tmp_path / "results" / "two"
        with (tmp_path / "driver.log").open("w") as log:
            driver = subprocess.Popen([sys.executable, "-m", "search.cli.main", "search", str(path), "--verbose", "0"],
                                      stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        # both trials running (one per node), each past its first checkpoint and far from its last
        deadline, saved = time.time() + 400, {}
        while time.time() < deadline and driver.poll() is None:
            saved = _checkpoints(search_dir)
            if len(saved) == TRIALS and all(1 <= n <= EPOCHS - 10 for n in saved.values()):
                break
            time.sleep(0.1)
        assert driver.poll() is None and len(saved) == TRIALS, (tmp_path / "driver.log").read_text()[-3000:]
        for pid in worker_pids:  # the node dies: its raylet, its workers, everything it started
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        assert driver.wait(timeout=600) == 0, (tmp_path / "driver.log").read_text()[-3000:]

        # Ray: placed on both nodes; the lost trial went on from its last checkpoint on the head,
        # every epoch reported once
        record = _epochs_by_trial(search_dir)
        nodes = {trial: r[0][1] for trial, r in record.items()}  # where each started
        assert sorted(nodes) == sorted(saved) and len(set(nodes.values())) == 2 and worker_id in nodes.values()
        lost = next(t for t, n in nodes.items() if n == worker_id)
        assert {t: [e for e, _ in r] for t, r in record.items()} == {t: list(range(1, EPOCHS + 1)) for t in nodes}
        moved = [n for _, n in record[lost]]
        survivor = next(n for t, n in nodes.items() if t != lost)
        assert moved[0] == worker_id and moved[-1] == survivor
        # the table: one row per trial, both complete, the lost one resumed where it stood
        rows = {r["trial_id"]: r for r in read_results(search_dir)}
        assert len(read_results(search_dir)) == TRIALS and set(rows) == set(nodes)
        assert {r["state"] for r in rows.values()} == {"complete"} and {r["epochs"] for r in rows.values()} == {EPOCHS}
        assert rows[lost]["node_id"] == survivor and rows[lost]["restored_from_epoch"] == moved.index(survivor)
        assert rows[lost]["restored_from_epoch"] >= 1
        assert rows[next(t for t in nodes if t != lost)]["restored_from_epoch"] == 0
        # Optuna: told once per trial
        told = [t for t in open_study(search_dir).get_trials(deepcopy=False) if "ray_trial_id" in t.user_attrs]
        assert sorted(t.user_attrs["ray_trial_id"] for t in told) == sorted(nodes)
        assert {t.state.name for t in told} == {"COMPLETE"}
        # MLflow: one finished run per trial, each epoch logged once
        client = MlflowClient(cluster.tracking_uri)
        experiment = client.get_experiment_by_name("two")
        children = [r for r in client.search_runs([experiment.experiment_id]) if tracking.TRIAL_TAG in r.data.tags]
        assert sorted(r.data.tags[tracking.TRIAL_TAG] for r in children) == sorted(nodes)
        assert {r.info.status for r in children} == {"FINISHED"}
        for run in children:
            steps = [m.step for m in client.get_metric_history(run.info.run_id, "val_top1")]
            assert sorted(steps) == list(range(1, EPOCHS + 1))
        print(f"\nnode loss: {TRIALS} trials placed on 2 nodes, 1 lost with its node at epoch "
              f"{rows[lost]['restored_from_epoch']}, resumed from that checkpoint on the head, 0 duplicated")
    finally:
        stopped = down(tmp_path / "cluster")
    assert cluster.ray_pid in stopped
