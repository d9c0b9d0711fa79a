"""Studies: a paper's claim as a re-runnable experiment with a verdict.

A study trains fixed architectures (its *arms*: presets, scaled, optionally with block fields
changed) once per seed, all at the same budget, through the search engine (Ray Tune trials,
MLflow runs, a results table). It then measures every arm's latency side by side in one
process, and tests its *claims*: each a statement with a measurable effect, an interval over the
replicates and a verdict (`search.stats`). A study can also run a joint search first and retrain
members of the found Pareto front as arms (`search:` and `retrain_front:`).

    STUDY_DIR = STORAGE/NAME
    STUDY_DIR/study_config.yaml   the StudyConfig it runs
    STUDY_DIR/...                 the arms x seeds grid: a search directory (search.tuner)
    STUDY_DIR/search/             the joint search, if any (a search directory of its own)
    STUDY_DIR/latency.parquet     arm, round, latency_ms (forward), step_ms (forward+backward)
    STUDY_DIR/timing.json         wall seconds per phase, summed over resumes
    STUDY_DIR/study_report/       report.md, report.html, plots, summary.json (search.study_report)

Example (configs/studies/s3d_placement.yaml, abridged):

    name: s3d_placement
    data: data/demo
    seeds: [0, 1, 2]
    arms:
      - {name: top_4b, preset: i3d_top_heavy_4b, groups: [top_heavy]}
      - {name: bottom_4b, preset: i3d_bottom_heavy_4b, groups: [bottom_heavy]}
    claims:
      - id: top_beats_bottom
        statement: at equal GMACs, top-heavy beats bottom-heavy on within-pair accuracy
        test: matched_cost
        metric: within_pair
        a: [top_heavy]
        b: [bottom_heavy]
"""
from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
import yaml

from search import stats
from search.latency import measure_in_process
from search.config import ConfigError, SearchConfig, parse_dataclass, read_yaml
from search.data.store import ClipStore
from search.results import read_results, selection_view
from search.train import OptimConfig
from search.tuner import Search, SearchError, load_search_config
from spaces import ArchSpec, build, cost, measure_latency
from spaces.presets import PRESETS, get_preset
from spaces.schema import SpecError

STUDY_CONFIG, TIMING_FILE, LATENCY_FILE, SEARCH_SUBDIR = "study_config.yaml", "timing.json", "latency.parquet", "search"
ALIASES_FILE = "aliases.json"  # found arm -> the arm of the same architecture it is recorded under
TESTS = ("difference", "matched_cost", "dominance", "rank_agreement")
# A claim's metric is reported on the test split (`test_<metric>` of each run); `dominance` chooses
# its arms on the validation split (`val_<metric>`). Also acc_<group>.
EVAL_METRICS = ("top1", "top5", "loss", "within_pair")
RUN_METRICS = (*EVAL_METRICS, "train_clips_per_s")
COST_METRICS = ("gmacs", "params")
LATENCY_METRICS = ("latency_ms", "step_ms")
MIN_LATENCY_PROCESSES = 5  # independent timing replicates: fresh processes, interleaved over arms
UNITS = {"top1": "test top-1 (fraction)", "top5": "test top-5 (fraction)",
         "within_pair": "test within-pair accuracy (fraction)",
         "loss": "test loss", "gmacs": "GMACs per view", "params": "params", "latency_ms": "ms", "step_ms": "ms",
         "train_clips_per_s": "clips/s"}
FOUND_GROUP = "found"


@dataclass(frozen=True)
class Arm:
    """One architecture of a study: a preset at the study's scale, optionally with every stage
    block's fields changed (`blocks: {tosa_depth: 3}`)."""

    name: str
    preset: str
    width: float | None = None  # default: the study's
    depth: float | None = None
    frames: int | None = None  # default: the study's
    blocks: dict = field(default_factory=dict)
    groups: list = field(default_factory=list)


@dataclass(frozen=True)
class Claim:
    """A statement and its test. Effects are `a - b` (in `metric` units) per replicate:

    - difference: mean over arms `a` minus mean over arms `b`;
    - matched_cost: `a` arms against the `b` curve interpolated at the same `cost` (log scale);
    - dominance: for each `b` arm, the best `a` arm at no more `cost`, minus it;
    - rank_agreement: Kendall's tau between `cost` and `metric` over arms `a` (b unused).
    """

    id: str
    statement: str
    test: str
    metric: str
    a: list
    b: list = field(default_factory=list)
    cost: str = "gmacs"
    direction: str = "greater"  # the claim: effect > threshold (or < for "less")
    threshold: float = 0.0
    margin: float = 0.0  # smallest effect that matters: below it, "not reproduced"
    source: str = ""


@dataclass(frozen=True)
class LatencyConfig:
    batch: int = 8
    rounds: int = 5  # each a fresh process timing every arm in turn: a round is one replicate
    repeats: int = 3  # median of these per round
    threads: int | None = None  # default: torch's


@dataclass(frozen=True)
class StudyConfig:
    name: str
    data: str
    arms: tuple[Arm, ...]
    claims: tuple[Claim, ...]
    title: str = ""
    question: str = ""
    storage: str = "results/studies"
    seeds: list = field(default_factory=lambda: [0, 1, 2])
    epochs: int = 6
    width: float = 0.25
    depth: float = 0.5
    frames: int | None = None  # default: the store's clip length
    crop: int | None = None  # default: the store's frame size
    concurrency: int = 2
    cpus_per_trial: int = 1
    gpus_per_trial: float = 0.0
    amp: bool = True
    optim: OptimConfig = field(default_factory=OptimConfig)
    interval: str = "t"  # t | bootstrap (search.stats)
    confidence: float = 0.95
    latency: LatencyConfig = field(default_factory=LatencyConfig)
    search: dict | None = None  # a joint search (SearchConfig keys) run first, at the same budget
    retrain_front: int = 0  # members of its Pareto front retrained as arms (group "found")
    tracking_uri: str | None = None
    address: str | None = None

    @property
    def study_dir(self) -> Path:
        return Path(self.storage).expanduser().resolve() / self.name

    def resolved_tracking_uri(self) -> str:
        return self.tracking_uri or f"sqlite:///{self.study_dir / 'mlflow.db'}"

    def groups(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for arm in self.arms:
            for g in arm.groups:
                out.setdefault(g, []).append(arm.name)
        if self.retrain_front:
            out[FOUND_GROUP] = [f"{FOUND_GROUP}_{i + 1}" for i in range(self.retrain_front)]
        return out

    def resolve(self, names: list[str]) -> list[str]:
        """Arm and group names -> arm names (in order, once each)."""
        groups, out = self.groups(), []
        for n in names:
            for arm in groups.get(n, [n]):
                if arm not in out:
                    out.append(arm)
        return out

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "study") -> StudyConfig:
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: must be a mapping of settings, got {type(data).__name__}")
        data = dict(data)
        lists = {}
        for key, kind in (("arms", Arm), ("claims", Claim)):
            items = data.pop(key, None)
            if not isinstance(items, list) or not items:
                raise ConfigError(f"{key}={items!r}: must be a non-empty list of mappings")
            parsed = []
            for i, item in enumerate(items):
                if not isinstance(item, dict):
                    raise ConfigError(f"{key}[{i}]={item!r}: must be a mapping")
                parsed.append(parse_dataclass(kind, item, f"{key}[{i}]."))
            lists[key] = tuple(parsed)
        cfg = dataclasses.replace(parse_dataclass(cls, {**data, "arms": [], "claims": []}, ""), **lists)
        _check(cfg)
        return cfg

    @classmethod
    def from_yaml(cls, path: str | Path) -> StudyConfig:
        return cls.from_dict(read_yaml(path, "study"), where=str(path))

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self)))


def _check(cfg: StudyConfig) -> None:
    def need(ok: bool, name: str, value: Any, rule: str) -> None:
        if not ok:
            raise ConfigError(f"{name}={value!r}: {rule}")

    need(cfg.name.replace("-", "").replace("_", "").isalnum(), "name", cfg.name,
         "must be letters, digits, - and _ (it names a directory)")
    need(bool(cfg.seeds) and all(isinstance(s, int) and not isinstance(s, bool) for s in cfg.seeds)
         and len(set(cfg.seeds)) == len(cfg.seeds), "seeds", cfg.seeds, "must be a list of distinct integers")
    for key in ("epochs", "concurrency", "cpus_per_trial"):
        need(getattr(cfg, key) >= 1, key, getattr(cfg, key), "must be an integer >= 1")
    need(cfg.width > 0 and cfg.depth > 0, "width/depth", (cfg.width, cfg.depth), "must be > 0")
    need(cfg.interval in stats.INTERVALS, "interval", cfg.interval, f"must be one of {', '.join(stats.INTERVALS)}")
    need(0 < cfg.confidence < 1, "confidence", cfg.confidence, "must be in (0, 1), e.g. 0.95")
    need(cfg.latency.rounds >= 2 and cfg.latency.batch >= 2 and cfg.latency.repeats >= 1, "latency", cfg.latency,
         "needs rounds >= 2 (they are the replicates), batch >= 2 and repeats >= 1")
    need(cfg.retrain_front >= 0, "retrain_front", cfg.retrain_front, "must be >= 0")
    need(not cfg.retrain_front or cfg.search is not None, "retrain_front", cfg.retrain_front,
         "needs a `search:` whose front it retrains")
    names = [a.name for a in cfg.arms]
    for i, arm in enumerate(cfg.arms):
        need(arm.name.replace("_", "").replace("-", "").isalnum(), f"arms[{i}].name", arm.name,
             "must be letters, digits, - and _")
        need(arm.name not in names[:i], f"arms[{i}].name", arm.name, "must be unique among the arms")
        need(arm.preset in PRESETS, f"arms[{i}].preset", arm.preset,
             "unknown preset; see `vidnas presets --names-only`")
        need(isinstance(arm.groups, list) and all(isinstance(g, str) for g in arm.groups), f"arms[{i}].groups",
             arm.groups, "must be a list of group names")
        for g in arm.groups:
            need(g not in names and g != FOUND_GROUP, f"arms[{i}].groups", g,
                 f"a group may not share a name with an arm or be {FOUND_GROUP!r}")
    known = set(names) | set(cfg.groups())
    metrics = (*RUN_METRICS, *COST_METRICS, *LATENCY_METRICS)
    ids = [c.id for c in cfg.claims]
    for i, c in enumerate(cfg.claims):
        where = f"claims[{i}]"
        need(ids.count(c.id) == 1, f"{where}.id", c.id, "must be unique among the claims")
        need(c.test in TESTS, f"{where}.test", c.test, f"must be one of {', '.join(TESTS)}")
        need(c.metric in metrics or c.metric.startswith("acc_"), f"{where}.metric", c.metric,
             f"must be one of {', '.join(metrics)} or acc_<group>")
        need(c.cost in (*COST_METRICS, *LATENCY_METRICS), f"{where}.cost", c.cost,
             f"must be one of {', '.join((*COST_METRICS, *LATENCY_METRICS))}")
        need(c.direction in ("greater", "less"), f"{where}.direction", c.direction, "must be greater or less")
        need(c.margin >= 0, f"{where}.margin", c.margin, "must be >= 0")
        for side in ("a", "b"):
            values = getattr(c, side)
            need(isinstance(values, list), f"{where}.{side}", values, "must be a list of arm or group names")
            for v in values:
                need(v in known, f"{where}.{side}", v, f"unknown arm or group; known: {', '.join(sorted(known))}")
        need(bool(c.a), f"{where}.a", c.a, "must name at least one arm or group")
        if c.test == "rank_agreement":
            need(len(cfg.resolve(c.a)) >= 3, f"{where}.a", c.a, "rank_agreement needs at least 3 arms")
        else:
            need(bool(c.b), f"{where}.b", c.b, f"test {c.test} compares a with b: name at least one arm or group")


# ---------------------------------------------------------------------------------------------
# Arms -> specs


def arm_spec(arm: Arm, cfg: StudyConfig, store: ClipStore) -> ArchSpec:
    try:
        return _arm_spec(arm, cfg, store)
    except SpecError as e:
        raise ConfigError(f"arm {arm.name}: {e}") from None


def _arm_spec(arm: Arm, cfg: StudyConfig, store: ClipStore) -> ArchSpec:
    meta = store.meta
    frames = arm.frames or cfg.frames or meta.frames
    if frames > meta.frames:
        raise ConfigError(f"arm {arm.name}: frames={frames}, but the store's clips have {meta.frames} frames")
    spec = get_preset(arm.preset, frames=frames, crop=cfg.crop or min(meta.height, meta.width),
                      num_classes=len(meta.classes))
    spec = spec.scaled(width=arm.width or cfg.width, depth=arm.depth or cfg.depth)
    if arm.blocks:
        data = json.loads(spec.to_json())
        for stage in data["stages"]:
            for block in stage["blocks"]:
                for key, value in arm.blocks.items():
                    if key not in block:
                        raise ConfigError(f"arm {arm.name}: blocks.{key}: not a field of its blocks; "
                                          f"fields: {', '.join(block)}")
                    block[key] = value
        spec = ArchSpec.from_json(json.dumps(data))
    return spec


def found_arms(study_dir: Path, k: int) -> dict[str, ArchSpec]:
    """`k` members of the joint search's Pareto front, spread evenly over its cost range."""
    rows = sorted((r for r in selection_view(read_results(study_dir / SEARCH_SUBDIR)) if r.get("pareto")),
                  key=lambda r: r["gmacs"])  # chosen on validation metrics: the front selects
    if not rows:
        raise SearchError(f"{study_dir / SEARCH_SUBDIR}: the joint search has no complete trial to retrain")
    picks = sorted({round(i) for i in np.linspace(0, len(rows) - 1, min(k, len(rows)))})
    return {f"{FOUND_GROUP}_{n + 1}": ArchSpec.from_json(rows[i]["spec"]) for n, i in enumerate(picks)}


def split_aliases(arms: dict[str, ArchSpec], found: dict[str, ArchSpec]) -> tuple[dict[str, ArchSpec], dict[str, str]]:
    """Found arms that are not already arms, and the others as aliases (found name -> the arm of
    the same architecture): one arm trained once, recorded under both names, never lost."""
    by_json = {spec.to_json(): name for name, spec in arms.items()}
    new, aliases = {}, {}
    for name, spec in found.items():
        twin = by_json.setdefault(spec.to_json(), name)
        if twin == name:
            new[name] = spec
        else:
            aliases[name] = twin
    return new, aliases


# ---------------------------------------------------------------------------------------------
# Running


class Study:
    def __init__(self, cfg: StudyConfig) -> None:
        if "://" not in cfg.data:
            cfg = dataclasses.replace(cfg, data=str(Path(cfg.data).expanduser().resolve()))
        self.cfg = cfg
        self.dir = cfg.study_dir
        self.store = ClipStore.open(cfg.data)
        if "test" not in self.store.splits:
            raise ConfigError(f"data={cfg.data}: a study reports on the test split and this store has none; add one "
                              f"with `vidnas data add-test {cfg.data}`")
        self.specs = {a.name: arm_spec(a, cfg, self.store) for a in cfg.arms}
        seen: dict[str, str] = {}
        for name, spec in self.specs.items():
            other = seen.setdefault(spec.to_json(), name)
            if other != name:
                raise ConfigError(f"arms {other} and {name}: the same architecture; a study's arms must differ")

    def run(self, *, num_cpus: int | None = None, verbose: int = 1, command: str = "") -> bool:
        """Run the phases not yet done (search, training, latency); False if one was interrupted."""
        self.dir.mkdir(parents=True, exist_ok=True)
        saved = self.dir / STUDY_CONFIG
        if saved.is_file():
            old = yaml.safe_load(saved.read_text())
            if old != self.cfg.to_dict():
                raise SearchError(f"{self.dir} holds a study with a different config; give this one another "
                                  f"name, or move that directory away")
        saved.write_text(yaml.safe_dump(self.cfg.to_dict(), sort_keys=False))
        timing = read_timing(self.dir)
        if command:
            timing["command"] = command
        if self.cfg.search is not None and not self._phase(timing, "search", lambda: self._search(num_cpus, verbose)):
            return False
        specs = dict(self.specs)
        if self.cfg.retrain_front:
            found, aliases = split_aliases(specs, found_arms(self.dir, self.cfg.retrain_front))
            specs |= found
            (self.dir / ALIASES_FILE).write_text(json.dumps(aliases, indent=2))
        return (self._phase(timing, "train", lambda: self._train(specs, num_cpus, verbose))
                and self._phase(timing, "latency", lambda: self._latency(specs)))

    def _phase(self, timing: dict[str, Any], phase: str, work: Callable[[], Any]) -> bool:
        """Run `work` unless done before; its wall seconds add up in `timing[phase + '_s']` across
        resumes (also when interrupted). Done = it returned an Outcome that finished, or anything else."""
        if timing.get(f"{phase}_done"):
            return True
        start = time.perf_counter()
        try:
            outcome = work()
        finally:
            timing[f"{phase}_s"] = timing.get(f"{phase}_s", 0.0) + time.perf_counter() - start
            self._save_timing(timing)
        timing[f"{phase}_done"] = getattr(outcome, "finished", True)
        self._save_timing(timing)
        return timing[f"{phase}_done"]

    def _search_config(self) -> SearchConfig:
        given = dict(self.cfg.search or {})
        fixed = {"name": SEARCH_SUBDIR, "data": self.cfg.data, "storage": str(self.dir), "epochs": self.cfg.epochs,
                 "optim": dataclasses.asdict(self.cfg.optim), "tracking_uri": self.cfg.resolved_tracking_uri(),
                 "experiment": self.cfg.name, "address": self.cfg.address}
        clash = sorted(set(given) & set(fixed))
        if clash:
            raise ConfigError(f"search.{clash[0]}: set by the study, so that the search and the arms share data, "
                              f"budget and tracking; remove it")
        return SearchConfig.from_dict(given | fixed, where="search")

    def _search(self, num_cpus: int | None, verbose: int) -> Any:
        directory = self.dir / SEARCH_SUBDIR
        if (directory / "tune" / "tuner.pkl").exists():
            return Search(load_search_config(directory)).run(resume=True, num_cpus=num_cpus, verbose=verbose)
        return Search(self._search_config()).run(resume=False, num_cpus=num_cpus, verbose=verbose)

    def arms_config(self, specs: dict[str, ArchSpec]) -> SearchConfig:
        cfg = self.cfg
        frames = sorted({s.frames for s in specs.values()})
        crop = next(iter(specs.values())).crop
        return SearchConfig.from_dict({
            "name": cfg.name, "data": cfg.data, "storage": str(self.dir.parent),
            "trials": len(specs) * len(cfg.seeds), "epochs": cfg.epochs, "min_epochs": 1, "early_stopping": False,
            "concurrency": cfg.concurrency, "cpus_per_trial": cfg.cpus_per_trial, "gpus_per_trial": cfg.gpus_per_trial,
            "amp": cfg.amp, "optim": dataclasses.asdict(cfg.optim), "tracking_uri": cfg.resolved_tracking_uri(),
            "experiment": cfg.name, "address": cfg.address, "seed": cfg.seeds[0],
            "space": {"frames": frames, "crop": crop}}, where="study")

    def _train(self, specs: dict[str, ArchSpec], num_cpus: int | None, verbose: int) -> Any:
        labels = {s.to_json(): name for name, s in specs.items()}
        search = Search(self.arms_config(specs), labels=labels)
        resume = (self.dir / "tune" / "tuner.pkl").exists()
        return search.run(resume=resume, num_cpus=num_cpus, verbose=verbose,
                          fixed=None if resume else list(specs.values()), seeds=list(self.cfg.seeds))

    def _latency(self, specs: dict[str, ArchSpec]) -> Path:
        """Every arm's forward and forward+backward time: each round a fresh process (`search.latency`)
        timing every arm in turn, so the rounds are independent replicates."""
        lat = self.cfg.latency
        device = "cuda" if self.cfg.gpus_per_trial > 0 and torch.cuda.is_available() else "cpu"
        rows = []
        for r in range(lat.rounds):
            order = list(specs) if r % 2 == 0 else list(reversed(specs))  # no arm always first
            rows += measure_in_process({n: specs[n] for n in order}, batch=lat.batch, repeats=lat.repeats,
                                       threads=lat.threads, device=device, round_=r)
        path = self.dir / LATENCY_FILE
        pq.write_table(pa.Table.from_pylist(rows), path)
        return path

    def _save_timing(self, timing: dict[str, Any]) -> None:
        (self.dir / TIMING_FILE).write_text(json.dumps(timing, indent=2))


def read_timing(study_dir: Path) -> dict[str, Any]:
    """Wall seconds per phase (`<phase>_s`), which phases are done, and the command that ran it."""
    path = study_dir / TIMING_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def wall_seconds(timing: dict[str, Any]) -> float:
    return sum(v for k, v in timing.items() if k.endswith("_s"))


def load_study_config(path: str | Path) -> StudyConfig:
    """A study file (YAML), or the config a study directory ran."""
    path = Path(path).expanduser()
    if path.is_dir():
        saved = path / STUDY_CONFIG
        if not saved.is_file():
            raise SearchError(f"{path}: not a study directory (no {STUDY_CONFIG})")
        cfg = StudyConfig.from_dict(yaml.safe_load(saved.read_text()), where=str(saved))
        if cfg.study_dir != path.resolve():  # moved since
            cfg = dataclasses.replace(cfg, storage=str(path.resolve().parent), name=path.resolve().name)
        return cfg
    return StudyConfig.from_yaml(path)


# ---------------------------------------------------------------------------------------------
# Analysis


@dataclass
class ClaimResult:
    claim: Claim
    estimate: stats.Estimate
    verdict: str
    replicates: str  # "seeds" or "latency processes"
    detail: str  # which arms were compared
    test: str = ""  # the effect, the test, the interval, n and the replicate unit in one line
    p_raw: float = math.nan  # the one-sided t-test's p (times the choices made, for dominance)
    p_adjusted: float = math.nan  # Holm-adjusted over the study's tested claims


@dataclass
class StudyResult:
    cfg: StudyConfig
    arms: dict[str, dict[str, Any]]  # name -> spec, slug, groups, gmacs, params, per-metric Estimates
    values: dict[str, stats.Values]  # metric -> arm -> replicate -> value (run metrics: on test)
    claims: list[ClaimResult]
    runs: list[dict[str, Any]]  # the results table of the arms grid
    search_rows: list[dict[str, Any]]  # the joint search's results table (or none)
    timing: dict[str, Any]
    # latency metric -> pairs (cheaper in GMACs, dearer) where the cheaper one is measurably slower
    discordant: dict[str, list[tuple[str, str, stats.Estimate]]]
    latency_device: str  # where latency was measured, e.g. "cpu, 2 threads"
    views: int = 1  # evaluation views per clip of the reported metrics (at least; per arm in `arms`)
    aliases: dict[str, str] = field(default_factory=dict)  # found arm -> the arm it is the same as


def _run_values(complete: list[dict[str, Any]], prefix: str) -> dict[str, stats.Values]:
    """metric -> arm -> seed -> value, from the runs' `<prefix><metric>` columns."""
    values: dict[str, stats.Values] = {}
    for r in complete:
        for key, v in r.items():
            name = key.removeprefix(prefix) if key.startswith(prefix) else ("train_clips_per_s" if key ==
                                                                             "train_clips_per_s" else None)
            if v is not None and name is not None and (name in RUN_METRICS or name.startswith("acc_")):
                values.setdefault(name, {}).setdefault(r["preset"], {})[r["seed"]] = float(v)
    return values


def analyze(study_dir: str | Path) -> StudyResult:
    cfg = load_study_config(study_dir)
    directory = cfg.study_dir
    runs = read_results(directory)
    if not runs:
        raise SearchError(f"{directory}: no run has finished yet; run `vidnas study run` first")
    complete = [r for r in runs if r["state"] == "complete" and r.get("seed") is not None]
    values, selection = _run_values(complete, "test_"), _run_values(complete, "val_")  # report, choose
    specs = {r["preset"]: ArchSpec.from_json(r["spec"]) for r in runs if r.get("preset")}
    aliases = json.loads((directory / ALIASES_FILE).read_text()) if (directory / ALIASES_FILE).is_file() else {}
    for found, twin in aliases.items():  # one architecture, recorded under both names
        if twin in specs:
            specs[found] = specs[twin]
            for table in (values, selection):
                for metric in table.values():
                    if twin in metric:
                        metric[found] = metric[twin]
    latency, latency_device, processes = directory / LATENCY_FILE, "not measured", set()
    if latency.is_file():
        for row in pq.read_table(latency).to_pylist():
            latency_device = f"{row['device']}, {row['threads']} threads"
            processes.add(row.get("process"))
            for key in LATENCY_METRICS:
                if row.get(key) is not None and math.isfinite(row[key]):
                    arms_ = [row["arm"], *(f for f, t in aliases.items() if t == row["arm"])]
                    for arm in arms_:
                        values.setdefault(key, {}).setdefault(arm, {})[row["round"]] = float(row[key])
    costs = {name: cost(spec) for name, spec in specs.items()}
    seeds = sorted({r["seed"] for r in complete})
    for key in COST_METRICS:  # deterministic, repeated per seed so they pair with anything
        values[key] = selection[key] = {name: {s: float(getattr(c, key)) for s in seeds} for name, c in costs.items()}
    groups = cfg.groups()
    est = lambda xs: stats.Estimate.of(xs, method=cfg.interval, confidence=cfg.confidence)  # noqa: E731
    views = {r["preset"]: int(r["test_views"]) for r in complete if r.get("test_views")}
    arms = {}
    for name, spec in specs.items():
        arms[name] = {"slug": spec.slug(), "gmacs": costs[name].gmacs, "params": costs[name].params,
                      "groups": [g for g, members in groups.items() if name in members],
                      "preset": next((a.preset for a in cfg.arms if a.name == name), ""),
                      "views": views.get(aliases.get(name, name), 1),
                      **{m: est(values[m][name].values()) for m in values if name in values[m]
                         and m not in COST_METRICS}}
    independent = len(processes - {None}) >= MIN_LATENCY_PROCESSES
    claims = [evaluate_claim(c, cfg, values, selection, arms, latency_independent=independent) for c in cfg.claims]
    adjusted = stats.holm([c.p_raw if c.verdict != stats.DESCRIPTIVE else math.nan for c in claims])
    alpha = stats.one_sided_alpha(cfg.confidence)
    for c, p in zip(claims, adjusted):
        c.p_adjusted = p
        if c.verdict != stats.DESCRIPTIVE:
            c.verdict = stats.verdict(c.estimate, direction=c.claim.direction, threshold=c.claim.threshold,
                                      margin=c.claim.margin, p_adjusted=p, alpha=alpha)
    discordant = {}
    for metric in LATENCY_METRICS:
        names = [n for n in arms if n in values.get(metric, {}) and n not in aliases]
        if len(names) > 1:
            discordant[metric] = stats.discordant_pairs(values[metric], {n: arms[n]["gmacs"] for n in names}, names,
                                                        method=cfg.interval, confidence=cfg.confidence)
    search_rows = read_results(directory / SEARCH_SUBDIR) if cfg.search is not None else []
    return StudyResult(cfg, arms, values, claims, runs, search_rows, read_timing(directory), discordant,
                       latency_device, min(views.values(), default=1), aliases)


def evaluate_claim(claim: Claim, cfg: StudyConfig, values: dict[str, stats.Values], selection: dict[str, stats.Values],
                   arms: dict[str, dict[str, Any]], *, latency_independent: bool) -> ClaimResult:
    """A claim's effects, interval and raw p-value; its verdict before multiplicity (`analyze`
    gives the final one after Holm). Latency claims are descriptive unless their rounds ran in at
    least MIN_LATENCY_PROCESSES fresh processes."""
    a = [x for x in cfg.resolve(claim.a) if x in arms]
    b = [x for x in cfg.resolve(claim.b) if x in arms]
    metric = values.get(claim.metric, {})
    latency = claim.metric in LATENCY_METRICS or claim.cost in LATENCY_METRICS
    replicates = "latency processes" if latency else "seeds"
    costs = {n: float(np.mean(list(values[claim.cost][n].values()))) for n in arms if n in values.get(claim.cost, {})}
    missing = [x for x in [*a, *b] if x not in metric or (claim.test != "difference" and x not in costs)]
    effects: list[float] = []
    confidence, k = cfg.confidence, 1
    bounds = stats.TAU_BOUNDS if claim.test == "rank_agreement" else None
    if missing:
        detail = f"no {claim.metric} for {', '.join(missing)} (failed or not run)"
    elif claim.test == "difference":
        effects = stats.difference(metric, a, b)
        detail = f"{' + '.join(a)} vs {' + '.join(b)}"
    elif claim.test == "matched_cost":
        effects, inside = stats.matched_cost(metric, costs, a, b)
        detail = (f"{', '.join(inside)} against the curve of {', '.join(b)} at equal {claim.cost}" if inside
                  else f"no arm of a within the {claim.cost} range of b")
    elif claim.test == "dominance":  # chosen on val, measured on test, the choice paid for (Bonferroni)
        effects, pairs = stats.dominance(selection.get(claim.metric, metric), metric, costs, a, b)
        k = stats.choices(costs, a, list(pairs))
        confidence = 1 - (1 - cfg.confidence) / k
        detail = ("; ".join(f"{x} vs {y}" for y, x in pairs.items()) + f" (best of a on val; Bonferroni over {k} "
                  f"choices)" if pairs else f"no arm of a at or below the {claim.cost} of any arm of b")
    else:
        effects = stats.rank_agreement(metric, costs, a)
        detail = f"Kendall tau of {claim.cost} vs {claim.metric} over {', '.join(a)}"
    estimate = stats.Estimate.of(effects, method=cfg.interval, confidence=confidence, bounds=bounds)
    p_raw = min(1.0, k * stats.p_value(effects, direction=claim.direction, threshold=claim.threshold))
    test = stats.describe_test(claim.test, cfg.interval, estimate.n, replicates)
    if latency and not latency_independent:
        verdict = stats.DESCRIPTIVE
        test += f" (descriptive: fewer than {MIN_LATENCY_PROCESSES} independent timing processes)"
    else:
        verdict = stats.verdict(estimate, direction=claim.direction, threshold=claim.threshold, margin=claim.margin)
    return ClaimResult(claim, estimate, verdict, replicates, detail, test, p_raw)
