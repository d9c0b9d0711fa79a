"""Studies: config checks (one line each), and a tiny end-to-end study on a real local Ray, a real
MLflow store and the synthetic benchmark, from the command line."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from mlflow.tracking import MlflowClient

from search.cli.main import main
from search.data.store import ClipStore
from search.data.store import StoreMeta, write_meta
from search.data.synth import write_synth
from search.engine.config import ConfigError
from search.studies.analysis import analyze
from search.studies.config import SEARCH_SUBDIR, StudyConfig
from search.studies.runner import Study, found_arms, split_aliases
from search.studies.stats import (
    DESCRIPTIVE, REPRODUCED, Estimate, clip_contributions, holm, p_value_crossed, verdict,
)
from spaces import ArchSpec, cost, get_preset


def _study(store: str, tmp_path: Path, **overrides) -> dict:
    return {
        "name": "tiny", "title": "tiny", "data": store, "storage": str(tmp_path / "studies"), "seeds": [0, 1],
        "epochs": 2, "width": 0.125, "depth": 0.34, "optim": {"batch_size": 16}, "half_budget_seeds": [0],
        "adequacy": {"max_val_gain": 1.0, "max_train_loss_ratio": 5.0},  # 2 epochs: lenient, so claims decide
        "latency": {"batch": 2, "rounds": 3, "repeats": 1},
        "arms": [{"name": "flat", "preset": "i2d", "groups": ["sweep"]},
                 {"name": "top", "preset": "i3d_top_heavy_4b", "groups": ["sweep"]},
                 {"name": "vov", "preset": "vov3d_m", "frames": 8, "blocks": {"tosa_depth": 2}}],
        "claims": [
            {"id": "cheaper", "statement": "vov costs fewer GMACs than flat", "test": "difference",
             "metric": "gmacs", "a": ["vov"], "b": ["flat"], "direction": "less"},
            {"id": "top1", "statement": "top beats flat", "test": "difference", "metric": "top1",
             "a": ["top"], "b": ["flat"], "margin": 0.02},
            {"id": "ranks", "statement": "GMACs rank latency", "test": "rank_agreement", "metric": "latency_ms",
             "a": ["sweep", "vov"], "threshold": 0.5},
        ]} | overrides


@pytest.mark.parametrize("change, message", [
    ({"claims": [{"id": "c", "statement": "s", "test": "difference", "metric": "top1", "a": ["nope"],
                  "b": ["flat"]}]}, "claims[0].a='nope': unknown arm or group; known: flat, sweep, top, vov"),
    ({"claims": [{"id": "c", "statement": "s", "test": "anova", "metric": "top1", "a": ["top"]}]},
     "claims[0].test='anova': must be one of difference, matched_cost, dominance, rank_agreement"),
    ({"claims": [{"id": "c", "statement": "s", "test": "difference", "metric": "top1", "a": ["top"]}]},
     "claims[0].b=[]: test difference compares a with b"),
    ({"claims": [{"id": "c", "statement": "s", "test": "rank_agreement", "metric": "latency_ms",
                  "a": ["top", "flat"]}]}, "rank_agreement needs at least 3 arms"),
    ({"claims": [{"id": "c", "statement": "s", "test": "difference", "metric": "speed", "a": ["top"],
                  "b": ["flat"]}]}, "claims[0].metric='speed': must be one of"),
    ({"seeds": [0, 0]}, "seeds=[0, 0]: must be a list of distinct integers"),
    ({"arms": [{"name": "a", "preset": "i2d"}, {"name": "a", "preset": "i3d"}]}, "arms[1].name='a': must be unique"),
    ({"arms": [{"name": "a", "preset": "x3d"}]}, "arms[0].preset='x3d': unknown preset"),
    ({"arms": [{"name": "a", "preset": "i2d", "colour": 1}]}, "arms[0].colour=1: unknown key for "),
    ({"retrain_front": 2}, "retrain_front=2: needs a `search:` whose front it retrains"),
    ({"interval": "wald"}, "interval='wald': must be one of t, bootstrap"),
    ({"latency": {"rounds": 1}}, "needs rounds >= 2"),
])
def test_bad_study_configs_fail_in_one_line(store: str, tmp_path: Path, change: dict, message: str) -> None:
    data = _study(store, tmp_path) | change
    with pytest.raises(ConfigError) as e:
        StudyConfig.from_dict(data)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_bad_arms_and_search_keys_are_named(store: str, tmp_path: Path) -> None:
    data = _study(store, tmp_path)
    data["arms"][2]["blocks"] = {"tosa": 2}
    with pytest.raises(ConfigError, match=r"arm vov: blocks.tosa: not a field of its blocks; fields: out_channels"):
        Study(StudyConfig.from_dict(data))
    twins = _study(store, tmp_path, arms=[{"name": "a", "preset": "i2d"}, {"name": "b", "preset": "i2d"}],
                   claims=[{"id": "c", "statement": "s", "test": "difference", "metric": "top1", "a": ["a"],
                            "b": ["b"]}])
    with pytest.raises(ConfigError, match="arms a and b: the same architecture"):
        Study(StudyConfig.from_dict(twins))
    joint = _study(store, tmp_path, search={"trials": 2, "epochs": 3})
    with pytest.raises(ConfigError, match=r"search.epochs: set by the study"):
        Study(StudyConfig.from_dict(joint))._search_config()


def test_init_reaches_every_arm_the_half_budget_and_the_joint_search(store: str, tmp_path: Path) -> None:
    """A study's `init:` starts every arm, its half-budget retrain and its joint search alike (one
    fair start for all); a search that names its own is refused."""
    from search.trial.options import InitConfig

    init = {"weights": str(Path(__file__)), "inflate": True, "rule": "centre", "backbone_lr": 0.1}
    study = Study(StudyConfig.from_dict(_study(store, tmp_path, init=init, search={"trials": 2})))
    expected = InitConfig(weights=str(Path(__file__)), inflate=True, rule="centre", backbone_lr=0.1)
    assert study.arms_config(study.specs).init == study.arms_config(study.specs, half=True).init == expected
    assert study._search_config().init == expected
    own = _study(store, tmp_path, search={"trials": 2, "init": init})
    with pytest.raises(ConfigError, match=r"^search.init: set by the study"):
        Study(StudyConfig.from_dict(own))._search_config()
    with pytest.raises(ConfigError, match=r"^init.weights='nope.pt': must be a state dict file or an export"):
        StudyConfig.from_dict(_study(store, tmp_path, init={"weights": "nope.pt"}))


def test_the_shipped_studies_are_valid(store: str) -> None:
    studies = sorted(Path(__file__).parents[2].glob("configs/studies/*.yaml"))
    assert {p.stem for p in studies} >= {"s3d_placement", "s3d_factorization", "vov3d", "smallbig", "joint"}
    for path in studies:
        cfg = StudyConfig.from_yaml(path)
        assert len(cfg.seeds) >= 3 and cfg.claims
        study = Study(StudyConfig.from_dict(cfg.to_dict() | {"data": store}))  # the tiny store has 16 frames too
        assert len(study.specs) == len(cfg.arms)


def test_every_exact_claim_names_a_structural_test_that_exists() -> None:
    """An exact claim is decided by its proof, so the proof must be a test the suite runs."""
    root = Path(__file__).parents[2]
    exact = [c for path in sorted(root.glob("configs/studies/*.yaml")) for c in StudyConfig.from_yaml(path).claims
             if c.test == "exact"]
    assert exact  # smallbig's big_view_temporal at least
    for claim in exact:
        file, _, name = claim.proof.partition("::")
        assert (root / file).is_file() and f"def {name}(" in (root / file).read_text(), claim.proof


def test_found_arms_spread_over_the_front(tmp_path: Path) -> None:
    specs = [get_preset("i2d", frames=16, crop=32, num_classes=6).scaled(width=w, depth=0.34)
             for w in (0.125, 0.25, 0.375, 0.5, 0.625)]
    rows = [{"trial_id": str(i), "state": "complete", "pareto": i != 2, "gmacs": cost(s).gmacs, "spec": s.to_json()}
            for i, s in enumerate(specs)]
    (tmp_path / SEARCH_SUBDIR).mkdir()
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / SEARCH_SUBDIR / "results.parquet")
    found = found_arms(tmp_path, 3)
    assert list(found) == ["found_1", "found_2", "found_3"]
    assert [s.to_json() for s in found.values()] == [specs[0].to_json(), specs[3].to_json(), specs[4].to_json()]


@pytest.mark.ray
@pytest.mark.slow
def test_a_tiny_study_end_to_end(store: str, tmp_path: Path, capsys) -> None:
    data = _study(store, tmp_path)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(data))
    out = tmp_path / "docs"
    assert main(["study", "run", str(path), "--cpus", "2", "--verbose", "0", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    study_dir = tmp_path / "studies" / "tiny"

    # every arm x seed trained once, at the study's seed, in the table and in MLflow
    rows = pq.read_table(study_dir / "results.parquet").to_pylist()
    assert sorted((r["preset"], r["seed"]) for r in rows) == [(a, s) for a in ("flat", "top", "vov") for s in (0, 1)]
    assert all(r["state"] == "complete" and r["epochs"] == 2 for r in rows)
    # the half budget: every arm again at 1 epoch (its own schedule) on seed 0, in STUDY_DIR/half
    half = pq.read_table(study_dir / "half" / "results.parquet").to_pylist()
    assert sorted((r["preset"], r["seed"], r["epochs"]) for r in half) == [(a, 0, 1) for a in ("flat", "top", "vov")]
    vov = ArchSpec.from_json(next(r["spec"] for r in rows if r["preset"] == "vov"))
    assert vov.frames == 8 and {b.tosa_depth for st in vov.stages for b in st.blocks} == {2}
    client = MlflowClient(f"sqlite:///{study_dir / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("tiny")
    runs = client.search_runs([experiment.experiment_id], max_results=100)
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert sorted((r.data.params["arm"], r.data.params["seed"]) for r in children) == [
        (a, str(s)) for a in ("flat", "top", "vov") for s in (0, 1)]
    assert client.get_experiment_by_name("tiny-half") is not None  # the half budget's runs, apart
    assert all(r.info.status == "FINISHED" for r in children)

    # latency: every arm in every round, each round a fresh process
    latency = pq.read_table(study_dir / "latency.parquet").to_pylist()
    assert sorted((r["arm"], r["round"]) for r in latency) == [(a, i) for a in ("flat", "top", "vov") for i in range(3)]
    assert all(r["latency_ms"] > 0 and r["step_ms"] > 0 for r in latency)
    assert len({r["process"] for r in latency}) == 3 and len({(r["process"], r["round"]) for r in latency}) == 3

    # the verdicts follow from the measurements
    summary = json.loads((study_dir / "study_report" / "summary.json").read_text())
    claims = {c["id"]: c for c in summary["claims"]}
    flat = get_preset("i2d", frames=16, crop=32, num_classes=6).scaled(width=0.125, depth=0.34)
    # costs per clip (vov: 8 of 16 frames, 2 views), counted: an exact claim, outside the family
    assert claims["cheaper"]["effect"] == pytest.approx(2 * cost(vov).gmacs - cost(flat).gmacs)
    assert claims["cheaper"]["exact"] and claims["cheaper"]["verdict"] == REPRODUCED
    assert not claims["cheaper"]["in_family"] and math.isnan(claims["cheaper"]["p_holm"])
    # reported on the test split (evaluated once, after the last epoch), Holm over the tested claims
    assert all(r["test_top1"] is not None and r["test_views"] == (2 if r["preset"] == "vov" else 1) for r in rows)
    top1 = {(r["preset"], r["seed"]): r["test_top1"] for r in rows}
    diffs = [top1["top", s] - top1["flat", s] for s in (0, 1)]
    assert claims["top1"]["effect"] == pytest.approx(sum(diffs) / 2)
    # its interval covers the seeds and the test clips they share: from each clip's outcome
    clips = {a: {r["seed"]: np.asarray(r["test_clip_top1"], float) for r in rows if r["preset"] == a}
             for a in ("top", "flat")}
    d = clip_contributions(clips, {"top": 1.0, "flat": -1.0})
    crossed = Estimate.crossed(d)
    assert claims["top1"]["replicates"] == "seeds x test clips" and d.shape == (2, 48)
    assert (claims["top1"]["low"], claims["top1"]["high"]) == pytest.approx((crossed.low, crossed.high))
    p_top1 = holm([p_value_crossed(d, direction="greater")])[0]  # the family: top1 alone ("cheaper" is exact)
    assert claims["top1"]["p_holm"] == pytest.approx(p_top1, nan_ok=True)
    assert claims["top1"]["verdict"] == verdict(crossed, direction="greater", margin=0.02, p_adjusted=p_top1)
    assert claims["top1"]["half"]["n"] == 1 and claims["top1"]["seeds_only"]["n"] == 2
    # 3 timing processes are fewer than the 5 independent replicates a latency verdict needs
    assert claims["ranks"]["n"] == 3 and claims["ranks"]["replicates"] == "latency processes"
    assert claims["ranks"]["verdict"] == DESCRIPTIVE and math.isnan(claims["ranks"]["p_holm"])
    assert -1 <= claims["ranks"]["effect"] <= 1
    for claim in ("cheaper", "top1", "ranks"):
        assert claim in printed

    # the report: Markdown, HTML, plots, copied to --out, logged to the parent run
    report = (out / "report.md").read_text()
    assert report.count("| cheaper |") == 1 and "**reproduced**" in report and "vidnas study run" in report
    assert (out / "report.html").read_text().startswith("<!doctype html>")
    assert {"accuracy_vs_gmacs.png", "claims.png", "latency_vs_gmacs.png", "arms.png", "curves.png"} <= {
        p.name for p in out.iterdir()}
    assert "## Adequacy of training" in report and "| flat | 2/2 |" in report
    parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
    parent = client.get_run(parent.info.run_id)
    assert parent.data.tags["vidnas.claim.cheaper"] == REPRODUCED
    assert "report.md" in {a.path.split("/")[-1] for a in client.list_artifacts(parent.info.run_id, "study_report")}

    # running it again trains nothing and reports the same verdicts; a changed config is refused
    trial_ids = sorted(r["trial_id"] for r in rows)
    assert main(["study", "run", str(path), "--verbose", "0"]) == 0
    assert sorted(r["trial_id"] for r in pq.read_table(study_dir / "results.parquet").to_pylist()) == trial_ids
    assert [c.verdict for c in analyze(study_dir).claims] == [claims[c]["verdict"] for c in ("cheaper", "top1", "ranks")]
    capsys.readouterr()
    assert main(["report", str(study_dir)]) == 0  # `vidnas report` on a study directory: its verdicts
    assert "cheaper" in capsys.readouterr().out
    path.write_text(yaml.safe_dump(data | {"epochs": 4}))
    assert main(["study", "run", str(path), "--verbose", "0"]) == 2
    assert "holds a study with a different config" in capsys.readouterr().err


def test_study_commands_reject_bad_input_in_one_line(tmp_path: Path, capsys) -> None:
    assert main(["study", "run", str(tmp_path / "missing.yaml")]) == 2
    assert capsys.readouterr().err.strip() == f"vidnas: error: {tmp_path / 'missing.yaml'}: no such study file"
    assert main(["study", "report", str(tmp_path)]) == 2
    assert "not a study directory" in capsys.readouterr().err
    assert main(["study", "index", str(tmp_path), "--out", str(tmp_path / "i.md")]) == 2
    assert "no summary.json there" in capsys.readouterr().err


def test_store_mismatch_is_named(store: str, tmp_path: Path) -> None:
    data = _study(store, tmp_path)
    data["arms"][0]["frames"] = 64
    with pytest.raises(ConfigError, match="arm flat: frames=64, but the store's clips have 16 frames"):
        Study(StudyConfig.from_dict(data))
    assert ClipStore.open(store).meta.frames == 16


def test_a_store_without_a_test_split_is_refused_with_the_command_that_adds_one(tmp_path: Path) -> None:
    meta = write_synth(tmp_path / "old", size_name="tiny", seed=0, workers=1, progress=False, only=("train", "val"))
    write_meta(tmp_path / "old", StoreMeta(**{**meta.__dict__, "splits": {"train": 96, "val": 48}}))
    with pytest.raises(ConfigError, match=f"add one with `vidnas data add-test {tmp_path / 'old'}`"):
        Study(StudyConfig.from_dict(_study(str(tmp_path / "old"), tmp_path)))


def test_a_found_arm_equal_to_an_arm_is_recorded_under_both_names() -> None:
    a, b = (get_preset(p, frames=16, crop=32, num_classes=6).scaled(width=0.125, depth=0.34) for p in ("i2d", "s3d"))
    new, aliases = split_aliases({"i2d": a, "s3d": b}, {"found_1": b, "found_2": a.scaled(width=2.0)})
    assert list(new) == ["found_2"] and aliases == {"found_1": "s3d"}
    new, aliases = split_aliases({"i2d": a}, {"found_1": b, "found_2": b})  # two found alike: trained once
    assert list(new) == ["found_1"] and aliases == {"found_2": "found_1"}
