"""Does time matter on the built-in benchmark? Train scaled presets side by side and report
accuracy per class group: a frame-order-blind model is at 50% within pairs, a temporal one is not.

    python bench/synth_gap.py [--size demo] [--epochs 12] [--presets tsn_r50 i2d s3d ...]

Prints one row per preset: params, GMACs (multiply-adds / 1e9 per clip), training clips/s, and
validation top-1, appearance accuracy and within-pair accuracy.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from common import store_or_synth
from search.data.loader import ClipDataset, make_loader
from search.data.store import ClipStore
from search.trial.loop import OptimConfig, evaluate, make_optimizer, make_scheduler, train_epoch
from spaces import build, cost, get_preset

# (preset, width, depth): demo-sized copies, their 3D convs, gates and big views where the papers put them
DEFAULT = [("tsn_r50", 0.25, 0.34), ("i2d", 0.25, 0.5), ("smallbig_r50", 0.25, 0.34), ("s3d", 0.25, 0.5),
           ("i3d", 0.25, 0.5), ("s3d_g", 0.25, 0.5), ("vov3d_m", 0.5, 0.5)]


def run(store: ClipStore, name: str, width: float, depth: float, args: argparse.Namespace) -> dict:
    meta = store.meta
    spec = get_preset(name, frames=meta.frames, crop=meta.height, num_classes=len(meta.classes))
    spec = spec.scaled(width=width, depth=depth)
    torch.manual_seed(args.seed)
    model = build(spec).to(memory_format=torch.channels_last_3d)
    train = make_loader(ClipDataset(store, "train", train=True, seed=args.seed), batch_size=32, seed=args.seed)
    val = make_loader(ClipDataset(store, "val"), batch_size=64)
    cfg = OptimConfig(lr=args.lr, optimizer=args.optimizer)
    optimizer = make_optimizer(model, cfg)
    steps = len(train) * args.epochs
    scheduler = make_scheduler(optimizer, warmup_steps=len(train), total_steps=steps)
    start, speeds = time.perf_counter(), []
    for epoch in range(args.epochs):
        train.sampler.set_epoch(epoch)
        stats = train_epoch(model, train, optimizer, scheduler, device=torch.device("cpu"), channels_last=True)
        speeds.append(stats["train_clips_per_s"])
    metrics = evaluate(model, val, device=torch.device("cpu"), group_names=meta.group_names, pairs=meta.pairs,
                       channels_last=True)
    c = cost(spec)
    return {"preset": f"{name} (w{width}, d{depth})", "params": c.params, "gmacs": c.gmacs,
            "clips_per_s": sum(speeds) / len(speeds), "minutes": (time.perf_counter() - start) / 60, **metrics}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="demo")
    parser.add_argument("--store", type=Path, help="an existing store (default: generate one)")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--optimizer", default="adamw", choices=["adamw", "sgd"])
    parser.add_argument("--lr", type=float, default=0.003, help="peak learning rate at batch 32")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--presets", nargs="*", help="preset names (default: a 2D/temporal panel)")
    args = parser.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    panel = [(n, w, d) for n, w, d in DEFAULT if not args.presets or n in args.presets]
    with tempfile.TemporaryDirectory() as tmp:
        store = ClipStore.open(store_or_synth(args.store, tmp, size=args.size, seed=args.seed))
        print(f"store {store.meta.name}: {store.num_clips('train')} train / {store.num_clips('val')} val clips of "
              f"{store.meta.frames}x{store.meta.height}x{store.meta.width}, {len(store.meta.classes)} classes; "
              f"{args.epochs} epochs, {args.optimizer} lr {args.lr}, batch 32, {torch.get_num_threads()} threads")
        print(f"{'preset':<28} {'params':>9} {'GMACs':>7} {'train clips/s':>13} {'min':>5} {'top1':>6} "
              f"{'appearance':>10} {'within-pair':>11} {'motion':>7} {'order':>6}")
        for name, width, depth in panel:
            r = run(store, name, width, depth, args)
            print(f"{r['preset']:<28} {r['params']:>9,} {r['gmacs']:>7.4f} {r['clips_per_s']:>13.0f} "
                  f"{r['minutes']:>5.1f} {r['top1']:>6.3f} {r.get('acc_appearance', 0):>10.3f} "
                  f"{r.get('within_pair', 0):>11.3f} {r.get('acc_motion', 0):>7.3f} {r.get('acc_order', 0):>6.3f}",
                  flush=True)


if __name__ == "__main__":
    main()
