"""The Optuna side of a search: its study (a journal file in the search directory), its sampler,
and the Ray Tune searcher that tells Optuna the truth about every trial.

States, one meaning everywhere (Optuna, MLflow, the results table):
- COMPLETE: the trial reached its last epoch; its values are the last epoch's objectives.
- PRUNED: MO-ASHA stopped it at a rung (its truncated metrics are not a result).
- FAIL: it diverged, ran out of memory, or crashed `max_failures` times.
- RUNNING: it started and has not ended, including a trial interrupted with the search:
  `--resume` continues it and then tells its final state, with its values.
- PRUNED with the user attribute `infeasible`: a draw over `space.max_gmacs`. It never becomes a
  Ray trial and does not count toward `trials`; its constraint value (`trial.set_constraint` in
  the space) teaches TPE where the budget ends. NSGA-II builds its population from COMPLETE trials
  only, so it skips such draws without learning from them.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import optuna
from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch

from search.engine.strata import ArchCost, ArchDraw, StratifiedSampler
from spaces import atomic
from spaces.bounds import SpaceBounds

STUDY_FILE, JOURNAL_FILE = "study.json", "optuna.journal"
RAY_TRIAL_ATTR = "ray_trial_id"
INFEASIBLE_ATTR = "infeasible"  # a draw over the GMACs budget: PRUNED, never a Ray trial
MAX_INFEASIBLE_IN_A_ROW = 200
STARTUP_TRIALS = 10  # TPE's random draws before it models; chosen by `vidnas bench replay` (README)
BATCH_KEY = "batch"  # in a trial's config when the search keeps a reproducible order
ENDED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL)


def journal_storage(search_dir: Path) -> optuna.storages.JournalStorage:
    """The search's journal, always under its directory (so a moved directory takes it along)."""
    path = Path(search_dir) / JOURNAL_FILE
    return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))


def create_study_file(search_dir: Path, name: str) -> str:
    atomic.write_text(Path(search_dir) / STUDY_FILE, json.dumps({"study_name": name, "storage": JOURNAL_FILE}))
    return name


def open_study(search_dir: Path) -> optuna.Study | None:
    """The search's Optuna study (None before its first start)."""
    study_file = Path(search_dir) / STUDY_FILE
    if not study_file.is_file():
        return None
    info = json.loads(study_file.read_text())
    return optuna.load_study(study_name=info["study_name"], storage=journal_storage(search_dir))


def make_sampler(sampler: str, seed: int, trials: int, grid: dict[str, list], *,
                 n_startup_trials: int | None = None, bounds: SpaceBounds | None = None,
                 stored_frames: int | None = None) -> optuna.samplers.BaseSampler:
    """The search's sampler. TPE starts with `n_startup_trials` random draws (default
    STARTUP_TRIALS, at most a third of the budget); GP is the benchmark's (search.tabular.replay);
    `stratified` (search.engine.strata) prices the architectures of `bounds` before it draws, per
    clip of `stored_frames` frames when given (else per view)."""
    if sampler == "stratified":
        if bounds is None:
            raise ValueError("sampler stratified needs the space's bounds (it prices architectures before drawing)")
        return StratifiedSampler(ArchDraw(bounds), ArchCost(bounds.max_gmacs, stored_frames), seed=seed)
    startup = n_startup_trials if n_startup_trials is not None else min(STARTUP_TRIALS, max(2, trials // 3))
    if sampler == "tpe":
        return optuna.samplers.TPESampler(multivariate=True, group=True, seed=seed, n_startup_trials=startup)
    if sampler == "gp":
        return optuna.samplers.GPSampler(seed=seed, n_startup_trials=startup, warn_independent_sampling=False)
    if sampler == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=min(50, max(4, trials // 3)))
    if sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.GridSampler(grid, seed=seed)


class FidelityOptunaSearch(OptunaSearch):
    """OptunaSearch that tells Optuna the truth about fidelity: a trial stopped before its last
    epoch is PRUNED (not COMPLETE with truncated metrics), a diverged/OOM trial is FAIL, and a trial
    interrupted with the search stays RUNNING until `--resume` finishes it.

    Tune only calls `on_trial_complete` for a trial that ended (finished, stopped by the scheduler,
    or errored for good): a trial stopped with the whole experiment (Ctrl-C, SIGTERM) gets no call,
    so it is never mistaken for a pruned one.

    With `batch` (a search's `reproducible_order`), it hands out `batch` trials, then waits until
    all of them have ended and been told before it draws the next ones: every draw sees the same
    history whatever order the results arrived in. Each trial's config carries its batch number.

    It also keeps the trial budget across a hard kill: Tune's snapshot of the experiment can be a
    few seconds older than the Optuna journal, so a trial that finished in between is unknown to
    the restored Tune but finished in Optuna (and in MLflow and the results table). It counts,
    and the search asks for no trial beyond `budget`.

    Its study is re-opened from `search_dir` when Tune restores it, so a search directory that was
    moved keeps writing to its own journal.
    """

    def __init__(self, *args: Any, budget: int, search_dir: str, batch: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.budget = budget
        self.search_dir = search_dir
        self.batch = batch  # reproducible order: `batch` trials at a time, the next only when all have ended
        self._batch_index, self._in_batch = 0, 0

    def _setup_study(self, mode: Any) -> None:
        super()._setup_study(mode)
        metrics = [self._metric] if isinstance(self._metric, str) else list(self._metric)
        if self._ot_study.metric_names != metrics:  # optuna-dashboard names the objectives, not "Objective 0"
            with warnings.catch_warnings():  # marked experimental since Optuna 3.2, stable in use
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                self._ot_study.set_metric_names(metrics)

    def suggest(self, trial_id: str) -> dict | str | None:
        ended = self._ot_study.get_trials(deepcopy=False, states=ENDED)
        finished = {t.number for t in ended if not t.user_attrs.get(INFEASIBLE_ATTR)}
        live = {t.number for t in self._ot_trials.values()}
        if len(finished | live) >= self.budget:
            return Searcher.FINISHED
        if self.batch is not None and self._in_batch >= self.batch:
            if set(self._ot_trials) - self._completed_trials:
                return None  # Tune asks again later: the batch has not ended, its results are not all told
            self._batch_index, self._in_batch = self._batch_index + 1, 0
        for _ in range(MAX_INFEASIBLE_IN_A_ROW):
            config = super().suggest(trial_id)
            if not isinstance(config, dict):
                return config
            ot_trial = self._ot_trials[trial_id]
            constraints = self._ot_study._storage.get_trial(ot_trial._trial_id).constraints
            if not any(v > 0 for v in constraints.values()):  # which Ray trial it is, from the start
                ot_trial.set_user_attr(RAY_TRIAL_ATTR, trial_id)
                if self.batch is not None:  # the scheduler's rungs compare it with earlier batches only
                    self._in_batch += 1
                    config[BATCH_KEY] = self._batch_index
                return config
            # over the budget: never trained and not counted; told PRUNED with its constraint value,
            # which puts it in TPE's infeasible group, so the sampler learns where the budget ends
            ot_trial.set_user_attr(INFEASIBLE_ATTR, True)
            self._ot_study.tell(ot_trial, state=optuna.trial.TrialState.PRUNED)
            del self._ot_trials[trial_id]
        print(f"[vidnas] {MAX_INFEASIBLE_IN_A_ROW} draws in a row were over space.max_gmacs: ending the search "
              f"early; raise max_gmacs or narrow the space", flush=True)
        return Searcher.FINISHED

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        if trial_id in self._completed_trials or trial_id not in self._ot_trials:
            return
        ot_trial = self._ot_trials[trial_id]
        status = (result or {}).get("status")
        try:
            ot_trial.set_user_attr(RAY_TRIAL_ATTR, trial_id)
            ot_trial.set_user_attr("epochs", int((result or {}).get("epoch", 0) or 0))
        except optuna.exceptions.UpdateFinishedTrialError:  # told before the driver died: keep that
            self._completed_trials.add(trial_id)
            return
        if status == "complete" and not error:
            super().on_trial_complete(trial_id, result, error)
            return
        state = optuna.trial.TrialState.FAIL if error or status == "failed" else optuna.trial.TrialState.PRUNED
        self._ot_study.tell(ot_trial, state=state)
        self._completed_trials.add(trial_id)

    def restore(self, checkpoint_path: str) -> None:
        search_dir = self.search_dir  # where the search is now, not where it was pickled
        super().restore(checkpoint_path)
        self.search_dir = search_dir
        self._ot_study = optuna.load_study(study_name=self._ot_study.study_name,
                                           storage=journal_storage(Path(search_dir)), sampler=self._sampler)
        self._ot_trials = {tid: optuna.Trial(self._ot_study, t._trial_id) for tid, t in self._ot_trials.items()}
