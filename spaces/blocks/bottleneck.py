"""The residual bottleneck (He et al. 2016): ResNet's per frame as in TSN, with SmallBigNet's big
view; with a channelwise 3x3x3 conv, squeeze-excitation and swish it is X3D's block."""
from __future__ import annotations

import torch
from torch import nn

from spaces.blocks.convs import ConvUnit, relu
from spaces.blocks.excite import SqueezeExcitation
from spaces.blocks.gating import maybe_gate
from spaces.forms import TemporalOp, form
from spaces.spec import BigView, Gate

MID_ACTS = {"relu": relu, "swish": lambda: nn.SiLU(inplace=True)}


class Bottleneck(nn.Module):
    """ReLU(shortcut(x) + W3(W2(W1(x)))), stride on the k x k conv (ResNet v1.5, torchvision).

    With a big view this is SmallBigNet's unit (Li et al., CVPR 2020, Fig. 3)::

        h1 = ReLU(BN1(W1 x)  + BN1'(W1 P3(x)))           P3 = 3x3x3 max pool, stride 1
        h2 = ReLU(BN2(W2 h1) + BN2'(W2 P3(h1)))
        y  = ReLU(BN3(W3 h2) + BN3'(W3 PT(h2)) + shortcut(x))   PT = (T,3,3) max pool

    W1, W2, W3 are shared by both views (`shared`) or the big view has its own (`separate`).

    X3D's block (Feichtenhofer, CVPR 2020) is the same residual with `temporal_op` channelwise,
    `squeeze_excite` on alternate blocks and `mid_act` swish::

        y = ReLU(shortcut(x) + BN3(W3 swish(SE(BN2(W2 ReLU(BN1(W1 x)))))))
    """

    def __init__(
        self,
        *,
        in_channels: int,
        mid_channels: int,
        out_channels: int,
        temporal_op: TemporalOp,
        temporal_kernel: int,
        stride: int,
        temporal_stride: int,
        frames: int,
        gate: Gate = Gate.OFF,
        gate_bias: bool = False,
        big_view: BigView = BigView.OFF,
        squeeze_excite: bool = False,
        mid_act: str = "relu",
    ) -> None:
        super().__init__()
        if mid_act not in MID_ACTS:
            raise ValueError(f"mid_act={mid_act!r}: must be one of {', '.join(MID_ACTS)}")
        self.conv1 = ConvUnit(in_channels=in_channels, out_channels=mid_channels, act=relu(), big_view=big_view)
        self.conv2 = ConvUnit(in_channels=mid_channels, out_channels=mid_channels, temporal_op=temporal_op,
                              kernel=3, temporal_kernel=temporal_kernel, stride=stride,
                              temporal_stride=temporal_stride, big_view=big_view)
        self.se = SqueezeExcitation(channels=mid_channels) if squeeze_excite else nn.Identity()
        self.mid_act = MID_ACTS[mid_act]()
        temporal_gate = gate is Gate.TEMPORAL and form(temporal_op).temporal
        self.temporal_gate = maybe_gate(channels=mid_channels, on=temporal_gate, bias=gate_bias)
        self.conv3 = ConvUnit(in_channels=mid_channels, out_channels=out_channels, big_view=big_view,
                              big_view_frames=-(-frames // temporal_stride))
        self.branch_gate = maybe_gate(channels=out_channels, on=gate is Gate.BRANCHES, bias=gate_bias)
        same = in_channels == out_channels and stride == 1 and temporal_stride == 1
        self.shortcut = nn.Identity() if same else ConvUnit(
            in_channels=in_channels, out_channels=out_channels, stride=stride, temporal_stride=temporal_stride)
        self.act = relu()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv1(x)  # (B, mid, T, H, W)
        y = self.temporal_gate(self.mid_act(self.se(self.conv2(y))))  # (B, mid, T/ts, H/s, W/s)
        y = self.branch_gate(self.conv3(y))  # (B, out, T/ts, H/s, W/s)
        return self.act(self.shortcut(x) + y)
