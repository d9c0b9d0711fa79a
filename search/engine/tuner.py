"""The search: Ray Tune trials, sampled by Optuna, stopped early by MO-ASHA, tracked in MLflow.

A search directory holds everything needed to resume, inspect and report::

    SEARCH_DIR/config.yaml       the SearchConfig it runs
    SEARCH_DIR/study.json        the Optuna study name (unique per search) and its journal
    SEARCH_DIR/optuna.journal    the Optuna study (open it with optuna-dashboard)
    SEARCH_DIR/tune/             Ray Tune's experiment: trial checkpoints, searcher state
    SEARCH_DIR/moasha.json       MO-ASHA's rungs and decisions (Tune does not save its scheduler)
    SEARCH_DIR/mlflow.db         the embedded MLflow store (unless tracking_uri is given)
    SEARCH_DIR/mlflow_parent.json  the search's parent run
    SEARCH_DIR/results.parquet   one row per trial (search.record.results)

Every path is found from the directory itself, so a search directory can be moved and resumed.
A search is finished when `trials` trials have ended (complete, pruned or failed). Ctrl-C, SIGTERM
or SIGUSR1 stop it and save it: its running trials are *interrupted* (not pruned), RUNNING in
Optuna, KILLED with `vidnas.state=interrupted` in MLflow, and `--resume` continues each from its
last checkpoint. After a SIGKILL, `--resume` reconciles the same way.

Example:
    >>> from search.engine.config import SearchConfig                      # doctest: +SKIP
    >>> outcome = run_search(SearchConfig.from_yaml("configs/demo.yaml"))  # doctest: +SKIP
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import math
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import ray
import yaml
from mlflow.tracking import MlflowClient
from ray import tune
from ray.train._internal.storage import StorageContext  # Tune's own, as tune.run builds it
from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

from search.data.store import ClipStore
from search.engine import validate
from search.engine.callback import StatePusher, TrackingCallback
from search.engine.config import SearchConfig, load_search_config
from search.engine.moved import alias_old_modules
from search.engine.reconcile import close_orphans, relog_lost_runs, rows_after_run
from search.engine.progress import ProgressCallback, Terminal, hv_reference
from search.engine.scheduler import MOASHAScheduler
from search.engine.glue import (local_gpus, moved_search_alg, quiet_tune, ray_running, sigterm_stops_tune,
                               trial_dirname, trial_name)
from search.engine.searcher import (JOURNAL_FILE, STUDY_FILE, FidelityOptunaSearch, create_study_file,
                             journal_storage, make_sampler, open_study)
from search.errors import ConfigError, DiskFull, SearchError, disk_full
from search.provenance import code_version
from search.record import models, tracking
from search.record.layout import CONFIG_FILE, SCHEDULER_FILE, TUNE_DIR
from search.record.report import write_report
from search.record.results import RESULTS_FILE, format_front, mark_pareto, set_aside_damaged, write_results
from search.record.storage import SearchStorage
from search.trial.setup import TrialSetup
from search.trial.trainable import train_trial
from spaces import ArchSpec, atomic, cost
from spaces.bounds import gmacs_over_budget
from spaces.sample import ArchSpace, preset_params, sample_arch

__all__ = ["JOURNAL_FILE", "STUDY_FILE", "Grid", "Outcome", "Search", "open_study"]


@dataclass(frozen=True)
class Grid:
    """What to train instead of a sampled search: the architectures, each at full budget, once or
    once per seed. One spec is `vidnas train`; a study's arms x seeds and a benchmark table's points
    at a seed are grids too. A resumed grid continues as Tune saved it (its specs are not read again)."""

    specs: tuple[ArchSpec, ...]
    seeds: tuple[int, ...] | None = None


@dataclass
class Outcome:
    search_dir: Path
    rows: list[dict[str, Any]]
    finished: bool  # every trial ended (False after an interrupt: resume with --resume)
    parent_run_id: str
    experiment_id: str = ""
    location: str = ""  # what `--resume` takes: the search directory, or its storage URI

    def front_table(self, objectives: dict[str, str]) -> str:
        return format_front(self.rows, objectives)


class Search:
    """One search directory: set up, run or resume, and record its trials."""

    def __init__(self, cfg: SearchConfig, *, labels: dict[str, str] | None = None) -> None:
        if "://" not in cfg.data:  # trials run in their own directories: only absolute paths hold
            cfg = dataclasses.replace(cfg, data=str(Path(cfg.data).expanduser().resolve()))
        if cfg.init is not None:
            cfg = dataclasses.replace(cfg, init=dataclasses.replace(
                cfg.init, weights=str(Path(cfg.init.weights).expanduser().resolve())))
        self.cfg = cfg
        self.dir = cfg.search_dir  # the working copy of a search stored at a URI
        self.storage = SearchStorage(cfg.storage, cfg.name)
        self.store = ClipStore.open(cfg.data)
        self.store.verify()  # a damaged split is one line here, not a failed trial after Ray started
        meta = self.store.meta
        validate.check_store(cfg, meta)
        # the store decides the number of classes
        self.bounds = dataclasses.replace(cfg.space, num_classes=len(meta.classes))
        if cfg.sampler == "grid":
            validate.check_grid(cfg.grid, self.bounds, cfg.seed)
        # GPUs: this machine's, unless the search joins a Ray (a cluster, or one already started),
        # whose count is checked when it starts
        joining = bool(cfg.address) or ray.is_initialized()
        validate.check_gpus(cfg, math.inf if joining else local_gpus(), "this machine (CUDA finds none)")
        self.rows: dict[str, dict[str, Any]] = {}
        tracking.check_local_store(cfg.resolved_tracking_uri())
        self.presets = {}
        self.concurrency = cfg.concurrency  # what the resources allow, once Ray is up
        budget = self.bounds.max_gmacs
        for name, params in self.warm_start_params().items():
            spec = sample_arch(optuna.trial.FixedTrial(params), dataclasses.replace(self.bounds, max_gmacs=None))
            if (gmacs_over_budget(gmacs := cost(spec).gmacs, budget) or 0.0) > 0:
                raise ConfigError(f"warm_start: {name} at width {cfg.warm_start_width} and depth {cfg.warm_start_depth} "
                                  f"costs {gmacs:.4f} GMACs, over space.max_gmacs={budget}")
            self.presets[spec.to_json()] = name
        self.presets |= labels or {}
        # set per run: its scheduler, terminal, hypervolume reference, and what the front becomes
        self.scheduler: Any = None
        self.terminal: Terminal | None = None
        self.reference: dict[str, float] = {}
        self.register: str | None = None
        self.log_models = False

    @functools.cached_property
    def client(self) -> MlflowClient:
        """Made on first use: a search refused before it starts leaves no MLflow store behind."""
        return MlflowClient(self.cfg.resolved_tracking_uri())

    def warm_start_params(self) -> dict[str, dict[str, Any]]:
        for name, value, allowed in (("warm_start_width", self.cfg.warm_start_width, self.bounds.widths),
                                     ("warm_start_depth", self.cfg.warm_start_depth, self.bounds.depths)):
            if self.cfg.warm_start and value not in allowed:
                raise ConfigError(f"{name}={value!r}: must be one of space.{name[11:]}s {list(allowed)} (a warm "
                                  "start is a point of the space)")
        try:
            return {name: preset_params(name, self.bounds, width=self.cfg.warm_start_width,
                                        depth=self.cfg.warm_start_depth) for name in self.cfg.warm_start}
        except ValueError as e:
            raise ConfigError(f"warm_start: {e}") from None

    # -- running ----------------------------------------------------------------------------

    def run(self, *, resume: bool, num_cpus: int | None = None, verbose: int = 1,
            grid: Grid | None = None, register: str | None = None) -> Outcome:
        """Run (or resume) the search: Optuna samples the space, or with `grid` exactly those
        architectures are trained. A finished search logs its Pareto front as MLflow models,
        registered under `register` if given (a grid logs none).

        A write that fails for lack of space (in the driver: its records, Tune's snapshots, the
        MLflow store) stops the search as an interrupt does: `DiskFull`, one line with the resume
        command; every file is replaced atomically, so none is left half-written."""
        try:
            return self._run(resume=resume, num_cpus=num_cpus, verbose=verbose, grid=grid, register=register)
        except Exception as e:
            if (what := disk_full(e)) is None:
                raise
            again = (f"vidnas search --resume {self.storage.uri}" if self.storage.has_tune_state()
                     else "the same command again")
            raise DiskFull(f"{what}: the search stopped as if interrupted, with nothing half-written; free "
                           f"space, then run `{again}`") from None

    def _run(self, *, resume: bool, num_cpus: int | None, verbose: int, grid: Grid | None,
             register: str | None) -> Outcome:
        self.register, self.log_models = register, grid is None
        self.dir.mkdir(parents=True, exist_ok=True)
        where = self.storage.uri
        if resume and not self.storage.has_tune_state():
            raise SearchError(f"{where}: nothing to resume (no Tune experiment there); start it without --resume")
        if not resume and self.storage.exists(TUNE_DIR):
            raise SearchError(f"{where} already holds a search; resume it with `vidnas search --resume {where}` "
                              "or choose another name")
        rebuild = ""
        if resume:
            self.storage.pull()  # a working copy that knows only the URI (no-op for a directory)
            rebuild = set_aside_damaged(self.dir)
            if rebuild:
                print(f"[vidnas] {RESULTS_FILE} was {rebuild}: set aside as {RESULTS_FILE}.damaged and rebuilt from "
                      "Tune's records and the Optuna journal", flush=True)
        atomic.write_text(self.dir / CONFIG_FILE, yaml.safe_dump(self.cfg.to_dict(), sort_keys=False))
        around = contextlib.ExitStack()  # Tune's quiet settings, then Ray: undone in reverse order
        around.enter_context(quiet_tune(verbose))
        try:
            around.enter_context(ray_running(self.cfg.address, num_cpus=num_cpus, verbose=verbose))
            resources = ray.cluster_resources()
            validate.check_gpus(self.cfg, resources.get("GPU", 0.0), f"the Ray cluster ({self.cfg.address or 'local'})")
            self.concurrency, note = validate.effective_concurrency(self.cfg, resources.get("CPU", 0.0),
                                                                    resources.get("GPU", 0.0))
            print(f"[vidnas] {note}", flush=True)
            self.experiment_id, self.parent_id = self._open_tracking()
            self.reference = hv_reference(self.bounds, self.cfg.objectives, stored_frames=self.store.meta.frames)
            tracking.log_params_once(self.client, self.parent_id, {"hv_reference": json.dumps(self.reference)})
            trainable = self._trainable()
            if resume:  # a trial that failed for good stays failed (it is FAIL in Optuna)
                alias_old_modules()  # a search saved before the package layout pickled the old paths
                tuner = tune.Tuner.restore(self.storage.tune_path(), trainable, resume_errored=False,
                                           resume_unfinished=True, storage_filesystem=self.storage.tune_storage()[1])
                self._refresh(tuner, verbose)
            elif grid is not None:
                tuner = self._grid_tuner(trainable, verbose, grid)
            else:
                tuner = self._new_tuner(trainable, verbose)
            self.storage.push()  # config, study, journal, parent run: before any trial starts
            with sigterm_stops_tune():
                grid = tuner.fit()
        finally:
            if self.terminal is not None:
                self.terminal.close()
            around.close()
        self.rows = rows_after_run(self.dir, grid._experiment_analysis.trials, rebuild=bool(rebuild),
                                   presets=self.presets)
        ended = [r for r in self.rows.values() if r["state"] != "interrupted"]
        return self._conclude(len(ended) == len(self.rows) and len(ended) >= self.cfg.trials)

    def _refresh(self, tuner: tune.Tuner, verbose: int) -> None:
        """A restored Tuner holds the searcher, scheduler and callbacks pickled when the search
        began, with that time's paths; point them at where the directory is now. The scheduler is
        a fresh one that reloads its rungs (Tune does not checkpoint schedulers)."""
        internal = tuner._local_tuner  # Tune has no public setter for these on a restored Tuner
        searcher = internal._tune_config.search_alg
        if isinstance(searcher, FidelityOptunaSearch):
            searcher.search_dir = str(self.dir)  # kept by its restore(), which re-opens the journal there
        if isinstance(internal._tune_config.scheduler, MOASHAScheduler):
            internal._tune_config.scheduler = self._scheduler()
        else:
            self.scheduler = internal._tune_config.scheduler
        fresh = self._run_config(verbose)
        internal._run_config.callbacks, internal._run_config.verbose = fresh.callbacks, fresh.verbose
        storage_path, filesystem = self.storage.tune_storage()
        now = StorageContext(storage_path=storage_path, experiment_dir_name=TUNE_DIR, storage_filesystem=filesystem)
        config = internal._tune_config  # the limit goes into the algorithm, as tune.run would put it
        config.search_alg = moved_search_alg(config.search_alg, config.max_concurrent_trials or 0, now)
        config.max_concurrent_trials = None

    def _open_tracking(self) -> tuple[str, str]:
        uri = self.cfg.resolved_tracking_uri()
        local = uri.startswith("sqlite:")
        artifacts = self.dir / "mlartifacts"
        experiment_id = tracking.retry(lambda: tracking.experiment(
            self.client, self.cfg.experiment_name, artifacts if local else None))
        if self.cfg.tracking_uri is None:  # the directory's own store: it may have been moved here
            tracking.relocate_artifacts(self.dir / "mlflow.db", self.client.get_experiment(experiment_id),
                                        artifacts.as_uri())
        parent = tracking.parent_run(self.client, experiment_id, self.dir, f"search {self.cfg.name}")
        self.client.update_run(parent, status="RUNNING")
        tracking.share_view(self.client, experiment_id, self.cfg.objectives)
        tracking.log_config(self.client, parent, self.cfg.to_dict(), {
            "store_fingerprint": self.store_fingerprint(), "code_version": code_version(),
            "num_classes": self.bounds.num_classes})
        if not tracking.retry(lambda: self.client.get_run(parent)).inputs.dataset_inputs:
            tracking.log_dataset(self.client, parent, self.dataset())
        return experiment_id, parent

    def dataset(self) -> Any:
        return tracking.dataset_input(self.store.meta, self.cfg.data, self.store_fingerprint())

    def store_fingerprint(self) -> str:
        return self.store.meta.fingerprint

    def _trainable(self) -> Any:
        cfg = self.cfg
        setup = TrialSetup(data=cfg.data, epochs=cfg.epochs, optim=cfg.optim, seed=cfg.seed, cpus=cfg.cpus_per_trial,
                           gpus=cfg.gpus_per_trial, amp=cfg.amp, loader_workers=cfg.loader_workers,
                           tracking_uri=cfg.resolved_tracking_uri(), experiment_id=self.experiment_id,
                           parent_run_id=self.parent_id, max_gmacs=self.bounds.max_gmacs, labels=self.presets,
                           test_curve=cfg.test_curve, dataset=self.dataset(), system_metrics_s=cfg.system_metrics_s,
                           stored_frames=self.store.meta.frames, init=cfg.init)
        resources = {"cpu": cfg.cpus_per_trial + cfg.loader_workers, "gpu": cfg.gpus_per_trial}
        return tune.with_resources(tune.with_parameters(train_trial, setup=setup), resources)

    def _scheduler(self) -> Any:
        cfg = self.cfg
        if not cfg.early_stopping:
            self.scheduler = tune.schedulers.FIFOScheduler()
        else:
            self.scheduler = MOASHAScheduler(objectives=cfg.objectives, max_epochs=cfg.epochs,
                                             min_epochs=cfg.min_epochs, reduction_factor=cfg.reduction_factor,
                                             state_file=str(self.dir / SCHEDULER_FILE), by_batch=cfg.reproducible_order)
        return self.scheduler

    def _new_tuner(self, trainable: Any, verbose: int) -> tune.Tuner:
        cfg = self.cfg
        name = create_study_file(self.dir, f"{cfg.name}-{uuid.uuid4().hex[:8]}")
        searcher = FidelityOptunaSearch(
            space=ArchSpace(self.bounds), metric=list(cfg.objectives), mode=list(cfg.objectives.values()),
            points_to_evaluate=list(self.warm_start_params().values()) or None,
            sampler=make_sampler(cfg.sampler, cfg.seed, cfg.trials, cfg.grid, bounds=self.bounds,
                                 stored_frames=self.store.meta.frames if "gmacs_clip" in cfg.objectives else None),
            study_name=name,
            storage=journal_storage(self.dir), budget=cfg.trials, search_dir=str(self.dir),
            batch=self.concurrency if cfg.reproducible_order else None)
        scheduler = self._scheduler()
        return tune.Tuner(
            trainable,
            tune_config=tune.TuneConfig(search_alg=searcher, scheduler=scheduler, num_samples=cfg.trials,
                                        max_concurrent_trials=self.concurrency, reuse_actors=True,
                                        trial_name_creator=trial_name, trial_dirname_creator=trial_dirname),
            run_config=self._run_config(verbose))

    def _grid_tuner(self, trainable: Any, verbose: int, grid: Grid) -> tune.Tuner:
        archs = [s.to_json() for s in grid.specs]
        space: dict[str, Any] = {"arch": archs[0] if len(archs) == 1 else tune.grid_search(archs)}
        if grid.seeds is not None:
            space["seed"] = tune.grid_search(list(grid.seeds))
        return tune.Tuner(
            trainable, param_space=space,
            tune_config=tune.TuneConfig(num_samples=1, max_concurrent_trials=self.concurrency,
                                        trial_name_creator=trial_name, trial_dirname_creator=trial_dirname),
            run_config=self._run_config(verbose))

    def _run_config(self, verbose: int) -> tune.RunConfig:
        """Tune's own tables only at verbose 2; vidnas' event lines and status bar at 1 (the end
        of each trial at 0 too)."""
        cfg = self.cfg
        self.terminal = Terminal(cfg.trials, verbose)
        callbacks = [TrackingCallback(str(self.dir), cfg.resolved_tracking_uri(), self.experiment_id,
                                      self.parent_id, cfg.objectives, self.presets, terminal=self.terminal,
                                      reference=self.reference, live_name=cfg.name if self.log_models else None),
                     ProgressCallback(self.terminal, self.scheduler, self.presets),
                     CSVLoggerCallback(), JsonLoggerCallback()]  # Tune's records of every result (quiet_tune)
        if self.storage.remote:
            callbacks.append(StatePusher(self.storage))
        storage_path, filesystem = self.storage.tune_storage()
        return tune.RunConfig(
            name=TUNE_DIR, storage_path=storage_path, storage_filesystem=filesystem, verbose=2 if verbose >= 2 else 0,
            callbacks=callbacks,
            failure_config=tune.FailureConfig(max_failures=cfg.max_failures),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=2))

    # -- recording ----------------------------------------------------------------------------

    def _conclude(self, finished: bool) -> Outcome:
        rows = mark_pareto(sorted(self.rows.values(), key=lambda r: r["trial_id"]), self.cfg.objectives)
        relogged = relog_lost_runs(self.client, self.experiment_id, self.parent_id, rows, self.dataset())
        if relogged:
            print(f"[vidnas] logged {relogged} ended trial(s) again in this MLflow store, from the results table "
                  "(tagged vidnas.relogged)", flush=True)
        path = write_results(self.dir, rows)
        close_orphans(self.client, self.experiment_id, self.parent_id, open_study(self.dir), rows, finished)
        tracking.retry(lambda: self.client.log_artifact(self.parent_id, str(path)))
        front = format_front(rows, self.cfg.objectives)
        tracking.retry(lambda: self.client.log_text(self.parent_id, front, "pareto_front.txt"))
        for plot in write_report(self.dir, rows, self.cfg.objectives, open_study(self.dir), name=self.cfg.name,
                                 tracking_uri=self.cfg.resolved_tracking_uri()):
            tracking.retry(lambda: self.client.log_artifact(self.parent_id, str(plot), "report"))
        if finished and self.log_models:
            self.models = models.log_front(self.client, self.experiment_id, self.dir, rows, self.dataset())
            if self.register:
                aliases = models.register_front(self.client, self.register, rows, self.models)
                print(f"[vidnas] registered the front as {self.register!r} with aliases {', '.join(aliases)}; "
                      f"load one with spaces.load('models:/{self.register}@best-top1', "
                      f"tracking_uri='{self.cfg.resolved_tracking_uri()}')", flush=True)
        if finished:
            tracking.finish(self.client, self.parent_id, "FINISHED")
        else:
            tracking.finish(self.client, self.parent_id, "KILLED", reason="interrupted; resume with --resume")
        self.storage.push()  # results, report, journal: the storage says what this run ended with
        return Outcome(self.dir, rows, finished, self.parent_id, self.experiment_id, self.storage.uri)


def run_search(cfg: SearchConfig, *, num_cpus: int | None = None, verbose: int = 1,
               register: str | None = None) -> Outcome:
    return Search(cfg).run(resume=False, num_cpus=num_cpus, verbose=verbose, register=register)


def train_spec(spec: ArchSpec, cfg: SearchConfig, *, num_cpus: int | None = None, verbose: int = 1) -> Outcome:
    """Train one architecture at full budget as a single Tune run, tracked like a search of one."""
    return Search(cfg).run(resume=False, num_cpus=num_cpus, verbose=verbose, grid=Grid((spec,)))


def resume_search(search_dir: str | Path, *, num_cpus: int | None = None, verbose: int = 1,
                  register: str | None = None) -> Outcome:
    return Search(load_search_config(search_dir)).run(resume=True, num_cpus=num_cpus, verbose=verbose,
                                                      register=register)

