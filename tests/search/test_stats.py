"""The statistics of studies on inputs whose answers are known (pure logic: no Ray, no MLflow)."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from search.studies.stats import (
    DESCRIPTIVE, INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED, TAU_BOUNDS, VERDICTS, Estimate, bracket_pairs, choices,
    Contrast, clip_contributions, crossed, describe_test, difference, difference_weights, discordant_pairs, dominance,
    drop_replicates, holm, matched_cost, one_sided_alpha, p_value, p_value_crossed, pair_weights, rank_agreement,
    replicate_effects, verdict,
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


# Linear effects as weights over arms, per-clip data, seeds x clips crossed, brackets.

def test_replicate_effects_of_difference_weights_is_difference() -> None:
    rng = np.random.default_rng(11)
    for _ in range(20):
        values = {x: {r: float(rng.normal()) for r in range(5) if rng.random() > 0.15} for x in "pqrst"}
        a, b = ["p", "q"], ["r", "s", "t"]
        assert difference_weights(a, b) == pytest.approx({"p": 0.5, "q": 0.5, "r": -1 / 3, "s": -1 / 3, "t": -1 / 3})
        assert replicate_effects(values, difference_weights(a, b)) == pytest.approx(difference(values, a, b))
    assert pair_weights([("x", "p"), ("y", "p")]) == {"x": 0.5, "y": 0.5, "p": -1.0}  # p is both pairs' comparator
    assert pair_weights([]) == {}
    with pytest.raises(ValueError, match="arms on both sides"):
        difference_weights(["p"], [])


def test_a_contrast_of_pairs_counts_each_seed_on_the_pairs_it_has() -> None:
    """The s3d_placement piece: bottom_2c lost seed 0, top_4b seed 1, top_5b seed 2; the mean over
    its pairs had no common seed (n = 0). Each seed now counts its complete pairs (n = 3), and with
    nothing dropped the effect is the one of `pair_weights`."""
    rng = np.random.default_rng(5)
    pairs = [("top_4b", "bottom_2c"), ("top_5b", "bottom_4b"), ("top_5c", "bottom_5b")]
    arms = [x for pair in pairs for x in pair]
    full = {x: {r: float(rng.uniform(0.4, 0.8)) for r in range(3)} for x in arms}
    contrast = Contrast.pairs(pairs)
    assert contrast.weights == pair_weights(pairs) and contrast.arms == arms
    assert replicate_effects(full, contrast) == pytest.approx(replicate_effects(full, pair_weights(pairs)))
    kept = drop_replicates(full, {("bottom_2c", 0), ("top_4b", 1), ("top_5b", 2)})
    assert replicate_effects(kept, pair_weights(pairs)) == []  # one unit over every arm: no seed left
    d = lambda x, y, r: full[x][r] - full[y][r]  # noqa: E731
    assert replicate_effects(kept, contrast) == pytest.approx([
        (d("top_5b", "bottom_4b", 0) + d("top_5c", "bottom_5b", 0)) / 2,
        (d("top_5b", "bottom_4b", 1) + d("top_5c", "bottom_5b", 1)) / 2,
        (d("top_4b", "bottom_2c", 2) + d("top_5c", "bottom_5b", 2)) / 2])
    assert contrast.coverage(kept) == "all 3 units on 0 of 3 seeds; units on the others: seed 0: 2, seed 1: 2, seed 2: 2"
    assert contrast.coverage(full) == ""
    hits = {x: {r: (rng.random(6) < v).astype(float) for r, v in runs.items()} for x, runs in kept.items()}
    metrics = {x: {r: float(h.mean()) for r, h in runs.items()} for x, runs in hits.items()}
    assert clip_contributions(hits, contrast).mean(axis=1) == pytest.approx(replicate_effects(metrics, contrast))
    with pytest.raises(ValueError, match="cannot be matched with itself"):
        Contrast.pairs([("x", "x")])


def test_dominance_chooses_on_each_arms_own_seeds_where_they_share_none() -> None:
    select = {"a1": {0: 0.5, 1: 0.52}, "a2": {2: 0.7}, "b": {0: 0.6, 1: 0.6, 2: 0.6}}
    test = {"a1": {0: 0.5, 1: 0.5}, "a2": {2: 0.65}, "b": {0: 0.6, 1: 0.6, 2: 0.6}}
    effects, chosen = dominance(select, test, {"a1": 1.0, "a2": 1.0, "b": 2.0}, ["a1", "a2"], ["b"])
    assert chosen == {"b": "a2"} and effects == pytest.approx([0.05])  # a2 ran on seed 2 only


def test_drop_replicates_removes_the_failed_runs_from_every_claim_on_them() -> None:
    values = {"a": {0: 0.5, 1: 0.6, 2: 0.7}, "b": {0: 0.4, 1: 0.05, 2: 0.5}}
    kept = drop_replicates(values, {("b", 1)})
    assert kept == {"a": {0: 0.5, 1: 0.6, 2: 0.7}, "b": {0: 0.4, 2: 0.5}}
    assert values["b"][1] == 0.05  # the input is untouched
    assert difference(kept, ["a"], ["b"]) == pytest.approx([0.1, 0.2])  # seed 1 left out of a - b as well
    assert drop_replicates(values, set()) == values


def test_clip_contributions_keep_the_counted_clips_of_the_common_seeds() -> None:
    nan = math.nan
    hits = {"a": {0: np.array([1.0, nan, 0.0, 1.0]), 1: np.array([0.0, nan, 1.0, 1.0]),
                  2: np.array([1.0, nan, 1.0, 1.0])},
            "b": {0: np.array([0.0, nan, 0.0, 1.0]), 1: np.array([1.0, nan, 1.0, 0.0])}}  # b has no seed 2
    d = clip_contributions(hits, {"a": 1.0, "b": -1.0})
    assert d.tolist() == [[1.0, 0.0, 0.0], [-1.0, 0.0, 1.0]]  # seeds 0, 1; clip 1 does not count
    metrics = {x: {s: float(np.nanmean(h)) for s, h in runs.items()} for x, runs in hits.items()}
    assert d.mean(axis=1) == pytest.approx(replicate_effects(metrics, {"a": 1.0, "b": -1.0}))  # nanmean = D's rows
    assert clip_contributions(hits, {"a": 0.5}).shape == (3, 3)
    uneven = {"a": {0: np.array([1.0, nan]), 1: np.array([nan, 1.0])}}
    with pytest.raises(ValueError, match="NaN at the same positions"):
        clip_contributions(uneven, {"a": 1.0})
    with pytest.raises(ValueError, match="1-D arrays of one length"):
        clip_contributions({"a": {0: np.ones(3), 1: np.ones(4)}}, {"a": 1.0})
    with pytest.raises(ValueError, match=r"no per-clip hits for arms \['c'\]; available: a, b"):
        clip_contributions(hits, {"a": 1.0, "c": -1.0})


# 3 seeds x 4 clips. Grand mean 7/12; seed means 3/4, 1/2, 1/2; clip means 2/3, 0, 2/3, 1.
# MS_seed = 4 * var(seed means) = 4 * (1/48) = 1/12 on 2 df; MS_clip = 3 * 76/144 / 3 = 19/36 on 3 df;
# SS_err = SS_total - SS_seed - SS_clip = 420/144 - 24/144 - 228/144, MS_err = 168/144 / 6 = 7/36.
# Seed part MS_seed / 12 = 1/144, clip part (MS_clip - MS_err) / 12 = 1/36.
D_3X4 = np.array([[1.0, 0.0, 1.0, 1.0], [1.0, 0.0, 0.0, 1.0], [0.0, 0.0, 1.0, 1.0]])
T975_3 = 3.182  # t(0.975, 3) from a printed table


def test_crossed_interval_matches_a_hand_computation() -> None:
    e = Estimate.crossed(D_3X4)
    half = math.sqrt(T975[2] ** 2 / 144 + T975_3 ** 2 / 36)  # each part at its own t quantile, in quadrature
    assert (e.mean, e.n, e.method) == (pytest.approx(7 / 12), 3, "crossed")
    assert e.low == pytest.approx(7 / 12 - half, rel=1e-3) and e.high == pytest.approx(7 / 12 + half, rel=1e-3)
    assert e.sd == pytest.approx(math.sqrt(1 / 48))  # sd of the per-seed effects, as for `of`: d_z keeps its meaning
    c = crossed(D_3X4)
    assert (c.seed_variance, c.clip_variance) == (pytest.approx(1 / 144), pytest.approx(1 / 36))
    for threshold in (e.low, e.low - 0.01, e.low + 0.01):  # p < 0.025 exactly when lo > threshold
        p = p_value_crossed(D_3X4, direction="greater", threshold=threshold)
        assert p == pytest.approx(0.025, rel=1e-6) if threshold == e.low else (p < 0.025) == (e.low > threshold)
    assert p_value_crossed(D_3X4, direction="less", threshold=e.high) == pytest.approx(0.025, rel=1e-6)
    assert p_value_crossed(D_3X4, direction="less", threshold=7 / 12) == 0.5
    assert Estimate.crossed(D_3X4, confidence=0.99).low < e.low


def test_crossed_without_a_clip_part_is_the_paired_t_over_seeds() -> None:
    # additive seed effects on clips whose spread is below the noise: the clip part is estimated 0
    rng = np.random.default_rng(5)
    d = rng.normal(0.0, 1.0, (5, 1)) + rng.normal(0.0, 1.0, (5, 40))
    d -= d.mean(axis=0) - d.mean()  # every clip mean equal: MS_clip = 0 < MS_err
    per_seed = d.mean(axis=1)
    e, t = Estimate.crossed(d), Estimate.of(per_seed)
    assert (e.low, e.high, e.sd) == (pytest.approx(t.low), pytest.approx(t.high), pytest.approx(t.sd))
    for direction in ("greater", "less"):
        assert p_value_crossed(d, direction=direction, threshold=0.1) == pytest.approx(
            p_value(per_seed, direction=direction, threshold=0.1), rel=1e-8)
    one_clip = Estimate.crossed(d[:, :1])  # one clip: no clip part to estimate
    assert one_clip.low == pytest.approx(Estimate.of(d[:, 0]).low)


@pytest.mark.parametrize("direction", ["greater", "less"])
def test_crossed_p_agrees_with_its_interval(direction) -> None:
    rng = np.random.default_rng(8)
    agree = beyond_count = 0
    for _ in range(200):
        d = rng.normal(0.0, 1.0, (4, 1)) + rng.normal(0, rng.uniform(0.1, 3), (1, 30)) + rng.normal(0, 1, (4, 30))
        e = Estimate.crossed(d)
        bound = e.low if direction == "greater" else e.high  # thresholds near the bound: both outcomes occur
        threshold = bound + float(rng.normal(0, 0.1)) * (e.high - e.low)
        p = p_value_crossed(d, direction=direction, threshold=threshold)
        beyond = e.low > threshold if direction == "greater" else e.high < threshold
        agree += (p < one_sided_alpha(0.95)) == beyond
        beyond_count += beyond
    assert agree == 200 and 20 <= beyond_count <= 180


def test_crossed_degenerate_cases() -> None:
    one = Estimate.crossed(D_3X4[:1])  # one seed: no interval
    assert one.n == 1 and math.isnan(one.low) and verdict(one, direction="greater") == INCONCLUSIVE
    assert math.isnan(p_value_crossed(D_3X4[:1], direction="greater"))
    flat = Estimate.crossed(np.full((3, 5), 0.25))  # no spread: the point
    assert (flat.low, flat.mean, flat.high, flat.sd) == (0.25, 0.25, 0.25, 0.0)
    assert p_value_crossed(np.full((3, 5), 0.25), direction="greater") == 0.0
    assert p_value_crossed(np.full((3, 5), 0.25), direction="less") == 1.0
    assert Estimate.crossed(np.empty((0, 0))).n == 0 and str(Estimate.crossed(np.empty((0, 0)))) == "n/a"
    spread = np.tile(np.linspace(-1.0, 1.0, 5), (3, 1))  # equal seeds: only the clip part, on 4 df
    assert p_value_crossed(9.0 + spread, direction="greater") == pytest.approx(
        float(stats.t.sf(9.0 / math.sqrt(0.625 / 5), 4)), rel=1e-6)  # MS_clip = 3 * 0.625, V = MS_clip / 15
    assert p_value_crossed(100.0 + np.tile(np.linspace(-1.0, 1.0, 400), (3, 1)), direction="greater") == 0.0  # < 1e-300
    with pytest.raises(ValueError, match="interval='crossed' needs the per-clip hits"):
        Estimate.of([0.1, 0.2], method="crossed")
    with pytest.raises(ValueError, match=r"\(seeds, clips\) matrix"):
        Estimate.crossed(np.ones(4))
    assert (describe_test("difference", "crossed", 5, "seeds")
            == "paired difference; one-sided test, seed + clip interval (Banerjee); n=5 seeds")


def test_bracket_pairs_compares_with_the_harder_neighbour_chosen_on_select() -> None:
    costs = {"b1": 1.0, "b2": 1.5, "b3": 2.0, "b4": 6.0, "x": 1.2, "y": 2.0, "gap": 3.0, "cheap": 0.5, "dear": 9.0}
    select = {"b1": {0: 0.50, 1: 0.52}, "b2": {0: 0.62, 1: 0.60}, "b3": {0: 0.58, 1: 0.60}, "b4": {0: 0.7, 1: 0.7}}
    a, b = ["x", "y", "gap", "cheap", "dear"], ["b1", "b2", "b3", "b4"]
    pairs, left_out = bracket_pairs(select, costs, a, b)
    # x: between b1 and b2, b2 higher on select; y: b3 has its cost exactly (b2 is better, but not at x's cost);
    # gap: 2.0 to 6.0 is 3x > 2; cheap, dear: outside the b arms' costs
    assert pairs == [("x", "b2"), ("y", "b3")] and left_out == ["gap", "cheap", "dear"]
    assert bracket_pairs(select, costs, a, b, direction="less")[0] == [("x", "b1"), ("y", "b3")]  # lower is harder
    assert bracket_pairs(select, costs, ["gap"], b, max_ratio=3.0)[0] == [("gap", "b4")]  # 0.70 > 0.59
    test = {"x": {0: 0.7, 1: 0.8}, "y": {0: 0.6, 1: 0.6}, **select}
    assert replicate_effects(test, pair_weights(pairs)) == pytest.approx([(0.7 - 0.62 + 0.6 - 0.58) / 2,
                                                                          (0.8 - 0.60 + 0.6 - 0.60) / 2])
    tied = {**costs, "b2b": 1.5}  # two b arms at the nearest cost: both are candidates
    select_tied = {**select, "b2b": {0: 0.9, 1: 0.9}}
    assert bracket_pairs(select_tied, tied, ["x"], [*b, "b2b"])[0] == [("x", "b2b")]
    with pytest.raises(ValueError, match="max_ratio=0.5"):
        bracket_pairs(select, costs, a, b, max_ratio=0.5)
    with pytest.raises(ValueError, match="direction='up'"):
        bracket_pairs(select, costs, a, b, direction="up")
    with pytest.raises(ValueError, match="no replicate of b1, b2 in the validation values"):
        bracket_pairs({}, costs, ["x"], b)
    # the adequacy rule left the two neighbours no seed in common: each is judged on its own seeds
    disjoint = {**select, "b1": {0: 0.70}, "b2": {1: 0.60}}
    assert bracket_pairs(disjoint, costs, ["x"], b)[0] == [("x", "b1")]
    with pytest.raises(ValueError, match="must be finite and > 0"):
        bracket_pairs(select, {**costs, "b1": 0.0}, a, b)


def test_the_crossed_p_value_of_two_seeds_far_from_the_threshold_is_finite() -> None:
    """With 1 seed degree of freedom, t at a tiny level is ~1e300: its square overflowed."""
    from search.studies.clips import Crossed

    c = Crossed(mean=0.458, seed_variance=0.01085, clip_variance=0.0, seed_df=1, clip_df=47, seeds=2, clips=48)
    assert c.p_value(0.458) == pytest.approx(float(stats.t.sf(0.458 / math.sqrt(0.01085), 1)))
    assert 0.0 < Crossed(0.9, 1e-6, 1e-6, 1, 47, 2, 48).p_value(0.9) < float(stats.t.sf(0.9 / 2e-3, 1))
