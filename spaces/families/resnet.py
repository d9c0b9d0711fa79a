"""The ResNet family: TSN's ResNet-50 per frame and SmallBigNet (Li et al., CVPR 2020), bottleneck
blocks, stages entered by striding their first block. Everything about the family is here; its
nn.Module is `spaces.blocks.bottleneck.Bottleneck`.

Example:
    >>> from spaces import get_preset
    >>> get_preset("smallbig_r50").slug()
    'resnet-2.2222--bbb-w2048-d16-8x224'
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

from spaces.families.base import FamilyDef, Preset
from spaces.forms import TemporalOp, check_temporal
from spaces.schema import at_least, check_fields
from spaces.spec import ArchSpec, BigView, ConvSpec, Gate, HeadSpec, StageSpec


@dataclass(frozen=True)
class BottleneckBlock:
    """A ResNet bottleneck: 1x1 -> kxk (temporal form) -> 1x1, plus the shortcut."""

    out_channels: int
    mid_channels: int
    temporal_op: TemporalOp = TemporalOp.TWO_D
    temporal_kernel: int = 1
    big_view: BigView = BigView.OFF

    def __post_init__(self) -> None:
        check_fields(self)
        at_least("out_channels", self.out_channels, 1)
        at_least("mid_channels", self.mid_channels, 1)
        check_temporal(self.temporal_op, self.temporal_kernel)


def build_block(block: BottleneckBlock, *, in_channels: int, stride: int, temporal_stride: int, frames: int,
                gate: Gate, gate_bias: bool) -> Any:
    from spaces.blocks.bottleneck import Bottleneck

    return Bottleneck(in_channels=in_channels, mid_channels=block.mid_channels, out_channels=block.out_channels,
                      temporal_op=block.temporal_op, temporal_kernel=block.temporal_kernel, stride=stride,
                      temporal_stride=temporal_stride, frames=frames, big_view=block.big_view, gate=gate,
                      gate_bias=gate_bias)


def scale_block(block: BottleneckBlock, w: Callable[[int], int], inner: Callable[[int], int]) -> BottleneckBlock:
    return dataclasses.replace(block, out_channels=w(block.out_channels), mid_channels=inner(block.mid_channels))


BACKBONES: dict[str, ArchSpec] = {}
PRESETS: dict[str, Preset] = {}
FAMILY = FamilyDef(name="resnet", block=BottleneckBlock, build_block=build_block, scale_block=scale_block,
                   backbones=BACKBONES, presets=PRESETS, in_default_space=True)


def resnet50(big_view: BigView) -> ArchSpec:
    """A 2D ResNet-50 (v1.5) on every frame at 8 x 224 (TSN); with a big view in res3-res5 it is
    SmallBig-ResNet-50 (SmallBigNet's official code: res2 stays plain)."""
    stem = (ConvSpec(out_channels=64, kernel=7, stride=2, pool=True),)
    stages = tuple(
        StageSpec(blocks=(BottleneckBlock(out_channels=mid * 4, mid_channels=mid,
                                          big_view=big_view if i > 0 else BigView.OFF),) * depth,
                  spatial_stride=1 if i == 0 else 2)
        for i, (mid, depth) in enumerate(zip((64, 128, 256, 512), (3, 4, 6, 3)))
    )
    return ArchSpec(family="resnet", stem=stem, stages=stages, frames=8, crop=224, head=HeadSpec(dropout=0.5))


# The sampler's skeleton: conv1 3D with kernel 5 when a sampled form gives it time (I3D-ResNet).
BACKBONES["resnet50"] = resnet50(BigView.OFF).replace(stem=(ConvSpec(
    out_channels=64, kernel=7, stride=2, pool=True, temporal_op=TemporalOp.THREE_D, temporal_kernel=5),))
PRESETS.update({
    "smallbig_r50": Preset(resnet50(BigView.SHARED), "Li et al., SmallBigNet, CVPR 2020, Table 5; official code",
                           24_371_000, 51.97),
    "smallbig_r50_unshared": Preset(resnet50(BigView.SEPARATE), "Li et al., SmallBigNet, CVPR 2020, Table 2 "
                                    "(big view with its own convs)"),
    "tsn_r50": Preset(resnet50(BigView.OFF), "Wang et al., TSN, ECCV 2016: the same ResNet-50 per frame",
                      24_328_000, 32.70),
})
