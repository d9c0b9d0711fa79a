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
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from spaces import families
from spaces.families import Family
from spaces.forms import TemporalOp, check_temporal, form
from spaces.schema import SpecError, at_least, check_fields, coerce, decode, encode, one_of


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


PADDINGS = ("symmetric", "same")

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
        check_temporal(self.temporal_op, self.temporal_kernel)
        one_of("pool_temporal_kernel", self.pool_temporal_kernel, (1, 2))
        if self.pool_temporal_kernel != 1 and not self.pool:
            raise SpecError("pool_temporal_kernel", self.pool_temporal_kernel,
                            "must be 1 when pool is false: it is the temporal kernel of the pool after the conv")

    def frames_out(self, frames: int) -> int:
        """Frames leaving this conv (and its pool) for `frames` entering it."""
        return _ceil_div(_ceil_div(frames, self.temporal_stride), self.pool_temporal_kernel)


@dataclass(frozen=True)
class StageSpec:
    """Blocks at one resolution. The stage downsamples on entry, as its family says: by a max pool
    (Inception) or by striding the first block's spatio-temporal conv and shortcut (the others)."""

    blocks: tuple[object, ...]  # the blocks of the spec's family (its `FamilyDef.block`)
    spatial_stride: int = 2
    temporal_stride: int = 1
    pool_temporal_kernel: int = 3  # Inception's entry pool when temporal_stride is 2: 3 (pad 1, S3D's
    #                                4a) or 2 (tiled in time like S3D's 5a: symmetric in time)
    pool_kernel: int = 3  # that pool's spatial kernel when spatial_stride is 2: 3 (pad 1) or 2 (no
    #                       padding: the 2x2x2 of the reference I3D/S3D code's 5a)

    def __post_init__(self) -> None:
        check_fields(self)
        if not self.blocks:
            raise SpecError("blocks", [], "must hold at least one block")
        one_of("spatial_stride", self.spatial_stride, (1, 2))
        one_of("temporal_stride", self.temporal_stride, (1, 2))
        one_of("pool_temporal_kernel", self.pool_temporal_kernel, (2, 3))
        one_of("pool_kernel", self.pool_kernel, (2, 3))
        if self.pool_kernel == 2 and self.spatial_stride != 2:
            raise SpecError("pool_kernel", 2, "needs spatial_stride 2 (a 2x2 pool tiles the plane), but got "
                            f"spatial_stride={self.spatial_stride}; use 3 (the default)")
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
    norm_eps: float = 1e-5  # every BatchNorm's epsilon: PyTorch's 1e-5, or 1e-3 as the TF reference code
    padding: str = "symmetric"  # of strided convs and pools: symmetric (PyTorch's), or "same" as TF's
    #                             'SAME' (the official s3dg.py): where a stride leaves one over, the end gets it

    def __post_init__(self) -> None:
        check_fields(self)
        if not 0.0 < self.norm_eps <= 0.01:
            raise SpecError("norm_eps", self.norm_eps, "must be in (0, 0.01], e.g. 1e-5 (PyTorch) or 1e-3 (TF)")
        one_of("padding", self.padding, PADDINGS)
        at_least("frames", self.frames, 1)
        at_least("crop", self.crop, 1)
        at_least("num_classes", self.num_classes, 1)
        if not self.stem:
            raise SpecError("stem", [], "must hold at least one conv")
        if not self.stages:
            raise SpecError("stages", [], "must hold at least one stage")
        if self.gate is Gate.OFF and self.gate_bias:
            raise SpecError("gate_bias", True, "must be false when gate is 'off'")
        definition = families.get(self.family)
        for s, stage in enumerate(self.stages):
            for b, block in enumerate(stage.blocks):
                if not isinstance(block, definition.block):
                    raise SpecError(f"stages[{s}].blocks[{b}]", type(block).__name__,
                                    f"family '{self.family.value}' takes {definition.block.__name__} blocks")
            for name in ("pool_temporal_kernel", "pool_kernel"):
                if definition.enters_by != "pool" and getattr(stage, name) != 3:
                    raise SpecError(f"stages[{s}].{name}", getattr(stage, name),
                                    f"must be 3 (the default): family '{self.family.value}' strides its first "
                                    "block, only stages that enter through a pool (Inception) have one")
        self._check_geometry()

    # -- geometry ------------------------------------------------------------------------------

    def _check_geometry(self) -> None:
        """Every temporal kernel must fit the frames that reach it: with 'same' padding, taps
        beyond 2*frames-1 only ever see zeros."""
        stem_frames, block_frames = self.frames_reaching()
        for i, (conv, frames) in enumerate(zip(self.stem, stem_frames)):
            _check_fits(f"stem[{i}].temporal_kernel", conv.temporal_op, conv.temporal_kernel, frames)
        for s, (stage, reaching) in enumerate(zip(self.stages, block_frames)):
            for b, (block, frames) in enumerate(zip(stage.blocks, reaching)):
                _check_fits(f"stages[{s}].blocks[{b}].temporal_kernel", block.temporal_op, block.temporal_kernel,
                            frames)
        window, frames = self.head.temporal_window, self.stage_frames()[-1]
        if window > frames:
            raise SpecError("head.temporal_window", window,
                            f"must be <= the {frames} frames left after the last stage")

    def frames_reaching(self, frames: int | None = None) -> tuple[tuple[int, ...], tuple[tuple[int, ...], ...]]:
        """The frames that reach each stem conv, and each block of each stage (at its temporal
        conv), for this spec's input (or `frames` input frames)."""
        frames = self.frames if frames is None else frames
        pooled = families.get(self.family).enters_by == "pool"
        stem = []
        for conv in self.stem:
            stem.append(frames)
            frames = conv.frames_out(frames)
        stages = []
        for stage in self.stages:
            if pooled:  # the entry pool strides before the blocks
                frames = _ceil_div(frames, stage.temporal_stride)
            reaching = []
            for b in range(len(stage.blocks)):
                reaching.append(frames)
                if b == 0 and not pooled:
                    frames = _ceil_div(frames, stage.temporal_stride)
            stages.append(tuple(reaching))
        return tuple(stem), tuple(stages)

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

    def as_space_point(self) -> ArchSpec:
        """The point of the search space this spec stands for: the details the space does not
        choose, which the presets take from the reference code (a 2x2x2 entry pool, BatchNorm's
        epsilon 1e-3, TF's padding), at the space's own (3x3x3, 1e-5, symmetric). A warm start replays
        this."""
        stages = tuple(dataclasses.replace(s, pool_kernel=3, pool_temporal_kernel=3) if s.pool_kernel == 2 else s
                       for s in self.stages)
        return dataclasses.replace(self, stages=stages, norm_eps=ArchSpec.__dataclass_fields__["norm_eps"].default,
                                   padding="symmetric")

    def flat(self) -> ArchSpec:
        """The 2D network with this one's 2D skeleton (`spaces.variants.flat`)."""
        from spaces.variants import flat

        return flat(self)

    def at_frames(self, frames: int) -> ArchSpec:
        """The same network on `frames` input frames, kernels that would only see padding shortened
        (`spaces.variants.at_frames`)."""
        from spaces.variants import at_frames

        return at_frames(self, frames)

    def scaled(self, *, width: float = 1.0, depth: float = 1.0, divisor: int = 8,
               bottleneck: float = 1.0) -> ArchSpec:
        """Shrink (or grow) widths and blocks per stage, keeping where temporal convs, gates and
        big views are (`spaces.variants.scaled`).

        Example:
            >>> from spaces import get_preset
            >>> small = get_preset("s3d").scaled(width=0.25, depth=0.5)
            >>> [len(s.blocks) for s in small.stages], small.stem[-1].out_channels
            ([1, 3, 1], 48)
        """
        from spaces.variants import scaled

        return scaled(self, width=width, depth=depth, divisor=divisor, bottleneck=bottleneck)

    def choices(self) -> dict[str, Any]:
        """The architecture's choices as a flat dict of primitives (for tracking and tables);
        a stage whose blocks differ says 'mixed'."""
        out: dict[str, Any] = {"family": self.family.value, "frames": self.frames, "crop": self.crop,
                               "gate": self.gate.value, "gate_bias": self.gate_bias}
        stem_ops = {c.temporal_op.value for c in self.stem if c.kernel > 1}
        out["stem_temporal_op"] = stem_ops.pop() if len(stem_ops) == 1 else "mixed"
        fields = ["temporal_op", "temporal_kernel", "big_view", *families.get(self.family).stage_choices]
        for i, stage in enumerate(self.stages, start=1):
            for name in fields:
                values = {encode(getattr(b, name)) for b in stage.blocks}
                out[stage_param(i, name)] = values.pop() if len(values) == 1 else "mixed"
            out[stage_param(i, "blocks")] = len(stage.blocks)
            out[stage_param(i, "width")] = stage.blocks[-1].out_channels
        from spaces.names import temporal_pools

        if pools := temporal_pools(self):
            out["temporal_pools"] = pools
        return out

    def slug(self) -> str:
        """A short human-readable name for run names and table rows; never parsed back
        (`spaces.names.slug`)."""
        from spaces.names import slug

        return slug(self)

    def title(self, preset: str = "") -> str:
        """The name a person reads (MLflow's run names, reports): `spaces.names.title`."""
        from spaces.names import title

        return title(self, preset)

    # -- JSON ----------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values. The fields added later (`LATE_FIELDS`) are written only when they are
        not their default, so every spec from before them keeps its exact JSON: studies and benches
        key their records by it."""
        data = encode(self)
        for items, cls in (([data], ArchSpec), (data["stem"], ConvSpec), (data["stages"], StageSpec)):
            for name in LATE_FIELDS[cls.__name__]:
                default = cls.__dataclass_fields__[name].default
                for item in items:
                    if item[name] == default:
                        del item[name]
        return data

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: Any) -> ArchSpec:
        if not isinstance(data, dict):
            raise SpecError("spec", data, "must be a JSON object")
        family = coerce(data.get("family"), Family, "family")
        return decode(cls, data, "", families.get(family).block)

    @classmethod
    def from_json(cls, text: str) -> ArchSpec:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise SpecError("spec", text[:40], f"is not valid JSON ({e.msg} at line {e.lineno})") from None
        return cls.from_dict(data)


# The fields added after specs were first stored: written to JSON only when not their default.
LATE_FIELDS = {"ArchSpec": ("norm_eps", "padding"), "ConvSpec": ("pool_temporal_kernel",),
               "StageSpec": ("pool_temporal_kernel", "pool_kernel")}


# ----------------------------------------------------------------------------------------------
# Helpers.


def stage_param(stage: int, name: str) -> str:
    """The flat name of a per-stage choice, stage counted from 1: `s2_temporal_op`. The sampler, the
    tracked choices and the benchmark's points all spell it here; values stay primitive, and no `/`
    (Ray Tune would nest it)."""
    return f"s{stage}_{name}"


def stage_param_name(key: str) -> str | None:
    """The choice a flat per-stage parameter names (`s2_temporal_op` -> `temporal_op`), else None."""
    head, _, name = key.partition("_")
    return name if name and head[:1] == "s" and head[1:].isdigit() else None


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _check_fits(path: str, op: TemporalOp, kernel: int, frames: int) -> None:
    if kernel == 1 and form(op).temporal and frames > 1:
        raise SpecError(path, kernel, f"must be odd and >= 3 when temporal_op is '{op}' and {frames} frames reach "
                        "the conv (1 is only for a kernel shortened to the one frame that reaches it, as "
                        "ArchSpec.at_frames does); use temporal_op '2d' for no temporal extent")
    if kernel > 2 * frames - 1:
        raise SpecError(path, kernel, f"must be <= 2*frames-1 = {2 * frames - 1}: only {frames} frame(s) "
                        "reach this conv and taps beyond that see only padding; use a smaller "
                        "temporal_kernel, temporal_op '2d', or more input frames")
