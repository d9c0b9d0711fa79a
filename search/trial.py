"""One trial: build the sampled spec, train it on the clip store, evaluate and checkpoint every
epoch, report to Ray Tune and MLflow, resume from the last checkpoint after a failure or restore.

Each epoch reports `epoch`, `max_epochs`, `val_top1`, `val_top5`, `val_loss`, `acc_<group>`,
`within_pair`, `train_loss`, `train_clips_per_s`, `train_seconds` (cumulative), `params`, `gmacs`
(multiply-adds / 1e9 per clip), `latency_ms` (batch-1 forward on the trial's device) and `status`:
"running", then "complete" at the last epoch, or "failed" (with `reason`) for a diverged or
out-of-memory trial, which stops there without failing the search.
"""
from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from mlflow.tracking import MlflowClient
from ray import tune

from search import tracking
from search.data.loader import ClipDataset, make_loader
from search.data.store import ClipStore
from search.train import DivergedError, OptimConfig, evaluate, make_optimizer, make_scheduler, train_epoch
from spaces import ArchSpec, build, cost, measure_latency

STATE_FILE = "state.pt"


@dataclass(frozen=True)
class TrialSetup:
    """What every trial of a search shares (passed once with `tune.with_parameters`)."""

    data: str
    epochs: int
    optim: OptimConfig
    seed: int
    cpus: int
    gpus: float
    amp: bool
    loader_workers: int
    tracking_uri: str
    experiment_id: str
    parent_run_id: str
    max_gmacs: float | None = None  # over this budget a trial fails at once, untrained
    labels: dict[str, str] | None = None  # arch JSON -> arm name (a study's arms), logged as param `arm`


def train_trial(config: dict[str, Any], setup: TrialSetup) -> None:
    """Ray Tune function trainable; `config` is `{"arch": spec JSON}` from the search space, plus
    `seed` for a study's replicate (else the seed derives from the search seed and trial id)."""
    torch.set_num_threads(max(1, setup.cpus))
    device = _device(setup.gpus)
    spec = ArchSpec.from_json(config["arch"])
    context = tune.get_context()
    trial_id, trial_name = context.get_trial_id(), context.get_trial_name()
    seed = config.get("seed")
    torch.manual_seed(setup.seed + sum(map(ord, trial_id)) if seed is None else seed)
    data_seed = setup.seed if seed is None else seed
    store = ClipStore.open(setup.data)
    meta = store.meta
    train = make_loader(ClipDataset(store, "train", train=True, crop=spec.crop, frames=spec.frames, seed=data_seed),
                        batch_size=setup.optim.batch_size, seed=data_seed, workers=setup.loader_workers)
    val = make_loader(ClipDataset(store, "val", crop=spec.crop, frames=spec.frames), batch_size=2 * setup.optim.batch_size,
                      workers=setup.loader_workers)
    channels_last = True
    model = build(spec).to(device=device, memory_format=torch.channels_last_3d)
    optimizer = make_optimizer(model, setup.optim)
    total = len(train) * setup.epochs
    scheduler = make_scheduler(optimizer, warmup_steps=int(len(train) * setup.optim.warmup_epochs), total_steps=total)
    amp_dtype = torch.bfloat16 if setup.amp and device.type == "cuda" else None

    client = MlflowClient(setup.tracking_uri)
    start_epoch, seconds = 0, 0.0
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as directory:
            state = torch.load(Path(directory) / STATE_FILE, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start_epoch, seconds = state["epoch"], state["train_seconds"]
    params = spec.choices() | {"slug": spec.slug()}
    if seed is not None:
        params |= {"seed": seed, "arm": (setup.labels or {}).get(config["arch"], "")}
    run_id = tracking.trial_run(client, setup.experiment_id, setup.parent_run_id, trial_id, trial_name, params,
                                spec.to_json(indent=2))
    c = cost(spec)
    static = {"params": c.params, "gmacs": c.gmacs, "max_epochs": setup.epochs, "mlflow_run_id": run_id,
              **({"seed": seed} if seed is not None else {}),
              "latency_ms": measure_latency(model, frames=spec.frames, crop=spec.crop, device=device,
                                            warmup=1, repeats=3, channels_last=channels_last, backward=False).forward_ms}
    if setup.max_gmacs is not None and c.gmacs > setup.max_gmacs:
        tune.report({**static, "epoch": 0, "status": "failed",
                     "reason": f"infeasible: {c.gmacs:.4f} GMACs over the budget of {setup.max_gmacs} GMACs"})
        return
    for epoch in range(start_epoch + 1, setup.epochs + 1):
        train.sampler.set_epoch(epoch)
        began = time.perf_counter()
        try:
            fit = train_epoch(model, train, optimizer, scheduler, device=device, amp_dtype=amp_dtype,
                              label_smoothing=setup.optim.label_smoothing, channels_last=channels_last)
        except (DivergedError, torch.cuda.OutOfMemoryError) as e:
            reason = f"{type(e).__name__}: {e}".splitlines()[0][:500]
            tune.report({**static, "epoch": epoch - 1, "status": "failed", "reason": reason})
            return
        seconds += time.perf_counter() - began
        metrics = evaluate(model, val, device=device, group_names=meta.group_names, pairs=meta.pairs,
                           amp_dtype=amp_dtype, channels_last=channels_last)
        result = {**static, **{f"val_{k}" if k in ("top1", "top5", "loss") else k: v for k, v in metrics.items()},
                  **fit, "epoch": epoch, "train_seconds": seconds,
                  "status": "complete" if epoch == setup.epochs else "running", "reason": ""}
        tracking.log_metrics(client, run_id, {k: v for k, v in result.items() if k not in ("max_epochs",)}, epoch)
        with tempfile.TemporaryDirectory() as directory:
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(), "epoch": epoch, "train_seconds": seconds,
                        "spec": spec.to_json()}, Path(directory) / STATE_FILE)
            tune.report(result, checkpoint=tune.Checkpoint.from_directory(directory))


def _device(gpus: float) -> torch.device:
    if gpus > 0 and torch.cuda.is_available():
        if gpus < 1:  # fractional GPUs share memory: cap this trial at its fraction
            torch.cuda.set_per_process_memory_fraction(gpus)
        return torch.device("cuda")
    return torch.device("cpu")
