"""A benchmark table: learning curves and costs of every point of a sub-space, as Parquet.

One row per (point, seed, epoch): `point` (its id, search.tabular.space.point_id), the point's axes
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from spaces import atomic

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
    _cache: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)  # derived views

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
        if ("final", seed) not in self._cache:
            last = self.epochs
            self._cache["final", seed] = {r["point"]: r for r in self.rows if r["epoch"] == last and r["seed"] == seed}
        return self._cache["final", seed]

    def point_seeds(self) -> dict[str, list[int]]:
        """point -> the seeds it was trained at (with a last epoch)."""
        if "point_seeds" not in self._cache:
            seeds: dict[str, list[int]] = {p: [] for p in self.points}
            for r in self.rows:
                if r["epoch"] == self.epochs:
                    seeds[r["point"]].append(r["seed"])
            self._cache["point_seeds"] = {p: sorted(s) for p, s in seeds.items()}
        return self._cache["point_seeds"]

    def replay_seeds(self) -> list[int]:
        """The seeds every point was trained at: a replayed trial sees one of their curves, drawn
        at random (the seeds only some points have sharpen the grid's means, `mean_final`)."""
        common = set.intersection(*(set(s) for s in self.point_seeds().values()))
        return sorted(common)

    def mean_final(self) -> dict[str, dict[str, float]]:
        """point -> its last epoch's metrics, averaged over every seed it was trained at (the
        grid's front and hypervolume are computed on these); costs as they are."""
        if "mean_final" not in self._cache:
            out = {}
            for p, seeds in self.point_seeds().items():
                rows = [self.final(s)[p] for s in seeds]
                out[p] = {k: sum(r[k] for r in rows) / len(rows) for k, v in rows[0].items()
                          if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in ("seed", "epoch")}
            self._cache["mean_final"] = out
        return self._cache["mean_final"]

    def epoch_seconds(self, point: str) -> list[float]:
        """The point's seconds per epoch in its least-loaded build: of the seeds every point has
        (`replay_seeds`, so no point is charged a minimum over more builds than another), the one
        whose epochs took least in all. Other work on the machine only ever adds time, so the
        fastest build is the nearest to what training the point costs (`bench noise` reports
        how far apart its builds were); one figure per point, whichever seed a replay draws."""
        if ("epoch_seconds", point) not in self._cache:
            curves = [self.curve(point, s) for s in self.replay_seeds()]
            fastest = min(curves, key=lambda c: sum(r["epoch_seconds"] for r in c))
            self._cache["epoch_seconds", point] = [fastest[e]["epoch_seconds"] for e in range(self.epochs)]
        return self._cache["epoch_seconds", point]

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
        with atomic.replacing(path) as tmp:
            pq.write_table(table, tmp, compression="zstd")
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


def seed_sd(table: Table, metric: str = "val_top1") -> float:
    """One run's standard deviation of a final metric over seeds, pooled over the points trained
    at more than one seed (0.0 when none is)."""
    squares, dof = 0.0, 0
    for p, seeds in table.point_seeds().items():
        if len(seeds) > 1:
            values = [table.final(s)[p][metric] for s in seeds]
            m = sum(values) / len(values)
            squares += sum((v - m) ** 2 for v in values)
            dof += len(values) - 1
    return math.sqrt(squares / dof) if dof else 0.0


def near_front(table: Table, sds: float = 1.0) -> list[str]:
    """The points within `sds` seed standard deviations of the validation front: those that one
    run's noise could put on it (their seed-mean accuracy raised by `sds` x `seed_sd` is dominated
    by no other point's mean). They are the ones whose order on the front noise can swap."""
    acc, cost = list(table.objectives)
    mean, lift = table.mean_final(), sds * seed_sd(table, acc)
    out = []
    for p in table.points:
        a, c = mean[p][acc] + lift, mean[p][cost]
        if not any(mean[q][acc] >= a and mean[q][cost] <= c and (mean[q][acc] > a or mean[q][cost] < c)
                   for q in table.points if q != p):
            out.append(p)
    return out


def default_reference(table: Table) -> dict[str, float]:
    """Accuracies: 0; costs: 1.1 x the table's largest (hypervolume over log10 of costs)."""
    ref = {}
    for metric, mode in table.objectives.items():
        values = [r[metric] for r in table.rows if isinstance(r.get(metric), (int, float)) and not math.isnan(r[metric])]
        ref[metric] = 0.0 if mode == "max" else 1.1 * max(values)
    return ref
