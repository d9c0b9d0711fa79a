from __future__ import annotations

import pytest
import torch
from torch import nn

from spaces import build, cost, get_preset, measure_latency


def test_gmacs_are_multiply_adds_of_one_clip() -> None:
    """A VoV3D-M clip: FlopCounterMode's FLOPs are twice our GMACs; batch 2 costs twice batch 1."""
    from torch.utils.flop_counter import FlopCounterMode
    spec = get_preset("vov3d_m", frames=4, crop=32, num_classes=10)
    model = build(spec).eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.randn(2, 3, 4, 32, 32))
    c = cost(spec)
    assert counter.get_total_flops() == pytest.approx(2 * 2 * c.gmacs * 1e9, rel=1e-9)
    assert c.gflops == 2 * c.gmacs
    assert c.params == sum(p.numel() for p in model.parameters())


def test_cost_of_a_known_net_by_hand() -> None:
    """TSN-R50 at 1 frame of 224: torchvision's ResNet-50 counts, 4.09 GMACs and 25.557M params at
    1000 classes."""
    c = cost(get_preset("tsn_r50", frames=1, num_classes=1000))
    assert c.params == 25_557_032
    assert c.gmacs == pytest.approx(4.0879, rel=1e-3)


def test_cost_scales_with_frames_for_a_per_frame_net() -> None:
    one, eight = cost(get_preset("tsn_r50", frames=1)), cost(get_preset("tsn_r50", frames=8))
    head = 2048 * 400 / 1e9
    assert eight.gmacs - head == pytest.approx(8 * (one.gmacs - head), rel=1e-9)


def test_measure_latency_reports_forward_and_backward() -> None:
    model = build(get_preset("tsn_r50", frames=2, crop=32, num_classes=4).scaled(width=0.25, depth=0.34))
    lat = measure_latency(model, frames=2, crop=32, batch=2, warmup=1, repeats=3)
    assert lat.forward_ms > 0 and lat.forward_backward_ms > 0
    assert lat.batch == 2 and lat.device == "cpu" and lat.dtype == "float32"
    assert lat.clips_per_s() == pytest.approx(2000 / lat.forward_ms)
    assert all(p.grad is None for p in model.parameters())  # leaves no gradients behind
    bf16 = measure_latency(model, frames=2, crop=32, dtype=torch.bfloat16, channels_last=True, warmup=1, repeats=2)
    assert bf16.dtype == "bfloat16" and bf16.forward_ms > 0


def test_cost_is_cached_per_spec() -> None:
    spec = get_preset("i2d", frames=16, crop=64)
    assert cost(spec) is cost(get_preset("i2d", frames=16, crop=64))
    assert isinstance(build(spec), nn.Module)
