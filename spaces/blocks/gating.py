"""S3D-G feature gating (Xie et al., ECCV 2018, sec. 4.4)."""
from __future__ import annotations

import torch
from torch import nn


class SelfGating(nn.Module):
    """y = sigmoid(W · avgpool_THW(x) + b) ⊙ x, channel-wise, W is C x C.

    The official TF code (`s3dg.py`, `self_gating`) has no bias: `bias=False` reproduces it.
    """

    def __init__(self, *, channels: int, bias: bool) -> None:
        super().__init__()
        self.fc = nn.Linear(channels, channels, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        context = x.mean(dim=(2, 3, 4))  # (B, C)
        weights = torch.sigmoid(self.fc(context))  # (B, C)
        return x * weights[:, :, None, None, None]


def maybe_gate(*, channels: int, on: bool, bias: bool) -> nn.Module:
    return SelfGating(channels=channels, bias=bias) if on else nn.Identity()
