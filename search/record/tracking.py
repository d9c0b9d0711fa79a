"""MLflow for searches: one parent run per search, one child run per trial, found again by the
trial's id after a restore (so a resumed trial continues its run instead of opening another).

The trial process creates or finds its child run and logs to it; the driver sets the final status
and the tag `vidnas.state`: FINISHED (complete), KILLED with `vidnas.pruned=true` (stopped at a
rung), FAILED (diverged, out of memory, crashed), or KILLED with `vidnas.state=interrupted` (stopped
with the search; `--resume` continues the same run). At the end of a search it closes every child
run still RUNNING from the trials' states.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
import time
from pathlib import Path
from typing import Any, Callable, TypeVar

from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from spaces import atomic

TRIAL_TAG = "vidnas.trial_id"
SEARCH_TAG = "vidnas.search_dir"
PARENT_TAG = "mlflow.parentRunId"
PRUNED_TAG = "vidnas.pruned"
STATE_TAG = "vidnas.state"
NOTE_TAG = "mlflow.note.content"  # the run's description in the UI
KIND_TAG, KIND = "mlflow.experimentKind", "custom_model_development"
PARENT_FILE = "mlflow_parent.json"  # in the search directory: its parent run's id
RUN_STATUS = {"complete": "FINISHED", "pruned": "KILLED", "failed": "FAILED", "interrupted": "KILLED"}
T = TypeVar("T")


def retry(fn: Callable[[], T], attempts: int = 8) -> T:
    """Call `fn`, retrying sqlite's 'database is locked' with backoff (concurrent trial writers)."""
    for attempt in range(attempts):
        try:
            return fn()
        except MlflowException as e:
            if "locked" not in str(e) or attempt == attempts - 1:
                raise
            time.sleep(0.2 * 2 ** attempt)
    raise AssertionError("unreachable")


def experiment(client: MlflowClient, name: str, artifact_dir: Path | None) -> str:
    """The experiment's id, creating it (artifacts under `artifact_dir` for a local store). It is
    a model-training experiment (MLflow 3's experiment kind), so the UI opens on its runs."""
    found = client.get_experiment_by_name(name)
    if found is not None:
        if found.tags.get(KIND_TAG) != KIND:
            client.set_experiment_tag(found.experiment_id, KIND_TAG, KIND)
        return found.experiment_id
    location = artifact_dir.resolve().as_uri() if artifact_dir is not None else None
    return client.create_experiment(name, artifact_location=location, tags={KIND_TAG: KIND})


# The view the runs page opens with: MLflow's shared view state, an experiment tag the page reads
# when its URL names the key (`viewStateShareKey`; the URL may then carry no sort or filter).
VIEW_KEY = "vidnas"
VIEW_TAG = f"mlflow.sharedViewState.{VIEW_KEY}"
# Chart sections: prefixed metric groups first, in alphabetical order, then the unprefixed ones
# (the trials' curves). The search's progress (parent run) comes first, the front's models next.
PROGRESS_PREFIX = "search/"
MODEL_PREFIX = "selected/"


def runs_page(base_url: str, experiment_id: str) -> str:
    """The MLflow UI's runs page of an experiment in model-training mode, opened on the view that
    `share_view` stored (trials flat by validation top-1, the objectives next to their names)."""
    return f"{base_url}/#/experiments/{experiment_id}/runs?workflowType=machine_learning&viewStateShareKey={VIEW_KEY}"


def view_state(objectives: dict[str, str]) -> dict[str, Any]:
    """What the runs page shows first: the runs listed flat (MLflow folds child runs under their
    parent only while the list is unsorted or sorted by date), sorted by the first objective (best
    first, the searches' own runs last: they have no value), the objectives and the parameter count
    as the first columns after a wide name column (they fit beside MLflow's assistant panel at
    1600 px), every run drawn in the chart view (MLflow draws the first 10 by default, which hid
    the searches' progress). MLflow leaves pinned runs out of a shared view."""
    metric, mode = next(iter(objectives.items()))
    shown = [*objectives, *(["params"] if "params" not in objectives else [])]
    columns = [f"metrics.`{m}`" for m in shown]
    return {"orderByKey": f"metrics.`{metric}`", "orderByAsc": mode == "min", "selectedColumns": columns,
            "columnOrder": ["attributes.`Run Name`", *columns, "runDateAndNestInfo", "duration"],
            "columnWidths": {"attributes.`Run Name`": 380} | {c: 100 for c in columns},
            "runsHiddenMode": "SHOW_ALL"}


def share_view(client: MlflowClient, experiment_id: str, objectives: dict[str, str]) -> None:
    """Store the runs page's view (`view_state`) on the experiment."""
    text = json.dumps(view_state(objectives))
    if retry(lambda: client.get_experiment(experiment_id)).tags.get(VIEW_TAG) != text:
        retry(lambda: client.set_experiment_tag(experiment_id, VIEW_TAG, text))


def dataset_input(meta: Any, source: str, fingerprint: str) -> DatasetInput:
    """The clip store as an MLflow dataset (the runs page's Dataset column): name, a digest of its
    fingerprint, its path or URI, its splits and clip shape."""
    profile = {"splits": dict(meta.splits), "classes": len(meta.classes),
               "clip_shape": "x".join(str(d) for d in meta.clip_shape) + " (frames x H x W x C)"}
    schema = {"clip": "uint8 (frames, height, width, 3)", "label": "int (class index)", "group": "str"}
    dataset = Dataset(name=meta.name, digest=hashlib.sha256(fingerprint.encode()).hexdigest()[:16],
                      source_type="local" if "://" not in source else source.split("://")[0], source=source,
                      schema=json.dumps(schema), profile=json.dumps(profile))
    return DatasetInput(dataset, tags=[InputTag("mlflow.data.context", "train/val/test")])


def log_dataset(client: MlflowClient, run_id: str, dataset: DatasetInput) -> None:
    retry(lambda: client.log_inputs(run_id, datasets=[dataset]))


def find_parent_run(client: MlflowClient, experiment_id: str, search_dir: Path) -> str | None:
    """The search's parent run: the one its directory names in `PARENT_FILE` (which moves with the
    directory), else the one tagged with the directory's path (None if it has none yet)."""
    recorded = Path(search_dir) / PARENT_FILE
    if recorded.is_file():
        run_id = json.loads(recorded.read_text())["run_id"]
        try:
            if client.get_run(run_id).info.experiment_id == experiment_id:
                return run_id
        except MlflowException:  # a directory copied to another tracking store
            pass
    runs = client.search_runs([experiment_id], filter_string=f"tags.`{SEARCH_TAG}` = '{search_dir}'",
                              max_results=1)
    return runs[0].info.run_id if runs else None


def parent_run(client: MlflowClient, experiment_id: str, search_dir: Path, name: str) -> str:
    """The search's parent run: found (tagged with where the directory is now), or created."""
    run_id = find_parent_run(client, experiment_id, search_dir)
    if run_id is None:
        run_id = client.create_run(experiment_id, run_name=name, tags={SEARCH_TAG: str(search_dir)}).info.run_id
    else:
        client.set_tag(run_id, SEARCH_TAG, str(search_dir))
    record_parent(search_dir, run_id, experiment_id)
    return run_id


class TrackingDamaged(ValueError):
    """A local MLflow store that cannot be read (one line: what is lost, how to go on)."""

    user_error = True  # the CLI reports it in one line (search.errors)


def check_local_store(uri: str) -> None:
    """A local (sqlite) MLflow store must read: SQLite's own integrity check, before Ray starts."""
    if not uri.startswith("sqlite:///"):
        return
    path = Path(uri.removeprefix("sqlite:///"))
    if not path.is_file():
        return
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            verdict = db.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.DatabaseError as e:
        verdict = str(e)
    if verdict != "ok":
        raise TrackingDamaged(
            f"{path}: damaged ({verdict}); the MLflow runs it held cannot be read, the search's own state (Tune, "
            f"the Optuna journal, results.parquet) is intact: move it aside (`mv {path} {path}.damaged`) and "
            "resume, and a fresh store records the search and the trials still to run")


def record_parent(search_dir: Path, run_id: str, experiment_id: str) -> None:
    """Write `PARENT_FILE`: the parent run the directory belongs to (it moves with the directory)."""
    atomic.write_text(Path(search_dir) / PARENT_FILE, json.dumps({"run_id": run_id, "experiment_id": experiment_id}))


def find_trial_run(client: MlflowClient, experiment_id: str, parent_id: str, trial_id: str) -> str | None:
    query = f"tags.`{TRIAL_TAG}` = '{trial_id}' and tags.`{PARENT_TAG}` = '{parent_id}'"
    runs = retry(lambda: client.search_runs([experiment_id], filter_string=query, max_results=1))
    return runs[0].info.run_id if runs else None


def trial_run(client: MlflowClient, experiment_id: str, parent_id: str, trial_id: str, name: str,
              params: dict[str, Any], spec_json: str, dataset: DatasetInput | None = None) -> str:
    """The trial's child run (named `name`, its architecture): found by trial id under the parent,
    or created with its params, spec and dataset."""
    found = find_trial_run(client, experiment_id, parent_id, trial_id)
    if found is not None:  # a resumed trial: continue its run
        retry(lambda: client.update_run(found, status="RUNNING"))
        return found
    run = retry(lambda: client.create_run(experiment_id, run_name=name,
                                          tags={TRIAL_TAG: trial_id, PARENT_TAG: parent_id}))
    run_id = run.info.run_id
    retry(lambda: client.log_batch(run_id, params=[Param(k, str(v)) for k, v in params.items()]))
    retry(lambda: client.log_text(run_id, spec_json, "spec.json"))
    if dataset is not None:
        log_dataset(client, run_id, dataset)
    return run_id


def log_metrics(client: MlflowClient, run_id: str, metrics: dict[str, float], step: int) -> None:
    now = int(time.time() * 1000)
    batch = [Metric(k, float(v), now, step) for k, v in metrics.items() if isinstance(v, (int, float))]
    retry(lambda: client.log_batch(run_id, metrics=batch))


def finish(client: MlflowClient, run_id: str, status: str, *, pruned: bool = False, reason: str = "",
           state: str | None = None) -> None:
    tags = [RunTag(PRUNED_TAG, "true" if pruned else "false"), RunTag("vidnas.reason", reason[:5000])]
    if state is not None:
        tags.append(RunTag(STATE_TAG, state))
    retry(lambda: client.log_batch(run_id, tags=tags))
    retry(lambda: client.set_terminated(run_id, status))


DESCRIPTIONS = {
    "complete": "complete: trained every epoch; its last epoch's metrics are its result",
    "pruned": "pruned: MO-ASHA stopped it at a rung (not a failure); its truncated metrics are not a result",
    "failed": "failed: {reason}",
    "interrupted": "interrupted with the search; `vidnas search --resume` continues this run",
}


def finish_trial(client: MlflowClient, run_id: str, state: str, reason: str = "") -> None:
    """Close a trial's run with its state: complete, pruned, failed or interrupted (status, the
    `vidnas.state` tag and the run's description say which)."""
    retry(lambda: client.set_tag(run_id, NOTE_TAG, DESCRIPTIONS[state].format(reason=reason or "unknown")))
    finish(client, run_id, RUN_STATUS[state], pruned=state == "pruned", reason=reason, state=state)


def relocate_artifacts(db: Path, experiment: Any, root_uri: str) -> None:
    """MLflow fixes artifact locations when an experiment or run is created, with no API to change
    them; in a search directory's own sqlite store, after the directory moved, rewrite the old
    prefix to the new one (else new artifacts would recreate the old directory)."""
    old = experiment.artifact_location
    if old == root_uri or not old.startswith("file://") or not old.endswith("/mlartifacts"):
        return
    columns = (("experiments", "artifact_location"), ("runs", "artifact_uri"), ("logged_models", "artifact_location"))
    with contextlib.closing(sqlite3.connect(db)) as connection, connection:
        for table, column in columns:
            connection.execute(f"UPDATE {table} SET {column} = ? || substr({column}, ?) "  # noqa: S608 (fixed names)
                               f"WHERE substr({column}, 1, ?) = ?", (root_uri, len(old) + 1, len(old), old))


def log_params_once(client: MlflowClient, run_id: str, values: dict[str, Any]) -> None:
    """Params are write-once: those the run already has (a resume) are not logged again."""
    existing = retry(lambda: client.get_run(run_id)).data.params
    params = [Param(k, str(v)[:6000]) for k, v in values.items() if k not in existing]
    if params:
        retry(lambda: client.log_batch(run_id, params=params))


def log_config(client: MlflowClient, run_id: str, config: dict[str, Any], extra: dict[str, Any]) -> None:
    flat = {k: json.dumps(v) if isinstance(v, (dict, list)) else v for k, v in config.items()}
    log_params_once(client, run_id, {**flat, **extra})
    retry(lambda: client.log_text(run_id, json.dumps(config, indent=2, default=str), "search_config.json"))


def child_runs(client: MlflowClient, experiment_id: str, parent_id: str) -> list[Any]:
    return client.search_runs([experiment_id], filter_string=f"tags.`{PARENT_TAG}` = '{parent_id}'",
                              max_results=10000)
