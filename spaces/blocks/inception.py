"""The Inception-v1 "Mixed" block of I3D / S3D / S3D-G."""
from __future__ import annotations

import torch
from torch import nn

from spaces.blocks.convs import ConvUnit, relu
from spaces.blocks.gating import maybe_gate
from spaces.forms import TemporalOp, form
from spaces.spec import BigView, Gate


class InceptionMixed(nn.Module):
    """Four parallel branches, concatenated on channels (Szegedy et al. 2015; I3D; S3D)::

        x -+-> 1x1 ----------------------------> [gate] -+
           +-> 1x1 -> k x k (temporal form) ----> [gate] -+-> concat
           +-> 1x1 -> k x k (temporal form) ----> [gate] -+
           +-> 3x3x3 max pool -> 1x1 -----------> [gate] -+

    `branch_channels` = (b0, b1 reduce, b1, b2 reduce, b2, b3). Gating `temporal` gates the two
    k x k convs when they have a temporal extent (S3D-G's text); `branches` gates all four
    branches (S3D-G's official code). With a big view every conv sees the 3x3x3-pooled context,
    and the last conv of each branch the (T, 3, 3)-pooled one.
    """

    def __init__(
        self,
        *,
        in_channels: int,
        branch_channels: tuple[int, ...],
        temporal_op: TemporalOp,
        temporal_kernel: int,
        frames: int,
        gate: Gate = Gate.OFF,
        gate_bias: bool = False,
        big_view: BigView = BigView.OFF,
    ) -> None:
        super().__init__()
        b0, b1r, b1, b2r, b2, b3 = branch_channels
        temporal_gate = gate is Gate.TEMPORAL and form(temporal_op).temporal
        branch_gate = gate is Gate.BRANCHES

        def pointwise(cin: int, cout: int, last: bool) -> ConvUnit:
            return ConvUnit(in_channels=cin, out_channels=cout, act=relu(), big_view=big_view,
                            big_view_frames=frames if last else None)

        def spatiotemporal(cin: int, cout: int) -> ConvUnit:
            return ConvUnit(in_channels=cin, out_channels=cout, temporal_op=temporal_op, kernel=3,
                            temporal_kernel=temporal_kernel, act=relu(), big_view=big_view,
                            big_view_frames=frames)

        on = lambda c, flag: maybe_gate(channels=c, on=flag, bias=gate_bias)  # noqa: E731
        self.branch0 = nn.Sequential(pointwise(in_channels, b0, last=True), on(b0, branch_gate))
        self.branch1 = nn.Sequential(pointwise(in_channels, b1r, last=False), spatiotemporal(b1r, b1),
                                     on(b1, temporal_gate or branch_gate))
        self.branch2 = nn.Sequential(pointwise(in_channels, b2r, last=False), spatiotemporal(b2r, b2),
                                     on(b2, temporal_gate or branch_gate))
        self.branch3 = nn.Sequential(nn.MaxPool3d(3, stride=1, padding=1), pointwise(in_channels, b3, last=True),
                                     on(b3, branch_gate))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = (self.branch0(x), self.branch1(x), self.branch2(x), self.branch3(x))
        return torch.cat(branches, dim=1)  # (B, b0 + b1 + b2 + b3, T, H, W)
