"""Squeeze-and-excitation (Hu et al., CVPR 2018) in X3D's form, for VoV3D's and X3D's blocks."""
from __future__ import annotations

import torch
from torch import nn

from spaces.variants import make_divisible


class SqueezeExcitation(nn.Module):
    """x * sigmoid(fc2(relu(fc1(avgpool(x))))), reduction 1/16 rounded to a multiple of 8 (X3D)."""

    def __init__(self, *, channels: int, ratio: float = 1 / 16, divisor: int = 8) -> None:
        super().__init__()
        hidden = make_divisible(channels * ratio, divisor)
        self.fc1 = nn.Conv3d(channels, hidden, 1, bias=True)
        self.fc2 = nn.Conv3d(hidden, channels, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean(dim=(2, 3, 4), keepdim=True)  # (B, C, 1, 1, 1)
        return x * torch.sigmoid(self.fc2(torch.relu(self.fc1(s))))
