"""`vidnas bench noise TABLE`: how much of a table's front is seed noise.

A table whose points were trained at several seeds says how far one training run is from another,
and so how much a front read off one run can be trusted. Printed per table:

- the seed SD: one run's standard deviation of final validation (and test) top-1, pooled over the
  points with several seeds (search.tabular.table.seed_sd), with its degrees of freedom;
- the median accuracy gap between neighbours on the validation front (seed means), against it;
- the order swaps: among pairs of points trained at the two first seeds whose seed-mean accuracies
  are within 0.03 (and within one seed SD), the share whose order differs between the two seeds;
- the front's stability: the validation front of the seed means beside the front of each seed
  alone (members in common, Jaccard), and the grid's hypervolume either way;
- the timing noise: per point, the ratio of its slowest seed's epoch seconds to its fastest's (a
  replay charges the fastest of the seeds every point has: search.tabular.table.Table.epoch_seconds).
"""
from __future__ import annotations

import itertools
import math
import statistics
from typing import Any

from search.pareto import hypervolume, pareto_ranks
from search.tabular.table import Table, seed_sd

CLOSE = 0.03  # "adjacent" accuracies: the review's threshold (pairs less than 0.03 apart)


def _front(acc: dict[str, float], cost: dict[str, float]) -> list[str]:
    points = list(acc)
    ranks = pareto_ranks([(-acc[p], cost[p]) for p in points])
    return sorted((p for p, r in zip(points, ranks) if r == 0), key=lambda p: cost[p])


def _hv(table: Table, front: list[str], acc: dict[str, float], cost: dict[str, float]) -> float:
    a, c = list(table.objectives)
    reference = (table.reference[a], math.log10(table.reference[c]))
    return hypervolume([(acc[p], math.log10(cost[p])) for p in front], reference)


def noise(table: Table) -> dict[str, Any]:
    """The figures above, as a dict (see the module's docstring)."""
    a, c = list(table.objectives)  # (val_top1: max, gmacs: min)
    seeds = table.point_seeds()
    both = [p for p, s in seeds.items() if len(s) >= 2]
    if not both:
        raise ValueError("the table has no point trained at two seeds: its seed noise cannot be measured")
    mean = table.mean_final()
    cost = {p: mean[p][c] for p in table.points}
    mean_acc = {p: mean[p][a] for p in table.points}
    front = _front(mean_acc, cost)
    gaps = [abs(mean_acc[q] - mean_acc[p]) for p, q in zip(front, front[1:])]
    sd = seed_sd(table, a)
    dof = sum(len(seeds[p]) - 1 for p in both)
    first, second = sorted(set(table.seeds))[:2]
    paired = [p for p in table.points if first in seeds[p] and second in seeds[p]]
    at = {s: {p: table.final(s)[p][a] for p in paired} for s in (first, second)}

    def swaps(within: float) -> tuple[int, int]:
        pairs = [(p, q) for p, q in itertools.combinations(paired, 2)
                 if abs(mean_acc[p] - mean_acc[q]) < within and at[first][p] != at[first][q]]
        flipped = sum((at[first][p] > at[first][q]) != (at[second][p] > at[second][q]) for p, q in pairs)
        return flipped, len(pairs)

    fronts = {}
    for s in (first, second):  # each seed alone, over the points it has at both
        alone = _front(at[s], {p: cost[p] for p in paired})
        on_mean = _front({p: mean_acc[p] for p in paired}, {p: cost[p] for p in paired})
        common = set(alone) & set(on_mean)
        fronts[s] = {"size": len(alone), "mean_front_size": len(on_mean), "common": len(common),
                     "jaccard": len(common) / len(set(alone) | set(on_mean)),
                     "hv": _hv(table, alone, at[s], cost), "hv_on_mean": _hv(table, on_mean, mean_acc, cost)}
    timing = []
    for p in both:
        per_seed = [sum(r["epoch_seconds"] for r in table.curve(p, s)) for s in seeds[p]]
        timing.append(max(per_seed) / min(per_seed))
    close, one_sd = swaps(CLOSE), swaps(sd)
    return {"metric": a, "points": len(table.points), "points_at_two_seeds": len(both), "seeds": table.seeds,
            "seed_sd": sd, "seed_sd_dof": dof, "seed_sd_test": seed_sd(table, a.replace("val_", "test_")),
            "front": front, "front_gap_median": statistics.median(gaps) if gaps else None,
            "swaps_close": close, "swaps_within_sd": one_sd, "fronts": fronts, "seeds_compared": [first, second],
            "epoch_seconds_ratio_median": statistics.median(timing), "epoch_seconds_ratio_max": max(timing)}


def markdown(n: dict[str, Any]) -> str:
    first, second = n["seeds_compared"]

    def share(pair: tuple[int, int]) -> str:
        return f"{pair[0]} of {pair[1]} ({100 * pair[0] / pair[1]:.0f}%)" if pair[1] else "no such pairs"

    gap = "-" if n["front_gap_median"] is None else f"{n['front_gap_median']:.3f}"
    lines = [f"Seed noise of final {n['metric']} ({n['points_at_two_seeds']} of {n['points']} points at two or more "
             f"seeds; seeds {n['seeds']}):", "",
             "| figure | value |", "|---|---|",
             f"| one run's SD, validation top-1 (pooled, {n['seed_sd_dof']} dof) | {n['seed_sd']:.3f} |",
             f"| one run's SD, test top-1 | {n['seed_sd_test']:.3f} |",
             f"| validation front of the seed means: points | {len(n['front'])} |",
             f"| median gap between neighbours on it | {gap} |",
             f"| pairs within {CLOSE} whose order differs between seeds {first} and {second} | {share(n['swaps_close'])} |",
             f"| pairs within one seed SD whose order differs | {share(n['swaps_within_sd'])} |"]
    for s, f in n["fronts"].items():
        lines.append(f"| front of seed {s} alone vs the seed means' (same points): members in common | "
                     f"{f['common']} of {f['size']} and {f['mean_front_size']} (Jaccard {f['jaccard']:.2f}) |")
        lines.append(f"| grid hypervolume, seed {s} alone / seed means | {f['hv']:.4f} / {f['hv_on_mean']:.4f} |")
    lines.append(f"| epoch seconds, slowest seed / fastest, per point: median, max | "
                 f"{n['epoch_seconds_ratio_median']:.2f}, {n['epoch_seconds_ratio_max']:.2f} |")
    return "\n".join(lines)
