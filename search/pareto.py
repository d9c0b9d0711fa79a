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
