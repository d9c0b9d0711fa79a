"""A benchmark build with Ray started once for all its pieces, against Ray started for each piece
(as before 2026-12-06), side by side in one run.

    python bench/bench_ray_once.py [--store DIR] [--size tiny]

Each arm builds the same small table (3 Inception points, 2 epochs, pieces of 2: seed 0 in two
pieces, seed 1 in one, the front's points at seed 2) from scratch. Prints each arm's wall time,
how many times Ray started, and the ratio. The per-piece arm is the shipped build with its
`ray_running` block made a no-op, so that each piece's search starts and stops its own Ray.
"""
from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from pathlib import Path

import yaml

from common import store_or_synth


def _build(store: Path, root: Path, *, once: bool) -> tuple[float, int]:
    import ray

    from search.cli.main import main
    from search.tabular import build as build_module

    cfg = {"name": "mini", "data": str(store), "storage": str(root / "runs"), "out": str(root / "tables"),
           "epochs": 2, "noise_every": 2, "front_seed": 2, "piece": 2, "concurrency": 2, "optim": {"batch_size": 32},
           "backbones": {"inception_v1": {"layouts": ["2d", "bottom1", "3d"], "temporal_ops": ["separable"]}}}
    root.mkdir(parents=True)
    (root / "mini.yaml").write_text(yaml.safe_dump(cfg))
    starts, init = [], ray.init

    def counted(*args, **kwargs):
        starts.append(1)
        return init(*args, **kwargs)

    shipped = build_module.ray_running
    ray.init = counted
    if not once:
        build_module.ray_running = lambda *args, **kwargs: contextlib.nullcontext()
    try:
        began = time.perf_counter()
        if main(["bench", "build", str(root / "mini.yaml"), "--cpus", "2"]) != 0:
            sys.exit(f"the build in {root} failed")
        return time.perf_counter() - began, len(starts)
    finally:
        ray.init, build_module.ray_running = init, shipped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, help="a clip store (default: generate the tiny size)")
    parser.add_argument("--size", default="tiny", help="the built-in benchmark's size when no --store")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = store_or_synth(args.store, tmp, size=args.size)
        per_piece, per_piece_starts = _build(store, Path(tmp) / "per-piece", once=False)
        once, once_starts = _build(store, Path(tmp) / "once", once=True)
    print(f"Ray per piece: {per_piece:6.1f} s wall, Ray started {per_piece_starts} times")
    print(f"Ray once:      {once:6.1f} s wall, Ray started {once_starts} time(s)")
    print(f"ratio once / per piece: {once / per_piece:.2f}")


if __name__ == "__main__":
    main()
