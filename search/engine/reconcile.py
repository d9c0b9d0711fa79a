"""What a search's records say when it ends: no MLflow run left RUNNING, no Optuna trial left
RUNNING that Tune never ran, and every ended trial with a run. The trials' states come from the
results table and the Optuna journal (always up to date), so this also heals a driver that was
killed between the two, and a search resumed on a fresh MLflow store (the old one was damaged):
the ended trials' runs are logged again from their rows (`relog_lost_runs`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
from mlflow.tracking import MlflowClient

from search.engine.searcher import RAY_TRIAL_ATTR, open_study
from search.record import tracking
from search.record.results import INTERRUPTED, read_results, trial_row

OPTUNA_STATES = {optuna.trial.TrialState.COMPLETE: "complete", optuna.trial.TrialState.PRUNED: "pruned",
                 optuna.trial.TrialState.FAIL: "failed"}


def close_orphans(client: MlflowClient, experiment_id: str, parent_id: str, study: optuna.Study | None,
                  rows: list[dict[str, Any]], finished: bool) -> None:
    """Child runs of ended trials get their status; Optuna trials that were asked but never became
    Tune trials (the driver died in between) are failed once the search is finished."""
    state_of = optuna_states(study) | {r["trial_id"]: r["state"] for r in rows}
    for run in tracking.child_runs(client, experiment_id, parent_id):
        if run.info.status != "RUNNING":
            continue
        state = state_of.get(run.data.tags.get(tracking.TRIAL_TAG, ""))
        if state is not None:  # it ended while the driver was down, or was interrupted
            tracking.finish_trial(client, run.info.run_id, state, INTERRUPTED if state == "interrupted" else "")
        elif finished:  # its trial started, then was lost: the driver died before Tune saved it
            client.set_tag(run.info.run_id, "vidnas.orphan", "true")
            tracking.finish(client, run.info.run_id, "KILLED", reason=(
                "lost when the driver was killed before Tune saved the trial; another trial took its "
                "place and Optuna marks it FAIL"))
        else:  # interrupted before its first result: --resume continues this run
            tracking.finish_trial(client, run.info.run_id, "interrupted", INTERRUPTED)
    if study is not None and finished:
        known = {r["trial_id"] for r in rows}
        for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            if t.user_attrs.get(RAY_TRIAL_ATTR) not in known:
                study.tell(t.number, state=optuna.trial.TrialState.FAIL)


def relog_lost_runs(client: MlflowClient, experiment_id: str, parent_id: str, rows: list[dict[str, Any]],
                    dataset: Any | None = None) -> int:
    """Log a run again, from its row, for each ended trial that has none under the parent (its store
    was replaced): its params, spec, final metrics, curves per epoch and state, tagged
    `vidnas.relogged`. Updates each row's `mlflow_run_id`; returns how many were logged."""
    have = {r.data.tags.get(tracking.TRIAL_TAG) for r in tracking.child_runs(client, experiment_id, parent_id)}
    logged = 0
    for row in rows:
        if row["state"] == "interrupted" or not row.get("mlflow_run_id") or row["trial_id"] in have:
            continue  # still to run, never had a run (crashed before it), or has one
        params = {k.removeprefix("arch_"): v for k, v in row.items() if k.startswith("arch_")}
        run_id = tracking.trial_run(client, experiment_id, parent_id, row["trial_id"], row["slug"],
                                    params | {"seed": row.get("seed")}, row["spec"], dataset=dataset)
        tracking.retry(lambda run_id=run_id: client.set_tag(run_id, "vidnas.relogged", "true"))
        for key, values in ((k, v) for k, v in row.items() if k.startswith("curve_") and v):
            for epoch, value in enumerate(values, start=1):
                tracking.log_metrics(client, run_id, {key.removeprefix("curve_"): value}, epoch)
        final = {k: v for k, v in row.items() if isinstance(v, float) and not k.startswith("arch_")}
        tracking.log_metrics(client, run_id, final, row["epochs"])
        tracking.finish_trial(client, run_id, row["state"], row.get("reason", ""))
        row["mlflow_run_id"] = run_id
        logged += 1
    return logged


def optuna_states(study: optuna.Study | None) -> dict[str, str]:
    """Ray trial id -> complete/pruned/failed, from the Optuna journal."""
    if study is None:
        return {}
    return {t.user_attrs[RAY_TRIAL_ATTR]: OPTUNA_STATES[t.state] for t in study.get_trials(deepcopy=False)
            if t.state in OPTUNA_STATES and RAY_TRIAL_ATTR in t.user_attrs}


def rows_after_run(search_dir: Path, tune_trials: list, *, rebuild: bool,
                   presets: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Every trial's row once Tune returns: the trials that ended, as the callback recorded them
    (also those that ended before a hard kill but after Tune's last snapshot); a trial Tune stopped
    with the experiment is interrupted. When the results table is being rebuilt (`rebuild`), what
    ended comes from the Optuna journal, or for a grid (no Optuna study) from Tune."""
    rows = {r["trial_id"]: r for r in read_results(search_dir)}
    ended = _ended(search_dir, tune_trials) if rebuild else {}
    for trial in tune_trials:  # all of Tune's trials, also those yet to report
        recorded = rows.get(trial.trial_id, {}).get("state", "interrupted") != "interrupted"
        if recorded or "arch" not in trial.config:
            continue
        metrics = {"seed": trial.config.get("seed"), **(trial.last_result or {})}
        state = ended.get(trial.trial_id)
        rows[trial.trial_id] = trial_row(trial.trial_id, metrics, trial.config["arch"],
                                         errored=trial.status == "ERROR" or state == "failed",
                                         interrupted=state is None, presets=presets)
    return rows


def _ended(search_dir: Path, tune_trials: list) -> dict[str, str]:
    """Trial id -> complete / pruned / failed for the trials that ended."""
    study = open_study(search_dir)
    if study is not None:
        return optuna_states(study)
    return {t.trial_id: "failed" if t.status == "ERROR" else "ended" for t in tune_trials
            if t.status in ("TERMINATED", "ERROR")}
