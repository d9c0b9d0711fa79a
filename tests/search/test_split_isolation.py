"""Split isolation: whatever selects (the Pareto front, export --best/--pareto, a study's
retrained front, MO-ASHA's rungs, objectives) reads validation metrics only. Each test feeds
test-split values that would change the answer if they were read, and checks it does not."""
from __future__ import annotations

import random
from pathlib import Path
from types import SimpleNamespace

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from search.engine.config import ConfigError, SearchConfig
from search.engine.scheduler import MOASHAScheduler
from search.errors import SearchError
from search.record.export import select
from search.record.results import mark_pareto
from search.studies.config import SEARCH_SUBDIR
from search.studies.runner import found_arms
from spaces import cost, get_preset

OBJECTIVES = {"val_top1": "max", "gmacs": "min"}


def _rows(test: str) -> list[dict]:
    """Six complete trials; val and cost decide. `test`: 'reversed' (the opposite order), 'noise'
    (random), or 'none' (no test columns at all)."""
    rng = random.Random(0)
    specs = [get_preset("i2d", frames=16, crop=32, num_classes=6).scaled(width=w, depth=0.34)
             for w in (0.125, 0.25, 0.375, 0.5, 0.625, 0.75)]
    rows = []
    for i, spec in enumerate(specs):
        val = [0.30, 0.45, 0.40, 0.60, 0.55, 0.70][i]
        row = {"trial_id": f"t{i}", "state": "complete", "val_top1": val, "val_within_pair": val,
               "gmacs": cost(spec).gmacs, "params": float(cost(spec).params), "spec": spec.to_json()}
        if test != "none":
            row |= {"test_top1": 1 - val if test == "reversed" else rng.random(), "test_within_pair": rng.random()}
        rows.append(row)
    return rows


def _front(rows: list[dict]) -> list[str]:
    return [r["trial_id"] for r in mark_pareto(rows, OBJECTIVES) if r["pareto"]]


def test_the_pareto_front_reads_validation_only() -> None:
    expected = _front(_rows("none"))
    assert expected == ["t0", "t1", "t3", "t5"]  # by val_top1 up, GMACs up with the index
    assert _front(_rows("reversed")) == _front(_rows("noise")) == expected
    with pytest.raises(ValueError, match="reads val_"):
        mark_pareto(_rows("noise"), {"test_top1": "max", "gmacs": "min"})


def test_export_selects_on_validation_only() -> None:
    for test in ("none", "reversed", "noise"):
        rows = mark_pareto(_rows(test), OBJECTIVES)
        assert [r["trial_id"] for r in select(rows, best="val_top1")] == ["t5"]
        assert [r["trial_id"] for r in select(rows, pareto=True)] == ["t0", "t1", "t3", "t5"]
        assert [r["trial_id"] for r in select(rows, best="gmacs")] == ["t0"]
    chosen = select(mark_pareto(_rows("reversed"), OBJECTIVES), best="val_top1")[0]
    assert chosen["test_top1"] == pytest.approx(0.30)  # the chosen row keeps its test value, to report
    with pytest.raises(SearchError, match="never selects"):
        select(_rows("reversed"), best="test_top1")


def test_a_study_retrains_the_front_chosen_on_validation(tmp_path: Path) -> None:
    picked = {}
    for test in ("none", "reversed", "noise"):
        rows = mark_pareto(_rows(test), OBJECTIVES)
        for r in rows:  # a leak: a front marked by test values would be another one
            r["test_pareto"] = r["trial_id"] in ("t2", "t4")
        (tmp_path / test / SEARCH_SUBDIR).mkdir(parents=True)
        pq.write_table(pa.Table.from_pylist(rows), tmp_path / test / SEARCH_SUBDIR / "results.parquet")
        picked[test] = [s.to_json() for s in found_arms(tmp_path / test, 3).values()]
    assert picked["reversed"] == picked["noise"] == picked["none"]


def test_rungs_decide_on_validation_only() -> None:
    def decisions(test: str) -> list[str]:
        sched = MOASHAScheduler(objectives=OBJECTIVES, max_epochs=9, min_epochs=1, reduction_factor=3)
        out = []
        for i, (top1, gmacs) in enumerate([(0.5, 1.0), (0.4, 2.0), (0.2, 0.1), (0.45, 1.5), (0.6, 3.0)]):
            result = {"epoch": 1, "val_top1": top1, "gmacs": gmacs, "status": "running"}
            if test == "reversed":
                result |= {"test_top1": 1 - top1}
            out.append(sched.on_trial_result(None, SimpleNamespace(trial_id=str(i)), result))
        return out
    assert decisions("reversed") == decisions("none") == ["CONTINUE", "STOP", "CONTINUE", "STOP", "CONTINUE"]


def test_a_search_cannot_optimize_a_test_metric(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="test metrics report results and never select"):
        SearchConfig.from_dict({"name": "x", "data": str(tmp_path), "objectives": {"test_top1": "max"}})
