"""Found architectures as plain files: spec + weights -> an nn.Module in one line.

An exported model is a directory::

    spec.json     the ArchSpec
    weights.pt    the model's state_dict (tensors only: read with torch.load(weights_only=True))
    card.json     where it came from, its metrics and cost, its input shape

Example:
    >>> import tempfile, torch, spaces
    >>> spec = spaces.get_preset("tsn_r50", frames=2, crop=32, num_classes=3).scaled(width=0.125, depth=0.34)
    >>> directory = spaces.save(tempfile.mkdtemp(), spec, spaces.build(spec).state_dict())
    >>> spaces.load(directory)(torch.randn(1, 3, 2, 32, 32)).shape
    torch.Size([1, 3])

`load` needs only torch and this package; `models:/NAME@ALIAS` URIs (the MLflow registry) also
need mlflow.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from spaces.atomic import recover_dir, replacing_dir
from spaces.build import VideoNet, build
from spaces.schema import SpecError
from spaces.spec import ArchSpec

SPEC_FILE, WEIGHTS_FILE, CARD_FILE = "spec.json", "weights.pt", "card.json"
EXPORT_FILES = (SPEC_FILE, WEIGHTS_FILE, CARD_FILE)


def save(directory: str | os.PathLike[str], spec: ArchSpec, state_dict: dict[str, torch.Tensor],
         card: dict[str, Any] | None = None) -> Path:
    """Write an exported model; the weights must fit `build(spec)` exactly."""
    directory = Path(directory)
    build(spec).load_state_dict(state_dict)  # refuse to write weights that do not fit the spec
    others = sorted(p.name for p in directory.iterdir() if p.name not in EXPORT_FILES) if directory.is_dir() else []
    if others:
        raise SpecError("directory", str(directory), f"holds other files ({', '.join(others[:5])}): an export replaces "
                        "its whole directory; save into a new or empty one, or over an earlier export")
    directory.parent.mkdir(parents=True, exist_ok=True)
    with replacing_dir(directory) as tmp:  # the old export or the new one, never half of one
        (tmp / SPEC_FILE).write_text(spec.to_json(indent=2))
        torch.save({k: v.detach().cpu() for k, v in state_dict.items()}, tmp / WEIGHTS_FILE)
        (tmp / CARD_FILE).write_text(json.dumps(card or {}, indent=2, default=str))
    return directory


def load(location: str | os.PathLike[str], *, map_location: str | torch.device = "cpu",
         tracking_uri: str | None = None) -> VideoNet:
    """The network of an exported directory (or an MLflow `models:/NAME@ALIAS`, `models:/MODEL_ID`
    (a logged model) or `runs:/ID/PATH` URI holding one, from `tracking_uri` or
    $MLFLOW_TRACKING_URI), weights loaded, in eval mode."""
    location = str(location)
    if location.startswith(("models:/", "runs:/")):
        return _load_mlflow(location, map_location, tracking_uri)
    directory = Path(location).expanduser()
    recover_dir(directory)  # an export killed between its two renames: the previous one, put back
    if not (directory / SPEC_FILE).is_file():
        raise SpecError("location", location, f"must be a directory with {SPEC_FILE} and {WEIGHTS_FILE}")
    spec = ArchSpec.from_json((directory / SPEC_FILE).read_text())
    model = build(spec)
    if (directory / WEIGHTS_FILE).is_file():
        state = torch.load(directory / WEIGHTS_FILE, map_location=map_location, weights_only=True)
        model.load_state_dict(state)
    return model.eval()


def _load_mlflow(uri: str, map_location: str | torch.device, tracking_uri: str | None) -> VideoNet:
    import mlflow  # only for registry and run URIs

    client = mlflow.MlflowClient(tracking_uri, registry_uri=tracking_uri)
    if uri.startswith("models:/") and not uri.startswith("models:/m-"):  # through the registry, same server
        name, _, ref = uri.removeprefix("models:/").partition("@")
        if ref:
            version = client.get_model_version_by_alias(name, ref)
        else:
            name, _, number = name.partition("/")
            version = client.get_model_version(name, number)
        uri = version.source
    if uri.startswith("models:/m-"):  # a logged model (MLflow 3): its artifacts, on this server
        uri = client.get_logged_model(uri.removeprefix("models:/").split("/")[0]).artifact_location
    with tempfile.TemporaryDirectory() as tmp:
        local = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=tmp, tracking_uri=tracking_uri)
        if not (Path(local) / SPEC_FILE).is_file():  # a registered model keeps its files one level down
            found = next(Path(local).rglob(SPEC_FILE), None)
            if found is None:
                raise SpecError("location", uri, f"holds no {SPEC_FILE}")
            local = str(found.parent)
        return load(local, map_location=map_location)
