"""Per-replicate effects of a claim: the arms' metrics combined into one number per replicate.

`values[arm][replicate]` is a metric (a training seed's test top-1, say); `costs[arm]` a cost
(GMACs per clip, say). A linear effect is a set of weights over arms (`difference_weights`), or a
`Contrast` of units (one per matched pair: `bracket_pairs` for matched cost, `dominance`);
`replicate_effects` applies it. Runs the adequacy rule flags are removed first
(`drop_replicates`). The intervals, tests and verdicts on these effects are `search.studies.stats`.
"""
from __future__ import annotations

import math
from typing import Iterable, Mapping, Sequence, TypeVar

import numpy as np

from search.studies.contrast import Contrast, as_contrast

DIRECTIONS = ("greater", "less")


def check_direction(direction: str) -> None:
    if direction not in DIRECTIONS:
        raise ValueError(f"direction={direction!r}: must be one of {', '.join(DIRECTIONS)}")


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
    check_direction(direction)
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


