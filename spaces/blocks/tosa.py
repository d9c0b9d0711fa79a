"""VoV3D's T-OSA block of D(2+1)D layers (Lee et al., "Diverse Temporal Aggregation and
Depthwise Spatiotemporal Factorization for Efficient Video Classification", 2020)."""
from __future__ import annotations

import torch
from torch import nn

from spaces.blocks.convs import ConvUnit, relu
from spaces.blocks.excite import SqueezeExcitation
from spaces.blocks.gating import maybe_gate
from spaces.forms import TemporalOp, form
from spaces.spec import BigView, Gate


class D21DLayer(nn.Module):
    """One D(2+1)D layer (VoV3D Fig. 3), with the spatio-temporal conv in any temporal form::

        x -> 1x1 (Cin -> inner), BN, ReLU
          -> depthwise 1xkxk (stride s) -> depthwise kt x1x1 -> BN -> [SE] -> Swish -> [gate]
          -> 1x1 (inner -> out), BN  -> (+ x if shapes match) -> ReLU -> [gate]
    """

    def __init__(
        self,
        *,
        in_channels: int,
        inner_channels: int,
        out_channels: int,
        temporal_op: TemporalOp,
        temporal_kernel: int,
        stride: int,
        temporal_stride: int,
        squeeze_excite: bool,
        frames: int,
        gate: Gate = Gate.OFF,
        gate_bias: bool = False,
        big_view: BigView = BigView.OFF,
    ) -> None:
        super().__init__()
        self.expand = ConvUnit(in_channels=in_channels, out_channels=inner_channels, act=relu(),
                               big_view=big_view)
        self.spatiotemporal = ConvUnit(
            in_channels=inner_channels, out_channels=inner_channels, temporal_op=temporal_op, kernel=3,
            temporal_kernel=temporal_kernel, stride=stride, temporal_stride=temporal_stride,
            big_view=big_view)
        self.se = SqueezeExcitation(channels=inner_channels) if squeeze_excite else nn.Identity()
        self.swish = nn.SiLU(inplace=True)
        temporal_gate = gate is Gate.TEMPORAL and form(temporal_op).temporal
        self.temporal_gate = maybe_gate(channels=inner_channels, on=temporal_gate, bias=gate_bias)
        self.project = ConvUnit(in_channels=inner_channels, out_channels=out_channels, big_view=big_view,
                                big_view_frames=-(-frames // temporal_stride))
        self.residual = in_channels == out_channels and stride == 1 and temporal_stride == 1
        self.act = relu()
        self.branch_gate = maybe_gate(channels=out_channels, on=gate is Gate.BRANCHES, bias=gate_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.expand(x)  # (B, inner, T, H, W)
        y = self.temporal_gate(self.swish(self.se(self.spatiotemporal(y))))  # (B, inner, T/ts, H/s, W/s)
        y = self.project(y)  # (B, out, T/ts, H/s, W/s)
        if self.residual:
            y = y + x
        return self.branch_gate(self.act(y))


class TOSABlock(nn.Module):
    """Temporal One-Shot Aggregation block: ReLU(shortcut(x) + T-OSA(x))::

        x -> L1 -> L2 -> ... -> Ld            (D(2+1)D layers in series, L1 carries the stride)
        concat([x,] L1, ..., Ld) -> 1x1 -> BN (zero-init gamma)      (x only in stride-1 blocks)

    Aggregating every layer's output gives features of several temporal receptive fields.
    SE on layers 1, 3, 5 (`alternate`, the paper), on all, or on none.
    """

    def __init__(
        self,
        *,
        in_channels: int,
        out_channels: int,
        inner_channels: int,
        depth: int,
        squeeze_excite: str,
        temporal_op: TemporalOp,
        temporal_kernel: int,
        stride: int,
        temporal_stride: int,
        frames: int,
        gate: Gate = Gate.OFF,
        gate_bias: bool = False,
        big_view: BigView = BigView.OFF,
    ) -> None:
        super().__init__()
        se_on = {"off": lambda i: False, "alternate": lambda i: i % 2 == 0, "all": lambda i: True}[squeeze_excite]
        self.layers = nn.ModuleList(
            D21DLayer(in_channels=in_channels if i == 0 else out_channels, inner_channels=inner_channels,
                      out_channels=out_channels, temporal_op=temporal_op, temporal_kernel=temporal_kernel,
                      stride=stride if i == 0 else 1, temporal_stride=temporal_stride if i == 0 else 1,
                      squeeze_excite=se_on(i), frames=frames if i == 0 else -(-frames // temporal_stride),
                      gate=gate, gate_bias=gate_bias, big_view=big_view)
            for i in range(depth)
        )
        self.keep_input = stride == 1 and temporal_stride == 1
        concat = depth * out_channels + (in_channels if self.keep_input else 0)
        self.aggregate = ConvUnit(in_channels=concat, out_channels=out_channels, zero_init_norm=True)
        self.shortcut = (
            nn.Identity() if in_channels == out_channels and self.keep_input
            else ConvUnit(in_channels=in_channels, out_channels=out_channels, stride=stride,
                          temporal_stride=temporal_stride)
        )
        self.act = relu()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs = [x] if self.keep_input else []
        y = x
        for layer in self.layers:
            y = layer(y)  # (B, out, T', H', W')
            outputs.append(y)
        y = self.aggregate(torch.cat(outputs, dim=1))  # (B, out, T', H', W')
        return self.act(self.shortcut(x) + y)
