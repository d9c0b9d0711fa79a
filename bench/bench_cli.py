"""How fast the command line answers: `vidnas --help` and `vidnas presets --names-only` against
importing what a search needs (Ray, torch, MLflow, Optuna), in fresh processes, side by side.

    python bench/bench_cli.py [--repeats 5]

Prints the median wall seconds of each and its ratio to the heavy import.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).parents[1]
CASES = {
    "vidnas --help": [sys.executable, "-m", "search.cli.main", "--help"],
    "vidnas presets --names-only": [sys.executable, "-m", "search.cli.main", "presets", "--names-only"],
    "import ray, torch, mlflow, optuna": [sys.executable, "-c", "import ray, torch, mlflow, optuna"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(args.repeats):  # interleaved, so that machine load affects each case alike
        for name, argv in CASES.items():
            began = time.perf_counter()
            subprocess.run(argv, cwd=ROOT, check=True, capture_output=True)
            times[name].append(time.perf_counter() - began)
    heavy = statistics.median(times["import ray, torch, mlflow, optuna"])
    print(f"{'command':<36} {'median s':>9} {'x heavy import':>15}   ({args.repeats} fresh processes each)")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<36} {median:>9.2f} {median / heavy:>15.2f}")


if __name__ == "__main__":
    main()
