"""What `make studies` will cost, and whether its budget trains the arms: measured, before the run.

    python bench/bench_study_budget.py [--regimes appearance,temporal] [--steps 4]
    python bench/bench_study_budget.py --curve s3d_factorization:i3d [--epochs 24]

1. Estimate (the default): every arm of every study in configs/studies/, built at the study's scale
   and timed for a few training steps at the study's batch size on one CPU thread (a trial's
   share), then the study's whole budget: arms x (seeds x epochs + half-budget seeds x epochs / 2)
   x steps per epoch, plus one evaluation pass of validation per epoch and of test per run, in
   parallel over the study's `concurrency` trials. Prints per study and regime, and the total, in
   hours of wall time. Trial start-up and latency rounds are not counted (minutes).
2. Curve (`--curve STUDY:ARM,...`): trains those arms the way a study trains them (its optimizer,
   schedule, batch and epochs; no Ray) on the study's store, prints validation top-1 and train loss
   per epoch and the adequacy rule's verdict on the curve. This is how the studies' budgets were
   chosen: on validation curves of single runs, never on the claims' test metrics.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))

from search.data.loader import ClipDataset, eval_views, make_loader  # noqa: E402
from search.data.store import ClipStore  # noqa: E402
from search.studies.adequacy import check_run  # noqa: E402
from search.studies.arms import arm_spec  # noqa: E402
from search.studies.config import StudyConfig  # noqa: E402
from search.trial.loop import evaluate, make_optimizer, make_scheduler, train_epoch  # noqa: E402
from spaces import build  # noqa: E402

STORES = {"appearance": "data/study", "temporal": "data/study-temporal"}  # as `make studies` writes them


def step_seconds(model: torch.nn.Module, frames: int, crop: int, batch: int, steps: int) -> float:
    """Median seconds of a training step (forward, backward, AdamW) after one warm-up step."""
    model = model.to(memory_format=torch.channels_last_3d)
    x = torch.randn(batch, 3, frames, crop, crop).contiguous(memory_format=torch.channels_last_3d)
    optimizer = torch.optim.AdamW(model.parameters())
    times = []
    for _ in range(steps + 1):
        start = time.perf_counter()
        loss = model(x).logsumexp(dim=1).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    return sorted(times[1:])[len(times[1:]) // 2]


def estimate(regimes: list[str], steps: int) -> float:
    total = 0.0
    for path in sorted((ROOT / "configs" / "studies").glob("*.yaml")):
        cfg = StudyConfig.from_yaml(path)
        for regime in regimes:
            store = ClipStore.open(ROOT / STORES[regime])
            meta, batch = store.meta, cfg.optim.batch_size
            per_epoch = math.ceil(meta.splits["train"] / batch)
            seconds, lines = 0.0, []
            for arm in cfg.arms:
                spec = arm_spec(arm, dataclasses.replace(cfg, data=str(ROOT / STORES[regime])), store.meta)
                step = step_seconds(build(spec), spec.frames, spec.crop, batch, steps)
                views = eval_views(meta.frames, spec.frames)
                evals = (meta.splits["val"] + meta.splits["test"] / cfg.epochs) * views / batch * step / 3  # forward only
                epochs = len(cfg.seeds) * cfg.epochs + len(cfg.half_seeds) * (cfg.epochs // 2)
                arm_s = epochs * (per_epoch * step + evals)
                seconds += arm_s
                lines.append(f"  {arm.name:<22} {step * 1000:7.0f} ms/step  {arm_s / 60:6.1f} min of one core")
            # the joint study: its found arms, and its search (about one arm's runs: a dozen trials, most
            # stopped early by MO-ASHA), at the presets' mean cost
            seconds *= 1 + (cfg.retrain_front + (1 if cfg.search else 0)) / len(cfg.arms)
            wall = seconds / cfg.concurrency
            total += wall
            print(f"{cfg.name} ({regime}): {wall / 3600:.2f} h of wall time ({cfg.concurrency} trials at once; "
                  f"{len(cfg.seeds)} seeds x {cfg.epochs} epochs + {len(cfg.half_seeds)} x {cfg.epochs // 2}, "
                  f"batch {batch}, {per_epoch} steps an epoch)", flush=True)
            print("\n".join(lines), flush=True)
    print(f"\nmake studies: about {total / 3600:.1f} h of wall time on {torch.get_num_threads()} thread(s) per trial")
    return total


def curve(entries: list[str], regime: str, epochs: int | None, batch: int | None = None,
          lr: float | None = None) -> None:
    for entry in entries:
        study, _, name = entry.partition(":")
        cfg = StudyConfig.from_yaml(ROOT / "configs" / "studies" / f"{study}.yaml")
        optim = dataclasses.replace(cfg.optim, batch_size=batch or cfg.optim.batch_size, lr=lr or cfg.optim.lr)
        cfg = dataclasses.replace(cfg, data=str(ROOT / STORES[regime]), epochs=epochs or cfg.epochs, optim=optim)
        store = ClipStore.open(cfg.data)
        arm = next(a for a in cfg.arms if a.name == name)
        spec = arm_spec(arm, cfg, store.meta)
        torch.manual_seed(0)
        model = build(spec).to(memory_format=torch.channels_last_3d)
        train = make_loader(ClipDataset(store, "train", train=True, crop=spec.crop, frames=spec.frames, seed=0),
                            batch_size=cfg.optim.batch_size, seed=0)
        val = make_loader(ClipDataset(store, "val", crop=spec.crop, frames=spec.frames), batch_size=64)
        optimizer = make_optimizer(model, cfg.optim)
        scheduler = make_scheduler(optimizer, warmup_steps=int(len(train) * cfg.optim.warmup_epochs),
                                   total_steps=len(train) * cfg.epochs)
        tops, losses, start = [], [], time.perf_counter()
        for epoch in range(1, cfg.epochs + 1):
            train.sampler.set_epoch(epoch)
            fit = train_epoch(model, train, optimizer, scheduler, device=torch.device("cpu"), channels_last=True,
                              label_smoothing=cfg.optim.label_smoothing)
            top = evaluate(model, val, device=torch.device("cpu"), group_names=store.meta.group_names,
                           channels_last=True)["top1"]
            tops.append(top)
            losses.append(fit["train_loss"])
            print(f"{study}:{name} ({regime}) epoch {epoch}: val top-1 {top:.3f}, train loss {fit['train_loss']:.3f}, "
                  f"{(time.perf_counter() - start) / epoch:.1f} s an epoch", flush=True)
        verdict = check_run(tops, losses, classes=len(store.meta.classes), rule=cfg.adequacy)
        print(f"{study}:{name} ({regime}): {'adequate' if verdict.adequate else 'NOT adequate: ' + verdict.reason} "
              f"(gain {verdict.val_gain:+.3f} over the last window, train loss {verdict.train_loss:.3f} against "
              f"{verdict.loss_limit:.3f})", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regimes", default="appearance,temporal")
    parser.add_argument("--steps", type=int, default=4, help="timed training steps per arm")
    parser.add_argument("--curve", help="STUDY:ARM,... trained as the study trains them (first regime)")
    parser.add_argument("--epochs", type=int, help="with --curve: another budget than the study's")
    parser.add_argument("--batch", type=int, help="with --curve: another batch size than the study's")
    parser.add_argument("--lr", type=float, help="with --curve: another learning rate than the study's")
    args = parser.parse_args()
    torch.set_num_threads(1)  # a trial's share: studies run cpus_per_trial = 1
    missing = [r for r in args.regimes.split(",") if r not in STORES or not (ROOT / STORES[r] / "meta.json").is_file()]
    if missing:
        sys.exit(f"regime {missing[0]}: no store at {STORES.get(missing[0], '?')}; `make studies` writes them "
                 f"(or `vidnas data synth study --size study [--profile temporal]`)")
    if args.curve:
        curve(args.curve.split(","), args.regimes.split(",")[0], args.epochs, args.batch, args.lr)
    else:
        estimate(args.regimes.split(","), args.steps)
