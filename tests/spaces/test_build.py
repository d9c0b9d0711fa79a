from __future__ import annotations

import pytest
import torch
from torch import nn

from spaces import ArchSpec, BigView, Gate, TemporalOp, build, get_preset
from spaces.blocks import SelfGating, SqueezeExcitation, TOSABlock, spatiotemporal_conv
from spaces.bounds import BACKBONES
from spaces.sample import configure


def _params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("op, cin, cout, expected", [
    ("2d", 16, 32, 16 * 32 * 9),
    ("3d", 16, 32, 16 * 32 * 27),
    ("separable", 16, 32, 16 * 32 * 9 + 2 * 32 + 32 * 32 * 3),  # S3D: BN between, no mid width
    ("depthwise", 32, 32, 32 * 9 + 32 * 3),  # VoV3D D(2+1)D
    ("depthwise", 3, 24, 3 * 24 * 9 + 24 * 3),  # width change: full spatial, depthwise temporal (X3D stem)
])
def test_conv_forms_have_their_papers_parameter_counts(op, cin, cout, expected) -> None:
    conv = spatiotemporal_conv(in_channels=cin, out_channels=cout, temporal_op=TemporalOp(op), kernel=3,
                               temporal_kernel=3)
    assert _params(conv) == expected
    y = conv(torch.randn(1, cin, 8, 10, 10))
    assert y.shape == (1, cout, 8, 10, 10)


def test_strides_go_spatial_first_then_temporal() -> None:
    conv = spatiotemporal_conv(in_channels=4, out_channels=8, temporal_op=TemporalOp.SEPARABLE, kernel=7,
                               temporal_kernel=7, stride=2, temporal_stride=2)
    assert conv[0].stride == (1, 2, 2) and conv[3].stride == (2, 1, 1)
    assert conv(torch.randn(1, 4, 16, 32, 32)).shape == (1, 8, 8, 16, 16)


def test_self_gating_is_a_sigmoid_channel_gate() -> None:
    gate = SelfGating(channels=4, bias=False)
    x = torch.randn(2, 4, 3, 5, 5)
    expected = x * torch.sigmoid(x.mean(dim=(2, 3, 4)) @ gate.fc.weight.T)[:, :, None, None, None]
    torch.testing.assert_close(gate(x), expected)
    assert gate.fc.bias is None and SelfGating(channels=4, bias=True).fc.bias is not None


def test_squeeze_excitation_width_is_rounded_to_eight() -> None:
    assert SqueezeExcitation(channels=320).fc1.out_channels == 24
    assert SqueezeExcitation(channels=40).fc1.out_channels == 8


def test_tosa_block_starts_as_its_shortcut() -> None:
    """The aggregation BN is zero-initialized: at init the block is ReLU(shortcut(x))."""
    block = TOSABlock(in_channels=8, out_channels=8, inner_channels=16, depth=3, squeeze_excite="alternate",
                      temporal_op=TemporalOp.DEPTHWISE, temporal_kernel=3, stride=1, temporal_stride=1,
                      frames=4).eval()
    x = torch.randn(2, 8, 4, 6, 6)
    torch.testing.assert_close(block(x), torch.relu(x))
    assert block.aggregate.conv.in_channels == 8 + 3 * 8  # the input joins the aggregation


def _resnet(temporal_op: str) -> ArchSpec:
    stage = dict(temporal_op=temporal_op, temporal_kernel=3, big_view="off")
    return configure(BACKBONES["resnet50"].scaled(width=0.25, depth=0.34), frames=8, crop=32, num_classes=4,
                     gate="off", gate_bias=False, stem_op="2d", stages=[stage] * 4)


def test_tsn_ignores_frame_order_and_a_3d_net_does_not() -> None:
    """A per-frame 2D net with global average pooling cannot tell a clip from its time reversal:
    this is why the benchmark's within-pair classes need temporal convs."""
    clip = torch.randn(1, 3, 8, 32, 32)
    flat, temporal = build(_resnet("2d")).eval(), build(_resnet("3d")).eval()
    with torch.no_grad():
        torch.testing.assert_close(flat(clip), flat(clip.flip(2)))
        assert not torch.allclose(temporal(clip), temporal(clip.flip(2)), atol=1e-4)


@pytest.mark.parametrize("name", ["s3d_g", "vov3d_m", "smallbig_r50", "i3d"])
def test_channels_last_3d_gives_the_same_outputs(name: str) -> None:
    spec = get_preset(name, frames=16, crop=32, num_classes=3).scaled(width=0.25, depth=0.5)
    model = build(spec).eval()
    clip = torch.randn(2, 3, 16, 32, 32)
    with torch.no_grad():
        expected = model(clip)
        model = model.to(memory_format=torch.channels_last_3d)
        got = model(clip.contiguous(memory_format=torch.channels_last_3d))
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("family_preset", ["s3d", "vov3d_m"])
@pytest.mark.parametrize("big_view", ["shared", "separate"])
def test_big_views_work_in_every_family(family_preset: str, big_view: str) -> None:
    base = get_preset(family_preset, frames=16, crop=32, num_classes=3).scaled(width=0.25, depth=0.5)
    stages = tuple(st.__class__(blocks=tuple(b.__class__(**{**b.__dict__, "big_view": BigView(big_view)})
                                              for b in st.blocks),
                                spatial_stride=st.spatial_stride, temporal_stride=st.temporal_stride)
                   for st in base.stages)
    spec = base.replace(stages=stages)
    plain, big = build(base), build(spec)
    assert _params(big) > _params(plain)
    out = big(torch.randn(2, 3, 16, 32, 32))
    assert out.shape == (2, 3)
    out.sum().backward()  # the pooled views are differentiable through the shared convs


@pytest.mark.parametrize("gate", ["temporal", "branches"])
def test_gating_placement_changes_where_gates_are(gate: str) -> None:
    spec = get_preset("s3d", frames=16, crop=32).replace(gate=Gate(gate))
    gates = [m for m in build(spec).modules() if isinstance(m, SelfGating)]
    if gate == "branches":  # 2c + 4 branches x 9 Mixed blocks (the official code)
        assert len(gates) == 1 + 4 * 9
    else:  # 1a, 2c + the two k x k convs of 9 Mixed blocks (the paper's text)
        assert len(gates) == 2 + 2 * 9
    assert isinstance(ArchSpec.from_json(spec.to_json()), ArchSpec)
