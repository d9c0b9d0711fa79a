"""The papers' architectures as named points of the space, each citing its source.

Reference counts are multiply-adds (GMACs, what all three papers call "FLOPs") and parameters,
measured on the official/reference code at the preset's default input with 400 classes
(`../shared/PAPERS.md`). `tests/spaces/test_presets.py` measures ours against them.

Example:
    >>> from spaces import get_preset, list_presets
    >>> get_preset("s3d", frames=16).frames
    16
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

from spaces.spec import (
    ArchSpec, BigView, BottleneckBlock, ConvSpec, Family, Gate, HeadSpec, InceptionBlock, SpecError,
    StageSpec, TemporalOp, VoVBlock,
)

_2D, _3D, _SEP, _DW = TemporalOp.TWO_D, TemporalOp.THREE_D, TemporalOp.SEPARABLE, TemporalOp.DEPTHWISE

# ---------------------------------------------------------------------------------------------
# Families at full size.

# Inception-v1 Mixed widths (b0, b1 reduce, b1, b2 reduce, b2, b3): S3D's official code (s3dg.py).
INCEPTION_MIXED: dict[str, tuple[int, ...]] = {
    "3b": (64, 96, 128, 16, 32, 32), "3c": (128, 128, 192, 32, 96, 64),
    "4b": (192, 96, 208, 16, 48, 64), "4c": (160, 112, 224, 24, 64, 64), "4d": (128, 128, 256, 24, 64, 64),
    "4e": (112, 144, 288, 32, 64, 64), "4f": (256, 160, 320, 32, 128, 128),
    "5b": (256, 160, 320, 32, 128, 128), "5c": (384, 192, 384, 48, 128, 128),
}
# The spatio-temporal convs of I3D/S3D, bottom to top: the S3D paper's cut points (sec. 4.2).
INCEPTION_LAYERS = ("1a", "2c", *INCEPTION_MIXED)
CUTS = INCEPTION_LAYERS[1:]


def inception(op_of: Callable[[str], TemporalOp]) -> ArchSpec:
    """I3D/S3D at 64 x 224: `op_of(layer)` gives the temporal form of layer 1a, 2c, 3b ... 5c.
    Pools, strides and widths never change; only the spatio-temporal kernels do."""

    def kt(layer: str, full: int) -> dict[str, Any]:
        op = op_of(layer)
        return dict(temporal_op=op, temporal_kernel=1 if op is _2D else full)

    stem = (
        ConvSpec(out_channels=64, kernel=7, stride=2, temporal_stride=2, pool=True, **kt("1a", 7)),  # 1a, 2a
        ConvSpec(out_channels=64, kernel=1),  # 2b
        ConvSpec(out_channels=192, kernel=3, **kt("2c", 3)),  # 2c
    )

    def stage(names: str, temporal_stride: int) -> StageSpec:
        blocks = tuple(InceptionBlock(branch_channels=INCEPTION_MIXED[n], **kt(n, 3)) for n in names.split())
        return StageSpec(blocks=blocks, spatial_stride=2, temporal_stride=temporal_stride)

    stages = (stage("3b 3c", 1), stage("4b 4c 4d 4e 4f", 2), stage("5b 5c", 2))  # 3a, 4a, 5a pools
    return ArchSpec(family=Family.INCEPTION, stem=stem, stages=stages, frames=64, crop=224,
                    head=HeadSpec(dropout=0.5, temporal_window=2))


def vov3d(inner: int, depths: tuple[int, ...], *, crop: int) -> ArchSpec:
    """VoV3D with width INNER: stage outputs INNER x [0.5, 1, 2, 4], D(2+1)D inner widths
    INNER x [1, 2, 4, 8]; X3D's stem and head; no temporal striding (VoV3D's official code)."""
    stem = (ConvSpec(out_channels=inner // 2, kernel=3, stride=2, temporal_op=_DW, temporal_kernel=5),)
    stages = tuple(
        StageSpec(blocks=(VoVBlock(out_channels=inner * m // 2, inner_channels=inner * m),) * depth)
        for m, depth in zip((1, 2, 4, 8), depths)
    )
    head = HeadSpec(pre_channels=inner * 8, hidden_channels=2048, dropout=0.5)
    return ArchSpec(family=Family.VOV, stem=stem, stages=stages, frames=16, crop=crop, head=head)


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
    return ArchSpec(family=Family.RESNET, stem=stem, stages=stages, frames=8, crop=224, head=HeadSpec(dropout=0.5))


def tiled_in_time(spec: ArchSpec) -> ArchSpec:
    """`spec` with every temporal reduction symmetric in time: a stem conv's temporal stride moves
    into the pool after it (2x3x3, stride 2: 1a keeps every frame, 2a halves them), and the stages'
    entry pools (4a, 5a) tile time (2x3x3, stride 2, no temporal padding) instead of S3D's 3x3x3
    with padding 1. Same convs, widths and frames after every stage; for an even number of frames a
    clip reversed in time gives the reversed features, so a net with no temporal conv (I2D) cannot
    tell them apart."""
    stem = tuple(dataclasses.replace(c, temporal_stride=1, pool_temporal_kernel=2)
                 if c.temporal_stride == 2 and c.pool else c for c in spec.stem)
    if any(c.temporal_stride == 2 for c in stem):
        raise SpecError("stem.temporal_stride", [c.temporal_stride for c in stem], "a conv with temporal_stride 2 "
                        "needs pool true to be tiled in time (its stride moves into the pool)")
    stages = tuple(dataclasses.replace(s, pool_temporal_kernel=2) if s.temporal_stride == 2 else s for s in spec.stages)
    return spec.replace(stem=stem, stages=stages)


def _everywhere(op: TemporalOp) -> Callable[[str], TemporalOp]:
    return lambda layer: op


def _top_heavy(cut: str, op: TemporalOp) -> Callable[[str], TemporalOp]:
    """2D below `cut`, `op` from it on (S3D paper, Fig. 4)."""
    return lambda layer: _2D if INCEPTION_LAYERS.index(layer) < INCEPTION_LAYERS.index(cut) else op


def _bottom_heavy(cut: str, op: TemporalOp) -> Callable[[str], TemporalOp]:
    """`op` below `cut`, 2D from it on (S3D paper, Fig. 4)."""
    return lambda layer: op if INCEPTION_LAYERS.index(layer) < INCEPTION_LAYERS.index(cut) else _2D


# ---------------------------------------------------------------------------------------------
# The registry.


@dataclass(frozen=True)
class Preset:
    spec: ArchSpec
    source: str  # paper and table / code the spec follows
    params: int | None = None  # reference parameter count at the default input, 400 classes
    gmacs: float | None = None  # reference multiply-adds (1e9) at the default input


_S3D_PAPER = "Xie et al., Rethinking Spatiotemporal Feature Learning (S3D), ECCV 2018"
_S3D_G = dataclasses.replace(inception(_everywhere(_SEP)), gate=Gate.BRANCHES)

PRESETS: dict[str, Preset] = {
    "i3d": Preset(inception(_everywhere(_3D)), f"Carreira & Zisserman, CVPR 2017; {_S3D_PAPER}, Table 2",
                  12_697_000, 111.15),
    "s3d": Preset(inception(_everywhere(_SEP)), f"{_S3D_PAPER}, Table 2; torchvision s3d", 8_320_048, 71.92),
    "s3d_g": Preset(_S3D_G, f"{_S3D_PAPER}, Table 2; gating as in the official s3dg.py (branches, no bias)",
                    9_539_000, 71.92),
    "s3d_g_temporal": Preset(dataclasses.replace(_S3D_G, gate=Gate.TEMPORAL, gate_bias=True),
                             f"{_S3D_PAPER}, sec. 4.4: gating after each temporal conv, with bias"),
    "i2d": Preset(inception(_everywhere(_2D)), f"{_S3D_PAPER}, Table 2 (I2D)", 6_010_000, 36.89),
    # vidnas' own variant, no external reference (so no reference counts): I2D blind to frame order
    "i2d_symmetric": Preset(tiled_in_time(inception(_everywhere(_2D))), f"{_S3D_PAPER}, Table 2 (I2D) with "
                            "every temporal reduction tiled in time (vidnas' own order-blind variant, no external "
                            "reference; counted: I2D's 6,009,904 params, 40.67 GMACs at 64x224: 1a runs on "
                            "every frame)"),
    "vov3d_m": Preset(vov3d(40, (1, 2, 3, 2), crop=256), "Lee et al., VoV3D 2020, Table 4; official code",
                      3_667_000, 6.42),
    "vov3d_l": Preset(vov3d(48, (1, 2, 5, 3), crop=224), "Lee et al., VoV3D 2020, Table 4; official code",
                      6_297_000, 9.31),
    "smallbig_r50": Preset(resnet50(BigView.SHARED), "Li et al., SmallBigNet, CVPR 2020, Table 5; official code",
                           24_371_000, 51.97),
    "smallbig_r50_unshared": Preset(resnet50(BigView.SEPARATE), "Li et al., SmallBigNet, CVPR 2020, Table 2 "
                                    "(big view with its own convs)"),
    "tsn_r50": Preset(resnet50(BigView.OFF), "Wang et al., TSN, ECCV 2016: the same ResNet-50 per frame",
                      24_328_000, 32.70),
}
for _cut in CUTS:
    for _base, _op in (("i3d", _3D), ("s3d", _SEP)):
        PRESETS[f"{_base}_top_heavy_{_cut}"] = Preset(
            inception(_top_heavy(_cut, _op)), f"{_S3D_PAPER}, Fig. 4: 2D below {_cut}, {_op.value} from it on")
        PRESETS[f"{_base}_bottom_heavy_{_cut}"] = Preset(
            inception(_bottom_heavy(_cut, _op)), f"{_S3D_PAPER}, Fig. 4: {_op.value} below {_cut}, 2D from it on")


def list_presets() -> list[str]:
    return list(PRESETS)


def get_preset(name: str, **overrides: Any) -> ArchSpec:
    """The named preset, with top-level fields overridden (e.g. frames=16, num_classes=174)."""
    if name not in PRESETS:
        raise SpecError("preset", name, f"unknown preset; available: {', '.join(PRESETS)}")
    spec = PRESETS[name].spec
    unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(spec)})
    if unknown:
        valid = ", ".join(f.name for f in dataclasses.fields(spec))
        raise SpecError(unknown[0], overrides[unknown[0]], f"unknown field; valid fields: {valid}")
    return spec.replace(**overrides) if overrides else spec
