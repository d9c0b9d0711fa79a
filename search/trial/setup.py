"""What every trial of a search shares (`TrialSetup`, passed once with `tune.with_parameters`), a
trial's seed, and the names of what it reports: no torch, no Ray (the engine builds a setup before
either starts)."""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

from search.trial.options import OptimConfig

CURVES = ("val_top1", "val_within_pair", "train_loss")  # reported per epoch as curve_<key>: adequacy reads them
COST_KEYS = ("params", "gmacs", "views", "gmacs_clip", "latency_ms")  # logged to MLflow once, at step 0
# what a failed trial reports for metrics it never measured (Tune checks that a result names the
# objectives; NaN is "not measured", and the results table reads it as null)
UNMEASURED = {"val_top1": math.nan, "val_within_pair": math.nan, "latency_ms": math.nan}
FAULT_ENV = "VIDNAS_INJECT_OOM"  # tests: "PHASE[:SLUG_PART],...": CUDA's OOM error raised in that phase


@dataclass(frozen=True)
class TrialSetup:
    """What every trial of a search shares (passed once with `tune.with_parameters`)."""

    data: str
    epochs: int
    optim: OptimConfig
    seed: int
    cpus: int
    gpus: float
    amp: bool
    loader_workers: int
    tracking_uri: str
    experiment_id: str
    parent_run_id: str
    stored_frames: int  # the store's clip length: with a spec's frames, its evaluation views
    max_gmacs: float | None = None  # over this budget a trial fails at once, untrained
    labels: dict[str, str] | None = None  # arch JSON -> a preset's or arm's name: in front of the run's name,
    #                                        param `preset` (and `arm` for a study's seeded runs)
    test_curve: bool = False  # test metrics every epoch (a benchmark table's learning curves)
    system_metrics_s: float | None = None  # MLflow system metrics (CPU, memory, GPU) every N s
    dataset: Any = None  # the clip store as an MLflow DatasetInput (tracking.dataset_input)
    init: Any = None  # where the weights start (search.trial.options.InitConfig); None: random


def trial_seed(search_seed: int, arch_json: str) -> int:
    """The seed of a search trial: a pure function of the search seed and the architecture."""
    digest = hashlib.sha256(f"{search_seed}:{arch_json}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF
