"""One trial: what it trains (`trainable`: setup and the Tune trainable), the training loop
(`loop`), the device (`device`), metrics (`metrics`)."""
from __future__ import annotations

import importlib
from typing import Any


def __getattr__(name: str) -> Any:
    """Names of the flat `search.trial` module that a search saved before December 2026 pickled
    (e.g. `search.trial.train_trial`), found in `search.trial.trainable` on resume."""
    if name.startswith("__"):
        raise AttributeError(name)
    return getattr(importlib.import_module("search.trial.trainable"), name)
