"""Helpers for the reference tests: torchvision's model code imported on a CPU torch, and networks
with weights and BatchNorm statistics far from the identity."""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import nn


@contextlib.contextmanager
def fakes_off() -> Iterator[None]:
    real = torch.library.register_fake
    torch.library.register_fake = lambda *args, **kwargs: (lambda fn: fn)
    try:
        yield
    finally:
        torch.library.register_fake = real


def realistic(net: nn.Module, seed: int = 0) -> nn.Module:
    """Random weights, and BatchNorm scales, shifts and running statistics far from the identity
    (variances near 1e-3, so PyTorch's epsilon where the reference has TF's shows), so a wrong
    epsilon or a misplaced norm shows in the outputs."""
    g = torch.Generator().manual_seed(seed)
    for m in net.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.2)
            var = torch.rand(m.running_var.shape, generator=g) * 0.02 + 0.001  # near eps: 1e-3 vs 1e-5 shows
            m.running_var.copy_(var)
            m.weight.data.copy_(var.sqrt() * (torch.rand(m.weight.shape, generator=g) + 0.5))  # about unit gain
            m.bias.data.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
    return net.eval()
