"""The papers' architectures, measured against their reference code's counts (PAPERS.md)."""
from __future__ import annotations

import re

import pytest
import torch

from spaces import PRESETS, TemporalOp, build, cost, get_preset
from spaces.families.inception import CUTS, INCEPTION_LAYERS, INCEPTION_MIXED

REFERENCED = [n for n, p in PRESETS.items() if p.params is not None]


def test_every_headline_preset_has_a_reference() -> None:
    assert set(REFERENCED) == {"i3d", "s3d", "s3d_g", "s3d_g_tf", "i2d", "vov3d_m", "vov3d_l", "smallbig_r50", "tsn_r50",
                               "x3d_xs", "x3d_s", "x3d_m", "x3d_l"}


@pytest.mark.parametrize("name", REFERENCED)
def test_reference_params_and_gmacs_are_met_by_measurement(name: str) -> None:
    preset = PRESETS[name]
    measured = cost(preset.spec)  # at the preset's default input, 400 classes
    assert preset.spec.num_classes == 400
    assert measured.params == pytest.approx(preset.params, rel=0.005)
    assert measured.gmacs == pytest.approx(preset.gmacs, rel=0.01)


@pytest.mark.parametrize("name, frames, crop, classes, params, gmacs", [
    ("s3d", 16, 224, 400, 8_320_048, 17.98),  # torchvision's s3d, exactly
    ("vov3d_m", 16, 224, 400, 3_667_000, 4.92),  # VoV3D README
    ("vov3d_m", 16, 256, 174, 3_204_000, 6.42),  # Something-Something head
    ("vov3d_l", 16, 256, 174, 5_834_000, 12.16),
    ("smallbig_r50", 16, 224, 400, 24_371_000, 103.26),  # SmallBigNet Table 5
    ("smallbig_r50", 32, 224, 400, 24_371_000, 205.86),
])
def test_reference_counts_at_other_inputs(name, frames, crop, classes, params, gmacs) -> None:
    measured = cost(get_preset(name, frames=frames, crop=crop, num_classes=classes))
    assert measured.params == pytest.approx(params, rel=0.005)
    assert measured.gmacs == pytest.approx(gmacs, rel=0.01)


def test_s3d_parameter_count_is_exact() -> None:
    assert cost(get_preset("s3d")).params == 8_320_048


def test_s3d_g_adds_one_c_by_c_gate_per_branch_and_after_2c() -> None:
    """The official code gates 2c (192 channels) and all four branches of every Mixed block."""
    expected = 192 ** 2 + sum(w[0] ** 2 + w[2] ** 2 + w[4] ** 2 + w[5] ** 2 for w in INCEPTION_MIXED.values())
    assert cost(get_preset("s3d_g")).params - cost(get_preset("s3d")).params == expected
    assert cost(get_preset("s3d_g")).gmacs == pytest.approx(cost(get_preset("s3d")).gmacs, rel=1e-3)


def test_smallbig_adds_only_zero_init_norms_and_starts_as_its_small_view() -> None:
    """Shared big views add 2 x C norm parameters per conv in res3-res5; the big-view norms are
    zero-initialized, so with TSN's weights the network computes exactly what TSN computes."""
    tsn_spec = get_preset("tsn_r50", frames=4, crop=64, num_classes=7)
    sb_spec = get_preset("smallbig_r50", frames=4, crop=64, num_classes=7)
    norms = sum(2 * (m + m + 4 * m) * n for m, n in ((128, 4), (256, 6), (512, 3)))
    assert cost(sb_spec).params - cost(tsn_spec).params == norms == 43_008
    tsn, smallbig = build(tsn_spec).eval(), build(sb_spec).eval()
    missing, unexpected = smallbig.load_state_dict(tsn.state_dict(), strict=False)
    assert not unexpected and missing and all(".big_norm." in k for k in missing)
    clip = torch.randn(2, 3, 4, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(smallbig(clip), tsn(clip))
    # the unshared ablation has its own convs: as many conv weights again in res3-res5
    unshared = cost(get_preset("smallbig_r50_unshared")).params - cost(get_preset("smallbig_r50")).params
    # W1 (in -> m; in = 2m in a stage's first block, 4m after), W2 3x3 (m -> m), W3 (m -> 4m)
    convs = sum(m * m * ((2 + 9 + 4) + (n - 1) * (4 + 9 + 4)) for m, n in ((128, 4), (256, 6), (512, 3)))
    assert unshared == convs


def _ops(name: str) -> list[str]:
    spec = PRESETS[name].spec
    ops = [spec.stem[0].temporal_op, spec.stem[2].temporal_op]
    ops += [b.temporal_op for st in spec.stages for b in st.blocks]
    return [op.value for op in ops]


@pytest.mark.parametrize("base, full", [("i3d", "3d"), ("s3d", "separable")])
def test_heavy_sweeps_follow_the_s3d_paper(base: str, full: str) -> None:
    """Top-heavy: 2D below the cut, full from it on; bottom-heavy: the reverse. Only kernels
    change, so every sweep member has I3D's widths; moving the cut up makes top-heavy models
    cheaper and bottom-heavy models dearer, between the all-2D and all-full ends."""
    top_costs, bottom_costs = [], []
    for cut in CUTS:
        k = INCEPTION_LAYERS.index(cut)
        assert _ops(f"{base}_top_heavy_{cut}") == ["2d"] * k + [full] * (len(INCEPTION_LAYERS) - k)
        assert _ops(f"{base}_bottom_heavy_{cut}") == [full] * k + ["2d"] * (len(INCEPTION_LAYERS) - k)
        top_costs.append(cost(PRESETS[f"{base}_top_heavy_{cut}"].spec).gmacs)
        bottom_costs.append(cost(PRESETS[f"{base}_bottom_heavy_{cut}"].spec).gmacs)
    assert top_costs == sorted(top_costs, reverse=True) and len(set(top_costs)) == len(top_costs)
    assert bottom_costs == sorted(bottom_costs) and len(set(bottom_costs)) == len(bottom_costs)
    full_cost, flat_cost = cost(PRESETS[base].spec).gmacs, cost(PRESETS["i2d"].spec).gmacs
    assert full_cost > top_costs[0] and top_costs[-1] > flat_cost
    assert flat_cost < bottom_costs[0] and bottom_costs[-1] < full_cost


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_builds_and_runs_forward_scaled_down(name: str) -> None:
    spec = get_preset(name, frames=16, crop=48, num_classes=5).scaled(width=0.25, depth=0.5)
    model = build(spec).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 16, 48, 48))
    assert out.shape == (2, 5) and torch.isfinite(out).all()


def test_every_preset_cites_its_source() -> None:
    for name, preset in PRESETS.items():
        assert re.search(r"[A-Z][a-z]+.*(CVPR|ECCV|ICCV|NeurIPS)? (19|20)\d\d", preset.source), name  # author, year
        assert preset.spec.stages[0].blocks[0].temporal_op in TemporalOp
