"""A real browser on a real MLflow server: headless Chromium (Debian's package, driven by
Playwright) opens the runs page of a finished tiny search and finds each trial, listed flat by
validation top-1, by its architecture's name with the clip store as its dataset; its chart view
opens on the search's progress. Screenshots of the runs page and the chart view go to the test's
directory (and to $VIDNAS_SCREENSHOTS when set: the README's)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from search.cli.ui import start_ui
from search.engine.config import SearchConfig
from search.engine.tuner import run_search
from spaces import ArchSpec

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install -e '.[dev]')")
pytestmark = [pytest.mark.ray, pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")]


def test_the_runs_page_lists_the_trials_by_architecture_with_their_dataset(store: str, tmp_path: Path) -> None:
    cfg = SearchConfig.from_dict({
        "name": "browse", "data": store, "storage": str(tmp_path), "trials": 3, "epochs": 1, "min_epochs": 1,
        "early_stopping": False, "sampler": "random", "concurrency": 2, "system_metrics_s": None,
        "space": {"frames": [8], "crop": 32, "widths": [0.125], "depths": [0.34], "families": ["inception"],
                  "backbones": ["inception_v1"]}, "optim": {"batch_size": 32}})
    outcome = run_search(cfg, num_cpus=2, verbose=0)
    names = {r["trial_id"]: ArchSpec.from_json(r["spec"]).title(r["preset"]) for r in outcome.rows}
    assert len(set(names.values())) == len(names)
    proc, url = start_ui(cfg.search_dir)
    shots = [Path(os.environ.get("VIDNAS_SCREENSHOTS", tmp_path))]
    try:
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.goto(url)
            page.get_by_text("matching runs").wait_for(timeout=120_000)
            assert page.get_by_role("heading", name="Runs").is_visible()  # the model-training runs page
            # the trials by their readable names, flat (not folded under the search's run)
            for name in names.values():
                page.get_by_role("link", name=name).first.wait_for(timeout=60_000)
            page.wait_for_timeout(2000)
            for folder in shots:
                folder.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(folder / "mlflow_runs.png"))
            body = page.inner_text("body")
            assert body.count("synth-tiny") == 0  # the dataset column is not among the first columns
            # the trials, best validation top-1 first, then the search's own run (no top-1), by its name
            listed = sorted(outcome.rows, key=lambda r: body.index(names[r["trial_id"]]))
            assert body.index("search browse") > body.index(names[listed[-1]["trial_id"]])
            assert [r["val_top1"] for r in listed] == sorted((r["val_top1"] for r in listed), reverse=True)
            # what a person sees first: the name, then the objectives and the parameter count, inside 1600 px
            # in the order they are drawn, left to right (ag-grid's DOM order need not be the visual one)
            cells = [(h.bounding_box(), h.get_attribute("col-id")) for h in page.query_selector_all(".ag-header-cell")]
            drawn = sorted((b["x"], c) for b, c in cells if b is not None and c is not None)
            shown = [c for _, c in drawn if c.startswith(("attributes.", "metrics."))]
            assert shown[:4] == ["attributes.`Run Name`", "metrics.`val_top1`", "metrics.`gmacs_clip`", "metrics.`params`"]
            grid = page.locator(".ag-body-viewport").first.bounding_box()  # the table's visible part
            for column in shown[:4]:  # beside MLflow's assistant panel, which opens on a first visit
                box = page.locator(f'.ag-header-cell[col-id="{column}"]').bounding_box()
                assert box is not None and grid["x"] <= box["x"] and box["x"] + box["width"] <= grid["x"] + grid["width"], (
                    column, box, grid)
            name_box = page.get_by_role("link", name=names[listed[0]["trial_id"]]).first.bounding_box()
            assert name_box["width"] > 300  # the name column is wide enough to read a name, not an ellipsis
            page.locator("label:has(input[name='runs-view-mode'][value='CHART'])").click()
            page.get_by_text("search/hypervolume").first.wait_for(timeout=60_000)
            page.wait_for_timeout(3000)
            charts = page.inner_text("body")
            # sections: the search's progress first, then the front's models, then the trials' curves
            assert charts.index("search\n(") < charts.index("selected\n(") < charts.index("Model metrics\n(")
            first = charts[charts.index("search\n("):charts.index("selected\n(")]
            assert "No charts in this section" not in first and "search/hypervolume" in first  # it draws the progress
            for folder in shots:
                page.screenshot(path=str(folder / "mlflow_charts.png"))
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert (shots[0] / "mlflow_runs.png").stat().st_size > 10_000
