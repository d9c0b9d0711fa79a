"""Specs derived from a spec by rule (each an `ArchSpec` method): `scaled` (widths and blocks per
stage), `flat` (the 2D network whose ImageNet weights `spaces.inflate` takes) and `at_frames` (the
same network on fewer frames, whose weights `spaces.load_weights(..., shorten=True)` takes from
the longer one).

Example:
    >>> from spaces import get_preset
    >>> get_preset("s3d").flat().slug()  # S3D's 2D skeleton: every conv 2D, as I2D's
    'inception-22.222-----tp1.132-w1024-d9-64x224'
    >>> s3d8 = get_preset("s3d", frames=8)  # one frame reaches 5b and 5c: their temporal taps shortened to 1
    >>> [b.temporal_kernel for b in s3d8.stages[-1].blocks]
    [1, 1]
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any

from spaces import families
from spaces.forms import form
from spaces.schema import SpecError

# ArchSpec is `Any` here: spaces.spec calls this module (a spec's fields are coerced from their
# values, so "off" is Gate.OFF and BigView.OFF).
ArchSpec = Any


def flat(spec: ArchSpec) -> ArchSpec:
    """`spec` with every conv in its form's 2D skeleton (`Form.flat`: 3D and (2+1)D convs become
    2D ones, D(2+1)D and channelwise ones depthwise 2D ones), no temporal extent, no gates, no big
    views. Strides and pools stay: the frames and shapes inside are the same, so on a clip whose
    frames are one repeated image this network's features are the image's 2D features, and those
    of `spec` inflated from its weights (`spaces.inflate`)."""
    def two_d(item: Any) -> Any:
        return dataclasses.replace(item, temporal_op=form(item.temporal_op).flat, temporal_kernel=1)

    stem = tuple(two_d(conv) for conv in spec.stem)
    stages = tuple(dataclasses.replace(stage, blocks=tuple(dataclasses.replace(two_d(b), big_view="off")
                                                           for b in stage.blocks)) for stage in spec.stages)
    return dataclasses.replace(spec, stem=stem, stages=stages, gate="off", gate_bias=False)


def at_frames(spec: ArchSpec, frames: int) -> ArchSpec:
    """`spec` on `frames` input frames. A temporal kernel longer than 2f - 1 for the f frames that
    reach its conv has taps that only ever see padding; it is cut to its 2f - 1 centre taps (to 1
    where one frame reaches it, keeping the form), and S3D's head window to the frames left. So the
    network computes what `spec`'s would on such a clip, with the same tensors but for those
    kernels' cut taps."""
    stem_frames, block_frames = spec.frames_reaching(frames)

    def fit(item: Any, reaching: int) -> Any:
        if not form(item.temporal_op).temporal or item.temporal_kernel <= 2 * reaching - 1:
            return item
        return dataclasses.replace(item, temporal_kernel=2 * reaching - 1)

    stem = tuple(fit(conv, f) for conv, f in zip(spec.stem, stem_frames))
    stages = tuple(dataclasses.replace(stage, blocks=tuple(fit(b, f) for b, f in zip(stage.blocks, reaching)))
                   for stage, reaching in zip(spec.stages, block_frames))
    shape = dataclasses.replace(spec, stem=stem, stages=stages, head=dataclasses.replace(spec.head, temporal_window=0),
                                frames=frames)
    window = min(spec.head.temporal_window, shape.stage_frames()[-1])
    return dataclasses.replace(shape, head=dataclasses.replace(spec.head, temporal_window=window))


def scaled(spec: ArchSpec, *, width: float = 1.0, depth: float = 1.0, divisor: int = 8,
           bottleneck: float = 1.0) -> ArchSpec:
    """Shrink (or grow) widths and blocks per stage, keeping where temporal convs, gates and big
    views are: the kept blocks are spread evenly over each stage, first and last included.
    `bottleneck` scales the blocks' inner widths further (X3D's bottleneck width; what is inner is
    the family's to say: Inception's 1x1 reductions, VoV's and X3D's expansions, ResNet's mid)."""
    for name, factor in (("width", width), ("depth", depth), ("bottleneck", bottleneck)):
        if not factor > 0:
            raise SpecError(name, factor, "scale factors must be > 0")
    w = lambda c: make_divisible(c * width, divisor) if c and width != 1.0 else c  # noqa: E731
    inner_factor = width * bottleneck
    inner = lambda c: make_divisible(c * inner_factor, divisor) if c and inner_factor != 1.0 else c  # noqa: E731
    scale_block = families.get(spec.family).scale_block
    stem = tuple(dataclasses.replace(c, out_channels=w(c.out_channels)) for c in spec.stem)
    stages = tuple(dataclasses.replace(st, blocks=tuple(scale_block(b, w, inner) for b in _spread(st.blocks, depth)))
                   for st in spec.stages)
    head = dataclasses.replace(spec.head, pre_channels=w(spec.head.pre_channels),
                               hidden_channels=w(spec.head.hidden_channels))
    return dataclasses.replace(spec, stem=stem, stages=stages, head=head)


def make_divisible(value: float, divisor: int, min_value: int | None = None) -> int:
    """Round a channel count to the nearest multiple of `divisor`, never below `min_value`
    (default: divisor) nor more than 10% below `value` (the rounding of MobileNet/timm/X3D)."""
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def _spread(blocks: tuple[object, ...], depth: float) -> tuple[object, ...]:
    """Keep ceil(n * depth) blocks evenly spaced over the stage, first and last kept (a cut point
    inside a stage moves to the nearest kept block); growing repeats blocks in place."""
    n = len(blocks)
    keep = max(1, math.ceil(n * depth - 1e-9))
    if keep == 1:
        return blocks[:1]
    return tuple(blocks[round(i * (n - 1) / (keep - 1))] for i in range(keep))
