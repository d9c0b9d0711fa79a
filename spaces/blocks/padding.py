"""TF's 'SAME' padding on a built network (`ArchSpec.padding == "same"`, the official s3dg.py).

PyTorch pads a strided conv or pool by k // 2 on both sides; TF's 'SAME' pads k - 1 in all for
stride 1 (the same thing for odd k), and for stride s puts the padding that makes ceil(n / s)
outputs mostly at the end: (p // 2, p - p // 2) with p = max((ceil(n / s) - 1) * s + k - n, 0).
On an even input with stride 2 and a 3 x 3 window the two differ by one row: the windows sit one
row apart. Each strided Conv3d or MaxPool3d keeps its weights and gets a forward pre-hook that
pads its input so (zeros for a conv, -inf for a pool); the state dict does not change.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.utils import _triple


def same_padding(net: nn.Module) -> int:
    """Turn every strided Conv3d and MaxPool3d of `net` to TF's 'SAME' padding; returns how many."""
    count = 0
    for module in net.modules():
        if isinstance(module, (nn.Conv3d, nn.MaxPool3d)) and any(s > 1 for s in _triple(module.stride)):
            module.padding = (0, 0, 0) if isinstance(module, nn.Conv3d) else 0
            if isinstance(module, nn.MaxPool3d):
                module.ceil_mode = False  # the padding already gives ceil(n / s) outputs
            module.register_forward_pre_hook(_pad_same)
            count += 1
    return count


def _pad_same(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    x = inputs[0]
    kernel, stride = _triple(module.kernel_size), _triple(module.stride)
    pads: list[int] = []
    for n, k, s in reversed(list(zip(x.shape[2:], kernel, stride))):  # F.pad: the last dim first
        total = max((math.ceil(n / s) - 1) * s + k - n, 0)
        pads += [total // 2, total - total // 2]
    if not any(pads):
        return inputs
    value = float("-inf") if isinstance(module, nn.MaxPool3d) else 0.0
    return (F.pad(x, pads, value=value),)
