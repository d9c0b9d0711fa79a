"""One trial: build the sampled spec, train it on the clip store, evaluate and checkpoint every
epoch, report to Ray Tune and MLflow, resume from the last checkpoint after a failure or restore.

Each epoch reports `epoch`, `max_epochs`, the validation metrics `val_top1`, `val_top5`,
`val_loss`, `val_acc_<group>`, `val_within_pair` and `val_views` (evaluation views per clip),
`train_loss`, `train_clips_per_s`, `train_seconds` (cumulative), `params`, `gmacs` (multiply-adds
/ 1e9 per view), `views` (evaluation views per clip, known before training: `eval_views`),
`gmacs_clip` (GMACs per clip = gmacs x views: what evaluating one clip costs, the cost every
comparison uses), `latency_ms` (batch-1 forward on the trial's device), the learning curves so far
(`curve_val_top1`, `curve_val_within_pair`, `curve_train_loss`: one value per epoch) and `status`:
"running", then "complete" at the last epoch, or "failed" (with `reason`) for a diverged or
out-of-memory trial, which stops there without failing the search.

Validation selects; the test split reports: `test_*` (the same metrics on the store's test split)
is computed once, after the last epoch of a complete trial, and never before a decision is made,
with each clip's outcome (`test_clip_top1`, `test_clip_pair`) for the studies' clip resampling.
A benchmark table (`test_curve`, no early stopping: nothing is decided) records it every epoch.
`epoch_seconds` is the epoch's wall time for training and validation (what a search spends).

Reproducible: a trial's seed is the study replicate's, or derives from the search seed and the
architecture (`trial_seed`), never from Ray's trial ids; every checkpoint holds the torch, numpy
and Python RNG states and the data order's (seed, epoch), so a resumed trial continues exactly
where an uninterrupted one would be.
"""
from __future__ import annotations

import contextlib
import gc
import math
import os
import platform
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from mlflow.tracking import MlflowClient
import ray
from ray import tune

from search.data.loader import ClipDataset, eval_views, make_loader
from search.data.store import ClipStore
from search.record import tracking
from search.record.layout import STATE_FILE
from search.trial.device import DeviceLock, configure_backends, memory_fraction
from search.trial.loop import (TrialFailed, evaluate, freeze_norms, inject_oom, make_optimizer, make_scheduler, phase,
                               train_epoch)
from search.trial.setup import COST_KEYS, CURVES, FAULT_ENV, UNMEASURED, TrialSetup, trial_seed
from spaces import ArchSpec, build, cost, measure_latency
from spaces.bounds import gmacs_over_budget
from spaces.inflate import inflate
from spaces.load import WEIGHTS_FILE
from spaces.weights import WeightsError, load_weights


def rng_state(data_seed: int, epoch: int) -> dict[str, Any]:
    """Every random stream a trial draws from, as tensors and plain values (`weights_only` loads it)."""
    np_state = np.random.get_state()
    state = {"torch": torch.get_rng_state(), "python": list(random.getstate()[1]),
             "python_version": random.getstate()[0], "python_gauss": random.getstate()[2],
             "numpy": torch.from_numpy(np_state[1].astype(np.int64)), "numpy_pos": int(np_state[2]),
             "data": {"seed": data_seed, "epoch": epoch}}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any], data_seed: int) -> None:
    if state["data"]["seed"] != data_seed:
        raise RuntimeError(f"checkpoint was trained with data seed {state['data']['seed']}, not {data_seed}")
    torch.set_rng_state(state["torch"])
    random.setstate((state["python_version"], tuple(state["python"]), state["python_gauss"]))
    np.random.set_state(("MT19937", state["numpy"].numpy().astype(np.uint32), state["numpy_pos"], 0, 0.0))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def start_weights(model: torch.nn.Module, init: Any) -> Any:
    """Load `init` (search.trial.options.InitConfig) into a freshly built model: a state dict file,
    or an export directory's weights; inflated from 2D when `init.inflate`. Weights that do not fit
    fail the trial with the one-line reason."""
    source = Path(init.weights)
    if source.is_dir():
        source = source / WEIGHTS_FILE
    try:
        if init.inflate:
            return inflate(model, source, rule=init.rule, head=init.head, ignore=tuple(init.ignore),
                           name=str(init.weights))
        return load_weights(model, source, head=init.head, shorten=init.shorten, name=str(init.weights))
    except WeightsError as e:
        raise TrialFailed(f"init: {e}") from None


def train_trial(config: dict[str, Any], setup: TrialSetup) -> None:
    """Ray Tune function trainable; `config` is `{"arch": spec JSON}` from the search space, plus
    `seed` for a study's replicate (else `trial_seed` of the search seed and the architecture).

    A trial that cannot go on (`TrialFailed`: out of memory in any phase, no CUDA for a GPU trial,
    a diverged loss) reports `status: failed` with the reason and ends; it is not retried, and its
    GPU memory is released so that trials sharing the GPU go on."""
    torch.set_num_threads(max(1, setup.cpus))
    spec = ArchSpec.from_json(config["arch"])
    context = tune.get_context()
    trial_id = context.get_trial_id()
    seed = config.get("seed")
    init_seed = trial_seed(setup.seed, config["arch"]) if seed is None else seed
    preset = (setup.labels or {}).get(config["arch"], "")
    params = spec.choices() | {"slug": spec.slug(), "trial_seed": init_seed, "trial_id": trial_id}
    if preset:
        params["preset"] = preset
    if seed is not None:
        params |= {"seed": seed, "arm": preset}
    client = MlflowClient(setup.tracking_uri)
    run_id = tracking.trial_run(client, setup.experiment_id, setup.parent_run_id, trial_id, spec.title(preset), params,
                                spec.to_json(indent=2), dataset=setup.dataset)
    c = cost(spec)
    views = eval_views(setup.stored_frames, spec.frames)
    static = {"params": c.params, "gmacs": c.gmacs, "views": views, "gmacs_clip": c.gmacs * views,
              "max_epochs": setup.epochs, "mlflow_run_id": run_id,
              "node_id": ray.get_runtime_context().get_node_id(), "restored_from_epoch": 0,
              **({"seed": seed} if seed is not None else {})}
    if (gmacs_over_budget(c.gmacs, setup.max_gmacs) or 0.0) > 0:
        tune.report({**UNMEASURED, **static, "epoch": 0, "status": "failed",
                     "reason": f"infeasible: {c.gmacs:.4f} GMACs over the budget of {setup.max_gmacs} GMACs"})
        return
    inject_oom(_injected_phase(spec.slug()))
    progress = {"epoch": 0}
    monitor = _system_metrics(run_id, setup)
    try:
        _train(config, setup, spec, init_seed, seed, client, run_id, static, progress)
    except TrialFailed as e:
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()  # the GPU's other trials get the memory back
        tune.report({**UNMEASURED, **static, "epoch": progress["epoch"], "status": "failed", "reason": str(e)[:500]})
    finally:
        inject_oom(None)
        if monitor is not None:
            monitor.finish()


def _train(config: dict[str, Any], setup: TrialSetup, spec: ArchSpec, init_seed: int, seed: int | None,
           client: MlflowClient, run_id: str, static: dict[str, Any], progress: dict[str, int]) -> None:
    device = _device(setup.gpus)
    _seed_everything(init_seed)
    data_seed = setup.seed if seed is None else seed  # one data order for every trial of a search
    store = ClipStore.open(setup.data)
    meta = store.meta
    train = make_loader(ClipDataset(store, "train", train=True, crop=spec.crop, frames=spec.frames, seed=data_seed),
                        batch_size=setup.optim.batch_size, seed=data_seed, workers=setup.loader_workers)
    val = make_loader(ClipDataset(store, "val", crop=spec.crop, frames=spec.frames), batch_size=2 * setup.optim.batch_size,
                      workers=setup.loader_workers)
    channels_last = True
    with phase("build"):
        model = build(spec)
        if setup.init is not None:  # a resumed trial's checkpoint replaces these below
            init = start_weights(model, setup.init)
            tracking.log_params_once(client, run_id, {"init_weights": init.name, "init_sha256": init.sha256,
                                                      "init_tensors": init.tensors, "init_inflated": setup.init.inflate})
            if setup.init.freeze_bn:
                freeze_norms(model)
        model = model.to(device=device, memory_format=torch.channels_last_3d)
        optimizer = make_optimizer(model, setup.optim, fused=device.type == "cuda",
                                   backbone_lr=setup.init.backbone_lr if setup.init is not None else 1.0)
    total = len(train) * setup.epochs
    scheduler = make_scheduler(optimizer, warmup_steps=int(len(train) * setup.optim.warmup_epochs), total_steps=total)
    amp_dtype = torch.bfloat16 if setup.amp and device.type == "cuda" else None

    start_epoch, seconds, rng, curves = 0, 0.0, None, {key: [] for key in CURVES}
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as directory:
            state = torch.load(Path(directory) / STATE_FILE, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start_epoch, seconds, rng = state["epoch"], state["train_seconds"], state.get("rng")
        curves = state.get("curves", curves)
        static["restored_from_epoch"] = start_epoch  # this attempt resumed there (after a crash, a lost node)
        if start_epoch == setup.epochs and "result" in state:  # it ended just as the search stopped:
            tune.report(state["result"])  # say so again, so that Tune ends it with its final result
            return
    progress["epoch"] = start_epoch
    # epochs this run logged before a restart that found no checkpoint: re-trained identically
    # (reproducible), so not logged twice
    logged = {m.step for m in tracking.retry(lambda: client.get_metric_history(run_id, "epoch"))}
    lock = DeviceLock.for_device(device) if 0 < setup.gpus < 1 else None  # a GPU shared with other trials
    with phase("latency"), (lock.exclusive() if lock else contextlib.nullcontext()):  # neighbours pause
        warmup, repeats = (10, 20) if device.type == "cuda" else (1, 3)  # cuDNN autotunes in the warm-up
        static["latency_ms"] = measure_latency(model, frames=spec.frames, crop=spec.crop, device=device,
                                               dtype=amp_dtype or torch.float32, warmup=warmup, repeats=repeats,
                                               channels_last=channels_last, backward=False).forward_ms
    if not tracking.retry(lambda: client.get_metric_history(run_id, "gmacs")):  # once, not a flat line per epoch
        tracking.log_metrics(client, run_id, {k: static[k] for k in COST_KEYS}, 0)
    if rng is not None:  # where the uninterrupted run stood after `start_epoch` (latency drew from it since)
        set_rng_state(rng, data_seed)
    else:
        _seed_everything(init_seed + 1)  # the same stream whatever building and timing the model drew
    evaluate_on = lambda loader, per_clip=False: evaluate(  # noqa: E731
        model, loader, device=device, group_names=meta.group_names, pairs=meta.pairs, amp_dtype=amp_dtype,
        channels_last=channels_last, per_clip=per_clip)
    for epoch in range(start_epoch + 1, setup.epochs + 1):
        train.sampler.set_epoch(epoch)
        began = time.perf_counter()
        fit = train_epoch(model, train, optimizer, scheduler, device=device, amp_dtype=amp_dtype,
                          label_smoothing=setup.optim.label_smoothing, channels_last=channels_last,
                          step_guard=lock.shared if lock else None)
        seconds += time.perf_counter() - began
        last = epoch == setup.epochs
        result = {**static, **{f"val_{k}": v for k, v in evaluate_on(val).items()}, **fit, "epoch": epoch,
                  "train_seconds": seconds, "epoch_seconds": time.perf_counter() - began,  # train + validation
                  "status": "complete" if last else "running", "reason": ""}
        for key, values in curves.items():
            values.append(result.get(key, math.nan))
            result[f"curve_{key}"] = list(values)
        if (last or setup.test_curve) and "test" in store.splits:  # reported, never selected on
            test = make_loader(ClipDataset(store, "test", crop=spec.crop, frames=spec.frames),
                               batch_size=2 * setup.optim.batch_size, workers=setup.loader_workers)
            result |= {f"test_{k}": v for k, v in evaluate_on(test, per_clip=last).items()}
        if epoch not in logged:
            tracking.log_metrics(client, run_id, {k: v for k, v in result.items() if k not in static}, epoch)
        rng = rng_state(data_seed, epoch)  # after evaluating (a DataLoader draws its base seed from torch's RNG)
        with tempfile.TemporaryDirectory() as directory:
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(), "epoch": epoch, "train_seconds": seconds, "curves": curves,
                        "spec": spec.to_json(), "rng": rng, "result": result}, Path(directory) / STATE_FILE)
            tune.report(result, checkpoint=tune.Checkpoint.from_directory(directory))
        progress["epoch"] = epoch


def _system_metrics(run_id: str, setup: TrialSetup) -> Any:
    """MLflow's system metrics monitor on the trial's run (a thread sampling CPU, memory, disk,
    network and, with pynvml, GPU utilization and memory), started; None when turned off."""
    if setup.system_metrics_s is None:
        return None
    from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

    class Monitor(SystemMetricsMonitor):
        """MLflow's monitor publishes a sample only after a full interval: a trial shorter than
        that would have none. Its first sample (taken at start) is published when it finishes."""

        def start(self) -> None:
            self.first_step = self._logging_step  # mlflow==3.17.2's step counter (resumed on restore)
            super().start()

        def finish(self) -> None:
            super().finish()
            if self._logging_step == self.first_step and (metrics := self.aggregate_metrics()):
                self.publish_metrics(metrics)
                self.mlflow_logger.flush()

    monitor = Monitor(run_id, sampling_interval=setup.system_metrics_s, resume_logging=True,
                      tracking_uri=setup.tracking_uri)
    monitor.start()
    return monitor


def _injected_phase(slug: str) -> str | None:
    """The phase in which `FAULT_ENV` asks this trial to run out of memory (tests of the failure
    path on machines without a GPU), for the first entry whose slug part is in `slug`."""
    for entry in os.environ.get(FAULT_ENV, "").split(","):
        name, _, part = entry.partition(":")
        if name and part in slug:
            return name
    return None


def _seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def _device(gpus: float) -> torch.device:
    """The trial's device: a GPU trial needs CUDA on its node (it never falls back to the CPU)."""
    if gpus <= 0:
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise TrialFailed(f"gpus_per_trial={gpus:g}, but CUDA finds no GPU on node {platform.node()}; the trial "
                          "did not train (set gpus_per_trial: 0 for CPU trials)")
    device = torch.device("cuda", torch.cuda.current_device())
    if gpus < 1:  # fractional GPUs share memory: cap this trial at its share, less its CUDA context
        try:
            fraction = memory_fraction(gpus, torch.cuda.get_device_properties(device).total_memory)
        except ValueError as e:
            raise TrialFailed(str(e)) from None
        torch.cuda.set_per_process_memory_fraction(fraction, device)
    configure_backends(device)
    return device
