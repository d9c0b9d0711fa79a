"""Where modules were before the layout of December 2026 (search's flat modules moved into
search.engine, search.trial, search.record and search.cli; search.bench became search.tabular).
A search saved before it pickled its searcher, scheduler and callbacks under the old paths; on
`--resume`, `alias_old_modules()` lets Tune's restore find them. Nothing else reads the old names."""
from __future__ import annotations

import importlib
import sys
import types
from typing import Any

OLD_MODULES = {
    "search.callback": "search.engine.callback", "search.config": "search.engine.config",
    "search.progress": "search.engine.progress", "search.scheduler": "search.engine.scheduler",
    "search.searcher": "search.engine.searcher", "search.tuner": "search.engine.tuner",
    "search.train": "search.trial.loop", "search.device": "search.trial.device", "search.metrics": "search.trial.metrics",
    "search.results": "search.record.results", "search.tracking": "search.record.tracking",
    "search.storage": "search.record.storage", "search.layout": "search.record.layout",
}


# names that moved to another module or were renamed as they moved: (old module, name) -> new
RENAMED = {
    ("search.tuner", "_trial_name"): ("search.engine.glue", "trial_name"),
    ("search.tuner", "_trial_dirname"): ("search.engine.glue", "trial_dirname"),
}


class _OldModule(types.ModuleType):
    """An old module name whose attributes are looked up where they live now."""

    def __init__(self, old: str, new: str) -> None:
        super().__init__(old)
        self._new = new

    def __getattr__(self, name: str) -> Any:
        module, attr = RENAMED.get((self.__name__, name), (self._new, name))
        return getattr(importlib.import_module(module), attr)


def _old_trial_name(name: str) -> Any:
    """The flat `search.trial` module's names (e.g. `TrialSetup`), now that it is a package."""
    if name.startswith("__"):
        raise AttributeError(name)
    return getattr(importlib.import_module("search.trial.trainable"), name)


def alias_old_modules() -> None:
    """Make each old module name resolve in its new module. `search.trial` is a package now, so
    it gets a module `__getattr__` that looks its old names up in `search.trial.trainable`."""
    for old, new in OLD_MODULES.items():
        sys.modules.setdefault(old, _OldModule(old, new))
    importlib.import_module("search.trial").__getattr__ = _old_trial_name
