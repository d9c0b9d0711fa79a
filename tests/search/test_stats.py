"""The statistics of studies on inputs whose answers are known (pure logic: no Ray, no MLflow)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from search.stats import (
    INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED, Estimate, difference, discordant_pairs, dominance, matched_cost,
    rank_agreement, verdict,
)

# Student t quantiles t(0.975, df) from any printed table
T975 = {2: 4.303, 4: 2.776}


def test_t_interval_matches_the_textbook_formula() -> None:
    e = Estimate.of([1.0, 2.0, 3.0])  # mean 2, sd 1, n 3
    half = T975[2] / math.sqrt(3)
    assert (e.mean, e.n, e.sd) == (2.0, 3, 1.0)
    assert e.low == pytest.approx(2 - half, abs=1e-3) and e.high == pytest.approx(2 + half, abs=1e-3)
    e5 = Estimate.of([0.10, 0.12, 0.14, 0.16, 0.18])  # mean 0.14, sd 0.0316
    assert e5.high - e5.mean == pytest.approx(T975[4] * 0.0316228 / math.sqrt(5), rel=1e-3)
    assert e.d_z == pytest.approx(2.0)


def test_a_99_percent_interval_is_wider() -> None:
    x = [0.3, 0.5, 0.4, 0.6]
    assert Estimate.of(x, confidence=0.99).low < Estimate.of(x, confidence=0.95).low


def test_degenerate_samples() -> None:
    same = Estimate.of([0.25, 0.25, 0.25])  # a cost: no spread, the interval is the point
    assert (same.low, same.mean, same.high) == (0.25, 0.25, 0.25) and math.isnan(same.d_z)
    one = Estimate.of([0.4])
    assert one.n == 1 and math.isnan(one.low)
    assert verdict(one, direction="greater") == INCONCLUSIVE  # one run proves nothing
    assert Estimate.of([]).n == 0 and verdict(Estimate.of([]), direction="greater") == INCONCLUSIVE
    assert Estimate.of([1.0, None, float("nan"), 3.0]).n == 2


def test_t_interval_covers_the_true_mean_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(0)
    hits = sum(e.low <= 0.5 <= e.high for e in (Estimate.of(rng.normal(0.5, 0.1, 5)) for _ in range(2000)))
    assert 0.935 <= hits / 2000 <= 0.965


def test_bootstrap_agrees_with_t_on_a_large_sample() -> None:
    x = np.random.default_rng(1).normal(0.5, 1.0, 400)
    t, boot = Estimate.of(x), Estimate.of(x, method="bootstrap")
    assert boot.method == "bootstrap" and boot.mean == t.mean
    assert boot.low == pytest.approx(t.low, abs=0.02) and boot.high == pytest.approx(t.high, abs=0.02)
    assert Estimate.of(x, method="bootstrap").low == boot.low  # seeded: the same interval every time
    with pytest.raises(ValueError, match="interval='wald'"):
        Estimate.of(x, method="wald")


@pytest.mark.parametrize("low, high, direction, threshold, margin, expected", [
    (0.01, 0.05, "greater", 0.0, 0.0, REPRODUCED),  # interval above 0
    (-0.01, 0.05, "greater", 0.0, 0.0, INCONCLUSIVE),  # straddles 0
    (-0.05, -0.01, "greater", 0.0, 0.0, NOT_REPRODUCED),  # below 0: the opposite holds
    (-0.01, 0.015, "greater", 0.0, 0.02, NOT_REPRODUCED),  # any effect is under the 0.02 that matters
    (-0.01, 0.025, "greater", 0.0, 0.02, INCONCLUSIVE),
    (-0.015, 0.01, "greater", -0.02, 0.0, REPRODUCED),  # non-inferiority: no worse than -0.02
    (-0.03, -0.025, "greater", -0.02, 0.0, NOT_REPRODUCED),
    (-3.0, -1.0, "less", 0.0, 0.0, REPRODUCED),  # "cheaper": the difference is below 0
    (1.0, 3.0, "less", 0.0, 0.0, NOT_REPRODUCED),
    (-1.0, 3.0, "less", 0.0, 0.0, INCONCLUSIVE),
    (-0.01, 0.01, "less", 0.0, 0.02, NOT_REPRODUCED),  # less by at least 0.02 is ruled out
])
def test_verdicts(low, high, direction, threshold, margin, expected) -> None:
    e = Estimate((low + high) / 2, low, high, 3, 0.01)
    assert verdict(e, direction=direction, threshold=threshold, margin=margin) == expected


def test_verdicts_on_measured_samples() -> None:
    assert verdict(Estimate.of([0.05, 0.06, 0.07]), direction="greater") == REPRODUCED
    assert verdict(Estimate.of([-0.05, 0.20, 0.01]), direction="greater") == INCONCLUSIVE
    assert verdict(Estimate.of([0.001, -0.002, 0.0]), direction="greater", margin=0.02) == NOT_REPRODUCED


def test_paired_difference_uses_only_common_replicates() -> None:
    values = {"a": {0: 0.6, 1: 0.7, 2: 0.8}, "b": {0: 0.5, 1: 0.5}, "c": {0: 0.1, 1: 0.3}}
    assert difference(values, ["a"], ["b"]) == pytest.approx([0.1, 0.2])
    assert difference(values, ["a", "b"], ["c"]) == pytest.approx([0.45, 0.3])  # group means per seed


def test_matched_cost_interpolates_the_other_curve_in_log_cost() -> None:
    # b: metric = 0.1 * log10(cost) + 0.1, so at cost sqrt(10) the b curve is at 0.15
    values = {"b1": {0: 0.1, 1: 0.1}, "b10": {0: 0.2, 1: 0.2}, "b100": {0: 0.3, 1: 0.3},
              "a": {0: 0.25, 1: 0.35}, "far": {0: 1.0, 1: 1.0}}
    costs = {"b1": 1.0, "b10": 10.0, "b100": 100.0, "a": math.sqrt(10), "far": 1000.0}
    effects, inside = matched_cost(values, costs, ["a", "far"], ["b1", "b10", "b100"])
    assert inside == ["a"]  # out of b's cost range: not compared
    assert effects == pytest.approx([0.10, 0.20])
    assert matched_cost(values, costs, ["far"], ["b1", "b10"]) == ([], [])


def test_dominance_takes_the_best_cheaper_arm_by_its_mean() -> None:
    values = {"x": {0: 0.5, 1: 0.7}, "y": {0: 0.65, 1: 0.65}, "big": {0: 0.9, 1: 0.9},
              "p": {0: 0.4, 1: 0.6}, "q": {0: 0.1, 1: 0.1}}
    costs = {"x": 1.0, "y": 1.0, "big": 5.0, "p": 2.0, "q": 0.5}
    effects, pairs = dominance(values, costs, ["x", "y", "big"], ["p", "q"])
    assert pairs == {"p": "y"}  # y has the best mean (0.65 > 0.60) among arms as cheap as p; none for q
    assert effects == pytest.approx([0.25, 0.05])


def test_rank_agreement_and_discordant_pairs() -> None:
    costs = {"a": 1.0, "b": 2.0, "c": 4.0}
    same = {"a": {0: 10.0, 1: 11.0}, "b": {0: 20.0, 1: 19.0}, "c": {0: 40.0, 1: 41.0}}
    flipped = {"a": {0: 50.0, 1: 52.0, 2: 51.0}, "b": {0: 20.0, 1: 21.0, 2: 19.0}, "c": {0: 40.0, 1: 41.0, 2: 42.0}}
    assert rank_agreement(same, costs, ["a", "b", "c"]) == pytest.approx([1.0, 1.0])
    assert rank_agreement(flipped, costs, ["a", "b", "c"]) == pytest.approx([-1 / 3] * 3)
    assert discordant_pairs(same, costs, ["a", "b", "c"]) == []
    pairs = discordant_pairs(flipped, costs, ["a", "b", "c"])
    assert [(p[0], p[1]) for p in pairs] == [("a", "b"), ("a", "c")]  # a is cheapest and slowest
    assert pairs[0][2].mean == pytest.approx(31.0)
