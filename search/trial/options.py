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
    torchvision GoogLeNet's aux1., aux2.). `shorten` takes a longer temporal kernel's centre taps
    (weights trained at more frames: `spaces.load_weights`). A network the weights do not fit fails
    its trial with the reason in one line.

    Fine-tuning: `backbone_lr` is the fraction of the lr at which all but the classifier train (e.g.
    0.1; the classifier keeps the full lr), `freeze_bn` freezes every BatchNorm (its statistics
    and its scale and shift stay as loaded)."""

    weights: str
    inflate: bool = False
    rule: str = "mean"  # inflate: mean (I3D: repeated over time / kt) | centre
    head: bool = True
    ignore: tuple[str, ...] = ()
    shorten: bool = False
    backbone_lr: float = 1.0
    freeze_bn: bool = False
