"""Effects measured on shared test clips: seeds and clips as crossed random effects.

Every seed of every arm is scored on the same test clips, so a test set that happens to favour
arm a favours it for every seed. An interval over the per-seed effects alone treats the clips
as fixed and misses that shared clip-sampling error: under the null its false-positive rate
grows with the clip part of the variance (6% and 20% at two ratios, nominal 2.5%, in
tests/search/test_stats_null.py). This module keeps the clips. `hits[arm][seed]` is a 1-D float
array over the test clips in one fixed order shared by all arms and seeds (1.0 / 0.0 for top-1
correct; NaN where the clip does not count for the metric, at the same positions for every arm
and seed); a run's metric is the nanmean of its array.

An effect that is linear in the runs' metrics is a set of weights over arms
(`stats.difference_weights`, `stats.pair_weights`), and `clip_contributions(hits, weights)` is
the matrix D[s, c] = sum over arms of w * hits[arm][s][c], S seeds x C counted clips, whose
grand mean is the effect. The model is the two-way crossed random-effects ANOVA without
replication,

    D[s, c] = mu + seed_s + clip_c + e_sc,   variances s2_seed, s2_clip, s2_e,

and mu, the effect over the population of seeds AND clips, is estimated by the grand mean with

    Var(mean D) = (s2_seed / S + s2_e / (S C))  +  s2_clip / C
                =  seed part                    +  clip part.

The mean squares (E[MS_seed] = s2_e + C s2_seed on S - 1 df, E[MS_clip] = s2_e + S s2_clip on
C - 1 df, E[MS_err] = s2_e on (S - 1)(C - 1) df) estimate the two parts:

    seed part  V_seed = MS_seed / (S C)                  on S - 1 df: var(per-seed effects) / S
    clip part  V_clip = max(MS_clip - MS_err, 0) / (S C) on C - 1 df

V_seed + V_clip is the unbiased (MS_seed + MS_clip - MS_err) / (S C) whenever that is at least
MS_seed / (S C), and never less: a clip part estimated below 0 counts as 0, the seed part is
never reduced. The interval is Banerjee's for a sum of separately estimated variances (Sankhya
22, 1960), each part at its own Student-t quantile, added in quadrature:

    half-width = sqrt(t(S - 1)^2 V_seed + t(C - 1)^2 V_clip),   t(df) = t(df, 1 - alpha)

so it is the paired t interval over seeds (the old one) widened by the clip-sampling error it
missed; the p-value is the alpha at which the bound meets the threshold (`Crossed.p_value`).
Why not Satterthwaite's df for V_unbiased with a single t quantile: that df is estimated from
the same mean squares, and it grows exactly when MS_seed is small by chance, i.e. when the t
statistic is large. Simulated under the null (20,000-40,000 studies a case) it was
anti-conservative: up to 0.029 at 5 seeds and 0.039 at 3 seeds, with or without flooring V at
each single mean square (nominal 0.025). Banerjee's interval was at nominal within Monte Carlo
error or below it in every case simulated (3 or 5 seeds, 30 or 400 clips, 0/1 hits or Gaussian,
any split of the variance): near nominal where one part dominates, down to about half of it
where both weigh the same (the price of never being anti-conservative).

Example: two arms, 3 seeds, 4 clips that count (clip 2 does not), a - b:
    >>> import numpy as np
    >>> nan = np.nan
    >>> hits = {"a": {0: np.array([1., 0., nan, 1., 1.]), 1: np.array([1., 0., nan, 0., 1.]),
    ...               2: np.array([1., 0., nan, 1., 1.])},
    ...         "b": {0: np.array([0., 0., nan, 0., 0.]), 1: np.array([0., 0., nan, 0., 0.]),
    ...               2: np.array([1., 0., nan, 0., 0.])}}
    >>> d = clip_contributions(hits, {"a": 1.0, "b": -1.0})
    >>> d
    array([[1., 0., 1., 1.],
           [1., 0., 0., 1.],
           [0., 0., 1., 1.]])
    >>> c = crossed(d)  # MS_seed 1/12, MS_clip 19/36, MS_err 7/36
    >>> round(c.mean, 4), round(c.seed_variance, 6), round(c.clip_variance, 6), c.seed_df, c.clip_df
    (0.5833, 0.006944, 0.027778, 2, 3)
    >>> round(c.half_width(0.025), 4)  # sqrt(4.303^2 * 0.006944 + 3.182^2 * 0.027778)
    0.6402
    >>> low = c.mean - c.half_width(0.025)  # the 95% interval's lower bound
    >>> round(c.p_value(c.mean - low), 6)  # a threshold at the bound: p is exactly alpha
    0.025
"""
from __future__ import annotations

import math
from typing import Mapping, NamedTuple

import numpy as np
from scipy import optimize, special

from search.studies.contrast import Contrast, as_contrast

Hits = Mapping[str, Mapping[int, np.ndarray]]  # arm -> seed -> per-clip scores (NaN: not counted)


class Crossed(NamedTuple):
    """The grand mean of D and the two estimated parts of its variance, each with its df.
    The variances are NaN where there is no interval (fewer than 2 seeds, or no clips)."""

    mean: float
    seed_variance: float  # MS_seed / (S C): the variance of the per-seed effects / S
    clip_variance: float  # max(MS_clip - MS_err, 0) / (S C): the shared clip-sampling error
    seed_df: int  # S - 1
    clip_df: int  # C - 1
    seeds: int
    clips: int

    @property
    def variance(self) -> float:
        return self.seed_variance + self.clip_variance

    def half_width(self, alpha: float) -> float:
        """Banerjee's half-width at one-sided level `alpha`: sqrt(t(S-1)^2 V_seed + t(C-1)^2 V_clip),
        t(df) the upper alpha quantile of Student's t (0.025 for a 95% two-sided interval)."""
        return self._bound(alpha)

    def p_value(self, excess: float) -> float:
        """The one-sided p-value of an observed `excess` (mean - threshold, sign-flipped for a
        claim that the effect is less): the alpha at which `half_width(alpha)` equals it, so
        p < alpha exactly when the interval at that alpha excludes the threshold. With one part
        only it is Student's t-test on that part's df. NaN without an interval."""
        if not math.isfinite(self.variance):
            return math.nan
        if self.variance == 0:
            return 0.0 if excess > 0 else 1.0
        if excess == 0:
            return 0.5
        x = abs(excess)
        if self._bound(1e-300) <= x:  # beyond any level a float can hold
            return 0.0 if excess > 0 else 1.0
        # half_width falls from +inf (alpha -> 0) to 0 (alpha = 1/2): bracket the root in log(alpha)
        log_alpha = optimize.brentq(lambda u: self._bound(math.exp(u)) - x, math.log(1e-300), math.log(0.5),
                                    xtol=1e-12)
        p = math.exp(log_alpha)
        return p if excess > 0 else 1.0 - p

    def _bound(self, alpha: float) -> float:
        t_seed = float(special.stdtrit(self.seed_df, alpha))  # lower tail: -t(df, 1 - alpha), accurate
        t_clip = float(special.stdtrit(self.clip_df, alpha)) if self.clip_variance > 0 else 0.0  # for tiny alpha
        # hypot: t at a tiny alpha with 1 degree of freedom is ~1e300, whose square overflows
        return math.hypot(t_seed * math.sqrt(self.seed_variance), t_clip * math.sqrt(self.clip_variance))


def clip_contributions(hits: Hits, weights: Mapping[str, float] | Contrast) -> np.ndarray:
    """D[s, c] = sum over the weighted arms of w * hits[arm][s][c], shape (seeds, clips), over the
    clips that count (NaN columns dropped). Plain weights are one unit, so their seeds are those
    every weighted arm has (sorted); a `Contrast` of several units (matched pairs) also keeps the
    seeds that have only some of them, each with the mean of the units it has
    (`Contrast.per_replicate`). Row s's mean is the effect `stats.replicate_effects` computes from
    the runs' metrics (their nanmeans)."""
    contrast = as_contrast(weights)
    missing = [x for x in contrast.arms if x not in hits]
    if missing:
        raise ValueError(f"no per-clip hits for arms {missing}; available: {', '.join(hits) or 'none'}")
    rows = contrast.per_replicate({x: hits[x] for x in contrast.arms})
    if not rows:
        return np.empty((0, 0))
    shapes = {np.shape(hits[x][s]) for s, w in rows.items() for x in w}
    if len(shapes) != 1 or len(next(iter(shapes))) != 1:
        raise ValueError(f"hits[arm][seed] must be 1-D arrays of one length (the shared test clips), "
                         f"but got shapes {sorted(shapes)}")
    skipped = np.asarray([np.isnan(np.asarray(hits[x][s], dtype=float)) for s, w in rows.items() for x in w])
    counted = ~skipped[0]
    if (skipped != ~counted).any():
        raise ValueError("the clips that do not count (NaN) must be the same for every arm and seed, but "
                         "they differ: score every run on the same clips, with NaN at the same positions")
    return np.asarray([sum(w * np.asarray(hits[x][s], dtype=float)[counted] for x, w in unit.items())
                       for s, unit in rows.items()])


def crossed(d: np.ndarray) -> Crossed:
    """The grand mean of D (seeds x clips) and the seed and clip parts of its variance, by the
    rule in the module docstring. One clip: the clip part is 0 and the interval is the paired t
    over seeds."""
    d = np.asarray(d, dtype=float)
    if d.ndim != 2:
        raise ValueError(f"D must be a (seeds, clips) matrix, but got shape {d.shape}")
    s, c = d.shape
    mean = float(d.mean()) if d.size else math.nan
    if s < 2 or c == 0:  # one seed: the seed part cannot be estimated, no interval
        return Crossed(mean, math.nan, math.nan, s - 1, c - 1, s, c)
    seed, clip = d.mean(axis=1), d.mean(axis=0)
    seed_variance = float(seed.var(ddof=1)) / s  # = MS_seed / (S C)
    if c == 1:
        return Crossed(mean, seed_variance, 0.0, s - 1, 0, s, c)
    ms_clip = s * float(((clip - mean) ** 2).sum()) / (c - 1)
    ms_err = float(((d - seed[:, None] - clip[None, :] + mean) ** 2).sum()) / ((s - 1) * (c - 1))
    return Crossed(mean, seed_variance, max(ms_clip - ms_err, 0.0) / (s * c), s - 1, c - 1, s, c)
