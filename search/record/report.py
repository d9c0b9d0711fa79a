"""Plots of a search, as PNG files in SEARCH_DIR/report/ and artifacts of its MLflow parent run:

- `front.png`: validation top-1 against the cost objective (GMACs per clip by default) of every complete
  trial, the Pareto front, the warm-start presets by name, and pruned trials apart (their
  accuracy is truncated);
- `hypervolume.png`: the dominated hypervolume over trials (Optuna's plot);
- `choices.png`: mean validation top-1 of complete trials per value of each architecture choice;
- `importance.png`: Optuna's parameter importances for the first objective (PED-ANOVA);
- `curves.png`: validation top-1 per epoch of the front;
- `index.html`: the page that shows them (`search.record.page`).
"""
from __future__ import annotations

import math
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import optuna  # noqa: E402

from search.record.page import write_page  # noqa: E402
from search.record.results import sorted_front  # noqa: E402
from spaces import atomic  # noqa: E402


COST_LABELS = {"gmacs": "GMACs per view (multiply-adds / 1e9)",
               "gmacs_clip": "GMACs per clip (multiply-adds / 1e9 per view x views)"}


def plot_front(rows: list[dict[str, Any]], objectives: dict[str, str], path: Path) -> Path:
    names = list(objectives)
    metric, cost = names[0], names[1] if len(names) > 1 else "gmacs"
    with plt.style.context("default"):
        fig, ax = plt.subplots(figsize=(7, 4.5))
    complete = [r for r in rows if r["state"] == "complete"]
    pruned = [r for r in rows if r["state"] == "pruned" and r.get(metric) is not None]
    ax.scatter([r[cost] for r in complete], [r[metric] for r in complete], c="tab:blue", s=25, label="complete")
    if pruned:
        ax.scatter([r[cost] for r in pruned], [r[metric] for r in pruned], marker="x", c="0.6", s=20,
                   label="pruned (accuracy truncated)")
    front = sorted((r for r in complete if r.get("pareto")), key=lambda r: r[cost])
    if front:
        ax.step([r[cost] for r in front], [r[metric] for r in front], where="post", c="tab:red", label="Pareto front")
    for r in complete:
        if r.get("preset"):
            ax.annotate(r["preset"], (r[cost], r[metric]), fontsize=8, xytext=(4, 4), textcoords="offset points")
    ax.set_xlabel(COST_LABELS.get(cost, cost))
    ax.set_ylabel(metric)
    ax.set_xscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic.replacing(path) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)
    return path


def plot_choices(rows: list[dict[str, Any]], metric: str, path: Path) -> Path:
    complete = [r for r in rows if r["state"] == "complete" and r.get(metric) is not None]
    keys = sorted({k for r in complete for k in r if k.startswith("arch_") and not k.endswith(("_width", "_blocks"))})
    keys = [k for k in keys if len({r.get(k) for r in complete}) > 1]
    cols = 4
    fig, axes = plt.subplots(max(1, math.ceil(len(keys) / cols)), cols, figsize=(14, 2.6 * max(1, math.ceil(len(keys) / cols))),
                             squeeze=False)
    for ax, key in zip(axes.flat, keys):
        values = defaultdict(list)
        for r in complete:
            values[str(r.get(key))].append(r[metric])
        names = sorted(values)
        ax.bar(names, [sum(values[n]) / len(values[n]) for n in names], color="tab:blue")
        for i, n in enumerate(names):
            ax.text(i, 0, f"n={len(values[n])}", ha="center", va="bottom", fontsize=7, color="white")
        ax.set_title(key.removeprefix("arch_"), fontsize=9)
        ax.tick_params(axis="x", labelsize=7, rotation=30)
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    fig.suptitle(f"mean {metric} of complete trials per choice", fontsize=10)
    fig.tight_layout()
    with atomic.replacing(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return path


def plot_study(study: optuna.Study, objectives: dict[str, str], directory: Path) -> list[Path]:
    """Optuna's hypervolume history and parameter importances (skipped with too few trials)."""
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    warnings.filterwarnings("ignore", message="Some regimes for parameter")
    warnings.filterwarnings("ignore", message="PedAnovaImportanceEvaluator computes the importances")
    out = []
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if len(objectives) > 1 and len(complete) >= 2:
        worst = [min(t.values[i] for t in complete) if mode == "max" else max(t.values[i] for t in complete)
                 for i, mode in enumerate(objectives.values())]
        reference = [w - 1e-3 if mode == "max" else w * 1.1 + 1e-6 for w, mode in zip(worst, objectives.values())]
        ax = optuna.visualization.matplotlib.plot_hypervolume_history(study, reference_point=reference)
        out.append(_save(ax, directory / "hypervolume.png"))
    if len(complete) >= 4:
        name, mode = next(iter(objectives.items()))
        sign = -1.0 if mode == "max" else 1.0  # PED-ANOVA explains low target values
        try:
            ax = optuna.visualization.matplotlib.plot_param_importances(
                study, target=lambda t: sign * t.values[0], target_name=name)
            out.append(_save(ax, directory / "importance.png"))
        except (RuntimeError, ValueError, ZeroDivisionError):  # e.g. every trial took the same choices
            pass
    return out


def _save(ax: Any, path: Path) -> Path:
    fig = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure
    fig.set_size_inches(7, 4.5)
    fig.tight_layout()
    with atomic.replacing(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return path


def plot_curves(front: list[dict[str, Any]], path: Path) -> Path:
    """Validation top-1 per epoch of the front's trials (the results table's curves)."""
    with plt.style.context("default"):  # not the style Optuna's plots leave set
        fig, ax = plt.subplots(figsize=(7, 4.5))
    for r in front:
        curve = list(r.get("curve_val_top1") or [])
        label = f"{r['trial_id']}" + (f" ({r['preset']})" if r.get("preset") else "")
        ax.plot(range(1, len(curve) + 1), curve, marker="o", ms=3, label=label)
    ax.set_xlabel("epoch")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_ylabel("val_top1")
    ax.grid(alpha=0.3)
    if front:
        ax.legend(fontsize=7)
    return _save(ax, path)


def write_report(search_dir: Path, rows: list[dict[str, Any]], objectives: dict[str, str],
                 study: optuna.Study | None, *, name: str = "", tracking_uri: str = "",
                 running: bool = False) -> list[Path]:
    """The plots and the page (`search.record.page`), the page last; `running`: written as a trial
    ended (the front and its curves only; the study's plots and importances when it has ended)."""
    directory = search_dir / "report"
    directory.mkdir(exist_ok=True)
    paths = [plot_front(rows, objectives, directory / "front.png")]
    if not running:
        paths.append(plot_choices(rows, next(iter(objectives)), directory / "choices.png"))
        if study is not None:
            paths += plot_study(study, objectives, directory)
    paths.append(plot_curves(sorted_front(rows, objectives), directory / "curves.png"))
    page = write_page(search_dir, name or Path(search_dir).name, rows, objectives, None if running else study,
                      tracking_uri=tracking_uri, running=running)
    return [*paths, page]
