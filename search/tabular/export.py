"""A benchmark table in Syne Tune's blackbox format, for other tools' simulators.

    vidnas bench export bench/tables/demo_cpu.parquet --format syne-tune --out OUT

writes OUT/NAME/ as Syne Tune's blackbox repository serializes a `BlackboxTabular` (its own
`serialize`): `hyperparameters.parquet`, `configspace.json`, `fidelity_space.json`,
`objectives_evaluations.npy` (points x seeds x epochs x objectives), `fidelities_values.npy`
and `metadata.json` with the table's provenance. Load it with
`syne_tune.blackbox_repository.blackbox_tabular.deserialize("OUT/NAME")` (or copy it into the
repository's folder and use `load_blackbox(NAME, local_files_only=True)`).

Hyperparameters are the table's design choices per point (backbone, width, layout, temporal op,
gate, big view, T-OSA depth), each a categorical; one that does not apply to a point reads "none".
The space is conditional and Syne Tune's spaces are not: the product of the choices holds
combinations the table lacks, so a searcher is handed `all_configurations()` (e.g. as
`points_to_evaluate`), or the blackbox is wrapped with Syne Tune's `add_surrogate`. Objectives per epoch:
`metric_val_error` (1 - val top-1) and `metric_val_top1`, `metric_test_top1`, `metric_gmacs`
(GMACs per view; the table's views are in its config), `metric_params`, `metric_latency_ms` and
`metric_elapsed_time` (cumulative seconds of training and validation: what a simulator charges).
Only seeds every point was trained at are exported (the table trains every 6th point at a second
seed: those repeats stay in the Parquet table).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from search.tabular.table import Table

CHOICES = ("backbone", "width", "layout", "temporal_op", "gate", "big_view", "tosa_depth")
OBJECTIVES = ("metric_val_error", "metric_val_top1", "metric_test_top1", "metric_gmacs", "metric_params",
              "metric_latency_ms", "metric_elapsed_time")
FORMATS = ("syne-tune",)


def _value(row: dict[str, Any], name: str) -> str:
    return "none" if row.get(name) is None else str(row[name])


def to_syne_tune(table: Table, out: Path, name: str) -> Path:
    """Serialize `table` with Syne Tune's own `serialize` into OUT/NAME; returns that folder."""
    import pandas as pd
    from syne_tune.blackbox_repository.blackbox_tabular import BlackboxTabular, serialize
    from syne_tune.config_space import choice, randint

    points, epochs = table.points, table.epochs
    seeds = table.replay_seeds()  # the seeds every point has
    first = {p: table.curve(p)[0] for p in points}
    hyper = pd.DataFrame({c: [_value(first[p], c) for p in points] for c in CHOICES})
    if hyper.duplicated().any():
        raise ValueError(f"table {name}: two points share every design choice; they cannot be told apart")
    space = {c: choice(sorted(set(hyper[c]))) for c in CHOICES}
    evaluations = np.full((len(points), len(seeds), epochs, len(OBJECTIVES)), np.nan)
    for i, p in enumerate(points):
        for j, seed in enumerate(seeds):
            elapsed = 0.0
            for row in table.curve(p, seed):
                elapsed += row["epoch_seconds"]
                evaluations[i, j, row["epoch"] - 1] = [1 - row["val_top1"], row["val_top1"], row["test_top1"],
                                                       row["gmacs"], row["params"], row["latency_ms"], elapsed]
    if np.isnan(evaluations).any():
        raise ValueError(f"table {name}: a point lacks an epoch or a metric; rebuild it (vidnas bench build)")
    blackbox = BlackboxTabular(hyperparameters=hyper, configuration_space=space,
                               fidelity_space={"epoch": randint(1, epochs)}, objectives_evaluations=evaluations,
                               fidelity_values=np.arange(1, epochs + 1), objectives_names=list(OBJECTIVES))
    folder = out / name
    folder.parent.mkdir(parents=True, exist_ok=True)
    provenance = json.loads(json.dumps(table.provenance, default=str))  # JSON-safe
    serialize({name: blackbox}, str(folder), metadata={"source": "vidnas bench export", "seeds": seeds,
                                                       "objectives": table.objectives, "provenance": provenance})
    return folder
