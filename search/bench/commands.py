"""`vidnas bench build | replay`: a tabulated benchmark of the space, and search strategies
replayed against it in simulated time. Heavy imports happen inside the commands."""
from __future__ import annotations

import argparse
from pathlib import Path

from search.commands import EXIT_INTERRUPTED


def add_build(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", type=Path, help="a benchmark config (YAML), e.g. configs/bench/demo_cpu.yaml")
    p.add_argument("--cpus", type=int, help="CPUs for the local Ray (default: all)")
    p.add_argument("--verbose", type=int, default=0, choices=[0, 1, 2], help="Tune's progress output")


def run_build(args: argparse.Namespace) -> int:
    from search.bench.build import build
    from search.bench.config import BenchConfig

    cfg = BenchConfig.from_yaml(args.config)
    path = build(cfg, num_cpus=args.cpus, verbose=args.verbose)
    if path is None:
        print(f"interrupted: run `vidnas bench build {args.config}` again to go on")
        return EXIT_INTERRUPTED
    from search.bench.table import Table

    table = Table.read(path)
    print(f"table: {path} ({len(table.points)} points, {table.epochs} epochs, seeds {table.seeds}; "
          f"wall time {sum(table.provenance['wall_seconds'].values()) / 60:.1f} min on {table.provenance['device']})")
    return 0
