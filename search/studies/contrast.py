"""A claim's effect as a contrast over arms, made of units, and what each replicate contributes.

A claim compares arms through a linear effect: the difference of two groups of arms, or the
mean over matched pairs (x, y) of x - y (matched cost, dominance). A *unit* is one comparison
that needs all its arms on a replicate: one matched pair, or the whole difference. The effect of
replicate r (a training seed) is the mean of the units whose arms all have r; a replicate with
no complete unit is left out.

Why units: the adequacy rule drops single runs (an arm's seed that failed to train). A contrast
over many arms that needed every arm on a seed (the intersection of their seeds) lost every seed
as soon as three arms had each lost a different one (the s3d_placement piece on the appearance
regime: bottom_2c lost seed 0, top_4b seed 1, top_5b seed 2, so the matched-cost effect over 5
pairs had n = 0). With units, each seed still contributes the pairs it has. Every unit weighs the
same on a replicate that has all of them, so with nothing dropped the effect is exactly the old
one (`Contrast.weights`, the `pair_weights` of the pairs). The replicates stay independent, so
the t test over them (and the crossed seed + clip interval) holds as before; what changes is
that a seed with a pair missing estimates the mean over the pairs it has, a slightly different
mixture of the same pair effects. `coverage` says which seeds carried which units, and the
report prints it whenever the units were not all complete.

Example: two pairs; the first lost seed 0, the second seed 1:
    >>> c = Contrast.pairs([("x", "p"), ("y", "q")])
    >>> c.weights
    {'x': 0.5, 'p': -0.5, 'y': 0.5, 'q': -0.5}
    >>> present = {"x": [1, 2], "p": [0, 1, 2], "y": [0, 2], "q": [0, 1, 2]}
    >>> c.per_replicate(present)
    {0: {'y': 1.0, 'q': -1.0}, 1: {'x': 1.0, 'p': -1.0}, 2: {'x': 0.5, 'p': -0.5, 'y': 0.5, 'q': -0.5}}
    >>> c.coverage(present)
    'all 2 units on 1 of 3 seeds; units on the others: seed 0: 1, seed 1: 1'
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

Weights = Mapping[str, float]


@dataclass(frozen=True)
class Contrast:
    """A linear effect over arms as units (weight dicts); see the module docstring."""

    units: tuple[dict[str, float], ...]

    @classmethod
    def pairs(cls, pairs: Sequence[tuple[str, str]]) -> Contrast:
        """The mean over `pairs` (x, y) of x - y, one unit per pair."""
        return cls(tuple(_pair(x, y) for x, y in pairs))

    @classmethod
    def of(cls, weights: Weights) -> Contrast:
        """One unit: the whole weighted effect needs all its arms on a replicate."""
        return cls((dict(weights),))

    @property
    def arms(self) -> list[str]:
        """The arms in the order they first appear."""
        return list(dict.fromkeys(x for unit in self.units for x in unit))

    @property
    def weights(self) -> dict[str, float]:
        """The weights of a replicate that has every unit: the mean of the units."""
        return _mean(self.units)

    def per_replicate(self, present: Mapping[str, Iterable[int]]) -> dict[int, dict[str, float]]:
        """Replicate -> the weights it contributes with (the mean of its complete units), for the
        replicates with at least one, in sorted order. `present`: arm -> the replicates it has."""
        out = {}
        for r, units in self._complete(present).items():
            if units:
                out[r] = _mean(units)
        return out

    def _complete(self, present: Mapping[str, Iterable[int]]) -> dict[int, list[dict[str, float]]]:
        """Each replicate any arm has -> the units whose arms all have it."""
        have = {x: set(present.get(x, ())) for x in self.arms}
        replicates = sorted(set().union(*have.values())) if have else []
        return {r: [u for u in self.units if all(r in have[x] for x in u)] for r in replicates}

    def coverage(self, present: Mapping[str, Iterable[int]]) -> str:
        """In words, where some replicate of the arms lacks a unit: how many seeds had every unit,
        and how many units the others had; "" where every replicate had every unit."""
        counts = {r: len(units) for r, units in self._complete(present).items()}
        full = [r for r, k in counts.items() if k == len(self.units)]
        if len(full) == len(counts):
            return ""
        partial = [f"seed {r}: {k}" for r, k in counts.items() if k < len(self.units)]
        return f"all {len(self.units)} units on {len(full)} of {len(counts)} seeds; units on the others: " + ", ".join(partial)


def _pair(x: str, y: str) -> dict[str, float]:
    if x == y:
        raise ValueError(f"pair ({x!r}, {y!r}): an arm cannot be matched with itself")
    return {x: 1.0, y: -1.0}


def _mean(units: Sequence[Weights]) -> dict[str, float]:
    weights: dict[str, float] = {}
    for unit in units:
        for x, w in unit.items():
            weights[x] = weights.get(x, 0.0) + w / len(units)
    return weights


def as_contrast(weights: Weights | Contrast) -> Contrast:
    """A Contrast as given, or plain weights as one unit."""
    return weights if isinstance(weights, Contrast) else Contrast.of(weights)
