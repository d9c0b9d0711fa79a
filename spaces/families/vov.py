"""The VoV family: VoV3D (Lee et al., 2020), T-OSA blocks of D(2+1)D layers, stages entered by
striding their first block. Everything about the family is here; its nn.Module is
`spaces.blocks.tosa.TOSABlock`.

Example:
    >>> from spaces import get_preset
    >>> get_preset("vov3d_m").slug()
    'vov-d.dddd------t5555-w160-d8-16x256'
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

from spaces.families.base import FamilyDef, Preset
from spaces.forms import TemporalOp, check_temporal
from spaces.schema import SpecError, at_least, check_fields
from spaces.spec import ArchSpec, BigView, ConvSpec, Gate, HeadSpec, SqueezeExcite, StageSpec

MAX_TOSA_DEPTH = 8


@dataclass(frozen=True)
class VoVBlock:
    """A VoV3D block: ReLU(shortcut(x) + T-OSA(x)), T-OSA aggregating `tosa_depth` D(2+1)D layers."""

    out_channels: int
    inner_channels: int  # expansion width inside each D(2+1)D layer
    tosa_depth: int = 5
    squeeze_excite: SqueezeExcite = SqueezeExcite.ALTERNATE
    temporal_op: TemporalOp = TemporalOp.DEPTHWISE
    temporal_kernel: int = 3
    big_view: BigView = BigView.OFF

    def __post_init__(self) -> None:
        check_fields(self)
        at_least("out_channels", self.out_channels, 1)
        at_least("inner_channels", self.inner_channels, 1)
        if not 1 <= self.tosa_depth <= MAX_TOSA_DEPTH:
            raise SpecError("tosa_depth", self.tosa_depth, f"must be in 1..{MAX_TOSA_DEPTH}")
        check_temporal(self.temporal_op, self.temporal_kernel)


def build_block(block: VoVBlock, *, in_channels: int, stride: int, temporal_stride: int, frames: int,
                gate: Gate, gate_bias: bool) -> Any:
    from spaces.blocks.tosa import TOSABlock

    return TOSABlock(in_channels=in_channels, out_channels=block.out_channels, inner_channels=block.inner_channels,
                     depth=block.tosa_depth, squeeze_excite=block.squeeze_excite.value,
                     temporal_op=block.temporal_op, temporal_kernel=block.temporal_kernel, stride=stride,
                     temporal_stride=temporal_stride, frames=frames, big_view=block.big_view, gate=gate,
                     gate_bias=gate_bias)


def scale_block(block: VoVBlock, w: Callable[[int], int], inner: Callable[[int], int]) -> VoVBlock:
    return dataclasses.replace(block, out_channels=w(block.out_channels), inner_channels=inner(block.inner_channels))


def slug(spec: ArchSpec) -> str:
    """The T-OSA depth of each stage, e.g. `-t1232`."""
    return "-t" + "".join(str(st.blocks[0].tosa_depth) for st in spec.stages)


BACKBONES: dict[str, ArchSpec] = {}
PRESETS: dict[str, Preset] = {}
FAMILY = FamilyDef(name="vov", block=VoVBlock, build_block=build_block, scale_block=scale_block,
                   stage_choices=("tosa_depth", "squeeze_excite"), slug=slug, backbones=BACKBONES,
                   presets=PRESETS, in_default_space=True)


def vov3d(inner: int, depths: tuple[int, ...], *, crop: int) -> ArchSpec:
    """VoV3D with width INNER: stage outputs INNER x [0.5, 1, 2, 4], D(2+1)D inner widths
    INNER x [1, 2, 4, 8]; X3D's stem and head; no temporal striding (VoV3D's official code)."""
    stem = (ConvSpec(out_channels=inner // 2, kernel=3, stride=2, temporal_op=TemporalOp.DEPTHWISE,
                     temporal_kernel=5),)
    stages = tuple(
        StageSpec(blocks=(VoVBlock(out_channels=inner * m // 2, inner_channels=inner * m),) * depth)
        for m, depth in zip((1, 2, 4, 8), depths)
    )
    head = HeadSpec(pre_channels=inner * 8, hidden_channels=2048, dropout=0.5)
    return ArchSpec(family="vov", stem=stem, stages=stages, frames=16, crop=crop, head=head)


BACKBONES.update({"vov3d_m": vov3d(40, (1, 2, 3, 2), crop=256), "vov3d_l": vov3d(48, (1, 2, 5, 3), crop=224)})
PRESETS.update({
    "vov3d_m": Preset(vov3d(40, (1, 2, 3, 2), crop=256), "Lee et al., VoV3D 2020, Table 4; official code",
                      3_667_000, 6.42),
    "vov3d_l": Preset(vov3d(48, (1, 2, 5, 3), crop=224), "Lee et al., VoV3D 2020, Table 4; official code",
                      6_297_000, 9.31),
})
