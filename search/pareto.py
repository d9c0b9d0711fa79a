"""Pareto ranks and crowding: non-dominated sorting as MO-ASHA and NSGA-II use it (every
objective minimized). numpy only, so the results table can use it without loading Ray."""
from __future__ import annotations

import math

import numpy as np


def pareto_ranks(points: list[tuple[float, ...]]) -> list[int]:
    """Non-dominated sorting rank (0 = the front) of each point; every objective is minimized."""
    if not points:
        return []
    p = np.asarray(points, dtype=float)
    dominates = ((p[:, None, :] <= p[None, :, :]).all(-1) & (p[:, None, :] < p[None, :, :]).any(-1))  # [i, j]: i dominates j
    dominated_by = dominates.sum(axis=0)
    ranks = np.full(len(p), -1)
    remaining, rank = np.ones(len(p), dtype=bool), 0
    while remaining.any():
        front = remaining & (dominated_by == 0)
        ranks[front] = rank
        remaining &= ~front
        dominated_by = dominated_by - dominates[front].sum(axis=0)
        rank += 1
    return ranks.tolist()


def crowding(points: list[tuple[float, ...]]) -> list[float]:
    """NSGA-II crowding distance within one set of points (larger = more isolated)."""
    n = len(points)
    distance = [0.0] * n
    for m in range(len(points[0]) if points else 0):
        order = sorted(range(n), key=lambda i: points[i][m])
        low, high = points[order[0]][m], points[order[-1]][m]
        distance[order[0]] = distance[order[-1]] = math.inf
        if high > low:
            for k in range(1, n - 1):
                distance[order[k]] += (points[order[k + 1]][m] - points[order[k - 1]][m]) / (high - low)
    return distance


def survivors(points: list[tuple[float, ...]], keep: int) -> set[int]:
    """Indices of the `keep` best points by (Pareto rank, -crowding distance)."""
    ranks = pareto_ranks(points)
    by_rank: dict[int, list[int]] = {}
    for i, r in enumerate(ranks):
        by_rank.setdefault(r, []).append(i)
    crowd = [0.0] * len(points)
    for members in by_rank.values():
        for i, d in zip(members, crowding([points[i] for i in members])):
            crowd[i] = d
    order = sorted(range(len(points)), key=lambda i: (ranks[i], -crowd[i]))
    return set(order[:keep])


def hypervolume(points: list[tuple[float, float]], reference: tuple[float, float]) -> float:
    """2-D hypervolume of (accuracy to maximize, log10 cost to minimize) points against
    (accuracy_ref, log10 cost_ref): the area they dominate."""
    acc_ref, cost_ref = reference
    kept = sorted((c, a) for a, c in points if a > acc_ref and c < cost_ref)
    area, best = 0.0, acc_ref
    for i, (c, a) in enumerate(kept):
        best = max(best, a)
        right = kept[i + 1][0] if i + 1 < len(kept) else cost_ref
        area += (right - c) * (best - acc_ref)
    return area


def front_hypervolume(rows: list[dict], objectives: dict[str, str], reference: dict[str, float]) -> float | None:
    """Hypervolume of the complete rows' front for two objectives, an accuracy (max) and a cost
    (min, over log10), against `reference`; None for other objective sets."""
    if len(objectives) != 2 or sorted(objectives.values()) != ["max", "min"]:
        return None
    acc = next(k for k, v in objectives.items() if v == "max")
    cost = next(k for k, v in objectives.items() if v == "min")
    points = [(r[acc], math.log10(r[cost])) for r in rows
              if isinstance(r.get(acc), (int, float)) and isinstance(r.get(cost), (int, float)) and r[cost] > 0]
    return hypervolume(points, (reference[acc], math.log10(reference[cost])))
