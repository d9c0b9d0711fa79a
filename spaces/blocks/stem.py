"""Stems: a few convs of any temporal form, each optionally followed by a 1x3x3 (or 2x3x3) max pool."""
from __future__ import annotations

from torch import nn

from spaces.blocks.convs import ConvUnit, relu
from spaces.blocks.gating import maybe_gate
from spaces.blocks.pool import downsample_pool
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
    pool_temporal_kernel: int = 1,
    gate: bool = False,
    gate_bias: bool = False,
) -> nn.Sequential:
    """conv -> BN -> ReLU [-> gate] [-> k_t x 3 x 3 max pool, stride (k_t, 2, 2)], k_t = `pool_temporal_kernel`.

    S3D's 1a (7x7x7, stride 2) + 2a pool, 2b (1x1x1), 2c (3x3x3); ResNet's conv1 + pool;
    VoV3D's/X3D's 1x3x3 conv + depthwise 5x1x1 is the `depthwise` form with a width change.
    k_t = 2 halves the frames with a pool tiled in time, symmetric under time reversal
    (`downsample_pool`), instead of a temporal stride of the conv, which keeps every other frame.
    """
    layers: list[nn.Module] = [
        ConvUnit(in_channels=in_channels, out_channels=out_channels, temporal_op=temporal_op, kernel=kernel,
                 temporal_kernel=temporal_kernel, stride=stride, temporal_stride=temporal_stride, act=relu()),
        maybe_gate(channels=out_channels, on=gate, bias=gate_bias),
    ]
    if pool:
        layers.append(downsample_pool(kernel=3, stride=2, temporal_kernel=pool_temporal_kernel,
                                      temporal_stride=pool_temporal_kernel))
    return nn.Sequential(*layers)
