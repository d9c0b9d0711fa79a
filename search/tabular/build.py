"""`vidnas bench build`: train every point of a benchmark's sub-space through the search engine
(Ray Tune trials, MLflow runs, any cluster or GPU), then write its table.

Three seeds' runs: every point at `seed`; every `noise_every`-th point again at `noise_seed` (seed
noise); with `front_seed`, the points within `front_sds` seed SDs of the front (on the first two
seeds' means) once more. Each run trains the points its seed still lacks in pieces of `piece`
points, one engine search each (STORAGE/NAME-s<seed>-<hash>/, resumed after an interrupt), and each
finished piece is written to OUT/NAME.parts/ (search.tabular.pieces), which outlives the machine:

    OUT/NAME.parts/*.parquet   the finished pieces (commit them as they come)
    OUT/NAME.parquet           the table: their union, once every point of every run is in

Run the same command again after an interrupt, or on another machine with the pieces.
"""
from __future__ import annotations

import contextlib
import math
import os
import platform
import time
from pathlib import Path
from typing import Any

import torch
from mlflow.tracking import MlflowClient

from search.data.store import ClipStore
from search.engine.config import ConfigError, SearchConfig
from search.engine.glue import ray_running
from search.engine.tuner import Grid, Search
from search.provenance import code_version
from search.record.results import read_results
from search.record.tracking import retry
from search.tabular.config import BenchConfig
from search.tabular.space import point_id, point_spec
from search.tabular.pieces import Pieces, differs, piece_name
from search.tabular.table import CURVE_KEYS, Table, near_front
from spaces import ArchSpec
from spaces.bounds import SpaceBounds


def bounds_of(cfg: BenchConfig, num_classes: int) -> SpaceBounds:
    """The search-space bounds that hold every point of the benchmark."""
    axes = cfg.backbones.values()
    return SpaceBounds(backbones=tuple(cfg.backbones), widths=tuple(sorted({w for a in axes for w in a.widths})),
                       depths=(cfg.depth,), frames=(cfg.frames,), crop=cfg.crop, num_classes=num_classes,
                       temporal_kernels=(cfg.temporal_kernel,),
                       tosa_depths=tuple(sorted({d for a in axes for d in a.tosa_depths})))


def point_specs(cfg: BenchConfig, num_classes: int) -> dict[str, ArchSpec]:
    """point id -> its architecture; two points that build the same architecture are refused."""
    bounds = bounds_of(cfg, num_classes)
    specs: dict[str, ArchSpec] = {}
    seen: dict[str, str] = {}
    for point in cfg.points():
        pid = point_id(point)
        spec = point_spec(point, bounds, depth=cfg.depth, temporal_kernel=cfg.temporal_kernel)
        if spec.to_json() in seen:
            raise ConfigError(f"backbones: points {seen[spec.to_json()]} and {pid} build the same architecture at "
                              f"{cfg.frames} frames (a temporal conv on a 1-frame stage is 2D); drop one's layout")
        seen[spec.to_json()] = pid
        specs[pid] = spec
    return specs


def search_config(cfg: BenchConfig, name: str, trials: int, seed: int, bounds: SpaceBounds) -> SearchConfig:
    return SearchConfig(name=name, data=cfg.data, storage=cfg.storage, trials=trials, seed=seed, space=bounds,
                        epochs=cfg.epochs, early_stopping=False, concurrency=cfg.concurrency,
                        cpus_per_trial=cfg.cpus_per_trial, gpus_per_trial=cfg.gpus_per_trial, optim=cfg.optim,
                        test_curve=True, address=cfg.address, init=cfg.init)


def build(cfg: BenchConfig, *, num_cpus: int | None = None, verbose: int = 0,
          minutes: float | None = None) -> Path | None:
    """Train (or resume) the points the pieces lack; the table's path once all are in, else None
    (interrupted, or no new piece started after `minutes`)."""
    store = ClipStore.open(cfg.data)
    num_classes = len(store.meta.classes)
    specs = point_specs(cfg, num_classes)
    bounds = bounds_of(cfg, num_classes)
    pieces = Pieces(cfg, store.meta.fingerprint)
    ids = list(specs)
    runs: list[tuple[list[str] | None, int]] = [(ids, cfg.seed), (ids[::cfg.noise_every], cfg.noise_seed)]
    if cfg.front_seed is not None:
        runs.append((None, cfg.front_seed))  # chosen once the first two are in
    deadline = None if minutes is None else time.monotonic() + 60 * minutes
    checked = False
    with contextlib.ExitStack() as ray_once:  # Ray starts for the first piece to train, once for all
        for subset, seed in runs:
            if subset is None:  # on the first two seeds only: the same points however far the third got
                both = pieces.union(_points(cfg, specs), {})
                subset = near_front(Table([r for r in both.rows if r["seed"] in (cfg.seed, cfg.noise_seed)],
                                          both.objectives, both.reference, both.provenance), cfg.front_sds)
            done = pieces.done()
            todo = [p for p in subset if (p, seed) not in done]
            print(f"[vidnas bench] seed {seed}: {len(subset)} points x {cfg.epochs} epochs, {len(subset) - len(todo)} "
                  f"in {pieces.dir}, {len(todo)} to train in pieces of {cfg.piece}", flush=True)
            for group in (todo[i:i + cfg.piece] for i in range(0, len(todo), cfg.piece)):
                if deadline is not None and time.monotonic() > deadline:
                    print(f"[vidnas bench] {minutes:g} min are up: no new piece started", flush=True)
                    return None
                if not checked:
                    ray_once.enter_context(ray_running(cfg.address, num_cpus=num_cpus, verbose=verbose))
                    if not _same_training(cfg, pieces, specs, bounds, store, num_cpus=num_cpus, verbose=verbose):
                        return None
                    checked = True
                search = Search(search_config(cfg, f"{cfg.name}-{piece_name(seed, group)}", len(group), seed, bounds),
                                labels={specs[p].to_json(): p for p in group})
                resume = search.storage.has_tune_state()
                began = time.perf_counter()
                outcome = search.run(resume=resume, num_cpus=num_cpus, verbose=verbose,
                                     grid=Grid(tuple(specs[p] for p in group), (seed,)))
                if not outcome.finished:
                    return None
                wall = time.perf_counter() - began  # this run's share only: a resumed piece's earlier runs are lost
                path = pieces.add(seed, group, collect(cfg, search, specs, store, wall))
                print(f"[vidnas bench] seed {seed}: wrote {path} ({len(group)} points, {wall / 60:.1f} min)",
                      flush=True)
    return pieces.union(_points(cfg, specs), _provenance(cfg, store)).write(cfg.table_path)


def _same_training(cfg: BenchConfig, pieces: Pieces, specs: dict[str, ArchSpec], bounds: SpaceBounds,
                   store: ClipStore, *, num_cpus: int | None, verbose: int) -> bool:
    """Before this code adds a piece to pieces of another code version: retrain the first point of
    the first piece and require its curves bit for bit (False: interrupted)."""
    version, tables = code_version(), pieces.tables()
    if not tables or version in pieces.checks() or all(t.provenance["code_version"] == version for _, t in tables):
        return True
    path, reference = tables[0]
    point, seed = reference.points[0], reference.seeds[0]
    print(f"[vidnas bench] code {version} adds to pieces of code {reference.provenance['code_version']}: "
          f"retraining {point} at seed {seed} first, to check it trains the same", flush=True)
    search = Search(search_config(cfg, f"{cfg.name}-check-{version}", 1, seed, bounds), labels={specs[point].to_json(): point})
    outcome = search.run(resume=search.storage.has_tune_state(), num_cpus=num_cpus, verbose=verbose,
                         grid=Grid((specs[point],), (seed,)))
    if not outcome.finished:
        return False
    diff = differs(reference, collect(cfg, search, specs, store, 0.0), point, seed)
    if diff is not None:
        raise ConfigError(f"code {version} does not train as code {reference.provenance['code_version']} did "
                          f"({path.name}): {point} at seed {seed}, {diff}; finish {pieces.dir} with that code, or "
                          "move it aside to rebuild the table with this one")
    pieces.record_check(version, {"point": point, "seed": seed, "piece": path.name,
                                  "code_version": reference.provenance["code_version"]})
    print(f"[vidnas bench] code {version} trains {point} as code {reference.provenance['code_version']} did, "
          "bit for bit", flush=True)
    return True


def partial(cfg: BenchConfig) -> Table:
    """The table of the pieces finished so far (while a build runs, or after an interrupt)."""
    store = ClipStore.open(cfg.data)
    specs = point_specs(cfg, len(store.meta.classes))
    return Pieces(cfg, store.meta.fingerprint).union(_points(cfg, specs), _provenance(cfg, store))


def _points(cfg: BenchConfig, specs: dict[str, ArchSpec]) -> dict[str, dict[str, Any]]:
    axes = {point_id(p): p for p in cfg.points()}
    return {p: {"spec": specs[p].to_json(), **axes[p]} for p in specs}


def _provenance(cfg: BenchConfig, store: ClipStore) -> dict[str, Any]:
    return {"config": cfg.to_dict(), "store_fingerprint": store.meta.fingerprint, "store_classes": len(store.meta.classes),
            "seeds": {"all": cfg.seed, "noise": cfg.noise_seed, "noise_every": cfg.noise_every,
                      "front": cfg.front_seed, "front_sds": cfg.front_sds},
            "created": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def collect(cfg: BenchConfig, search: Search, specs: dict[str, ArchSpec], store: ClipStore, wall: float) -> Table:
    """One piece's table from the engine's records: each trial's row (results.parquet) and its
    per-epoch metrics (MLflow's history, one point per epoch)."""
    by_spec = {s.to_json(): p for p, s in specs.items()}
    rows: list[dict[str, Any]] = []
    client = MlflowClient(search.cfg.resolved_tracking_uri())
    for r in read_results(search.dir):
        if r["state"] != "complete":
            raise ConfigError(f"{search.dir}: trial {r['trial_id']} ({r['slug']}) is {r['state']}: {r['reason']}; "
                              "the table needs every point complete")
        curves = {k: {m.step: m.value for m in retry(lambda k=k: client.get_metric_history(r["mlflow_run_id"], k))}
                  for k in CURVE_KEYS}
        for epoch in range(1, cfg.epochs + 1):
            rows.append({"point": by_spec[r["spec"]], "seed": r["seed"], "epoch": epoch,
                         **{k: curves[k].get(epoch, math.nan) for k in CURVE_KEYS},
                         "params": r["params"], "gmacs": r["gmacs"], "latency_ms": r["latency_ms"],
                         "slug": r["slug"], "mlflow_run_id": r["mlflow_run_id"]})
    return Table.from_rows(rows, _points(cfg, specs), cfg.objectives, {
        **_provenance(cfg, store), "code_version": code_version(), "device": device_label(cfg), "wall_seconds": {search.cfg.name: wall},
        "load_avg": load_avg()})


def load_avg() -> dict[str, float]:
    """The machine's load average as a piece ends (its 15 minutes ~ a piece on 2 cores) beside its
    core count: how much else ran while its epochs were timed (`concurrency` trials is the build alone)."""
    one, five, fifteen = os.getloadavg()
    return {"1min": round(one, 2), "5min": round(five, 2), "15min": round(fifteen, 2), "cores": os.cpu_count() or 0}


def device_label(cfg: BenchConfig) -> str:
    if cfg.gpus_per_trial > 0 and torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)} ({cfg.gpus_per_trial:g} GPU per trial), torch {torch.__version__}"
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (f"CPU: {cpu}, {cfg.concurrency} trials x {cfg.cpus_per_trial} core(s), torch {torch.__version__}")
