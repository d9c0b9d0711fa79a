"""The GMACs budget: a draw over it never becomes a trial, never counts toward `trials`, and is
told to Optuna with its constraint value (the real searcher and sampler, no Ray run needed)."""
from __future__ import annotations

import optuna
import pytest

from search.engine.searcher import INFEASIBLE_ATTR, RAY_TRIAL_ATTR, FidelityOptunaSearch, make_sampler
from spaces import ArchSpec, cost
from spaces.bounds import SpaceBounds
from spaces.sample import ArchSpace

BOUNDS = SpaceBounds(families=("resnet", "vov"), backbones=("resnet50", "vov3d_m"), widths=(0.125, 0.25),
                     depths=(0.34,), frames=(8,), crop=32, num_classes=6, temporal_kernels=(3,), tosa_depths=(1, 2))


def _searcher(sampler: str, budget: int, max_gmacs: float) -> FidelityOptunaSearch:
    study = optuna.create_study(directions=["maximize", "minimize"])
    bounds = SpaceBounds(**{**BOUNDS.__dict__, "max_gmacs": max_gmacs})
    return FidelityOptunaSearch(space=ArchSpace(bounds), metric=["val_top1", "gmacs"], mode=["max", "min"],
                                sampler=make_sampler(sampler, 0, budget, {}), budget=budget, search_dir="",
                                study_name=study.study_name, storage=study._storage)


@pytest.mark.slow  # counts the cost of every draw of a TPE study (6 s)
def test_infeasible_draws_never_become_trials_nor_spend_the_budget() -> None:
    probe = _searcher("random", 20, 1e9)
    spent = [cost(ArchSpec.from_json(probe.suggest(f"p{i}")["arch"])).gmacs for i in range(20)]
    budget = sorted(spent)[len(spent) // 2]  # about half the space is over it
    searcher = _searcher("random", 8, budget)
    given = []
    for i in range(8):
        config = searcher.suggest(f"t{i}")
        gmacs = cost(ArchSpec.from_json(config["arch"])).gmacs
        given.append(gmacs)
        searcher.on_trial_complete(f"t{i}", {"status": "complete", "epoch": 2, "val_top1": 0.5, "gmacs": gmacs})
    assert all(g <= budget for g in given)
    assert searcher.suggest("t8") == "FINISHED"  # 8 trials ran: the budget is spent, on feasible trials only
    trials = searcher._ot_study.get_trials(deepcopy=False)
    infeasible = [t for t in trials if t.user_attrs.get(INFEASIBLE_ATTR)]
    feasible = [t for t in trials if not t.user_attrs.get(INFEASIBLE_ATTR)]
    assert len(feasible) == 8 and len(infeasible) >= 2
    assert all(t.state == optuna.trial.TrialState.COMPLETE and RAY_TRIAL_ATTR in t.user_attrs for t in feasible)
    # Optuna holds what constrained sampling needs: a finished trial with a positive constraint value
    assert all(t.state == optuna.trial.TrialState.PRUNED and t.constraints["gmacs_over_budget"] > 0
               and RAY_TRIAL_ATTR not in t.user_attrs for t in infeasible)
    assert all(t.constraints["gmacs_over_budget"] <= 0 for t in feasible)


def test_a_space_with_nothing_under_the_budget_ends_instead_of_looping(monkeypatch, capsys) -> None:
    monkeypatch.setattr("search.engine.searcher.MAX_INFEASIBLE_IN_A_ROW", 3)
    searcher = _searcher("random", 4, 1e-9)
    assert searcher.suggest("t0") == "FINISHED"
    assert len(searcher._ot_study.trials) == 3
    assert "3 draws in a row were over space.max_gmacs" in capsys.readouterr().out
