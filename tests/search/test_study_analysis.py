"""A study's analysis on results tables written by hand (no training): adequacy and the
undertrained verdict, costs per clip and exact claims, the interval over seeds and test clips,
the half budget, claims of another regime, and Holm over the study and over the index's family."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from search.cli.main import main
from search.engine.config import ConfigError
from search.studies import stats
from search.studies.analysis import OTHER_REGIME, UNDERTRAINED, analyze
from search.studies.config import HALF_SUBDIR, STUDY_CONFIG, StudyConfig
from search.studies.index import family_verdicts, write_index
from search.studies.report import summary
from search.studies.runner import Study
from spaces import cost

SEEDS = [0, 1, 2, 3]
CLIPS = 48  # the tiny store's test split
RISING = ([0.1, 0.2, 0.3, 0.5], [2.5, 2.0, 1.8, 1.6])  # still learning: gains 0.2 in the last quarter
FLAT = ([0.3, 0.55, 0.6, 0.6], [2.0, 0.9, 0.8, 0.8])  # adequate at 6 classes (0.6 x ln 6 = 1.075)


def _config(store: str, tmp_path: Path) -> dict:
    return {
        "name": "hand", "data": store, "storage": str(tmp_path / "studies"), "seeds": SEEDS, "epochs": 4,
        "width": 0.125, "depth": 0.34, "half_budget_seeds": [0, 1],
        "arms": [{"name": "flat", "preset": "i2d_symmetric"},
                 {"name": "top", "preset": "i3d_top_heavy_4b"},
                 {"name": "deep", "preset": "i3d"},
                 {"name": "vov", "preset": "vov3d_m", "frames": 8}],
        "claims": [
            {"id": "top_beats_flat", "statement": "s", "test": "difference", "metric": "top1", "a": ["top"],
             "b": ["flat"]},
            {"id": "deep_beats_flat", "statement": "s", "test": "difference", "metric": "top1", "a": ["deep"],
             "b": ["flat"]},
            {"id": "vov_cheaper", "statement": "s", "test": "difference", "metric": "gmacs", "a": ["vov"],
             "b": ["flat"], "direction": "less"},
            {"id": "blind", "statement": "s", "test": "exact", "metric": "within_pair", "a": ["flat"], "b": ["vov"],
             "value": 0.0, "proof": "tests/x.py::test_y", "margin": 0.02},
            {"id": "temporal_only", "statement": "s", "test": "difference", "metric": "top1", "a": ["top"],
             "b": ["flat"], "regimes": ["temporal"]},
            {"id": "pairs", "statement": "s", "test": "difference", "metric": "within_pair", "a": ["top"],
             "b": ["flat"], "exploratory": True},
        ]}


def _hits(rng: np.random.Generator, p: float) -> list[int]:
    return (rng.random(CLIPS) < p).astype(int).tolist()


def _rows(cfg: StudyConfig, accuracy: dict[str, float], curves: dict[tuple[str, int], tuple], seeds: list[int],
          seed: int = 0) -> list[dict]:
    specs = Study(cfg).specs
    rng = np.random.default_rng(seed)
    paired = np.arange(CLIPS) >= 16  # the same clips count within pairs for every run
    rows = []
    for arm, spec in specs.items():
        for s in seeds:
            top1 = _hits(rng, accuracy[arm])
            pair = [h if p else -1 for h, p in zip(_hits(rng, accuracy[arm]), paired)]
            val, loss = curves.get((arm, s), FLAT)
            views = 2 if spec.frames == 8 else 1
            rows.append({
                "trial_id": f"{arm}-{s}", "state": "complete", "seed": s, "preset": arm, "spec": spec.to_json(),
                "views": float(views), "gmacs": cost(spec).gmacs, "gmacs_clip": cost(spec).gmacs * views,
                "curve_val_top1": list(val), "curve_train_loss": list(loss), "val_top1": val[-1],
                "train_loss": loss[-1], "test_top1": float(np.mean(top1)),
                "test_within_pair": float(np.mean([x for x in pair if x >= 0])),
                "val_within_pair": float(np.mean([x for x in pair if x >= 0])),
                "test_clip_top1": top1, "test_clip_pair": pair, "test_views": float(views)})
    return rows


def _write(directory: Path, rows: list[dict]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), directory / "results.parquet")


@pytest.fixture
def study(store: str, tmp_path: Path) -> StudyConfig:
    cfg = StudyConfig.from_dict(_config(store, tmp_path))
    cfg.study_dir.mkdir(parents=True)
    (cfg.study_dir / STUDY_CONFIG).write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    return cfg


ACCURACY = {"flat": 0.3, "top": 0.7, "deep": 0.7, "vov": 0.5}


def test_a_run_that_failed_to_train_is_left_out_and_two_make_the_claim_undertrained(study: StudyConfig) -> None:
    curves = {("top", 3): RISING, ("deep", 1): RISING, ("deep", 2): RISING, ("flat", 0): RISING}
    _write(study.study_dir, _rows(study, ACCURACY, curves, SEEDS))
    result = analyze(study.study_dir)
    claims = {c.claim.id: c for c in result.claims}
    assert not result.adequacy[("top", 3)].adequate and "still gained 0.200" in result.adequacy[("top", 3)].reason
    assert result.arm_adequacy["top"].adequate and result.arm_adequacy["top"].failed_seeds == (3,)
    assert not result.arm_adequacy["deep"].adequate  # 2 failed seeds > max_failed_seeds = 1
    # top and flat each lost a seed: both are left out of the pairing, the claim is decided on the other 2
    top = claims["top_beats_flat"]
    assert top.dropped == ["flat seed 0", "top seed 3"] and top.estimate.n == 2 and top.verdict != UNDERTRAINED
    deep = claims["deep_beats_flat"]
    assert deep.verdict == UNDERTRAINED and deep.undertrained == ["deep"] and not deep.in_family
    assert deep.estimate.n == 4 and "no verdict" in deep.detail  # the effect over every run, shown, undecided
    assert claims["vov_cheaper"].dropped == [] and claims["blind"].dropped == []  # exact: no run counts


def test_the_interval_covers_seeds_and_test_clips(study: StudyConfig) -> None:
    rows = _rows(study, ACCURACY, {}, SEEDS)
    _write(study.study_dir, rows)
    top = next(c for c in analyze(study.study_dir).claims if c.claim.id == "top_beats_flat")
    clips = {arm: {r["seed"]: np.asarray(r["test_clip_top1"], float) for r in rows if r["preset"] == arm}
             for arm in ("top", "flat")}
    d = stats.clip_contributions(clips, {"top": 1.0, "flat": -1.0})
    expected = stats.Estimate.crossed(d)
    assert d.shape == (4, CLIPS) and top.replicates == "seeds x test clips"
    assert (top.estimate.mean, top.estimate.low, top.estimate.high) == pytest.approx(
        (expected.mean, expected.low, expected.high))
    per_seed = [np.mean(clips["top"][s]) - np.mean(clips["flat"][s]) for s in SEEDS]
    assert top.estimate.mean == pytest.approx(np.mean(per_seed))
    assert top.seeds_only.mean == pytest.approx(np.mean(per_seed)) and top.seeds_only.n == 4
    assert top.p_raw == pytest.approx(stats.p_value_crossed(d, direction="greater"))


def test_costs_are_per_clip_and_exact_claims_are_decided_by_construction(study: StudyConfig) -> None:
    _write(study.study_dir, _rows(study, ACCURACY, {}, SEEDS))
    result = analyze(study.study_dir)
    claims = {c.claim.id: c for c in result.claims}
    vov, flat = Study(study).specs["vov"], Study(study).specs["flat"]
    assert result.arms["vov"]["views"] == 2 and result.arms["flat"]["views"] == 1
    cheaper = claims["vov_cheaper"]
    assert cheaper.exact and cheaper.estimate.mean == pytest.approx(2 * cost(vov).gmacs - cost(flat).gmacs)
    assert cheaper.verdict == stats.REPRODUCED and math.isnan(cheaper.p_adjusted) and not cheaper.in_family
    blind = claims["blind"]
    assert blind.exact and blind.estimate.mean == 0.0 and blind.verdict == stats.NOT_REPRODUCED
    assert "tests/x.py::test_y" in blind.detail
    # a claim the papers make for the other regime is not evaluated on this (appearance) store
    assert claims["temporal_only"].verdict == OTHER_REGIME and not claims["temporal_only"].in_family
    assert result.regime == "appearance"
    # Holm over the study's family: the confirmatory, tested claims only (exploratory "pairs" is out)
    family = [c for c in result.claims if c.in_family]
    assert [c.claim.id for c in family] == ["top_beats_flat", "deep_beats_flat"]
    assert [c.p_adjusted for c in family] == pytest.approx(stats.holm([c.p_raw for c in family]))
    assert claims["pairs"].claim.exploratory and math.isnan(claims["pairs"].p_adjusted)


def test_a_claim_whose_sign_flips_at_half_the_budget_is_budget_sensitive(study: StudyConfig) -> None:
    _write(study.study_dir, _rows(study, ACCURACY, {}, SEEDS))
    _write(study.study_dir / HALF_SUBDIR, _rows(study, ACCURACY | {"top": 0.1}, {}, [0, 1], seed=1))
    claims = {c.claim.id: c for c in analyze(study.study_dir).claims}
    top, deep = claims["top_beats_flat"], claims["deep_beats_flat"]
    assert top.estimate.mean > 0 > top.half.mean and top.half.n == 2 and top.budget_sensitive
    assert deep.half.mean > 0 and not deep.budget_sensitive
    assert claims["vov_cheaper"].half is None  # exact: no budget


def test_the_index_adjusts_over_every_study_and_regime(study: StudyConfig, tmp_path: Path) -> None:
    _write(study.study_dir, _rows(study, ACCURACY, {}, SEEDS))
    one = summary(analyze(study.study_dir))
    two = json.loads(json.dumps(one))  # a second study: the same claims, so the family doubles
    for c in two["claims"]:
        c["p"] = c["p"] if not isinstance(c["p"], float) or math.isnan(c["p"]) else min(1.0, c["p"] * 3)
    paths = []
    for regime, s in (("appearance", one), ("temporal", two)):
        directory = tmp_path / "docs" / regime / "hand"
        directory.mkdir(parents=True)
        (directory / "summary.json").write_text(json.dumps(s | {"regime": regime}))
        paths.append(directory / "summary.json")
    loaded = [json.loads(p.read_text()) for p in paths]
    family_verdicts(loaded)
    tested = [c for s in loaded for c in s["claims"] if c["in_family"]]
    assert len(tested) == 4
    assert [c["p_family"] for c in tested] == pytest.approx(stats.holm([c["p"] for c in tested]))
    page = write_index(paths, tmp_path / "docs" / "README.md").read_text()
    assert "appearance: verdict" in page and "temporal: verdict" in page and "(4 claims)" in page
    assert page.count("| [hand](appearance/hand/report.md) | top_beats_flat |") == 1
    vov_cheaper = next(line for line in page.splitlines() if "| vov_cheaper |" in line)
    assert vov_cheaper.count("(exact)") == 2 and "n/a" not in vov_cheaper  # a counted value, in both regimes


def test_the_study_cli_overrides_data_and_name(store: str, tmp_path: Path, capsys) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(_config(store, tmp_path) | {"data": "nowhere"}))
    assert main(["study", "run", str(path), "--data", str(tmp_path / "missing")]) == 2
    assert str(tmp_path / "missing") in capsys.readouterr().err
    cfg = StudyConfig.from_dict(_config(store, tmp_path) | {"adequacy": {"last_fraction": 0.5}})
    assert cfg.adequacy.last_fraction == 0.5 and cfg.half_seeds == [0, 1]
    assert StudyConfig.from_dict(_config(store, tmp_path) | {"half_budget_seeds": None}).half_seeds == [0, 1, 2]
    for change, message in (({"adequacy": {"last_fraction": 1.5}}, "adequacy.last_fraction=1.5: must be in (0, 1)"),
                            ({"half_budget_seeds": [7]}, "half_budget_seeds=[7]: must be distinct seeds of `seeds`"),
                            ({"claims": [{"id": "c", "statement": "s", "test": "exact", "metric": "top1",
                                          "a": ["top"]}]}, "an exact claim needs `value` and `proof`"),
                            ({"claims": [{"id": "c", "statement": "s", "test": "difference", "metric": "top1",
                                          "a": ["top"], "b": ["flat"], "regimes": ["kinetics"]}]},
                             "claims[0].regimes=['kinetics']: must list regimes among appearance, temporal"),
                            ({"claims": [{"id": "c", "statement": "s", "test": "dominance", "metric": "latency_ms",
                                          "a": ["top"], "b": ["flat"]}]},
                             "test dominance chooses arms, and chooses on the validation split")):
        with pytest.raises(ConfigError) as e:
            StudyConfig.from_dict(_config(store, tmp_path) | change)
        assert message in str(e.value) and "\n" not in str(e.value)


def test_a_matched_cost_claim_keeps_the_seeds_whose_pairs_lost_different_arms(store: str, tmp_path: Path) -> None:
    """The s3d_placement piece's n = 0: the adequacy rule dropped a different seed of each of two
    a arms, so no seed was common to every arm of the mean over pairs. Each seed now counts the
    pairs it has: 4 seeds, not the 2 that every arm kept."""
    raw = _config(store, tmp_path)
    raw["claims"] = [{"id": "above_curve", "statement": "s", "test": "matched_cost", "metric": "top1",
                      "cost": "params", "a": ["vov", "top"], "b": ["flat", "deep"], "max_ratio": 3.0}]
    cfg = StudyConfig.from_dict(raw)
    cfg.study_dir.mkdir(parents=True)
    (cfg.study_dir / STUDY_CONFIG).write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    rows = _rows(cfg, ACCURACY, {("vov", 0): RISING, ("top", 3): RISING}, SEEDS)
    _write(cfg.study_dir, rows)
    claim = analyze(cfg.study_dir).claims[0]
    assert claim.dropped == ["top seed 3", "vov seed 0"] and claim.undertrained == []
    assert claim.detail.startswith("vov vs flat; top vs flat")  # flat: the first of two tied on val
    assert "seeds: all 2 units on 2 of 4 seeds; units on the others: seed 0: 1, seed 3: 1" in claim.detail
    top1 = {(r["preset"], r["seed"]): r["test_top1"] for r in rows}
    per_seed = [top1["top", 0] - top1["flat", 0],
                *[(top1["vov", s] + top1["top", s]) / 2 - top1["flat", s] for s in (1, 2)],
                top1["vov", 3] - top1["flat", 3]]
    assert claim.seeds_only.n == 4 and claim.seeds_only.mean == pytest.approx(np.mean(per_seed))
    assert claim.estimate.n == 4 and claim.estimate.mean == pytest.approx(np.mean(per_seed))  # seeds x clips


def test_a_claim_about_each_b_arm_is_its_weakest_pair_not_the_mean(store: str, tmp_path: Path) -> None:
    """Dominance says "for each b arm, an a arm at no more cost beats it": an intersection-union test.
    Here the top-heavy arm beats one b arm by about +0.4 and loses to the other by about -0.3; the mean over
    the pairs (+0.05) would read as a lead, the claim is its weakest pair and is not reproduced."""
    raw = _config(store, tmp_path)
    raw["claims"] = [{"id": "each", "statement": "s", "test": "dominance", "metric": "top1", "a": ["top"],
                      "b": ["flat", "deep"], "cost": "gmacs"}]
    cfg = StudyConfig.from_dict(raw)
    cfg.study_dir.mkdir(parents=True)
    (cfg.study_dir / STUDY_CONFIG).write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    rows = _rows(cfg, {"top": 0.6, "flat": 0.2, "deep": 0.9, "vov": 0.5}, {}, SEEDS, seed=5)
    _write(cfg.study_dir, rows)
    [claim] = analyze(cfg.study_dir).claims
    test = {arm: np.mean([r["test_top1"] for r in rows if r["preset"] == arm]) for arm in ("flat", "top", "deep")}
    assert claim.estimate.mean == pytest.approx(test["top"] - test["deep"])  # the weakest pair, on test
    assert claim.estimate.mean < 0 < test["top"] - (test["flat"] + test["deep"]) / 2  # the mean would lead
    assert claim.verdict == "not reproduced", (claim.verdict, claim.detail)
    assert "top vs flat +0.4" in claim.detail and "the claim is its weakest pair, top vs deep" in claim.detail
