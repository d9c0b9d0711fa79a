"""Classifier heads: S3D's windowed average, X3D's (VoV3D's) two-layer head, ResNet's linear."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from spaces.blocks.convs import ConvUnit, relu


class ClassifierHead(nn.Module):
    """[1x1x1 conv -> BN -> ReLU] -> average pool -> [linear -> ReLU] -> dropout -> linear.

    - `pre_channels`/`hidden_channels` > 0 give X3D's head (conv5, then the 2048-wide layer
      without norm or bias), which VoV3D uses.
    - `temporal_window` > 0 gives S3D/I3D's head: average over H, W and windows of that many
      frames (stride 1), classify every window, average the logits.
    """

    def __init__(
        self,
        *,
        in_channels: int,
        num_classes: int,
        pre_channels: int = 0,
        hidden_channels: int = 0,
        dropout: float = 0.5,
        temporal_window: int = 0,
    ) -> None:
        super().__init__()
        self.pre = ConvUnit(in_channels=in_channels, out_channels=pre_channels, act=relu()) if pre_channels else None
        width = pre_channels or in_channels
        self.hidden = nn.Linear(width, hidden_channels, bias=False) if hidden_channels else None
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden_channels or width, num_classes)
        self.temporal_window = temporal_window

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pre is not None:
            x = self.pre(x)  # (B, pre, T, H, W)
        x = x.mean(dim=(3, 4))  # (B, C, T)
        if self.temporal_window:
            x = F.avg_pool1d(x, self.temporal_window, stride=1)  # (B, C, T - window + 1)
        else:
            x = x.mean(dim=2, keepdim=True)  # (B, C, 1)
        x = x.transpose(1, 2)  # (B, windows, C)
        if self.hidden is not None:
            x = torch.relu(self.hidden(x))
        return self.fc(self.dropout(x)).mean(dim=1)  # (B, num_classes)
