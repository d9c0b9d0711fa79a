"""build(spec) -> nn.Module: the only code that reads an ArchSpec. Pure: no I/O.

Example:
    >>> import torch
    >>> from spaces import build, get_preset
    >>> spec = get_preset("s3d", frames=16, crop=64, num_classes=10).scaled(width=0.25, depth=0.5)
    >>> build(spec)(torch.randn(2, 3, 16, 64, 64)).shape
    torch.Size([2, 10])
"""
from __future__ import annotations

import torch
from torch import nn

from spaces import families
from spaces.blocks import ClassifierHead, conv_stem_layer, downsample_pool
from spaces.blocks.padding import same_padding
from spaces.forms import form
from spaces.spec import ArchSpec, Gate, StageSpec


class VideoNet(nn.Module):
    """stem -> stages -> head; input (B, 3, T, H, W), output logits (B, num_classes)."""

    def __init__(self, *, stem: nn.Module, stages: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.stem, self.stages, self.head = stem, stages, head

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(self.stem(x))  # (B, C, T', H', W')

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x))  # (B, num_classes)


def build(spec: ArchSpec) -> VideoNet:
    """Build the network a spec describes (weights freshly initialized)."""
    stem, channels = _build_stem(spec)
    stages = []
    frames_in = spec.frames_after_stem()
    for stage, frames_out in zip(spec.stages, spec.stage_frames()):
        module, channels = _build_stage(spec, stage, channels, frames_in, frames_out)
        stages.append(module)
        frames_in = frames_out
    head = ClassifierHead(in_channels=channels, num_classes=spec.num_classes, pre_channels=spec.head.pre_channels,
                          hidden_channels=spec.head.hidden_channels, dropout=spec.head.dropout,
                          temporal_window=spec.head.temporal_window)
    net = VideoNet(stem=stem, stages=nn.Sequential(*stages), head=head)
    for module in net.modules():  # one epsilon for every norm: blocks take plain arguments
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eps = spec.norm_eps
    if spec.padding == "same":
        same_padding(net)
    return net


def _build_stem(spec: ArchSpec) -> tuple[nn.Sequential, int]:
    layers, channels = [], 3
    last = len(spec.stem) - 1
    for i, conv in enumerate(spec.stem):
        temporal = form(conv.temporal_op).temporal
        gate = (spec.gate is Gate.TEMPORAL and temporal) or (spec.gate is Gate.BRANCHES and i == last)
        layers.append(conv_stem_layer(
            in_channels=channels, out_channels=conv.out_channels, kernel=conv.kernel, stride=conv.stride,
            temporal_op=conv.temporal_op, temporal_kernel=conv.temporal_kernel,
            temporal_stride=conv.temporal_stride, pool=conv.pool, pool_temporal_kernel=conv.pool_temporal_kernel,
            gate=gate, gate_bias=spec.gate_bias))
        channels = conv.out_channels
    return nn.Sequential(*layers), channels


def _build_stage(spec: ArchSpec, stage: StageSpec, channels: int, frames_in: int,
                 frames_out: int) -> tuple[nn.Sequential, int]:
    """A stage enters through a max pool or by striding its first block, as its family says."""
    family = families.get(spec.family)
    layers: list[nn.Module] = []
    pooled = family.enters_by == "pool"
    if pooled and (stage.spatial_stride > 1 or stage.temporal_stride > 1):
        layers.append(_entry_pool(stage))
    for i, block in enumerate(stage.blocks):
        first = i == 0 and not pooled
        layers.append(family.build_block(
            block, in_channels=channels, stride=stage.spatial_stride if first else 1,
            temporal_stride=stage.temporal_stride if first else 1, frames=frames_in if first else frames_out,
            gate=spec.gate, gate_bias=spec.gate_bias))
        channels = block.out_channels
    return nn.Sequential(*layers), channels


def _entry_pool(stage: StageSpec) -> nn.Module:
    """S3D's 3a (1x3x3, stride 1,2,2), 4a (3x3x3, stride 2) and 5a: 3x3x3 by default (the space's
    skeleton), 2x2x2 with stride 2 as the reference code where the stage's `pool_kernel` and
    `pool_temporal_kernel` are 2 (the presets), 2x3x3 where only the latter is (tiled in time:
    symmetric under time reversal). Pools have no parameters or multiply-adds."""
    striding = stage.temporal_stride > 1
    return downsample_pool(kernel=stage.pool_kernel if stage.spatial_stride > 1 else 1, stride=stage.spatial_stride,
                           temporal_kernel=stage.pool_temporal_kernel if striding else 1,
                           temporal_stride=stage.temporal_stride)
