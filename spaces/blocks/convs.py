"""Spatio-temporal conv forms and the conv -> BN -> act unit every block is made of."""
from __future__ import annotations

import torch
from torch import nn

from spaces.spec import BigView, TemporalOp


def spatiotemporal_conv(
    *,
    in_channels: int,
    out_channels: int,
    temporal_op: TemporalOp,
    kernel: int,
    temporal_kernel: int,
    stride: int = 1,
    temporal_stride: int = 1,
) -> nn.Module:
    """A conv of the given temporal form, without its output norm.

    - `2d`: one 1 x k x k conv (temporal stride still applies, as I2D's 1a keeps I3D's strides).
    - `3d`: one kt x k x k conv (I3D).
    - `separable`: 1 x k x k conv -> BN -> ReLU -> kt x 1 x 1 conv, both Cout wide (S3D, no mid
      width unlike R(2+1)D); spatial stride on the first, temporal on the second.
    - `depthwise`: depthwise 1 x k x k -> depthwise kt x 1 x 1 with no norm between (VoV3D's
      D(2+1)D). Where the width changes the spatial conv is a full conv (VoV3D's/X3D's stem).
    """
    k, kt = kernel, temporal_kernel
    if temporal_op in (TemporalOp.TWO_D, TemporalOp.THREE_D):
        kt = 1 if temporal_op is TemporalOp.TWO_D else kt
        return nn.Conv3d(in_channels, out_channels, (kt, k, k), stride=(temporal_stride, stride, stride),
                         padding=(kt // 2, k // 2, k // 2), bias=False)
    spatial_groups = in_channels if temporal_op is TemporalOp.DEPTHWISE and in_channels == out_channels else 1
    spatial = nn.Conv3d(in_channels, out_channels, (1, k, k), stride=(1, stride, stride),
                        padding=(0, k // 2, k // 2), groups=spatial_groups, bias=False)
    temporal_groups = out_channels if temporal_op is TemporalOp.DEPTHWISE else 1
    temporal = nn.Conv3d(out_channels, out_channels, (kt, 1, 1), stride=(temporal_stride, 1, 1),
                         padding=(kt // 2, 0, 0), groups=temporal_groups, bias=False)
    if temporal_op is TemporalOp.SEPARABLE:
        return nn.Sequential(spatial, nn.BatchNorm3d(out_channels), nn.ReLU(inplace=True), temporal)
    return nn.Sequential(spatial, temporal)


def big_view_pool(*, frames: int | None) -> nn.Module:
    """SmallBigNet's context pools: 3x3x3 max pool, stride 1 (`frames=None`), or the
    (T, 3, 3) pool over all `frames` that the last conv of a unit sees (its output has T = 1
    and is broadcast over time when added to the small view)."""
    if frames is None:
        return nn.MaxPool3d(3, stride=1, padding=1)
    return nn.MaxPool3d((frames, 3, 3), stride=1, padding=(0, 1, 1))


class ConvUnit(nn.Module):
    """conv -> BN [+ SmallBig big view] -> act.

    With a big view (SmallBigNet, CVPR 2020, eq. 1-3)::

        x --conv--> BN  ------------------+--> act
        x --pool--> conv (shared | own) --> BN' (zero-init) --^

    so the unit starts as its plain small view. The shared conv is called twice, not copied.
    """

    def __init__(
        self,
        *,
        in_channels: int,
        out_channels: int,
        temporal_op: TemporalOp = TemporalOp.TWO_D,
        kernel: int = 1,
        temporal_kernel: int = 1,
        stride: int = 1,
        temporal_stride: int = 1,
        act: nn.Module | None = None,
        zero_init_norm: bool = False,
        big_view: BigView = BigView.OFF,
        big_view_frames: int | None = None,
    ) -> None:
        super().__init__()
        conv_args = dict(in_channels=in_channels, out_channels=out_channels, temporal_op=temporal_op,
                         kernel=kernel, temporal_kernel=temporal_kernel, stride=stride,
                         temporal_stride=temporal_stride)
        self.conv = spatiotemporal_conv(**conv_args)
        self.norm = _norm(out_channels, zero_init=zero_init_norm)
        self.big_pool = self.big_norm = self.big_conv = None
        if big_view is not BigView.OFF:
            self.big_pool = big_view_pool(frames=big_view_frames)
            self.big_norm = _norm(out_channels, zero_init=True)
            if big_view is BigView.SEPARATE:
                self.big_conv = spatiotemporal_conv(**conv_args)
        self.act = act if act is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm(self.conv(x))  # (B, Cout, T', H', W')
        if self.big_norm is not None:
            big_conv = self.big_conv if self.big_conv is not None else self.conv
            y = y + self.big_norm(big_conv(self.big_pool(x)))  # (B, Cout, T' or 1, H', W')
        return self.act(y)


def _norm(channels: int, *, zero_init: bool) -> nn.BatchNorm3d:
    norm = nn.BatchNorm3d(channels)
    if zero_init:
        nn.init.zeros_(norm.weight)
    return norm


def relu() -> nn.ReLU:
    return nn.ReLU(inplace=True)
