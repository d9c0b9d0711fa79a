"""The replay figures: hypervolume over simulated time (mean and 95% interval over seeds) and the
average rank over time."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_hv(path: Path, fractions: list[float], summaries: dict[str, Any], budget: float) -> Path:
    fig, ax = plt.subplots(figsize=(8, 5))
    x = [f * budget for f in fractions]
    for s in summaries.values():
        line, = ax.plot(x, s.hv_mean, label=f"{s.strategy} (n={s.seeds})", lw=1.4)
        ax.fill_between(x, s.hv_low, s.hv_high, color=line.get_color(), alpha=0.15, lw=0)
    ax.axhline(0.95, color="k", ls=":", lw=1, label="95% of the grid's hypervolume")
    ax.set_xlabel("simulated compute (x the exhaustive grid's)")
    ax.set_ylabel("test hypervolume of the validation front (x grid's)")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=7, ncol=2, loc="lower right")
    ax.set_title("Search strategies replayed on the benchmark table: mean and 95% interval over seeds", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_rank(path: Path, fractions: list[float], summaries: dict[str, Any]) -> Path:
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for s in summaries.values():
        ax.plot(fractions[1:], s.rank_mean[1:], label=s.strategy, lw=1.4)
    ax.set_xlabel("simulated time (fraction of the budget)")
    ax.set_ylabel("average rank by hypervolume (1 = best)")
    ax.invert_yaxis()
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
