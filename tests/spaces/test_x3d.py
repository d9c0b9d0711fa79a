"""X3D (Feichtenhofer, CVPR 2020) as the fourth family: the structure `create_x3d` builds, the
sampler's expansion axes, warm starts. Its reference counts are measured in test_presets.py."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import optuna
import pytest
import torch
from torch import nn

from spaces import build, cost, get_preset
from spaces.blocks import Bottleneck, SqueezeExcitation
from search.engine.config import SearchConfig
from spaces.bounds import SpaceBounds, gmacs_over_budget
from spaces.sample import preset_params, sample_arch


@pytest.mark.parametrize("name, depths", [("x3d_m", (3, 5, 11, 7)), ("x3d_l", (5, 10, 25, 15))])
def test_the_stages_are_create_x3d_s(name: str, depths: tuple[int, ...]) -> None:
    """Widths 24, 48, 96, 192 with bottlenecks 2.25x; depths ceil((1, 2, 5, 3) x 2.2 or 5.0); SE on
    the 1st, 3rd, ... block of each stage; every stage strides 2 in space only; head conv5 432 wide."""
    spec = get_preset(name)
    assert spec.stem[0].out_channels == 24
    assert [len(st.blocks) for st in spec.stages] == list(depths)
    assert [st.blocks[0].out_channels for st in spec.stages] == [24, 48, 96, 192]
    assert [st.blocks[0].inner_channels for st in spec.stages] == [54, 108, 216, 432]
    assert all(b.squeeze_excite == (i % 2 == 0) for st in spec.stages for i, b in enumerate(st.blocks))
    assert [(st.spatial_stride, st.temporal_stride) for st in spec.stages] == [(2, 1)] * 4
    assert (spec.head.pre_channels, spec.head.hidden_channels) == (432, 2048)


def test_the_block_is_channelwise_3d_with_se_and_swish() -> None:
    net = build(get_preset("x3d_xs", crop=64, num_classes=10))
    blocks = [m for m in net.modules() if isinstance(m, Bottleneck)]
    assert len(blocks) == 26
    for i, block in enumerate(blocks[:3]):  # the first stage
        conv = block.conv2.conv
        assert isinstance(conv, nn.Conv3d) and conv.kernel_size == (3, 3, 3) and conv.groups == 54
        assert conv.stride == ((1, 2, 2) if i == 0 else (1, 1, 1))
        assert isinstance(block.mid_act, nn.SiLU)
        assert isinstance(block.se, SqueezeExcitation) == (i % 2 == 0)
    # SE reduces to 1/16, rounded to a multiple of 8 (fvcore's round_width): 54 -> 8, 432 -> 32
    assert blocks[0].se.fc1.out_channels == 8 and blocks[-1].se.fc1.out_channels == 32
    assert net(torch.randn(2, 3, 4, 64, 64)).shape == (2, 10)


def test_expansion_axes_are_choices_of_the_space() -> None:
    """Frames, width, depth and bottleneck width are sampled; every draw builds and runs."""
    bounds = SpaceBounds(families=("x3d",), backbones=("x3d_m",), frames=(4, 8), crop=32, num_classes=5,
                         widths=(0.25, 0.5), depths=(0.34, 0.5), bottlenecks=(1.0, 1.5),
                         temporal_ops=("channelwise", "2d"), gates=("off",), big_views=("off",))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    seen = set()
    for _ in range(12):
        trial = study.ask()
        spec = sample_arch(trial, bounds)
        p = trial.params
        seen.add(p["bottleneck"])
        out = spec.stages[0].blocks[0].out_channels
        assert spec.stages[0].blocks[0].inner_channels == pytest.approx(54 * p["width"] * p["bottleneck"], abs=8)
        assert out == (8 if p["width"] == 0.25 else 16)
        assert spec.frames == p["frames"]
        assert build(spec)(torch.randn(1, 3, spec.frames, 32, 32)).shape == (1, 5)
    assert seen == {1.0, 1.5}
    wide = sample_arch(optuna.trial.FixedTrial(p | {"bottleneck": 1.5}), bounds)
    narrow = sample_arch(optuna.trial.FixedTrial(p | {"bottleneck": 1.0}), bounds)
    assert cost(wide).params > cost(narrow).params


def test_a_preset_warm_starts_a_search() -> None:
    bounds = SpaceBounds(families=("x3d",), backbones=("x3d_m",), frames=(16,), crop=64, num_classes=10,
                         temporal_ops=("channelwise", "depthwise"), widths=(0.5, 1.0), depths=(0.5, 1.0))
    params = preset_params("x3d_m", bounds, width=0.5, depth=0.5)
    spec = sample_arch(optuna.trial.FixedTrial(params), bounds)
    assert spec == get_preset("x3d_m", crop=64, num_classes=10).scaled(width=0.5, depth=0.5)
    with pytest.raises(ValueError, match="outside space.temporal_ops"):
        preset_params("x3d_m", SpaceBounds(families=("x3d",), backbones=("x3d_m",), temporal_ops=("2d", "3d")))


def test_the_demo_space_with_x3d_samples_all_four_families_within_budget() -> None:
    """configs/demo_x3d.yaml: the demo's space plus X3D. Seeded random draws reach every family,
    X3D among them with both bottleneck widths, and X3D's draws build and run; its warm start,
    X3D-M scaled, costs no more than the budget (a search refuses one that does)."""
    cfg = SearchConfig.from_yaml(Path(__file__).parents[2] / "configs" / "demo_x3d.yaml")
    bounds = dataclasses.replace(cfg.space, num_classes=18)
    open_bounds = dataclasses.replace(bounds, max_gmacs=None)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    families, x3d_bottlenecks = [], set()
    for _ in range(24):
        trial = study.ask()
        spec = sample_arch(trial, open_bounds)  # the budget is checked on the warm start below
        families.append(spec.family.value)
        if spec.family.value == "x3d":
            x3d_bottlenecks.add(trial.params["bottleneck"])
            assert build(spec)(torch.randn(2, 3, spec.frames, 32, 32)).shape == (2, 18)
    assert set(families) == {"inception", "resnet", "vov", "x3d"} and x3d_bottlenecks == {1.0, 1.5}
    params = preset_params("x3d_m", bounds, width=cfg.warm_start_width, depth=cfg.warm_start_depth)
    warm = sample_arch(optuna.trial.FixedTrial(params), open_bounds)
    assert warm.family.value == "x3d" and gmacs_over_budget(cost(warm).gmacs, bounds.max_gmacs) <= 0
