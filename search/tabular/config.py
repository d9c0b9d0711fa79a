"""One config per benchmark table: `BenchConfig`, from YAML (`safe_load`), unknown keys rejected.

Example (configs/bench/demo_cpu.yaml):

    name: demo_cpu
    data: data/demo
    epochs: 8
    backbones:
      inception_v1: {layouts: [2d, top1, bottom1, 3d], temporal_ops: [3d, separable], gates: [off, temporal]}
      resnet50: {layouts: [2d, 3d], big_views: [off, all]}
    warm_start:
      s3d_g: {backbone: inception_v1, layout: 3d, temporal_op: separable, gate: temporal}
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from search.engine.config import OBJECTIVE_METRICS, ConfigError, check_init, parse_dataclass, read_yaml
from search.tabular.space import Axes, complete_point, enumerate_points, point_id
from search.trial.options import InitConfig, OptimConfig
from spaces.schema import SpecError


@dataclass(frozen=True)
class BenchConfig:
    name: str
    data: str  # the clip store every point trains on
    backbones: dict[str, Axes]
    storage: str = "results/bench"  # the engine's search directories: STORAGE/NAME-s<seed>-<hash>, one a piece
    out: str = "bench/tables"  # the table: OUT/NAME.parquet; its finished pieces: OUT/NAME.parts/
    piece: int = 16  # points a piece (one search; what a new machine can lose)
    epochs: int = 8
    frames: int = 8
    crop: int = 32
    depth: float = 0.34  # block multiplier of every skeleton
    temporal_kernel: int = 3
    seed: int = 0  # every point is trained with this seed
    noise_seed: int = 1  # ... and every `noise_every`-th point (in enumeration order) once more with this one
    noise_every: int = 6  # 1: every point at both seeds (the replay draws one of them per trial)
    front_seed: int | None = None  # then the points within `front_sds` seed SDs of the front once more
    front_sds: float = 1.0
    objectives: dict[str, str] = field(default_factory=lambda: {"val_top1": "max", "gmacs": "min"})
    warm_start: dict[str, dict[str, Any]] = field(default_factory=dict)  # named points: the papers' designs
    concurrency: int = 2
    cpus_per_trial: int = 1
    gpus_per_trial: float = 0.0
    optim: OptimConfig = field(default_factory=OptimConfig)
    init: InitConfig | None = None  # where every point's weights start; default: random
    address: str | None = None  # a Ray cluster; default: a local Ray

    def __post_init__(self) -> None:
        if not self.backbones:
            raise ConfigError("backbones: must name at least one backbone with its axes")
        for name, axes in self.backbones.items():
            try:
                axes.check(name)
            except SpecError as e:
                raise ConfigError(str(e)) from None
        for name in ("epochs", "frames", "crop", "noise_every", "piece", "concurrency", "cpus_per_trial"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)!r}: must be an integer >= 1")
        if self.noise_seed == self.seed:
            raise ConfigError(f"noise_seed={self.noise_seed}: must differ from seed (it measures seed noise)")
        if self.front_seed is not None and self.front_seed in (self.seed, self.noise_seed):
            raise ConfigError(f"front_seed={self.front_seed}: must differ from seed and noise_seed")
        if not (isinstance(self.front_sds, (int, float)) and self.front_sds >= 0):
            raise ConfigError(f"front_sds={self.front_sds!r}: must be a number >= 0 (seed SDs from the front)")
        for metric, mode in self.objectives.items():
            if OBJECTIVE_METRICS.get(metric) != mode:
                raise ConfigError(f"objectives.{metric}={mode!r}: valid objectives are "
                                  f"{', '.join(f'{k}: {v}' for k, v in OBJECTIVE_METRICS.items())}")
        check_init(self.init)
        ids = {point_id(p) for p in self.points()}
        for name, point in self.warm_start.items():
            if point_id(self.complete(point)) not in ids:
                raise ConfigError(f"warm_start.{name}: {point} is not a point of this benchmark's space")

    def points(self) -> list[dict[str, Any]]:
        return enumerate_points(self.backbones)

    def complete(self, point: dict[str, Any]) -> dict[str, Any]:
        """A partial point (a warm start) with its backbone's single-valued axes filled in."""
        if point.get("backbone") not in self.backbones:
            raise ConfigError(f"warm_start: backbone {point.get('backbone')!r} is not one of {list(self.backbones)}")
        return complete_point(point, self.backbones)

    @property
    def table_path(self) -> Path:
        return Path(self.out) / f"{self.name}.parquet"

    @classmethod
    def from_yaml(cls, path: str | Path) -> BenchConfig:
        data = read_yaml(path, "benchmark")
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: must be a mapping of settings")
        backbones = data.get("backbones")
        if not isinstance(backbones, dict):
            raise ConfigError(f"backbones={backbones!r}: must map backbone names to their axes")
        axes = {}
        for name, value in backbones.items():
            if not isinstance(value, dict):
                raise ConfigError(f"backbones.{name}={value!r}: must be a mapping of axes")
            axes[name] = parse_dataclass(Axes, value, f"backbones.{name}.")
        return parse_dataclass(cls, {**data, "backbones": axes}, "")

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self)))
