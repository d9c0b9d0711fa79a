"""Real small searches: a real local Ray, a real MLflow sqlite store, a real Optuna journal."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import optuna
import pyarrow.parquet as pq
import pytest
import torch
import yaml
from mlflow.tracking import MlflowClient

from search.data.loader import ClipDataset, make_loader
from search.engine.config import ConfigError, SearchConfig
from search.engine.tuner import Search, open_study, resume_search, run_search
from search.errors import SearchError
from search.record.export import checkpoint_state, export, select
from search.record.tracking import VIEW_TAG
from search.trial.loop import evaluate
import spaces
from spaces import ArchSpec, get_preset

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def _config(store: str, tmp_path: Path, **overrides) -> SearchConfig:
    data = {"name": "t", "data": store, "storage": str(tmp_path / "results"), "trials": 3, "epochs": 2,
            "min_epochs": 1, "concurrency": 2, "early_stopping": False, "sampler": "random",
            "space": {"frames": [8], "crop": 32, "widths": [0.125], "depths": [0.34], "families": ["resnet", "vov"],
                      "backbones": ["resnet50", "vov3d_m"], "tosa_depths": [1, 2]},
            "warm_start": ["tsn_r50"], "warm_start_width": 0.125, "warm_start_depth": 0.34,
            "optim": {"batch_size": 16}} | overrides
    return SearchConfig.from_dict(data)


def _study(search_dir: Path) -> optuna.Study:
    return open_study(search_dir)


def _mlflow(cfg: SearchConfig) -> tuple[MlflowClient, list, list]:
    client = MlflowClient(cfg.resolved_tracking_uri())
    experiment = client.get_experiment_by_name(cfg.experiment_name)
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    return client, parents, children


def test_a_small_search_is_recorded_in_ray_optuna_mlflow_and_the_table(store: str, tmp_path: Path, capsys) -> None:
    cfg = _config(store, tmp_path, system_metrics_s=1)
    outcome = run_search(cfg, num_cpus=2, verbose=0, register="t-front")
    hint = f"spaces.load('models:/t-front@best-top1', tracking_uri='{cfg.resolved_tracking_uri()}')"
    assert hint in capsys.readouterr().out  # the printed line is what the test runs below
    assert outcome.finished and len(outcome.rows) == 3
    assert _study(cfg.search_dir).metric_names == ["val_top1", "gmacs_clip"]  # named in optuna-dashboard
    rows = {r["trial_id"]: r for r in outcome.rows}
    assert all(r["state"] == "complete" and r["epochs"] == 2 for r in rows.values())
    warm = [r for r in rows.values() if r["preset"] == "tsn_r50"]
    assert len(warm) == 1  # the warm start ran first and is named
    expected = get_preset("tsn_r50", frames=8, crop=32, num_classes=6).scaled(width=0.125, depth=0.34)
    assert ArchSpec.from_json(warm[0]["spec"]) == expected

    # the results table
    table = pq.read_table(cfg.search_dir / "results.parquet").to_pylist()
    assert sorted(r["trial_id"] for r in table) == sorted(rows)
    front = [r for r in table if r["pareto"]]
    assert front and all(not (o["val_top1"] > f["val_top1"] and o["gmacs_clip"] < f["gmacs_clip"])
                         for f in front for o in table)
    assert {"arch_family", "arch_s1_temporal_op", "val_within_pair", "val_acc_motion", "latency_ms"} <= set(table[0])
    # the test split reports: evaluated once, after the last epoch, with its views (8 of 16 frames: 2)
    assert all(r["test_top1"] is not None and r["test_views"] == 2 and r["val_views"] == 2 for r in table)
    # cost per clip: GMACs per view x the views every clip is evaluated with, known before training
    assert all(r["views"] == 2 and r["gmacs_clip"] == pytest.approx(2 * r["gmacs"]) for r in table)
    # each test clip's outcome (48 clips), whose means are the reported accuracies; the curves per epoch
    for r in table:
        assert len(r["test_clip_top1"]) == 48 and set(r["test_clip_top1"]) <= {0, 1}
        assert sum(r["test_clip_top1"]) / 48 == pytest.approx(r["test_top1"])
        paired = [x for x in r["test_clip_pair"] if x >= 0]
        assert len(paired) == 32 and sum(paired) / len(paired) == pytest.approx(r["test_within_pair"])
        assert len(r["curve_val_top1"]) == 2 and r["curve_val_top1"][-1] == pytest.approx(r["val_top1"])
        assert len(r["curve_train_loss"]) == 2 and r["curve_train_loss"][-1] == pytest.approx(r["train_loss"])

    # Optuna: one COMPLETE trial per Tune trial, with the reported objectives
    study = _study(cfg.search_dir)
    trials = study.get_trials(deepcopy=False)
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 3
    by_ray = {t.user_attrs["ray_trial_id"]: t for t in trials}
    for trial_id, row in rows.items():
        assert by_ray[trial_id].values == pytest.approx([row["val_top1"], row["gmacs_clip"]])

    # MLflow: a parent with the config, a FINISHED child per trial with params, metrics per epoch, spec
    client, parents, children = _mlflow(cfg)
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    parent = parents[0]
    assert parent.info.run_name == "search t"  # told apart from its trials by name
    view = json.loads(client.get_experiment(parent.info.experiment_id).tags[VIEW_TAG])  # what the runs page opens on
    assert view["selectedColumns"] == ["metrics.`val_top1`", "metrics.`gmacs_clip`", "metrics.`params`"]
    assert view["runsHiddenMode"] == "SHOW_ALL"
    assert parent.data.params["trials"] == "3" and "store_fingerprint" in parent.data.params
    # a model-training experiment (the UI opens on its runs), the clip store as the runs' dataset
    assert client.get_experiment(parent.info.experiment_id).tags["mlflow.experimentKind"] == "custom_model_development"
    (dataset,) = [d.dataset for d in parent.inputs.dataset_inputs]
    assert dataset.name == "synth-tiny" and dataset.source == store and json.loads(dataset.profile)["splits"] == {
        "train": 96, "val": 48, "test": 48}
    assert len(children) == 3 and {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}
    assert {c.data.tags["vidnas.trial_id"] for c in children} == set(rows)
    for child in children:
        row = rows[child.data.tags["vidnas.trial_id"]]
        assert child.info.status == "FINISHED" and child.data.tags["vidnas.pruned"] == "false"
        assert child.data.params["family"] == row["arch_family"]
        # named by its architecture, the trial id a tag and a param, a description, the same dataset
        assert child.info.run_name == ArchSpec.from_json(row["spec"]).title(row["preset"])
        assert child.data.params["trial_id"] == row["trial_id"] and child.data.params["slug"] == row["slug"]
        assert child.data.params.get("preset", "") == row["preset"]
        assert child.data.tags["mlflow.note.content"].startswith("complete: trained every epoch")
        assert [(d.dataset.name, d.dataset.digest) for d in child.inputs.dataset_inputs] == [(dataset.name,
                                                                                               dataset.digest)]
        # the trial process's system metrics (MLflow's monitor, every second here)
        assert {"system/cpu_utilization_percentage", "system/system_memory_usage_megabytes"} <= set(child.data.metrics)
        # costs logged once (step 0), not once per epoch
        for cost_key in ("gmacs", "views", "gmacs_clip", "params", "latency_ms"):
            points = client.get_metric_history(child.info.run_id, cost_key)
            assert [m.step for m in points] == [0] and points[0].value == pytest.approx(row[cost_key])
        history = client.get_metric_history(child.info.run_id, "val_top1")
        assert [m.step for m in history] == [1, 2] and history[-1].value == pytest.approx(row["val_top1"])
        test = client.get_metric_history(child.info.run_id, "test_top1")
        assert [m.step for m in test] == [2] and test[0].value == pytest.approx(row["test_top1"])
        spec = json.loads(Path(client.download_artifacts(child.info.run_id, "spec.json", str(tmp_path))).read_text())
        assert ArchSpec.from_dict(spec).to_json() == row["spec"]


    # export the best trial and load it back in one line: it scores what the search reported
    exported = export(cfg.search_dir, tmp_path / "exports", select(outcome.rows, best="val_top1"))
    model = spaces.load(exported[0])
    best = max(outcome.rows, key=lambda r: r["val_top1"])
    assert exported[0].name == best["trial_id"]
    state = checkpoint_state(cfg.search_dir, best["trial_id"])
    reference = spaces.build(ArchSpec.from_json(state["spec"]))
    reference.load_state_dict(state["model"])
    clip = torch.randn(2, 3, 8, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(clip), reference.eval()(clip))
    val = make_loader(ClipDataset(store, "val", frames=8), batch_size=16)
    metrics = evaluate(model, val, device=torch.device("cpu"), group_names=("appearance", "motion", "order"))
    assert metrics["top1"] == pytest.approx(best["val_top1"], abs=1e-6)
    card = json.loads((exported[0] / "card.json").read_text())
    assert card["input"]["shape"] == [3, 8, 32, 32] and card["source"]["trial_id"] == best["trial_id"]

    # the front as MLflow logged models, registered with aliases: loadable in one line
    front_ids = {r["trial_id"] for r in outcome.rows if r["pareto"]}
    logged = client.search_logged_models([parent.info.experiment_id])
    assert sorted(m.tags["vidnas.trial_id"] for m in logged) == sorted(front_ids)
    assert all(str(m.status).endswith("READY") and m.source_run_id == rows[m.tags["vidnas.trial_id"]]["mlflow_run_id"]
               for m in logged)
    for m in logged:  # the trial's own run page lists its model (the run's outputs)
        outputs = client.get_run(m.source_run_id).outputs.model_outputs
        assert [(o.model_id, o.step) for o in outputs] == [(m.model_id, 2)]
    top = client.get_model_version_by_alias("t-front", "best-top1")
    best_front = max((rows[t] for t in front_ids), key=lambda r: r["val_top1"])
    assert top.tags["vidnas.trial_id"] == best_front["trial_id"]
    from_registry = spaces.load("models:/t-front@best-top1", tracking_uri=cfg.resolved_tracking_uri())
    again = spaces.load(export(cfg.search_dir, tmp_path / "front", [best_front])[0])
    with torch.no_grad():
        torch.testing.assert_close(from_registry(clip), again(clip))
    # the parent's summary metrics, stepped by trials ended: its charts show the search's progress
    ended = client.get_metric_history(parent.info.run_id, "search/trials_complete")
    assert [(m.step, m.value) for m in ended] == [(1, 1.0), (2, 2.0), (3, 3.0)]
    hv = [m.value for m in client.get_metric_history(parent.info.run_id, "search/hypervolume")]
    assert len(hv) == 3 and hv == sorted(hv) and hv[-1] > 0  # the front only grows


def test_early_stopping_never_puts_a_truncated_trial_on_the_front(store: str, tmp_path: Path) -> None:
    cfg = _config(store, tmp_path, trials=5, epochs=3, min_epochs=1, reduction_factor=3, early_stopping=True,
                  concurrency=1, warm_start=[])
    outcome = run_search(cfg, num_cpus=2, verbose=0)
    rows = outcome.rows
    assert outcome.finished and len(rows) == 5
    states = {t.user_attrs["ray_trial_id"]: t.state for t in _study(cfg.search_dir).get_trials(deepcopy=False)}
    _, _, children = _mlflow(cfg)
    status = {c.data.tags["vidnas.trial_id"]: (c.info.status, c.data.tags["vidnas.pruned"],
                                               c.data.tags["mlflow.note.content"].split(":")[0]) for c in children}
    for r in rows:
        if r["epochs"] < 3:  # stopped at a rung
            assert r["state"] == "pruned" and not r["pareto"]
            assert states[r["trial_id"]] == optuna.trial.TrialState.PRUNED
            assert status[r["trial_id"]] == ("KILLED", "true", "pruned")  # told apart from a failure
        else:
            assert r["state"] == "complete" and states[r["trial_id"]] == optuna.trial.TrialState.COMPLETE
            assert status[r["trial_id"]] == ("FINISHED", "false", "complete")
    # the first trial at the rung always goes on, so one trial at least reached full fidelity
    assert any(r["state"] == "complete" for r in rows) and any(r["pareto"] for r in rows)


def test_bad_configs_and_directories_are_one_line_errors(store: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="epocs=3: unknown key for SearchConfig; valid keys: name, data"):
        SearchConfig.from_dict({"name": "x", "data": store, "epocs": 3})
    with pytest.raises(ConfigError, match=r"objectives=\'accuracy\': unknown metric"):
        SearchConfig.from_dict({"name": "x", "data": store, "objectives": {"accuracy": "max"}})
    with pytest.raises(ConfigError, match=r"warm_start_width=0.25: must be one of space.widths \[0.125\]"):
        Search(_config(store, tmp_path, warm_start_width=0.25))
    with pytest.raises(ConfigError, match="space.frames=32: the store's clips have 16 frames"):
        Search(_config(store, tmp_path, space={"frames": [32], "crop": 32}))
    with pytest.raises(Exception, match="no such directory"):
        Search(_config(str(tmp_path / "nowhere"), tmp_path))
    with pytest.raises(SearchError, match="not a search directory"):
        resume_search(tmp_path)
    search_dir = _config(store, tmp_path).search_dir
    (search_dir / "tune").mkdir(parents=True)
    with pytest.raises(SearchError, match="already holds a search; resume it with"):
        Search(_config(store, tmp_path)).run(resume=False)


def test_train_one_architecture_at_full_budget(store: str, tmp_path: Path, capsys) -> None:
    from search.cli.main import main
    code = main(["train", "tsn_r50", "--data", store, "--epochs", "2", "--width", "0.125", "--depth", "0.34",
                 "--frames", "8", "--storage", str(tmp_path / "results"), "--cpus", "1"])
    out = capsys.readouterr().out
    assert code == 0 and "complete after 2 epochs" in out
    run_dir = tmp_path / "results" / "train-tsn_r50"
    rows = pq.read_table(run_dir / "results.parquet").to_pylist()
    assert len(rows) == 1 and rows[0]["state"] == "complete"
    expected = get_preset("tsn_r50", frames=8, crop=32, num_classes=6).scaled(width=0.125, depth=0.34)
    assert ArchSpec.from_json(rows[0]["spec"]) == expected
    cfg = SearchConfig.from_dict(yaml.safe_load((run_dir / "config.yaml").read_text()))
    _, parents, children = _mlflow(cfg)
    assert len(parents) == 1 and len(children) == 1 and children[0].info.status == "FINISHED"
    # and a found architecture's spec file trains the same way
    spec_file = tmp_path / "arch.json"
    spec_file.write_text(expected.to_json())
    assert main(["train", str(spec_file), "--data", store, "--epochs", "1", "--storage", str(tmp_path / "results"),
                 "--cpus", "1", "--frames", "8"]) == 0
    assert main(["train", "nonexistent.json", "--data", store, "--epochs", "1"]) == 2


def test_a_run_shorter_than_the_sampling_interval_still_gets_its_system_metrics(tmp_path: Path) -> None:
    """MLflow's monitor publishes only after a whole interval; a trial that ends sooner logs the
    sample taken when it started (one step), and a restored trial goes on at the next step."""
    from types import SimpleNamespace

    from search.trial.trainable import _system_metrics

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    run_id = client.create_run(client.create_experiment("t")).info.run_id
    setup = SimpleNamespace(system_metrics_s=60.0, tracking_uri=uri)
    for _ in range(2):  # the trial, then the same trial restored
        monitor = _system_metrics(run_id, setup)
        deadline = time.time() + 10
        while not monitor.monitors[0]._metrics and time.time() < deadline:  # its first sample, at start
            time.sleep(0.05)
        monitor.finish()
    history = client.get_metric_history(run_id, "system/cpu_utilization_percentage")
    assert [m.step for m in history] == [0, 1]
    assert all(0 <= m.value <= 100 * (os.cpu_count() or 1) for m in history)
