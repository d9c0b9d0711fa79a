"""The peer's MOASHA, corrected: Syne Tune 0.16's `NonDominatedPriority` gives `Bracket` an order
of indices where it expects one score per trial (search.tabular.peer). On the same rungs, the
released priority stops trials that dominate every recorded one; the corrected one never does."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("syne_tune")

from syne_tune.optimizer.schedulers.asha import Bracket  # noqa: E402
from syne_tune.optimizer.schedulers.multiobjective.multiobjective_priority import NonDominatedPriority  # noqa: E402

from syne_tune.config_space import choice  # noqa: E402

from search.tabular.peer import make_scheduler, peer_replay, position_priority  # noqa: E402
from search.tabular.table import Table  # noqa: E402
from tests.search.test_bench import SMALL  # noqa: E402


@pytest.fixture(scope="module")
def small() -> Table:
    return Table.read(SMALL)


def decide(priority, recorded: list[tuple[float, float]], new: tuple[float, float], eta: int = 3) -> str:
    """The decision on `new` at a rung where `recorded` (val error, GMACs; both minimized) are."""
    bracket = Bracket(min_t=1, max_t=9, reduction_factor=eta, s=0, priority=priority)
    for i, (err, cost) in enumerate(recorded):
        bracket.on_result(trial_id=i, cur_iter=1, metrics={"val_error": err, "gmacs": cost})
    return bracket.on_result(trial_id=len(recorded), cur_iter=1, metrics={"val_error": new[0], "gmacs": new[1]})


def test_the_released_priority_stops_a_trial_that_dominates_every_recorded_one() -> None:
    """The minimal reproduction of docs/bench/peer-defect.md: recorded best first, the new trial
    better than all on both objectives; the order is [3, 0, 1, 2], and its last entry (2) reads as
    the new trial's rank 2/4 > 1/3."""
    recorded, new = [(0.1, 1.0), (0.2, 2.0), (0.3, 3.0)], (0.05, 0.5)
    assert NonDominatedPriority()(np.array([*recorded, new])).tolist() == [3, 0, 1, 2]
    assert decide(NonDominatedPriority(), recorded, new) == "STOP"
    assert position_priority()(np.array([*recorded, new])).tolist() == [1, 2, 3, 0]
    assert decide(position_priority(), recorded, new) == "CONTINUE"


def test_the_corrected_priority_never_stops_a_dominating_trial_on_random_rungs() -> None:
    rng = np.random.default_rng(0)
    stopped = {"released": 0, "corrected": 0}
    for _ in range(300):
        recorded = [tuple(x) for x in rng.uniform(0.1, 1.0, size=(int(rng.integers(1, 12)), 2))]
        new = (min(r[0] for r in recorded) * 0.9, min(r[1] for r in recorded) * 0.9)
        stopped["released"] += decide(NonDominatedPriority(), recorded, new) == "STOP"
        stopped["corrected"] += decide(position_priority(), recorded, new) == "STOP"
    assert stopped["corrected"] == 0
    assert stopped["released"] >= 100, stopped  # measured: about half of them


def test_the_corrected_priority_still_stops_the_dominated() -> None:
    """The fix keeps successive halving: a trial dominated by every recorded one is stopped."""
    rng = np.random.default_rng(1)
    for _ in range(100):
        recorded = [tuple(x) for x in rng.uniform(0.1, 1.0, size=(int(rng.integers(3, 12)), 2))]
        new = (max(r[0] for r in recorded) * 1.1, max(r[1] for r in recorded) * 1.1)
        assert decide(position_priority(), recorded, new) == "STOP"


def test_the_peer_strategies_use_the_corrected_priority_unless_told_otherwise() -> None:
    """`peer:moasha` is the corrected peer (every replay and figure that names it), at its own
    rungs or ours; `peer:moasha_upstream` is the release, kept to show the defect."""
    recorded, new = [(0.1, 1.0), (0.2, 2.0), (0.3, 3.0)], (0.05, 0.5)
    space = {"point": choice(["a", "b"]), "epochs": 9}
    for name, expected in (("peer:moasha", "CONTINUE"), ("peer:moasha/eta=2/min=2", "CONTINUE"),
                           ("peer:moasha_upstream", "STOP")):
        scheduler = make_scheduler(name, space, epochs=9, seed=0)
        rung = min(milestone for milestone, _ in scheduler.brackets[0].rungs)
        decision = decide(scheduler.brackets[0].priority, recorded, new, eta=scheduler.reduction_factor)
        assert decision == expected, name
        assert rung == (2 if "min=2" in name else 1)
    with pytest.raises(ValueError, match="peer:moasha_upstream"):
        make_scheduler("peer:hyperband", space, epochs=9, seed=0)


def test_the_corrected_and_released_peers_replay_differently(small) -> None:
    def trials(name):
        run = peer_replay(small, name, seed=0, workers=4, budget=0.5)
        return [(t["point"], t["state"], t["epochs"]) for t in sorted(run.trials, key=lambda t: int(t["trial_id"]))]
    assert trials("peer:moasha/min=2") == trials("peer:moasha/min=2")
    assert trials("peer:moasha/min=2") != trials("peer:moasha_upstream/min=2")


def test_the_peers_clock_is_exact_as_the_replays_is(small) -> None:
    """Syne Tune's simulator as released steps 5 s a wait and charges the scheduler's real seconds
    (search.tabular.peer.exact_clock): on one worker a trial then starts seconds after the last
    ended, and a seed's times differ between runs."""
    def times(name, workers):
        run = peer_replay(small, name, seed=3, workers=workers, budget=0.5)
        return sorted((t["start"], t["end"], t["point"], t["epochs"]) for t in run.trials)
    serial = times("peer:random", 1)
    assert len(serial) >= 5 and serial[0][0] == 0.0
    assert [b[0] - a[1] for a, b in zip(serial, serial[1:])] == [0.0] * (len(serial) - 1)
    assert times("peer:moasha/min=2", 4) == times("peer:moasha/min=2", 4)


def test_a_table_exported_for_syne_tune_loads_and_runs_in_its_simulator(small, tmp_path, capsys, monkeypatch) -> None:
    """`vidnas bench export --format syne-tune`: Syne Tune's own deserialize reads the table back
    value for value, and its simulator (UserBlackboxBackend, a Tuner with random search) runs on it
    and reports the table's own numbers."""
    from syne_tune import StoppingCriterion, Tuner
    from syne_tune.backend.simulator_backend.simulator_callback import SimulatorCallback
    from syne_tune.blackbox_repository.blackbox_tabular import deserialize
    from syne_tune.blackbox_repository.simulated_tabular_backend import UserBlackboxBackend
    from syne_tune.optimizer.baselines import RandomSearch

    from search.tabular.export import CHOICES
    from search.cli.main import main
    from tests.search.test_bench import SMALL

    assert main(["bench", "export", str(SMALL), "--out", str(tmp_path), "--name", "vidnas-small"]) == 0
    assert "written:" in capsys.readouterr().out
    blackbox = deserialize(str(tmp_path / "vidnas-small"))["vidnas-small"]
    assert len(blackbox.hyperparameters) == len(small.points) == len(blackbox.all_configurations())
    assert blackbox.fidelity_values.tolist() == list(range(1, small.epochs + 1))
    by_choices = {tuple("none" if r[c] is None else str(r[c]) for c in CHOICES): r["point"]
                  for r in (small.curve(p)[0] for p in small.points)}
    for config in blackbox.all_configurations()[:8]:
        point = by_choices[tuple(config[c] for c in CHOICES)]
        curve = small.curve(point)
        for epoch in (1, small.epochs):
            got = blackbox.objective_function(config, fidelity={"epoch": epoch})
            row = curve[epoch - 1]
            assert got["metric_val_top1"] == pytest.approx(row["val_top1"], rel=1e-6)
            assert got["metric_test_top1"] == pytest.approx(row["test_top1"], rel=1e-6)
            assert got["metric_gmacs"] == pytest.approx(row["gmacs"], rel=1e-6)
            assert got["metric_elapsed_time"] == pytest.approx(sum(r["epoch_seconds"] for r in curve[:epoch]), rel=1e-5)
    # Syne Tune's simulator on the exported blackbox
    monkeypatch.setenv("SYNETUNE_FOLDER", str(tmp_path / "st"))
    space = dict(blackbox.configuration_space) | {"epochs": small.epochs}
    backend = UserBlackboxBackend(blackbox=blackbox, elapsed_time_attr="metric_elapsed_time",
                                  max_resource_attr="epochs", seed=0)
    callback = SimulatorCallback()
    # the space is conditional (a flat product of the choices has combinations the table lacks):
    # a Syne Tune searcher is handed the table's configurations, or wraps it with add_surrogate
    configs = blackbox.all_configurations()
    order = np.random.default_rng(0).permutation(len(configs))  # all: a 7th trial may start before the 6th ends
    scheduler = RandomSearch(space, metrics=["metric_val_error"], random_seed=0,
                             points_to_evaluate=[configs[i] | {"epochs": small.epochs} for i in order])
    tuner = Tuner(trial_backend=backend, scheduler=scheduler,
                  n_workers=2, sleep_time=0, stop_criterion=StoppingCriterion(max_num_trials_finished=6),
                  callbacks=[callback], results_update_interval=1e9, print_update_interval=1e9, save_tuner=False)
    tuner.run()
    frame = callback.dataframe()
    finished = frame[frame["epoch"] == small.epochs]
    assert len(finished) >= 6 and frame["trial_id"].nunique() >= 6
    for _, row in finished.iterrows():
        point = by_choices[tuple(str(row[f"config_{c}"]) for c in CHOICES)]
        assert row["metric_val_top1"] == pytest.approx(small.curve(point)[-1]["val_top1"], rel=1e-6)
