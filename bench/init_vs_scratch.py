"""Two searches over the same space, one started from given weights (`init:`) and one from
scratch: their test top-1 on the architectures both drew, side by side.

    python bench/init_vs_scratch.py results/demo-init RESULTS/demo-scratch

(`make demo-init`, then `configs/demo_init.yaml` without its `init:` section, another name.) The
points are what the samplers drew, never chosen on either split; test only reports here."""
from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from search.record.results import read_results


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("init", type=Path, help="the search started from given weights")
    p.add_argument("scratch", type=Path, help="the same search from scratch")
    args = p.parse_args()
    a = {r["slug"]: r for r in read_results(args.init) if r["state"] == "complete"}
    b = {r["slug"]: r for r in read_results(args.scratch) if r["state"] == "complete"}
    common = [s for s in a if s in b]
    if not common:
        p.error("the two searches drew no architecture in common")
    for split in ("val", "test"):
        x, y = [a[s][f"{split}_top1"] for s in common], [b[s][f"{split}_top1"] for s in common]
        print(f"{split} top-1 on the {len(common)} architectures both drew: from init {min(x):.3f}-{max(x):.3f} "
              f"(median {statistics.median(x):.3f}), from scratch {min(y):.3f}-{max(y):.3f} (median "
              f"{statistics.median(y):.3f}); init higher on {sum(i > j for i, j in zip(x, y))} of {len(common)}")


if __name__ == "__main__":
    main()
