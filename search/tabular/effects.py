"""Rediscovery on the grid: each design choice's effect over every point of a benchmark table,
next to what the studies found.

An effect compares points that differ in one axis only (`a` against `b`, every other axis equal):
the mean paired difference in a test metric over all such pairs, a bootstrap 95% interval over
the pairs, and how often the sign holds. Pairs are contexts of the grid (backbones, widths,
forms), not independent replicates: the interval describes the grid, it is not a test. The
table's second seed gives the noise a single point carries (`seed_noise`): a difference smaller
than it is not a finding about one pair. `placement_matched_cost` compares each bottom-heavy
point with the best top-heavy point of its context costing no more GMACs (S3D's "at equal
GMACs").

The study column reads each mapped claim's verdict from docs/studies/*/summary.json (5 seeds,
tested, Holm-adjusted), where one was run.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats as st

from search.tabular.table import AXES, Table
from spaces.bounds import SpaceBounds


@dataclass(frozen=True)
class Effect:
    name: str
    statement: str
    axis: str
    a: tuple[Any, ...]
    b: Any
    metric: str  # test_top1 | test_within_pair
    where: dict[str, tuple[Any, ...]] | None = None  # restrict the `a` points by other axes
    claim: str = ""  # study/claim_id


# every T-OSA depth the space offers above one layer (demo_cpu has 3 and 5, temporal_cpu 2 and 4)
DEEPER_TOSA = tuple(d for d in SpaceBounds().tosa_depths if d > 1)

EFFECTS = (
    Effect("top_heavy_within_k", "top-heavy (top 2 levels temporal) beats bottom-heavy (bottom 2) on test top-1",
           "layout", ("top2",), "bottom2", "test_top1", claim="s3d_placement/top_heavy_top1"),
    Effect("top_heavy_within_k_temporal", "... and on within-pair (temporal) accuracy", "layout", ("top2",),
           "bottom2", "test_within_pair", claim="s3d_placement/top_heavy_within_pair"),
    Effect("temporal_needed", "all-temporal beats all-2D on within-pair accuracy", "layout", ("3d",), "2d",
           "test_within_pair", claim="s3d_placement/temporal_needed"),
    Effect("temporal_top1", "all-temporal beats all-2D on test top-1", "layout", ("3d",), "2d", "test_top1"),
    Effect("separable_no_worse", "separable (2+1)D is no worse than 3D on test top-1", "temporal_op",
           ("separable",), "3d", "test_top1", claim="s3d_factorization/separable_no_worse"),
    Effect("gating_helps", "S3D-G gating of temporal convs helps test top-1", "gate", ("temporal",), "off",
           "test_top1", claim="s3d_factorization/gating_helps"),
    Effect("branch_gating", "gating every Inception branch helps test top-1", "gate", ("branches",), "off",
           "test_top1"),
    Effect("big_view_beats_2d", "SmallBig's big view in every stage helps a 2D ResNet's test top-1", "big_view",
           ("all",), "off", "test_top1", where={"layout": ("2d",)}, claim="smallbig/big_view_beats_2d"),
    Effect("big_view_temporal", "the big view gives a 2D ResNet within-pair accuracy", "big_view", ("all",), "off",
           "test_within_pair", where={"layout": ("2d",)}, claim="smallbig/big_view_temporal"),
    Effect("big_view_any_layout", "the big view helps test top-1 at every layout", "big_view", ("all", "top"),
           "off", "test_top1"),
    Effect("tosa_depth_temporal", "deeper T-OSA (any depth of 2 to 5 against 1) raises within-pair accuracy",
           "tosa_depth", DEEPER_TOSA, 1, "test_within_pair", claim="vov3d/tosa_depth_temporal"),
    Effect("tosa_depth_top1", "deeper T-OSA raises test top-1", "tosa_depth", DEEPER_TOSA, 1, "test_top1"),
    Effect("d21d_vs_21d_accuracy", "D(2+1)D (depthwise) is as accurate as (2+1)D in VoV3D", "temporal_op",
           ("depthwise",), "separable", "test_top1", claim="vov3d/d21d_vs_21d_accuracy"),
)


def _pairs(final: dict[str, dict[str, Any]], effect: Effect) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    index = {tuple(r[a] for a in AXES): r for r in final.values()}
    pairs = []
    for r in final.values():
        if r[effect.axis] not in effect.a:
            continue
        if effect.where and any(r[k] not in v for k, v in effect.where.items()):
            continue
        other = tuple(effect.b if a == effect.axis else r[a] for a in AXES)
        if effect.axis == "layout" and effect.b == "2d":  # an all-2D point has no temporal form
            other = tuple(None if a == "temporal_op" else v for a, v in zip(AXES, other))
        if other in index:
            pairs.append((r, index[other]))
    return pairs


def _matched_cost(final: dict[str, dict[str, Any]], metric: str) -> list[float]:
    """Per bottom-heavy point: the best top-heavy point of its context at no more GMACs, minus it."""
    context = lambda r: tuple(r[a] for a in AXES if a != "layout")  # noqa: E731
    tops: dict[tuple, list[dict[str, Any]]] = {}
    for r in final.values():
        if r["layout"].startswith("top"):
            tops.setdefault(context(r), []).append(r)
    out = []
    for r in final.values():
        if r["layout"].startswith("bottom"):
            cheaper = [t for t in tops.get(context(r), []) if t["gmacs"] <= r["gmacs"]]
            if cheaper:
                out.append(max(t[metric] for t in cheaper) - r[metric])
    return out


def summarize_differences(diffs: list[float]) -> dict[str, Any]:
    d = np.asarray(diffs, dtype=float)
    if len(d) < 2:
        return {"n": len(d), "mean": float(d.mean()) if len(d) else math.nan, "low": math.nan, "high": math.nan,
                "positive": float((d > 0).mean()) if len(d) else math.nan}
    ci = st.bootstrap((d,), np.mean, confidence_level=0.95, n_resamples=4000, method="percentile",
                      random_state=np.random.default_rng(0)).confidence_interval
    return {"n": len(d), "mean": float(d.mean()), "low": float(ci.low), "high": float(ci.high),
            "positive": float((d > 0).mean())}


def seed_noise(table: Table, metric: str) -> float | None:
    """The standard deviation of one point's metric between the table's two seeds (sd of the
    difference / sqrt 2), over the points trained twice."""
    if len(table.seeds) < 2:
        return None
    a, b = table.final(table.seeds[0]), table.final(table.seeds[1])
    diffs = [a[p][metric] - b[p][metric] for p in b if p in a]
    return float(np.std(diffs, ddof=1) / math.sqrt(2)) if len(diffs) > 1 else None


def study_verdicts(root: Path = Path("docs/studies")) -> dict[str, dict[str, Any]]:
    out = {}
    for path in sorted(root.glob("*/summary.json")):
        summary = json.loads(path.read_text())
        for claim in summary.get("claims", []):
            out[f"{summary['name']}/{claim['id']}"] = claim
    return out


def effects(table: Table, studies: Path = Path("docs/studies")) -> list[dict[str, Any]]:
    final = table.final()
    verdicts = study_verdicts(studies)
    rows = []
    for e in EFFECTS:
        pairs = _pairs(final, e)
        s = summarize_differences([a[e.metric] - b[e.metric] for a, b in pairs])
        gmacs = [a["gmacs"] / b["gmacs"] for a, b in pairs]
        rows.append({"effect": e.name, "statement": e.statement, "metric": e.metric, **s,
                     "gmacs_ratio": float(np.exp(np.mean(np.log(gmacs)))) if gmacs else math.nan,
                     "noise": seed_noise(table, e.metric), "study": _study(verdicts, e.claim)})
    s = summarize_differences(_matched_cost(final, "test_top1"))
    rows.append({"effect": "placement_matched_cost", "statement": "the best top-heavy point at no more GMACs beats "
                 "each bottom-heavy point on test top-1", "metric": "test_top1", **s, "gmacs_ratio": math.nan,
                 "noise": seed_noise(table, "test_top1"), "study": _study(verdicts, "s3d_placement/top_heavy_top1")})
    return rows


def _study(verdicts: dict[str, dict[str, Any]], claim: str) -> str:
    c = verdicts.get(claim)
    if c is None:
        return "-"
    return f"{claim.split('/')[1]}: {c['verdict']} ({c['effect']:+.3f} [{c['low']:+.3f}, {c['high']:+.3f}])"


def effects_markdown(table: Table, rows: list[dict[str, Any]]) -> str:
    lines = [f"Per-choice effects over every point of `{table.provenance.get('config', {}).get('name')}` "
             f"({len(table.points)} points, {table.epochs} epochs, seed {table.seeds[0]}; test split). "
             "Mean paired difference (a - b) over the grid's contexts that differ only in this choice, "
             "bootstrap 95% interval over pairs, share of pairs with a > b, geometric-mean GMACs ratio a/b, and "
             "the seed noise of one point (sd between the table's two seeds).", "",
             "| effect | a vs b | metric | pairs | mean | 95% interval | a > b | GMACs a/b | seed noise | study "
             "(5 seeds, tested) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        noise = f"{r['noise']:.3f}" if r["noise"] is not None else "-"
        ratio = f"{r['gmacs_ratio']:.2f}" if not math.isnan(r["gmacs_ratio"]) else "-"
        interval = f"[{r['low']:+.3f}, {r['high']:+.3f}]" if r["n"] >= 2 else f"n/a ({r['n']} pair)"
        mean = f"{r['mean']:+.3f}" if r["n"] else "-"
        share = f"{100 * r['positive']:.0f}%" if r["n"] else "-"
        lines.append(f"| {r['effect']} | {r['statement']} | {r['metric']} | {r['n']} | {mean} | "
                     f"{interval} | {share} | {ratio} | {noise} | "
                     f"{r['study']} |")
    return "\n".join(lines)
