"""One claim of a study: its effect on the test split, interval, raw p-value and verdict before
multiplicity (`evaluate_claim`), and the Holm adjustment over a family of claims (`holm_family`).

The rules are in `search.studies.config.Claim` (what each test compares) and
`search.studies.stats` (intervals, tests, verdicts); `search.studies.analysis` reads a study's
runs into a `Grid` and calls these for each claim, at the full and the half budget.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from search.studies import stats
from search.studies.config import COST_METRICS, LATENCY_METRICS, MIN_LATENCY_PROCESSES, Claim, StudyConfig

UNDERTRAINED, OTHER_REGIME = "undertrained", "other regime"  # verdicts beside stats.VERDICTS
CHOOSING = ("matched_cost", "dominance")  # tests that choose arms: on validation values only
VERDICTS = (*stats.VERDICTS, UNDERTRAINED, OTHER_REGIME)


@dataclass
class ClaimResult:
    claim: Claim
    estimate: stats.Estimate
    verdict: str
    replicates: str  # "seeds", "seeds x test clips", "latency processes" or "" (exact)
    detail: str  # which arms were compared
    test: str = ""  # the effect, the test, the interval, n and the replicate unit in one line
    p_raw: float = math.nan  # the one-sided test's p (times the choices made, for dominance)
    p_adjusted: float = math.nan  # Holm-adjusted over the study's family of claims
    alpha: float = math.nan  # the level p_adjusted is held to (lower for dominance's widened interval)
    seeds_only: stats.Estimate | None = None  # the interval over seeds alone, for contrast
    half: stats.Estimate | None = None  # the same effect at half the epochs (`half_budget_seeds`)
    budget_sensitive: bool = False  # the effect's side of the threshold differs at half the budget
    undertrained: list[str] = field(default_factory=list)  # arms that fail the adequacy rule
    dropped: list[str] = field(default_factory=list)  # runs left out: "arm seed N" (failed to train)
    exact: bool = False  # decided by construction (a structural test, or counted cost): no interval

    @property
    def in_family(self) -> bool:
        """In the multiplicity family: a confirmatory claim that was tested (not exact, not of another
        regime, not descriptive, not undertrained)."""
        return (not self.claim.exploratory and not self.exact and math.isfinite(self.p_raw)
                and self.verdict not in (stats.DESCRIPTIVE, UNDERTRAINED, OTHER_REGIME))


@dataclass
class Grid:
    """One arms x seeds grid's measurements: the full budget's, or the half budget's."""

    values: dict[str, stats.Values]  # metric -> arm -> seed -> value (run metrics: on test)
    selection: dict[str, stats.Values]  # the same on validation: what chooses
    hits: dict[str, dict[str, dict[int, np.ndarray]]]  # metric -> arm -> seed -> per test clip (NaN: n/a)


def seeds_method(cfg: StudyConfig) -> str:
    """The interval over seeds alone (per arm, latency, and claims without per-clip outcomes):
    the study's `interval`, or t where that is `crossed` (it needs the clips)."""
    return "bootstrap" if cfg.interval == "bootstrap" else "t"


def holm_family(claims: list[ClaimResult]) -> None:
    """Holm over the claims in the family; the others keep their verdict with no adjusted p."""
    family = [c for c in claims if c.in_family]
    for c, p in zip(family, stats.holm([c.p_raw for c in family])):
        c.p_adjusted = p
        c.verdict = stats.verdict(c.estimate, direction=c.claim.direction, threshold=c.claim.threshold,
                                  margin=c.claim.margin, p_adjusted=p, alpha=c.alpha)


def _named(claim: Claim, cfg: StudyConfig, arms: dict[str, Any]) -> list[str]:
    return [x for x in cfg.resolve([*claim.a, *claim.b]) if x in arms]


def evaluate_claim(claim: Claim, cfg: StudyConfig, grid: Grid, arms: dict[str, dict[str, Any]], *, regime: str = "",
                   latency_independent: bool) -> ClaimResult:
    """A claim's effects, interval and raw p-value; its verdict before multiplicity (`analyze`
    gives the final one after Holm). Exact claims and cost claims are decided by construction;
    a claim of another regime is not evaluated; a claim on accuracy whose arms are not adequately
    trained is undertrained; latency claims are descriptive unless their rounds ran in at least
    MIN_LATENCY_PROCESSES fresh processes."""
    alpha = stats.one_sided_alpha(cfg.confidence)
    if claim.regimes and regime and regime not in claim.regimes:
        return ClaimResult(claim, stats.Estimate.of([]), OTHER_REGIME, "", f"stated for {', '.join(claim.regimes)} "
                           f"only; this store is {regime}", "not evaluated")
    if claim.test == "exact":
        point = stats.Estimate(claim.value, claim.value, claim.value, 0, 0.0, "exact", cfg.confidence)
        return ClaimResult(claim, point, _point_verdict(claim, point), "", f"by construction, proven by "
                           f"`{claim.proof}`", "exact: a structural test proves the value", alpha=alpha,
                           exact=True)
    a = [x for x in cfg.resolve(claim.a) if x in arms]
    b = [x for x in cfg.resolve(claim.b) if x in arms]
    metric = grid.values.get(claim.metric, {})
    latency = claim.metric in LATENCY_METRICS or claim.cost in LATENCY_METRICS
    costs = {n: float(np.mean(list(grid.values[claim.cost][n].values()))) for n in arms
             if n in grid.values.get(claim.cost, {})}
    missing = [x for x in [*a, *b] if x not in metric or (claim.test != "difference" and x not in costs)
               or (claim.test in CHOOSING and x not in grid.selection.get(claim.metric, {}))]  # never chosen on test
    k, contrast, detail, chosen = 1, None, "", {}
    if missing:
        detail = f"no {claim.metric} for {', '.join(missing)} (failed, not adequately trained, or not run)"
    elif claim.test == "difference":
        contrast, detail = stats.Contrast.of(stats.difference_weights(a, b)), f"{' + '.join(a)} vs {' + '.join(b)}"
    elif claim.test == "matched_cost":
        pairs, outside = stats.bracket_pairs(grid.selection.get(claim.metric, {}), costs, a, b,
                                             direction=claim.direction, max_ratio=claim.max_ratio)
        contrast = stats.Contrast.pairs(pairs) if pairs else None
        detail = ("; ".join(f"{x} vs {y}" for x, y in pairs) + f" (the harder {claim.cost} neighbour of b, "
                  f"chosen on val, within a {claim.max_ratio:g}x bracket)" if pairs else "no arm of a bracketed by b")
        if outside:
            detail += f"; left out (no b arms on both sides within {claim.max_ratio:g}x): {', '.join(outside)}"
    elif claim.test == "dominance":  # chosen on val, measured on test, the choice paid for (Bonferroni)
        _, chosen = stats.dominance(grid.selection.get(claim.metric, {}), metric, costs, a, b)
        contrast = stats.Contrast.pairs([(x, y) for y, x in chosen.items()]) if chosen else None
        k = stats.choices(costs, a, list(chosen))
        detail = ("; ".join(f"{x} vs {y}" for y, x in chosen.items()) + f" (best of a on val; Bonferroni over {k} "
                  f"choices)" if chosen else f"no arm of a at or below the {claim.cost} of any arm of b")
        uncovered = [y for y in b if y not in chosen]
        if chosen and uncovered:  # the claim is about every b arm: say which it could not speak for
            detail += f"; not covered: {', '.join(uncovered)} (no arm of a at or below its {claim.cost})"
    elif claim.test == "rank_agreement":
        detail = f"Kendall tau of {claim.cost} vs {claim.metric} over {', '.join(a)}"
    confidence = 1 - (1 - cfg.confidence) / k
    if claim.metric in COST_METRICS and contrast is not None:  # counted, not estimated
        value = sum(w * float(np.mean(list(metric[x].values()))) for x, w in contrast.weights.items())
        point = stats.Estimate(value, value, value, 0, 0.0, "exact", cfg.confidence)
        return ClaimResult(claim, point, _point_verdict(claim, point), "", detail + " (counted)",
                           f"exact: {claim.metric} counted by torch.utils.flop_counter", alpha=alpha, exact=True)
    involved = [x for x in contrast.arms if x in arms] if contrast else [*a, *b]
    undertrained = [x for x in involved if not latency and arms[x].get("adequacy") is not None
                    and not arms[x]["adequacy"].adequate]
    if claim.test == "rank_agreement":
        effects = stats.rank_agreement(metric, costs, a) if not missing else []
        estimate = stats.Estimate.of(effects, confidence=confidence, bounds=stats.TAU_BOUNDS)
        seeds_only, replicates = estimate, "latency processes" if latency else "seeds"
        p_raw = stats.p_value(effects, direction=claim.direction, threshold=claim.threshold)
    else:
        estimate, seeds_only, p_raw, replicates = _estimate(claim, cfg, grid, metric, contrast, confidence, latency)
        if claim.test == "dominance" and len(chosen) > 1:  # "for each b": it holds only where every pair does
            each = {y: _estimate(claim, cfg, grid, metric, stats.Contrast.pairs([(x, y)]), confidence, latency)
                    for y, x in chosen.items()}
            weakest = min(each, key=lambda y: _strength(claim, each[y][0]))
            pairs = ", ".join(f"{chosen[y]} vs {y} {e[0].mean:+.3f}" for y, e in each.items())
            detail += (f"; each pair on test: {pairs}"
                       + f"; the claim is its weakest pair, {chosen[weakest]} vs {weakest} (intersection-union "
                       f"test: p is the largest pair's; the mean over pairs, {estimate.mean:+.3f}, is not the claim)")
            estimate, seeds_only, _, replicates = each[weakest]
            p_raw = max(e[2] for e in each.values())
    coverage = contrast.coverage(metric) if contrast is not None and len(contrast.units) > 1 else ""
    if coverage:
        detail += f"; seeds: {coverage} (a unit is a pair; a seed counts the pairs it has)"
    p_raw = min(1.0, k * p_raw) if math.isfinite(p_raw) else p_raw
    test = stats.describe_test(claim.test, estimate.method if estimate.method in stats.INTERVALS else "t",
                               estimate.n, replicates.split(" x ")[0] if replicates else "seeds")
    if replicates == "seeds x test clips":
        test += " and the test clips they share (crossed random effects)"
    if undertrained:
        verdict = UNDERTRAINED
    elif latency and not latency_independent:
        verdict = stats.DESCRIPTIVE
        test += f" (descriptive: fewer than {MIN_LATENCY_PROCESSES} independent timing processes)"
    else:
        verdict = stats.verdict(estimate, direction=claim.direction, threshold=claim.threshold, margin=claim.margin)
    return ClaimResult(claim, estimate, verdict, replicates, detail, test, p_raw, alpha=alpha / k,
                       seeds_only=seeds_only, undertrained=undertrained)


def _estimate(claim: Claim, cfg: StudyConfig, grid: Grid, metric: dict, contrast: Any, confidence: float,
              latency: bool) -> tuple[stats.Estimate, stats.Estimate, float, str]:
    """A contrast's estimate (over seeds and test clips where the runs have per-clip outcomes),
    its estimate over seeds alone, its raw one-sided p and what its replicates are."""
    effects = stats.replicate_effects(metric, contrast) if contrast else []
    seeds_only = stats.Estimate.of(effects, confidence=confidence)
    hits = grid.hits.get(claim.metric, {})
    if cfg.interval == "crossed" and contrast is not None and all(x in hits for x in contrast.arms):
        d = stats.clip_contributions(hits, contrast)
        return (stats.Estimate.crossed(d, confidence=confidence), seeds_only,
                stats.p_value_crossed(d, direction=claim.direction, threshold=claim.threshold), "seeds x test clips")
    estimate = stats.Estimate.of(effects, method=seeds_method(cfg), confidence=confidence)
    return (estimate, seeds_only, stats.p_value(effects, direction=claim.direction, threshold=claim.threshold),
            "latency processes" if latency else "seeds")


def _strength(claim: Claim, estimate: stats.Estimate) -> float:
    """How far a pair's interval lies on the claimed side (its bound nearest the other side)."""
    return estimate.low if claim.direction == "greater" else -estimate.high


def _point_verdict(claim: Claim, point: stats.Estimate) -> str:
    """reproduced / not reproduced for a value known exactly (a point interval)."""
    return stats.verdict(point, direction=claim.direction, threshold=claim.threshold, margin=claim.margin)
