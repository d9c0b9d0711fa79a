"""A study's config: its arms, its claims (fixed before anything runs) and their checks.

Studies: a paper's claim as a re-runnable experiment with a verdict.

A study trains fixed architectures (its *arms*: presets, scaled, optionally with block fields
changed) once per seed, all at the same budget, through the search engine (Ray Tune trials,
MLflow runs, a results table). It then measures every arm's latency side by side in one
process, and tests its *claims*: each a statement with a measurable effect, an interval over the
replicates and a verdict (`search.studies.stats`). A study can also run a joint search first and retrain
members of the found Pareto front as arms (`search:` and `retrain_front:`).

    STUDY_DIR = STORAGE/NAME
    STUDY_DIR/study_config.yaml   the StudyConfig it runs
    STUDY_DIR/...                 the arms x seeds grid: a search directory (search.engine.tuner)
    STUDY_DIR/search/             the joint search, if any (a search directory of its own)
    STUDY_DIR/latency.parquet     arm, round, latency_ms (forward), step_ms (forward+backward)
    STUDY_DIR/timing.json         wall seconds per phase, summed over resumes
    STUDY_DIR/study_report/       report.md, report.html, plots, summary.json (search.studies.report)

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from search.engine.config import ConfigError, check_init, parse_dataclass, read_yaml
from search.studies import stats
from search.trial.options import InitConfig, OptimConfig
from spaces.presets import list_presets, unknown_preset

STUDY_CONFIG, TIMING_FILE, LATENCY_FILE, SEARCH_SUBDIR = "study_config.yaml", "timing.json", "latency.parquet", "search"
HALF_SUBDIR = "half"  # the arms retrained at half the epochs
FACTS_FILE = "store_facts.json"  # the store's regime and test-clip groups, where the store stays elsewhere
ALIASES_FILE = "aliases.json"  # found arm -> the arm of the same architecture it is recorded under
TESTS = ("difference", "matched_cost", "dominance", "rank_agreement", "exact")
REGIMES = ("appearance", "temporal")  # the built-in benchmark's profiles (`vidnas data synth --profile`)
# A claim's metric is reported on the test split (`test_<metric>` of each run); `dominance` chooses
# its arms on the validation split (`val_<metric>`). Also acc_<group>.
EVAL_METRICS = ("top1", "top5", "loss", "within_pair")
RUN_METRICS = (*EVAL_METRICS, "train_clips_per_s")
COST_METRICS = ("gmacs", "params")
LATENCY_METRICS = ("latency_ms", "step_ms")
MIN_LATENCY_PROCESSES = 5  # independent timing replicates: fresh processes, interleaved over arms
UNITS = {"top1": "test top-1 (fraction)", "top5": "test top-5 (fraction)",
         "within_pair": "test within-pair accuracy (fraction)",
         "loss": "test loss", "gmacs": "GMACs per clip (per view x views)", "params": "params", "latency_ms": "ms",
         "step_ms": "ms", "train_clips_per_s": "clips/s"}
CLIP_METRICS = {"top1": "test_clip_top1", "within_pair": "test_clip_pair"}  # per-clip outcomes: the crossed interval
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
    - dominance: for each `b` arm, the best `a` arm at no more `cost`, minus it; with several `b`
      arms the claim ("for each b") is its weakest pair, an intersection-union test (p the largest
      pair's), never the mean over the pairs;
    - rank_agreement: Kendall's tau between `cost` and `metric` over arms `a` (b unused);
    - exact: a property that holds by construction (`value`, e.g. 0.0 for two arms that are both
      exactly order-blind), proven by the structural test named in `proof` (a pytest node id), and
      reported as such: no replicates, no interval, no place in the multiplicity family.

    `matched_cost` compares an `a` arm only where `b` arms bracket its cost within `max_ratio`
    (neighbours on both sides), against the harder neighbour chosen on validation
    (`stats.bracket_pairs`). A claim with `threshold < 0` for "greater" (or > 0 for "less") is an
    equivalence claim ("no worse than"): it is decided only when every arm it names is adequately
    trained. `regimes` lists the benchmark regimes whose papers predict this direction (empty: all);
    in another regime it is not evaluated. `exploratory` claims are reported, labelled so, and kept
    out of the multiplicity family, decided before the run.
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
    max_ratio: float = 2.0  # matched_cost: the widest cost ratio between the b arms that bracket an a arm
    value: float | None = None  # exact: the effect by construction
    proof: str = ""  # exact: the structural test that proves it (tests/...py::test_name)
    regimes: list = field(default_factory=list)  # where the claim is evaluated; empty = every regime
    exploratory: bool = False  # reported, labelled, left out of the multiplicity family

    @property
    def equivalence(self) -> bool:
        """A "no worse than" claim: the effect must stay above a negative threshold (or below a
        positive one for "less")."""
        return self.threshold < 0 if self.direction == "greater" else self.threshold > 0


@dataclass(frozen=True)
class AdequacyRule:
    """When a run counts as trained, fixed before the run. A run is adequate when, over the last
    `last_fraction` of its epochs, its validation top-1 gained less than `max_val_gain` (the last
    epoch's against the best before that window: the curve has flattened) and its final train loss
    is at most `max_train_loss_ratio` x ln(classes) (the loss of a uniform guess: it has learned).
    An arm is adequate when at most `max_failed_seeds` of its runs are not; the inadequate runs
    (a seed that failed to train) are left out of every claim, and a claim that names an arm that
    is not adequate is **undertrained**: neither reproduced nor not."""

    last_fraction: float = 0.25
    # 4 points: 1.5 standard errors of the difference of two validation accuracies on the study
    # store's 720 clips (sqrt(2 x 0.25 / 720) = 0.026), so that noise alone rarely fails a run
    max_val_gain: float = 0.04
    max_train_loss_ratio: float = 0.6
    max_failed_seeds: int = 1


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
    interval: str = "crossed"  # crossed (seeds x test clips where clips are recorded, else t) | t | bootstrap
    adequacy: AdequacyRule = field(default_factory=AdequacyRule)
    half_budget_seeds: list | None = None  # retrained at epochs // 2 to flag budget-sensitive claims;
    #                                        default: the first 3 seeds; [] turns it off
    confidence: float = 0.95
    latency: LatencyConfig = field(default_factory=LatencyConfig)
    init: InitConfig | None = None  # where every arm's (and the joint search's) weights start; default: random
    search: dict | None = None  # a joint search (SearchConfig keys) run first, at the same budget
    retrain_front: int = 0  # members of its Pareto front retrained as arms (group "found")
    tracking_uri: str | None = None
    address: str | None = None

    @property
    def study_dir(self) -> Path:
        return Path(self.storage).expanduser().resolve() / self.name

    @property
    def half_seeds(self) -> list[int]:
        return list(self.seeds[:3] if self.half_budget_seeds is None else self.half_budget_seeds)

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
    check_init(cfg.init)
    need(cfg.interval in stats.INTERVALS, "interval", cfg.interval, f"must be one of {', '.join(stats.INTERVALS)}")
    need(0 < cfg.confidence < 1, "confidence", cfg.confidence, "must be in (0, 1), e.g. 0.95")
    need(cfg.latency.rounds >= 2 and cfg.latency.batch >= 2 and cfg.latency.repeats >= 1, "latency", cfg.latency,
         "needs rounds >= 2 (they are the replicates), batch >= 2 and repeats >= 1")
    need(cfg.retrain_front >= 0, "retrain_front", cfg.retrain_front, "must be >= 0")
    rule = cfg.adequacy
    need(0 < rule.last_fraction < 1, "adequacy.last_fraction", rule.last_fraction, "must be in (0, 1), e.g. 0.25")
    need(rule.max_val_gain > 0 and rule.max_train_loss_ratio > 0, "adequacy", rule,
         "needs max_val_gain > 0 and max_train_loss_ratio > 0")
    need(rule.max_failed_seeds >= 0, "adequacy.max_failed_seeds", rule.max_failed_seeds, "must be >= 0")
    half = cfg.half_seeds
    need(isinstance(half, list) and all(s in cfg.seeds for s in half) and len(set(half)) == len(half),
         "half_budget_seeds", cfg.half_budget_seeds, "must be distinct seeds of `seeds` ([] turns the check off)")
    need(not half or cfg.epochs >= 2, "half_budget_seeds", half, "needs epochs >= 2 (half of them is the budget)")
    need(not cfg.retrain_front or cfg.search is not None, "retrain_front", cfg.retrain_front,
         "needs a `search:` whose front it retrains")
    names = [a.name for a in cfg.arms]
    for i, arm in enumerate(cfg.arms):
        need(arm.name.replace("_", "").replace("-", "").isalnum(), f"arms[{i}].name", arm.name,
             "must be letters, digits, - and _")
        need(arm.name not in names[:i], f"arms[{i}].name", arm.name, "must be unique among the arms")
        need(arm.preset in list_presets(), f"arms[{i}].preset", arm.preset, unknown_preset(arm.preset))
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
        need(c.max_ratio > 1, f"{where}.max_ratio", c.max_ratio, "must be > 1 (the widest bracket, e.g. 2.0)")
        need(c.test not in ("matched_cost", "dominance") or c.metric in (*EVAL_METRICS, *COST_METRICS)
             or c.metric.startswith("acc_"), f"{where}.metric", c.metric,
             f"test {c.test} chooses arms, and chooses on the validation split: it needs a metric measured there "
             f"({', '.join(EVAL_METRICS)}, acc_<group>) or a counted cost, not a measurement without a val column")
        need(isinstance(c.regimes, list) and all(r in REGIMES for r in c.regimes), f"{where}.regimes", c.regimes,
             f"must list regimes among {', '.join(REGIMES)} (empty: all)")
        need((c.test == "exact") == (c.value is not None and bool(c.proof)), f"{where}.test", c.test,
             "an exact claim needs `value` and `proof` (the structural test), and only an exact claim has them")
        for side in ("a", "b"):
            values = getattr(c, side)
            need(isinstance(values, list), f"{where}.{side}", values, "must be a list of arm or group names")
            for v in values:
                need(v in known, f"{where}.{side}", v, f"unknown arm or group; known: {', '.join(sorted(known))}")
        need(bool(c.a), f"{where}.a", c.a, "must name at least one arm or group")
        if c.test == "rank_agreement":
            need(len(cfg.resolve(c.a)) >= 3, f"{where}.a", c.a, "rank_agreement needs at least 3 arms")
        elif c.test != "exact":
            need(bool(c.b), f"{where}.b", c.b, f"test {c.test} compares a with b: name at least one arm or group")


def load_study_config(path: str | Path) -> StudyConfig:
    """A study file (YAML), or the config a study directory ran."""
    path = Path(path).expanduser()
    if path.is_dir():
        saved = path / STUDY_CONFIG
        if not saved.is_file():
            raise ConfigError(f"{path}: not a study directory (no {STUDY_CONFIG})")
        cfg = StudyConfig.from_dict(yaml.safe_load(saved.read_text()), where=str(saved))
        if cfg.study_dir != path.resolve():  # moved since
            cfg = dataclasses.replace(cfg, storage=str(path.resolve().parent), name=path.resolve().name)
        return cfg
    return StudyConfig.from_yaml(path)


def claim_unit(claim: Claim) -> str:
    """What a claim's effect is measured in, for tables and axes."""
    if claim.test == "rank_agreement":
        return f"Kendall tau ({claim.cost} vs {claim.metric})"
    if claim.metric == "gmacs":
        return "gmacs difference (GMACs per clip: per view x views)"
    return f"{claim.metric} difference ({UNITS.get(claim.metric, claim.metric)})"


def read_timing(study_dir: Path) -> dict[str, Any]:
    """Wall seconds per phase (`<phase>_s`), which phases are done, and the command that ran it."""
    path = study_dir / TIMING_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def wall_seconds(timing: dict[str, Any]) -> float:
    return sum(v for k, v in timing.items() if k.endswith("_s"))
