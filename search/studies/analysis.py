"""A study's analysis: per-arm estimates, each claim's effect on the test split, its interval,
p-value, Holm adjustment over the study and verdict (`search.studies.stats`)."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from search.results import read_results
from search.studies import stats
from search.studies.config import (
    ALIASES_FILE, COST_METRICS, LATENCY_FILE, LATENCY_METRICS, MIN_LATENCY_PROCESSES, RUN_METRICS, SEARCH_SUBDIR,
    Claim, StudyConfig, load_study_config,
)
from search.studies.runner import read_timing
from search.tuner import SearchError
from spaces import ArchSpec, cost


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
    """metric -> arm -> seed -> value, from the runs' `<prefix><metric>` columns (and the
    split-free `train_clips_per_s`)."""
    values: dict[str, stats.Values] = {}
    for r in complete:
        for key, v in r.items():
            name = key.removeprefix(prefix)
            if v is not None and (name in RUN_METRICS or (name != key and name.startswith("acc_"))):
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
        uncovered = [y for y in b if y not in pairs]
        if pairs and uncovered:  # the claim is about every b arm: say which it could not speak for
            detail += f"; not covered: {', '.join(uncovered)} (no arm of a at or below its {claim.cost})"
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
