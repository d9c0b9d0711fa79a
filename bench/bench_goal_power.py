"""How often a confirmation would meet issue 22's goal against the peer, if its seeds were the truth.

    python bench/bench_goal_power.py [--confirm docs/bench/temporal_cpu/confirm] [--experiments 400]

The goal against the corrected peer (search.tabular.ratios.GOAL_VS_PEER, fixed before) asks for a
median-compute ratio of at most 0.8 with its 95% bootstrap interval below 1. This reads the
confirmation's per-seed compute to 95% of the grid's validation hypervolume for the pick and for the
peer at its best (summary.json), and treats those seeds as the two distributions: it draws
`experiments` new confirmations of N seeds each (with replacement) and counts how many would meet
the goal, for N = 20, 40, 80, 160, and for the pick made 0.5 to 0.9 times as costly at 20 seeds
(how much faster it would have to be). A projection from 20 seeds, not a measurement: it says
whether more seeds or a faster search is what the goal needs.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--confirm", type=Path, default=ROOT / "docs" / "bench" / "temporal_cpu" / "confirm")
    parser.add_argument("--experiments", type=int, default=400)
    parser.add_argument("--out", type=Path, help="also write the table here (default: CONFIRM/power.md)")
    args = parser.parse_args()
    if not (args.confirm / "summary.json").is_file():
        sys.exit(f"--confirm {args.confirm}: no summary.json; run `python bench/bench_replay.py` first")
    import numpy as np

    from search.tabular.figures import load_summaries
    from search.tabular.ratios import GOAL_VS_PEER, choose_default, choose_peer, ratio_interval
    from search.tabular.replay import canonical
    from spaces import atomic

    summaries = load_summaries(args.confirm)
    selection = load_summaries(ROOT / "docs" / "bench" / "demo_cpu")
    chosen, best_peer = choose_default(selection), choose_peer(selection)
    if chosen is None or best_peer is None:
        sys.exit("docs/bench/demo_cpu: no " + ("strategy of the search" if chosen is None else "peer MOASHA setting")
                 + " reached 95% of the grid's validation hypervolume in more than half its seeds: nothing to compare")
    pick, peer = canonical(chosen.strategy), best_peer.strategy
    for name in (pick, peer):
        if name not in summaries:
            sys.exit(f"--confirm {args.confirm}: no replays of {name}; run "
                     "`python bench/bench_replay.py --confirm-only`")
    a = np.array([math.inf if t is None else t for t in summaries[pick].val_t95])
    b = np.array([math.inf if t is None else t for t in summaries[peer].val_t95])
    rng = np.random.default_rng(0)

    def share(seeds: int, scale: float) -> float:
        met = 0
        for _ in range(args.experiments):
            x, y = scale * rng.choice(a, seeds), rng.choice(b, seeds)
            low, high = ratio_interval(list(x), list(y), resamples=1000, seed=int(rng.integers(2**31)))
            met += bool(np.median(x) / np.median(y) <= GOAL_VS_PEER and high < 1)
        return met / args.experiments

    ratio, (low, high) = np.median(a) / np.median(b), ratio_interval(list(a), list(b))
    lines = [f"The goal against the peer, projected from the confirmation's seeds (`python bench/bench_goal_power.py`, "
             f"{args.experiments} drawn confirmations a row)", "",
             f"Measured: {pick} over {peer}, median compute to 95% of the grid's validation hypervolume, "
             f"{ratio:.2f} ({low:.2f} to {high:.2f}), {len(a)} seeds each. The pick's seeds span "
             f"{a.min():.3f} to {a.max():.3f}; the peer's {b.min():.3f} to {b.max():.3f}, "
             f"{int((b > a.max()).sum())} of them above the pick's slowest.", "",
             "| confirmation | share that meets the goal (ratio at most 0.8, interval below 1) |", "|---|---|"]
    for seeds in (20, 40, 80, 160):
        lines.append(f"| {seeds} seeds each, as measured | {share(seeds, 1.0):.2f} |")
    for scale in (0.9, 0.8, 0.7, 0.6, 0.5):
        lines.append(f"| 20 seeds, the pick's compute x {scale} | {share(20, scale):.2f} |")
    out = args.out or args.confirm / "power.md"
    atomic.write_text(out, "\n".join(lines) + "\n")
    print("\n".join(lines) + f"\n\nwritten: {out}")
