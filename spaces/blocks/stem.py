"""Stems: a few convs of any temporal form, each optionally followed by a 1x3x3 max pool."""
from __future__ import annotations

from torch import nn

from spaces.blocks.convs import ConvUnit, relu
from spaces.blocks.gating import maybe_gate
from spaces.spec import TemporalOp


def conv_stem_layer(
    *,
    in_channels: int,
    out_channels: int,
    kernel: int,
    stride: int,
    temporal_op: TemporalOp,
    temporal_kernel: int,
    temporal_stride: int,
    pool: bool,
    gate: bool = False,
    gate_bias: bool = False,
) -> nn.Sequential:
    """conv -> BN -> ReLU [-> gate] [-> 1x3x3 max pool, stride (1, 2, 2)].

    S3D's 1a (7x7x7, stride 2) + 2a pool, 2b (1x1x1), 2c (3x3x3); ResNet's conv1 + pool;
    VoV3D's/X3D's 1x3x3 conv + depthwise 5x1x1 is the `depthwise` form with a width change.
    """
    layers: list[nn.Module] = [
        ConvUnit(in_channels=in_channels, out_channels=out_channels, temporal_op=temporal_op, kernel=kernel,
                 temporal_kernel=temporal_kernel, stride=stride, temporal_stride=temporal_stride, act=relu()),
        maybe_gate(channels=out_channels, on=gate, bias=gate_bias),
    ]
    if pool:
        layers.append(nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)))
    return nn.Sequential(*layers)
