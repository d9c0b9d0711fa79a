"""A study's analysis: per-arm estimates, adequacy (`search.studies.adequacy`), each claim's
effect on the test split, its interval over seeds and test clips, p-value, Holm adjustment over the
study and verdict (`search.studies.stats`), and the same claim at half the budget.

Costs are per clip: GMACs per view x the evaluation views of the arm (`views` of its runs), so an
8-frame arm scored with 2 views pays for both. Claims on costs are exact (counted, not estimated).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from search.data.store import ClipStore, StoreError
from search.errors import SearchError
from search.record.results import read_results
from search.studies import stats
from search.studies.adequacy import ArmAdequacy, RunAdequacy, check_arms, check_runs
from search.studies.config import (
    ALIASES_FILE, CLIP_METRICS, COST_METRICS, FACTS_FILE, HALF_SUBDIR, LATENCY_FILE, LATENCY_METRICS, MIN_LATENCY_PROCESSES,
    RUN_METRICS, SEARCH_SUBDIR, Claim, StudyConfig, load_study_config,
)
from search.studies.config import read_timing
from search.studies.claims import (  # noqa: F401 (OTHER_REGIME, UNDERTRAINED, VERDICTS, ClaimResult re-exported)
    OTHER_REGIME, UNDERTRAINED, VERDICTS, ClaimResult, Grid, evaluate_claim, holm_family, seeds_method,
)
from spaces import ArchSpec, cost

@dataclass
class StudyResult:
    cfg: StudyConfig
    arms: dict[str, dict[str, Any]]  # name -> spec, slug, groups, gmacs (per clip), params, Estimates
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
    regime: str = ""  # the store's benchmark regime (appearance | temporal), "" when unknown
    adequacy: dict[tuple[str, int], RunAdequacy] = field(default_factory=dict)
    arm_adequacy: dict[str, ArmAdequacy] = field(default_factory=dict)
    half_runs: list[dict[str, Any]] = field(default_factory=list)


def _grid(rows: list[dict[str, Any]], aliases: dict[str, str], groups: dict[str, np.ndarray] | None = None) -> Grid:
    """metric -> arm -> seed -> value from the complete runs' `test_<metric>` (reported) and
    `val_<metric>` (selecting) columns and the split-free `train_clips_per_s`; per-clip outcomes
    from `test_clip_*`, and per group (`acc_<group>`: top-1 on the clips of that group, from
    `groups`: group name -> a mask over the test clips). Found arms that are another arm's
    architecture share its runs."""
    complete = [r for r in rows if r["state"] == "complete" and r.get("seed") is not None]
    tables: list[dict[str, stats.Values]] = [{}, {}]
    for table, prefix in zip(tables, ("test_", "val_")):
        for r in complete:
            for key, v in r.items():
                name = key.removeprefix(prefix)
                if isinstance(v, float) and (name in RUN_METRICS or (name != key and name.startswith("acc_"))):
                    table.setdefault(name, {}).setdefault(r["preset"], {})[r["seed"]] = v
    hits: dict[str, dict[str, dict[int, np.ndarray]]] = {}
    for metric, column in CLIP_METRICS.items():
        for r in complete:
            if r.get(column) is not None:
                x = np.asarray(r[column], dtype=float)
                x[x < 0] = np.nan  # -1: a clip that does not count for this metric
                hits.setdefault(metric, {}).setdefault(r["preset"], {})[r["seed"]] = x
                for group, mask in (groups or {}).items() if metric == "top1" else ():
                    if len(mask) == len(x):  # the store evaluated is the store named
                        per_group = hits.setdefault(f"acc_{group}", {}).setdefault(r["preset"], {})
                        per_group[r["seed"]] = np.where(mask, x, np.nan)
    for table in (*tables, hits):
        for metric in table.values():
            for found, twin in aliases.items():
                if twin in metric:
                    metric[found] = metric[twin]
    return Grid(tables[0], tables[1], hits)


def _without(grid: Grid, failed: set[tuple[str, int]]) -> Grid:
    """The grid without the runs that failed the adequacy rule (they count in no claim)."""
    drop = lambda table: {m: stats.drop_replicates(v, failed) for m, v in table.items()}  # noqa: E731
    hits = {m: {a: {s: x for s, x in seeds.items() if (a, s) not in failed} for a, seeds in arms.items()}
            for m, arms in grid.hits.items()}
    return Grid(drop(grid.values), drop(grid.selection), hits)


def store_facts(data: str, directory: Path | None = None) -> tuple[str, dict[str, np.ndarray]]:
    """What the analysis reads of the study's clip store: its benchmark regime (the synth profile,
    appearance | temporal; "" for an imported dataset) and, per class group, which test clips (in
    the test split's order, as evaluated) belong to it. Where the store is not on this machine (a
    study run elsewhere, e.g. `bench/gpu_studies.py`), from STUDY_DIR/store_facts.json, which that
    run wrote. ("", {}) if neither: per-group claims then fall back to the interval over seeds."""
    from search.data.synth import store_profile

    try:
        store = ClipStore.open(data)
        labels = store.labels("test")
    except (StoreError, OSError, KeyError):
        saved = directory / FACTS_FILE if directory is not None else None
        if saved is None or not saved.is_file():
            return "", {}
        facts = json.loads(saved.read_text())
        return facts["regime"], {g: np.asarray(mask, dtype=bool) for g, mask in facts["groups"].items()}
    meta = store.meta
    regime = store_profile(meta) if meta.source.get("generator") == "vidnas synth" else ""
    group_of_class = np.asarray(meta.groups)
    return regime, {g: group_of_class[labels] == g for g in meta.group_names}


def analyze(study_dir: str | Path) -> StudyResult:
    cfg = load_study_config(study_dir)
    directory = cfg.study_dir
    runs = read_results(directory)
    if not runs:
        raise SearchError(f"{directory}: no run has finished yet; run `vidnas study run` first")
    aliases = json.loads((directory / ALIASES_FILE).read_text()) if (directory / ALIASES_FILE).is_file() else {}
    specs = {r["preset"]: ArchSpec.from_json(r["spec"]) for r in runs if r.get("preset")}
    specs |= {found: specs[twin] for found, twin in aliases.items() if twin in specs}
    classes = next(iter(specs.values())).num_classes
    adequacy = check_runs(runs, classes=classes, rule=cfg.adequacy)
    for found, twin in aliases.items():
        adequacy |= {(found, s): a for (arm, s), a in list(adequacy.items()) if arm == twin}
    arm_adequacy = check_arms(adequacy, cfg.seeds, cfg.adequacy)
    regime, clip_groups = store_facts(cfg.data, directory)
    full = _grid(runs, aliases, clip_groups)
    values, selection = full.values, full.selection
    latency_device, processes = _latency(directory, values, aliases)
    views = {r["preset"]: int(r.get("views") or r.get("test_views") or 1) for r in runs if r.get("preset")}
    views |= {found: views[twin] for found, twin in aliases.items() if twin in views}
    costs = {name: cost(spec) for name, spec in specs.items()}
    seeds = sorted({r["seed"] for r in runs if r.get("seed") is not None})
    for key in COST_METRICS:  # deterministic, repeated per seed so they pair with anything; GMACs per clip
        values[key] = selection[key] = {
            name: {s: float(getattr(c, key)) * (views.get(name, 1) if key == "gmacs" else 1) for s in seeds}
            for name, c in costs.items()}
    groups = cfg.groups()
    est = lambda xs: stats.Estimate.of(xs, method=seeds_method(cfg), confidence=cfg.confidence)  # noqa: E731
    arms = {}
    for name, spec in specs.items():
        arms[name] = {"slug": spec.slug(), "gmacs": costs[name].gmacs * views.get(name, 1),
                      "gmacs_view": costs[name].gmacs, "params": costs[name].params,
                      "groups": [g for g, members in groups.items() if name in members],
                      "preset": next((a.preset for a in cfg.arms if a.name == name), ""),
                      "views": views.get(name, 1), "adequacy": arm_adequacy.get(name),
                      **{m: est(values[m][name].values()) for m in values if name in values[m]
                         and m not in COST_METRICS}}
    failed = {key for key, a in adequacy.items() if not a.adequate}
    trained = _without(full, failed)
    independent = len(processes - {None}) >= MIN_LATENCY_PROCESSES
    half_runs = read_results(directory / HALF_SUBDIR) if (directory / HALF_SUBDIR).is_dir() else []
    half = _grid(half_runs, aliases, clip_groups) if half_runs else None
    for g in (trained, half):
        if g is not None:
            for key in COST_METRICS:
                g.values[key], g.selection[key] = values[key], selection[key]
            for key in LATENCY_METRICS:
                if key in values:
                    g.values[key] = values[key]
    claims = []
    for c in cfg.claims:
        result = evaluate_claim(c, cfg, trained, arms, regime=regime, latency_independent=independent)
        if not result.exact and result.verdict != OTHER_REGIME:  # no run counts for these
            result.dropped = [f"{a} seed {s}" for a, s in sorted(failed) if a in _named(c, cfg, arms)]
        if result.verdict == UNDERTRAINED:  # no verdict; the effect over every run, for information
            result = evaluate_claim(c, cfg, full, arms, regime=regime, latency_independent=independent)
            result.detail += "; the effect over every run, trained or not: no verdict"
        if half is not None and not result.exact and result.verdict != OTHER_REGIME:
            result.half = evaluate_claim(c, cfg, half, arms, regime=regime, latency_independent=independent).estimate
            result.budget_sensitive = _flips(result.estimate, result.half, c.threshold)
        claims.append(result)
    holm_family(claims)
    discordant = {}
    for metric in LATENCY_METRICS:
        names = [n for n in arms if n in values.get(metric, {}) and n not in aliases]
        if len(names) > 1:
            per_view = {n: arms[n]["gmacs_view"] for n in names}  # a timed forward pass is one view
            discordant[metric] = stats.discordant_pairs(values[metric], per_view, names, method=seeds_method(cfg),
                                                        confidence=cfg.confidence)
    search_rows = read_results(directory / SEARCH_SUBDIR) if cfg.search is not None else []
    return StudyResult(cfg, arms, values, claims, runs, search_rows, read_timing(directory), discordant,
                       latency_device, min(views.values(), default=1), aliases, regime, adequacy, arm_adequacy,
                       half_runs)


def _latency(directory: Path, values: dict[str, stats.Values], aliases: dict[str, str]) -> tuple[str, set]:
    """Latency rounds into `values[latency metric][arm][round]`; the device line and the processes."""
    path, device, processes = directory / LATENCY_FILE, "not measured", set()
    if path.is_file():
        for row in pq.read_table(path).to_pylist():
            device = f"{row['device']}, {row['threads']} threads"
            processes.add(row.get("process"))
            for key in LATENCY_METRICS:
                if row.get(key) is not None and math.isfinite(row[key]):
                    for arm in [row["arm"], *(f for f, t in aliases.items() if t == row["arm"])]:
                        values.setdefault(key, {}).setdefault(arm, {})[row["round"]] = float(row[key])
    return device, processes


def _flips(full: stats.Estimate, half: stats.Estimate | None, threshold: float) -> bool:
    """Whether the effect lies on the other side of the threshold at half the budget."""
    if half is None or not (math.isfinite(full.mean) and math.isfinite(half.mean)):
        return False
    return (full.mean - threshold) * (half.mean - threshold) < 0


def _named(claim: Claim, cfg: StudyConfig, arms: dict[str, Any]) -> list[str]:
    return [x for x in cfg.resolve([*claim.a, *claim.b]) if x in arms]
