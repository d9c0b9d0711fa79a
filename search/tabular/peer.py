"""The peer: Syne Tune's MOASHA and random search on the same table, through Syne Tune's own
simulator (`UserBlackboxBackend` over a `BlackboxTabular`, `SimulatorCallback`), an optional
benchmark dependency (`pip install -e ".[peer]"`).

Syne Tune's configuration spaces are not conditional, so the peer samples the table's points as
one categorical (uniformly over points); vidnas' samplers walk the conditional space (backbone
first). Its objectives are validation error (1 - val_top1) and GMACs, both minimized, with
MOASHA's non-dominated sorting; the simulated clock advances by the table's cumulative
`epoch_seconds`.

Strategies: `peer:moasha[/eta=3][/min=1]` (corrected, below), `peer:moasha_upstream[/...]` (as
released) and `peer:random` (each trial to its last epoch).

**The upstream defect, corrected here.** In Syne Tune 0.16, MOASHA's default priority
(`NonDominatedPriority`) returns `nondominated_sort`'s *order* of a rung's recorded trials (the
indices, best first), and `Bracket.on_result` (`syne_tune/optimizer/schedulers/asha.py`) reads
that vector as each trial's *score* and takes the rank of its last entry: a new trial is judged by
the position of whichever trial sorts last, not by its own. A trial that dominates every recorded
one is stopped whenever the order's last entry is low (`docs/bench/peer-defect.md` has a
reproduction). `PositionPriority` returns each trial's position in that order instead: what
`Bracket` expects of a priority. `tests/search/test_peer.py` shows both behaviours.

**The clock, as the search's replay keeps it.** Syne Tune's simulator, as released, advances its
clock by a fixed `tuner_sleep_time` (5 s) each time the tuner waits for a busy worker, adds the
real seconds spent outside the backend (the scheduler's own compute, so a replay depends on the
machine's load) and 0.05 s delays to each start, result and stop. A freed worker then idles until
the next 5 s tick and a stop lands up to 5 s late: a handicap on short, pruned trials, and replays
of one seed that differ between runs. `replay()` keeps an exact event clock that charges no
searcher compute; the peer gets the same (`exact_clock`): no delays, no real time, and a wait
jumps to the next event.
"""
from __future__ import annotations

import contextlib
import io
import logging
import os
import tempfile
from typing import Any

import numpy as np

from search.tabular.replay import Run, grid_seconds
from search.tabular.table import Table


class PeerUnavailable(RuntimeError):
    """Syne Tune is not installed (the peer is optional)."""


def position_priority() -> Any:
    """Syne Tune's non-dominated sort as `Bracket` reads a priority: one score per trial (its
    position in the sort, 0 = best), not the sort's order of indices."""
    from syne_tune.optimizer.schedulers.multiobjective.multiobjective_priority import NonDominatedPriority

    class PositionPriority(NonDominatedPriority):
        def priority_unsafe(self, objectives: np.ndarray) -> np.ndarray:
            order = np.asarray(super().priority_unsafe(objectives))
            position = np.empty(len(order))
            position[order] = np.arange(len(order))
            return position

    return PositionPriority()


def make_scheduler(name: str, config_space: dict[str, Any], *, epochs: int, seed: int) -> Any:
    """The peer's scheduler for a strategy name, over validation error and GMACs (both minimized)."""
    from syne_tune.optimizer.schedulers.multiobjective.moasha import MOASHA
    from syne_tune.optimizer.schedulers.single_fidelity_scheduler import SingleFidelityScheduler

    kind, *opts = name.removeprefix("peer:").split("/")
    options = {k: int(v) for k, v in (o.split("=") for o in opts)}
    metrics = ["val_error", "gmacs"]
    if kind in ("moasha", "moasha_upstream"):
        priority = position_priority() if kind == "moasha" else None  # None: the released NonDominatedPriority
        return MOASHA(config_space, metrics=metrics, do_minimize=True, time_attr="epoch", max_t=epochs,
                      grace_period=options.get("min", 1), reduction_factor=options.get("eta", 3),
                      multiobjective_priority=priority, random_seed=seed)
    if kind == "random":
        return SingleFidelityScheduler(config_space, metrics=metrics, do_minimize=True, searcher="random_search",
                                       random_seed=seed)  # its multi-objective random searcher
    raise ValueError(f"peer strategy {name!r}: must be peer:moasha[/eta=N][/min=N] (corrected), "
                     "peer:moasha_upstream[/eta=N][/min=N] (as released) or peer:random")


def exact_clock(backend: Any) -> Any:
    """Make BACKEND's simulated clock event-exact and return the `SimulatorCallback` that goes with it:
    no delays (start, result, stop), no real time charged (the time keeper's real seconds are 0), and
    each tuner wait jumps to the backend's next event instead of a fixed 5 s (the fixed step only
    where no event is queued)."""
    from syne_tune.backend.simulator_backend.simulator_backend import SimulatorConfig
    from syne_tune.backend.simulator_backend.simulator_callback import SimulatorCallback
    from syne_tune.backend.simulator_backend.time_keeper import SimulatedTimeKeeper

    class EventTimeKeeper(SimulatedTimeKeeper):
        def real_time_since_last_recent_exit(self) -> float:
            return 0.0

    class EventCallback(SimulatorCallback):
        def on_tuning_sleep(self, sleep_time: float) -> None:
            heap = self._tuner.trial_backend._simulator_state.event_heap
            if heap:
                self._time_keeper.advance_to(heap[0][0])
            else:
                super().on_tuning_sleep(sleep_time)

    backend.simulator_config = SimulatorConfig(delay_on_trial_result=0, delay_complete_after_final_report=0,
                                               delay_complete_after_stop=0, delay_start=0, delay_stop=0)
    backend._time_keeper = EventTimeKeeper()
    return EventCallback()


def peer_replay(table: Table, name: str, *, seed: int, workers: int = 4, budget: float = 1.0) -> Run:
    try:
        import pandas as pd
        from syne_tune import StoppingCriterion, Tuner
        from syne_tune.blackbox_repository.blackbox_tabular import BlackboxTabular
        from syne_tune.blackbox_repository.simulated_tabular_backend import UserBlackboxBackend
        from syne_tune.config_space import choice, randint
    except ImportError as e:
        raise PeerUnavailable(f"the peer needs Syne Tune ({e}); install it with pip install -e '.[peer]'") from None
    for noisy in ("syne_tune", "syne_tune.tuner", "syne_tune.backend"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    points = table.points
    epochs = table.epochs
    names = ["val_error", "gmacs", "elapsed", "test_top1"]
    seeds = table.replay_seeds()  # as replay(): a trial sees one of them, at the point's mean epoch times
    seconds = {p: table.epoch_seconds(p) for p in points}
    evaluations = np.zeros((len(points), len(seeds), epochs, len(names)))
    for i, p in enumerate(points):
        for j, curve_seed in enumerate(seeds):
            elapsed = 0.0
            for row in table.curve(p, curve_seed):
                elapsed += seconds[p][row["epoch"] - 1]
                evaluations[i, j, row["epoch"] - 1] = [1 - row["val_top1"], row["gmacs"], elapsed, row["test_top1"]]
    # a constant second column: Syne Tune 0.16 looks a configuration up with a tuple key, which
    # pandas 3 refuses on a one-column index ("zip() argument 2 is longer than argument 1")
    tag = str(table.provenance.get("config", {}).get("name", "table"))
    space = {"point": choice(points), "table": tag}
    config_space = space | {"epochs": epochs}
    blackbox = BlackboxTabular(hyperparameters=pd.DataFrame({"point": points, "table": [tag] * len(points)}),
                               configuration_space=space,
                               fidelity_space={"epoch": randint(1, epochs)}, objectives_evaluations=evaluations,
                               fidelity_values=np.arange(1, epochs + 1), objectives_names=names)
    # seed None: Syne Tune draws each trial's seed at random (numpy's global generator, seeded below)
    backend = UserBlackboxBackend(blackbox=blackbox, elapsed_time_attr="elapsed", max_resource_attr="epochs",
                                  seed=None if len(seeds) > 1 else 0)
    scheduler = make_scheduler(name, config_space, epochs=epochs, seed=seed)
    # Syne Tune 0.16's random searchers draw from numpy's global generator (`Domain.sample()`
    # without a random state), whatever seed they are given: seed it, as replay() does for Ray
    np.random.seed(seed)
    budget_s = budget * grid_seconds(table) / workers
    callback = exact_clock(backend)
    with tempfile.TemporaryDirectory() as folder:
        previous = os.environ.get("SYNETUNE_FOLDER")
        os.environ["SYNETUNE_FOLDER"] = folder
        try:
            tuner = Tuner(trial_backend=backend, scheduler=scheduler, n_workers=workers, sleep_time=0,
                          stop_criterion=StoppingCriterion(max_wallclock_time=budget_s), callbacks=[callback],
                          results_update_interval=1e9, print_update_interval=1e9, save_tuner=False)
            with contextlib.redirect_stdout(io.StringIO()):  # its banners; the results are the callback's
                tuner.run()
        finally:
            if previous is None:
                os.environ.pop("SYNETUNE_FOLDER", None)
            else:
                os.environ["SYNETUNE_FOLDER"] = previous
    frame = callback.dataframe()
    run = Run(name, seed, workers, budget_s)
    for trial_id, rows in frame.groupby("trial_id"):
        rows = rows.sort_values("epoch")
        last = int(rows["epoch"].max())
        end = float(rows["st_tuner_time"].iloc[-1])
        start = end - float(rows["elapsed"].iloc[-1])
        if end > budget_s:
            continue
        point = str(rows["config_point"].iloc[0])
        if last < epochs and end + seconds[point][last] <= budget_s:
            state = "pruned"  # it would have trained on within the budget: the scheduler stopped it
        elif last < epochs:
            continue  # still running when the budget ran out (as replay() leaves such trials out)
        else:
            state = "complete"
        curve_seed = seeds[backend._seed_for_trial.get(int(trial_id), 0)]  # the seed Syne Tune drew for it
        run.trials.append({"trial_id": str(trial_id), "point": point, "seed": curve_seed, "start": start,
                           "end": end, "epochs": last, "state": state})
    return run
