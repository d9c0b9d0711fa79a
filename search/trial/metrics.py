"""Classification metrics of a clip store's classes: top-k, per group, and within pairs.

Within-pair accuracy: over clips of a class that has a time-reversed partner, the fraction whose
logit for the true class beats the partner's. A model blind to frame order scores 50%.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class Accumulator:
    """Sums over an evaluation pass; `result()` gives the metrics (accuracies in [0, 1])."""

    group_names: tuple[str, ...]
    pairs: tuple[tuple[int, int], ...] = ()
    loss_sum: float = 0.0
    count: int = 0
    top1: int = 0
    top5: int = 0
    group_correct: dict[str, int] = field(default_factory=dict)
    group_count: dict[str, int] = field(default_factory=dict)
    pair_correct: int = 0
    pair_count: int = 0

    def update(self, logits: torch.Tensor, labels: torch.Tensor, groups: torch.Tensor, loss_sum: float) -> None:
        logits, labels, groups = logits.detach().float().cpu(), labels.cpu(), groups.cpu()
        k = min(5, logits.shape[1])
        topk = logits.topk(k, dim=1).indices  # (B, k)
        hit1 = topk[:, 0] == labels
        self.count += len(labels)
        self.loss_sum += loss_sum
        self.top1 += int(hit1.sum())
        self.top5 += int((topk == labels[:, None]).any(dim=1).sum())
        for g, name in enumerate(self.group_names):
            in_group = groups == g
            self.group_correct[name] = self.group_correct.get(name, 0) + int(hit1[in_group].sum())
            self.group_count[name] = self.group_count.get(name, 0) + int(in_group.sum())
        if self.pairs:
            outcome = pair_outcomes(logits, labels, self.pairs)
            self.pair_correct += int((outcome == 1).sum())
            self.pair_count += int((outcome >= 0).sum())

    def result(self) -> dict[str, float]:
        n = max(self.count, 1)
        out = {"loss": self.loss_sum / n, "top1": self.top1 / n, "top5": self.top5 / n}
        for name in self.group_names:
            if self.group_count.get(name):
                out[f"acc_{name}"] = self.group_correct[name] / self.group_count[name]
        if self.pair_count:
            out["within_pair"] = self.pair_correct / self.pair_count
        return out


def pair_outcomes(logits: torch.Tensor, labels: torch.Tensor, pairs: tuple[tuple[int, int], ...]) -> torch.Tensor:
    """Per clip: 1 if the true class's logit beats its partner's, 0 if not, -1 for a class with no
    partner (it does not count within pairs)."""
    partner = torch.full((logits.shape[1],), -1, dtype=torch.long)
    for a, b in pairs:
        partner[a], partner[b] = b, a
    mate = partner[labels]
    out = torch.full(labels.shape, -1, dtype=torch.long)
    rows = torch.nonzero(mate >= 0).squeeze(1)
    if len(rows):
        out[rows] = (logits[rows, labels[rows]] > logits[rows, mate[rows]]).long()
    return out


def clip_outcomes(logits: torch.Tensor, labels: torch.Tensor, pairs: tuple[tuple[int, int], ...]) -> dict[str, list[int]]:
    """Each clip's outcome, in order: `clip_top1` (1 correct, 0 not) and `clip_pair` (see
    `pair_outcomes`). Their means are top-1 and within-pair accuracy over the same clips.

    Example:
        >>> logits = torch.tensor([[2.0, 1.0, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
        >>> clip_outcomes(logits, torch.tensor([0, 1, 2]), ((0, 1),))
        {'clip_top1': [1, 0, 1], 'clip_pair': [1, 0, -1]}
    """
    logits, labels = logits.detach().float().cpu(), labels.cpu()
    return {"clip_top1": (logits.topk(1, dim=1).indices[:, 0] == labels).long().tolist(),  # as Accumulator
            "clip_pair": pair_outcomes(logits, labels, pairs).tolist()}
