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
from spaces import ArchSpec, cost

UNDERTRAINED, OTHER_REGIME = "undertrained", "other regime"  # verdicts beside stats.VERDICTS
CHOOSING = ("matched_cost", "dominance")  # tests that choose arms: on validation values only
VERDICTS = (*stats.VERDICTS, UNDERTRAINED, OTHER_REGIME)


@dataclass
class ClaimResult:
    claim: Claim
    estimate: stats.Estimate
    verdict: str
    replicates: str  # "seeds", "seeds x test clips", "latency processes" or "" (exact)
    detail: str  # which arms were compared
    test: str = ""  # the effect, the test, the interval, n and the replicate unit in one line
    p_raw: float = math.nan  # the one-sided test's p (times the choices made, for dominance)
    p_adjusted: float = math.nan  # Holm-adjusted over the study's family of claims
    alpha: float = math.nan  # the level p_adjusted is held to (lower for dominance's widened interval)
    seeds_only: stats.Estimate | None = None  # the interval over seeds alone, for contrast
    half: stats.Estimate | None = None  # the same effect at half the epochs (`half_budget_seeds`)
    budget_sensitive: bool = False  # the effect's side of the threshold differs at half the budget
    undertrained: list[str] = field(default_factory=list)  # arms that fail the adequacy rule
    dropped: list[str] = field(default_factory=list)  # runs left out: "arm seed N" (failed to train)
    exact: bool = False  # decided by construction (a structural test, or counted cost): no interval

    @property
    def in_family(self) -> bool:
        """In the multiplicity family: a confirmatory claim that was tested (not exact, not of another
        regime, not descriptive, not undertrained)."""
        return (not self.claim.exploratory and not self.exact and math.isfinite(self.p_raw)
                and self.verdict not in (stats.DESCRIPTIVE, UNDERTRAINED, OTHER_REGIME))


@dataclass
class Grid:
    """One arms x seeds grid's measurements: the full budget's, or the half budget's."""

    values: dict[str, stats.Values]  # metric -> arm -> seed -> value (run metrics: on test)
    selection: dict[str, stats.Values]  # the same on validation: what chooses
    hits: dict[str, dict[str, dict[int, np.ndarray]]]  # metric -> arm -> seed -> per test clip (NaN: n/a)


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


def seeds_method(cfg: StudyConfig) -> str:
    """The interval over seeds alone (per arm, latency, and claims without per-clip outcomes):
    the study's `interval`, or t where that is `crossed` (it needs the clips)."""
    return "bootstrap" if cfg.interval == "bootstrap" else "t"


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


def holm_family(claims: list[ClaimResult]) -> None:
    """Holm over the claims in the family; the others keep their verdict with no adjusted p."""
    family = [c for c in claims if c.in_family]
    for c, p in zip(family, stats.holm([c.p_raw for c in family])):
        c.p_adjusted = p
        c.verdict = stats.verdict(c.estimate, direction=c.claim.direction, threshold=c.claim.threshold,
                                  margin=c.claim.margin, p_adjusted=p, alpha=c.alpha)


def _named(claim: Claim, cfg: StudyConfig, arms: dict[str, Any]) -> list[str]:
    return [x for x in cfg.resolve([*claim.a, *claim.b]) if x in arms]


def evaluate_claim(claim: Claim, cfg: StudyConfig, grid: Grid, arms: dict[str, dict[str, Any]], *, regime: str = "",
                   latency_independent: bool) -> ClaimResult:
    """A claim's effects, interval and raw p-value; its verdict before multiplicity (`analyze`
    gives the final one after Holm). Exact claims and cost claims are decided by construction;
    a claim of another regime is not evaluated; a claim on accuracy whose arms are not adequately
    trained is undertrained; latency claims are descriptive unless their rounds ran in at least
    MIN_LATENCY_PROCESSES fresh processes."""
    alpha = stats.one_sided_alpha(cfg.confidence)
    if claim.regimes and regime and regime not in claim.regimes:
        return ClaimResult(claim, stats.Estimate.of([]), OTHER_REGIME, "", f"stated for {', '.join(claim.regimes)} "
                           f"only; this store is {regime}", "not evaluated")
    if claim.test == "exact":
        point = stats.Estimate(claim.value, claim.value, claim.value, 0, 0.0, "exact", cfg.confidence)
        return ClaimResult(claim, point, _point_verdict(claim, point), "", f"by construction, proven by "
                           f"`{claim.proof}`", "exact: a structural test proves the value", alpha=alpha,
                           exact=True)
    a = [x for x in cfg.resolve(claim.a) if x in arms]
    b = [x for x in cfg.resolve(claim.b) if x in arms]
    metric = grid.values.get(claim.metric, {})
    latency = claim.metric in LATENCY_METRICS or claim.cost in LATENCY_METRICS
    costs = {n: float(np.mean(list(grid.values[claim.cost][n].values()))) for n in arms
             if n in grid.values.get(claim.cost, {})}
    missing = [x for x in [*a, *b] if x not in metric or (claim.test != "difference" and x not in costs)
               or (claim.test in CHOOSING and x not in grid.selection.get(claim.metric, {}))]  # never chosen on test
    k, contrast, detail = 1, None, ""
    if missing:
        detail = f"no {claim.metric} for {', '.join(missing)} (failed, not adequately trained, or not run)"
    elif claim.test == "difference":
        contrast, detail = stats.Contrast.of(stats.difference_weights(a, b)), f"{' + '.join(a)} vs {' + '.join(b)}"
    elif claim.test == "matched_cost":
        pairs, outside = stats.bracket_pairs(grid.selection.get(claim.metric, {}), costs, a, b,
                                             direction=claim.direction, max_ratio=claim.max_ratio)
        contrast = stats.Contrast.pairs(pairs) if pairs else None
        detail = ("; ".join(f"{x} vs {y}" for x, y in pairs) + f" (the harder {claim.cost} neighbour of b, "
                  f"chosen on val, within a {claim.max_ratio:g}x bracket)" if pairs else "no arm of a bracketed by b")
        if outside:
            detail += f"; left out (no b arms on both sides within {claim.max_ratio:g}x): {', '.join(outside)}"
    elif claim.test == "dominance":  # chosen on val, measured on test, the choice paid for (Bonferroni)
        _, chosen = stats.dominance(grid.selection.get(claim.metric, {}), metric, costs, a, b)
        contrast = stats.Contrast.pairs([(x, y) for y, x in chosen.items()]) if chosen else None
        k = stats.choices(costs, a, list(chosen))
        detail = ("; ".join(f"{x} vs {y}" for y, x in chosen.items()) + f" (best of a on val; Bonferroni over {k} "
                  f"choices)" if chosen else f"no arm of a at or below the {claim.cost} of any arm of b")
        uncovered = [y for y in b if y not in chosen]
        if chosen and uncovered:  # the claim is about every b arm: say which it could not speak for
            detail += f"; not covered: {', '.join(uncovered)} (no arm of a at or below its {claim.cost})"
    elif claim.test == "rank_agreement":
        detail = f"Kendall tau of {claim.cost} vs {claim.metric} over {', '.join(a)}"
    confidence = 1 - (1 - cfg.confidence) / k
    if claim.metric in COST_METRICS and contrast is not None:  # counted, not estimated
        value = sum(w * float(np.mean(list(metric[x].values()))) for x, w in contrast.weights.items())
        point = stats.Estimate(value, value, value, 0, 0.0, "exact", cfg.confidence)
        return ClaimResult(claim, point, _point_verdict(claim, point), "", detail + " (counted)",
                           f"exact: {claim.metric} counted by torch.utils.flop_counter", alpha=alpha, exact=True)
    involved = [x for x in contrast.arms if x in arms] if contrast else [*a, *b]
    undertrained = [x for x in involved if not latency and arms[x].get("adequacy") is not None
                    and not arms[x]["adequacy"].adequate]
    if claim.test == "rank_agreement":
        effects = stats.rank_agreement(metric, costs, a) if not missing else []
        estimate = stats.Estimate.of(effects, confidence=confidence, bounds=stats.TAU_BOUNDS)
        seeds_only, replicates = estimate, "latency processes" if latency else "seeds"
        p_raw = stats.p_value(effects, direction=claim.direction, threshold=claim.threshold)
    else:
        effects = stats.replicate_effects(metric, contrast) if contrast else []
        seeds_only = stats.Estimate.of(effects, confidence=confidence)
        hits = grid.hits.get(claim.metric, {})
        crossed = (cfg.interval == "crossed" and contrast is not None and all(x in hits for x in contrast.arms))
        if crossed:
            d = stats.clip_contributions(hits, contrast)
            estimate = stats.Estimate.crossed(d, confidence=confidence)
            p_raw = stats.p_value_crossed(d, direction=claim.direction, threshold=claim.threshold)
            replicates = "seeds x test clips"
        else:
            estimate = stats.Estimate.of(effects, method=seeds_method(cfg), confidence=confidence)
            p_raw = stats.p_value(effects, direction=claim.direction, threshold=claim.threshold)
            replicates = "latency processes" if latency else "seeds"
    coverage = contrast.coverage(metric) if contrast is not None and len(contrast.units) > 1 else ""
    if coverage:
        detail += f"; seeds: {coverage} (a unit is a pair; a seed counts the pairs it has)"
    p_raw = min(1.0, k * p_raw) if math.isfinite(p_raw) else p_raw
    test = stats.describe_test(claim.test, estimate.method if estimate.method in stats.INTERVALS else "t",
                               estimate.n, replicates.split(" x ")[0] if replicates else "seeds")
    if replicates == "seeds x test clips":
        test += " and the test clips they share (crossed random effects)"
    if undertrained:
        verdict = UNDERTRAINED
    elif latency and not latency_independent:
        verdict = stats.DESCRIPTIVE
        test += f" (descriptive: fewer than {MIN_LATENCY_PROCESSES} independent timing processes)"
    else:
        verdict = stats.verdict(estimate, direction=claim.direction, threshold=claim.threshold, margin=claim.margin)
    return ClaimResult(claim, estimate, verdict, replicates, detail, test, p_raw, alpha=alpha / k,
                       seeds_only=seeds_only, undertrained=undertrained)


def _point_verdict(claim: Claim, point: stats.Estimate) -> str:
    """reproduced / not reproduced for a value known exactly (a point interval)."""
    return stats.verdict(point, direction=claim.direction, threshold=claim.threshold, margin=claim.margin)
