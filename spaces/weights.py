"""Published weights onto a built network: `load_weights(module, source)`.

A published checkpoint names its tensors its own way (torchvision's `features.3.1.0.weight`,
PySlowFast's `s2.pathway0_res0.branch2.a.weight`, SmallBigNet's `module.layer1.0.conv1.weight`);
ours are `stem.2.0.conv.3.weight`. Names cannot be mapped by rule across codebases, but a network
that equals the reference as a function registers the same tensors in the same order. So the
mapping is by structure: the source's tensors and the network's, each in its state-dict order,
are paired one by one (SmallBigNet's big-view norms and PySlowFast's shortcuts first moved where
ours register them: `in_network_order`), and every pair must agree in kind (the last part of the name: weight, bias,
running_mean, running_var, num_batches_tracked) and in shape, up to size-1 dimensions (a 1x1x1
conv classifier is a linear layer). Every tensor on both sides is accounted for: a count, kind or
shape that differs is one line that names both tensors, so a wrong or truncated checkpoint never
loads half-way. `head=False` leaves the classifier's weight and bias out on both sides, to
fine-tune on other classes.

The official S3D-G's TF variables (a mapping of `InceptionV1/.../weights` names to arrays, as
`tf.train.load_checkpoint` reads them) are first turned into this layout (`spaces.tf_layout`).

The source is a state dict, or a file that holds one (read with `torch.load(weights_only=True)`),
also inside the containers the reference code saves (`{"state_dict": ...}`, `{"model_state":
...}`, `{"model": ...}`) and with DataParallel's `module.` prefix. What was loaded is returned, and
kept on the module as `weights_source`: its name, the SHA-256 of its tensors (name order, dtype,
shape and bytes: the same for the same weights in any container) and the tensor count.

Example:
    >>> import torch
    >>> from spaces import build, get_preset
    >>> a, b = build(get_preset("tsn_r50", num_classes=10)), build(get_preset("tsn_r50", num_classes=10))
    >>> record = load_weights(b, a.state_dict(), name="a copy")
    >>> record.tensors, torch.equal(a.head.fc.weight, b.head.fc.weight)
    (320, True)
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from spaces.tf_layout import LayoutError, is_tf_s3dg, s3dg_state_dict

CONTAINERS = ("state_dict", "model_state", "model", "module")  # where reference code keeps the weights
KINDS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


class WeightsError(ValueError):
    """A checkpoint that does not fit the network; the message is one line naming both tensors."""


@dataclass(frozen=True)
class WeightsSource:
    name: str  # the file, or what the caller called it
    sha256: str  # of the tensors (see the module docstring), not of the file's bytes
    tensors: int  # how many were loaded
    head: bool = True  # whether the classifier came from the source too

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "sha256": self.sha256, "tensors": self.tensors, "head": self.head}


def read_state_dict(source: str | Path | Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The tensors of `source` in order, out of the reference code's containers and prefixes."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise WeightsError(f"weights {str(path)!r}: no such file")
        try:
            data = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # a truncated or foreign file: pickle, zip and torch each raise their own
            raise WeightsError(f"weights {str(path)!r}: not a PyTorch checkpoint ({type(e).__name__}: "
                               f"{str(e).splitlines()[0][:120]})") from None
    else:
        data = source
    if isinstance(data, Mapping) and is_tf_s3dg([str(k) for k in data]):  # TF variables: converted
        try:
            return s3dg_state_dict(data)
        except LayoutError as e:
            raise WeightsError(str(e)) from None
    while isinstance(data, Mapping) and not _is_state(data):
        inner = next((data[k] for k in CONTAINERS if isinstance(data.get(k), Mapping)), None)
        if inner is None:
            raise WeightsError(f"weights: no state dict found (keys {sorted(map(str, data))[:8]}); expected tensors, "
                               f"or one of {', '.join(CONTAINERS)} holding them")
        data = inner
    if not isinstance(data, Mapping):
        raise WeightsError(f"weights: expected a state dict, got {type(data).__name__}")
    tensors = {k: v for k, v in data.items() if isinstance(v, torch.Tensor)}
    if tensors and all(k.startswith("module.") for k in tensors):
        tensors = {k[len("module."):]: v for k, v in tensors.items()}
    return tensors


def _is_state(data: Mapping) -> bool:
    return bool(data) and all(isinstance(v, torch.Tensor) for v in data.values())


def source_name(source: str | Path | Mapping[str, torch.Tensor], name: str | None) -> str:
    """What a record calls the source: `name`, else the file, else "state dict"."""
    return name or (str(source) if isinstance(source, (str, Path)) else "state dict")


def fingerprint(tensors: Mapping[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for name, t in tensors.items():
        t = t.detach().cpu().contiguous().reshape(-1)
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def load_weights(module: nn.Module, source: str | Path | Mapping[str, torch.Tensor], *, name: str | None = None,
                 head: bool = True, shorten: bool = False) -> WeightsSource:
    """Copy `source`'s tensors into `module` by structure (the module docstring says how); raise
    WeightsError, and change nothing, where they do not fit. `shorten`: a conv whose temporal
    kernel is shorter in the network takes the source kernel's centre taps (weights trained at
    more frames into `get_preset(name, frames=F)`, whose cut taps only saw padding: the same
    function on F frames)."""
    tensors = read_state_dict(source)
    theirs = in_network_order(list(tensors.items()))
    ours = list(module.state_dict().items())
    if not head:
        theirs, ours = _without_head(theirs, "source"), _without_head(ours, "network")
    for i, ((a, x), (b, y)) in enumerate(zip(theirs, ours)):
        if _kind(a) != _kind(b):
            raise WeightsError(f"weights: tensor {i} is {_kind(a)} '{a}' {tuple(x.shape)} in the source but "
                               f"{_kind(b)} '{b}' {tuple(y.shape)} in the network: not the same structure")
        if shorten and _cuttable(x.shape, y.shape):
            theirs[i] = (a, _centre_taps(x, y.shape[2]))
        elif _squeezed(x.shape) != _squeezed(y.shape):
            hint = ("; a longer temporal kernel: shorten=True takes its centre taps" if _cuttable(x.shape, y.shape)
                    else "")
            raise WeightsError(f"weights: wrong shape at tensor {i}: source '{a}' {tuple(x.shape)} vs network "
                               f"'{b}' {tuple(y.shape)}{hint}")
    if len(theirs) != len(ours):
        n = min(len(theirs), len(ours))
        extra = (f"unexpected in the source: '{theirs[n][0]}' and {len(theirs) - n - 1} more" if len(theirs) > n else
                 f"missing from the source: '{ours[n][0]}' and {len(ours) - n - 1} more")
        raise WeightsError(f"weights: the source has {len(theirs)} tensors, the network {len(ours)}; {extra}")
    state = {b: x.reshape(y.shape).to(y.dtype) for (_, x), (b, y) in zip(theirs, ours)}
    record = WeightsSource(source_name(source, name), fingerprint(tensors), len(state), head)
    module.load_state_dict(state, strict=head)
    module.weights_source = record
    return record


# SmallBigNet's blocks register the big views' norms after the block's last norm (`bn3`, then
# `big1.1`, `big2.1`, `big3.1`); ours register each next to its small view's (`conv1.norm`,
# `conv1.big_norm`). The one reordering by name: each big-view norm moved behind its `bn<k>`.
SMALLBIG_BIG = re.compile(r"(?P<block>.*\.)big(?P<k>[123])\.1\.[a-z_]+$")


# PySlowFast's residual blocks (VoV3D's checkpoints) register the shortcut (`branch1`, `branch1_bn`)
# before the residual branch (`branch2...`); ours register it after.
SLOWFAST_SHORTCUT = re.compile(r"(?P<block>.*\.)branch1(_bn)?\.[a-z_]+$")


def in_network_order(items: list[tuple[str, torch.Tensor]]) -> list[tuple[str, torch.Tensor]]:
    """The source's tensors in the order a network of the space registers them: unchanged, but for
    SmallBigNet's checkpoints (their `bigK.1` norms follow `bnK`) and PySlowFast's (a block's
    shortcut `branch1` comes before its `branch2`)."""
    items = _move_after(items, SMALLBIG_BIG, lambda m: f"{m['block']}bn{m['k']}.",
                        "SmallBigNet big-view norms without their small view's")
    return _move_after(items, SLOWFAST_SHORTCUT, lambda m: f"{m['block']}branch2",
                       "PySlowFast shortcuts without their block's branch2")


def _move_after(items: list[tuple[str, torch.Tensor]], pattern: re.Pattern, anchor: Any,
                what: str) -> list[tuple[str, torch.Tensor]]:
    """The tensors whose names match `pattern`, moved as a group behind the last tensor whose name
    starts with their `anchor(match)`; every group must find its anchor."""
    groups: dict[str, list[tuple[str, torch.Tensor]]] = {}
    for name, tensor in items:
        if m := pattern.match(name):
            groups.setdefault(anchor(m), []).append((name, tensor))
    if not groups:
        return items
    moved = {name for group in groups.values() for name, _ in group}
    kept = [(name, tensor) for name, tensor in items if name not in moved]
    out = []
    for i, (name, tensor) in enumerate(kept):
        out.append((name, tensor))
        here = next((a for a in groups if name.startswith(a)), None)
        following = kept[i + 1][0] if i + 1 < len(kept) else ""
        if here is not None and not following.startswith(here):  # the anchor's last tensor: the group next
            out += groups.pop(here)
    if groups:
        raise WeightsError(f"weights: {what}: {sorted(groups)[:3]}")
    return out


def _kind(name: str) -> str:
    last = name.rsplit(".", 1)[-1]
    return last if last in KINDS else "weight"  # e.g. a bare nn.Parameter such as a scale


def _cuttable(theirs: torch.Size, ours: torch.Size) -> bool:
    """Conv weights that differ only in an odd temporal kernel, longer in the source."""
    return (len(theirs) == len(ours) == 5 and theirs[:2] == ours[:2] and theirs[3:] == ours[3:]
            and theirs[2] > ours[2] and theirs[2] % 2 == 1 and ours[2] % 2 == 1)


def _centre_taps(weight: torch.Tensor, kernel: int) -> torch.Tensor:
    cut = (weight.shape[2] - kernel) // 2
    return weight[:, :, cut:cut + kernel]


def _squeezed(shape: torch.Size) -> tuple[int, ...]:
    return tuple(d for d in shape if d != 1)


def _without_head(items: list[tuple[str, torch.Tensor]], side: str) -> list[tuple[str, torch.Tensor]]:
    """All but the classifier: the last weight (and its bias) in the order."""
    tail = [k for k, _ in items[-2:]]
    if len(items) < 2 or (_kind(tail[-1]) != "bias" or _kind(tail[-2]) != "weight"):
        raise WeightsError(f"weights: head=False needs the {side}'s last tensors to be the classifier's weight and "
                           f"bias, but they are {tail}")
    return items[:-2]
