"""Specs derived from a spec by rule, for weights to move between them: `flat` (the 2D network
whose ImageNet weights `spaces.inflate` takes) and `at_frames` (the same network on fewer frames,
whose weights `spaces.load_weights(..., shorten=True)` takes from the longer one).

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
from typing import Any

from spaces.forms import form

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
