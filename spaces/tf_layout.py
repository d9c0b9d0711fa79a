"""The official S3D-G's TF variables (tensorflow/models, research/slim/nets/s3dg.py) as a state
dict of `get_preset("s3d_g_tf")`, for `spaces.load_weights`.

A TF checkpoint lists its variables by name (sorted), so the order comes from the names: the
endpoints in network order (Conv2d_1a_7x7, Conv2d_2b_1x1, Conv2d_2c_3x3, Mixed_3b ... Mixed_5c,
Logits), then each Mixed block's branches and their convs (0a before 0b). Each conv scope S is
turned into what our network registers for it:

- S/weights, a (kt, kh, kw, in, out) kernel: our conv's (out, in, kt, kh, kw);
- S/BatchNorm/{beta, moving_mean, moving_variance} (and gamma, 1 where the checkpoint has none:
  slim's batch_norm has no scale by default): a BatchNorm;
- S/temporal/{weights, biases}, the temporal half of a separable conv, with a bias and no norm:
  our temporal conv, and its norm as the identity plus that bias (scale 1, mean 0, variance
  1 - eps), the same function;
- S/self_gating/transformer_W/weights, a (1, 1, 1, C, C) kernel: our gate's C x C linear layer;
- Logits/Conv2d_0c_1x1/{weights, biases}: the classifier.

Names may carry the ":0" of TF's graph variables and any scope before the endpoint. A variable
that fits none of these is one line naming it; what load_weights then checks (every tensor, in
order, of the right kind and shape) is as for any other source.
"""
from __future__ import annotations

import re
from typing import Any, Mapping

import torch


class LayoutError(ValueError):
    """Variables that are not the official S3D-G's (`spaces.load_weights` says it as a WeightsError)."""

ENDPOINTS = ("Conv2d_1a_7x7", "Conv2d_2b_1x1", "Conv2d_2c_3x3", "Mixed_3b", "Mixed_3c", "Mixed_4b", "Mixed_4c",
             "Mixed_4d", "Mixed_4e", "Mixed_4f", "Mixed_5b", "Mixed_5c", "Logits")
PARTS = re.compile(r"^(?P<scope>.*?)/(?P<part>weights|biases|BatchNorm/(?:beta|gamma|moving_mean|moving_variance)|"
                   r"temporal/(?:weights|biases)|self_gating/transformer_W/weights)$")


def is_tf_s3dg(names: list[str]) -> bool:
    """Whether these names are the official S3D-G's TF variables."""
    return bool(names) and all("/" in n for n in names) and any(n.split(":")[0].endswith("Conv2d_1a_7x7/weights")
                                                                 for n in names)


def s3dg_state_dict(variables: Mapping[str, Any], *, eps: float = 1e-3) -> dict[str, torch.Tensor]:
    """The variables (name -> array or tensor) as tensors in our network's order and layout."""
    scopes: dict[str, dict[str, torch.Tensor]] = {}
    for name, value in variables.items():
        m = PARTS.match(name.split(":")[0])
        if m is None:
            raise LayoutError(f"weights: TF variable '{name}' is not part of the official S3D-G's layout "
                               "(weights, biases, BatchNorm, temporal or self_gating of a conv)")
        scopes.setdefault(m["scope"], {})[m["part"]] = torch.as_tensor(value).float()
    out: dict[str, torch.Tensor] = {}
    for scope in sorted(scopes, key=_order):
        _convert(scope, scopes[scope], out, eps)
    return out


def _order(scope: str) -> tuple[int, str]:
    parts = scope.split("/")
    found = [i for i, p in enumerate(parts) if p in ENDPOINTS]
    if not found:
        raise LayoutError(f"weights: TF scope '{scope}' names no S3D-G endpoint ({', '.join(ENDPOINTS)})")
    i = found[-1]
    return ENDPOINTS.index(parts[i]), "/".join(parts[i + 1:])  # Branch_0/Conv2d_0a_1x1 < Branch_1/...


def _convert(scope: str, parts: dict[str, torch.Tensor], out: dict[str, torch.Tensor], eps: float) -> None:
    def conv(w: torch.Tensor) -> torch.Tensor:  # (kt, kh, kw, in, out) -> (out, in, kt, kh, kw)
        return w.permute(4, 3, 0, 1, 2).contiguous()

    def norm(prefix: str, beta: torch.Tensor, mean: torch.Tensor, var: torch.Tensor,
             gamma: torch.Tensor | None = None) -> None:
        out[f"{prefix}.weight"] = torch.ones_like(beta) if gamma is None else gamma
        out[f"{prefix}.bias"], out[f"{prefix}.running_mean"], out[f"{prefix}.running_var"] = beta, mean, var
        out[f"{prefix}.num_batches_tracked"] = torch.tensor(0)

    if "Logits" in scope.split("/"):  # the classifier: a 1x1x1 conv with a bias
        out[f"{scope}.weight"] = parts["weights"].reshape(parts["weights"].shape[-2:]).t().contiguous()
        out[f"{scope}.bias"] = parts["biases"]
        return
    missing = [p for p in ("weights", "BatchNorm/beta", "BatchNorm/moving_mean", "BatchNorm/moving_variance")
               if p not in parts]
    if missing:
        raise LayoutError(f"weights: TF scope '{scope}' has no {missing[0]}")
    out[f"{scope}.weight"] = conv(parts["weights"])
    bn = (parts["BatchNorm/beta"], parts["BatchNorm/moving_mean"], parts["BatchNorm/moving_variance"],
          parts.get("BatchNorm/gamma"))
    if "temporal/weights" in parts:  # separable: spatial -> BN -> ReLU -> temporal (+ bias) -> ReLU
        norm(f"{scope}/BatchNorm", *bn)
        out[f"{scope}/temporal.weight"] = conv(parts["temporal/weights"])
        bias = parts.get("temporal/biases", torch.zeros(out[f"{scope}/temporal.weight"].shape[0]))
        norm(f"{scope}/temporal/bias", bias, torch.zeros_like(bias), torch.full_like(bias, 1.0 - eps))
    else:
        norm(f"{scope}/BatchNorm", *bn)
    if "self_gating/transformer_W/weights" in parts:
        w = parts["self_gating/transformer_W/weights"]
        out[f"{scope}/self_gating.weight"] = w.reshape(w.shape[-2:]).t().contiguous()
