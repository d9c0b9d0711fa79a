"""`init:` and `vidnas train --init`: a trial starts from given weights (an export, a state dict,
or 2D weights inflated), MLflow records their source and hash, and weights that do not fit fail
the trial with the reason in one line."""
from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch
import yaml
from mlflow.tracking import MlflowClient

from search.cli.main import main
from search.engine.config import SearchConfig
from spaces import build, get_preset, save
from spaces.weights import fingerprint, read_state_dict

pytestmark = [pytest.mark.ray, pytest.mark.slow]

SHAPE = dict(frames=8, crop=32, num_classes=6)


def _export(tmp_path: Path, name: str, preset: str, width: float) -> Path:
    spec = get_preset(preset, **SHAPE).scaled(width=width, depth=0.34)
    torch.manual_seed(7)
    return save(tmp_path / name, spec, build(spec).state_dict(), {"note": "weights to start from"})


def _train(store: str, tmp_path: Path, preset: str, name: str, *extra: str) -> tuple[int, dict, dict]:
    code = main(["train", preset, "--data", store, "--epochs", "1", "--width", "0.125", "--depth", "0.34",
                 "--frames", "8", "--storage", str(tmp_path / "results"), "--cpus", "1", "--name", name, *extra])
    run_dir = tmp_path / "results" / name
    row = pq.read_table(run_dir / "results.parquet").to_pylist()[0]
    cfg = SearchConfig.from_dict(yaml.safe_load((run_dir / "config.yaml").read_text()))
    client = MlflowClient(cfg.resolved_tracking_uri())
    run = client.get_run(row["mlflow_run_id"]) if row["mlflow_run_id"] else None
    return code, row, run.data.params if run else {}


def test_a_trial_starts_from_given_weights_and_records_where_from(store: str, tmp_path: Path) -> None:
    same = _export(tmp_path, "same", "tsn_r50", 0.125)
    code, row, params = _train(store, tmp_path, "tsn_r50", "copied", "--init", str(same), "--backbone-lr", "0.5",
                               "--freeze-bn", "--export", str(tmp_path / "trained"))
    assert code == 0 and row["state"] == "complete"
    assert params["init_weights"] == str(same.resolve()) and params["init_inflated"] == "False"
    assert params["init_sha256"] == fingerprint(read_state_dict(same / "weights.pt"))
    assert main(["export", str(tmp_path / "results" / "copied"), "--best", "val_top1", "--out", str(tmp_path / "out")]) == 0
    card = json.loads(next((tmp_path / "out").glob("*/card.json")).read_text())
    assert card["init"] == {"weights": str(same.resolve()), "inflate": False, "rule": "mean", "head": True, "ignore": [],
                            "shorten": False, "backbone_lr": 0.5, "freeze_bn": True}
    start, trained = read_state_dict(same / "weights.pt"), read_state_dict(tmp_path / "trained" / "weights.pt")
    assert json.loads((tmp_path / "trained" / "card.json").read_text())["init"] == card["init"]  # --export wrote it
    norms = [k for k in start if ".norm." in k and not k.endswith("num_batches_tracked")]
    assert norms and all(torch.equal(start[k], trained[k]) for k in norms)  # --freeze-bn: every norm as loaded
    assert not torch.equal(start["head.fc.weight"], trained["head.fc.weight"])  # and the rest trained

    code, row, params = _train(store, tmp_path, "smallbig_r50", "inflated", "--init", str(same), "--inflate")
    assert code == 0 and row["state"] == "complete" and params["init_inflated"] == "True"  # 2D ResNet into SmallBig

    wide = _export(tmp_path, "wide", "tsn_r50", 0.25)
    code, row, _ = _train(store, tmp_path, "tsn_r50", "mismatch", "--init", str(wide))
    assert code != 0 and row["state"] == "failed"
    assert row["reason"].startswith("init: weights: wrong shape at tensor 0: source 'stem.0.0.conv.weight' (16, 3, 1, 7, 7)")


def test_init_weights_that_are_not_there_are_refused_before_anything_starts(store: str, tmp_path: Path,
                                                                           capsys) -> None:
    assert main(["train", "tsn_r50", "--data", store, "--epochs", "1", "--init", str(tmp_path / "nope.pt")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"vidnas: error: init.weights='{tmp_path / 'nope.pt'}': must be a state dict file or an export "
                   "directory on this machine")
