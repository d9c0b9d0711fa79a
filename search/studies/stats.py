"""The statistics of a study: effects over replicates, their intervals, p-values and verdicts.

A claim's effect is measured once per replicate (a training seed, or a latency round), so the
replicates are paired: every arm of replicate r saw the same seed. The interval is over those
per-replicate effects:

- `t`: mean +- t(1 - alpha/2, n - 1) * sd / sqrt(n), Student's t with n - 1 degrees of freedom
  (`scipy.special.stdtrit`: `scipy.stats.t.ppf`'s quantile, 50x cheaper). The default: honest
  for the 3-5 seeds a study affords.
- `bootstrap`: the percentile bootstrap of the mean (`scipy.stats.bootstrap`, 9,999 resamples,
  seeded). With few replicates it is too narrow; use it for latency rounds, not seeds.
- `crossed`: for a per-clip metric (top-1 on the shared test clips), seeds AND test clips as
  crossed random effects: the t interval over seeds widened by the clip-sampling error that every
  seed shares (`Estimate.crossed`, `p_value_crossed`; the model, formula and why in
  `search.studies.clips`). It needs the per-clip hits, so `Estimate.of` refuses it.

The test is the one-sided one-sample t-test of the per-replicate effects (`p_value`), whatever
the interval (`crossed` has its own, `p_value_crossed`, which agrees with its interval alike):
H0 mean <= threshold for direction greater, mean >= threshold for less. A two-sided interval at
confidence c excludes the threshold on the claimed side exactly when that one-sided p is below
alpha = (1 - c) / 2 (0.025 for 95%), so a claim's alpha is `one_sided_alpha(c)`, and the nominal
false-positive rate of "reproduced" is that alpha. `bootstrap` only changes the interval;
the p-value stays the t-test's. Within a study the claims' p-values are Holm-adjusted (`holm`).

A linear effect is a set of weights over arms (`difference_weights`), or a `Contrast` of units
(one per matched pair, for matched cost and dominance once their pairs are chosen):
`replicate_effects` applies it to the runs' metrics, `clip_contributions` to their per-clip hits.
Matched cost is compared only inside a bracket of b arms, against the harder neighbour
(`bracket_pairs`); a run the study flags as failed to train is dropped from the claim
(`drop_replicates`): its seed then counts only in the units (pairs) that do not involve it.

A verdict compares the interval with the claim's threshold (0 for "A beats B") and margin (the
smallest effect that would matter, >= 0), in this order:

    direction greater: inconclusive   if there is no interval (fewer than 2 replicates)
                       not reproduced if hi < threshold + margin  (every plausible effect is
                                      below what matters; checked first)
                       reproduced     if lo > threshold (and, when given, p_adjusted < alpha)
                       inconclusive   otherwise
    direction less:    the mirror image (not reproduced if lo > threshold - margin; reproduced
                       if hi < threshold)

`DESCRIPTIVE` is a fourth outcome that `verdict` never returns: the caller reports the effect
and interval but issues no verdict, where the replicates are not independent (latency rounds
timed seconds apart in one process).

Example:
    >>> e = Estimate.of([0.02, 0.04, 0.06])
    >>> round(e.mean, 3), round(e.low, 4), round(e.high, 4), e.n
    (0.04, -0.0097, 0.0897, 3)
    >>> verdict(e, direction="greater", threshold=0.0)
    'inconclusive'
    >>> p = p_value([0.02, 0.04, 0.06], direction="greater")
    >>> round(p, 4), p < one_sided_alpha(0.95)  # agrees with lo <= 0 above
    (0.0371, False)
    >>> [round(q, 3) for q in holm([0.01, 0.04, 0.03, 0.005])]
    [0.03, 0.06, 0.06, 0.02]
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
from scipy import special, stats

from search.studies.clips import Hits, clip_contributions, crossed  # noqa: F401 (re-exported)
from search.studies.contrast import Contrast  # noqa: F401 (re-exported)
from search.studies.effects import (  # noqa: F401 (re-exported: the effects a claim's test estimates)
    DIRECTIONS, Runs, Values, bracket_pairs, check_direction, choices, common_replicates, difference,
    difference_weights, dominance, drop_replicates, matched_cost, pair_weights, rank_agreement, replicate_effects,
)

INTERVALS = ("t", "bootstrap", "crossed")
INTERVAL_NAMES = {"t": "one-sided t-test, t interval", "bootstrap": "one-sided t-test, percentile bootstrap interval",
                  "crossed": "one-sided test, seed + clip interval (Banerjee)"}
REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"
DESCRIPTIVE = "descriptive"  # an effect and interval are reported, no verdict is issued
VERDICTS = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, DESCRIPTIVE)
TAU_BOUNDS = (-1.0, 1.0)  # the range of Kendall's tau, for `Estimate.of(..., bounds=TAU_BOUNDS)`
# What each test's per-replicate effect is, for `describe_test`
EFFECTS = {
    "difference": "paired difference",
    "matched_cost": "difference from the harder b arm of a cost bracket",  # `bracket_pairs`
    "dominance": "best cheaper a arm (chosen on validation) minus b, on test, the weakest b (intersection-union)",
    "rank_agreement": "Kendall tau of cost vs metric",
}


def _finite(samples: Iterable[float | None]) -> np.ndarray:
    return np.asarray([float(v) for v in samples if v is not None and math.isfinite(v)])


@dataclass(frozen=True)
class Estimate:
    """The mean of per-replicate effects with its confidence interval."""

    mean: float
    low: float
    high: float
    n: int
    sd: float
    method: str = "t"
    confidence: float = 0.95

    @classmethod
    def of(cls, samples: Iterable[float | None], *, method: str = "t", confidence: float = 0.95,
           seed: int = 0, bounds: tuple[float, float] | None = None) -> Estimate:
        """The estimate of the finite `samples` (None and NaN dropped). `bounds` clips the interval
        to the effect's range, e.g. (-1, 1) for Kendall's tau, whose t interval can run past 1."""
        if method not in INTERVALS:
            raise ValueError(f"interval={method!r}: must be one of {', '.join(INTERVALS)}")
        if method == "crossed":
            raise ValueError("interval='crossed' needs the per-clip hits, not per-replicate effects: use "
                             "Estimate.crossed(clip_contributions(hits, weights)); metrics with no clips "
                             "(latency, costs) take interval 't'")
        if bounds is not None and not bounds[0] < bounds[1]:
            raise ValueError(f"bounds={bounds!r}: must be (low, high) with low < high, e.g. (-1.0, 1.0)")
        x = _finite(samples)
        n = len(x)
        if n == 0:
            return cls(math.nan, math.nan, math.nan, 0, math.nan, method, confidence)
        mean = float(x.mean())
        sd = float(x.std(ddof=1)) if n > 1 else math.nan
        if n < 2:  # one replicate: no interval
            return cls(mean, math.nan, math.nan, n, sd, method, confidence)
        if np.ptp(x) == 0:  # every replicate agrees (a cost, say): the interval is the point
            return cls(mean, mean, mean, n, 0.0, method, confidence)
        if method == "t":
            half = float(special.stdtrit(n - 1, 0.5 + confidence / 2)) * sd / math.sqrt(n)
            low, high = mean - half, mean + half
        else:
            res = stats.bootstrap((x,), np.mean, confidence_level=confidence, n_resamples=9999,
                                  method="percentile", rng=np.random.default_rng(seed))
            low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
        if bounds is not None:
            low, high = max(low, bounds[0]), min(high, bounds[1])
        return cls(mean, low, high, n, sd, method, confidence)

    @classmethod
    def crossed(cls, d: np.ndarray, *, confidence: float = 0.95) -> Estimate:
        """The estimate of the effect whose per-(seed, clip) contributions are `d`
        (`clip_contributions`), seeds and clips crossed: mean +- Banerjee's half-width
        (`search.studies.clips`). n is the number of seeds, sd the sd of the per-seed effects (so
        `d_z` means what it does for `of`). One seed: no interval; no estimated variance (every
        seed's effect equal and no clip part): the point, as `of` gives for equal effects."""
        one_sided_alpha(confidence)
        c = crossed(d)
        if c.seeds == 0 or c.clips == 0:
            return cls(math.nan, math.nan, math.nan, 0, math.nan, "crossed", confidence)
        if c.seeds < 2:
            return cls(c.mean, math.nan, math.nan, c.seeds, math.nan, "crossed", confidence)
        sd = float(np.asarray(d, dtype=float).mean(axis=1).std(ddof=1))
        if c.variance == 0:
            return cls(c.mean, c.mean, c.mean, c.seeds, sd, "crossed", confidence)
        half = c.half_width((1 - confidence) / 2)
        return cls(c.mean, c.mean - half, c.mean + half, c.seeds, sd, "crossed", confidence)

    @property
    def d_z(self) -> float:
        """Cohen's d for paired samples: mean / sd of the per-replicate effects (NaN when sd is 0)."""
        return self.mean / self.sd if self.sd and math.isfinite(self.sd) else math.nan

    def __str__(self) -> str:
        if self.n == 0:
            return "n/a"
        if not math.isfinite(self.low):
            return f"{self.mean:+.4g} (n={self.n}, no interval)"
        return f"{self.mean:+.4g} [{self.low:+.4g}, {self.high:+.4g}]"


def one_sided_alpha(confidence: float) -> float:
    """The level of the one-sided test that agrees with a two-sided interval at `confidence`:
    lo > threshold exactly when the one-sided t-test's p < (1 - confidence) / 2."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence={confidence!r}: must be in (0, 1), e.g. 0.95")
    return (1 - confidence) / 2


def p_value(samples: Iterable[float | None], *, direction: str, threshold: float = 0.0) -> float:
    """The one-sided one-sample t-test of the per-replicate effects (None and NaN dropped):
    H0 mean <= threshold for direction greater, mean >= threshold for less. The p-value of
    `scipy.stats.ttest_1samp(x, threshold, alternative=direction)` (a test checks they agree),
    taken straight from Student's t CDF (`scipy.special.stdtr`): ttest_1samp costs ~1 ms a call,
    too much for the null simulations that make tens of thousands.

    NaN with fewer than 2 replicates (no test). With no spread (a deterministic cost repeated)
    the t statistic is undefined, so p is 0.0 if the mean is strictly beyond the threshold in the
    claimed direction and 1.0 otherwise, as the point interval's verdict would say.
    """
    check_direction(direction)
    x = _finite(samples)
    if len(x) < 2:
        return math.nan
    if np.ptp(x) == 0:
        beyond = x[0] > threshold if direction == "greater" else x[0] < threshold
        return 0.0 if beyond else 1.0
    t = (float(x.mean()) - threshold) / (float(x.std(ddof=1)) / math.sqrt(len(x)))
    return float(special.stdtr(len(x) - 1, -t if direction == "greater" else t))


def p_value_crossed(d: np.ndarray, *, direction: str, threshold: float = 0.0) -> float:
    """The one-sided test of the effect whose per-(seed, clip) contributions are `d`, seeds and
    clips crossed: H0 mean <= threshold for direction greater, >= for less. The p-value is the
    level at which `Estimate.crossed`'s bound meets the threshold, so p < (1 - c) / 2 exactly
    when its interval at confidence c excludes the threshold on the claimed side. NaN with fewer
    than 2 seeds; with no estimated variance 0.0 or 1.0, as `p_value` with no spread."""
    check_direction(direction)
    c = crossed(d)
    excess = c.mean - threshold if direction == "greater" else threshold - c.mean
    return c.p_value(excess) if c.seeds >= 2 and c.clips else math.nan


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the input order: the i-th smallest of the m finite
    p-values becomes max over j <= i of min(1, (m - j + 1) * p_(j)) (monotone step-down). NaN
    entries (claims with no test, or descriptive ones) pass through as NaN and do not count in m.
    Rejecting where the adjusted p < alpha keeps the family-wise error rate at alpha."""
    p = [float(v) for v in p_values]
    bad = [v for v in p if not (math.isnan(v) or 0.0 <= v <= 1.0)]
    if bad:
        raise ValueError(f"p-values {bad}: must be in [0, 1] (or NaN for no test)")
    order = sorted((i for i, v in enumerate(p) if not math.isnan(v)), key=lambda i: p[i])
    out, running = [math.nan] * len(p), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * p[i]))
        out[i] = running
    return out


def verdict(estimate: Estimate, *, direction: str, threshold: float = 0.0, margin: float = 0.0,
            p_adjusted: float | None = None, alpha: float | None = None) -> str:
    """reproduced / not reproduced / inconclusive by the rule in the module docstring: no interval
    is inconclusive; "not reproduced" (the interval lies below threshold + margin) is checked
    before "reproduced" (lo > threshold). With `p_adjusted` (the claim's Holm-adjusted p-value),
    "reproduced" also needs p_adjusted < `one_sided_alpha(estimate.confidence)`; a NaN p_adjusted
    never reproduces. `alpha` overrides that level where the interval is wider than the claim's
    own (a Bonferroni-adjusted interval for `dominance`'s choice). Never returns DESCRIPTIVE: that
    is the caller's choice."""
    check_direction(direction)
    if not margin >= 0:
        raise ValueError(f"margin={margin!r}: must be >= 0 (the smallest effect that matters)")
    lo, hi = estimate.low, estimate.high
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return INCONCLUSIVE
    sign = 1.0 if direction == "greater" else -1.0  # "less" is "greater" on the negated effect
    lo, hi = (lo, hi) if sign > 0 else (-hi, -lo)
    if hi < sign * threshold + margin:
        return NOT_REPRODUCED
    level = one_sided_alpha(estimate.confidence) if alpha is None else alpha
    significant = p_adjusted is None or p_adjusted < level
    return REPRODUCED if lo > sign * threshold and significant else INCONCLUSIVE


def describe_test(test: str, method: str, n: int, unit: str) -> str:
    """One line naming a claim's effect, its test, its interval and its replicates, e.g.
    "paired difference; one-sided t-test, t interval; n=5 seeds"."""
    if test not in EFFECTS:
        raise ValueError(f"Unknown test {test!r}; available: {', '.join(EFFECTS)}")
    if method not in INTERVALS:
        raise ValueError(f"interval={method!r}: must be one of {', '.join(INTERVALS)}")
    noun = unit[:-1] if n == 1 and unit.endswith("s") else unit
    return f"{EFFECTS[test]}; {INTERVAL_NAMES[method]}; n={n} {noun}"


def discordant_pairs(values: Values, costs: dict[str, float], arms: Sequence[str], *, method: str = "t",
                     confidence: float = 0.95) -> list[tuple[str, str, Estimate]]:
    """Pairs (cheap, dear) where `cheap` has the lower cost but a metric (latency, say) that is
    higher than `dear`'s by an interval that excludes 0: the cost ranking and the metric disagree."""
    out = []
    for i, x in enumerate(arms):
        for y in arms[i + 1:]:
            cheap, dear = (x, y) if costs[x] < costs[y] else (y, x)
            if costs[cheap] == costs[dear]:
                continue
            est = Estimate.of(difference(values, [cheap], [dear]), method=method, confidence=confidence)
            if math.isfinite(est.low) and est.low > 0:
                out.append((cheap, dear, est))
    return out
