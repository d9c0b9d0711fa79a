"""A benchmark table: learning curves and costs of every point of a sub-space, as Parquet.

One row per (point, seed, epoch): `point` (its id, search.bench.space.point_id), the point's axes
(backbone, width, layout, temporal_op, gate, big_view, tosa_depth), `seed`, `epoch`, the
validation and test metrics of that epoch (val_top1, ..., test_top1, ...; accuracies in [0, 1]),
`train_loss`, `train_seconds` (cumulative training time), `epoch_seconds` (that epoch's training
and validation time: what a search spends on it), and the point's costs: `params`, `gmacs`
(multiply-adds / 1e9 per clip and view), `latency_ms` (batch-1 forward, measured in the trial),
with `slug`, `spec` (ArchSpec JSON) and `mlflow_run_id`.

The file's metadata (`vidnas.bench`) holds its provenance (code version, store fingerprint, seeds,
device, wall time, the config) and the fixed hypervolume reference point of its objectives.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

CURVE_KEYS = ("val_top1", "val_top5", "val_loss", "val_within_pair", "test_top1", "test_top5", "test_loss",
              "test_within_pair", "train_loss", "train_seconds", "epoch_seconds")
AXES = ("backbone", "width", "layout", "temporal_op", "gate", "big_view", "tosa_depth")
META_KEY = b"vidnas.bench"


@dataclass
class Table:
    rows: list[dict[str, Any]]  # one per (point, seed, epoch)
    objectives: dict[str, str]
    reference: dict[str, float]  # the hypervolume's reference point, per objective (fixed with the table)
    provenance: dict[str, Any]

    @classmethod
    def from_rows(cls, rows: list[dict[str, Any]], points: dict[str, dict[str, Any]], objectives: dict[str, str],
                  provenance: dict[str, Any]) -> Table:
        full = [{**{a: points[r["point"]].get(a) for a in AXES}, **r, "spec": points[r["point"]]["spec"]}
                for r in rows]
        table = cls(full, objectives, {}, provenance)
        table.reference = default_reference(table)
        return table

    # -- views -------------------------------------------------------------------------------

    @property
    def points(self) -> list[str]:
        return list(dict.fromkeys(r["point"] for r in self.rows))

    @property
    def epochs(self) -> int:
        return max(r["epoch"] for r in self.rows)

    @property
    def seeds(self) -> list[int]:
        return sorted({r["seed"] for r in self.rows})

    def curve(self, point: str, seed: int | None = None) -> list[dict[str, Any]]:
        """The point's rows by epoch (at `seed`, default the table's first seed)."""
        seed = self.seeds[0] if seed is None else seed
        rows = sorted((r for r in self.rows if r["point"] == point and r["seed"] == seed), key=lambda r: r["epoch"])
        if not rows:
            raise KeyError(f"{point} at seed {seed} is not in the table")
        return rows

    def final(self, seed: int | None = None) -> dict[str, dict[str, Any]]:
        """point -> its last epoch's row (at `seed`, default the first)."""
        seed = self.seeds[0] if seed is None else seed
        last = self.epochs
        return {r["point"]: r for r in self.rows if r["epoch"] == last and r["seed"] == seed}

    def restrict(self, backbones: dict[str, dict[str, list[Any]]]) -> Table:
        """The table of a sub-space: `backbones` gives, per kept backbone, the axes values kept
        (e.g. `{"inception_v1": {"widths": [0.125]}}`); its provenance declares that sub-space,
        so a replay samples only points it holds. The reference point stays the parent's."""
        config = json.loads(json.dumps(self.provenance["config"]))
        axes = {}
        for name, keep in backbones.items():
            axes[name] = dict(config["backbones"][name])
            for axis, values in keep.items():
                axes[name][axis] = [v for v in axes[name][axis] if v in values]
        singular = {"layouts": "layout", "temporal_ops": "temporal_op", "widths": "width", "gates": "gate",
                    "big_views": "big_view", "tosa_depths": "tosa_depth"}

        def kept(r: dict[str, Any]) -> bool:
            a = axes.get(r["backbone"])
            return a is not None and all(r[singular[k]] is None or r[singular[k]] in v for k, v in a.items())

        config["backbones"] = axes
        config["warm_start"] = {k: v for k, v in config.get("warm_start", {}).items() if v["backbone"] in axes and all(
            value in axes[v["backbone"]].get(plural, [value]) for plural, one in singular.items()
            if (value := v.get(one)) is not None)}
        parent = {k: v for k, v in self.provenance.items() if k != "config"}
        return Table([r for r in self.rows if kept(r)], self.objectives, dict(self.reference),
                     {**parent, "config": config, "restricted_from": config["name"], "restriction": backbones})

    # -- storage -----------------------------------------------------------------------------

    def write(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pylist(self.rows)
        meta = {"objectives": self.objectives, "reference": self.reference, "provenance": self.provenance}
        table = table.replace_schema_metadata({META_KEY: json.dumps(meta).encode()})
        tmp = path.with_suffix(".tmp")
        pq.write_table(table, tmp, compression="zstd")
        tmp.replace(path)
        return path

    @classmethod
    def read(cls, path: str | Path) -> Table:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such benchmark table")
        table = pq.read_table(path)
        meta = json.loads((table.schema.metadata or {}).get(META_KEY, b"{}"))
        if "objectives" not in meta:
            raise ValueError(f"{path}: not a vidnas benchmark table (no {META_KEY.decode()} metadata)")
        return cls(table.to_pylist(), meta["objectives"], meta["reference"], meta["provenance"])


def default_reference(table: Table) -> dict[str, float]:
    """Accuracies: 0; costs: 1.1 x the table's largest (hypervolume over log10 of costs)."""
    ref = {}
    for metric, mode in table.objectives.items():
        values = [r[metric] for r in table.rows if isinstance(r.get(metric), (int, float)) and not math.isnan(r[metric])]
        ref[metric] = 0.0 if mode == "max" else 1.1 * max(values)
    return ref
