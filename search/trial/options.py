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


@dataclass(frozen=True)
class InitConfig:
    """Where every trial's weights start (`init:` in a config, `vidnas train --init`): a state dict
    file, or an export directory (its weights.pt); `inflate` for a 2D checkpoint into 3D networks
    (`spaces.inflate`, by `rule`), else copied by structure (`spaces.load_weights`). `head: false`
    leaves the classifier out (other classes), `ignore` drops source layers by name prefix (e.g.
    torchvision GoogLeNet's aux1., aux2.). A network the weights do not fit fails its trial with
    the reason in one line."""

    weights: str
    inflate: bool = False
    rule: str = "mean"  # inflate: mean (I3D: repeated over time / kt) | centre
    head: bool = True
    ignore: tuple[str, ...] = ()
