"""A study's plots: `accuracy_vs_gmacs.png` (test metrics, mean and interval per arm; sweeps
joined; the joint search's trials and front on val when there is one), `arms.png` (per-arm
effects), `claims.png` (each claim's effect and interval against its threshold),
`latency_vs_gmacs.png` (measured latency against GMACs, discordant pairs joined in red) and
`importance.png` (Optuna's PED-ANOVA importances of the choices that vary between arms, for test
top-1).
"""
from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import optuna  # noqa: E402

from search.pareto import pareto_ranks  # noqa: E402
from search.studies import stats  # noqa: E402
from search.studies.analysis import OTHER_REGIME, UNDERTRAINED, StudyResult  # noqa: E402
from search.studies.adequacy import window  # noqa: E402
from search.studies.config import claim_unit  # noqa: E402
from spaces import atomic  # noqa: E402

COLORS = plt.rcParams["axes.prop_cycle"].by_key()["color"]


def _log_axis(axis: Any) -> None:
    """Log scale with plain numbers at the decades and the 2x / 5x ticks, no crowded minor labels."""
    axis.set_major_locator(matplotlib.ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    axis.set_minor_formatter(matplotlib.ticker.NullFormatter())


def _group_colors(result: StudyResult) -> dict[str, str]:
    groups = sorted({g for a in result.arms.values() for g in a["groups"]})
    return {g: COLORS[i % len(COLORS)] for i, g in enumerate(groups)}


def _arm_color(arm: dict[str, Any], colors: dict[str, str]) -> str:
    return colors[arm["groups"][0]] if arm["groups"] else "0.2"


def plot_accuracy(result: StudyResult, path: Path) -> Path:
    metrics = [m for m in ("top1", "within_pair") if m in result.values]
    fig, axes = plt.subplots(1, len(metrics), figsize=(6.5 * len(metrics), 4.8), squeeze=False)
    colors = _group_colors(result)
    for ax, metric in zip(axes.flat, metrics):
        if result.search_rows:
            key = f"val_{metric}"  # what the search selected on; the arms below are on test
            done = [r for r in result.search_rows if r["state"] == "complete" and r.get(key) is not None]
            clip = lambda r: r.get("gmacs_clip") or r["gmacs"] * (r.get("views") or 1)  # noqa: E731
            ax.scatter([clip(r) for r in done], [r[key] for r in done], c="0.75", s=14,
                       label="joint search trials (seed 0, on val)")
            front = sorted((r for r in done if r.get("pareto")), key=clip)
            if front:
                ax.step([clip(r) for r in front], [r[key] for r in front], where="post", c="0.5", lw=1,
                        label="joint search front (val_top1, GMACs per clip; on val)")
        for group, color in colors.items():
            members = sorted((a for a in result.arms.values() if group in a["groups"] and metric in a),
                             key=lambda a: a["gmacs"])
            ax.plot([a["gmacs"] for a in members], [a[metric].mean for a in members], c=color, alpha=0.6,
                    label=group)
        shown = [a for a in result.arms.values() if metric in a]
        ranks = pareto_ranks([(-a[metric].mean, a["gmacs"]) for a in shown])
        front = sorted((a for a, rank in zip(shown, ranks) if rank == 0), key=lambda a: a["gmacs"])
        ax.step([a["gmacs"] for a in front], [a[metric].mean for a in front], where="post", c="k", ls=":", lw=1,
                label="front of the arms (means)")
        for name, arm in result.arms.items():
            if metric not in arm:
                continue
            e = arm[metric]
            err = [[e.mean - e.low], [e.high - e.mean]] if math.isfinite(e.low) else None
            ax.errorbar([arm["gmacs"]], [e.mean], yerr=err, fmt="o", ms=5, capsize=3, c=_arm_color(arm, colors))
            ax.annotate(name, (arm["gmacs"], e.mean), fontsize=7, xytext=(4, 3), textcoords="offset points")
        ax.set_xscale("log")
        _log_axis(ax.xaxis)
        ax.set_xlabel("GMACs per clip (multiply-adds / 1e9 per view x views)")
        ax.set_ylabel(f"test {metric} (mean over seeds, {ci_name(result)})")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    with atomic.replacing(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return path


def plot_arms(result: StudyResult, path: Path) -> Path:
    metrics = [m for m in ("top1", "within_pair") if m in result.values]
    names = sorted(result.arms, key=lambda n: result.arms[n]["gmacs"])
    fig, axes = plt.subplots(len(metrics), 1, figsize=(max(6.0, 0.7 * len(names) + 2), 2.8 * len(metrics)),
                             squeeze=False)
    colors = _group_colors(result)
    for ax, metric in zip(axes.flat, metrics):
        shown = [n for n in names if metric in result.arms[n]]
        est = [result.arms[n][metric] for n in shown]
        err = [[e.mean - e.low if math.isfinite(e.low) else 0 for e in est],
               [e.high - e.mean if math.isfinite(e.high) else 0 for e in est]]
        ax.bar(shown, [e.mean for e in est], yerr=err, capsize=3,
               color=[_arm_color(result.arms[n], colors) for n in shown])
        ax.set_ylabel(f"test {metric}", fontsize=8)
        ax.tick_params(axis="x", labelsize=7, rotation=30)
        ax.grid(alpha=0.3, axis="y")
    axes.flat[0].set_title(f"per arm: mean over seeds with {ci_name(result)}; ordered by GMACs", fontsize=9)
    fig.tight_layout()
    with atomic.replacing(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return path


def plot_claims(result: StudyResult, path: Path) -> Path:
    claims = result.claims
    fig, axes = plt.subplots(len(claims), 1, figsize=(7.5, 1.25 * len(claims) + 0.6), squeeze=False)
    marks = {stats.REPRODUCED: "tab:green", stats.NOT_REPRODUCED: "tab:red", stats.INCONCLUSIVE: "tab:orange",
             stats.DESCRIPTIVE: "tab:gray", UNDERTRAINED: "tab:purple", OTHER_REGIME: "0.8"}
    for ax, c in zip(axes.flat, claims):
        e = c.estimate
        ax.axvline(c.claim.threshold, c="0.3", lw=1)
        if c.claim.margin:
            sign = 1 if c.claim.direction == "greater" else -1
            ax.axvspan(c.claim.threshold, c.claim.threshold + sign * c.claim.margin, color="0.9")
        if c.exact:
            ax.plot([e.mean], [0], "D", c=marks[c.verdict])
        elif e.n and math.isfinite(e.low):
            ax.errorbar([e.mean], [0], xerr=[[e.mean - e.low], [e.high - e.mean]], fmt="o", capsize=4,
                        c=marks[c.verdict])
        elif e.n:
            ax.plot([e.mean], [0], "o", c=marks[c.verdict])
        else:
            ax.text(0.5, 0.5, f"not testable: {c.detail}", transform=ax.transAxes, ha="center", va="center",
                    fontsize=7)
        ax.set_yticks([])
        ax.set_title(f"{c.claim.id}: {c.verdict}" + (" (exact)" if c.exact else f" (n={e.n} {c.replicates})"),
                     fontsize=8, loc="left")
        ax.tick_params(axis="x", labelsize=7)
        ax.set_xlabel(f"effect, {claim_unit(c.claim)}", fontsize=7)
    fig.tight_layout()
    with atomic.replacing(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return path


def plot_latency(result: StudyResult, path: Path) -> Path | None:
    metrics = [m for m in ("latency_ms", "step_ms") if any(m in a for a in result.arms.values())]
    if not metrics:
        return None
    fig, axes = plt.subplots(1, len(metrics), figsize=(6.5 * len(metrics), 4.8), squeeze=False)
    colors = _group_colors(result)
    titles = {"latency_ms": "forward", "step_ms": "forward + backward"}
    for ax, metric in zip(axes.flat, metrics):
        arms = {n: a for n, a in result.arms.items() if metric in a}
        for name, arm in arms.items():
            e = arm[metric]
            ax.errorbar([arm["gmacs_view"]], [e.mean], yerr=[[e.mean - e.low], [e.high - e.mean]], fmt="o", capsize=3,
                        c=_arm_color(arm, colors))
            ax.annotate(name, (arm["gmacs_view"], e.mean), fontsize=7, xytext=(4, 3), textcoords="offset points")
        for cheap, dear, _ in result.discordant.get(metric, []):
            ax.plot([arms[cheap]["gmacs_view"], arms[dear]["gmacs_view"]],
                    [arms[cheap][metric].mean, arms[dear][metric].mean], c="tab:red", lw=0.8, alpha=0.6)
        ax.set_xscale("log")
        ax.set_yscale("log")
        _log_axis(ax.xaxis)
        _log_axis(ax.yaxis)
        ax.set_xlabel("GMACs per view (multiply-adds / 1e9: what one timed forward pass costs)")
        ax.set_ylabel(f"{titles[metric]}, ms per batch of {result.cfg.latency.batch} ({result.latency_device})")
        ax.set_title(f"{titles[metric]}; red: the arm with fewer GMACs is measurably slower", fontsize=9)
        ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    with atomic.replacing(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return path


def plot_importance(result: StudyResult, path: Path) -> Path | None:
    """PED-ANOVA importances (Optuna) of the architecture choices that differ between the arms."""
    runs = [r for r in result.runs if r["state"] == "complete" and r.get("test_top1") is not None]
    keys = sorted(k for k in {k for r in runs for k in r if k.startswith("arch_") and not k.endswith("_width")}
                  if len({str(r.get(k)) for r in runs}) > 1)
    if len(keys) < 2 or len(runs) < 6:
        return None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize")
    dists = {k.removeprefix("arch_"): optuna.distributions.CategoricalDistribution(
        sorted({str(r.get(k)) for r in runs})) for k in keys}
    for r in runs:
        study.add_trial(optuna.trial.create_trial(
            params={k.removeprefix("arch_"): str(r.get(k)) for k in keys}, distributions=dists, value=r["test_top1"]))
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    warnings.filterwarnings("ignore", message="PedAnovaImportanceEvaluator computes the importances")
    warnings.filterwarnings("ignore", message="Target and region quantiles select the same set of trials")
    try:
        ax = optuna.visualization.matplotlib.plot_param_importances(study, target_name="test_top1")
    except (RuntimeError, ValueError, ZeroDivisionError):
        return None
    fig = ax.figure
    fig.set_size_inches(7, 0.35 * len(keys) + 1.8)
    fig.tight_layout()
    with atomic.replacing(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return path


def ci_name(result: StudyResult) -> str:
    cfg = result.cfg
    kind = {"t": "t", "bootstrap": "percentile bootstrap"}.get(cfg.interval, "t")  # per arm: over seeds
    return f"{round(100 * cfg.confidence)}% {kind} interval"


def plot_curves(result: StudyResult, path: Path) -> Path | None:
    """One panel per arm: validation top-1 per epoch of every seed (solid), the half-budget runs
    (dashed), the adequacy rule's window shaded; the title says whether the arm is adequate."""
    runs = [(r, False) for r in result.runs] + [(r, True) for r in result.half_runs]
    names = [n for n in sorted(result.arms, key=lambda n: result.arms[n]["gmacs"]) if n not in result.aliases
             and any(r["preset"] == n and r.get("curve_val_top1") for r, _ in runs)]
    if not names:
        return None
    cols = min(4, len(names))
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.5 * rows), squeeze=False, sharey=True)
    epochs = result.cfg.epochs
    for ax, name in zip(axes.flat, names):
        for r, half in runs:
            curve = r.get("curve_val_top1") or []
            if r["preset"] == name and curve and r["state"] == "complete":
                ax.plot(range(1, len(curve) + 1), curve, ls="--" if half else "-", lw=1,
                        c=COLORS[int(r["seed"] or 0) % len(COLORS)], alpha=0.5 if half else 0.9)
        ax.axvspan(epochs - window(epochs, result.cfg.adequacy) + 0.5, epochs + 0.5, color="0.92")
        verdict = result.arm_adequacy.get(name)
        ok = "adequate" if verdict is not None and verdict.adequate else "NOT adequate"
        ax.set_title(f"{name}: {ok}", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(names):]:
        ax.axis("off")
    fig.supxlabel("epoch (shaded: the adequacy window; dashed: half-budget runs)", fontsize=8)
    fig.supylabel("validation top-1 (one line per seed)", fontsize=8)
    fig.tight_layout()
    with atomic.replacing(path) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
    return path
