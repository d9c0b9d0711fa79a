"""The Ray Tune settings a search sets around its run: trial names and directories, SIGTERM as
Tune's stop-and-save signal, quiet output, the GPUs this machine has."""
from __future__ import annotations

import contextlib
import os
import signal
import threading
import warnings
from typing import Any, Iterator

import optuna
import torch

from spaces import ArchSpec


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
