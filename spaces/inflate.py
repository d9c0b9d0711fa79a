"""2D weights into a point of the space that has the same 2D skeleton: `inflate(net, source)`.

The source is a 2D network's state dict (ImageNet weights: torchvision's GoogLeNet for the
Inception family, ResNet-50 for ResNet), or a file holding one: a network of `spec.flat()`, the
spec's 2D skeleton (I2D for I3D and S3D, TSN for SmallBig, depthwise 2D convs for the depthwise
and channelwise forms of VoV3D and X3D). Its layers are taken in order, one
per layer of the 3D network that has a 2D counterpart, and each is turned into its 3D form:

- a conv of the 2d form: the 2D kernel as a 1 x k x k one;
- a full 3D conv (3d, channelwise): the 2D kernel repeated over the kt frames and divided by kt
  (`rule="mean"`, I3D's rule: a clip of one repeated image gives the 2D response wherever the
  kernel does not reach past the clip's ends, whose zero padding it then sees), or placed on the
  centre frame with zeros around it (`rule="centre"`: the 2D response on such a clip everywhere);
- a factorized conv (separable, depthwise): the spatial conv takes the 2D kernel, the temporal
  conv starts as the identity (its centre tap 1), and the norm that follows a temporal conv whose
  spatial part already took the 2D norm starts as the identity too (separable's inner BN takes it);
- a gate (S3D-G) starts with zero weights, so it scales by sigmoid(0) = 1/2, and the norm before it
  doubles its scale and shift: through the ReLU between them (positively homogeneous) the gated
  output is the ungated one;
- a big view (SmallBig) starts off: its norm is zero (as `build` makes it), its own conv, if any, a
  copy of the small view's.

So, for every form whose 2D skeleton matches, the inflated network's features on a clip of one
repeated image equal the 2D network's on that image (`rule="centre"` exactly;
tests/spaces/test_inflate.py). Every source tensor is used or named in the error: a source layer
that does not fit its 3D counterpart (another width, kernel or order) is one line naming both.
`ignore` leaves source layers out by name prefix (torchvision GoogLeNet's auxiliary classifiers:
`ignore=("aux1.", "aux2.")`); `head=False` leaves the classifier out (other classes).

Example:
    >>> from spaces import build, get_preset
    >>> i2d, s3d = build(get_preset("i2d", frames=16, crop=32)), build(get_preset("s3d", frames=16, crop=32))
    >>> inflate(s3d, i2d.state_dict()).tensors  # every tensor of the 2D network
    344
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import torch
from torch import nn

from spaces.blocks.gating import SelfGating
from spaces.weights import WeightsError, WeightsSource, fingerprint, read_state_dict, source_name

RULES = ("mean", "centre")


@dataclass
class _Layer:
    name: str
    tensors: dict[str, torch.Tensor]

    @property
    def kind(self) -> str:
        if "running_mean" in self.tensors:
            return "norm"
        w = self.tensors.get("weight")
        return "linear" if w is not None and w.ndim == 2 else "conv" if w is not None and w.ndim in (4, 5) else "other"

    def shape(self) -> tuple[int, ...]:
        return tuple(self.tensors["weight"].shape) if "weight" in self.tensors else ()


def _layers(state: Mapping[str, torch.Tensor], ignore: tuple[str, ...]) -> list[_Layer]:
    layers: dict[str, _Layer] = {}
    for key, value in state.items():
        if key.startswith(ignore):
            continue
        prefix, _, leaf = key.rpartition(".")
        layers.setdefault(prefix, _Layer(prefix, {})).tensors[leaf] = value
    return list(layers.values())


def inflate(net: nn.Module, source: str | Path | Mapping[str, torch.Tensor], *, rule: str = "mean",
            head: bool = True, ignore: tuple[str, ...] = (), name: str | None = None) -> WeightsSource:
    """Load the 2D `source` into the 3D `net` by the rules of the module docstring; raise
    WeightsError, and change nothing, where they do not fit."""
    if rule not in RULES:
        raise WeightsError(f"rule={rule!r}: must be one of {', '.join(RULES)}")
    tensors = read_state_dict(source)
    queue = _layers(tensors, ignore)
    state = {k: v.clone() for k, v in net.state_dict().items()}
    used, used_tensors, norm_taken, last_norm = 0, 0, True, None
    modules = dict(net.named_modules())
    linears = [n for n, m in modules.items() if isinstance(m, nn.Linear) and not _in_gate(n, modules)]
    for path, module in modules.items():
        if not (module._parameters or module._buffers) or _under(path, "big_conv"):
            continue
        if path.endswith("big_norm"):  # the big view starts off, as `build` makes it
            state[f"{path}.weight"].zero_()
            state[f"{path}.bias"].zero_()
            continue
        if isinstance(module, nn.Linear) and _in_gate(path, modules):
            state[f"{path}.weight"].zero_()
            if module.bias is not None:
                state[f"{path}.bias"].zero_()
            if last_norm is None:
                raise WeightsError(f"inflate: the gate '{path}' has no norm before it to compensate its 1/2")
            state[f"{last_norm}.weight"] *= 2
            state[f"{last_norm}.bias"] *= 2
            continue
        if isinstance(module, nn.Linear) and not head and path == linears[-1]:
            continue
        if isinstance(module, nn.Conv3d) and getattr(module, "temporal_part", False):
            state[f"{path}.weight"] = _identity(module)
            continue
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and norm_taken:
            state |= {f"{path}.{k}": v for k, v in _identity_norm(module).items()}
            last_norm = path
            continue
        if not queue:
            raise WeightsError(f"inflate: the source has no layer left for '{path}' ({type(module).__name__}); "
                               f"{used} source layers used")
        layer = queue.pop(0)
        used += 1
        used_tensors += len(layer.tensors)
        kind = ("norm" if isinstance(module, nn.modules.batchnorm._BatchNorm) else
                "conv" if isinstance(module, nn.Conv3d) else "linear" if isinstance(module, nn.Linear) else "other")
        if kind != layer.kind:
            raise WeightsError(f"inflate: source layer {used - 1} '{layer.name}' is a {layer.kind} "
                               f"{layer.shape()} but '{path}' is a {kind} {tuple(module.weight.shape)}: not the same 2D "
                               "skeleton")
        if kind == "conv":
            state[f"{path}.weight"] = _inflated(layer, module, path, rule)
            if "bias" in layer.tensors and f"{path}.bias" in state:
                state[f"{path}.bias"] = layer.tensors["bias"].clone()
            norm_taken = False
        else:
            for leaf, value in layer.tensors.items():
                key = f"{path}.{leaf}"
                if key not in state or state[key].shape != value.shape:
                    raise WeightsError(f"inflate: wrong shape: source '{layer.name}.{leaf}' {tuple(value.shape)} vs "
                                       f"'{key}' {tuple(state[key].shape) if key in state else 'missing'}")
                state[key] = value.clone().to(state[key].dtype)
            if kind == "norm":
                norm_taken, last_norm = True, path
    if not head and queue and queue[-1].kind == "linear":
        queue.pop()
    if queue:
        raise WeightsError(f"inflate: {len(queue)} source layers left over, from '{queue[0].name}' "
                           f"{queue[0].shape()}: the network has fewer layers than the source")
    for path, module in modules.items():  # a big view's own conv starts as a copy of the small view's
        if path.endswith("big_conv"):
            small = path.removesuffix("big_conv") + "conv"
            state |= {f"{path}.{k}": state[f"{small}.{k}"].clone() for k in module.state_dict()}
    record = WeightsSource(source_name(source, name), fingerprint(tensors), used_tensors, head)
    net.load_state_dict(state)
    net.weights_source = record
    return record


def _under(path: str, part: str) -> bool:
    return f".{part}." in f".{path}."


def _in_gate(path: str, modules: dict[str, nn.Module]) -> bool:
    parent = path.rpartition(".")[0]
    return isinstance(modules.get(parent), SelfGating)


def _inflated(layer: _Layer, module: nn.Conv3d, path: str, rule: str) -> torch.Tensor:
    w2 = layer.tensors["weight"]
    out, cin, kt, kh, kw = module.weight.shape
    if w2.ndim == 5:  # a 2D layer stored as 1 x k x k
        w2 = w2[:, :, w2.shape[2] // 2]
    if tuple(w2.shape) != (out, cin, kh, kw):
        raise WeightsError(f"inflate: wrong shape: source '{layer.name}.weight' {tuple(layer.tensors['weight'].shape)} "
                           f"vs '{path}.weight' {tuple(module.weight.shape)}: not the same 2D skeleton")
    w2 = w2.to(module.weight.dtype)
    if kt == 1:
        return w2[:, :, None].clone()
    if rule == "mean":
        return w2[:, :, None].repeat(1, 1, kt, 1, 1) / kt
    w3 = torch.zeros_like(module.weight)
    w3[:, :, kt // 2] = w2
    return w3


def _identity(conv: nn.Conv3d) -> torch.Tensor:
    """A temporal conv (kt x 1 x 1) that passes every frame through: its centre tap is 1."""
    w = torch.zeros_like(conv.weight)
    kt = w.shape[2]
    if conv.groups == w.shape[0]:  # depthwise: one filter per channel
        w[:, 0, kt // 2] = 1.0
    else:
        w[torch.arange(w.shape[0]), torch.arange(w.shape[0]), kt // 2] = 1.0
    return w


def _identity_norm(norm: nn.modules.batchnorm._BatchNorm) -> dict[str, torch.Tensor]:
    """A BatchNorm that, in eval mode, returns its input: (x - 0) / sqrt(1 - eps + eps) * 1 + 0."""
    return {"weight": torch.ones_like(norm.weight), "bias": torch.zeros_like(norm.bias),
            "running_mean": torch.zeros_like(norm.running_mean),
            "running_var": torch.full_like(norm.running_var, 1.0 - norm.eps)}
