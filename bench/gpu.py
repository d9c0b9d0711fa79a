"""How busy vidnas keeps a GPU: its own training loop (`search.trial.loop.train_epoch`, the loop a trial
runs), measured on one device.

    python bench/gpu.py [--out gpu.json]      # one GPU, about 6 minutes
    python bench/gpu.py --smoke               # a CPU, seconds: the same code paths at toy sizes

1. Training clips/s per preset and batch size (bf16 autocast, channels_last_3d, fused AdamW),
   and the fraction of the device's bf16 peak that the counted work reaches: forward GMACs per
   clip (multiply-adds, `torch.utils.flop_counter`) x 3 for forward+backward x 2 FLOPs per MAC.
2. Packing: 1, 2, 4 and 8 demo-scale trials (processes) on one GPU, each with its memory cap and
   the shared-device lock a packed trial holds: aggregate clips/s, and its ratio to one alone.
3. The loader into the device: clips/s read from a clip store, cropped, resized and copied.
4. Latency noise: forward latency (CUDA events, training dtype) measured repeatedly, alone, next
   to a training neighbour, and next to it inside the exclusive phase: median and spread.

Imports only torch-level modules (`spaces`, `search.trial.loop`, `search.data`, `search.trial.device`): the
GPU machine has torch and pyarrow, not Ray, Optuna or MLflow. Prints the tables and writes JSON.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import torch
import torch.multiprocessing as mp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from search.data.loader import ClipDataset, RawBatch, make_loader  # noqa: E402
from search.data.store import ClipStore  # noqa: E402
from search.data.synth import write_synth  # noqa: E402
from search.trial.device import DeviceLock, configure_backends, device_batches, memory_fraction  # noqa: E402
from search.trial.loop import OptimConfig, make_optimizer, train_epoch  # noqa: E402
from spaces import ArchSpec, build, cost, get_preset, measure_latency  # noqa: E402

# dense bf16 tensor-core peaks, FLOP/s (vendor data sheets; SXM parts)
PEAKS = {"H200": 989.4e12, "H100": 989.4e12, "A100": 312e12}
FULL = {"throughput": [("s3d", 1.0, 16, 112, b) for b in (32, 64, 128)] + [
            ("i3d", 1.0, 16, 112, 64), ("s3d_g", 1.0, 16, 112, 64), ("vov3d_m", 1.0, 16, 112, 64),
            ("smallbig_r50", 1.0, 8, 112, 64), ("tsn_r50", 1.0, 8, 112, 64)],
        "demo": ("s3d", 0.25, 16, 32, 32), "packing": (1, 2, 4, 8), "seconds": 20.0, "steps": 30,
        "loader": ("demo", 112, 64), "latency": 10}
SMOKE = {"throughput": [("s3d", 0.125, 16, 32, 4), ("vov3d_m", 0.125, 16, 32, 4)],
         "demo": ("s3d", 0.125, 16, 32, 4), "packing": (1, 2), "seconds": 2.0, "steps": 3,
         "loader": ("tiny", 32, 16), "latency": 3}


def spec_of(preset: str, width: float, frames: int, crop: int) -> ArchSpec:
    spec = get_preset(preset, frames=frames, crop=crop, num_classes=400)
    return spec if width == 1.0 else spec.scaled(width=width, depth=1.0)


def resident_batches(spec: ArchSpec, batch: int, device: torch.device, *, steps: int | None = None,
                     until: float | None = None) -> Iterator[RawBatch]:
    """One uint8 batch already on the device, uncropped, yielded `steps` times or until `until`
    (monotonic seconds): the training loop's compute without the loader."""
    clips = torch.randint(0, 256, (batch, spec.frames, spec.crop, spec.crop, 3), dtype=torch.uint8, device=device)
    labels = torch.randint(0, spec.num_classes, (batch,), device=device)
    raw = RawBatch(clips, labels, torch.zeros_like(labels), torch.tensor([[0.0, 0.0, spec.crop, spec.crop]] * batch),
                   torch.zeros(batch, dtype=torch.bool), spec.crop)
    n = 0
    while (steps is None or n < steps) and (until is None or time.monotonic() < until):
        n += 1
        yield raw


def train_setup(spec: ArchSpec, batch: int, device: torch.device) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    model = build(spec).to(device=device, memory_format=torch.channels_last_3d)
    return model, make_optimizer(model, OptimConfig(batch_size=batch), fused=device.type == "cuda")


def demo_trainer(plan: dict, device: torch.device) -> tuple[ArchSpec, int, torch.nn.Module, torch.optim.Optimizer]:
    """The demo-scale trial that packing and the latency neighbour train: spec, batch, model, optimizer."""
    preset, width, frames, crop, batch = plan["demo"]
    spec = spec_of(preset, width, frames, crop)
    return (spec, batch, *train_setup(spec, batch, device))


def amp(device: torch.device) -> torch.dtype | None:
    return torch.bfloat16 if device.type == "cuda" else None


def throughput(plan: dict, device: torch.device, peak: float | None) -> list[dict]:
    rows = []
    for preset, width, frames, crop, batch in plan["throughput"]:
        spec = spec_of(preset, width, frames, crop)
        model, opt = train_setup(spec, batch, device)
        run = lambda steps: train_epoch(model, resident_batches(spec, batch, device, steps=steps), opt, None,  # noqa: E731
                                        device=device, amp_dtype=amp(device), channels_last=True)
        run(max(3, plan["steps"] // 3))  # warm-up: cuDNN autotuning, allocator
        clips_s = run(plan["steps"])["train_clips_per_s"]
        gmacs = cost(spec).gmacs
        flops = clips_s * gmacs * 1e9 * 3 * 2
        rows.append({"preset": preset, "width": width, "frames": frames, "crop": crop, "batch": batch,
                     "gmacs_per_clip": gmacs, "clips_per_s": clips_s, "tflops_counted": flops / 1e12,
                     "peak_fraction": flops / peak if peak else None})
        del model, opt
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return rows


def _packed_trial(rank: int, n: int, plan: dict, device_name: str, start: mp.Barrier, out: mp.Queue) -> None:
    device = torch.device(device_name)
    configure_backends(device)
    if device.type == "cuda" and n > 1:
        torch.cuda.set_per_process_memory_fraction(
            memory_fraction(1 / n, torch.cuda.get_device_properties(device).total_memory), device)
    if device.type == "cpu":
        torch.set_num_threads(1)  # a CPU trial's one core
    spec, batch, model, opt = demo_trainer(plan, device)
    lock = DeviceLock.for_device(device) if n > 1 else None
    guard = lock.shared if lock else None
    train_epoch(model, resident_batches(spec, batch, device, steps=3), opt, None, device=device,
                amp_dtype=amp(device), channels_last=True, step_guard=guard)  # warm-up
    start.wait()
    until = time.monotonic() + plan["seconds"]
    fit = train_epoch(model, resident_batches(spec, batch, device, until=until), opt, None, device=device,
                      amp_dtype=amp(device), channels_last=True, step_guard=guard)
    out.put((rank, fit["train_clips_per_s"]))


def packing(plan: dict, device: torch.device) -> list[dict]:
    ctx = mp.get_context("spawn")
    rows = []
    for n in plan["packing"]:
        start, out = ctx.Barrier(n), ctx.Queue()
        procs = [ctx.Process(target=_packed_trial, args=(i, n, plan, str(device), start, out)) for i in range(n)]
        for p in procs:
            p.start()
        rates = [out.get(timeout=600)[1] for _ in procs]
        for p in procs:
            p.join(60)
        rows.append({"trials": n, "aggregate_clips_per_s": sum(rates), "per_trial": rates})
    alone = rows[0]["aggregate_clips_per_s"]
    for row in rows:
        row["x_alone"] = row["aggregate_clips_per_s"] / alone
    return rows


def loader(plan: dict, device: torch.device, tmp: str) -> list[dict]:
    size, crop, batch = plan["loader"]
    root = Path(tmp) / f"synth-{size}"
    write_synth(root, size_name=size, seed=0, progress=False)
    store = ClipStore.open(str(root))
    rows = []
    for workers in (0, 4) if device.type == "cuda" else (0,):
        data = make_loader(ClipDataset(store, "train", train=True, crop=crop, frames=16), batch_size=batch,
                           workers=workers)
        for _ in device_batches(data, device, channels_last=True):  # warm-up: workers start, pages cached
            pass
        began, count = time.perf_counter(), 0
        for b in device_batches(data, device, channels_last=True):
            count += len(b)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        rows.append({"workers": workers, "crop": crop, "batch": batch,
                     "clips_per_s": count / (time.perf_counter() - began)})
    return rows


def _neighbour(plan: dict, device_name: str, ready: mp.Event, stop: mp.Event, locked: bool) -> None:
    device = torch.device(device_name)
    configure_backends(device)
    if device.type == "cpu":
        torch.set_num_threads(1)
    spec, batch, model, opt = demo_trainer(plan, device)
    lock = DeviceLock.for_device(device) or DeviceLock("cpu-bench")
    guard = lock.shared if locked else None

    def forever() -> Iterator[RawBatch]:
        for raw in resident_batches(spec, batch, device):
            ready.set()
            if stop.is_set():
                return
            yield raw
    train_epoch(model, forever(), opt, None, device=device, amp_dtype=amp(device), channels_last=True,
                step_guard=guard, check_every=10**9)


def latency(plan: dict, device: torch.device) -> list[dict]:
    preset, width, frames, crop, _ = plan["demo"]
    spec = spec_of(preset, width, frames, crop)
    model = build(spec).to(device=device, memory_format=torch.channels_last_3d)
    lock = DeviceLock.for_device(device) or DeviceLock("cpu-bench")
    ctx, rows = mp.get_context("spawn"), []
    for case in ("alone", "next to a training trial", "next to it, exclusive phase"):
        ready, stop = ctx.Event(), ctx.Event()
        proc = None
        if case != "alone":
            proc = ctx.Process(target=_neighbour, args=(plan, str(device), ready, stop, "exclusive" in case))
            proc.start()
            ready.wait(600)
        times = []
        for _ in range(plan["latency"]):
            with lock.exclusive() if "exclusive" in case else contextlib.nullcontext():
                times.append(measure_latency(model, frames=spec.frames, crop=spec.crop, device=device,
                                             dtype=amp(device) or torch.float32, channels_last=True, warmup=5,
                                             repeats=10, backward=False).forward_ms)
        if proc is not None:
            stop.set()
            proc.join(120)
        rows.append({"case": case, "median_ms": statistics.median(times), "min_ms": min(times), "max_ms": max(times),
                     "cv": statistics.pstdev(times) / statistics.mean(times)})
    return rows


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="toy sizes, seconds; a CPU is enough")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--peak-tflops", type=float, help="the device's dense bf16 peak (default: by its name)")
    parser.add_argument("--out", type=Path, help="write the figures as JSON")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    plan = SMOKE if args.smoke else FULL
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    peak = args.peak_tflops * 1e12 if args.peak_tflops else next((v for k, v in PEAKS.items() if k in name), None)
    configure_backends(device)
    if device.type == "cpu":
        torch.set_num_threads(1)  # as a CPU trial runs (cpus_per_trial 1), and as its neighbours do
    torch.manual_seed(0)
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        result = {"device": name, "torch": torch.__version__, "smoke": args.smoke,
                  "peak_bf16_tflops": peak / 1e12 if peak else None,
                  "throughput": throughput(plan, device, peak), "packing": packing(plan, device),
                  "loader": loader(plan, device, tmp), "latency": latency(plan, device)}
    result["seconds"] = time.perf_counter() - began
    report(result)
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))
    return result


def report(r: dict) -> None:
    print(f"device: {r['device']}, torch {r['torch']}, bf16 peak "
          f"{r['peak_bf16_tflops'] or 'unknown'} TFLOP/s{' (smoke sizes)' if r['smoke'] else ''}")
    print(f"\n{'preset':<14}{'width':>6}{'TxHW':>9}{'batch':>6}{'GMACs/clip':>11}{'clips/s':>10}"
          f"{'TFLOP/s':>9}{'of peak':>9}   (counted: fwd GMACs x 3 x 2)")
    for t in r["throughput"]:
        frac = f"{t['peak_fraction']:.1%}" if t["peak_fraction"] is not None else "-"
        print(f"{t['preset']:<14}{t['width']:>6g}{t['frames']:>4}x{t['crop']:<4}{t['batch']:>6}"
              f"{t['gmacs_per_clip']:>11.3f}{t['clips_per_s']:>10.1f}{t['tflops_counted']:>9.2f}{frac:>9}")
    print(f"\n{'trials on one device':<22}{'clips/s':>10}{'x alone':>9}")
    for p in r["packing"]:
        print(f"{p['trials']:<22}{p['aggregate_clips_per_s']:>10.1f}{p['x_alone']:>9.2f}")
    print(f"\n{'loader workers':<22}{'clips/s':>10}")
    for x in r["loader"]:
        print(f"{x['workers']:<22}{x['clips_per_s']:>10.1f}")
    print(f"\n{'latency':<30}{'median ms':>10}{'min':>8}{'max':>8}{'CV':>7}")
    for x in r["latency"]:
        print(f"{x['case']:<30}{x['median_ms']:>10.3f}{x['min_ms']:>8.3f}{x['max_ms']:>8.3f}{x['cv']:>7.1%}")
    print(f"\n{r['seconds']:.0f} s")


if __name__ == "__main__":
    main()
