"""A trial's training options, read by configs that must load without torch."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OptimConfig:
    optimizer: str = "adamw"  # adamw | sgd
    lr: float = 0.003  # peak learning rate at batch size 32 (scaled linearly with the batch size)
    weight_decay: float = 5e-5
    momentum: float = 0.9
    warmup_epochs: float = 1.0
    label_smoothing: float = 0.1
    batch_size: int = 32
