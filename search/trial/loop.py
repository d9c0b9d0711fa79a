"""Training and evaluation of one network on a clip store: the loop a trial runs each epoch.

Defaults follow the video literature at small scale: SGD with Nesterov momentum or AdamW,
cosine decay after a linear warm-up (stepped per batch), label smoothing, and no weight decay on
norms and biases (timm's `param_groups_weight_decay`). bf16 autocast and channels_last_3d where
they help.
"""
from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F


from search.data.loader import RawBatch
from search.trial.device import device_batches
from search.trial.metrics import Accumulator, clip_outcomes
from search.trial.options import OptimConfig


class TrialFailed(RuntimeError):
    """A trial that cannot go on: out of memory in a phase, no CUDA for a GPU trial, or a loss that
    diverged. Reported as a failed trial with this message as its reason; never retried."""


class DivergedError(TrialFailed):
    """The loss became NaN or infinite."""


_injected_oom: str | None = None  # tests only: a phase that raises CUDA's out-of-memory error


def inject_oom(phase_name: str | None) -> None:
    """Make `phase(phase_name)` raise `torch.cuda.OutOfMemoryError`, as a full GPU would (for
    testing the failure path on machines without one); None turns it off."""
    global _injected_oom
    _injected_oom = phase_name


@contextlib.contextmanager
def phase(name: str) -> Iterator[None]:
    """Run one phase of a trial (build, forward, backward, evaluation, latency): out of memory in
    it becomes `TrialFailed` naming the phase."""
    try:
        if _injected_oom == name:
            raise torch.cuda.OutOfMemoryError(f"CUDA out of memory (injected in {name})")
        yield
    except torch.cuda.OutOfMemoryError as e:
        raise TrialFailed(f"out of memory in {name}: {str(e).splitlines()[0][:300]}") from None


def param_groups(model: nn.Module, weight_decay: float, backbone_lr: float = 1.0) -> list[dict]:
    """Weight decay on conv and linear weights only: not on norms, biases or gate biases. With
    `backbone_lr` != 1, all but the classifier (`model.head`) train at that fraction of the lr
    (each group's "lr_scale"). Frozen parameters (requires_grad False) are left out."""
    groups: dict[tuple[bool, float], list[nn.Parameter]] = {}
    for name, p in model.named_parameters():
        if p.requires_grad:
            scale = 1.0 if name.startswith("head.") else backbone_lr
            groups.setdefault((p.ndim > 1, scale), []).append(p)
    return [{"params": params, "weight_decay": weight_decay if decay else 0.0, "lr_scale": scale}
            for (decay, scale), params in sorted(groups.items(), key=lambda kv: (not kv[0][0], -kv[0][1]))]


def make_optimizer(model: nn.Module, cfg: OptimConfig, *, fused: bool = False,
                   backbone_lr: float = 1.0) -> torch.optim.Optimizer:
    """AdamW or SGD with Nesterov momentum, the lr scaled linearly from batch 32 (and by
    `backbone_lr` for all but the classifier, to fine-tune). `fused` (on CUDA): one kernel for the
    whole update instead of one per parameter tensor."""
    lr = cfg.lr * cfg.batch_size / 32
    groups = [{"params": g["params"], "weight_decay": g["weight_decay"], "lr": lr * g["lr_scale"]}
              for g in param_groups(model, cfg.weight_decay, backbone_lr)]
    extra = {"fused": True} if fused else {}
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=cfg.momentum, nesterov=True, **extra)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=lr, **extra)
    raise ValueError(f"optimizer must be 'sgd' or 'adamw', got {cfg.optimizer!r}")


def freeze_norms(model: nn.Module) -> int:
    """Every BatchNorm frozen, as fine-tuning from published weights often does: its scale and
    shift no longer train, and `norms_to_eval` keeps its running statistics. Returns how many."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.requires_grad_(False)
    return len(norms)


def norms_to_eval(model: nn.Module) -> None:
    """BatchNorms whose parameters are frozen normalise by their running statistics in training too."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.weight is not None and not m.weight.requires_grad:
            m.eval()


def make_scheduler(optimizer: torch.optim.Optimizer, *, warmup_steps: int, total_steps: int
                   ) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up from 1% to the peak, then cosine decay to 0, stepped every batch."""
    def factor(step: int) -> float:
        if step < warmup_steps:
            return 0.01 + 0.99 * step / max(1, warmup_steps)
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _autocast(device: torch.device, dtype: torch.dtype | None) -> torch.autocast:
    return torch.autocast(device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None)


CHECK_EVERY = 50  # training steps between reads of the loss (each read waits for the device)


def train_epoch(model: nn.Module, loader: Iterable[RawBatch], optimizer: torch.optim.Optimizer,
                scheduler: torch.optim.lr_scheduler.LRScheduler | None, *, device: torch.device,
                label_smoothing: float = 0.1, amp_dtype: torch.dtype | None = None,
                channels_last: bool = False, check_every: int = CHECK_EVERY,
                step_guard: Callable[[], contextlib.AbstractContextManager] | None = None) -> dict[str, float]:
    """One pass over the training loader. The loss is summed on the device and read every
    `check_every` steps and at the end (no host sync per step); `DivergedError` if it is NaN or
    infinite by then. `step_guard` wraps each step (e.g. `DeviceLock.shared`)."""
    model.train()
    norms_to_eval(model)  # frozen norms (`freeze_norms`) keep their statistics
    guard = step_guard or contextlib.nullcontext
    loss_sum = torch.zeros((), device=device)
    count, steps, checked = 0, 0, 0
    start = time.perf_counter()
    for batch in device_batches(loader, device, channels_last=channels_last):
        with guard():
            with phase("forward"), _autocast(device, amp_dtype):
                logits = model(batch.clips)
                loss = F.cross_entropy(logits.float(), batch.labels, label_smoothing=label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            with phase("backward"):
                loss.backward()
                optimizer.step()
            if scheduler is not None:
                scheduler.step()
            loss_sum += loss.detach() * len(batch)
        steps, count = steps + 1, count + len(batch)
        if steps % check_every == 0:
            _check_finite(loss_sum, checked, steps, count)
            checked = steps
    total = _check_finite(loss_sum, checked, steps, count)
    seconds = time.perf_counter() - start
    return {"train_loss": total / max(count, 1), "train_clips_per_s": count / max(seconds, 1e-9)}


def _check_finite(loss_sum: torch.Tensor, after: int, upto: int, count: int) -> float:
    value = loss_sum.item()
    if not math.isfinite(value):
        raise DivergedError(f"diverged: the loss became {value} in training steps {after + 1}-{upto} of the epoch "
                            f"({count} clips)")
    return value


@torch.no_grad()
def evaluate(model: nn.Module, loader: Iterable[RawBatch], *, device: torch.device, group_names: tuple[str, ...],
             pairs: tuple[tuple[int, int], ...] = (), amp_dtype: torch.dtype | None = None,
             channels_last: bool = False, per_clip: bool = False) -> dict[str, Any]:
    """Loss, top-1/top-5, accuracy per class group and within pairs (all in [0, 1]), and `views`:
    a clip's logits are the mean over its views (temporal offsets x spatial crops). Logits stay on
    the device until the split is done: one host read per evaluation.

    `per_clip` adds each clip's outcome in the loader's order (`search.trial.metrics.clip_outcomes`):
    `clip_top1` (1 correct, 0 not) and `clip_pair` (1/0 within its pair, -1 for a class without a
    partner), from which a study resamples the test clips (`search.studies.stats`)."""
    model.eval()
    acc = Accumulator(group_names=group_names, pairs=pairs)
    views, outputs = 1, []
    for batch in device_batches(loader, device, channels_last=channels_last):
        with phase("evaluation"), _autocast(device, amp_dtype):
            logits = model(batch.clips).float()
        views = batch.views
        outputs.append((logits.view(len(batch.labels), views, -1).mean(dim=1), batch.labels, batch.groups))
    if outputs:
        logits, labels, groups = (torch.cat(parts).cpu() for parts in zip(*outputs))  # (N, classes), (N,), (N,)
        acc.update(logits, labels, groups, F.cross_entropy(logits, labels, reduction="sum").item())
        if per_clip:
            return acc.result() | {"views": views} | clip_outcomes(logits, labels, pairs)
    return acc.result() | {"views": views}
