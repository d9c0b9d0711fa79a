"""Bad configs are refused before anything starts, in one line that names the field.

250 seeded mutations of configs/demo.yaml (a key deleted, a value replaced by another type or an
out-of-range value, an element of a list replaced, an unknown key added) go through what
`vidnas search` does before it starts Ray: parse, then set up the search against a real store.
Each either passes or raises one of the CLI's user errors, whose message is one line naming the
mutated field. Nothing else (a TypeError, a KeyError) may escape: that would be a traceback.
"""
from __future__ import annotations

import copy
import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from search.engine.config import SearchConfig
from search.engine.tuner import Search
from search.errors import is_user_error

ROOT = Path(__file__).parents[2]
N = 250
VALUES = [None, True, False, -1, 0, 1, 2, 3.5, -0.5, 1e9, float("nan"), "", "x", "s3d", "tpe", [], [0], [1.5],
          ["x"], [[1]], [{"a": 1}], {}, {"a": 1}, {"val_top1": "max"}, {"within_pair": "max"}]


def _paths(data: Any, prefix: tuple = ()) -> list[tuple]:
    out = []
    if isinstance(data, dict):
        for key, value in data.items():
            out.append(prefix + (key,))
            out += _paths(value, prefix + (key,))
    elif isinstance(data, list):
        out += [prefix + (i,) for i in range(len(data))]
    return out


def _mutate(base: dict, rng: random.Random) -> tuple[dict, str]:
    data = copy.deepcopy(base)
    path = rng.choice(_paths(data))
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    leaf = path[-1]
    kind = rng.choice(["replace", "replace", "replace", "delete", "unknown"])
    named = next(k for k in reversed(path) if isinstance(k, str))  # a list element: the list's name
    if kind == "delete" and isinstance(parent, dict):
        del parent[leaf]
    elif kind == "unknown" and isinstance(parent, dict):
        named = f"{leaf}x"
        parent[named] = rng.choice(VALUES)
    else:
        parent[leaf] = copy.deepcopy(rng.choice(VALUES))
    return data, named


@pytest.mark.slow  # validates 250 configs against a store (7 s)
def test_250_mutated_configs_never_raise_a_traceback(store: str, tmp_path: Path) -> None:
    base = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text())
    base |= {"data": store, "storage": str(tmp_path / "results"), "warm_start": ["s3d", "tsn_r50"],
             "space": base["space"] | {"frames": [8]}}
    rng = random.Random(0)
    outcomes = {"accepted": 0, "refused": 0}
    for i in range(N):
        data, field = _mutate(base, rng)
        try:
            Search(SearchConfig.from_dict(data))
        except Exception as e:
            assert is_user_error(e), (i, data, repr(e))  # anything else is a traceback for the user
            message = str(e)
            assert "\n" not in message, (i, data, message)
            assert field in message, (i, field, message)
            outcomes["refused"] += 1
        else:
            outcomes["accepted"] += 1
    print(f"\nfuzz: {N} mutated configs, {outcomes['refused']} refused in one line naming the field, "
          f"{outcomes['accepted']} accepted, 0 tracebacks")
    assert outcomes["refused"] >= N // 2 and outcomes["accepted"] >= 10
