"""Search efficiency on the shipped benchmark table: the ratio table of `vidnas bench replay`.

    python bench/bench_replay.py [--table bench/tables/demo_cpu.parquet] [--seeds 20] [--workers 4]

Every strategy of `vidnas bench replay` (random, TPE, NSGA-II and GP samplers with and without
MO-ASHA and warm starts, Ray's single-objective ASHA, and Syne Tune's MOASHA and random search
when installed) replayed in simulated time against the table. Prints, per strategy, the simulated
compute to reach 95% of the full grid's hypervolume (median over seeds, x the grid's compute) and
its ratio to random search. Replays already in docs/bench/TABLE/runs.jsonl are reused.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))

from search.cli import main  # noqa: E402

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", type=Path, default=ROOT / "bench" / "tables" / "demo_cpu.parquet")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--workers", type=int, default=4)
    args, rest = parser.parse_known_args()
    if not args.table.is_file():
        sys.exit(f"{args.table}: no such table; build it with `vidnas bench build configs/bench/demo_cpu.yaml`")
    sys.exit(main(["bench", "replay", str(args.table), "--seeds", str(args.seeds), "--workers", str(args.workers),
                   "--out", str(ROOT / "docs" / "bench" / args.table.stem), *rest]))
