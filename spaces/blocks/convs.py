"""Spatio-temporal conv forms and the conv -> BN -> act unit every block is made of."""
from __future__ import annotations

import torch
from torch import nn

from spaces.forms import TemporalOp, form
from spaces.spec import BigView


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
    """A conv of the given temporal form (`spaces.forms`: 2d, 3d, separable, depthwise,
    channelwise, ...), without its output norm."""
    return form(temporal_op).conv(in_channels, out_channels, kernel, temporal_kernel, stride, temporal_stride)


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
