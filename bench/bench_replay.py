"""Search efficiency on the shipped benchmark table: the ratio tables of `vidnas bench replay`.

    python bench/bench_replay.py [--table bench/tables/demo_cpu.parquet] [--seeds 20] [--workers 4] [--jobs 2]

1. Selection: every strategy of `vidnas bench replay` (random, TPE, NSGA-II and GP samplers with
   and without MO-ASHA and warm starts, the candidates for the search's defaults, Ray's
   single-objective ASHA, and Syne Tune's MOASHA and random search when installed) replayed on
   seeds 0..N-1 in simulated time against the table -> docs/bench/TABLE/. The rule fixed before
   the replays (search.tabular.figures.choose_default) picks the defaults from these.
2. Confirmation: the pick, the former defaults, random search and the peer replayed again on
   fresh seeds N..2N-1, for twice the grid's compute -> docs/bench/TABLE/confirm/. These are the
   figures the README reports: what selected the defaults does not also report them.

Each prints, per strategy, the simulated compute to reach 95% of the full grid's hypervolume
(median over seeds, x the grid's compute) and its ratio to random search, with a bootstrap 95%
interval. Replays already in the output's runs.jsonl are reused (the run resumes).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))

from search.cli.main import main  # noqa: E402

FORMER_DEFAULT = "tpe/moasha/eta=3/min=2/startup=10"  # the search's defaults before these replays
# the peer's MOASHA is corrected (search.tabular.peer), at its own rungs and at ours
CONTRASTS = ("uniform/fifo", "random/fifo", "peer:moasha", "peer:moasha/min=2", "peer:moasha/eta=2/min=2", "peer:random")
# the confirmation runs twice the grid's compute, so that uniform random search (the ratios' denominator)
# reaches the target in (nearly) every seed; the compute to reach it does not depend on the budget
CONFIRM_BUDGET = 2.0

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", type=Path, default=ROOT / "bench" / "tables" / "demo_cpu.parquet")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args()
    if not args.table.is_file():
        sys.exit(f"{args.table}: no such table; build it with `vidnas bench build configs/bench/demo_cpu.yaml`")
    out = ROOT / "docs" / "bench" / args.table.stem
    common = ["--workers", str(args.workers), "--jobs", str(args.jobs), "--seeds", str(args.seeds)]
    print("## Selection: every strategy, seeds 0..%d" % (args.seeds - 1))
    if code := main(["bench", "replay", str(args.table), *common, "--out", str(out)]):
        sys.exit(code)
    chosen = json.loads((out / "summary.json").read_text())["chosen"]
    if chosen is None:
        sys.exit("no strategy reached 95% of the grid's hypervolume in more than half its seeds: nothing to confirm")
    from search.tabular.replay import canonical

    confirm: list[str] = []
    for entry in (chosen, FORMER_DEFAULT, "tpe/moasha", *CONTRASTS):  # each once: the pick may be a default
        if canonical(entry) not in map(canonical, confirm):
            confirm.append(entry)
    print(f"\n## Confirmation on fresh seeds {args.seeds}..{2 * args.seeds - 1}: the pick ({chosen}), "
          f"the former defaults, the search's defaults now, random search and the peer")
    sys.exit(main(["bench", "replay", str(args.table), *common, "--first-seed", str(args.seeds),
                   "--budget", str(CONFIRM_BUDGET),
                   "--strategies", ",".join(confirm), "--out", str(out / "confirm")]))
