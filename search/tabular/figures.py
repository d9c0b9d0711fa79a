"""Replays of many strategies x seeds against a table (cached, resumable), summarized the way
the HPO field reports them (JAHS-Bench-201, Syne Tune): hypervolume over simulated time with the
mean and a 95% interval over seeds, the compute needed to reach 95% of the full grid's
hypervolume as a ratio to uniform random search without replacement (the table's points
shuffled), and the average rank over time.

The grid's hypervolume is what exhaustive search would report: the test hypervolume of the
validation front of every point. A strategy can end above it (its own validation front differs)
or never reach it.

    OUT/runs.jsonl        one replay per line (strategy, seed, workers, budget, table digest, code
                          version, trials): reused only for the same table, settings and code
    OUT/summary.json      the figures below, per strategy
    OUT/ratios.md         the ratio table
    OUT/hypervolume.png   hypervolume over simulated time; OUT/rank.png average rank over time
"""
from __future__ import annotations

import hashlib
import json
import multiprocessing
import math
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

import numpy as np
from scipy import stats as st
from tqdm import tqdm

from search.tabular.ratios import BASELINE, TARGET, StrategySummary, choose_default, ratio_table, versus
from search.tabular.replay import Run, Strategy, canonical, grid_seconds, hv_curve, replay, reported_hv
from search.tabular.table import Table
from spaces import atomic

def table_digest(table: Table) -> str:
    rows = json.dumps([[r["point"], r["seed"], r["epoch"], r["val_top1"], r.get("test_top1"), r["epoch_seconds"]]
                       for r in table.rows], sort_keys=True)
    return hashlib.sha256(rows.encode()).hexdigest()[:16]


# What a replay's trials depend on besides the table: the simulator, the search's searcher and
# schedulers, the peer, and the libraries they call.
# search/engine/config.py: a strategy's parts left out are SearchConfig's defaults
REPLAY_SOURCES = ("search/tabular/replay.py", "search/tabular/peer.py", "search/tabular/space.py", "search/tabular/table.py",
                  "search/engine/searcher.py", "search/engine/scheduler.py", "search/engine/strata.py", "search/pareto.py",
                  "search/engine/config.py", "spaces/sample.py")
REPLAY_LIBRARIES = ("optuna", "ray", "syne_tune", "numpy", "scipy", "pandas", "torch")


def replay_libraries() -> dict[str, str]:
    """The installed version of each library a replay depends on ("absent" if not installed)."""
    from importlib import metadata

    versions = {}
    for library in REPLAY_LIBRARIES:
        try:
            versions[library] = metadata.version(library.replace("_", "-"))
        except metadata.PackageNotFoundError:
            versions[library] = "absent"
    return versions


def replay_platform() -> dict[str, str]:
    """The vector instructions a replay's numerics run on: the kernels numpy dispatched to on this
    CPU (X86_V4 is AVX-512, X86_V3 AVX2) and torch's CPU capability (GPSampler's model). They round
    differently in the last bit, and TPE and GPSampler pick the candidate with the best score, so
    their replays differ between CPUs with and without AVX-512 (README, "Search efficiency"). Set
    NPY_DISABLE_CPU_FEATURES="X86_V4 AVX512_ICL AVX512_SPR" and ATEN_CPU_CAPABILITY=avx2 to replay
    as a CPU without AVX-512 does."""
    import torch
    from numpy.lib.introspect import opt_func_info

    numpy_simd = sorted({target["current"] for kernels in opt_func_info().values() for target in kernels.values()
                         if "current" in target})
    return {"numpy_simd": " ".join(numpy_simd), "torch_cpu": torch.backends.cpu.get_cpu_capability()}


def replay_version() -> str:
    """A digest of the code, the library versions and the vector instructions a replay depends on:
    a cached replay is reused only when all are unchanged (a seed replays the same trials)."""
    root = Path(__file__).parents[2]
    h = hashlib.sha256()
    for source in REPLAY_SOURCES:
        h.update(source.encode() + b"\0" + (root / source).read_bytes())
    for library, version in replay_libraries().items():
        h.update(f"{library}={version}".encode())
    for name, value in replay_platform().items():
        h.update(f"{name}={value}".encode())
    return h.hexdigest()[:16]


def run_all(table: Table, strategies: list[str], seeds: int, *, workers: int, budget: float, out: Path,
            runner: Callable[..., Run] | None = None, jobs: int = 1, first_seed: int = 0) -> list[Run]:
    """Every (strategy, seed) replay, seeds `first_seed` on, reusing those already in OUT/runs.jsonl
    for this table and settings (a long set of replays resumes where it stopped); `jobs` replays at
    once, in processes of their own (each replay is one thread; this process alone writes the cache)."""
    out.mkdir(parents=True, exist_ok=True)
    cache = out / "runs.jsonl"
    digest, code = table_digest(table), replay_version()
    done: dict[tuple[str, int], Run] = {}
    if cache.is_file():
        for line in atomic.complete_lines(cache):  # a line torn by a kill is dropped, to replay again
            d = json.loads(line)
            if (d["table"], d.get("code"), d["workers"], d["budget"]) == (digest, code, workers, budget):
                done[(d["strategy"], d["seed"])] = Run(d["strategy"], d["seed"], d["workers"], d["budget_s"],
                                                       d["trials"], d["searcher_seconds"])
    plan = []
    for entry in strategies:
        name, _, fewer = entry.partition("@")  # `gp/fifo@5`: at most 5 seeds (a slow sampler)
        name = canonical(name)
        count = min(seeds, int(fewer)) if fewer else seeds
        plan += [(name, seed) for seed in range(first_seed, first_seed + count)]
    todo = [key for key in plan if key not in done]
    def record(run: Run, bar: tqdm) -> None:
        atomic.append_line(cache, json.dumps({"table": digest, "code": code, "budget": budget, **asdict(run)}))
        done[(run.strategy, run.seed)] = run
        bar.set_postfix_str(f"{run.strategy} seed {run.seed}")
        bar.update()

    with tqdm(total=len(todo), desc="replays", unit="run", disable=not todo, file=sys.stderr) as bar:
        if jobs > 1 and runner is None and len(todo) > 1:
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(jobs, mp_context=context, initializer=_hold, initargs=(table,)) as pool:
                futures = [pool.submit(_replay_held, name, seed, workers, budget) for name, seed in todo]
                for future in as_completed(futures):
                    record(future.result(), bar)
        else:
            for name, seed in todo:
                record((runner or _replay)(table, name, seed=seed, workers=workers, budget=budget), bar)
    return [done[key] for key in plan]


_held: Table | None = None  # a replay process's table, sent once


def _hold(table: Table) -> None:
    global _held
    _held = table


def _replay_held(name: str, seed: int, workers: int, budget: float) -> Run:
    return _replay(_held, name, seed=seed, workers=workers, budget=budget)


def _replay(table: Table, name: str, *, seed: int, workers: int, budget: float) -> Run:
    if name.startswith("peer:"):
        from search.tabular.peer import peer_replay
        return peer_replay(table, name, seed=seed, workers=workers, budget=budget)
    return replay(table, Strategy.parse(name), seed=seed, workers=workers, budget=budget)


def _t95(table: Table, run: Run, target: float, split: str = "test") -> float | None:
    found: list[tuple[str, int | None]] = []
    for end, point, seed in run.completions():
        found.append((point, seed))
        if reported_hv(table, found, split=split) >= target:
            return end * run.workers / grid_seconds(table)
    return None


def summarize(table: Table, runs: list[Run], *, steps: int = 60) -> tuple[list[float], dict[str, StrategySummary]]:
    """Per strategy: the curves on a common time axis (fraction of the budget) and the ratios."""
    full = reported_hv(table, table.points)
    full_val = reported_hv(table, table.points, split="val")
    by: dict[str, list[Run]] = {}
    for run in runs:
        by.setdefault(run.strategy, []).append(run)
    budget_s = max(r.budget_s for r in runs)
    times = budget_s * np.concatenate([[0.0], np.geomspace(1e-3, 1.0, steps)])  # fine early on (log-scale plots)
    curves = {name: np.array([hv_curve(table, r, times) / full for r in rs]) for name, rs in by.items()}
    names = list(by)
    # average rank over time: at each seed, the strategies replayed with it ranked by hypervolume
    # (1 = best, ties averaged); a strategy's rank is its mean over its own seeds
    ranks: dict[str, list[np.ndarray]] = {n: [] for n in names}
    for s in range(max(len(rs) for rs in by.values())):
        present = [n for n in names if len(curves[n]) > s]
        values = np.array([curves[n][s] for n in present])  # (strategies, times)
        for n, r in zip(present, st.rankdata(-values, axis=0)):
            ranks[n].append(r)
    summaries = {}
    for name in names:
        c = curves[name]
        k = len(c)
        half = st.t.ppf(0.975, k - 1) * c.std(axis=0, ddof=1) / math.sqrt(k) if k > 1 else np.zeros(len(times))
        t95 = [_t95(table, r, TARGET * full) for r in by[name]]
        reached = [t for t in t95 if t is not None]
        median = float(np.median([t if t is not None else math.inf for t in t95]))
        val_t95 = [_t95(table, r, TARGET * full_val, "val") for r in by[name]]
        val_median = float(np.median([t if t is not None else math.inf for t in val_t95]))
        trials = [len(r.trials) for r in by[name]]
        pruned = sum(sum(t["state"] == "pruned" for t in r.trials) for r in by[name]) / max(sum(trials), 1)
        summaries[name] = StrategySummary(
            name, k, c.mean(axis=0).tolist(), (c.mean(axis=0) - half).tolist(), (c.mean(axis=0) + half).tolist(),
            np.mean(ranks[name], axis=0).tolist(), float(c[:, -1].mean()), t95, len(reached),
            None if math.isinf(median) else median, None, None, None, float(np.mean(trials)), pruned,
            float(np.mean([r.searcher_seconds for r in by[name]])), None if math.isinf(val_median) else val_median,
            val_t95)
    base = summaries.get(BASELINE)
    for s in summaries.values():
        if base is not None and s.strategy != BASELINE:
            s.ratio, s.ratio_low, s.ratio_high = versus(s, base, "test")
            s.val_ratio, s.val_ratio_low, s.val_ratio_high = versus(s, base, "val")
    return (times / budget_s).tolist(), summaries


def write(out: Path, table: Table, fractions: list[float], summaries: dict[str, StrategySummary], *,
          workers: int, budget: float) -> list[Path]:
    from search.tabular.plots import plot_hv, plot_rank

    info = {"table": table.provenance.get("config", {}).get("name"), "points": len(table.points),
            "workers": workers, "budget_x_grid": budget, "grid_worker_seconds": grid_seconds(table),
            "grid_hypervolume": reported_hv(table, table.points), "reference": table.reference,
            "target": TARGET, "baseline": BASELINE, "budget_fraction": fractions,
            "chosen": getattr(choose_default(summaries), "strategy", None),
            # what the figures were replayed with: another CPU, numpy or Optuna may move the model-based rows
            "replay_version": replay_version(), "libraries": replay_libraries(), "platform": replay_platform(),
            "strategies": {k: asdict(v) for k, v in summaries.items()}}
    atomic.write_text(out / "summary.json", json.dumps(info, indent=1))
    atomic.write_text(out / "ratios.md", ratio_table(summaries, budget) + "\n")
    shown = highlight(summaries)
    return [out / "summary.json", out / "ratios.md",
            plot_hv(out / "hypervolume.png", fractions, summaries, budget, shown),
            plot_rank(out / "rank.png", fractions, summaries, shown)]


def highlight(summaries: dict[str, StrategySummary]) -> list[str]:
    """The strategies the plots draw in colour: random search, the rule's pick, the fastest of all,
    the search's plain default and the contrasts (the peer, single-objective ASHA); all of a few."""
    if len(summaries) <= 8:
        return list(summaries)
    chosen = choose_default(summaries)
    fastest = min((s for s in summaries.values() if s.median_t95 is not None), key=lambda s: s.median_t95,
                  default=None)
    names = [BASELINE, chosen and chosen.strategy, fastest and fastest.strategy, Strategy.parse("tpe/moasha").name]
    names += [n for n in summaries if n.startswith("peer:") or "/asha" in n]
    return [n for n in dict.fromkeys(names) if n in summaries][:10]


def load_summary(out: Path) -> dict[str, Any]:
    return json.loads((out / "summary.json").read_text())


def load_summaries(out: Path) -> dict[str, StrategySummary]:
    return {k: StrategySummary(**v) for k, v in load_summary(out)["strategies"].items()}
