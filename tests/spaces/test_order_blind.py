"""`i2d_symmetric`: I2D with every temporal reduction tiled in time, so it cannot tell a clip from its
time reversal, while I2D can (its 1a keeps frames 0, 2, 4, ... of a clip and 15, 13, ... of the
reversal, and its 3x3x3 entry pools are centred on even frames): the frame-parity cue."""
from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from spaces import PRESETS, ArchSpec, ConvSpec, SpecError, StageSpec, build, cost, get_preset
from spaces.blocks import downsample_pool
from spaces.families.inception import published

# `get_preset("i2d").to_json()` as written before `pool_temporal_kernel` existed: a saved spec.
OLD_I2D_JSON = (
    '{"family": "inception", "stem": [{"out_channels": 64, "kernel": 7, "stride": 2, "temporal_op": "2d", '
    '"temporal_kernel": 1, "temporal_stride": 2, "pool": true}, {"out_channels": 64, "kernel": 1, "stride": 1, '
    '"temporal_op": "2d", "temporal_kernel": 1, "temporal_stride": 1, "pool": false}, {"out_channels": 192, '
    '"kernel": 3, "stride": 1, "temporal_op": "2d", "temporal_kernel": 1, "temporal_stride": 1, "pool": false}], '
    '"stages": [{"blocks": [{"branch_channels": [64, 96, 128, 16, 32, 32], "temporal_op": "2d", '
    '"temporal_kernel": 1, "big_view": "off"}, {"branch_channels": [128, 128, 192, 32, 96, 64], "temporal_op": '
    '"2d", "temporal_kernel": 1, "big_view": "off"}], "spatial_stride": 2, "temporal_stride": 1}, {"blocks": '
    '[{"branch_channels": [192, 96, 208, 16, 48, 64], "temporal_op": "2d", "temporal_kernel": 1, "big_view": '
    '"off"}, {"branch_channels": [160, 112, 224, 24, 64, 64], "temporal_op": "2d", "temporal_kernel": 1, '
    '"big_view": "off"}, {"branch_channels": [128, 128, 256, 24, 64, 64], "temporal_op": "2d", '
    '"temporal_kernel": 1, "big_view": "off"}, {"branch_channels": [112, 144, 288, 32, 64, 64], "temporal_op": '
    '"2d", "temporal_kernel": 1, "big_view": "off"}, {"branch_channels": [256, 160, 320, 32, 128, 128], '
    '"temporal_op": "2d", "temporal_kernel": 1, "big_view": "off"}], "spatial_stride": 2, "temporal_stride": 2}, '
    '{"blocks": [{"branch_channels": [256, 160, 320, 32, 128, 128], "temporal_op": "2d", "temporal_kernel": 1, '
    '"big_view": "off"}, {"branch_channels": [384, 192, 384, 48, 128, 128], "temporal_op": "2d", '
    '"temporal_kernel": 1, "big_view": "off"}], "spatial_stride": 2, "temporal_stride": 2}], "head": '
    '{"pre_channels": 0, "hidden_channels": 0, "dropout": 0.5, "temporal_window": 2}, "frames": 64, "crop": 224, '
    '"num_classes": 400, "gate": "off", "gate_bias": false}'
)


def _spec(name: str, frames: int, crop: int, *, scaled: bool = True) -> ArchSpec:
    """The preset at `frames`; S3D's head averages windows of 2 frames, at most what 5a leaves
    (1 frame at 8 input frames)."""
    base = PRESETS[name].spec
    head = dataclasses.replace(base.head, temporal_window=min(base.head.temporal_window, base.stage_frames(frames)[-1]))
    spec = get_preset(name, frames=frames, crop=crop, num_classes=18, head=head)
    return spec.scaled(width=0.25, depth=0.5) if scaled else spec


def _reversal_gap(spec: ArchSpec, seed: int = 0) -> float:
    """max |logits(x) - logits(x reversed in time)| in float64, eval mode, random init with
    BatchNorm running statistics and affines set to random, non-trivial values and the classifier's
    weights drawn from N(0, 1), so the logits are O(1) rather than O(0.01)."""
    torch.manual_seed(seed)
    model = build(spec).double().eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.normal_(0.0, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.5)
        model.head.fc.weight.normal_()
        x = torch.randn(2, 3, spec.frames, spec.crop, spec.crop, dtype=torch.float64)
        out, rev = model(x), model(x.flip(2))
    assert out.std() > 0.1  # the logits vary: a constant network would be trivially order-blind
    return (out - rev).abs().max().item()


@pytest.mark.parametrize("frames", [16, 8])
def test_i2d_symmetric_gives_a_clip_and_its_time_reversal_the_same_logits(frames: int) -> None:
    assert _reversal_gap(_spec("i2d_symmetric", frames, crop=32)) < 1e-10


def test_i2d_symmetric_is_order_blind_at_full_width() -> None:
    assert _reversal_gap(_spec("i2d_symmetric", 16, crop=64, scaled=False)) < 1e-10


@pytest.mark.parametrize("frames", [16, 8])
def test_i2d_tells_a_clip_from_its_time_reversal_by_frame_parity(frames: int) -> None:
    """The contrast: the same check fails for I2D, so it would catch the parity cue."""
    assert _reversal_gap(_spec("i2d", frames, crop=32)) > 1e-4


def test_i2d_symmetric_has_i2d_convs_and_frames_and_its_stated_cost() -> None:
    flat, blind = PRESETS["i2d"].spec, PRESETS["i2d_symmetric"].spec
    assert cost(blind).params == cost(flat).params == 6_009_904  # the same convs, widths and head
    small = [_spec(n, 16, crop=32) for n in ("i2d", "i2d_symmetric")]
    assert cost(small[0]).params == cost(small[1]).params
    missing, unexpected = build(small[1]).load_state_dict(build(small[0]).state_dict())  # strict: same keys
    assert not missing and not unexpected
    for frames in (8, 12, 16, 32, 64):  # the same total temporal reduction at every stage
        assert blind.stage_frames(frames) == flat.stage_frames(frames)
    # vidnas' own variant, no external reference: no reference counts, the counted ones in its source
    assert PRESETS["i2d_symmetric"].params is None and PRESETS["i2d_symmetric"].gmacs is None
    gmacs = cost(blind).gmacs
    assert gmacs == pytest.approx(40.67, abs=0.005) and f"{gmacs:.2f} GMACs" in PRESETS["i2d_symmetric"].source
    # 1a runs on all 64 frames instead of 32: 3 -> 64 channels, 7x7 kernel, 112x112 outputs, 32 more frames
    assert gmacs - cost(flat).gmacs == pytest.approx(32 * 112 * 112 * 64 * 3 * 49 / 1e9, rel=1e-9)


def test_only_temporal_reductions_differ_from_i2d() -> None:
    flat, blind = PRESETS["i2d"].spec, PRESETS["i2d_symmetric"].spec
    assert blind.stem[0] == dataclasses.replace(flat.stem[0], temporal_stride=1, pool_temporal_kernel=2)
    assert blind.stem[1:] == flat.stem[1:] and blind.head == flat.head
    assert [s.pool_temporal_kernel for s in blind.stages] == [3, 2, 2]  # 3a does not stride in time
    assert [s.blocks for s in blind.stages] == [s.blocks for s in flat.stages]


def test_a_spec_saved_before_the_field_loads_as_the_preset_and_is_written_the_same() -> None:
    """A spec stored before the pool fields (and the norm epsilon) existed loads as the preset's
    point of the space and writes the same JSON: studies and benches key their records by it."""
    old = ArchSpec.from_json(OLD_I2D_JSON)
    assert old == get_preset("i2d").as_space_point() and old.to_json() == OLD_I2D_JSON
    assert published(old) == get_preset("i2d")  # the preset: 5a 2x2x2 and eps 1e-3, as the reference code
    clip = torch.randn(1, 3, 16, 32, 32)
    torch.manual_seed(0)
    a = build(old.replace(frames=16, crop=32)).eval()
    torch.manual_seed(0)
    b = build(get_preset("i2d", frames=16, crop=32).as_space_point()).eval()
    with torch.no_grad():
        torch.testing.assert_close(a(clip), b(clip), rtol=0, atol=0)
    blind = get_preset("i2d_symmetric")
    assert '"pool_temporal_kernel": 2' in blind.to_json() and ArchSpec.from_json(blind.to_json()) == blind


def test_slug_and_choices_tell_the_variants_apart_and_scaling_keeps_the_pools() -> None:
    flat, blind = get_preset("i2d"), get_preset("i2d_symmetric")
    assert flat.as_space_point().slug() == "inception-22.222-----w1024-d9-64x224"  # names from before the field
    assert flat.slug() == "inception-22.222-----tp1.132-w1024-d9-64x224"  # 5a tiled in time (2x2x2)
    assert blind.slug() == "inception-22.222-----tp2.122-w1024-d9-64x224"
    assert "temporal_pools" not in flat.as_space_point().choices() and blind.choices()["temporal_pools"] == "2.122"
    small = blind.scaled(width=0.25, depth=0.5)
    assert small.stem[0].pool_temporal_kernel == 2 and [s.pool_temporal_kernel for s in small.stages] == [3, 2, 2]
    assert small.slug() != flat.scaled(width=0.25, depth=0.5).slug()


@pytest.mark.parametrize("make, pattern", [
    (lambda: ConvSpec(out_channels=8, kernel=3, pool_temporal_kernel=2),
     r"pool_temporal_kernel=2: must be 1 when pool is false"),
    (lambda: ConvSpec(out_channels=8, kernel=3, pool=True, pool_temporal_kernel=3),
     r"pool_temporal_kernel=3: must be one of 1, 2"),
    (lambda: StageSpec(blocks=PRESETS["i2d"].spec.stages[0].blocks, pool_temporal_kernel=2),
     r"pool_temporal_kernel=2: needs temporal_stride 2 .*but got temporal_stride=1"),
    (lambda: StageSpec(blocks=PRESETS["i2d"].spec.stages[0].blocks, temporal_stride=2, pool_temporal_kernel=1),
     r"pool_temporal_kernel=1: must be one of 2, 3"),
    (lambda: get_preset("tsn_r50").replace(stages=tuple(
        dataclasses.replace(s, temporal_stride=2, pool_temporal_kernel=2) for s in get_preset("tsn_r50").stages)),
     r"stages\[0\]\.pool_temporal_kernel=2: must be 3 \(the default\): family 'resnet' strides its first block"),
])
def test_bad_pool_kernels_name_field_value_and_rule(make, pattern: str) -> None:
    with pytest.raises(SpecError, match=pattern):
        make()


def test_a_bad_pool_kernel_in_json_names_its_path() -> None:
    data = get_preset("i2d_symmetric").to_dict()
    data["stages"][0]["pool_temporal_kernel"] = 2
    with pytest.raises(SpecError, match=r"stages\[0\]\.pool_temporal_kernel=2: needs temporal_stride 2"):
        ArchSpec.from_dict(data)
    data = get_preset("i2d").to_dict()
    data["stem"][1]["pool_temporal_kernel"] = 2
    with pytest.raises(SpecError, match=r"stem\[1\]\.pool_temporal_kernel=2: must be 1 when pool is false"):
        ArchSpec.from_dict(data)


@pytest.mark.parametrize("frames", [1, 2, 3, 6, 7])
def test_the_tiled_pool_is_s3d_5a_pool_and_keeps_ceil_half_the_frames(frames: int) -> None:
    """Tiled: a 2x3x3 max pool, stride 2; an odd last frame is pooled alone (TF's 'SAME')."""
    pool = downsample_pool(kernel=3, stride=2, temporal_kernel=2, temporal_stride=2)
    x = torch.randn(2, 4, frames, 9, 10)
    y = pool(x)
    assert y.shape == (2, 4, -(-frames // 2), 5, 5)
    padded = torch.cat([x, torch.full_like(x[:, :, :1], -torch.inf)], dim=2) if frames % 2 else x
    torch.testing.assert_close(y, nn.MaxPool3d((2, 3, 3), stride=2, padding=(0, 1, 1))(padded), rtol=0, atol=0)
    if frames % 2 == 0:  # symmetric in time
        torch.testing.assert_close(pool(x.flip(2)), y.flip(2), rtol=0, atol=0)
    with pytest.raises(ValueError, match="temporal_kernel=2, temporal_stride=1"):
        downsample_pool(kernel=3, stride=2, temporal_kernel=2, temporal_stride=1)
