"""Search overhead: the wall time of a real search against the time its trials spent, in one run.

    python bench/bench_search.py [--trials 4] [--epochs 2] [--store DIR]

Prints wall time, the sum of the trials' training time (epochs only) and of their whole time in
Tune (model build, evaluation, checkpoints, MLflow), and the ratios:
  scheduling overhead = trial span / ideal span                  (goal <= 1.05)
      trial span: first trial start to last trial end; ideal: max(sum of trial time / concurrency,
      the longest trial), what perfect packing of these trials would take
  start-up and wrap-up = wall - trial span (Ray, MLflow store, results, plots)
  in-trial overhead = sum of trial time / sum of training time
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import store_or_synth
from search.engine.config import SearchConfig
from search.engine.tuner import run_search


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, help="a clip store (default: generate the demo size)")
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = store_or_synth(args.store, tmp)
        cfg = SearchConfig.from_dict({
            "name": "overhead", "data": str(store), "storage": str(Path(tmp) / "results"), "trials": args.trials,
            "epochs": args.epochs, "early_stopping": False, "concurrency": args.concurrency, "sampler": "random",
            "space": {"frames": [16], "crop": 32, "widths": [0.125, 0.25], "depths": [0.34, 0.5],
                      "backbones": ["inception_v1", "resnet50"], "families": ["inception", "resnet"],
                      "temporal_kernels": [3], "max_gmacs": 0.06}})
        start = time.perf_counter()
        outcome = run_search(cfg, num_cpus=args.concurrency, verbose=0)
        wall = time.perf_counter() - start
    rows = [r for r in outcome.rows if r["state"] == "complete"]
    train = sum(r["train_seconds"] for r in rows)
    trial = sum(r["time_total_s"] for r in rows)
    ideal = max(trial / args.concurrency, max(r["time_total_s"] for r in rows))
    span = max(r["timestamp"] for r in rows) - min(r["timestamp"] - r["time_total_s"] for r in rows)
    print(f"{len(rows)} trials x {args.epochs} epochs, concurrency {args.concurrency}, demo store")
    print(f"wall time                      {wall:7.1f} s")
    print(f"trial span (first start, last end) {span:5.1f} s   ideal packing {ideal:.1f} s")
    print(f"sum of trial time in Tune      {trial:7.1f} s")
    print(f"sum of training time           {train:7.1f} s")
    print(f"scheduling overhead  span / ideal             = {span / ideal:.3f}")
    print(f"start-up and wrap-up wall - span              = {wall - span:.1f} s")
    print(f"in-trial overhead    trial time / training time = {trial / train:.3f}")


if __name__ == "__main__":
    main()
