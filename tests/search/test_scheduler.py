from __future__ import annotations

from types import SimpleNamespace

import pytest

from ray.tune.schedulers import TrialScheduler

from search.engine.scheduler import MOASHAScheduler
from search.pareto import crowding, pareto_ranks, survivors


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


def _stream(n_trials: int = 12, seed: int = 0) -> list[tuple[str, dict]]:
    """Results of n trials arriving asynchronously: each reports epochs 1..8 (rungs at 1, 2, 4)."""
    import random

    rng = random.Random(seed)
    quality = {f"t{i}": (rng.random(), rng.uniform(0.1, 2.0)) for i in range(n_trials)}
    events = [(f"t{i}", e) for i in range(n_trials) for e in range(1, 9)]
    rng.shuffle(events)
    events.sort(key=lambda x: (x[1] + int(x[0][1:]) // 3))  # later trials start later; epochs in order
    return [(t, {"epoch": e, "status": "running", "val_top1": quality[t][0] * e / 8, "gmacs": quality[t][1]})
            for t, e in events]


def _decide(sched: MOASHAScheduler, stream: list[tuple[str, dict]], stopped: set[str]) -> dict:
    decisions = {}
    for trial_id, result in stream:
        if trial_id in stopped:  # Tune sends nothing more for a trial it stopped
            continue
        decision = sched.on_trial_result(None, SimpleNamespace(trial_id=trial_id), result)
        decisions[(trial_id, result["epoch"])] = decision
        if decision == TrialScheduler.STOP:
            stopped.add(trial_id)
    return decisions


def test_a_resumed_scheduler_makes_the_uninterrupted_decisions(tmp_path) -> None:
    """Cut the stream anywhere, start a new scheduler (as a resumed search does: Tune's pickled one
    has empty rungs) from the saved state, replay the results Tune's older snapshot lost, and go
    on: every decision equals the uninterrupted scheduler's."""
    args = {"objectives": {"val_top1": "max", "gmacs": "min"}, "max_epochs": 8, "min_epochs": 1, "reduction_factor": 2}
    stream = _stream()
    straight = _decide(MOASHAScheduler(**args), stream, set())
    assert sum(d == TrialScheduler.STOP for d in straight.values()) >= 4  # the stream exercises the rungs
    differs = []
    for cut in (5, 17, 30, 51):
        state = tmp_path / f"moasha-{cut}.json"
        stopped: set[str] = set()
        first = _decide(MOASHAScheduler(**args, state_file=str(state)), stream[:cut], stopped)
        # the snapshot was older than the last 6 results: Tune sends them again, and a trial stopped
        # among them is not stopped as far as Tune knows
        snapshot = max(0, cut - 6)
        saved = {(t, r["epoch"]) for t, r in stream[:snapshot]}
        known_stopped = {key[0] for key, d in first.items() if d == TrialScheduler.STOP and key in saved}
        resumed = _decide(MOASHAScheduler(**args, state_file=str(state)), stream[snapshot:], known_stopped)
        assert first | resumed == straight, cut
        # without the saved state the rungs start empty (Tune's own restore): other decisions
        fresh = _decide(MOASHAScheduler(**args), stream[cut:], set(stopped))
        differs.append(sum(straight.get(k) != v for k, v in fresh.items()))
    assert all(differs[:3]), differs


def test_a_trial_stopped_before_a_hard_kill_is_stopped_again(tmp_path) -> None:
    args = {"objectives": {"val_top1": "max", "gmacs": "min"}, "max_epochs": 4, "min_epochs": 1, "reduction_factor": 2}
    state = str(tmp_path / "moasha.json")
    sched = MOASHAScheduler(**args, state_file=state)
    assert sched.on_trial_result(None, SimpleNamespace(trial_id="a"), _result(1, 0.5, 1.0)) == TrialScheduler.CONTINUE
    assert sched.on_trial_result(None, SimpleNamespace(trial_id="b"), _result(1, 0.4, 2.0)) == TrialScheduler.STOP
    again = MOASHAScheduler(**args, state_file=state)  # Tune resumes b from its epoch-1 checkpoint
    assert again.on_trial_result(None, SimpleNamespace(trial_id="b"), _result(2, 0.9, 2.0)) == TrialScheduler.STOP
    assert again.stopped == {"b"} and again.rungs[1] == {"a": (-0.5, 1.0), "b": (-0.4, 2.0)}
    with pytest.raises(ValueError, match="rung at epoch 1 is not one of this scheduler's \\[2\\]"):
        MOASHAScheduler(**(args | {"min_epochs": 2}), state_file=state)
