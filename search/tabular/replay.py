"""Search strategies replayed against a benchmark table in simulated time.

The strategies are the real search's classes: `FidelityOptunaSearch` over the table's
define-by-run space (search.tabular.space.PointSpace) with the search's samplers
(`search.engine.searcher.make_sampler`, its TPE and GP with any `n_startup_trials`), and
`MOASHAScheduler`, Ray's `ASHAScheduler` (single-objective, on val top-1) or none. Only the trial
runner is simulated: N workers, each trial reporting a table curve one epoch at a time at the
simulated instants its point's `epoch_seconds` give (those of its least-loaded build:
`Table.epoch_seconds`), in time order; the scheduler's answer stops it there (PRUNED in Optuna,
as in a search). A point drawn again is trained again (a search does).
The simulated clock does not count the searcher's own compute; it is measured and reported
(`searcher_seconds`).

Optuna's GPSampler takes this space only in part: it models the intersection of the conditional
space (here `backbone`, the one parameter every point has) and draws the rest with its
independent (random) sampler, at about 0.3 s per draw on 2 CPU cores (47 s over a 156-trial replay).

`uniform` is the baseline every ratio divides by: the table's points in a seeded random order,
each once (uniform random search without replacement over architectures). `random` is Optuna's
RandomSampler over the define-by-run space, which draws the backbone first and then its choices,
with replacement: a backbone with few points has each drawn far more often than one with many.

Seed noise: a trial sees the curve of one seed, drawn at random among the seeds every point of
the table was trained at (`Table.replay_seeds`): what a search would have seen had it trained that
point once. What a strategy has found at time t: its complete trials' Pareto front on the
*validation* accuracy each trial saw (what selects), reported as the hypervolume of those members'
*test* top-1, averaged over every seed of the point (what the architecture is worth), and GMACs,
against the table's fixed reference point, over log10 GMACs. The grid's front and hypervolume use
the seed means throughout.

Example:
    >>> from search.tabular.table import Table                        # doctest: +SKIP
    >>> run = replay(Table.read("bench/tables/demo_cpu.parquet"), Strategy.parse("tpe/moasha"),
    ...              seed=0, workers=4, budget=0.5)                  # doctest: +SKIP
"""
from __future__ import annotations

import heapq
import logging
import math
import random
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna

from search.engine.config import SearchConfig
from search.engine.scheduler import MOASHAScheduler
from search.engine.searcher import FidelityOptunaSearch, make_sampler
from search.engine.strata import StratifiedSampler
from search.pareto import hypervolume, pareto_ranks
from search.tabular.space import Axes, PointSpace, complete_point, point_trial_params
from search.tabular.table import Table

# uniform: the table's points shuffled (no replacement); stratified: the search's sampler that takes
# turns over strata of log GMACs (the cost is known before a trial trains), uniform over architectures
# within one, without replacement (search.engine.strata)
SAMPLERS = ("uniform", "stratified", "random", "tpe", "nsga2", "gp")
SCHEDULERS = ("fifo", "moasha", "asha")


_DEFAULTS = SearchConfig.__dataclass_fields__  # the search's defaults: a part left out of a strategy


@dataclass(frozen=True)
class Strategy:
    """A search strategy: `sampler/scheduler[/warm][/eta=N][/min=N][/startup=N]`; a part left
    out is the search's default (SearchConfig). TPE's and GP's startup trials, when not given, are
    what a real search of the replay's size would use (search.engine.searcher.make_sampler with trials =
    budget x the table's points), so the name reads `startup=auto`.

    The sampler is one of SAMPLERS, or any Optuna sampler by its class name with keyword
    arguments after colons (values read as YAML scalars; `seed` is the replay's):
    `QMCSampler:qmc_type=halton:scramble=true/moasha`, `CmaEsSampler:with_margin=true/fifo`."""

    sampler: str
    scheduler: str = "moasha"
    warm_start: bool = False
    reduction_factor: int = _DEFAULTS["reduction_factor"].default
    min_epochs: int = _DEFAULTS["min_epochs"].default
    n_startup_trials: int | None = None  # TPE and GP; None: as a search of the replay's size

    def __post_init__(self) -> None:
        if self.sampler not in SAMPLERS:
            optuna_sampler(self.sampler)  # raises ValueError naming what is allowed
        if self.scheduler not in SCHEDULERS:
            raise ValueError(f"strategy scheduler {self.scheduler!r}: must be one of {', '.join(SCHEDULERS)}")

    @property
    def name(self) -> str:
        parts = [self.sampler, self.scheduler] + (["warm"] if self.warm_start else [])
        if self.scheduler != "fifo":
            parts += [f"eta={self.reduction_factor}", f"min={self.min_epochs}"]
        if self.sampler in ("tpe", "gp"):  # always spelled out: a cached replay keeps its meaning
            parts.append(f"startup={'auto' if self.n_startup_trials is None else self.n_startup_trials}")
        return "/".join(parts)

    @classmethod
    def parse(cls, text: str) -> Strategy:
        sampler, *rest = text.split("/")
        kwargs: dict[str, Any] = {"sampler": sampler}
        keys = {"eta": "reduction_factor", "min": "min_epochs", "startup": "n_startup_trials"}
        for part in rest:
            if part in SCHEDULERS:
                kwargs["scheduler"] = part
            elif part == "warm":
                kwargs["warm_start"] = True
            elif part == "startup=auto":
                kwargs["n_startup_trials"] = None
            elif "=" in part and part.split("=")[0] in keys and part.split("=")[1].isdigit():
                kwargs[keys[part.split("=")[0]]] = int(part.split("=")[1])
            else:
                raise ValueError(f"strategy {text!r}: unknown part {part!r}; write sampler/scheduler[/warm][/eta=N]"
                                 f"[/min=N][/startup=N] with sampler in {SAMPLERS} or an Optuna sampler's class "
                                 f"name, scheduler in {SCHEDULERS}")
        return cls(**kwargs)


def optuna_sampler(text: str, seed: int = 0) -> optuna.samplers.BaseSampler:
    """`ClassName[:key=value...]`: an Optuna sampler by name, with its arguments and `seed`."""
    import inspect

    import yaml

    name, *args = text.split(":")
    cls = getattr(optuna.samplers, name, None)
    if not (inspect.isclass(cls) and issubclass(cls, optuna.samplers.BaseSampler)) or name.startswith("_"):
        known = sorted(n for n, c in vars(optuna.samplers).items()
                       if inspect.isclass(c) and issubclass(c, optuna.samplers.BaseSampler) and not inspect.isabstract(c)
                       and not n.startswith(("_", "Base", "PartialFixed")))  # those need another sampler
        raise ValueError(f"strategy sampler {name!r}: must be one of {', '.join(SAMPLERS)} or an Optuna sampler "
                         f"(optuna.samplers: {', '.join(known)}), with arguments as :key=value")
    kwargs: dict[str, Any] = {}
    for arg in args:
        key, eq, value = arg.partition("=")
        if not eq or not key.isidentifier():
            raise ValueError(f"strategy sampler {text!r}: argument {arg!r} must be key=value")
        kwargs[key] = yaml.safe_load(value)
    if "seed" in inspect.signature(cls).parameters:
        kwargs.setdefault("seed", seed)
    try:
        with warnings.catch_warnings():  # several are marked experimental; they are what was asked for
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise ValueError(f"strategy sampler {text!r}: {e}") from None


def canonical(name: str) -> str:
    """One spelling per strategy (`tpe/moasha` is also its explicit defaults); the peer's as given."""
    return name if name.startswith("peer:") else Strategy.parse(name).name


@dataclass
class Run:
    """One replay: every trial's start, end and state, and what was found when."""

    strategy: str
    seed: int
    workers: int
    budget_s: float  # simulated seconds
    trials: list[dict[str, Any]] = field(default_factory=list)  # point, seed, start, end, epochs, state
    searcher_seconds: float = 0.0

    def completions(self) -> list[tuple[float, str, int | None]]:
        """(end, point, the seed whose curve it saw) of every complete trial, in time order."""
        return sorted((t["end"], t["point"], t.get("seed")) for t in self.trials if t["state"] == "complete")


@dataclass(frozen=True)
class _SimTrial:
    """What a scheduler reads of a Tune trial."""

    trial_id: str
    config: dict[str, Any]
    status: str = "RUNNING"


def table_axes(table: Table) -> dict[str, Axes]:
    config = table.provenance["config"]["backbones"]
    return {name: Axes(**{k: tuple(v) for k, v in axes.items()}) for name, axes in config.items()}


class ShuffledGrid:
    """Uniform random search without replacement: the table's points in one seeded random order,
    each suggested once (then no more), with the searcher interface the replay calls."""

    def __init__(self, points: list[str], seed: int) -> None:
        self.order = [points[i] for i in np.random.default_rng(seed).permutation(len(points))]

    def suggest(self, trial_id: str) -> dict[str, str] | None:
        return {"point": self.order.pop(0)} if self.order else None

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        pass

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None) -> None:
        pass


class TableCost:
    """A table point's GMACs (what the stratified sampler prices, known before a trial trains)."""

    def __init__(self, gmacs: dict[str, float]) -> None:
        self.gmacs = gmacs

    def __call__(self, value: dict[str, str]) -> float:
        return self.gmacs[value["point"]]


def make_searcher(table: Table, strategy: Strategy, seed: int, budget: float = 1.0) -> FidelityOptunaSearch | ShuffledGrid:
    """The strategy's searcher; `budget` (x the grid's compute) sizes TPE's and GP's startup."""
    if strategy.sampler == "uniform":
        return ShuffledGrid(table.points, seed)
    axes = table_axes(table)
    if strategy.sampler == "stratified":  # the search's own (search.engine.strata), at its defaults
        final = table.mean_final()
        sampler = StratifiedSampler(PointSpace(axes), TableCost({p: final[p]["gmacs"] for p in table.points}), seed=seed)
    elif strategy.sampler in SAMPLERS:
        trials = max(1, round(budget * len(table.points)))  # a search of the replay's size (its startup rule)
        sampler = make_sampler(strategy.sampler, seed, trials, {}, n_startup_trials=strategy.n_startup_trials)
    else:
        sampler = optuna_sampler(strategy.sampler, seed)
    warm = None
    if strategy.warm_start:
        cfg = table.provenance["config"]
        warm = [point_trial_params(complete_point(p, axes), axes) for p in cfg.get("warm_start", {}).values()]
    objectives = table.objectives
    return FidelityOptunaSearch(space=PointSpace(axes), metric=list(objectives), mode=list(objectives.values()),
                                points_to_evaluate=warm or None, sampler=sampler, budget=10**9, search_dir="")


def make_scheduler(table: Table, strategy: Strategy) -> Any:
    if strategy.scheduler == "moasha":
        return MOASHAScheduler(objectives=table.objectives, max_epochs=table.epochs,
                               min_epochs=strategy.min_epochs, reduction_factor=strategy.reduction_factor)
    if strategy.scheduler == "asha":
        from ray.tune.schedulers import ASHAScheduler
        return ASHAScheduler(time_attr="epoch", metric="val_top1", mode="max", max_t=table.epochs,
                             grace_period=strategy.min_epochs, reduction_factor=strategy.reduction_factor)
    return None


def grid_seconds(table: Table) -> float:
    """Worker-seconds to train every point of the table once at full fidelity (exhaustive search)."""
    return sum(sum(table.epoch_seconds(p)) for p in table.points)


def replay(table: Table, strategy: Strategy, *, seed: int, workers: int = 4, budget: float = 1.0) -> Run:
    """Replay `strategy` for `budget` x the exhaustive search's wall time on `workers` workers."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    logging.getLogger("ray.tune").setLevel(logging.ERROR)
    random.seed(seed)
    np.random.seed(seed)  # Ray's ASHA draws its bracket from numpy's global generator
    budget_s = budget * grid_seconds(table) / workers
    seconds = {p: table.epoch_seconds(p) for p in table.points}
    seeds, draws = table.replay_seeds(), np.random.default_rng((seed, 1))  # its own stream: samplers unchanged
    with warnings.catch_warnings():  # TPESampler(group=True) is marked experimental; it is intended
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        searcher = make_searcher(table, strategy, seed, budget)
    scheduler = make_scheduler(table, strategy)
    run = Run(strategy.name, seed, workers, budget_s)
    events: list[tuple[float, int, str, int]] = []  # (time, order, trial id, epoch)
    live: dict[str, dict[str, Any]] = {}
    counter = 0

    def start(now: float) -> bool:
        nonlocal counter
        trial_id = f"{counter:05d}"
        began = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            config = searcher.suggest(trial_id)
        run.searcher_seconds += time.perf_counter() - began
        if not isinstance(config, dict):
            return False
        counter += 1
        curve_seed = seeds[int(draws.integers(len(seeds)))]
        trial = {"trial_id": trial_id, "point": config["point"], "seed": curve_seed, "start": now, "end": None,
                 "epochs": 0, "state": "running", "sim": _SimTrial(trial_id, config),
                 "curve": table.curve(config["point"], curve_seed)}
        live[trial_id] = trial
        if scheduler is not None:
            scheduler.on_trial_add(None, trial["sim"])
        heapq.heappush(events, (now + seconds[trial["point"]][0], counter, trial_id, 1))
        return True

    for _ in range(workers):
        if not start(0.0):
            break
    while events:
        now, _, trial_id, epoch = heapq.heappop(events)
        if now > budget_s:
            break
        trial = live[trial_id]
        row = trial["curve"][epoch - 1]
        last = epoch == table.epochs
        result = {"epoch": epoch, "training_iteration": epoch, "status": "complete" if last else "running",
                  **{m: row[m] for m in table.objectives}}
        trial["epochs"] = epoch
        # as Tune's controller does: the scheduler sees every result; the searcher sees results
        # the scheduler lets through; both are told when the trial ends (finished or stopped)
        decision = "CONTINUE" if scheduler is None else scheduler.on_trial_result(None, trial["sim"], result)
        if decision != "STOP":
            searcher.on_trial_result(trial_id, result)
        if last or decision == "STOP":
            trial["state"], trial["end"] = ("complete" if last else "pruned"), now
            if scheduler is not None:
                scheduler.on_trial_complete(None, trial["sim"], result)
            began = time.perf_counter()
            searcher.on_trial_complete(trial_id, result)
            run.searcher_seconds += time.perf_counter() - began
            del live[trial_id]
            run.trials.append({k: v for k, v in trial.items() if k not in ("sim", "curve")})
            start(now)
        else:
            heapq.heappush(events, (now + seconds[trial["point"]][epoch], counter, trial_id, epoch + 1))
    return run


# -- what was found -------------------------------------------------------------------------


def reported_hv(table: Table, found: list[str] | list[tuple[str, int | None]], *, split: str = "test") -> float:
    """Hypervolume of the validation front of `found`, on the `test` split's accuracy (what is
    reported) or the `val` split's (what may choose: the defaults' rule). `found` holds complete
    trials as (point, the seed whose curve it saw), which chooses the front by that seed's
    validation accuracy, or point ids (the grid), chosen by the seed means; the front's members
    are reported by their seed means."""
    if split not in ("test", "val"):
        raise ValueError(f"split={split!r}: must be 'test' (reports) or 'val' (selects)")
    if not found:
        return 0.0
    mean = table.mean_final()
    acc, cost = list(table.objectives)  # (val_top1: max, gmacs: min)
    unique = list(dict.fromkeys((f, None) if isinstance(f, str) else (f[0], f[1]) for f in found))
    seen = [mean[p][acc] if s is None else table.final(s)[p][acc] for p, s in unique]
    ranks = pareto_ranks([(-v, mean[p][cost]) for (p, _), v in zip(unique, seen)])
    front = list(dict.fromkeys(p for (p, _), r in zip(unique, ranks) if r == 0))
    reported = acc.replace("val_", f"{split}_")
    reference = (table.reference[acc], math.log10(table.reference[cost]))
    return hypervolume([(mean[p][reported], math.log10(mean[p][cost])) for p in front], reference)


def hv_curve(table: Table, run: Run, times: np.ndarray) -> np.ndarray:
    """The reported hypervolume at each of `times` (simulated seconds)."""
    done = run.completions()
    out, found, k = np.zeros(len(times)), [], 0
    for i, t in enumerate(times):
        while k < len(done) and done[k][0] <= t:
            found.append((done[k][1], done[k][2]))
            k += 1
        out[i] = reported_hv(table, found) if found else 0.0
    return out
