"""False-positive rates of the study tests under the null, by simulation.

Each simulated study has 5 seeds and a true effect equal to the threshold (0), and issues its
verdict the way a study does: the t interval of the per-replicate effects, the one-sided t-test's
p-value, Holm over the study's claims. "Reproduced" must then be no more frequent than the nominal
one-sided rate, (1 - 0.95) / 2 = 0.025, within Monte Carlo error: rate <= nominal + 3 standard
errors of a binomial proportion. Everything is seeded, so a failure reproduces.

Run with `-s` to see the measured rates.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import pytest

from search.studies.stats import (
    REPRODUCED, TAU_BOUNDS, Estimate, Values, choices, difference, dominance, holm, matched_cost, one_sided_alpha, p_value,
    rank_agreement, verdict,
)

NOMINAL = one_sided_alpha(0.95)  # 0.025
SEEDS = 5
STUDIES = 4000


def upper(n: int) -> float:
    """The most a rate measured on `n` null studies may exceed nominal by chance: 3 binomial SEs."""
    return NOMINAL + 3 * math.sqrt(NOMINAL * (1 - NOMINAL) / n)


def lower(n: int) -> float:
    """The least it may fall short by: a test far below nominal would be wasting its power."""
    return NOMINAL - 3 * math.sqrt(NOMINAL * (1 - NOMINAL) / n)


def values(draws: np.ndarray, arms: list[str]) -> Values:
    """Values from an (arms, seeds) array: arm -> seed -> metric."""
    return {arm: dict(enumerate(row.tolist())) for arm, row in zip(arms, draws)}


def reproduced(effects: list[float], bounds: tuple[float, float] | None = None, k: int = 1) -> bool:
    """The verdict of one claim ("greater" than 0) standing alone in its study; `k` choices made
    on the way (dominance) are paid for by Bonferroni: interval at 1 - 0.05 / k, p-value times k."""
    p = holm([min(1.0, k * p_value(effects, direction="greater"))])[0]
    estimate = Estimate.of(effects, bounds=bounds, confidence=1 - (1 - 0.95) / k)
    return verdict(estimate, direction="greater", p_adjusted=p, alpha=NOMINAL) == REPRODUCED


def rate(study: Callable[[np.random.Generator], bool], n: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    return sum(study(rng) for _ in range(n)) / n


# Null studies. Every arm's per-seed metric is N(0.5, 0.02^2), independent of its cost.

def difference_study(rng: np.random.Generator) -> bool:
    v = values(rng.normal(0.5, 0.02, (4, SEEDS)), ["a1", "a2", "b1", "b2"])
    return reproduced(difference(v, ["a1", "a2"], ["b1", "b2"]))


COSTS = {"b1": 1.0, "b2": 3.0, "b3": 10.0, "b4": 30.0, "a1": 2.0, "a2": 5.0, "a3": 20.0}


def matched_cost_study(rng: np.random.Generator) -> bool:
    """a arms between b's costs, on a flat curve: at matched cost a and b are equal in truth."""
    arms = ["b1", "b2", "b3", "b4", "a1", "a2", "a3"]
    effects, inside = matched_cost(values(rng.normal(0.5, 0.02, (7, SEEDS)), arms), COSTS,
                                   ["a1", "a2", "a3"], ["b1", "b2", "b3", "b4"])
    assert inside == ["a1", "a2", "a3"]
    return reproduced(effects)


A_ARMS = ["a1", "a2", "a3", "a4", "a5"]  # all as cheap as b and, in truth, exactly as good
DOMINANCE_COSTS = {"a1": 1.0, "a2": 1.5, "a3": 2.0, "a4": 2.5, "a5": 3.0, "b": 3.0}


def dominance_study(held_out: bool, run_sd: float = 0.0) -> Callable[[np.random.Generator], bool]:
    """The same runs scored on a validation and a test split: independent noise (sd 0.02) on
    each, plus a run effect with sd `run_sd` shared by both splits (a lucky seed). With `held_out`
    False the best arm is chosen on the test values it is then tested on (the old `dominance`)."""
    def study(rng: np.random.Generator) -> bool:
        arms = [*A_ARMS, "b"]
        run = rng.normal(0.5, run_sd, (len(arms), SEEDS)) if run_sd else 0.5
        val = values(run + rng.normal(0.0, 0.02, (len(arms), SEEDS)), arms)
        test = values(run + rng.normal(0.0, 0.02, (len(arms), SEEDS)), arms)
        effects, pairs = dominance(val if held_out else test, test, DOMINANCE_COSTS, A_ARMS, ["b"])
        assert list(pairs) == ["b"]
        if not held_out:  # the old way: chosen on the very values tested, no adjustment
            return reproduced(effects)
        k = choices(DOMINANCE_COSTS, A_ARMS, ["b"])
        assert k == 5
        return reproduced(effects, k=k)
    return study


RANK_ARMS = [f"arm{i}" for i in range(6)]
RANK_COSTS = {arm: float(2 ** i) for i, arm in enumerate(RANK_ARMS)}


def rank_agreement_study(rng: np.random.Generator) -> bool:
    """Metric independent of cost: the true tau is 0."""
    taus = rank_agreement(values(rng.normal(0.5, 0.02, (6, SEEDS)), RANK_ARMS), RANK_COSTS, RANK_ARMS)
    return reproduced(taus, bounds=TAU_BOUNDS)


@pytest.mark.slow
@pytest.mark.parametrize("name, study, seed", [
    ("difference", difference_study, 1),
    ("matched_cost", matched_cost_study, 2),
    ("rank_agreement", rank_agreement_study, 4),
])
def test_false_positive_rate_is_nominal(name: str, study: Callable[[np.random.Generator], bool], seed: int) -> None:
    measured = rate(study, STUDIES, seed)
    print(f"\n{name}: reproduced in {measured:.4f} of {STUDIES} null studies "
          f"(nominal {NOMINAL:.3f}, bound {upper(STUDIES):.4f})")
    assert lower(STUDIES) <= measured <= upper(STUDIES)


@pytest.mark.slow
@pytest.mark.parametrize("run_sd", [0.0, 0.02, 0.1])
def test_dominance_after_its_choice_is_paid_for_is_at_most_nominal(run_sd: float) -> None:
    """Chosen on val, tested on test, Bonferroni over the 5 arms it chose among: at most nominal
    whatever run effect val and test share (sd 0, as large as the split noise, 5x larger: the
    realistic case, where seeds differ more than two samples of one model's accuracy)."""
    measured = rate(dominance_study(held_out=True, run_sd=run_sd), STUDIES, 3)
    print(f"\ndominance (run sd {run_sd}): reproduced in {measured:.4f} of {STUDIES} null studies "
          f"(bound {upper(STUDIES):.4f}; conservative by design)")
    assert measured <= upper(STUDIES)


@pytest.mark.slow
def test_choosing_and_testing_on_the_same_values_exceeds_nominal() -> None:
    """The contrast: the old dominance (select = test, no adjustment) picks the arm whose noise
    was kindest."""
    biased = rate(dominance_study(held_out=False), STUDIES, 3)
    print(f"\ndominance (select = test, the old way): reproduced in {biased:.4f} of {STUDIES} null studies "
          f"(bound {upper(STUDIES):.4f})")
    assert biased > upper(STUDIES)


CLAIMS = 10
FAMILIES = 3000


@pytest.mark.slow
def test_holm_keeps_the_family_wise_rate_at_nominal() -> None:
    """10 independent null claims per study: without adjustment some claim is "reproduced" in
    about 1 - 0.975^10 = 22% of studies; after Holm in at most 2.5%."""
    rng = np.random.default_rng(5)
    any_raw = any_holm = 0
    for _ in range(FAMILIES):
        effects = rng.normal(0.0, 1.0, (CLAIMS, SEEDS))
        estimates = [Estimate.of(x) for x in effects]
        adjusted = holm([p_value(x, direction="greater") for x in effects])
        any_raw += any(verdict(e, direction="greater") == REPRODUCED for e in estimates)
        any_holm += any(verdict(e, direction="greater", p_adjusted=p) == REPRODUCED
                        for e, p in zip(estimates, adjusted))
    raw, fwer = any_raw / FAMILIES, any_holm / FAMILIES
    print(f"\n{CLAIMS} null claims: some claim reproduced in {raw:.4f} of {FAMILIES} studies unadjusted, "
          f"{fwer:.4f} after Holm (bound {upper(FAMILIES):.4f})")
    assert fwer <= upper(FAMILIES)
    expected_raw = 1 - (1 - NOMINAL) ** CLAIMS
    assert raw >= expected_raw - 3 * math.sqrt(expected_raw * (1 - expected_raw) / FAMILIES) > 3 * upper(FAMILIES)
