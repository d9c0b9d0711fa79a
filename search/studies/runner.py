"""Running a study: its arms (presets at the study's scale) x seeds through the search engine, an
optional joint search first whose front is retrained as arms, and latency in fresh processes.

    STUDY_DIR = STORAGE/NAME
    STUDY_DIR/study_config.yaml   the StudyConfig it runs
    STUDY_DIR/...                 the arms x seeds grid: a search directory (search.engine.tuner)
    STUDY_DIR/search/             the joint search, if any (a search directory of its own)
    STUDY_DIR/half/               the arms retrained at half the epochs (`half_budget_seeds`): budget sensitivity
    STUDY_DIR/aliases.json        found arms that are the same architecture as another arm
    STUDY_DIR/latency.parquet     arm, round, process, latency_ms (forward), step_ms (forward+backward)
    STUDY_DIR/timing.json         wall seconds per phase, summed over resumes
    STUDY_DIR/study_report/       report.md, report.html, plots, summary.json (search.studies.report)
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
import yaml

from search.data.store import ClipStore
from search.engine.config import ConfigError, SearchConfig
from search.engine.config import load_search_config
from search.engine.glue import ray_running
from search.engine.tuner import Grid, Search
from search.errors import SearchError
from search.record.results import read_results, selection_view
from search.studies.arms import arm_spec
from search.studies.config import (
    ALIASES_FILE, FOUND_GROUP, HALF_SUBDIR, LATENCY_FILE, SEARCH_SUBDIR, STUDY_CONFIG, TIMING_FILE, StudyConfig,
    read_timing,
)
from search.studies.latency import measure_in_process
from spaces import ArchSpec, atomic


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
        self.specs = {a.name: arm_spec(a, cfg, self.store.meta) for a in cfg.arms}
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
        atomic.write_text(saved, yaml.safe_dump(self.cfg.to_dict(), sort_keys=False))
        timing = read_timing(self.dir)
        if command:
            timing["command"] = command
        training = [phase for phase, on in (("search", self.cfg.search is not None), ("train", True),
                                            ("half", bool(self.cfg.half_seeds))) if on]
        left = [phase for phase in training if not timing.get(f"{phase}_done")]
        # Ray once for the phases that train, if any is left (and not for latency, which it would disturb)
        with ray_running(self.cfg.address, num_cpus=num_cpus, verbose=verbose) if left else contextlib.nullcontext():
            if "search" in training and not self._phase(timing, "search", lambda: self._search(num_cpus, verbose)):
                return False
            specs = dict(self.specs)
            if self.cfg.retrain_front:
                found, aliases = split_aliases(specs, found_arms(self.dir, self.cfg.retrain_front))
                specs |= found
                atomic.write_text(self.dir / ALIASES_FILE, json.dumps(aliases, indent=2))
            if not (self._phase(timing, "train", lambda: self._train(specs, num_cpus, verbose))
                    and (not self.cfg.half_seeds
                         or self._phase(timing, "half", lambda: self._train(specs, num_cpus, verbose, half=True)))):
                return False
        return self._phase(timing, "latency", lambda: self._latency(specs))

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
                 "experiment": self.cfg.name, "address": self.cfg.address,
                 "init": dataclasses.asdict(self.cfg.init) if self.cfg.init else None}
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

    def arms_config(self, specs: dict[str, ArchSpec], *, half: bool = False) -> SearchConfig:
        """The arms x seeds grid as a search of fixed trials: in the study directory itself, or at
        half the epochs on `half_budget_seeds` in STUDY_DIR/half."""
        cfg = self.cfg
        frames = sorted({s.frames for s in specs.values()})
        crop = next(iter(specs.values())).crop
        name, storage = (HALF_SUBDIR, str(self.dir)) if half else (cfg.name, str(self.dir.parent))
        seeds, epochs = (cfg.half_seeds, cfg.epochs // 2) if half else (cfg.seeds, cfg.epochs)
        return SearchConfig.from_dict({
            "name": name, "data": cfg.data, "storage": storage,
            "trials": len(specs) * len(seeds), "epochs": epochs, "min_epochs": 1, "early_stopping": False,
            "concurrency": cfg.concurrency, "cpus_per_trial": cfg.cpus_per_trial, "gpus_per_trial": cfg.gpus_per_trial,
            "amp": cfg.amp, "optim": dataclasses.asdict(cfg.optim), "tracking_uri": cfg.resolved_tracking_uri(),
            "experiment": cfg.name + ("-half" if half else ""), "address": cfg.address, "seed": seeds[0],
            "init": dataclasses.asdict(cfg.init) if cfg.init else None,
            "space": {"frames": frames, "crop": crop}}, where="study")

    def _train(self, specs: dict[str, ArchSpec], num_cpus: int | None, verbose: int, *, half: bool = False) -> Any:
        labels = {s.to_json(): name for name, s in specs.items()}
        config = self.arms_config(specs, half=half)
        search = Search(config, labels=labels)
        resume = (config.search_dir / "tune" / "tuner.pkl").exists()
        seeds = self.cfg.half_seeds if half else self.cfg.seeds
        return search.run(resume=resume, num_cpus=num_cpus, verbose=verbose,
                          grid=Grid(tuple(specs.values()), tuple(seeds)))

    def _latency(self, specs: dict[str, ArchSpec]) -> Path:
        """Every arm's forward and forward+backward time: each round a fresh process (`search.studies.latency`)
        timing every arm in turn, so the rounds are independent replicates."""
        lat = self.cfg.latency
        device = "cuda" if self.cfg.gpus_per_trial > 0 and torch.cuda.is_available() else "cpu"
        rows = []
        for r in range(lat.rounds):
            order = list(specs) if r % 2 == 0 else list(reversed(specs))  # no arm always first
            rows += measure_in_process({n: specs[n] for n in order}, batch=lat.batch, repeats=lat.repeats,
                                       threads=lat.threads, device=device, round_=r)
        path = self.dir / LATENCY_FILE
        with atomic.replacing(path) as tmp:
            pq.write_table(pa.Table.from_pylist(rows), tmp)
        return path

    def _save_timing(self, timing: dict[str, Any]) -> None:
        atomic.write_text(self.dir / TIMING_FILE, json.dumps(timing, indent=2))
