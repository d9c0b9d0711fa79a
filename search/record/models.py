"""A search's Pareto front as MLflow logged models (MLflow 3's `LoggedModel`): each member's
spec + weights + card (what `vidnas export` writes), its choices as params, its validation and
test metrics and costs, linked to its trial's run and the clip store dataset. `spaces.load` reads
one back from `models:/<model_id>` or, once registered, `models:/NAME@ALIAS`.

Registration (on request: `vidnas search ... --register NAME`) makes one model version per front
member with aliases: `best-top1` (highest validation top-1), `cheapest` (fewest GMACs) and
`front-<i>` in order of GMACs. Logging is idempotent: a resumed or re-reported search logs no
member twice (found by the tag `vidnas.trial_id` under the same search).
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from mlflow.entities import LoggedModelOutput
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from search.record import tracking
from search.record.export import export
from search.record.results import selection_view

MODEL_TYPE = "vidnas-architecture"
METRICS = ("val_top1", "val_within_pair", "test_top1", "test_within_pair", "gmacs", "gmacs_clip", "params",
           "latency_ms")


def _model_name(slug: str) -> str:
    """The architecture's slug in the characters a logged model's name allows (no / : . % " ')."""
    return "".join("_" if c in "/:.%\"'" else c for c in slug)[:64]


def front_members(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The complete trials on the Pareto front (chosen on validation metrics), by GMACs."""
    chosen = {r["trial_id"] for r in selection_view(rows) if r["state"] == "complete" and r.get("pareto")}
    return sorted((r for r in rows if r["trial_id"] in chosen), key=lambda r: r["gmacs"])


def log_front(client: MlflowClient, experiment_id: str, search_dir: Path, rows: list[dict[str, Any]],
              dataset: Any | None = None) -> dict[str, str]:
    """Log each front member as a logged model (once); trial id -> model id."""
    search_tag = str(search_dir)
    existing = {m.tags.get(tracking.TRIAL_TAG): m.model_id for m in tracking.retry(lambda: client.search_logged_models(
        [experiment_id], filter_string=f"tags.`{tracking.SEARCH_TAG}` = '{search_tag}'", max_results=1000))}
    out = {}
    for row in front_members(rows):
        if row["trial_id"] in existing:
            out[row["trial_id"]] = existing[row["trial_id"]]
            continue
        model = tracking.retry(lambda row=row: client.create_logged_model(
            experiment_id, name=_model_name(row["slug"]), source_run_id=row.get("mlflow_run_id") or None,
            model_type=MODEL_TYPE, params={k.removeprefix("arch_"): str(v) for k, v in row.items()
                                           if k.startswith("arch_")},
            tags={tracking.TRIAL_TAG: row["trial_id"], tracking.SEARCH_TAG: search_tag}))
        with tempfile.TemporaryDirectory() as tmp:
            directory = export(search_dir, Path(tmp), [row])[0]
            tracking.retry(lambda: client.log_model_artifacts(model.model_id, str(directory)))
        run_id = row.get("mlflow_run_id") or None
        for key in METRICS:
            value = row.get(key)
            if isinstance(value, (int, float)) and run_id:
                extra = {"dataset_name": dataset.dataset.name, "dataset_digest": dataset.dataset.digest} if dataset else {}
                tracking.retry(lambda key=key, value=value, extra=extra: client.log_metric(
                    run_id, tracking.MODEL_PREFIX + key, float(value), step=row["epochs"], model_id=model.model_id, **extra))
        tracking.retry(lambda: client.finalize_logged_model(model.model_id, "READY"))
        if run_id:  # the run's own page lists it ("Logged models"), as mlflow.log_model in a run does
            tracking.retry(lambda: client.log_outputs(run_id, [LoggedModelOutput(model.model_id, row["epochs"])]))
        out[row["trial_id"]] = model.model_id
    return out


def register_front(client: MlflowClient, name: str, rows: list[dict[str, Any]], models: dict[str, str]) -> list[str]:
    """One model version per front member, with aliases; returns the aliases set."""
    members = front_members(rows)
    if not members:
        return []
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name, description="architectures found by a vidnas search: spec.json + "
                                                         "weights.pt + card.json (spaces.load reads them)")
    versions = {v.tags.get(tracking.TRIAL_TAG): v for v in client.search_model_versions(f"name = '{name}'")}
    aliases = {f"front-{i + 1}": r["trial_id"] for i, r in enumerate(members)}
    aliases["cheapest"] = members[0]["trial_id"]
    aliases["best-top1"] = max(members, key=lambda r: r["val_top1"])["trial_id"]
    for row in members:
        if row["trial_id"] not in versions:
            model_id = models[row["trial_id"]]
            # the model's artifact location, not models:/<id>: MLflow 3.17's registry resolves that
            # URI through the *global* tracking URI (its own TODO), not this client's store
            location = client.get_logged_model(model_id).artifact_location
            versions[row["trial_id"]] = client.create_model_version(
                name, location, run_id=row.get("mlflow_run_id") or None, model_id=model_id,
                tags={tracking.TRIAL_TAG: row["trial_id"], "architecture": row["slug"]})
    for alias, trial_id in aliases.items():
        client.set_registered_model_alias(name, alias, versions[trial_id].version)
    return sorted(aliases)
