"""`vidnas register`: a found architecture (spec + weights + card) in the MLflow model registry,
with aliases (registry stages are deprecated). `spaces.load("models:/NAME@ALIAS")` gets it back.

    vidnas register exports/demo/ff71cc94 --name demo-best --alias champion [--tracking-uri URI]
    vidnas register 0f3c...e1 --name demo-best      # an MLflow trial run of a search: exported first
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from search.errors import SearchError
from search.record.export import export_run
from search.record.tracking import experiment
from spaces.load import CARD_FILE, SPEC_FILE, WEIGHTS_FILE

ARTIFACT_PATH = "model"


def register(source: str, name: str, *, alias: str | None = None, tracking_uri: str | None = None) -> dict[str, Any]:
    """Register an exported directory (or a search's trial run, exported on the fly); returns the
    model version's name, version, alias and run id."""
    client = MlflowClient(tracking_uri)
    path = Path(source).expanduser()
    if path.is_dir():
        if not (path / SPEC_FILE).is_file() or not (path / WEIGHTS_FILE).is_file():
            raise SearchError(f"{path}: not an exported model (needs {SPEC_FILE} and {WEIGHTS_FILE}); "
                              "make one with `vidnas export`")
        return _register_dir(client, path, name, alias)
    try:
        run = client.get_run(source)
    except MlflowException:
        raise SearchError(f"{source}: neither an exported model directory nor an MLflow run id") from None
    with tempfile.TemporaryDirectory() as tmp:
        return _register_dir(client, export_run(client, run, Path(tmp)), name, alias, run_id=run.info.run_id)


def _register_dir(client: MlflowClient, path: Path, name: str, alias: str | None,
                  run_id: str | None = None) -> dict[str, Any]:
    card = json.loads((path / CARD_FILE).read_text()) if (path / CARD_FILE).is_file() else {}
    if run_id is None:  # a run of its own, in an experiment for registered architectures
        uri = client.tracking_uri
        local = Path(uri.removeprefix("sqlite:///")).parent / "mlartifacts" if uri.startswith("sqlite:///") else None
        experiment_id = experiment(client, "vidnas-registry", local)
        run_id = client.create_run(experiment_id, run_name=f"register-{name}").info.run_id
        client.set_terminated(run_id, "FINISHED")
    for file in (SPEC_FILE, WEIGHTS_FILE, CARD_FILE):
        if (path / file).is_file():
            client.log_artifact(run_id, str(path / file), ARTIFACT_PATH)
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name, description="a vidnas architecture: spec.json + weights.pt + card.json")
    version = client.create_model_version(name, f"{client.get_run(run_id).info.artifact_uri}/{ARTIFACT_PATH}",
                                          run_id=run_id, tags={"architecture": str(card.get("architecture", ""))})
    if alias:
        client.set_registered_model_alias(name, alias, version.version)
    return {"name": name, "version": version.version, "alias": alias, "run_id": run_id}


def add_register(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", help="an exported model directory, or an MLflow trial run id")
    p.add_argument("--name", required=True, help="registered model name")
    p.add_argument("--alias", help="an alias to point at this version, e.g. champion")
    p.add_argument("--tracking-uri", help="the MLflow tracking/registry URI (default: $MLFLOW_TRACKING_URI)")


def run_register(args: argparse.Namespace) -> int:
    info = register(args.source, args.name, alias=args.alias, tracking_uri=args.tracking_uri)
    ref = f"models:/{info['name']}@{info['alias']}" if info["alias"] else f"models:/{info['name']}/{info['version']}"
    print(f"registered {info['name']} version {info['version']} (run {info['run_id']})\n"
          f"load it with: spaces.load('{ref}')")
    return 0
