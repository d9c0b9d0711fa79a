"""Conv forms and memory formats, measured side by side in one run.

For each temporal form of a spatio-temporal conv (and for a few scaled presets): GMACs (counted)
against measured latency, in the default (NCDHW) and `channels_last_3d` memory formats. Prints
ratios, so the figures mean something on a shared, noisy machine: compare rows of one run, not
runs of different days.

    python bench/bench_convs.py [--device cpu|cuda] [--dtype float32|bfloat16] [--repeats 5]
"""
from __future__ import annotations

import argparse

import torch
from torch import nn

from spaces import build, cost, get_preset, measure_latency
from spaces.blocks import ConvUnit
from spaces.spec import TemporalOp


def conv_rows(args: argparse.Namespace) -> None:
    c, t, hw = 96, 16, 28
    print(f"\nOne conv unit (conv -> BN), {c} -> {c} channels, input {args.batch} x {c} x {t} x {hw} x {hw}, "
          f"k=3, kt=3, {args.device}, {args.dtype}")
    print(f"{'form':<11} {'GMACs':>7} {'fwd ms':>8} {'fwd ms CL':>10} {'CL speed-up':>11} "
          f"{'ms per GMAC':>11} {'vs 3d':>6}")
    rows = {}
    for op in TemporalOp:
        unit = ConvUnit(in_channels=c, out_channels=c, temporal_op=op, kernel=3,
                        temporal_kernel=1 if op is TemporalOp.TWO_D else 3)
        gmacs = _gmacs(unit, (1, c, t, hw, hw))
        plain = _latency(unit, (c, t, hw, hw), args, channels_last=False)
        last = _latency(unit, (c, t, hw, hw), args, channels_last=True)
        rows[op] = (gmacs, plain, last, min(plain, last))
    base_ms = rows[TemporalOp.THREE_D][3]
    for op, (gmacs, plain, last, best) in rows.items():
        print(f"{op.value:<11} {gmacs:>7.3f} {plain:>8.2f} {last:>10.2f} {plain / last:>10.2f}x "
              f"{best / (gmacs * args.batch):>11.1f} {best / base_ms:>5.2f}x")


def preset_rows(args: argparse.Namespace) -> None:
    frames, crop = 16, 112
    print(f"\nScaled presets (width 0.5), {frames} x {crop}, batch {args.batch}, {args.device}, {args.dtype}")
    print(f"{'preset':<14} {'params':>10} {'GMACs':>7} {'fwd ms':>8} {'fwd ms CL':>10} {'CL speed-up':>11} "
          f"{'fwd+bwd ms':>11} {'ms per GMAC':>11}")
    for name in ("i3d", "s3d", "s3d_g", "i2d", "vov3d_m", "tsn_r50", "smallbig_r50"):
        spec = get_preset(name, frames=frames, crop=crop).scaled(width=0.5)
        model = build(spec)
        plain = measure_latency(model, frames=frames, crop=crop, batch=args.batch, device=args.device,
                                dtype=args.torch_dtype, warmup=1, repeats=args.repeats)
        last = measure_latency(model, frames=frames, crop=crop, batch=args.batch, device=args.device,
                               dtype=args.torch_dtype, channels_last=True, warmup=1, repeats=args.repeats)
        c = cost(spec)
        best = min(plain.forward_ms, last.forward_ms)
        print(f"{name:<14} {c.params:>10,} {c.gmacs:>7.3f} {plain.forward_ms:>8.1f} {last.forward_ms:>10.1f} "
              f"{plain.forward_ms / last.forward_ms:>10.2f}x {min(plain.forward_backward_ms, last.forward_backward_ms):>11.1f} "
              f"{best / (c.gmacs * args.batch):>11.1f}")


def _gmacs(module: nn.Module, shape: tuple[int, ...]) -> float:
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        module.eval()(torch.randn(shape))
    return counter.get_total_flops() / 2e9


def _latency(module: nn.Module, shape: tuple[int, ...], args: argparse.Namespace, *, channels_last: bool) -> float:
    import statistics
    import time
    device = torch.device(args.device)
    fmt = torch.channels_last_3d if channels_last else torch.contiguous_format
    module = module.to(device=device, memory_format=fmt).eval()
    x = torch.randn(args.batch, *shape, device=device).contiguous(memory_format=fmt)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    times = []
    with torch.no_grad(), torch.autocast(device.type, dtype=args.torch_dtype, enabled=args.dtype != "float32"):
        for i in range(args.repeats + 1):
            sync()
            start = time.perf_counter()
            module(x)
            sync()
            if i:
                times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    args.torch_dtype = getattr(torch, args.dtype)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}; GMACs = multiply-adds / 1e9 per clip; "
          "CL = channels_last_3d; ms are medians")
    conv_rows(args)
    preset_rows(args)


if __name__ == "__main__":
    main()
