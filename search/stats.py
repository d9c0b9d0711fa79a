"""The statistics of a study: effects over replicates, their confidence intervals, and verdicts.

A claim's effect is measured once per replicate (a training seed, or a latency round), so the
replicates are paired: every arm of replicate r saw the same seed. The interval is over those
per-replicate effects:

- `t`: mean +- t(1 - alpha/2, n - 1) * sd / sqrt(n), Student's t with n - 1 degrees of freedom
  (`scipy.stats.t`). The default: honest for the 3-5 seeds a study affords.
- `bootstrap`: the percentile bootstrap of the mean (`scipy.stats.bootstrap`, 9,999 resamples,
  seeded). With few replicates it is too narrow; use it for latency rounds, not seeds.

A verdict compares the interval with the claim's threshold (0 for "A beats B") and margin (the
smallest effect that would matter):

    direction greater: reproduced     if lo > threshold
                       not reproduced if hi < threshold + margin  (any effect is below what matters)
                       inconclusive   otherwise
    direction less:    the mirror image (hi < threshold; lo > threshold - margin)

Example:
    >>> e = Estimate.of([0.02, 0.04, 0.06])
    >>> round(e.mean, 3), round(e.low, 4), round(e.high, 4), e.n
    (0.04, -0.0097, 0.0897, 3)
    >>> verdict(e, direction="greater", threshold=0.0)
    'inconclusive'
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
from scipy import stats

INTERVALS = ("t", "bootstrap")
REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"


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
    def of(cls, samples: Iterable[float], *, method: str = "t", confidence: float = 0.95,
           seed: int = 0) -> Estimate:
        x = np.asarray([float(v) for v in samples if v is not None and math.isfinite(v)])
        if method not in INTERVALS:
            raise ValueError(f"interval={method!r}: must be one of {', '.join(INTERVALS)}")
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
            half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * sd / math.sqrt(n)
            return cls(mean, mean - half, mean + half, n, sd, method, confidence)
        res = stats.bootstrap((x,), np.mean, confidence_level=confidence, n_resamples=9999, method="percentile",
                              rng=np.random.default_rng(seed))
        return cls(mean, float(res.confidence_interval.low), float(res.confidence_interval.high), n, sd, method,
                   confidence)

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


def verdict(estimate: Estimate, *, direction: str, threshold: float = 0.0, margin: float = 0.0) -> str:
    """reproduced / not reproduced / inconclusive (module docstring); no interval is inconclusive."""
    lo, hi = estimate.low, estimate.high
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return INCONCLUSIVE
    if direction == "greater":
        if lo > threshold:
            return REPRODUCED
        return NOT_REPRODUCED if hi < threshold + margin else INCONCLUSIVE
    if direction == "less":
        if hi < threshold:
            return REPRODUCED
        return NOT_REPRODUCED if lo > threshold - margin else INCONCLUSIVE
    raise ValueError(f"direction={direction!r}: must be greater or less")


# ---------------------------------------------------------------------------------------------
# Per-replicate effects. `values[arm][replicate]` is a metric; `costs[arm]` a cost (GMACs, say).

Values = dict[str, dict[int, float]]


def common_replicates(values: Values, arms: Iterable[str]) -> list[int]:
    sets = [set(values.get(a, {})) for a in arms]
    return sorted(set.intersection(*sets)) if sets else []


def difference(values: Values, a: Sequence[str], b: Sequence[str]) -> list[float]:
    """Per replicate: mean over arms `a` minus mean over arms `b`."""
    return [float(np.mean([values[x][r] for x in a]) - np.mean([values[x][r] for x in b]))
            for r in common_replicates(values, [*a, *b])]


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


def dominance(values: Values, costs: dict[str, float], a: Sequence[str],
              b: Sequence[str]) -> tuple[list[float], dict[str, str]]:
    """Per replicate: the mean over `b` arms of (the best `a` arm at no more cost - the `b` arm).
    "Best" is chosen once, by the mean over replicates, so the per-replicate maximum's optimism does
    not enter; `b` arms with no `a` arm as cheap are left out. Returns the pairs used (b -> a)."""
    reps = common_replicates(values, [*a, *b])
    mean = {x: float(np.mean([values[x][r] for r in reps])) for x in [*a, *b]} if reps else {}
    pairs = {}
    for y in b:
        cheaper = [x for x in a if costs[x] <= costs[y]]
        if cheaper:
            pairs[y] = max(cheaper, key=lambda x: mean[x])
    return [float(np.mean([values[x][r] - values[y][r] for y, x in pairs.items()])) for r in reps if pairs], pairs


def rank_agreement(values: Values, costs: dict[str, float], arms: Sequence[str]) -> list[float]:
    """Per replicate: Kendall's tau-b between the arms' costs and their metric (`scipy.stats.kendalltau`)."""
    out = []
    for r in common_replicates(values, arms):
        tau = stats.kendalltau([costs[x] for x in arms], [values[x][r] for x in arms]).statistic
        out.append(float(tau) if math.isfinite(tau) else 0.0)
    return out


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
