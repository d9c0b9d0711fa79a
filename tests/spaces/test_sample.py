from __future__ import annotations

import pickle

import optuna
import pytest
import torch

from spaces import PRESETS, ArchSpec, SpecError, build, cost, get_preset
from spaces.bounds import SpaceBounds
from spaces.sample import ArchSpace, preset_params, sample_arch

TINY = SpaceBounds(frames=(4, 8, 16), crop=32, num_classes=6, widths=(0.125, 0.25), depths=(0.34, 0.5),
                   temporal_kernels=(3, 5, 7))


@pytest.mark.slow  # builds 200 sampled networks (10 s)
def test_200_seeded_random_draws_are_valid_build_and_round_trip() -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen_families, seen = set(), set()
    for i in range(200):
        trial = study.ask()
        spec = sample_arch(trial, TINY)
        study.tell(trial, 0.0)
        assert ArchSpec.from_json(spec.to_json()) == spec
        assert sample_arch(optuna.trial.FixedTrial(trial.params), TINY) == spec
        assert all("/" not in k for k in trial.params)
        assert all(isinstance(v, (str, int, float, bool)) for v in trial.params.values())
        model = build(spec)
        if i % 10 == 0:  # a forward pass for a sample of them
            with torch.no_grad():
                assert model.eval()(torch.randn(1, 3, spec.frames, 32, 32)).shape == (1, 6)
        seen_families.add(spec.family.value)
        seen.add(spec.to_json())
    assert seen_families == {"inception", "vov", "resnet"}
    assert len(seen) == 200  # no duplicates: the space is large


def test_seeded_sampling_is_reproducible() -> None:
    def draws(seed: int) -> list[str]:
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
        return [sample_arch(study.ask(), TINY).to_json() for _ in range(5)]
    assert draws(1) == draws(1) and draws(1) != draws(2)


@pytest.mark.slow  # a TPE study over the whole space (8 s)
def test_multivariate_grouped_tpe_handles_the_conditional_space() -> None:
    sampler = optuna.samplers.TPESampler(multivariate=True, group=True, seed=0, n_startup_trials=5)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
    for _ in range(12):
        trial = study.ask()
        spec = sample_arch(trial, TINY)
        study.tell(trial, [float(trial.params["width"]), cost(spec).gmacs])
    assert len(study.best_trials) >= 1


def test_gmacs_budget_is_an_optuna_constraint() -> None:
    bounds = SpaceBounds(frames=(8,), crop=32, num_classes=6, widths=(0.125, 0.5), depths=(0.5,), max_gmacs=0.02)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    signs = set()
    for _ in range(15):
        trial = study.ask()
        spec = sample_arch(trial, bounds)
        study.tell(trial, 0.0)
        value = study.trials[-1].constraints["gmacs_over_budget"]
        assert value == pytest.approx(cost(spec).gmacs - 0.02)
        signs.add(value <= 0)
    assert signs == {True, False}  # the budget separates the draws


def test_bounds_restrict_the_choices() -> None:
    bounds = SpaceBounds(families=("vov",), temporal_ops=("depthwise",), big_views=("off",), gates=("off",),
                         frames=(16,), crop=32, num_classes=3, tosa_depths=(2,))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(10):
        spec = sample_arch(study.ask(), bounds)
        assert spec.family.value == "vov"
        for stage in spec.stages:
            for block in stage.blocks:
                assert block.temporal_op.value == "depthwise" and block.tosa_depth == 2
                assert block.big_view.value == "off"


def test_short_clips_shorten_kernels_instead_of_failing() -> None:
    params = preset_params("i3d", TINY, width=0.125, depth=0.34, frames=16)
    params["frames"] = 4  # 1a sees 4 frames (kernel 7 fits), stage 5 sees 1 (no temporal conv left)
    spec = sample_arch(optuna.trial.FixedTrial(params), TINY)
    assert spec.stem[0].temporal_kernel == 7 and spec.stages[-1].blocks[0].temporal_op.value == "2d"
    assert spec.head.temporal_window == 1


REPRESENTABLE = ["i3d", "s3d", "s3d_g", "s3d_g_temporal", "i2d", "vov3d_m", "vov3d_l", "smallbig_r50",
                 "smallbig_r50_unshared", "tsn_r50", "i3d_top_heavy_3b", "s3d_bottom_heavy_4b", "s3d_top_heavy_5b"]


@pytest.mark.parametrize("name", REPRESENTABLE)
def test_presets_become_trial_params_that_replay_them(name: str) -> None:
    """Warm starts: the params of a preset replay the preset, scaled, through the space."""
    bounds = SpaceBounds(frames=(8, 16, 64), crop=224, num_classes=400, temporal_kernels=(3, 7))
    frames = PRESETS[name].spec.frames
    params = preset_params(name, bounds, frames=frames)
    assert sample_arch(optuna.trial.FixedTrial(params), bounds) == get_preset(name, crop=224).as_space_point()
    small = preset_params(name, TINY, width=0.25, depth=0.5, frames=16)
    expected = get_preset(name, frames=16, crop=32, num_classes=6).scaled(width=0.25, depth=0.5).as_space_point()
    assert sample_arch(optuna.trial.FixedTrial(small), TINY) == expected


def test_presets_outside_the_space_say_why() -> None:
    with pytest.raises(SpecError, match="mixes stage 1 temporal_op"):
        preset_params("i3d_top_heavy_3c", TINY)
    with pytest.raises(SpecError, match=r"needs stem_temporal_op='separable', outside space.temporal_ops \['2d', '3d'\]"):
        preset_params("s3d", SpaceBounds(temporal_ops=("2d", "3d")))
    with pytest.raises(SpecError, match="not a point of this space"):
        preset_params("vov3d_m", SpaceBounds(backbones=("vov3d_l", "resnet50")))


@pytest.mark.parametrize("kwargs, pattern", [
    (dict(families=("transformer",)), "families='transformer': unknown choice; valid: inception, vov, resnet"),
    (dict(temporal_ops=()), "temporal_ops=\\[\\]: must list at least one choice"),
    (dict(widths=(0.5, 0)), "widths=0: must be a number > 0"),
    (dict(temporal_kernels=(3, 4)), "temporal_kernels=\\[3, 4\\]: must all be odd"),
    (dict(families=("vov",), backbones=("resnet50",)), "none is of the families"),
    (dict(max_gmacs=-1.0), "max_gmacs=-1.0: must be > 0"),
])
def test_bad_bounds_are_one_line_errors(kwargs, pattern) -> None:
    with pytest.raises(SpecError, match=pattern):
        SpaceBounds(**kwargs)


def test_arch_space_pickles_and_returns_constants() -> None:
    space = pickle.loads(pickle.dumps(ArchSpace(TINY)))
    params = preset_params("vov3d_m", TINY, width=0.25, depth=0.5)
    out = space(optuna.trial.FixedTrial(params))
    assert list(out) == ["arch"] and ArchSpec.from_json(out["arch"]).family.value == "vov"
