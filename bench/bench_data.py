"""Is the loader ever the bottleneck? Loader clips/s (1 and 2 reader processes) against the
training consumption of a demo-sized model, measured side by side in one run; plus the storage
choice itself: random reads from the memory-mapped Arrow IPC store against Parquet.

    python bench/bench_data.py [--store DIR] [--batches 60]

Prints clips/s and the ratio loader / training (target >= 10x).
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch

from common import store_or_synth
from search.data.loader import ClipDataset, make_loader
from search.data.store import ClipStore
from search.trial.loop import OptimConfig, make_optimizer
from spaces import build, cost, get_preset


def loader_rate(store: ClipStore, *, workers: int, batches: int, train: bool) -> float:
    loader = make_loader(ClipDataset(store, "train", train=train), batch_size=32, workers=workers)
    it = iter(loader)
    next(it)  # workers started, first batch in
    start, n = time.perf_counter(), 0
    for _ in range(batches):
        try:
            n += len(next(it).prepare("cpu", channels_last=True))  # what a CPU trial consumes
        except StopIteration:
            loader.sampler.set_epoch(loader.sampler.epoch + 1)
            it = iter(loader)
    return n / (time.perf_counter() - start)


def training_rate(store: ClipStore, name: str, width: float, depth: float, steps: int = 8) -> tuple[float, float]:
    meta = store.meta
    spec = get_preset(name, frames=meta.frames, crop=meta.height, num_classes=len(meta.classes))
    spec = spec.scaled(width=width, depth=depth)
    model = build(spec).to(memory_format=torch.channels_last_3d).train()
    optimizer = make_optimizer(model, OptimConfig())
    clips = torch.randn(32, 3, meta.frames, meta.height, meta.width).contiguous(memory_format=torch.channels_last_3d)
    labels = torch.randint(0, len(meta.classes), (32,))
    for i in range(steps + 2):
        if i == 2:
            start = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(model(clips), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return 32 * steps / (time.perf_counter() - start), cost(spec).gmacs


def random_reads(store: ClipStore, tmp: Path, n: int = 2000) -> tuple[float, float]:
    """clips/s of random single-clip reads: the Arrow IPC map vs the same table in Parquet."""
    table = store._split("train").table
    pq.write_table(table, tmp / "train.parquet", row_group_size=256)
    rows = np.random.default_rng(0).integers(0, table.num_rows, n)
    start = time.perf_counter()
    for r in rows:
        store.clip("train", int(r)).sum()
    arrow = n / (time.perf_counter() - start)
    parquet = pq.ParquetFile(tmp / "train.parquet")
    m = max(20, n // 50)
    start = time.perf_counter()
    for r in rows[:m]:
        group = int(r) // 256
        parquet.read_row_group(group, columns=["clip"]).column(0)[int(r) % 256].values.to_numpy().sum()
    return arrow, m / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, help="an existing store (default: generate the demo size)")
    parser.add_argument("--batches", type=int, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = ClipStore.open(store_or_synth(args.store, tmp))
        meta = store.meta
        print(f"store {meta.name}: clips of {meta.frames}x{meta.height}x{meta.width}x3 uint8, batch 32, "
              f"torch threads {torch.get_num_threads()}")
        arrow, parquet = random_reads(store, Path(tmp))
        print(f"random single-clip reads: Arrow IPC memory map {arrow:,.0f} clips/s, Parquet "
              f"{parquet:,.0f} clips/s ({arrow / parquet:.0f}x)")
        rates = {}
        for workers in (0, 1, 2):
            for train in (False, True):
                rates[workers, train] = loader_rate(store, workers=workers, batches=args.batches, train=train)
        print(f"\n{'loader':<34} {'eval (no aug)':>14} {'train (aug)':>12}")
        for workers, label in ((0, "in the training process"), (1, "1 reader process"), (2, "2 reader processes")):
            print(f"{label:<34} {rates[workers, False]:>14,.0f} {rates[workers, True]:>12,.0f}")
        print(f"\n{'demo-sized model (train step)':<34} {'GMACs':>7} {'clips/s':>8} {'loader/train, 2 readers':>24}")
        for name, width, depth in (("i2d", 0.25, 0.5), ("s3d", 0.25, 0.5), ("tsn_r50", 0.25, 0.34),
                                   ("vov3d_m", 0.5, 0.5)):
            speed, gmacs = training_rate(store, name, width, depth)
            print(f"{f'{name} (w{width}, d{depth})':<34} {gmacs:>7.4f} {speed:>8.0f} "
                  f"{rates[2, True] / speed:>23.1f}x")


if __name__ == "__main__":
    main()
