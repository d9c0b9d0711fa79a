"""Checks of a search config against what it will meet, before anything starts: the clip store,
the sampler's grid, the budget, and the machines. Each failure is one line naming the field.

`SearchConfig` checks a config on its own (types, ranges, names); these need the store, the space
or the cluster's resources.
"""
from __future__ import annotations

import dataclasses
import itertools
import math
import random
from typing import Any

from search.engine.config import ConfigError, SearchConfig
from spaces.bounds import SpaceBounds
from spaces.sample import sample_arch
from spaces.spec import SpecError

MAX_GRID_POINTS = 5000  # a larger grid is checked on this many of its points, drawn at random


def check_store(cfg: SearchConfig, meta: Any) -> None:
    """The store can feed the space and report every objective."""
    for frames in cfg.space.frames:
        if frames > meta.frames:
            raise ConfigError(f"space.frames={frames}: the store's clips have {meta.frames} frames")
    if "val_within_pair" in cfg.objectives and not meta.pairs:
        raise ConfigError(f"objectives: val_within_pair needs classes paired by time reversal, and store "
                          f"'{meta.name}' declares no pairs; use val_top1")
    for split in ("train", "val"):
        if not meta.splits.get(split):
            raise ConfigError(f"data={cfg.data}: the store has no {split} clips; a search trains on train and "
                              f"selects on val")


class _Missing(Exception):
    pass


class _GridTrial:
    """Stands in for an Optuna trial while the space is walked with one grid point."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.params, self.asked = params, set()

    def suggest_categorical(self, name: str, choices: list[Any]) -> Any:
        self.asked.add(name)
        if name not in self.params:
            raise _Missing(name, choices)
        if self.params[name] not in choices:
            raise ConfigError(f"grid.{name}={self.params[name]!r}: not a choice of the space; choices: {choices}")
        return self.params[name]

    def set_constraint(self, key: str, value: float) -> None:
        pass


def check_grid(grid: dict[str, Any], bounds: SpaceBounds, seed: int = 0) -> int:
    """Every point of the grid names a value for each parameter the space asks at that point, and
    every grid parameter is asked somewhere. Returns the number of grid points."""
    for name, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"grid.{name}={values!r}: must be a non-empty list of values")
        if any(isinstance(v, (list, dict)) for v in values):
            raise ConfigError(f"grid.{name}={values!r}: values must be numbers, strings or booleans")
    names = list(grid)
    total = math.prod(len(v) for v in grid.values())
    points: Any = itertools.product(*grid.values())
    if total > MAX_GRID_POINTS:
        rng = random.Random(seed)
        points = [tuple(rng.choice(grid[n]) for n in names) for _ in range(MAX_GRID_POINTS)]
    unbudgeted = dataclasses.replace(bounds, max_gmacs=None)
    asked: set[str] = set()
    for point in points:
        trial = _GridTrial(dict(zip(names, point)))
        try:
            sample_arch(trial, unbudgeted)  # type: ignore[arg-type]
        except _Missing as e:
            name, choices = e.args
            raise ConfigError(f"grid: misses parameter '{name}', which the space asks for at "
                              f"{dict(zip(names, point))}; add e.g. {name}: {choices}") from None
        except SpecError as e:
            raise ConfigError(f"grid: the point {dict(zip(names, point))} is not an architecture: {e}") from None
        asked |= trial.asked
    unused = [n for n in names if n not in asked]
    if unused:
        raise ConfigError(f"grid.{unused[0]}: not a parameter the space asks for; parameters: {sorted(asked)}")
    return total


def check_gpus(cfg: SearchConfig, available: float, where: str) -> None:
    """GPU trials need GPUs: `available` of them `where` (this machine, or the Ray it runs on)."""
    if cfg.gpus_per_trial > 1:
        raise ConfigError(f"gpus_per_trial={cfg.gpus_per_trial}: a trial trains on one GPU (no data-parallel "
                          f"training); use 1, or a fraction to share a GPU")
    if cfg.gpus_per_trial > 0 and available < cfg.gpus_per_trial:
        raise ConfigError(f"gpus_per_trial={cfg.gpus_per_trial}: {where} has {available:g} GPUs; "
                          f"set gpus_per_trial: 0 to train on CPUs")


def effective_concurrency(cfg: SearchConfig, cpus: float, gpus: float) -> tuple[int, str]:
    """How many trials can run at once, and a line saying what limits it: a warning when
    `concurrency` holds the search below what the resources allow (e.g. 0.25 GPU per trial on one
    GPU allows 4)."""
    per_trial_cpus = cfg.cpus_per_trial + cfg.loader_workers
    resources = {f"CPUs ({cpus:g} / {per_trial_cpus} per trial)": int(cpus // per_trial_cpus)}
    if cfg.gpus_per_trial > 0:
        resources[f"GPUs ({gpus:g} / {cfg.gpus_per_trial:g} per trial)"] = int(gpus // cfg.gpus_per_trial + 1e-9)
    limiting = min(resources, key=lambda k: resources[k])
    allowed = max(1, resources[limiting])
    if cfg.concurrency is None:
        return allowed, f"{allowed} trials at once, as the resources allow: {limiting}"
    n = min(cfg.concurrency, allowed)
    if cfg.concurrency < allowed:
        return n, (f"warning: concurrency={cfg.concurrency} runs {n} trials at once, but the resources allow {allowed} "
                   f"({limiting}); raise it, or leave it out to use them all")
    if cfg.concurrency > allowed:
        return n, f"{n} trials at once, limited by {limiting}; concurrency asks for {cfg.concurrency}"
    return n, f"{n} trials at once"
