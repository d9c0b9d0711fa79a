from __future__ import annotations

import pytest
import torch

from search.trial.metrics import Accumulator


def test_accuracy_per_group_and_within_pairs() -> None:
    # classes 0 (appearance), 1 and 2 a time-reversal pair (motion)
    acc = Accumulator(group_names=("appearance", "motion"), pairs=((1, 2),))
    logits = torch.tensor([
        [5.0, 1.0, 0.0],  # label 0: right
        [0.0, 3.0, 2.0],  # label 1: right, and beats its partner
        [4.0, 1.0, 2.0],  # label 2: wrong overall (0 wins) but beats its partner 1 -> within-pair right
        [0.0, 2.0, 1.0],  # label 2: wrong, loses to its partner
    ])
    labels = torch.tensor([0, 1, 2, 2])
    groups = torch.tensor([0, 1, 1, 1])
    acc.update(logits, labels, groups, loss_sum=4.0)
    r = acc.result()
    assert r["top1"] == pytest.approx(2 / 4) and r["top5"] == 1.0 and r["loss"] == 1.0
    assert r["acc_appearance"] == 1.0 and r["acc_motion"] == pytest.approx(1 / 3)
    assert r["within_pair"] == pytest.approx(2 / 3)


def test_an_order_blind_model_scores_half_within_pairs() -> None:
    """Equal logits for both classes of a pair never beat the partner: 0; a coin flip: ~0.5."""
    acc = Accumulator(group_names=("motion",), pairs=((0, 1),))
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        labels = torch.randint(0, 2, (50,), generator=g)
        logits = torch.randn(50, 2, generator=g)  # independent of the label
        acc.update(logits, labels, torch.zeros(50, dtype=torch.long), 0.0)
    assert acc.result()["within_pair"] == pytest.approx(0.5, abs=0.05)
    assert "acc_appearance" not in acc.result()
