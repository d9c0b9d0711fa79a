"""A search saved before the package layout (December 2026) pickled its searcher, scheduler,
callbacks and Tune's trial-name functions under the old module paths; on resume they are found
where they live now. (Checked once by hand on a real search: started with the code before the
layout, interrupted, resumed with this code.)"""
from __future__ import annotations

import pickle
import sys

import pytest

from search.engine import glue
from search.engine.callback import TrackingCallback
from search.engine.moved import OLD_MODULES, alias_old_modules
from search.engine.scheduler import MOASHAScheduler
from search.engine.searcher import FidelityOptunaSearch
from search.trial.setup import TrialSetup


@pytest.fixture
def aliased():
    added = [m for m in OLD_MODULES if m not in sys.modules]
    alias_old_modules()
    yield
    for m in added:
        sys.modules.pop(m, None)
    del sys.modules["search.trial"].__getattr__


@pytest.mark.parametrize("old, expected", [
    ("search.tuner\n_trial_name", glue.trial_name),
    ("search.tuner\n_trial_dirname", glue.trial_dirname),
    ("search.scheduler\nMOASHAScheduler", MOASHAScheduler),
    ("search.searcher\nFidelityOptunaSearch", FidelityOptunaSearch),
    ("search.callback\nTrackingCallback", TrackingCallback),
    ("search.trial\nTrialSetup", TrialSetup),
])
def test_names_pickled_under_the_old_paths_load(aliased, old: str, expected) -> None:
    assert pickle.loads(f"c{old}\n.".encode()) is expected


def test_an_unknown_old_name_is_still_an_error(aliased) -> None:
    with pytest.raises(AttributeError):
        pickle.loads(b"csearch.tuner\nno_such_name\n.")
