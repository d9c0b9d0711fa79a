"""One config per search: `SearchConfig`, loaded from YAML (`safe_load`), unknown keys rejected.

Example (configs/demo.yaml):

    name: demo
    data: data/demo
    storage: results/demo
    trials: 20
    space: {families: [inception, vov, resnet], widths: [0.125, 0.25], max_gmacs: 0.05}
    objectives: {val_top1: max, gmacs: min}
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from search.errors import ConfigError, SearchError
from search.record.layout import CONFIG_FILE
from search.record.storage import SearchStorage, is_uri, split_search_uri, working_dir
from search.trial.options import InitConfig, OptimConfig
from spaces.bounds import SpaceBounds
from spaces.presets import list_presets, unknown_preset
from spaces.schema import SpecError, decode

SAMPLERS = ("stratified", "tpe", "nsga2", "random", "grid")
# What a search may optimize: validation metrics and costs. Test metrics report; they never select.
# gmacs_clip = GMACs per view x evaluation views (what one clip costs); gmacs = per view
OBJECTIVE_METRICS = {"val_top1": "max", "val_within_pair": "max", "gmacs_clip": "min", "gmacs": "min", "params": "min",
                     "latency_ms": "min"}


@dataclass(frozen=True)
class SearchConfig:
    name: str
    data: str  # clip store: a directory or a pyarrow.fs URI
    storage: str = "results"  # the search directory is STORAGE/NAME
    trials: int = 20
    seed: int = 0
    space: SpaceBounds = field(default_factory=SpaceBounds)
    objectives: dict[str, str] = field(default_factory=lambda: {"val_top1": "max", "gmacs_clip": "min"})
    # stratified (turns over cost strata; the default: confirmed on a held-out benchmark table, README
    # "Search efficiency") | tpe (multivariate, grouped) | nsga2 | random | grid
    sampler: str = "stratified"
    grid: dict[str, list] = field(default_factory=dict)  # sampler grid: parameter -> values
    epochs: int = 8  # full fidelity
    early_stopping: bool = True  # multi-objective successive halving (MO-ASHA) on val_top1 and cost
    min_epochs: int = 2  # the first rung (these two: chosen by `vidnas bench replay`, README)
    reduction_factor: int = 2  # keep the best 1/eta at each rung
    concurrency: int | None = None  # trials at once; None: as many as the cluster's CPUs and GPUs allow
    reproducible_order: bool = False  # decisions independent of the order results arrive in: trials in
    #   batches of `concurrency`, the next batch drawn when the last has ended, rungs compared with earlier batches
    cpus_per_trial: int = 1
    gpus_per_trial: float = 0.0  # a fraction shares a GPU (memory capped to that fraction)
    loader_workers: int = 0  # reader processes per trial
    warm_start: list[str] = field(default_factory=list)  # presets evaluated first, scaled below
    warm_start_width: float = 0.25
    warm_start_depth: float = 0.5
    optim: OptimConfig = field(default_factory=OptimConfig)
    init: InitConfig | None = None  # where every trial's weights start; default: random (search.trial.options)
    amp: bool = True  # bf16 autocast on GPU (not on CPU, where it is slower for these convs)
    system_metrics_s: float | None = 10.0  # each trial's CPU, memory (and GPU) in MLflow every N s; null: off
    test_curve: bool = False  # test metrics every epoch: a benchmark table's record (vidnas bench), never selected on
    max_failures: int = 2  # retries of a crashed trial, from its last checkpoint
    tracking_uri: str | None = None  # default: sqlite:///SEARCH_DIR/mlflow.db
    experiment: str | None = None  # default: the search name
    address: str | None = None  # Ray cluster address; default: a local Ray

    def __post_init__(self) -> None:
        _check(self)

    @property
    def search_dir(self) -> Path:
        """Where this machine reads and writes the search's files: STORAGE/NAME, or for a storage
        URI (s3://...) its working copy (search.record.storage)."""
        return working_dir(self.storage, self.name)

    @property
    def remote(self) -> bool:
        """Whether the search's state lives at a URI (object storage) rather than a directory."""
        return is_uri(self.storage)

    @property
    def experiment_name(self) -> str:
        return self.experiment or self.name

    def resolved_tracking_uri(self) -> str:
        return self.tracking_uri or f"sqlite:///{self.search_dir / 'mlflow.db'}"

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "config") -> SearchConfig:
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: must be a mapping of settings, got {type(data).__name__}")
        return parse_dataclass(cls, data, "")

    @classmethod
    def from_yaml(cls, path: str | Path) -> SearchConfig:
        return cls.from_dict(read_yaml(path, "config"), where=str(path))

    def to_dict(self) -> dict[str, Any]:
        """Plain YAML/JSON values (tuples become lists): `from_dict(to_dict())` gives it back."""
        return json.loads(json.dumps(dataclasses.asdict(self)))


def read_yaml(path: str | Path, what: str) -> Any:
    """A YAML file's contents (`safe_load`; an empty file is {}), or a one-line ConfigError."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such {what} file")
    try:
        return yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{line}") from None


def parse_dataclass(cls: type, data: dict[str, Any], prefix: str) -> Any:
    """A config dataclass from YAML values, by the one converter the specs use (`spaces.schema.
    decode`): its error, one line naming the key, the value and the rule, as a ConfigError."""
    try:
        return decode(cls, data, prefix.removesuffix("."), root="config")
    except SpecError as e:
        raise ConfigError(f"{e.path}={e.value!r}: {e.rule}") from None


def _check(cfg: SearchConfig) -> None:
    def need(ok: bool, name: str, value: Any, rule: str) -> None:
        if not ok:
            raise ConfigError(f"{name}={value!r}: {rule}")

    for name in ("trials", "epochs", "min_epochs", "concurrency", "cpus_per_trial"):
        value = getattr(cfg, name)
        need((name == "concurrency" and value is None) or (isinstance(value, int) and not isinstance(value, bool)
                                                           and value >= 1), name, value,
             "must be an integer >= 1" + (" (or left out: as many as the resources allow)" if name == "concurrency" else ""))
    need(isinstance(cfg.name, str) and cfg.name.replace("-", "").replace("_", "").isalnum(), "name", cfg.name,
         "must be letters, digits, - and _ (it names a directory)")
    need(isinstance(cfg.data, str) and bool(cfg.data), "data", cfg.data, "must be a clip store path or URI")
    need(cfg.system_metrics_s is None or (isinstance(cfg.system_metrics_s, (int, float))
                                          and not isinstance(cfg.system_metrics_s, bool)
                                          and cfg.system_metrics_s >= 1), "system_metrics_s", cfg.system_metrics_s,
         "must be seconds >= 1 between samples, or null for no system metrics")
    need(not (cfg.test_curve and cfg.early_stopping), "test_curve", cfg.test_curve,
         "test metrics every epoch are a benchmark's record; set early_stopping: false (nothing may be decided "
         "while the test split is evaluated)")
    need(isinstance(cfg.storage, str) and bool(cfg.storage), "storage", cfg.storage,
         "must be a directory or a storage URI (s3://bucket/prefix, gs://...)")
    local_tracking = cfg.tracking_uri is None or cfg.tracking_uri.split(":", 1)[0] in ("sqlite", "file")
    need(not (is_uri(cfg.storage) and local_tracking), "tracking_uri", cfg.tracking_uri,
         f"a search stored at {cfg.storage.split('?')[0]} needs an MLflow tracking server (tracking_uri: "
         "http://HOST:PORT, e.g. from `vidnas cluster up`): a local MLflow store cannot live in object storage")
    need(not (cfg.address and local_tracking), "tracking_uri", cfg.tracking_uri,
         f"a search on a Ray cluster (address={cfg.address}) needs an MLflow tracking server (tracking_uri: "
         "http://HOST:PORT, e.g. from `vidnas cluster up`): trials on other nodes cannot write a local store, "
         "and sqlite on a shared mount corrupts under writers from several nodes")
    need(cfg.min_epochs <= cfg.epochs, "min_epochs", cfg.min_epochs, f"must be <= epochs ({cfg.epochs})")
    need(isinstance(cfg.reduction_factor, int) and cfg.reduction_factor >= 2, "reduction_factor",
         cfg.reduction_factor, "must be an integer >= 2")
    need(cfg.sampler in SAMPLERS, "sampler", cfg.sampler, f"must be one of {', '.join(SAMPLERS)}")
    need(cfg.sampler != "grid" or bool(cfg.grid), "grid", cfg.grid, "must map parameters to values for sampler 'grid'")
    need(isinstance(cfg.objectives, dict) and len(cfg.objectives) >= 1, "objectives", cfg.objectives,
         f"must map metrics to max/min, e.g. {{val_top1: max, gmacs_clip: min}}; metrics: {', '.join(OBJECTIVE_METRICS)}")
    for metric, mode in cfg.objectives.items():
        need(isinstance(metric, str) and isinstance(mode, str), "objectives", cfg.objectives,
             "must map metric names to 'max' or 'min'")
        need(not str(metric).startswith("test_"), "objectives", metric,
             "test metrics report results and never select; use its val_ counterpart")
        need(metric in OBJECTIVE_METRICS, "objectives", metric, f"unknown metric; valid: {', '.join(OBJECTIVE_METRICS)}")
        need(mode == OBJECTIVE_METRICS[metric], f"objectives.{metric}", mode,
             f"must be {OBJECTIVE_METRICS[metric]!r} for {metric}")
    need(isinstance(cfg.gpus_per_trial, (int, float)) and 0 <= cfg.gpus_per_trial, "gpus_per_trial",
         cfg.gpus_per_trial, "must be >= 0 (a fraction shares a GPU)")
    need(cfg.gpus_per_trial <= 1 or float(cfg.gpus_per_trial).is_integer(), "gpus_per_trial", cfg.gpus_per_trial,
         "must be a fraction <= 1 or a whole number")
    for name in cfg.warm_start:
        need(isinstance(name, str) and name in list_presets(), "warm_start", name,
             unknown_preset(name))
    check_init(cfg.init)
    need(cfg.optim.optimizer in ("adamw", "sgd"), "optim.optimizer", cfg.optim.optimizer, "must be adamw or sgd")
    need(cfg.optim.lr > 0 and cfg.optim.batch_size >= 1, "optim", cfg.optim, "needs lr > 0 and batch_size >= 1")


def check_init(init: InitConfig | None) -> None:
    """`init:` (search, study and benchmark configs): weights that exist, rules that do."""
    def need(ok: bool, name: str, value: Any, rule: str) -> None:
        if not ok:
            raise ConfigError(f"init.{name}={value!r}: {rule}")

    if init is None:
        return
    need(not is_uri(init.weights) and Path(init.weights).exists(), "weights", init.weights,
         "must be a state dict file or an export directory on this machine")
    need(init.rule in ("mean", "centre"), "rule", init.rule, "must be mean or centre")
    need(isinstance(init.backbone_lr, (int, float)) and 0 < init.backbone_lr <= 1, "backbone_lr", init.backbone_lr,
         "must be in (0, 1]: the fraction of the lr at which all but the classifier train")


def load_search_config(search_dir: str | Path) -> SearchConfig:
    """The config a search runs, from its directory (following it if it was moved since) or from
    its storage URI (its files pulled into this machine's working copy first)."""
    if is_uri(str(search_dir)):
        storage = SearchStorage(*split_search_uri(str(search_dir)))
        storage.pull()
        if not (storage.local / CONFIG_FILE).is_file():
            raise SearchError(f"{search_dir}: not a search (no {CONFIG_FILE} there)")
        cfg = SearchConfig.from_dict(yaml.safe_load((storage.local / CONFIG_FILE).read_text()),
                                     where=f"{search_dir}/{CONFIG_FILE}")
        return dataclasses.replace(cfg, storage=storage.storage, name=storage.name)
    path = Path(search_dir).expanduser().resolve()
    if not (path / CONFIG_FILE).is_file():
        raise SearchError(f"{path}: not a search directory (no {CONFIG_FILE})")
    cfg = SearchConfig.from_dict(yaml.safe_load((path / CONFIG_FILE).read_text()), where=str(path / CONFIG_FILE))
    if cfg.search_dir != path:
        cfg = dataclasses.replace(cfg, storage=str(path.parent), name=path.name)
    return cfg
