"""`vidnas bench build`: train every point of a benchmark's sub-space through the search engine
(Ray Tune trials, MLflow runs, any cluster or GPU), then write its table.

    STORAGE/NAME/          the engine's search directory: every point at `seed`
    STORAGE/NAME-noise/    every `noise_every`-th point again at `noise_seed` (seed noise)
    STORAGE/NAME-front/    with `front_seed`: the points within `front_sds` seed SDs of the
                           front (on the first two seeds' means) once more
    STORAGE/NAME.timing.json  wall seconds, summed over resumes
    OUT/NAME.parquet       the table (search.tabular.table)

Both directories resume where they stopped: run the same command again after an interrupt.
"""
from __future__ import annotations

import json
import math
import platform
import time
from pathlib import Path
from typing import Any

import torch
from mlflow.tracking import MlflowClient

from search.data.store import ClipStore
from search.engine.config import ConfigError, SearchConfig
from search.engine.tuner import Grid, Search
from search.provenance import code_version
from search.record.results import read_results
from search.record.tracking import retry
from search.tabular.config import BenchConfig
from search.tabular.space import point_id, point_spec
from search.tabular.table import CURVE_KEYS, Table, near_front
from spaces import ArchSpec, atomic
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


def build(cfg: BenchConfig, *, num_cpus: int | None = None, verbose: int = 0) -> Path | None:
    """Train (or resume) every point; the table's path once all are complete, else None."""
    store = ClipStore.open(cfg.data)
    num_classes = len(store.meta.classes)
    specs = point_specs(cfg, num_classes)
    bounds = bounds_of(cfg, num_classes)
    ids = list(specs)
    runs = [(cfg.name, ids, cfg.seed), (f"{cfg.name}-noise", ids[::cfg.noise_every], cfg.noise_seed)]
    if cfg.front_seed is not None:
        runs.append((f"{cfg.name}-front", None, cfg.front_seed))  # chosen once the first two are in
    timing_file = Path(cfg.storage) / f"{cfg.name}.timing.json"
    searches = []
    for name, subset, seed in runs:
        if subset is None:
            subset = near_front(collect(cfg, searches, specs, store), cfg.front_sds)
        search = Search(search_config(cfg, name, len(subset), seed, bounds),
                        labels={specs[p].to_json(): p for p in subset})
        resume = search.storage.has_tune_state()
        print(f"[vidnas bench] {name}: {len(subset)} points x {cfg.epochs} epochs at seed {seed}"
              f"{' (resuming)' if resume else ''}", flush=True)
        began = time.perf_counter()
        outcome = search.run(resume=resume, num_cpus=num_cpus, verbose=verbose,
                             grid=Grid(tuple(specs[p] for p in subset), (seed,)))
        _add_time(timing_file, name, time.perf_counter() - began)
        if not outcome.finished:
            return None
        searches.append(search)
    table = collect(cfg, searches, specs, store)
    path = table.write(cfg.table_path)
    return path


def partial(cfg: BenchConfig) -> Table:
    """The table of the points complete so far (while a build runs, or after an interrupt)."""
    store = ClipStore.open(cfg.data)
    specs = point_specs(cfg, len(store.meta.classes))
    bounds = bounds_of(cfg, len(store.meta.classes))
    names = [(cfg.name, cfg.seed), (f"{cfg.name}-noise", cfg.noise_seed)]
    if cfg.front_seed is not None:
        names.append((f"{cfg.name}-front", cfg.front_seed))
    searches = [Search(search_config(cfg, name, 1, seed, bounds)) for name, seed in names]
    return collect(cfg, [s for s in searches if (s.dir / "results.parquet").is_file()], specs, store, complete_only=True)


def collect(cfg: BenchConfig, searches: list[Search], specs: dict[str, ArchSpec], store: ClipStore, *,
            complete_only: bool = False) -> Table:
    """The table from the engine's records: each trial's row (results.parquet) and its per-epoch
    metrics (MLflow's history, one point per epoch)."""
    by_spec = {s.to_json(): p for p, s in specs.items()}
    rows: list[dict[str, Any]] = []
    for search in searches:
        client = MlflowClient(search.cfg.resolved_tracking_uri())
        for r in read_results(search.dir):
            if r["state"] != "complete" and complete_only:
                continue
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
    timing_file = Path(cfg.storage) / f"{cfg.name}.timing.json"
    timing = json.loads(timing_file.read_text()) if timing_file.is_file() else {}
    provenance = {"config": cfg.to_dict(), "code_version": code_version(),
                  "store_fingerprint": searches[0].store_fingerprint(), "store_classes": len(store.meta.classes),
                  "seeds": {"all": cfg.seed, "noise": cfg.noise_seed, "noise_every": cfg.noise_every,
                            "front": cfg.front_seed, "front_sds": cfg.front_sds},
                  "device": device_label(cfg), "wall_seconds": timing, "created": time.strftime("%Y-%m-%d %H:%M UTC",
                                                                                               time.gmtime())}
    axes = {point_id(p): p for p in cfg.points()}
    points = {p: {"spec": specs[p].to_json(), **axes[p]} for p in specs}
    return Table.from_rows(rows, points, cfg.objectives, provenance)


def device_label(cfg: BenchConfig) -> str:
    if cfg.gpus_per_trial > 0 and torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)} ({cfg.gpus_per_trial:g} GPU per trial), torch {torch.__version__}"
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (f"CPU: {cpu}, {cfg.concurrency} trials x {cfg.cpus_per_trial} core(s), torch {torch.__version__}")


def _add_time(path: Path, name: str, seconds: float) -> None:
    timing = json.loads(path.read_text()) if path.is_file() else {}
    timing[name] = timing.get(name, 0.0) + seconds
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_text(path, json.dumps(timing, indent=1))
