"""One HTML page per search, `SEARCH_DIR/report/index.html`: what a person looks at first.

- the front plot (validation top-1 against GMACs per clip, the papers' presets by name);
- the front table: each member's readable name linked to its MLflow run, its validation metrics
  (they chose it) and its test top-1 (it reports), its costs in named units;
- parameter importance per paper choice: Optuna's importances of the first objective, summed over
  the parameters that make one of the papers' choices (where convs are 3D, gating, big views, ...);
- the learning curves of the front (validation top-1 per epoch).

Written while the search runs, as each trial ends (importances once it has ended: they need the
whole study), and again by `vidnas report`. Links go to the tracking server when the search logged
to one, else to `vidnas ui DIR --port 5000`, which serves the directory's own store there.
"""
from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import Any

import jinja2

from search.record.results import STATES, row_name, sorted_front
from spaces import atomic

UI_PORT = 5000  # where `vidnas ui --port 5000` serves a local store: the page's links point there
PAGE_FILE = "index.html"

# The papers' choices, and the Optuna parameters that make each (stage parameters are `s<i>_<name>`).
CHOICES = (
    ("where convs are 3D, (2+1)D, D(2+1)D or 2D (S3D's top-heavy; VoV3D's D(2+1)D)", r"(stem|s\d+)_temporal_op"),
    ("temporal kernel size", r"s\d+_temporal_kernel"),
    ("feature gating (S3D-G)", r"gate|gate_bias"),
    ("big view (SmallBigNet)", r"s\d+_big_view"),
    ("T-OSA depth (VoV3D)", r"s\d+_tosa_depth"),
    ("squeeze-excitation (VoV3D, X3D)", r"s\d+_squeeze_excite"),
    ("backbone family", r"backbone"),
    ("scale: frames, width, depth, bottleneck (X3D's axes)", r"frames|width|depth|bottleneck"),
)

TEMPLATE = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string("""\
<!doctype html><html><head><meta charset="utf-8"><title>{{ name }}: vidnas search report</title>
<style>body{font-family:sans-serif;max-width:1200px;margin:2em auto;font-size:14px}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 6px;font-size:13px}
td.n{text-align:right;font-variant-numeric:tabular-nums}img{max-width:100%}.note{color:#555}</style></head><body>
<h1>Search {{ name }}</h1>
<p>{{ counts }}. {% if running %}<b>Still running</b>: this page is written again as each trial ends.{% endif %}
Objectives: {{ objectives }}. GMACs = multiply-adds / 1e9; per clip = per view x views.</p>
<h2>Pareto front</h2>
<p><img src="front.png" alt="validation top-1 against GMACs per clip"></p>
<table><tr><th>trial</th><th>architecture (MLflow run)</th><th>val top-1</th><th>val within pair</th>
<th>test top-1 (reports)</th><th>GMACs per clip</th><th>views</th><th>params</th><th>epochs</th></tr>
{% for r in front %}<tr><td>{{ r.trial }}</td><td>{% if r.link %}<a href="{{ r.link }}">{{ r.name }}</a>{% else %}{{ r.name }}{% endif %}</td>
<td class="n">{{ r.val }}</td><td class="n">{{ r.pair }}</td><td class="n">{{ r.test }}</td><td class="n">{{ r.gmacs }}</td>
<td class="n">{{ r.views }}</td><td class="n">{{ r.params }}</td><td class="n">{{ r.epochs }}</td></tr>
{% endfor %}</table>
<p class="note">The front is chosen on validation metrics; test top-1 only reports. {{ links }}</p>
<h2>Parameter importance per paper choice</h2>
{% if importance %}<table><tr><th>choice</th><th>importance for {{ metric }}</th><th>parameters</th></tr>
{% for choice, value, params in importance %}<tr><td>{{ choice }}</td><td class="n">{{ "%.3f" | format(value) }}</td>
<td>{{ params | join(", ") }}</td></tr>
{% endfor %}</table><p class="note">Optuna's importances (its default evaluator) of {{ metric }} over the
complete trials, summed per choice; they sum to 1 and say where the accuracy varied, not why.</p>
{% else %}<p class="note">{{ no_importance }}</p>{% endif %}
<h2>Learning curves of the front</h2>
<p><img src="curves.png" alt="validation top-1 per epoch of the front"></p>
</body></html>
""")


def importance_by_choice(study: Any, objectives: dict[str, str]) -> list[tuple[str, float, list[str]]]:
    """(paper choice, summed importance of the first objective, its parameters), largest first;
    empty with fewer than 4 complete trials or when every trial took the same choices."""
    import optuna

    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if len(complete) < 4:
        return []
    sign = -1.0 if next(iter(objectives.values())) == "max" else 1.0  # PED-ANOVA explains low target values
    try:
        with warnings.catch_warnings():  # e.g. "quantiles select the same set of trials": equal importances
            warnings.simplefilter("ignore", UserWarning)
            values = optuna.importance.get_param_importances(study, target=lambda t: sign * t.values[0])
    except (RuntimeError, ValueError, ZeroDivisionError):
        return []
    groups: dict[str, tuple[float, list[str]]] = {}
    for param, value in values.items():
        choice = next((c for c, pattern in CHOICES if re.fullmatch(pattern, param)), param)
        total, params = groups.get(choice, (0.0, []))
        groups[choice] = (total + value, [*params, param])
    return sorted(((c, v, p) for c, (v, p) in groups.items()), key=lambda x: -x[1])


def write_page(search_dir: Path, name: str, rows: list[dict[str, Any]], objectives: dict[str, str],
               study: Any = None, *, tracking_uri: str = "", running: bool = False) -> Path:
    """The report page in SEARCH_DIR/report (beside the plots `search.record.report` draws there);
    `study` None: no importances yet."""
    directory = Path(search_dir) / "report"
    directory.mkdir(parents=True, exist_ok=True)
    metric = next(iter(objectives))
    front = sorted_front(rows, objectives)
    base, links = _ui_base(search_dir, tracking_uri)
    counts = {s: sum(r["state"] == s for r in rows) for s in STATES}
    importance = importance_by_choice(study, objectives) if study is not None else []
    html = TEMPLATE.render(
        name=name, running=running, metric=metric, links=links, importance=importance,
        counts=f"{len(front)} on the front of {counts['complete']} complete trials ({counts['pruned']} pruned, "
               f"{counts['failed']} failed, {counts['interrupted']} interrupted)",
        objectives=", ".join(f"{m} ({mode})" for m, mode in objectives.items()),
        no_importance="Computed when the search has ended ('vidnas report DIR')." if study is None
        else "Too few complete trials, or every trial took the same choices.",
        front=[_row(r, base) for r in front])
    path = directory / PAGE_FILE
    atomic.write_text(path, html)
    return path


def _row(r: dict[str, Any], base: str | None) -> dict[str, Any]:
    def fmt(value: Any, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    run = r.get("mlflow_run_id")
    return {"trial": r["trial_id"], "name": row_name(r),
            "link": f"{base}/runs/{run}" if base and run else "", "val": fmt(r.get("val_top1"), ".3f"),
            "pair": fmt(r.get("val_within_pair"), ".3f"), "test": fmt(r.get("test_top1"), ".3f"),
            "gmacs": fmt(r.get("gmacs_clip"), ".4f"), "views": fmt(r.get("views"), ".0f"),
            "params": fmt(r.get("params"), ",.0f"), "epochs": r.get("epochs")}


def _ui_base(search_dir: Path, tracking_uri: str) -> tuple[str | None, str]:
    """The experiment's address in the MLflow UI, and a sentence on how to open the links."""
    from search.record.tracking import PARENT_FILE

    record = Path(search_dir) / PARENT_FILE
    if not record.is_file():
        return None, "No MLflow runs are recorded for this directory."
    experiment = json.loads(record.read_text())["experiment_id"]
    if tracking_uri.startswith(("http://", "https://")):
        return f"{tracking_uri.rstrip('/')}/#/experiments/{experiment}", f"Links open the tracking server {tracking_uri}."
    return (f"http://127.0.0.1:{UI_PORT}/#/experiments/{experiment}",
            f"Links open once 'vidnas ui {search_dir} --port {UI_PORT}' serves this directory's MLflow store.")


__all__ = ["CHOICES", "importance_by_choice", "write_page"]
