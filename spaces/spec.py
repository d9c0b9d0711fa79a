"""The architecture as data: a frozen, validated dataclass tree that round-trips through JSON.

One `ArchSpec` describes any network of the unified space: the family of the backbone
(Inception as in I3D/S3D, VoV with T-OSA blocks as in VoV3D, ResNet bottlenecks as in
TSN/SmallBigNet), the temporal form of every spatio-temporal conv, feature gating, T-OSA depth,
SmallBig big views, widths, depths, strides and the head. `spaces.build(spec)` is the only code
that turns it into a network.

Example:
    >>> from spaces import get_preset, ArchSpec
    >>> spec = get_preset("s3d_g", frames=16)
    >>> ArchSpec.from_json(spec.to_json()) == spec
    True
"""
from __future__ import annotations

import dataclasses
import json
import math
import typing
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Union

from spaces.schema import SpecError, at_least, check_fields, coerce, decode, encode, one_of


class Family(str, Enum):
    """Backbone family: decides the block type, how stages downsample, and the default head."""

    INCEPTION = "inception"  # I3D / S3D / S3D-G: Mixed blocks, max-pool downsampling
    VOV = "vov"  # VoV3D: T-OSA blocks of D(2+1)D layers, strided convs
    RESNET = "resnet"  # TSN / SmallBigNet: bottleneck blocks, strided convs


class TemporalOp(str, Enum):
    """Temporal form of a spatio-temporal conv (spatial kernel k, temporal kernel kt)."""

    TWO_D = "2d"  # 1 x k x k
    THREE_D = "3d"  # kt x k x k
    SEPARABLE = "separable"  # S3D: 1 x k x k -> BN -> ReLU -> kt x 1 x 1, no mid width
    DEPTHWISE = "depthwise"  # VoV3D D(2+1)D: depthwise 1 x k x k -> depthwise kt x 1 x 1


class Gate(str, Enum):
    """S3D-G feature gating y = sigmoid(W avgpool(x) + b) * x: where it is applied."""

    OFF = "off"
    TEMPORAL = "temporal"  # after each conv with a temporal extent (the paper's text)
    BRANCHES = "branches"  # after the stem and every block branch (the official TF code)


class BigView(str, Enum):
    """SmallBigNet big view: the convs also see a 3x3x3 max-pooled context."""

    OFF = "off"
    SHARED = "shared"  # same conv weights, separate zero-init BNs (the paper)
    SEPARATE = "separate"  # own conv weights (the paper's unshared ablation)


class SqueezeExcite(str, Enum):
    """Where a T-OSA block puts squeeze-excitation among its D(2+1)D layers."""

    OFF = "off"
    ALTERNATE = "alternate"  # layers 1, 3, 5, ... (VoV3D, X3D)
    ALL = "all"


def _check_temporal(op: TemporalOp, kernel: int) -> None:
    """`2d` has temporal kernel 1; every other form an odd temporal kernel >= 3."""
    if op is TemporalOp.TWO_D and kernel != 1:
        raise SpecError("temporal_kernel", kernel, "must be 1 when temporal_op is '2d'")
    if op is not TemporalOp.TWO_D and (kernel < 3 or kernel % 2 == 0):
        raise SpecError(
            "temporal_kernel", kernel, f"must be odd and >= 3 when temporal_op is '{op.value}' "
            "(use temporal_op '2d' for no temporal extent)"
        )


# ----------------------------------------------------------------------------------------------
# The tree.


@dataclass(frozen=True)
class ConvSpec:
    """One stem conv (conv -> BN -> ReLU), e.g. S3D's Conv3d_1a_7x7 or Conv3d_2c_3x3."""

    out_channels: int
    kernel: int  # spatial kernel k
    stride: int = 1  # spatial stride
    temporal_op: TemporalOp = TemporalOp.TWO_D
    temporal_kernel: int = 1
    temporal_stride: int = 1
    pool: bool = False  # a 1x3x3 max pool, stride (1, 2, 2), after this conv
    pool_temporal_kernel: int = 1  # that pool's temporal kernel and stride: 1, or 2 (2x3x3, stride
    #                                (2, 2, 2): halves the frames, tiled in time, so symmetric in time)

    def __post_init__(self) -> None:
        check_fields(self)
        at_least("out_channels", self.out_channels, 1)
        at_least("kernel", self.kernel, 1)
        one_of("stride", self.stride, (1, 2))
        one_of("temporal_stride", self.temporal_stride, (1, 2))
        _check_temporal(self.temporal_op, self.temporal_kernel)
        one_of("pool_temporal_kernel", self.pool_temporal_kernel, (1, 2))
        if self.pool_temporal_kernel != 1 and not self.pool:
            raise SpecError("pool_temporal_kernel", self.pool_temporal_kernel,
                            "must be 1 when pool is false: it is the temporal kernel of the pool after the conv")

    def frames_out(self, frames: int) -> int:
        """Frames leaving this conv (and its pool) for `frames` entering it."""
        return _ceil_div(_ceil_div(frames, self.temporal_stride), self.pool_temporal_kernel)


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
        _check_temporal(self.temporal_op, self.temporal_kernel)

    @property
    def out_channels(self) -> int:
        b0, _, b1, _, b2, b3 = self.branch_channels
        return b0 + b1 + b2 + b3


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
        _check_temporal(self.temporal_op, self.temporal_kernel)


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
        _check_temporal(self.temporal_op, self.temporal_kernel)


Block = Union[InceptionBlock, VoVBlock, BottleneckBlock]
BLOCK_TYPES: dict[Family, type] = {
    Family.INCEPTION: InceptionBlock, Family.VOV: VoVBlock, Family.RESNET: BottleneckBlock,
}
MAX_TOSA_DEPTH = 8


@dataclass(frozen=True)
class StageSpec:
    """Blocks at one resolution. The stage downsamples on entry: Inception by a max pool,
    VoV and ResNet by striding the first block's spatio-temporal conv and shortcut."""

    blocks: tuple[Block, ...]
    spatial_stride: int = 2
    temporal_stride: int = 1
    pool_temporal_kernel: int = 3  # Inception's entry pool when temporal_stride is 2: 3 (pad 1, S3D's
    #                                4a) or 2 (tiled in time like S3D's 5a: symmetric in time)

    def __post_init__(self) -> None:
        check_fields(self)
        if not self.blocks:
            raise SpecError("blocks", [], "must hold at least one block")
        one_of("spatial_stride", self.spatial_stride, (1, 2))
        one_of("temporal_stride", self.temporal_stride, (1, 2))
        one_of("pool_temporal_kernel", self.pool_temporal_kernel, (2, 3))
        if self.pool_temporal_kernel == 2 and self.temporal_stride != 2:
            raise SpecError("pool_temporal_kernel", 2, "needs temporal_stride 2 (a tiled pool's kernel equals its "
                            f"stride), but got temporal_stride={self.temporal_stride}; use 3 (the default)")


@dataclass(frozen=True)
class HeadSpec:
    """Classifier: [1x1 conv+BN+ReLU] -> average pool -> [linear+ReLU] -> dropout -> linear."""

    pre_channels: int = 0  # X3D's conv5 before pooling; 0 = none
    hidden_channels: int = 0  # X3D's 2048-wide layer after pooling (no BN, no bias); 0 = none
    dropout: float = 0.5
    temporal_window: int = 0  # S3D: average over windows of this many frames, classify each,
    #                           average the logits; 0 = one global average

    def __post_init__(self) -> None:
        check_fields(self)
        at_least("pre_channels", self.pre_channels, 0)
        at_least("hidden_channels", self.hidden_channels, 0)
        at_least("temporal_window", self.temporal_window, 0)
        if not 0.0 <= self.dropout < 1.0:
            raise SpecError("dropout", self.dropout, "must be in [0, 1)")


@dataclass(frozen=True)
class ArchSpec:
    """A whole network. Input clips are (B, 3, frames, crop, crop)."""

    family: Family
    stem: tuple[ConvSpec, ...]
    stages: tuple[StageSpec, ...]
    head: HeadSpec = field(default_factory=HeadSpec)
    frames: int = 16
    crop: int = 224
    num_classes: int = 400
    gate: Gate = Gate.OFF
    gate_bias: bool = False

    def __post_init__(self) -> None:
        check_fields(self)
        at_least("frames", self.frames, 1)
        at_least("crop", self.crop, 1)
        at_least("num_classes", self.num_classes, 1)
        if not self.stem:
            raise SpecError("stem", [], "must hold at least one conv")
        if not self.stages:
            raise SpecError("stages", [], "must hold at least one stage")
        if self.gate is Gate.OFF and self.gate_bias:
            raise SpecError("gate_bias", True, "must be false when gate is 'off'")
        block_type = BLOCK_TYPES[self.family]
        for s, stage in enumerate(self.stages):
            for b, block in enumerate(stage.blocks):
                if not isinstance(block, block_type):
                    raise SpecError(f"stages[{s}].blocks[{b}]", type(block).__name__,
                                    f"family '{self.family.value}' takes {block_type.__name__} blocks")
            if self.family is not Family.INCEPTION and stage.pool_temporal_kernel != 3:
                raise SpecError(f"stages[{s}].pool_temporal_kernel", stage.pool_temporal_kernel,
                                f"must be 3 (the default): family '{self.family.value}' strides its first "
                                "block, only Inception stages enter through a pool")
        self._check_geometry()

    # -- geometry ------------------------------------------------------------------------------

    def _check_geometry(self) -> None:
        """Every temporal kernel must fit the frames that reach it: with 'same' padding, taps
        beyond 2*frames-1 only ever see zeros."""
        frames = self.frames
        for i, conv in enumerate(self.stem):
            _check_fits(f"stem[{i}].temporal_kernel", conv.temporal_kernel, frames)
            frames = conv.frames_out(frames)
        for s, stage in enumerate(self.stages):
            if self.family is Family.INCEPTION:  # the entry pool strides before the blocks
                frames = _ceil_div(frames, stage.temporal_stride)
            for b, block in enumerate(stage.blocks):
                _check_fits(f"stages[{s}].blocks[{b}].temporal_kernel", block.temporal_kernel, frames)
                if b == 0 and self.family is not Family.INCEPTION:
                    frames = _ceil_div(frames, stage.temporal_stride)
        window = self.head.temporal_window
        if window > frames:
            raise SpecError("head.temporal_window", window,
                            f"must be <= the {frames} frames left after the last stage")

    def frames_after_stem(self, frames: int | None = None) -> int:
        """Frames entering the first stage, for this spec's input (or `frames` input frames)."""
        frames = self.frames if frames is None else frames
        for conv in self.stem:
            frames = conv.frames_out(frames)
        return frames

    def stage_frames(self, frames: int | None = None) -> tuple[int, ...]:
        """Frames at the output of each stage (the big view's global pool spans these)."""
        frames, out = self.frames_after_stem(frames), []
        for stage in self.stages:
            frames = _ceil_div(frames, stage.temporal_stride)
            out.append(frames)
        return tuple(out)

    # -- derived specs ------------------------------------------------------------------------

    def replace(self, **changes: Any) -> ArchSpec:
        """A copy with top-level fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def scaled(self, *, width: float = 1.0, depth: float = 1.0, divisor: int = 8) -> ArchSpec:
        """Shrink (or grow) widths and blocks per stage, keeping where temporal convs, gates and
        big views are: the kept blocks are spread evenly over each stage, first and last included.

        Example:
            >>> from spaces import get_preset
            >>> small = get_preset("s3d").scaled(width=0.25, depth=0.5)
            >>> [len(s.blocks) for s in small.stages], small.stem[-1].out_channels
            ([1, 3, 1], 48)
        """
        if width <= 0 or depth <= 0:
            raise SpecError("width" if width <= 0 else "depth", width if width <= 0 else depth,
                            "scale factors must be > 0")
        w = lambda c: make_divisible(c * width, divisor) if c and width != 1.0 else c  # noqa: E731
        stem = tuple(dataclasses.replace(c, out_channels=w(c.out_channels)) for c in self.stem)
        stages = tuple(
            dataclasses.replace(st, blocks=tuple(_scale_block(b, w) for b in _spread(st.blocks, depth)))
            for st in self.stages
        )
        head = dataclasses.replace(self.head, pre_channels=w(self.head.pre_channels),
                                   hidden_channels=w(self.head.hidden_channels))
        return dataclasses.replace(self, stem=stem, stages=stages, head=head)

    def choices(self) -> dict[str, Any]:
        """The architecture's choices as a flat dict of primitives (for tracking and tables);
        a stage whose blocks differ says 'mixed'."""
        out: dict[str, Any] = {"family": self.family.value, "frames": self.frames, "crop": self.crop,
                               "gate": self.gate.value, "gate_bias": self.gate_bias}
        stem_ops = {c.temporal_op.value for c in self.stem if c.kernel > 1}
        out["stem_temporal_op"] = stem_ops.pop() if len(stem_ops) == 1 else "mixed"
        for i, stage in enumerate(self.stages, start=1):
            fields = ["temporal_op", "temporal_kernel", "big_view"]
            if isinstance(stage.blocks[0], VoVBlock):
                fields += ["tosa_depth", "squeeze_excite"]
            for name in fields:
                values = {_encode_value(getattr(b, name)) for b in stage.blocks}
                out[f"s{i}_{name}"] = values.pop() if len(values) == 1 else "mixed"
            out[f"s{i}_blocks"] = len(stage.blocks)
            out[f"s{i}_width"] = stage.blocks[-1].out_channels
        if pools := self._temporal_pools():
            out["temporal_pools"] = pools
        return out

    def slug(self) -> str:
        """A short human-readable name for run names; never parsed back: family, the temporal form
        of the stem's spatial convs "." of each stage (2, 3, s = separable, d = depthwise), big views
        per stage (b), gating, T-OSA depths, temporal pool kernels when not S3D's (tp), last width,
        blocks, input."""
        short = {"2d": "2", "3d": "3", "separable": "s", "depthwise": "d"}
        stem = "".join(short[c.temporal_op.value] for c in self.stem if c.kernel > 1)
        ops = f"{stem}.{''.join(short[st.blocks[0].temporal_op.value] for st in self.stages)}"
        big = "".join("b" if st.blocks[0].big_view is not BigView.OFF else "-" for st in self.stages)
        gate = {"off": "", "temporal": "-gt", "branches": "-gb"}[self.gate.value]
        width = self.stages[-1].blocks[-1].out_channels
        depth = sum(len(st.blocks) for st in self.stages)
        tosa = ("-t" + "".join(str(st.blocks[0].tosa_depth) for st in self.stages)
                if isinstance(self.stages[0].blocks[0], VoVBlock) else "")
        pools = f"-tp{p}" if (p := self._temporal_pools()) else ""
        return f"{self.family.value}-{ops}-{big}{gate}{tosa}{pools}-w{width}-d{depth}-{self.frames}x{self.crop}"

    def _temporal_pools(self) -> str:
        """The temporal kernels of the stem's pools "." of the stages' entry pools (1 where a stage
        does not stride in time), e.g. "2.122"; "" when every pool has its default, so the
        architectures named before the field existed keep their names."""
        if all(c.pool_temporal_kernel == 1 for c in self.stem) and all(s.pool_temporal_kernel == 3
                                                                      for s in self.stages):
            return ""
        stem = "".join(str(c.pool_temporal_kernel) for c in self.stem if c.pool)
        stages = "".join(str(s.pool_temporal_kernel if s.temporal_stride > 1 else 1) for s in self.stages)
        return f"{stem}.{stages}" if self.family is Family.INCEPTION else stem

    # -- JSON ----------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values. `pool_temporal_kernel` (added later) is written only when it is not its
        default, so every spec from before it keeps its exact JSON: studies and benches key their
        records by it."""
        data = encode(self)
        for items, cls in ((data["stem"], ConvSpec), (data["stages"], StageSpec)):
            default = cls.__dataclass_fields__["pool_temporal_kernel"].default
            for item in items:
                if item["pool_temporal_kernel"] == default:
                    del item["pool_temporal_kernel"]
        return data

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: Any) -> ArchSpec:
        if not isinstance(data, dict):
            raise SpecError("spec", data, "must be a JSON object")
        family = coerce(data.get("family"), Family, "family")
        return decode(cls, data, "", BLOCK_TYPES[family])

    @classmethod
    def from_json(cls, text: str) -> ArchSpec:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise SpecError("spec", text[:40], f"is not valid JSON ({e.msg} at line {e.lineno})") from None
        return cls.from_dict(data)


# ----------------------------------------------------------------------------------------------
# Helpers.


def _encode_value(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


def make_divisible(value: float, divisor: int, min_value: int | None = None) -> int:
    """Round a channel count to the nearest multiple of `divisor`, never below `min_value`
    (default: divisor) nor more than 10% below `value` (the rounding of MobileNet/timm/X3D)."""
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _check_fits(path: str, kernel: int, frames: int) -> None:
    if kernel > 2 * frames - 1:
        raise SpecError(path, kernel, f"must be <= 2*frames-1 = {2 * frames - 1}: only {frames} frame(s) "
                        "reach this conv and taps beyond that see only padding; use a smaller "
                        "temporal_kernel, temporal_op '2d', or more input frames")


def _spread(blocks: tuple[Block, ...], depth: float) -> tuple[Block, ...]:
    """Keep ceil(n * depth) blocks evenly spaced over the stage, first and last kept (a cut point
    inside a stage moves to the nearest kept block); growing repeats blocks in place."""
    n = len(blocks)
    keep = max(1, math.ceil(n * depth - 1e-9))
    if keep == 1:
        return blocks[:1]
    return tuple(blocks[round(i * (n - 1) / (keep - 1))] for i in range(keep))


def _scale_block(block: Block, w: typing.Callable[[int], int]) -> Block:
    if isinstance(block, InceptionBlock):
        return dataclasses.replace(block, branch_channels=tuple(w(c) for c in block.branch_channels))
    if isinstance(block, VoVBlock):
        return dataclasses.replace(block, out_channels=w(block.out_channels),
                                   inner_channels=w(block.inner_channels))
    return dataclasses.replace(block, out_channels=w(block.out_channels), mid_channels=w(block.mid_channels))
