"""A config is checked against the store, the sampler's grid and the machine before anything starts."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml

from search.engine.config import ConfigError, SearchConfig
from search.engine.tuner import Search
from search.engine.validate import check_grid, effective_concurrency
from spaces.bounds import SpaceBounds

SPACE = {"frames": [8], "crop": 32, "widths": [0.125], "depths": [0.34], "families": ["resnet"],
         "backbones": ["resnet50"], "temporal_ops": ["2d", "3d"], "temporal_kernels": [3], "gates": ["off"],
         "big_views": ["off"]}


def _cfg(store: str, tmp_path: Path, **overrides) -> SearchConfig:
    return SearchConfig.from_dict({"name": "v", "data": store, "storage": str(tmp_path), "space": SPACE} | overrides)


@pytest.mark.slow  # writes stores for every objective (6 s)
def test_objectives_the_store_cannot_report_are_refused(store: str, tmp_path: Path) -> None:
    unpaired = tmp_path / "unpaired"
    shutil.copytree(store, unpaired)
    meta = json.loads((unpaired / "meta.json").read_text())
    (unpaired / "meta.json").write_text(json.dumps(meta | {"pairs": []}))
    cfg = _cfg(str(unpaired), tmp_path, objectives={"val_within_pair": "max", "gmacs": "min"})
    with pytest.raises(ConfigError, match="objectives: val_within_pair needs classes paired by time reversal, and "
                                          "store 'synth-tiny' declares no pairs; use val_top1"):
        Search(cfg)
    Search(_cfg(store, tmp_path, objectives={"val_within_pair": "max", "gmacs": "min"}))  # the benchmark has pairs


def test_a_grid_must_cover_every_parameter_the_space_asks(store: str, tmp_path: Path) -> None:
    full = {"backbone": ["resnet50"], "frames": [8], "width": [0.125], "depth": [0.34], "gate": ["off"],
            "stem_temporal_op": ["2d"], **{f"s{i}_temporal_op": ["2d", "3d"] for i in range(1, 5)},
            **{f"s{i}_big_view": ["off"] for i in range(1, 5)}}
    bounds = SpaceBounds(**{k: tuple(v) if isinstance(v, list) else v for k, v in SPACE.items()}, num_classes=6)
    # s4_temporal_kernel is asked only where s4 is 3d (the first such point of the grid's order)
    with pytest.raises(ConfigError, match=r"grid: misses parameter 's4_temporal_kernel', which the space asks for at "
                                          r"\{.*'s3_temporal_op': '2d', 's4_temporal_op': '3d'.*\}; add e.g. "
                                          r"s4_temporal_kernel: \[3\]"):
        check_grid(full, bounds)
    complete = full | {f"s{i}_temporal_kernel": [3] for i in range(1, 5)}
    assert check_grid(complete, bounds) == 16
    with pytest.raises(ConfigError, match=r"grid.width=0.5: not a choice of the space; choices: \[0.125\]"):
        check_grid(complete | {"width": [0.125, 0.5]}, bounds)
    with pytest.raises(ConfigError, match=r"grid.s9_big_view: not a parameter the space asks for"):
        check_grid(complete | {"s9_big_view": ["off"]}, bounds)
    with pytest.raises(ConfigError, match="grid: misses parameter 's4_temporal_kernel'"):  # before Ray starts
        Search(_cfg(store, tmp_path, sampler="grid", grid=full))


def test_a_trial_gets_one_gpu_at_most(store: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"gpus_per_trial=2.0: a trial trains on one GPU"):
        Search(_cfg(store, tmp_path, gpus_per_trial=2))


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_gpu_trials_on_a_machine_without_cuda_are_refused(store: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"gpus_per_trial=0.5: this machine \(CUDA finds none\) has 0 GPUs; "
                                          r"set gpus_per_trial: 0 to train on CPUs"):
        Search(_cfg(store, tmp_path, gpus_per_trial=0.5))


def test_effective_concurrency_says_what_limits_it(store: str, tmp_path: Path) -> None:
    cfg = _cfg(store, tmp_path, concurrency=4, cpus_per_trial=2)
    assert effective_concurrency(cfg, cpus=2, gpus=0) == (
        1, "1 trials at once, limited by CPUs (2 / 2 per trial); concurrency asks for 4")
    # 0.25 GPU per trial on one GPU: 4 at once, unless concurrency holds it back (then it warns)
    cfg = _cfg(store, tmp_path, concurrency=2, cpus_per_trial=1, gpus_per_trial=0.25)
    assert effective_concurrency(cfg, cpus=16, gpus=1) == (
        2, "warning: concurrency=2 runs 2 trials at once, but the resources allow 4 (GPUs (1 / 0.25 per trial)); "
           "raise it, or leave it out to use them all")
    cfg = _cfg(store, tmp_path, concurrency=None, cpus_per_trial=1, gpus_per_trial=0.25)
    assert effective_concurrency(cfg, cpus=16, gpus=1) == (4, "4 trials at once, as the resources allow: GPUs "
                                                              "(1 / 0.25 per trial)")
    assert effective_concurrency(cfg, cpus=3, gpus=1) == (3, "3 trials at once, as the resources allow: CPUs "
                                                             "(3 / 1 per trial)")
    cfg = _cfg(store, tmp_path, concurrency=4, cpus_per_trial=1, gpus_per_trial=0.25)
    assert effective_concurrency(cfg, cpus=16, gpus=1) == (4, "4 trials at once")
    with pytest.raises(ConfigError, match=r"concurrency=0: must be an integer >= 1 \(or left out: as many as the "
                                          r"resources allow\)"):
        _cfg(store, tmp_path, concurrency=0)


def test_a_refused_resume_leaves_no_mlflow_store_behind(store: str, tmp_path: Path, capsys) -> None:
    from search.cli.main import main

    directory = tmp_path / "results" / "v"
    directory.mkdir(parents=True)
    (directory / "config.yaml").write_text(yaml.safe_dump(_cfg(store, tmp_path / "results").to_dict()))
    assert main(["search", "--resume", str(directory)]) == 2
    assert "nothing to resume (no Tune experiment there)" in capsys.readouterr().err
    assert sorted(p.name for p in directory.iterdir()) == ["config.yaml"]
