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
from typing import Iterable, Mapping, Sequence, TypeVar

import numpy as np
from scipy import special, stats

from search.studies.clips import Hits, clip_contributions, crossed  # noqa: F401 (re-exported)
from search.studies.contrast import Contrast, as_contrast  # noqa: F401 (re-exported)

INTERVALS = ("t", "bootstrap", "crossed")
INTERVAL_NAMES = {"t": "one-sided t-test, t interval", "bootstrap": "one-sided t-test, percentile bootstrap interval",
                  "crossed": "one-sided test, seed + clip interval (Banerjee)"}
REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"
DESCRIPTIVE = "descriptive"  # an effect and interval are reported, no verdict is issued
VERDICTS = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, DESCRIPTIVE)
DIRECTIONS = ("greater", "less")
TAU_BOUNDS = (-1.0, 1.0)  # the range of Kendall's tau, for `Estimate.of(..., bounds=TAU_BOUNDS)`
# What each test's per-replicate effect is, for `describe_test`
EFFECTS = {
    "difference": "paired difference",
    "matched_cost": "difference from the harder b arm of a cost bracket",  # `bracket_pairs`
    "dominance": "best cheaper a arm (chosen on validation) minus b, on test",
    "rank_agreement": "Kendall tau of cost vs metric",
}


def _finite(samples: Iterable[float | None]) -> np.ndarray:
    return np.asarray([float(v) for v in samples if v is not None and math.isfinite(v)])


def _check_direction(direction: str) -> None:
    if direction not in DIRECTIONS:
        raise ValueError(f"direction={direction!r}: must be one of {', '.join(DIRECTIONS)}")


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
    _check_direction(direction)
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
    _check_direction(direction)
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
    _check_direction(direction)
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


# ---------------------------------------------------------------------------------------------
# Per-replicate effects. `values[arm][replicate]` is a metric; `costs[arm]` a cost (GMACs, say).

Values = dict[str, dict[int, float]]
Runs = TypeVar("Runs")  # what is stored per (arm, replicate): a metric, or a run's per-clip hits


def common_replicates(values: Values, arms: Iterable[str]) -> list[int]:
    sets = [set(values.get(a, {})) for a in arms]
    return sorted(set.intersection(*sets)) if sets else []


def difference(values: Values, a: Sequence[str], b: Sequence[str]) -> list[float]:
    """Per replicate: mean over arms `a` minus mean over arms `b`."""
    return [float(np.mean([values[x][r] for x in a]) - np.mean([values[x][r] for x in b]))
            for r in common_replicates(values, [*a, *b])]


def difference_weights(a: Sequence[str], b: Sequence[str]) -> dict[str, float]:
    """The weights of `difference`: +1/|a| on each `a` arm, -1/|b| on each `b` arm."""
    if not a or not b:
        raise ValueError(f"a difference needs arms on both sides, but got a={list(a)}, b={list(b)}")
    weights: dict[str, float] = {}
    for arms, sign in ((a, 1.0), (b, -1.0)):
        for x in arms:
            weights[x] = weights.get(x, 0.0) + sign / len(arms)
    return weights


def pair_weights(pairs: Sequence[tuple[str, str]]) -> dict[str, float]:
    """The weights of the mean over `pairs` (x, y) of x - y: each pair adds +1/k to x and -1/k to
    y, k the number of pairs (`bracket_pairs`' matched cost; `dominance`'s pairs as (a, b))."""
    weights: dict[str, float] = {}
    for x, y in pairs:
        weights[x] = weights.get(x, 0.0) + 1.0 / len(pairs)
        weights[y] = weights.get(y, 0.0) - 1.0 / len(pairs)
    return weights


def replicate_effects(values: Values, weights: Mapping[str, float] | Contrast) -> list[float]:
    """Per replicate: sum over the weighted arms of w * metric. Plain weights are one unit, over
    the replicates common to their arms (with `difference_weights(a, b)` it is `difference(values,
    a, b)`); a `Contrast` of matched pairs also counts a replicate that has only some of its pairs,
    at the mean of those (`Contrast.per_replicate`)."""
    rows = as_contrast(weights).per_replicate(values)
    return [float(sum(w * values[x][r] for x, w in unit.items())) for r, unit in rows.items()]


def drop_replicates(values: dict[str, dict[int, Runs]], failed: set[tuple[str, int]]) -> dict[str, dict[int, Runs]]:
    """`values` (or per-clip hits) without the (arm, replicate) entries in `failed`: the runs the
    study's adequacy rule flags as failed to train. A claim on that arm then leaves that replicate
    out for all its arms (`common_replicates`) instead of averaging a broken run into its effect:
    one run at chance among 5 makes the seeds' t test unable to reproduce anything, either way
    (tests/search/test_stats_null.py)."""
    return {arm: {r: v for r, v in runs.items() if (arm, r) not in failed} for arm, runs in values.items()}


def matched_cost(values: Values, costs: dict[str, float], a: Sequence[str],
                 b: Sequence[str]) -> tuple[list[float], list[str]]:
    """Per replicate: the mean over `a` arms of (metric - the `b` curve at the same cost), the
    `b` curve interpolated linearly in log(cost) between its arms. Only `a` arms within the cost
    range of `b` count (returned second); arms of equal cost in `b` are averaged."""
    lo, hi = min(costs[x] for x in b), max(costs[x] for x in b)
    inside = [x for x in a if lo <= costs[x] <= hi]
    if not inside:
        return [], []
    effects = []
    for r in common_replicates(values, [*inside, *b]):
        curve: dict[float, list[float]] = {}
        for x in b:
            curve.setdefault(math.log(costs[x]), []).append(values[x][r])
        xs = sorted(curve)
        ys = [float(np.mean(curve[c])) for c in xs]
        effects.append(float(np.mean([values[x][r] - np.interp(math.log(costs[x]), xs, ys) for x in inside])))
    return effects, inside


def bracket_pairs(select: Values, costs: dict[str, float], a: Sequence[str], b: Sequence[str], *,
                  direction: str = "greater", max_ratio: float = 2.0) -> tuple[list[tuple[str, str]], list[str]]:
    """Matched cost without interpolation: each `a` arm against one `b` arm that brackets it.

    For an `a` arm of cost x the nearest `b` arms on each side, x_l <= x <= x_r (the `b` arm of
    cost exactly x, when there is one), must both exist with x_r / x_l <= `max_ratio`; otherwise
    the `a` arm is left out (second list: no `b` arm on both sides within `max_ratio` in cost).
    Its comparator is the harder of the two neighbours on `select` (validation, mean over the
    replicates they share): the higher mean for direction "greater", the lower for "less".

    Why: if the `b` curve is monotone within the bracket, its true value at cost x lies between
    the neighbours' values, so comparing against the harder one can only understate the `a`
    arm's advantage, whatever the curvature; linear interpolation across a wide gap instead
    credits `a` with however far a concave curve bows above its chord (`matched_cost`, kept as
    the contrast: tests/search/test_stats_null.py). Choosing on validation keeps the test split
    for reporting. Validation noise can pick the easier neighbour only when the two are within
    that noise of each other, and then both are that close to the curve at x; a run effect the
    splits share (a lucky seed) makes the chosen neighbour look better on test too, which again
    understates. The price is power: `a` must beat the harder neighbour, not the curve at x, so
    keep brackets narrow (more `b` arms). Returns the (a, b) pairs, for `pair_weights`, and the
    `a` arms left out.

    >>> select = {"b1": {0: 0.60}, "b2": {0: 0.66}, "b3": {0: 0.70}}
    >>> costs = {"b1": 1.0, "b2": 1.8, "b3": 5.0, "x": 1.5, "y": 1.8, "z": 3.0}
    >>> bracket_pairs(select, costs, ["x", "y", "z"], ["b1", "b2", "b3"])
    ([('x', 'b2'), ('y', 'b2')], ['z'])
    """
    _check_direction(direction)
    if not max_ratio >= 1:
        raise ValueError(f"max_ratio={max_ratio!r}: must be >= 1 (the widest bracket x_r / x_l allowed), e.g. 2.0")
    bad = {x: costs[x] for x in [*a, *b] if not (math.isfinite(costs[x]) and costs[x] > 0)}
    if bad:
        raise ValueError(f"costs {bad}: must be finite and > 0 (brackets are ratios of costs)")
    pairs, left_out = [], []
    for x in a:
        cost = costs[x]
        near = [y for y in b if costs[y] == cost]
        if not near:
            below, above = [costs[y] for y in b if costs[y] < cost], [costs[y] for y in b if costs[y] > cost]
            if not below or not above or min(above) / max(below) > max_ratio:
                left_out.append(x)
                continue
            near = [y for y in b if costs[y] in (max(below), min(above))]
        pairs.append((x, near[0] if len(near) == 1 else _harder(select, near, direction)))
    return pairs, left_out


def _harder(select: Values, arms: list[str], direction: str) -> str:
    """The harder of two neighbours on validation: on the replicates they share, or, where the
    adequacy rule left them none in common (each lost other seeds), on each one's own replicates.

    >>> _harder({"b1": {0: 0.6, 1: 0.7}, "b2": {2: 0.8}}, ["b1", "b2"], "greater")
    'b2'
    """
    if any(not select.get(y) for y in arms):
        raise ValueError(f"no replicate of {', '.join(y for y in arms if not select.get(y))} in the validation "
                         "values: the harder neighbour is chosen on them; pass the runs' validation metric as select")
    mean = _select_means(select, arms)
    return (max if direction == "greater" else min)(arms, key=lambda y: mean[y])


def _select_means(select: Values, arms: Sequence[str]) -> dict[str, float]:
    """Each arm's mean on `select` over the replicates the arms share, or over its own where the
    adequacy rule left them none in common."""
    reps = common_replicates(select, arms)
    return {y: float(np.mean([select[y][r] for r in (reps or select[y])])) for y in arms}


def dominance(select: Values, test: Values, costs: dict[str, float], a: Sequence[str],
              b: Sequence[str]) -> tuple[list[float], dict[str, str]]:
    """Per replicate of `test`: the mean over `b` arms of (the best `a` arm at no more cost - the
    `b` arm). "Best" is chosen once, by the mean in `select` (the validation metric), and the
    effects are measured on `test` (the held-out test metric of the same runs). `b` arms with no
    `a` arm as cheap are left out. Returns the effects and the pairs used (b -> a).

    Choosing on val removes the optimism of the test split's own noise, but not of a run effect
    that val and test share (a lucky seed: the same model scores both). Its test must therefore
    be adjusted for the choice: `choices(costs, a, b)` counts the combinations it chose among,
    and a Bonferroni adjustment over them (interval at confidence 1 - (1 - c) / k, p-value times
    k) holds the false-positive rate at nominal whatever the correlation
    (tests/search/test_stats_null.py measures both)."""
    mean = _select_means(select, [x for x in a if select.get(x)])
    pairs = {}
    for y in b:
        cheaper = [x for x in a if costs[x] <= costs[y] and x in mean]
        if cheaper:
            pairs[y] = max(cheaper, key=lambda x: mean[x])
    if not pairs:
        return [], {}
    return replicate_effects(test, Contrast.pairs([(x, y) for y, x in pairs.items()])), pairs


def choices(costs: dict[str, float], a: Sequence[str], b: Sequence[str]) -> int:
    """How many combinations `dominance` chooses among: the product over `b` arms of the number of
    `a` arms at no more cost (1 when there is nothing to choose)."""
    return int(np.prod([max(1, sum(costs[x] <= costs[y] for x in a)) for y in b]))


def rank_agreement(values: Values, costs: dict[str, float], arms: Sequence[str]) -> list[float]:
    """Per replicate: Kendall's tau-b between the arms' costs and their metric, 0 where either is
    all ties. The statistic of `scipy.stats.kendalltau` (a test checks they agree), counted over
    the arms' pairs for all replicates at once: kendalltau costs ~0.7 ms a call, too much for the
    null simulations. Estimate them with `Estimate.of(taus, bounds=TAU_BOUNDS)`: tau lies in [-1, 1]."""
    reps = common_replicates(values, arms)
    if not reps:
        return []
    i, j = np.triu_indices(len(arms), 1)  # every pair of arms once
    cost = np.asarray([costs[x] for x in arms], dtype=float)
    metric = np.asarray([[values[x][r] for x in arms] for r in reps], dtype=float)  # (replicates, arms)
    dc, dm = np.sign(cost[j] - cost[i]), np.sign(metric[:, j] - metric[:, i])  # (pairs,), (replicates, pairs)
    untied_c, untied_m = np.count_nonzero(dc), np.count_nonzero(dm, axis=1)  # pairs not tied in each
    with np.errstate(invalid="ignore", divide="ignore"):
        tau = (dm * dc).sum(axis=1) / np.sqrt(untied_c * untied_m)  # (concordant - discordant) / ...
    return [float(t) if math.isfinite(t) else 0.0 for t in tau]


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
