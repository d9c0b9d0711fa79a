"""Cost of an architecture: parameters and multiply-adds (counted), latency (measured).

Convention: GMACs = multiply-adds / 1e9, what the S3D, VoV3D and SmallBigNet papers call "FLOPs".
`torch.utils.flop_counter.FlopCounterMode` counts 2 FLOPs per multiply-add (convs and matmuls
only), so GMACs = its total / 2e9; GFLOPs = 2 x GMACs.

Example:
    >>> from spaces import cost, get_preset
    >>> c = cost(get_preset("s3d", frames=16))
    >>> round(c.gmacs, 2), c.params
    (17.98, 8320048)
"""
from __future__ import annotations

import functools
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from spaces.build import build
from spaces.spec import ArchSpec


@dataclass(frozen=True)
class Cost:
    params: int  # parameters (count)
    gmacs: float  # multiply-adds / 1e9, batch 1, one clip of the spec's input

    @property
    def gflops(self) -> float:
        return 2 * self.gmacs


@functools.lru_cache(maxsize=4096)
def cost(spec: ArchSpec) -> Cost:
    """Parameters and GMACs of one clip, counted on the meta device (no memory, ~10-100 ms)."""
    with torch.device("meta"):
        model = build(spec).eval()
        clip = torch.empty(1, 3, spec.frames, spec.crop, spec.crop)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(clip)
    params = sum(p.numel() for p in model.parameters())
    return Cost(params=params, gmacs=counter.get_total_flops() / 2e9)


@dataclass(frozen=True)
class Latency:
    forward_ms: float  # median milliseconds per batch, inference (no_grad, eval mode)
    forward_backward_ms: float  # median milliseconds per batch, forward + backward (train mode)
    device: str
    batch: int
    dtype: str

    def clips_per_s(self) -> float:
        return 1000 * self.batch / self.forward_ms


def measure_latency(
    model: nn.Module,
    *,
    frames: int,
    crop: int,
    batch: int = 1,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    channels_last: bool = False,
    warmup: int = 2,
    repeats: int = 5,
    backward: bool = True,
) -> Latency:
    """Median wall time of forward and of forward+backward for a batch of clips.

    Weights stay float32; `dtype` bfloat16/float16 runs under autocast, as training does.
    `channels_last` uses `torch.channels_last_3d` (2-2.6x faster depthwise convs on CPU).
    `backward=False` skips forward+backward (reported as NaN): batch-norm training needs a batch
    of 2 or more where a network ends at 1x1x1.
    """
    device = torch.device(device)
    fmt = torch.channels_last_3d if channels_last else torch.contiguous_format
    model = model.to(device=device, memory_format=fmt)
    clip = torch.randn(batch, 3, frames, crop, crop, device=device).contiguous(memory_format=fmt)
    autocast = torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32)

    def forward() -> None:
        with torch.no_grad(), autocast:
            model(clip)

    def forward_backward() -> None:
        with autocast:
            loss = model(clip).float().sum()
        loss.backward()

    was_training = model.training
    model.eval()
    fwd = _median_ms(forward, device, warmup, repeats)
    model.train()
    fwd_bwd = _median_ms(forward_backward, device, warmup, repeats) if backward else float("nan")
    model.zero_grad(set_to_none=True)
    model.train(was_training)
    return Latency(forward_ms=fwd, forward_backward_ms=fwd_bwd, device=str(device), batch=batch,
                   dtype=str(dtype).removeprefix("torch."))


def _median_ms(fn: Callable[[], None], device: torch.device, warmup: int, repeats: int) -> float:
    """Median of `repeats` timed calls after `warmup` untimed ones: CUDA events on a GPU (device
    time, no host jitter between launches), the wall clock elsewhere."""
    for _ in range(warmup):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        pairs = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(repeats)]
        for begin, end in pairs:
            begin.record()
            fn()
            end.record()
        torch.cuda.synchronize(device)
        return statistics.median(begin.elapsed_time(end) for begin, end in pairs)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)
