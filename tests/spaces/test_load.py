from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import spaces
from spaces import SpecError, build, get_preset


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    spec = get_preset("s3d_g", frames=16, crop=32, num_classes=5).scaled(width=0.125, depth=0.5)
    model = build(spec).eval()
    spaces.save(tmp_path / "m", spec, model.state_dict(), {"note": "a test"})
    loaded = spaces.load(tmp_path / "m")
    clip = torch.randn(1, 3, 16, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded(clip), model(clip))
    assert not loaded.training and json.loads((tmp_path / "m" / "card.json").read_text()) == {"note": "a test"}


def test_weights_that_do_not_fit_are_refused(tmp_path: Path) -> None:
    spec = get_preset("tsn_r50", frames=4, crop=32, num_classes=5).scaled(width=0.125, depth=0.34)
    other = build(get_preset("tsn_r50", frames=4, crop=32, num_classes=7).scaled(width=0.125, depth=0.34))
    with pytest.raises(RuntimeError, match="size mismatch"):
        spaces.save(tmp_path / "m", spec, other.state_dict())
    assert not (tmp_path / "m").exists()
    with pytest.raises(SpecError, match="must be a directory with spec.json"):
        spaces.load(tmp_path)


def test_register_and_load_by_alias(tmp_path: Path) -> None:
    """The MLflow registry (a real sqlite store): register an exported model, load it by alias."""
    from search.record.registry import register

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    spec = get_preset("vov3d_m", frames=8, crop=32, num_classes=4).scaled(width=0.25, depth=0.5)
    model = build(spec).eval()
    spaces.save(tmp_path / "m", spec, model.state_dict(), {"architecture": spec.slug()})
    first = register(str(tmp_path / "m"), "vov-small", alias="champion", tracking_uri=uri)
    second = register(str(tmp_path / "m"), "vov-small", tracking_uri=uri)
    assert (int(first["version"]), int(second["version"])) == (1, 2)
    loaded = spaces.load("models:/vov-small@champion", tracking_uri=uri)
    by_number = spaces.load("models:/vov-small/2", tracking_uri=uri)
    clip = torch.randn(1, 3, 8, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded(clip), model(clip))
        torch.testing.assert_close(by_number(clip), model(clip))
    assert (tmp_path / "mlartifacts").is_dir()  # artifacts beside the store, not in the working dir
