"""The Inception family: I3D, S3D, S3D-G and S3D's top-/bottom-heavy sweeps (Mixed blocks, stages
entered through a max pool). Everything about the family is here; its nn.Module is
`spaces.blocks.inception.InceptionMixed`.

Example:
    >>> from spaces.families.inception import FAMILY
    >>> FAMILY.enters_by, sorted(FAMILY.backbones)
    ('pool', ['inception_v1'])
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

from spaces.families.base import FamilyDef, Preset
from spaces.forms import TemporalOp, check_temporal
from spaces.schema import SpecError, at_least, check_fields
from spaces.spec import ArchSpec, BigView, ConvSpec, Gate, HeadSpec, StageSpec

_2D, _3D, _SEP = TemporalOp.TWO_D, TemporalOp.THREE_D, TemporalOp.SEPARABLE


@dataclass(frozen=True)
class InceptionBlock:
    """An Inception-v1 "Mixed" block: 1x1 | 1x1 -> kxk | 1x1 -> kxk | pool -> 1x1, concatenated."""

    branch_channels: tuple[int, ...]  # (b0, b1 reduce, b1, b2 reduce, b2, b3), as in S3D's code
    temporal_op: TemporalOp = TemporalOp.THREE_D
    temporal_kernel: int = 3
    big_view: BigView = BigView.OFF

    def __post_init__(self) -> None:
        check_fields(self)
        if len(self.branch_channels) != 6:
            raise SpecError("branch_channels", list(self.branch_channels),
                            "must have 6 widths (b0, b1 reduce, b1, b2 reduce, b2, b3)")
        for i, c in enumerate(self.branch_channels):
            at_least(f"branch_channels[{i}]", c, 1)
        check_temporal(self.temporal_op, self.temporal_kernel)

    @property
    def out_channels(self) -> int:
        b0, _, b1, _, b2, b3 = self.branch_channels
        return b0 + b1 + b2 + b3


def build_block(block: InceptionBlock, *, in_channels: int, stride: int, temporal_stride: int, frames: int,
                gate: Gate, gate_bias: bool) -> Any:
    """The stage's entry pool has strided already: `stride` and `temporal_stride` are 1 here."""
    from spaces.blocks.inception import InceptionMixed

    return InceptionMixed(in_channels=in_channels, branch_channels=block.branch_channels,
                          temporal_op=block.temporal_op, temporal_kernel=block.temporal_kernel, frames=frames,
                          big_view=block.big_view, gate=gate, gate_bias=gate_bias)


def scale_block(block: InceptionBlock, w: Callable[[int], int], inner: Callable[[int], int]) -> InceptionBlock:
    """The two 1x1 reductions before the k x k convs are the block's inner widths."""
    b0, b1r, b1, b2r, b2, b3 = block.branch_channels
    return dataclasses.replace(block, branch_channels=(w(b0), inner(b1r), w(b1), inner(b2r), w(b2), w(b3)))


BACKBONES: dict[str, ArchSpec] = {}
PRESETS: dict[str, Preset] = {}
FAMILY = FamilyDef(name="inception", block=InceptionBlock, build_block=build_block, scale_block=scale_block,
                   enters_by="pool", backbones=BACKBONES, presets=PRESETS, in_default_space=True)

# ---------------------------------------------------------------------------------------------
# The network at full size.

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
    return ArchSpec(family="inception", stem=stem, stages=stages, frames=64, crop=224,
                    head=HeadSpec(dropout=0.5, temporal_window=2))


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
# The sampler's skeleton and the presets.

BACKBONES["inception_v1"] = inception(_everywhere(_3D))

_S3D_PAPER = "Xie et al., Rethinking Spatiotemporal Feature Learning (S3D), ECCV 2018"


def published(spec: ArchSpec) -> ArchSpec:
    """`spec` as the reference code builds it (kinetics-i3d, the official s3dg.py, torchvision's
    s3d): 5a's pool 2x2x2 with stride 2 and BatchNorm's epsilon 1e-3 (TF's default). Neither
    changes a count; with the same weights the outputs then agree with torchvision's S3D
    (tests/spaces/test_reference.py). The space's skeleton keeps 3x3x3 and 1e-5: its sampled
    points are keyed by their JSON in the benchmark tables."""
    stages = spec.stages[:-1] + (dataclasses.replace(spec.stages[-1], pool_kernel=2, pool_temporal_kernel=2),)
    return spec.replace(stages=stages, norm_eps=1e-3)


def _ref(op_of: Callable[[str], TemporalOp]) -> ArchSpec:
    return published(inception(op_of))


_S3D_G = dataclasses.replace(_ref(_everywhere(_SEP)), gate=Gate.BRANCHES)


def official_s3dg() -> ArchSpec:
    """The official s3dg.py (tensorflow/models, research/slim/nets) at its defaults: 1a a full 3D
    conv with 3 taps in time (`first_temporal_kernel_size=3`), separable convs from 2c on, gates
    after 2c and every branch, TF's 'SAME' padding and BatchNorm epsilon. Its separable convs'
    temporal part has a bias and no norm; ours has a norm, which takes that bias exactly (scale 1,
    statistics 0 and 1 - eps: `spaces.tf_layout`). `s3d_g` stays S3D (torchvision's) with these
    gates, so that it differs from `s3d` by the gates alone (the studies contrast them)."""
    spec = _ref(lambda layer: _3D if layer == "1a" else _SEP)
    stem = (dataclasses.replace(spec.stem[0], temporal_kernel=3),) + spec.stem[1:]
    return spec.replace(stem=stem, gate=Gate.BRANCHES, padding="same")

PRESETS.update({
    "i3d": Preset(_ref(_everywhere(_3D)), f"Carreira & Zisserman, CVPR 2017; {_S3D_PAPER}, Table 2",
                  12_697_000, 111.15),
    "s3d": Preset(_ref(_everywhere(_SEP)), f"{_S3D_PAPER}, Table 2; torchvision s3d", 8_320_048, 71.92),
    "s3d_g": Preset(_S3D_G, f"{_S3D_PAPER}, Table 2; gating as in the official s3dg.py (branches, no bias)",
                    9_539_000, 71.92),
    # counted on the official code (bench/reference_s3dg.py: TF 2.21 + tf_slim, 400 classes, 64x224):
    # 9,518,848 trainable parameters (ours: 10,544 more, every norm's scale, fixed at 1 there) and
    # 64.1848 GMACs (TF's count of its Conv3D ops / 2)
    "s3d_g_tf": Preset(official_s3dg(), f"{_S3D_PAPER}: the official s3dg.py at its defaults "
                       "(tensorflow/models, research/slim)", 9_518_848, 64.18),
    "s3d_g_temporal": Preset(dataclasses.replace(_S3D_G, gate=Gate.TEMPORAL, gate_bias=True),
                             f"{_S3D_PAPER}, sec. 4.4: gating after each temporal conv, with bias"),
    "i2d": Preset(_ref(_everywhere(_2D)), f"{_S3D_PAPER}, Table 2 (I2D)", 6_010_000, 36.89),
    # vidnas' own variant, no external reference (so no reference counts): I2D blind to frame order
    "i2d_symmetric": Preset(tiled_in_time(_ref(_everywhere(_2D))), f"{_S3D_PAPER}, Table 2 (I2D) with "
                            "every temporal reduction tiled in time (vidnas' own order-blind variant, no external "
                            "reference; counted: I2D's 6,009,904 params, 40.67 GMACs at 64x224: 1a runs on "
                            "every frame)"),
})
for _cut in CUTS:
    for _base, _op in (("i3d", _3D), ("s3d", _SEP)):
        PRESETS[f"{_base}_top_heavy_{_cut}"] = Preset(
            _ref(_top_heavy(_cut, _op)), f"{_S3D_PAPER}, Fig. 4: 2D below {_cut}, {_op.value} from it on")
        PRESETS[f"{_base}_bottom_heavy_{_cut}"] = Preset(
            _ref(_bottom_heavy(_cut, _op)), f"{_S3D_PAPER}, Fig. 4: {_op.value} below {_cut}, 2D from it on")
