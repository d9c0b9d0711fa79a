"""A benchmark table built in pieces that outlive the machine.

A table of a few hundred trainings takes longer than a session, a spot instance or a preempted job
lasts, and the engine's search directories (Tune's state, MLflow's store) stay on the machine that
ran them. So `vidnas bench build` trains the points a seed still lacks in groups of `piece` points,
one search each, and writes each finished group to OUT/NAME.parts/ as a table of its own:

    OUT/NAME.parts/s<seed>-<hash of its points>.parquet

with its code version, device, wall time and the machine's load as it ended. The files are small
(about 2 KB a point: 30 KB for 16): commit them as they come, and a new machine loses at most the
group in flight. The table is their union.

A piece counts only for the settings it was trained with (`training_key`: the store's fingerprint,
epochs, frames, crop, depth, temporal kernel, optimiser, init); one trained otherwise is refused,
and so is a point found twice at one seed. And only for the training code it was trained with:
before a code version adds a piece to pieces of another, it retrains one of their points and must
get the same curves, bit for bit (`differs`); the version is then recorded in checks.json.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from search.engine.config import ConfigError
from search.tabular.config import BenchConfig
from search.tabular.table import Table
from spaces import atomic

TRAINING_FIELDS = ("epochs", "frames", "crop", "depth", "temporal_kernel", "optim", "init")
CHECKED = ("train_loss", "val_loss", "val_top1", "test_top1")  # what training decides (times are not)
CHECKS_FILE = "checks.json"


def training_key(cfg: BenchConfig, store_fingerprint: str) -> dict[str, Any]:
    """What decides a point's curves at a seed, besides its architecture."""
    settings = cfg.to_dict()
    return {"store_fingerprint": store_fingerprint, **{k: settings[k] for k in TRAINING_FIELDS}}


def piece_name(seed: int, points: list[str]) -> str:
    return f"s{seed}-{hashlib.sha1(','.join(points).encode()).hexdigest()[:10]}"


class Pieces:
    """The finished pieces of one table (OUT/NAME.parts/)."""

    def __init__(self, cfg: BenchConfig, store_fingerprint: str) -> None:
        self.cfg = cfg
        self.dir = Path(cfg.out) / f"{cfg.name}.parts"
        self.key = training_key(cfg, store_fingerprint)

    def files(self) -> list[Path]:
        return sorted(self.dir.glob("*.parquet")) if self.dir.is_dir() else []

    def tables(self) -> list[tuple[Path, Table]]:
        out = []
        for path in self.files():
            table = Table.read(path)
            theirs = table.provenance.get("training")
            if theirs != self.key:
                diff = ", ".join(f"{k}={(theirs or {}).get(k)!r}" for k in self.key if (theirs or {}).get(k) != self.key[k])
                raise ConfigError(f"{path}: this piece was trained with {diff}, not this config's settings; "
                                  f"move {self.dir} aside (or restore the settings) to build with these")
            out.append((path, table))
        return out

    def done(self) -> dict[tuple[str, int], Path]:
        """(point, seed) -> the piece that holds it."""
        where: dict[tuple[str, int], Path] = {}
        for path, table in self.tables():
            for point, seeds in table.point_seeds().items():
                for seed in seeds:
                    if (point, seed) in where:
                        raise ConfigError(f"{path}: point {point} at seed {seed} is also in {where[point, seed]}; "
                                          "remove one of the two pieces")
                    where[point, seed] = path
        return where

    def add(self, seed: int, points: list[str], table: Table) -> Path:
        held = {(p, s) for p, ss in table.point_seeds().items() for s in ss}
        if held != {(p, seed) for p in points}:
            raise ValueError(f"a piece at seed {seed} must hold exactly its {len(points)} points; it holds {sorted(held)}")
        table.provenance = {**table.provenance, "training": self.key}
        return table.write(self.dir / f"{piece_name(seed, points)}.parquet")

    def checks(self) -> dict[str, Any]:
        """Code version -> the point it retrained to match the pieces (checks.json)."""
        path = self.dir / CHECKS_FILE
        return json.loads(path.read_text()) if path.is_file() else {}

    def record_check(self, version: str, entry: dict[str, Any]) -> None:
        atomic.write_text(self.dir / CHECKS_FILE, json.dumps({**self.checks(), version: entry}, indent=1))

    def union(self, points: dict[str, dict[str, Any]], provenance: dict[str, Any]) -> Table:
        """One table of every piece: rows in point order, then seed; the pieces listed in its provenance."""
        pieces = self.tables()
        if not pieces:
            raise ConfigError(f"{self.dir}: no finished piece yet; `vidnas bench build` trains them")
        self.done()  # refuses duplicates
        order = {p: i for i, p in enumerate(points)}
        rows = sorted((r for _, t in pieces for r in t.rows), key=lambda r: (order[r["point"]], r["seed"], r["epoch"]))
        listed = [{"file": path.name, "seeds": t.seeds, "points": len(t.points), "code_version": t.provenance["code_version"],
                   "device": t.provenance["device"], "wall_seconds": t.provenance["wall_seconds"],
                   "created": t.provenance["created"],
                   **{k: t.provenance[k] for k in ("adopted", "load_avg") if k in t.provenance}}
                  for path, t in pieces]
        versions = list(dict.fromkeys(p["code_version"] for p in listed))
        devices = list(dict.fromkeys(p["device"] for p in listed))
        table = Table.from_rows(rows, points, self.cfg.objectives, {
            **provenance, "code_version": ", ".join(versions), "device": "; ".join(devices),
            "wall_seconds": _wall_by_run(self.cfg, pieces), "training": self.key, "pieces": listed,
            "code_checks": self.checks()})
        return table


def _wall_by_run(cfg: BenchConfig, pieces: list[tuple[Path, Table]]) -> dict[str, float]:
    """Wall seconds per seed's run (NAME, NAME-noise, NAME-front), summed over its pieces."""
    run = {cfg.seed: cfg.name, cfg.noise_seed: f"{cfg.name}-noise"}
    if cfg.front_seed is not None:
        run[cfg.front_seed] = f"{cfg.name}-front"
    out: dict[str, float] = {}
    for _, t in pieces:
        name = run.get(t.seeds[0], f"{cfg.name}-s{t.seeds[0]}")
        out[name] = out.get(name, 0.0) + sum(t.provenance["wall_seconds"].values())
    return out


def differs(reference: Table, retrained: Table, point: str, seed: int) -> str | None:
    """The first metric and epoch where a retrained point's curve is not the reference's, or None."""
    for old, new in zip(reference.curve(point, seed), retrained.curve(point, seed), strict=True):
        for key in CHECKED:
            if old[key] != new[key] and not (old[key] != old[key] and new[key] != new[key]):  # NaN == NaN here
                return f"{key} at epoch {old['epoch']}: {old[key]!r} then, {new[key]!r} now"
    return None
