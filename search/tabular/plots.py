"""The replay figures: hypervolume over simulated time (mean and 95% interval over seeds) and the
average rank over time."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from spaces import atomic  # noqa: E402


def _lines(ax: Any, x: list[float], summaries: dict[str, Any], highlight: list[str] | None,
           values: Callable[[Any], list[float]], label: Callable[[Any], str],
           band: Callable[[Any], tuple[list[float], list[float]]] | None = None) -> list[str]:
    """One line per strategy: those in `highlight` (default: all) in colour (with `band` shaded),
    the rest thin and grey; the names shown in colour."""
    shown = list(summaries) if highlight is None else [n for n in highlight if n in summaries]
    colours = plt.get_cmap("tab10")
    for s in summaries.values():
        if s.strategy not in shown:
            ax.plot(x, values(s), color="0.75", lw=0.7, zorder=1)
    for i, name in enumerate(shown):
        s, colour = summaries[name], colours(i % 10)
        ax.plot(x, values(s), label=label(s), lw=1.6, color=colour, zorder=3)
        if band is not None:
            ax.fill_between(x, *band(s), color=colour, alpha=0.12, lw=0, zorder=2)
    return shown


def plot_hv(path: Path, fractions: list[float], summaries: dict[str, Any], budget: float,
            highlight: list[str] | None = None) -> Path:
    """Every strategy's mean curve; those in `highlight` (default: all) in colour with their 95%
    interval, the rest thin and grey."""
    fig, ax = plt.subplots(figsize=(8, 5))
    shown = _lines(ax, [f * budget for f in fractions], summaries, highlight, lambda s: s.hv_mean,
                   lambda s: f"{s.strategy} (n={s.seeds})", band=lambda s: (s.hv_low, s.hv_high))
    if len(shown) < len(summaries):
        ax.plot([], [], color="0.75", lw=0.7, label=f"the other {len(summaries) - len(shown)} strategies")
    ax.axhline(0.95, color="k", ls=":", lw=1, label="95% of the grid's hypervolume")
    ax.set_xscale("log")
    ax.set_xlim(0.01, budget)
    ax.set_xlabel("simulated compute (x the exhaustive grid's, log scale)")
    ax.set_ylabel("test hypervolume of the validation front (x grid's)")
    ax.set_ylim(0.4, 1.02)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title("Search strategies replayed on the benchmark table: mean and 95% interval over seeds", fontsize=9)
    fig.tight_layout()
    with atomic.replacing(path) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)
    return path


def plot_rank(path: Path, fractions: list[float], summaries: dict[str, Any],
              highlight: list[str] | None = None) -> Path:
    fig, ax = plt.subplots(figsize=(8, 4.5))
    _lines(ax, fractions[1:], summaries, highlight, lambda s: s.rank_mean[1:], lambda s: s.strategy)
    ax.set_xscale("log")
    ax.set_xlabel("simulated time (fraction of the budget, log scale)")
    ax.set_ylabel(f"average rank by hypervolume among {len(summaries)} (1 = best)")
    ax.invert_yaxis()
    ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic.replacing(path) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)
    return path
