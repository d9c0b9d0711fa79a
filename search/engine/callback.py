"""The driver's record of trials as they end: the results table and each trial's MLflow run.

Tune calls `on_trial_complete` only for a trial that ended (it finished, or the scheduler stopped
it) and `on_trial_error` for one that failed for good; a trial stopped together with the whole
experiment (Ctrl-C, SIGTERM) gets neither, and `Search` records it as interrupted afterwards.
"""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

from mlflow.tracking import MlflowClient
from ray import tune

from search.engine.progress import Terminal, summary
from search.errors import disk_full
from search.record import tracking
from search.record.report import write_report
from search.record.results import mark_pareto, read_results, row_name, sorted_front, trial_row, write_results


class TrackingCallback(tune.Callback):
    """Closes each ended trial's MLflow run with its final state and keeps the results table
    current. Holds only plain values; a resumed search gets a fresh one for its current directory."""

    def __init__(self, search_dir: str, tracking_uri: str, experiment_id: str, parent_id: str,
                 objectives: dict[str, str], presets: dict[str, str], *, terminal: Terminal | None = None,
                 reference: dict[str, float] | None = None, live_name: str | None = None) -> None:
        self.search_dir, self.tracking_uri = search_dir, tracking_uri
        self.experiment_id, self.parent_id = experiment_id, parent_id
        self.objectives, self.presets = objectives, presets
        self.terminal, self.reference = terminal or Terminal(0, 1), reference or {}
        self.live_name = live_name  # a sampled search: its report page and front, refreshed as trials end
        self._front: list[str] = []
        self._started = time.monotonic()

    def setup(self, **info: Any) -> None:
        self._started = time.monotonic()  # this run's start (a resumed search counts from its resume)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._guarded(trial, trials, errored=False)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._guarded(trial, trials, errored=True)

    def _guarded(self, trial: Any, trials: list, *, errored: bool) -> None:
        """A record that cannot be written for lack of space stops the search as Ctrl-C does (Tune's
        stop-and-save signal); `Search.run` reports it when its own last writes fail too. The
        trial is in Tune's and Optuna's records: the resumed search writes its row (`reconcile`)."""
        try:
            self._record(trial, trials, errored=errored)
        except Exception as e:
            if disk_full(e) is None:
                raise
            self.terminal.event(f"[vidnas] {disk_full(e)}: stopping the search (resume it once there is space)", level=0)
            os.kill(os.getpid(), signal.SIGUSR1)

    def _record(self, trial: Any, trials: list, *, errored: bool) -> None:
        result = {"seed": trial.config.get("seed"), **(trial.last_result or {})}
        if errored and not result.get("reason"):
            result["reason"] = crash_reason(trial)
        row = trial_row(trial.trial_id, result, trial.config["arch"], errored=errored, presets=self.presets)
        client = MlflowClient(self.tracking_uri)
        row["mlflow_run_id"] = row["mlflow_run_id"] or tracking.find_trial_run(
            client, self.experiment_id, self.parent_id, trial.trial_id) or ""
        if row["mlflow_run_id"]:
            tracking.finish_trial(client, row["mlflow_run_id"], row["state"], row["reason"])
        directory = Path(self.search_dir)
        rows = {r["trial_id"]: r for r in read_results(directory)} | {row["trial_id"]: row}
        marked = mark_pareto(list(rows.values()), self.objectives)
        write_results(directory, marked)
        ended = [r for r in marked if r["state"] != "interrupted"]
        numbers = summary(ended, self.objectives, self.reference)
        progress = {tracking.PROGRESS_PREFIX + k: v for k, v in numbers.items()}
        tracking.log_metrics(client, self.parent_id, progress, len(ended))  # the parent's charts: progress
        self.terminal.event(f"[vidnas] trial {trial.trial_id} {row['state']} after {row['epochs']} epoch(s): "
                            f"val_top1 {_fmt(row['val_top1'])}, GMACs per clip {_fmt(row['gmacs_clip'], 4)} ({row_name(row)})"
                            + (f"; {row['reason']}" if row["state"] == "failed" and row["reason"] else ""), level=0)
        if self.live_name is not None:
            self._show_front(directory, marked)
        running = sum(t.status == "RUNNING" for t in trials) - (trial.status == "RUNNING")
        self.terminal.status(len(ended), max(running, 0), numbers)

    def _show_front(self, directory: Path, rows: list[dict[str, Any]]) -> None:
        """The report page written again; the front printed when its members changed."""
        page = write_report(directory, rows, self.objectives, None, name=self.live_name,
                            tracking_uri=self.tracking_uri, running=True)[-1]
        metric = next(iter(self.objectives))
        front = sorted_front(rows, self.objectives)
        if [r["trial_id"] for r in front] == self._front:
            return
        self._front = [r["trial_id"] for r in front]
        complete = sum(r["state"] == "complete" for r in rows)
        minutes = (time.monotonic() - self._started) / 60
        lines = [f"[vidnas] the front at {minutes:.1f} min: {len(front)} of {complete} complete trial(s) (report: {page})"]
        lines += [f"          {metric} {_fmt(r[metric])}  GMACs per clip {_fmt(r.get('gmacs_clip'), 4)}  {row_name(r)}"
                  for r in front]
        self.terminal.event("\n".join(lines))


class StatePusher(tune.Callback):
    """For a search stored at a URI: pushes the driver's changed files (Optuna journal, MO-ASHA's
    state, results table) to the storage when a trial starts, reports (at most every
    `every_s` seconds) or ends, so that another machine can resume from the URI alone. Listed
    after `TrackingCallback`, it pushes what that one just wrote."""

    def __init__(self, storage: Any, every_s: float = 10.0) -> None:
        self.storage, self.every_s, self._last = storage, every_s, 0.0

    def _push(self, force: bool = True) -> None:
        now = time.monotonic()
        if force or now - self._last >= self.every_s:
            self.storage.push()
            self._last = now

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._push()

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        self._push(force=False)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._push()

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._push()

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        self._push()


def _fmt(value: Any, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def crash_reason(trial: Any) -> str:
    """What a trial that crashed (an exception, not a `TrialFailed`) died of: the last line of the
    traceback Tune stored with it, which names the exception; the table and MLflow show it."""
    try:  # Tune writes it on the driver's side first (`Trial.handle_error`), then syncs it to storage
        text = Path(trial.error_file).read_text() if trial.error_file else trial.get_error() or ""
    except Exception:  # the error file is gone with a moved or cleaned directory: say what is known
        text = ""
    last = next((line.strip() for line in reversed(str(text).splitlines()) if line.strip()), "")
    return f"trial process crashed: {last[:400]}" if last else "trial process crashed"
