"""The statistics of studies on inputs whose answers are known (pure logic: no Ray, no MLflow)."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from search.studies.stats import (
    DESCRIPTIVE, INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED, TAU_BOUNDS, VERDICTS, Estimate, describe_test, difference,
    choices, discordant_pairs, dominance, holm, matched_cost, one_sided_alpha, p_value, rank_agreement, verdict,
)

# Student t quantiles t(0.975, df) from any printed table
T975 = {2: 4.303, 4: 2.776}
T975_SCIPY = {n: float(stats.t.ppf(0.975, n - 1)) for n in (2, 3, 5, 8)}  # only to place samples near the boundary


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


NAN = math.nan
# The verdict's truth table, written for direction "greater" as (low, high, threshold, margin,
# p_adjusted, verdict); "less" is checked on the mirror image (-high, -low, -threshold). The order
# of the rules: no interval -> inconclusive; hi < threshold + margin -> not reproduced; lo >
# threshold (and p_adjusted < alpha = 0.025 when given) -> reproduced; else inconclusive.
TRUTH_TABLE = [
    (NAN, NAN, 0.0, 0.0, None, INCONCLUSIVE),  # no interval (one replicate)
    (NAN, NAN, 0.0, 0.01, 0.001, INCONCLUSIVE),  # no interval, whatever p says
    (-0.05, -0.01, 0.0, 0.0, None, NOT_REPRODUCED),  # margin 0: the opposite holds
    (0.01, 0.05, 0.0, 0.0, None, REPRODUCED),  # margin 0: above the threshold
    (-0.01, 0.05, 0.0, 0.0, None, INCONCLUSIVE),  # margin 0: straddles it
    (0.0, 0.05, 0.0, 0.0, None, INCONCLUSIVE),  # lo == threshold is not above it
    (-0.05, 0.0, 0.0, 0.0, None, INCONCLUSIVE),  # hi == threshold + margin is not below it
    (0.001, 0.005, 0.0, 0.01, None, NOT_REPRODUCED),  # the reported bug: above 0, all too small to matter
    (0.001, 0.05, 0.0, 0.01, None, REPRODUCED),  # above 0 and an effect that matters is plausible
    (0.02, 0.05, 0.0, 0.01, None, REPRODUCED),  # wholly above the margin
    (-0.01, 0.005, 0.0, 0.01, None, NOT_REPRODUCED),  # straddles 0, below the margin
    (-0.01, 0.01, 0.0, 0.01, None, INCONCLUSIVE),  # hi == threshold + margin
    (-0.01, 0.05, 0.0, 0.01, None, INCONCLUSIVE),
    (-0.015, 0.01, -0.02, 0.0, None, REPRODUCED),  # non-inferiority: no worse than -0.02
    (-0.03, -0.025, -0.02, 0.0, None, NOT_REPRODUCED),
    (-0.01, 0.015, 0.0, 0.02, None, NOT_REPRODUCED),
    (0.01, 0.05, 0.0, 0.0, 0.001, REPRODUCED),  # Holm-adjusted p < 0.025 as well
    (0.01, 0.05, 0.0, 0.0, 0.03, INCONCLUSIVE),  # the interval alone would reproduce; Holm says no
    (0.01, 0.05, 0.0, 0.0, one_sided_alpha(0.95), INCONCLUSIVE),  # p == alpha is not below it
    (0.01, 0.05, 0.0, 0.0, NAN, INCONCLUSIVE),  # no test
    (0.001, 0.005, 0.0, 0.01, 0.0001, NOT_REPRODUCED),  # the margin is checked first, whatever p
    (-0.05, -0.01, 0.0, 0.0, 0.001, NOT_REPRODUCED),
    (-0.01, 0.05, 0.0, 0.0, 0.001, INCONCLUSIVE),  # a small p does not override the interval
    (0.02, 0.05, 0.0, 0.01, 0.01, REPRODUCED),
    (0.02, 0.05, 0.0, 0.01, 0.2, INCONCLUSIVE),
]


@pytest.mark.parametrize("direction", ["greater", "less"])
@pytest.mark.parametrize("low, high, threshold, margin, p_adjusted, expected", TRUTH_TABLE)
def test_verdict_truth_table(direction, low, high, threshold, margin, p_adjusted, expected) -> None:
    if direction == "less":  # the mirror image: negate the interval and the threshold
        low, high, threshold = -high, -low, -threshold
    e = Estimate((low + high) / 2, low, high, 3, 0.01)
    assert verdict(e, direction=direction, threshold=threshold, margin=margin, p_adjusted=p_adjusted) == expected


def test_the_truth_table_covers_every_rule_with_and_without_a_margin() -> None:
    outcomes = {(v, m > 0, p is None) for lo, hi, _, m, p, v in TRUTH_TABLE if math.isfinite(lo)}
    assert outcomes == {(v, m, p) for v in (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE)
                        for m in (False, True) for p in (False, True)}


def test_verdict_alpha_follows_the_confidence_and_bad_input_is_refused() -> None:
    e99 = Estimate(0.03, 0.01, 0.05, 5, 0.01, confidence=0.99)
    assert one_sided_alpha(0.99) == pytest.approx(0.005) and one_sided_alpha(0.95) == pytest.approx(0.025)
    assert verdict(e99, direction="greater", p_adjusted=0.004) == REPRODUCED
    assert verdict(e99, direction="greater", p_adjusted=0.01) == INCONCLUSIVE  # < 0.025 but not < 0.005
    e = Estimate(0.03, 0.01, 0.05, 5, 0.01)
    with pytest.raises(ValueError, match="direction='more'"):
        verdict(e, direction="more")
    with pytest.raises(ValueError, match="margin=-0.01"):
        verdict(e, direction="greater", margin=-0.01)
    with pytest.raises(ValueError, match="confidence=1.5"):
        one_sided_alpha(1.5)
    assert DESCRIPTIVE in VERDICTS and len(set(VERDICTS)) == 4  # the caller's "no verdict", never verdict()'s


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


def test_dominance_chooses_on_select_and_measures_on_test() -> None:
    select = {"x": {0: 0.5, 1: 0.7}, "y": {0: 0.65, 1: 0.65}, "big": {0: 0.9, 1: 0.9},
              "p": {0: 0.4, 1: 0.6}, "q": {0: 0.1, 1: 0.1}}
    test = {"x": {0: 0.9, 1: 0.9}, "y": {0: 0.6, 1: 0.7}, "big": {0: 0.9, 1: 0.9},
            "p": {0: 0.4, 1: 0.6}, "q": {0: 0.1, 1: 0.1}}
    costs = {"x": 1.0, "y": 1.0, "big": 5.0, "p": 2.0, "q": 0.5}
    effects, pairs = dominance(select, test, costs, ["x", "y", "big"], ["p", "q"])
    assert pairs == {"p": "y"}  # y has the best select mean (0.65 > 0.60) among arms as cheap as p; none for q
    assert effects == pytest.approx([0.20, 0.10])  # y - p on test, although x is better there
    assert dominance(select, test, costs, ["big"], ["p", "q"]) == ([], {})  # no a arm as cheap as any b
    assert choices(costs, ["x", "y", "big"], ["p", "q"]) == 2  # p: x or y; q: nothing to choose
    assert choices(costs, ["x", "y", "big"], ["p", "big"]) == 6


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


def test_rank_agreement_is_scipys_kendall_tau_b() -> None:
    rng = np.random.default_rng(3)
    arms = [f"arm{i}" for i in range(7)]
    for _ in range(50):
        costs = {x: float(c) for x, c in zip(arms, rng.integers(1, 5, len(arms)))}  # with ties
        values = {x: {r: float(rng.integers(0, 4)) for r in range(3)} for x in arms}  # ties here too
        expected = [stats.kendalltau([costs[x] for x in arms], [values[x][r] for x in arms]).statistic
                    for r in range(3)]
        assert rank_agreement(values, costs, arms) == pytest.approx([t if math.isfinite(t) else 0.0 for t in expected])
    flat = {x: {0: 1.0} for x in arms}  # the metric is all ties: no tau, counted as 0
    assert rank_agreement(flat, {x: float(i) for i, x in enumerate(arms)}, arms) == [0.0]
    assert rank_agreement({}, {}, arms) == []


def test_p_value_is_the_one_sided_t_test() -> None:
    # df = 2: P(T > t) = (1 - t / sqrt(t^2 + 2)) / 2; mean 0.04, sd 0.02, n 3 -> t = 0.04 / (0.02 / sqrt(3))
    t = 0.04 / (0.02 / math.sqrt(3))
    p = (1 - t / math.sqrt(t * t + 2)) / 2
    assert p_value([0.02, 0.04, 0.06], direction="greater") == pytest.approx(p, rel=1e-9)
    assert p_value([0.02, 0.04, 0.06], direction="less") == pytest.approx(1 - p, rel=1e-9)
    t1 = (0.04 - 0.01) / (0.02 / math.sqrt(3))  # against threshold 0.01
    assert p_value([0.02, 0.04, 0.06], direction="greater", threshold=0.01) == pytest.approx(
        (1 - t1 / math.sqrt(t1 * t1 + 2)) / 2, rel=1e-9)
    assert p_value([0.02, None, 0.04, NAN, 0.06], direction="greater") == pytest.approx(p, rel=1e-9)


@pytest.mark.parametrize("direction", ["greater", "less"])
def test_p_value_is_scipys_ttest_1samp(direction) -> None:
    rng = np.random.default_rng(7)
    for _ in range(200):
        n, threshold = int(rng.integers(2, 12)), float(rng.normal())
        x = rng.normal(rng.normal(), rng.uniform(0.01, 3.0), n)
        reference = stats.ttest_1samp(x, threshold, alternative=direction).pvalue
        assert p_value(x, direction=direction, threshold=threshold) == pytest.approx(reference, rel=1e-12, abs=1e-300)


def test_p_value_degenerate_cases() -> None:
    assert math.isnan(p_value([0.4], direction="greater")) and math.isnan(p_value([], direction="less"))
    assert p_value([2.0, 2.0, 2.0], direction="less", threshold=3.0) == 0.0  # a cost, surely below 3
    assert p_value([2.0, 2.0, 2.0], direction="greater", threshold=3.0) == 1.0
    assert p_value([3.0, 3.0], direction="less", threshold=3.0) == 1.0  # at the threshold: not beyond it
    with pytest.raises(ValueError, match="direction='up'"):
        p_value([1.0, 2.0], direction="up")


@pytest.mark.parametrize("n", [2, 3, 5, 8])
@pytest.mark.parametrize("direction", ["greater", "less"])
def test_single_claim_p_agrees_with_the_interval(n, direction) -> None:
    """For one claim (Holm leaves a single p alone), p < (1 - c) / 2 exactly when the two-sided
    t interval excludes the threshold on the claimed side, so p_adjusted never changes the verdict."""
    rng = np.random.default_rng(n)
    shift = (1 if direction == "greater" else -1) * T975_SCIPY[n] / math.sqrt(n)  # lo near the threshold
    agree, reproduced = 0, 0
    for _ in range(300):
        threshold = float(rng.normal(0, 0.5))
        x = rng.normal(threshold + shift, 1.0, n)
        e, p = Estimate.of(x), p_value(x, direction=direction, threshold=threshold)
        beyond = e.low > threshold if direction == "greater" else e.high < threshold
        agree += (p < one_sided_alpha(0.95)) == beyond
        reproduced += beyond
        assert holm([p]) == [p]
        assert (verdict(e, direction=direction, threshold=threshold, p_adjusted=p)
                == verdict(e, direction=direction, threshold=threshold))
    assert agree == 300
    assert 30 <= reproduced <= 270  # the samples straddle the boundary, so the agreement means something


def test_holm_on_a_worked_example() -> None:
    # sorted: 0.005, 0.01, 0.03, 0.04 -> 4 * 0.005 = 0.02, 3 * 0.01 = 0.03, 2 * 0.03 = 0.06,
    # max(0.06, 1 * 0.04) = 0.06 (step-down: never below an earlier adjusted p)
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    adjusted = holm([0.02, NAN, 0.5])  # m = 2: 2 * 0.02, max(0.04, 0.5)
    assert adjusted[0] == pytest.approx(0.04) and math.isnan(adjusted[1]) and adjusted[2] == pytest.approx(0.5)
    assert holm([0.6, 0.7]) == pytest.approx([1.0, 1.0])  # 2 * 0.6 capped at 1; then max(1, 0.7)
    assert holm([0.3]) == [0.3] and holm([]) == []
    with pytest.raises(ValueError, match=r"\[1.2\]"):
        holm([0.1, 1.2])


def test_tau_estimates_are_clipped_to_its_range() -> None:
    taus = [1.0, 1.0, 0.6]
    free, clipped = Estimate.of(taus), Estimate.of(taus, bounds=TAU_BOUNDS)
    assert free.high > 1.0  # the t interval runs past the largest possible tau
    assert clipped.high == 1.0 and clipped.low == free.low and clipped.mean == pytest.approx(2.6 / 3)
    assert Estimate.of([-1.0, -1.0, -0.6], bounds=TAU_BOUNDS).low == -1.0
    with pytest.raises(ValueError, match="bounds=\\(1.0, -1.0\\)"):
        Estimate.of(taus, bounds=(1.0, -1.0))


def test_describe_test_names_the_effect_test_interval_and_replicates() -> None:
    assert describe_test("difference", "t", 5, "seeds") == "paired difference; one-sided t-test, t interval; n=5 seeds"
    assert (describe_test("rank_agreement", "bootstrap", 1, "latency rounds")
            == "Kendall tau of cost vs metric; one-sided t-test, percentile bootstrap interval; n=1 latency round")
    with pytest.raises(ValueError, match="Unknown test 'anova'; available: difference, matched_cost"):
        describe_test("anova", "t", 5, "seeds")
