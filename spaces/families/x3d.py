"""The X3D family (Feichtenhofer, "X3D: Expanding Architectures for Efficient Video Recognition",
CVPR 2020): residual bottlenecks that expand (1x1), filter channelwise in space and time (3x3x3
depthwise), squeeze-excite on every other block, swish, and project (1x1); stages entered by
striding their first block; X3D's stem (1x3x3 conv, depthwise 5x1x1) and head (conv5, pool, a
2048-wide layer). Its nn.Module is the shared `spaces.blocks.bottleneck.Bottleneck`.

The expansion axes are the space's own, for every family: frames, width, depth and bottleneck
width (`SpaceBounds.frames`, `widths`, `depths`, `bottlenecks`; here the bottleneck is each block's
`inner_channels`); the resolution is the data's crop. Presets XS, S, M, L
follow `pytorchvideo.models.x3d.create_x3d` (width factor 2, bottleneck factor 2.25, depth factor
2.2 or 5.0); their reference counts were measured on that code with `torch.utils.flop_counter`
(multiply-adds, the convention of X3D's model zoo, whose "GFLOPs" 0.60 / 1.96 / 4.73 / 18.37 are
these GMACs; its 3.76 M and 6.08 M params are 0.9% and 1.2% below what the code holds; ours
have 48 more, a BN on res2's first shortcut, which the code leaves out where only the stride changes).

Example:
    >>> from spaces import get_preset
    >>> get_preset("x3d_m").slug()
    'x3d-d.cccc------w192-d26-16x224'
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Callable

from spaces.families.base import FamilyDef, Preset
from spaces.forms import TemporalOp, check_temporal
from spaces.schema import at_least, check_fields
from spaces.spec import ArchSpec, BigView, ConvSpec, Gate, HeadSpec, StageSpec
from spaces.variants import make_divisible


@dataclass(frozen=True)
class X3DBlock:
    """X3D's bottleneck: 1x1 (-> inner) -> channelwise kt x 3 x 3 -> [SE] -> swish -> 1x1, plus
    the shortcut."""

    out_channels: int
    inner_channels: int  # the bottleneck width (X3D's "bottleneck factor" x out_channels)
    squeeze_excite: bool = False
    temporal_op: TemporalOp = TemporalOp.CHANNELWISE
    temporal_kernel: int = 3
    big_view: BigView = BigView.OFF

    def __post_init__(self) -> None:
        check_fields(self)
        at_least("out_channels", self.out_channels, 1)
        at_least("inner_channels", self.inner_channels, 1)
        check_temporal(self.temporal_op, self.temporal_kernel)


def build_block(block: X3DBlock, *, in_channels: int, stride: int, temporal_stride: int, frames: int,
                gate: Gate, gate_bias: bool) -> Any:
    from spaces.blocks.bottleneck import Bottleneck

    return Bottleneck(in_channels=in_channels, mid_channels=block.inner_channels, out_channels=block.out_channels,
                      temporal_op=block.temporal_op, temporal_kernel=block.temporal_kernel, stride=stride,
                      temporal_stride=temporal_stride, frames=frames, big_view=block.big_view, gate=gate,
                      gate_bias=gate_bias, squeeze_excite=block.squeeze_excite, mid_act="swish")


def scale_block(block: X3DBlock, w: Callable[[int], int], inner: Callable[[int], int]) -> X3DBlock:
    return dataclasses.replace(block, out_channels=w(block.out_channels), inner_channels=inner(block.inner_channels))


BACKBONES: dict[str, ArchSpec] = {}
PRESETS: dict[str, Preset] = {}
FAMILY = FamilyDef(name="x3d", block=X3DBlock, build_block=build_block, scale_block=scale_block,
                   backbones=BACKBONES, presets=PRESETS)


def x3d(*, depth_factor: float, frames: int, crop: int, width_factor: float = 2.0,
        bottleneck_factor: float = 2.25) -> ArchSpec:
    """X3D as `create_x3d` builds it: stem 12 x width_factor channels; stage outputs 24, 48, 96,
    192 at width factor 2; stage depths ceil((1, 2, 5, 3) x depth_factor); every stage strides 2 in
    space, never in time; SE (1/16) on the 1st, 3rd, ... block of a stage."""
    stem_width = make_divisible(12 * width_factor, 8)
    stem = (ConvSpec(out_channels=stem_width, kernel=3, stride=2, temporal_op=TemporalOp.DEPTHWISE,
                     temporal_kernel=5),)
    stages, base = [], 12
    for depth in (1, 2, 5, 3):
        out = make_divisible(base * width_factor, 8)
        inner = int(bottleneck_factor * out)
        blocks = tuple(X3DBlock(out_channels=out, inner_channels=inner, squeeze_excite=i % 2 == 0)
                       for i in range(math.ceil(depth * depth_factor)))
        stages.append(StageSpec(blocks=blocks, spatial_stride=2))
        base = make_divisible(base * 2, 8)
    head = HeadSpec(pre_channels=inner, hidden_channels=2048, dropout=0.5)
    return ArchSpec(family="x3d", stem=stem, stages=tuple(stages), frames=frames, crop=crop, head=head)


_X3D = "Feichtenhofer, X3D, CVPR 2020, Table 3; pytorchvideo create_x3d"
BACKBONES["x3d_m"] = x3d(depth_factor=2.2, frames=16, crop=224)
BACKBONES["x3d_l"] = x3d(depth_factor=5.0, frames=16, crop=312)
PRESETS.update({
    "x3d_xs": Preset(x3d(depth_factor=2.2, frames=4, crop=160), _X3D, 3_794_274, 0.6053),
    "x3d_s": Preset(x3d(depth_factor=2.2, frames=13, crop=160), _X3D, 3_794_274, 1.9629),
    "x3d_m": Preset(x3d(depth_factor=2.2, frames=16, crop=224), _X3D, 3_794_274, 4.7325),
    "x3d_l": Preset(x3d(depth_factor=5.0, frames=16, crop=312), _X3D, 6_153_384, 18.3677),
})
