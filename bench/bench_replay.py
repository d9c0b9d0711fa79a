"""Search efficiency: the defaults chosen on one benchmark table, confirmed on a held-out one.

    python bench/bench_replay.py [--selection bench/tables/demo_cpu.parquet]
                                 [--held-out bench/tables/temporal_cpu.parquet] [--seeds 20] [--workers 4] [--jobs 2]
                                 [--confirm-only]

1. Selection (docs/bench/SELECTION/): every strategy of `vidnas bench replay` on seeds 0..N-1, for
   the grid's compute. The defaults' rule, fixed before the replays
   (search.tabular.ratios.choose_default), picks the search's defaults on the grid's *validation*
   hypervolume; the same rule picks the corrected peer's best MOASHA settings (choose_peer).
2. Confirmation (docs/bench/HELD_OUT/confirm/): on the held-out table (another store, another
   sub-space), fresh seeds N..2N-1, twice the grid's compute: the pick, the search's defaults, the
   former defaults, uniform random search without replacement (every ratio's denominator), Optuna's
   random sampler over the space's tree, the corrected peer at its best settings, at its defaults,
   at the former defaults' rungs and at the pick's, the peer's random search, and Optuna's GPSampler at full fidelity
   (its documented defaults). These are the figures the README reports.
3. The goal, fixed before (search.tabular.ratios.GOAL_VS_UNIFORM, GOAL_VS_PEER), checked on the
   confirmation: docs/bench/HELD_OUT/confirm/goal.md says met or missed, with each ratio and its
   bootstrap interval.

Each replay is cached in its output's runs.jsonl (keyed on the table, the settings and the code and
library versions) and reused on a rerun: the script resumes.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))

from search.cli.main import main  # noqa: E402

FORMER_DEFAULT = "tpe/moasha/eta=3/min=2/startup=10"  # the search's defaults before these replays
# the peer's MOASHA is corrected (search.tabular.peer), at its own rungs and at ours; GPSampler at its
# documented defaults (10 startup trials), every trial to its last epoch
CONTRASTS = ("uniform/fifo", "random/fifo", "peer:moasha", "peer:moasha/eta=2/min=2", "peer:random",
             "gp/fifo/startup=10")
# the confirmation runs twice the grid's compute, so that uniform random search (the ratios'
# denominator) reaches the target in every seed; the compute to reach it does not depend on the budget
CONFIRM_BUDGET = 2.0

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--selection", type=Path, default=ROOT / "bench" / "tables" / "demo_cpu.parquet")
    parser.add_argument("--held-out", type=Path, default=ROOT / "bench" / "tables" / "temporal_cpu.parquet")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--docs", type=Path, default=ROOT / "docs" / "bench", help="where the figures go")
    parser.add_argument("--confirm-only", action="store_true",
                        help="take the selection from its committed summary (docs/bench/SELECTION/summary.json) "
                             "instead of replaying it: the confirmation alone, e.g. after its cache was lost")
    args = parser.parse_args()
    for table, config in ((args.selection, "demo_cpu"), (args.held_out, "temporal_cpu")):
        if not table.is_file():
            sys.exit(f"{table}: no such table; build it with `vidnas bench build configs/bench/{config}.yaml`")
    from search.tabular.figures import load_summaries
    from search.tabular.ratios import choose_default, choose_peer, goal_report
    from search.tabular.replay import canonical
    from spaces import atomic

    selected = args.docs / args.selection.stem
    confirmed = args.docs / args.held_out.stem / "confirm"
    common = ["--workers", str(args.workers), "--jobs", str(args.jobs), "--seeds", str(args.seeds)]
    if args.confirm_only:
        if not (selected / "summary.json").is_file():
            sys.exit(f"--confirm-only: {selected / 'summary.json'} does not exist; run without it to replay the selection")
        print(f"## Selection on {args.selection.name}: read from {selected / 'summary.json'} (not replayed)")
    else:
        print(f"## Selection on {args.selection.name}: every strategy, seeds 0..{args.seeds - 1}")
        if code := main(["bench", "replay", str(args.selection), *common, "--out", str(selected)]):
            sys.exit(code)
    summaries = load_summaries(selected)
    chosen, peer = choose_default(summaries), choose_peer(summaries)
    if chosen is None:
        sys.exit("no strategy reached 95% of the grid's validation hypervolume in more than half its seeds: "
                 "nothing to confirm")
    from search.tabular.replay import Strategy

    pick = Strategy.parse(chosen.strategy)  # the peer at the pick's own rungs too
    own_rungs = [f"peer:moasha/eta={pick.reduction_factor}/min={pick.min_epochs}"] if pick.scheduler == "moasha" else []
    confirm: list[str] = []
    for entry in (chosen.strategy, "tpe/moasha", FORMER_DEFAULT, *CONTRASTS, *own_rungs, *([peer.strategy] if peer else [])):
        if canonical(entry) not in map(canonical, confirm):  # each once: the pick may be a default
            confirm.append(entry)
    print(f"\n## Confirmation on {args.held_out.name}, fresh seeds {args.seeds}..{2 * args.seeds - 1}: the pick "
          f"({chosen.strategy}), the peer at its best ({peer.strategy if peer else 'none reached the target'}), "
          "the search's defaults, the former defaults, uniform and random search, the peer at its defaults, GP")
    if code := main(["bench", "replay", str(args.held_out), *common, "--first-seed", str(args.seeds),
                     "--budget", str(CONFIRM_BUDGET), "--strategies", ",".join(confirm), "--out", str(confirmed)]):
        sys.exit(code)
    if peer is None:
        sys.exit("the corrected peer reached 95% of the grid's validation hypervolume in no more than half the "
                 "selection seeds at every setting: the goal against it cannot be checked")
    met, report = goal_report(load_summaries(confirmed), canonical(chosen.strategy), canonical(peer.strategy))
    atomic.write_text(confirmed / "goal.md", report + "\n")
    print(f"\n## The goal\n{report}\n\nwritten: {confirmed / 'goal.md'}")
