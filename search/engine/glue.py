"""The Ray Tune settings a search sets around its run: the Ray it runs on, trial names and
directories, SIGTERM as Tune's stop-and-save signal, quiet output, the GPUs this machine has, and
search algorithms that follow a moved directory on resume."""
from __future__ import annotations

import contextlib
import os
import signal
import threading
import warnings
from typing import Any, Iterator

import optuna
import ray
import torch
from ray.tune.search import BasicVariantGenerator, ConcurrencyLimiter, SearchGenerator

from spaces import ArchSpec


@contextlib.contextmanager
def ray_running(address: str | None, *, num_cpus: int | None = None, verbose: int = 1) -> Iterator[None]:
    """Ray for the block: the cluster at `address`, else a Ray of this process's own (never a
    `ray start` on this machine, attached silently), shut down when the block ends. Inside a block
    that already has Ray, nothing is started: a job of several searches (a benchmark's pieces, a
    study's phases) starts Ray once, not once per search."""
    if ray.is_initialized():
        yield
        return
    if address:  # join a cluster (a submitted job uses "auto")
        ray.init(address=address, configure_logging=False, log_to_driver=verbose > 1)
    else:
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, configure_logging=False,
                 log_to_driver=verbose > 1)
    try:
        yield
    finally:
        ray.shutdown()


def trial_name(trial: Any) -> str:
    """`trial_<id>` (Tune's own name, stable across restores)."""
    return f"trial_{trial.trial_id}"


def trial_dirname(trial: Any) -> str:
    """A readable directory: `<id>-<family>-<temporal forms>-<frames>x<crop>`."""
    slug = ArchSpec.from_json(trial.config["arch"]).slug() if "arch" in trial.config else ""
    return f"{trial.trial_id}-{slug}"[:100]


def local_gpus() -> float:
    return float(torch.cuda.device_count()) if torch.cuda.is_available() else 0.0


@contextlib.contextmanager
def sigterm_stops_tune() -> Iterator[None]:
    """SIGTERM does what Ctrl-C does: Tune stops the trials and saves the experiment (SIGUSR1 is
    Tune's stop-and-save signal, like SIGINT). Signals are only handled in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, lambda *_: os.kill(os.getpid(), signal.SIGUSR1))
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def quiet_tune(verbose: int) -> Iterator[None]:
    """No output a user can do nothing about while the search runs: Tune's "excessive experiment
    checkpoint sync" warning (every epoch checkpoints, by design), TensorBoard event files, and below verbose 2 its
    experiment box and result paths (the old reporter at verbosity 0 prints nothing), Optuna's
    per-study log line and the experimental-feature warning of the grouped TPE we chose."""
    settings = {"TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0",
                # Tune's CSV and JSON loggers are listed by the search itself; not TensorBoard's, which
                # vidnas does not use (MLflow tracks) and whose writer thread dies loudly on a full disk
                "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1"}
    if verbose < 2:
        settings["RAY_AIR_NEW_OUTPUT"] = "0"
    previous = {k: os.environ.get(k) for k in settings}
    os.environ.update(settings)
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING if verbose < 2 else level)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
            yield
    finally:
        optuna.logging.set_verbosity(level)
        for k, v in previous.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# Tune 2.60 restores a moved experiment's trials at the new path (`TuneController._restore_trials`)
# but not its search algorithm's: `SearchGenerator` and `BasicVariantGenerator` unpickle the
# experiment spec of the first run, storage path included, so every trial they create after the
# move writes to the old path, where Ray's storage check fails it three times ("Unable to set up
# cluster storage"). These point the restored spec at the storage Tune restored the trials from.

def _point_at(storage: Any, now: Any) -> None:
    storage.storage_filesystem = now.storage_filesystem
    storage.storage_fs_path = now.storage_fs_path
    storage.experiment_dir_name = now.experiment_dir_name


class MovedSearchGenerator(SearchGenerator):
    """Tune's wrapper of a searcher (here around a `ConcurrencyLimiter`, as `tune.run` builds it),
    restored at the storage `now` (a `StorageContext`)."""

    def __init__(self, searcher: Any, now: Any) -> None:
        super().__init__(searcher)
        self._now = now

    def set_state(self, state: dict) -> None:
        super().set_state(state)
        if self._experiment is not None:
            _point_at(self._experiment.spec["storage"], self._now)


class MovedVariantGenerator(BasicVariantGenerator):
    """Tune's grid and random generator, restored at the storage `now`."""

    def __init__(self, now: Any, max_concurrent: int) -> None:
        super().__init__(max_concurrent=max_concurrent)
        self._now = now

    def set_state(self, state: dict) -> None:
        now = self._now  # the state is the first run's __dict__ (ours too, once saved by this class)
        super().set_state(state)
        self._now = now
        for iterator in self._iterators:  # each keeps its spec and the variants it has yet to hand out
            pending = iterator.variants.iterable if iterator.variants is not None else []
            for spec in [iterator.unresolved_spec, *(spec for _, spec in pending)]:
                _point_at(spec["storage"], now)


def moved_search_alg(searcher: Any, max_concurrent: int, now: Any) -> SearchGenerator | BasicVariantGenerator:
    """The search algorithm `tune.run` would build from a Tuner's `searcher` (None for a grid) and
    `max_concurrent_trials`, following the directory to the storage `now`."""
    if searcher is None:
        return MovedVariantGenerator(now, max_concurrent)
    return MovedSearchGenerator(ConcurrencyLimiter(searcher, max_concurrent=max_concurrent), now)
