from __future__ import annotations

from types import SimpleNamespace

from ray.tune.schedulers import TrialScheduler

from search.scheduler import MOASHAScheduler, crowding, pareto_ranks, survivors


def test_pareto_ranks_by_non_dominated_sorting() -> None:
    # minimize both: (error, cost)
    points = [(0.1, 10.0), (0.2, 5.0), (0.3, 1.0), (0.25, 6.0), (0.4, 12.0)]
    assert pareto_ranks(points) == [0, 0, 0, 1, 2]
    assert pareto_ranks([(1.0, 1.0), (1.0, 1.0)]) == [0, 0]  # equal points do not dominate each other


def test_crowding_prefers_the_ends_of_a_front() -> None:
    d = crowding([(0.0, 3.0), (1.0, 2.0), (2.0, 1.0), (3.0, 0.0)])
    assert d[0] == d[3] == float("inf") and d[1] == d[2] == 4 / 3
    assert survivors([(0.0, 3.0), (1.0, 2.0), (1.1, 1.9), (3.0, 0.0)], 2) == {0, 3}


def _result(epoch: int, top1: float, gmacs: float) -> dict:
    return {"epoch": epoch, "val_top1": top1, "gmacs": gmacs, "status": "running"}


def test_rungs_keep_the_front_and_stop_the_dominated() -> None:
    sched = MOASHAScheduler(objectives={"val_top1": "max", "gmacs": "min"}, max_epochs=9, min_epochs=1,
                            reduction_factor=3)
    assert list(sched.rungs) == [1, 3]
    t = {name: SimpleNamespace(trial_id=name) for name in "abcdef"}
    assert sched.on_trial_result(None, t["a"], _result(1, 0.50, 1.0)) == TrialScheduler.CONTINUE  # first at rung
    assert sched.on_trial_result(None, t["b"], _result(1, 0.40, 2.0)) == TrialScheduler.STOP  # dominated by a
    # slower learner but 10x cheaper: on the front, survives although its accuracy is lowest
    assert sched.on_trial_result(None, t["c"], _result(1, 0.20, 0.1)) == TrialScheduler.CONTINUE
    assert sched.on_trial_result(None, t["d"], _result(2, 0.10, 9.0)) == TrialScheduler.CONTINUE  # no rung at 2
    assert sched.on_trial_result(None, t["e"], _result(3, 0.9, 5.0)) == TrialScheduler.CONTINUE
    done = {"epoch": 1, "val_top1": 0.0, "gmacs": 9.0, "status": "complete"}  # a last epoch is never stopped
    assert sched.on_trial_result(None, t["f"], done) == TrialScheduler.CONTINUE


def test_accuracy_only_ranking_would_have_killed_the_cheap_model() -> None:
    """The same arrivals ranked by accuracy alone (ASHA's top 1/eta) stop the cheap slow starter."""
    sched = MOASHAScheduler(objectives={"val_top1": "max"}, max_epochs=9, min_epochs=1, reduction_factor=3)
    sched.on_trial_result(None, SimpleNamespace(trial_id="a"), _result(1, 0.50, 1.0))
    assert sched.on_trial_result(None, SimpleNamespace(trial_id="c"), _result(1, 0.20, 0.1)) == TrialScheduler.STOP
