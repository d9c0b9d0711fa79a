"""The report page of a search (`search.record.page`): the front's readable names linked to their
MLflow runs, val metrics that chose them next to the test top-1 that reports, importances summed per
paper choice from a real Optuna study over the space's own parameters, the front's curves; while the
search runs, the page says so and leaves the importances for the end."""
from __future__ import annotations

import html
import json
import re
from pathlib import Path

import optuna
import pytest

from search.record.page import CHOICES, importance_by_choice
from search.record.report import write_report
from search.record.results import mark_pareto
from search.record.tracking import PARENT_FILE
from spaces import get_preset
from spaces.bounds import SpaceBounds
from spaces.sample import sample_arch

OBJECTIVES = {"val_top1": "max", "gmacs_clip": "min"}


def _row(trial: str, preset: str, top1: float, gmacs: float, state: str = "complete") -> dict:
    spec = get_preset(preset, frames=16, crop=32, num_classes=6).scaled(width=0.25, depth=0.5).as_space_point()
    return {"trial_id": trial, "state": state, "preset": preset if trial != "t3" else "", "spec": spec.to_json(),
            "val_top1": top1, "val_within_pair": 0.6, "test_top1": top1 - 0.01, "gmacs_clip": gmacs, "gmacs": gmacs / 2,
            "views": 2, "params": 123456, "epochs": 3, "mlflow_run_id": f"run{trial}",
            "curve_val_top1": [top1 / 3, top1 / 2, top1], "arch_family": spec.family.value}


def _study(n: int) -> optuna.Study:
    """The space's own parameters, with an accuracy that depends on where convs are 3D."""
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=optuna.samplers.RandomSampler(seed=0))
    bounds = SpaceBounds(frames=(8,), crop=32, num_classes=6, widths=(0.125, 0.25), depths=(0.34,))
    for _ in range(n):
        trial = study.ask()
        spec = sample_arch(trial, bounds)
        three_d = sum(st.blocks[0].temporal_op.value == "3d" for st in spec.stages)
        study.tell(trial, [0.2 + 0.1 * three_d, 0.01])
    return study


@pytest.fixture
def rows() -> list[dict]:
    return mark_pareto([_row("t1", "s3d", 0.45, 0.02), _row("t2", "i3d_top_heavy_4b", 0.50, 0.03),
                        _row("t3", "tsn_r50", 0.30, 0.01), _row("t4", "i3d", 0.40, 0.05),
                        _row("t5", "s3d_g", 0.2, 0.004, state="pruned")], OBJECTIVES)


def test_the_page_shows_the_front_by_name_linked_to_mlflow_with_importances(tmp_path: Path, rows: list[dict]) -> None:
    (tmp_path / PARENT_FILE).write_text(json.dumps({"run_id": "parent", "experiment_id": "7"}))
    paths = write_report(tmp_path, rows, OBJECTIVES, _study(40), name="demo")
    assert [p.name for p in paths] == ["front.png", "choices.png", "hypervolume.png", "importance.png",
                                       "curves.png", "index.html"]
    assert all(p.stat().st_size > 3000 for p in paths)
    page = html.unescape((tmp_path / "report" / "index.html").read_text())
    links = re.findall(r'<a href="([^"]+)">([^<]+)</a>', page)
    # the front, best validation top-1 first; t4 (dominated) and t5 (pruned) are not on it
    assert [href for href, _ in links] == [f"http://127.0.0.1:5000/#/experiments/7/runs/run{t}" for t in ("t2", "t1", "t3")]
    assert [name.split(" · ")[0] for _, name in links] == ["i3d_top_heavy_4b: inception 16x32", "s3d: inception 16x32",
                                                          "resnet 16x32"]
    assert "3 on the front of 4 complete trials (1 pruned, 0 failed, 0 interrupted)" in page
    assert "vidnas ui " + str(tmp_path) + " --port 5000" in page and "Still running" not in page
    cells = re.findall(r'<td class="n">([^<]*)</td>', page)
    assert cells[:7] == ["0.500", "0.600", "0.490", "0.0300", "2", "123,456", "3"]  # val, pair, test, GMACs, ...
    importance = re.findall(r"<tr><td>([^<]+)</td><td class=\"n\">([0-9.]+)</td>", page)
    labels = [c for c, _ in CHOICES]
    assert importance and all(choice in labels for choice, _ in importance)
    assert sum(float(v) for _, v in importance) == pytest.approx(1.0, abs=0.01)
    assert importance[0][0] == labels[0]  # the accuracy followed the 3D stages: their choice explains most


def test_while_running_the_page_says_so_and_leaves_importances_for_the_end(tmp_path: Path, rows: list[dict]) -> None:
    paths = write_report(tmp_path, rows, OBJECTIVES, _study(40), name="demo", tracking_uri="http://127.0.0.1:9/",
                         running=True)
    assert [p.name for p in paths] == ["front.png", "curves.png", "index.html"]
    page = (tmp_path / "report" / "index.html").read_text()
    assert "Still running" in page and "Computed when the search has ended" in page
    assert "/#/experiments/" not in page  # no parent run recorded: nothing to link to
    assert "No MLflow runs are recorded for this directory." in page


def test_importances_group_every_parameter_of_the_space_under_a_paper_choice() -> None:
    study = _study(30)
    grouped = importance_by_choice(study, OBJECTIVES)
    params = sorted(p for _, _, ps in grouped for p in ps)
    assert params == sorted({p for t in study.trials for p in t.params})  # each once, none left out
    assert {c for c, _, _ in grouped} <= {c for c, _ in CHOICES}
    assert importance_by_choice(_study(3), OBJECTIVES) == []  # too few trials: none, not noise
