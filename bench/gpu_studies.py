"""The studies at a larger scale on one GPU, with figures kept apart from the CPU studies'.

    python bench/gpu_studies.py plan OUT [--size medium] [--width 0.5] [--depth 1.0] [--epochs 30]
    python bench/gpu_studies.py run OUT [--smoke]        # on the GPU machine: torch and pyarrow only
    vidnas study report OUT/STUDY_REGIME                 # back here: the verdicts, as for any study

1. `plan` (here, with the whole stack): every study of configs/studies/ but the joint one (it
   runs a search, which needs Ray) in both regimes, at the benchmark's `--size` (medium: 600
   training clips a class, 16 x 64 x 64, 24 classes), its presets at `--width`/`--depth` and the
   study's own seeds, half-budget seeds, optimizer and adequacy rule. Writes OUT/STUDY_REGIME/
   study_config.yaml (what `vidnas study report` reads) and OUT/plan.json: every run's spec, seed,
   epochs and optimizer as plain JSON (the GPU machine has no YAML, Ray, Optuna or MLflow).
2. `run` (the GPU machine): writes each regime's store (`search.data.synth`), then trains every
   planned run with the search's own loop (`search.trial.loop`: bf16 autocast, channels-last, fused
   AdamW, the same warm-up and cosine), validation every epoch, the test split once at the end
   with every clip's outcome, and appends one row per run to OUT/STUDY_REGIME/results.parquet (or
   half/results.parquet) in the columns a study's results table has, so the study's analysis reads
   them as it reads its own. Resumes: a run already in its table is not trained again. Also writes
   store_facts.json (the regime and the test clips' groups), since the store stays on that machine.
   `--smoke` runs the same code at toy size on a CPU (plan it `--size tiny`): 2 epochs at batch 8.

Latency is not measured here (the verdicts do not need it; `bench/gpu.py` measures the GPU).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PLAN = "plan.json"
SKIPPED = ("joint",)  # runs a search first (Ray): not on the GPU machine


def plan(out: Path, *, size: str, width: float | None, depth: float | None, epochs: int | None,
         studies: list[str] | None, regimes: list[str], configs: Path = ROOT / "configs" / "studies") -> Path:
    import yaml

    from search.data.synth import synth_meta
    from search.studies.arms import arm_spec
    from search.studies.config import STUDY_CONFIG, StudyConfig

    runs: list[dict[str, Any]] = []
    data = {r: {"size": size, "profile": r, "path": str(out / "data" / r)} for r in regimes}
    for path in sorted(configs.glob("*.yaml")):
        if path.stem in SKIPPED or (studies and path.stem not in studies):
            continue
        base = StudyConfig.from_yaml(path)
        for regime in regimes:
            meta = synth_meta(f"study-{size}-{regime}", size, 0, regime)
            cfg = dataclasses.replace(base, name=f"{base.name}_{regime}", storage=str(out.resolve()),
                                      data=data[regime]["path"], epochs=epochs or base.epochs,
                                      width=width or base.width, depth=depth or base.depth)
            directory = out / cfg.name
            directory.mkdir(parents=True, exist_ok=True)
            (directory / STUDY_CONFIG).write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
            for arm in cfg.arms:
                spec = arm_spec(arm, cfg, meta)
                for half, seeds in ((False, cfg.seeds), (True, cfg.half_seeds)):
                    for seed in seeds:
                        runs.append({"study": cfg.name, "regime": regime, "arm": arm.name, "seed": seed,
                                     "half": half, "epochs": cfg.epochs // 2 if half else cfg.epochs,
                                     "spec": spec.to_json(), "optim": dataclasses.asdict(cfg.optim)})
    out.mkdir(parents=True, exist_ok=True)
    (out / PLAN).write_text(json.dumps({"data": data, "runs": runs}, indent=1))
    return out / PLAN


def train_run(run: dict[str, Any], store: Any, device: Any, *, smoke: bool) -> dict[str, Any]:
    """One planned run with the search's loop: a row of a study's results table."""
    import torch

    from search.data.loader import ClipDataset, eval_views, make_loader
    from search.trial.loop import OptimConfig, evaluate, make_optimizer, make_scheduler, train_epoch
    from spaces import ArchSpec, build, cost

    spec = ArchSpec.from_json(run["spec"])
    optim = OptimConfig(**run["optim"])
    meta, seed = store.meta, run["seed"]
    torch.manual_seed(seed)
    model = build(spec).to(device=device, memory_format=torch.channels_last_3d)
    optimizer = make_optimizer(model, optim, fused=device.type == "cuda")
    train = make_loader(ClipDataset(store, "train", train=True, crop=spec.crop, frames=spec.frames, seed=seed),
                        batch_size=optim.batch_size, seed=seed, workers=0 if smoke else 4)
    loader = lambda split: make_loader(ClipDataset(store, split, crop=spec.crop, frames=spec.frames),  # noqa: E731
                                       batch_size=2 * optim.batch_size, workers=0 if smoke else 4)
    scheduler = make_scheduler(optimizer, warmup_steps=int(len(train) * optim.warmup_epochs),
                               total_steps=len(train) * run["epochs"])
    amp = torch.bfloat16 if device.type == "cuda" else None
    check = dict(device=device, group_names=meta.group_names, pairs=meta.pairs, amp_dtype=amp, channels_last=True)
    curves: dict[str, list[float]] = {"val_top1": [], "val_within_pair": [], "train_loss": []}
    began = time.perf_counter()
    for epoch in range(1, run["epochs"] + 1):
        train.sampler.set_epoch(epoch)
        fit = train_epoch(model, train, optimizer, scheduler, device=device, amp_dtype=amp,
                          label_smoothing=optim.label_smoothing, channels_last=True)
        val = evaluate(model, loader("val"), **check)
        for key, value in (("val_top1", val["top1"]), ("val_within_pair", val["within_pair"]),
                           ("train_loss", fit["train_loss"])):
            curves[key].append(value)
    seconds = time.perf_counter() - began
    test = evaluate(model, loader("test"), **check, per_clip=True)
    counted = cost(spec)
    views = eval_views(meta.frames, spec.frames)
    row = {"trial_id": f"{run['arm']}-{seed}{'-half' if run['half'] else ''}", "state": "complete",
           "epochs": run["epochs"], "max_epochs": run["epochs"], "preset": run["arm"], "spec": run["spec"],
           "slug": spec.slug(), "seed": seed, "reason": "", "params": float(counted.params),
           "gmacs": counted.gmacs, "views": views, "gmacs_clip": counted.gmacs * views,
           "train_seconds": seconds, "train_loss": fit["train_loss"],
           "train_clips_per_s": len(train) * optim.batch_size * run["epochs"] / seconds,
           **{f"val_{k}": v for k, v in val.items() if isinstance(v, (int, float))},
           **{f"test_{k}": v for k, v in test.items() if isinstance(v, (int, float))},
           "test_clip_top1": [int(x) for x in test["clip_top1"]], "test_clip_pair": [int(x) for x in test["clip_pair"]],
           **{f"curve_{k}": v for k, v in curves.items()}}
    return {k: (float(v) if isinstance(v, float) and math.isfinite(v) else v) for k, v in row.items()}


def run_all(out: Path, *, smoke: bool) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    import torch

    from search.data.store import ClipStore
    from search.data.synth import store_profile, write_synth

    planned = json.loads((out / PLAN).read_text())
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    stores = {}
    for regime, where in planned["data"].items():
        path = Path(where["path"])
        if not (path / "meta.json").is_file():
            write_synth(path, size_name=where["size"], profile=where["profile"], progress=False)
        stores[regime] = ClipStore.open(path)
    for study in sorted({r["study"] for r in planned["runs"]}):
        store = stores[next(r["regime"] for r in planned["runs"] if r["study"] == study)]
        labels, group_of = store.labels("test"), np.asarray(store.meta.groups)
        facts = {"regime": store_profile(store.meta),
                 "groups": {g: (group_of[labels] == g).astype(int).tolist() for g in store.meta.group_names}}
        (out / study / "store_facts.json").write_text(json.dumps(facts))
    for run in planned["runs"]:
        table = out / run["study"] / ("half" if run["half"] else "") / "results.parquet"
        rows = pq.read_table(table).to_pylist() if table.is_file() else []
        name = f"{run['arm']}-{run['seed']}{'-half' if run['half'] else ''}"
        if any(r["trial_id"] == name for r in rows):
            continue
        if smoke:
            run = run | {"epochs": 2, "optim": run["optim"] | {"batch_size": 8}}
        began = time.perf_counter()
        rows.append(train_run(run, stores[run["regime"]], device, smoke=smoke))
        table.parent.mkdir(parents=True, exist_ok=True)
        tmp = table.with_suffix(".tmp")
        pq.write_table(pa.Table.from_pylist(rows), tmp)
        tmp.replace(table)  # a run is recorded whole or not at all
        print(f"{run['study']} {name}: test top-1 {rows[-1]['test_top1']:.3f} "
              f"({time.perf_counter() - began:.0f} s on {device})", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("plan", help="write the plan and the study directories (here)")
    p.add_argument("out", type=Path)
    p.add_argument("--size", default="medium", help="the benchmark size (search.data.synth.SIZES)")
    p.add_argument("--width", type=float, help="width multiplier of every arm (default: each study's)")
    p.add_argument("--depth", type=float, help="depth multiplier (default: each study's)")
    p.add_argument("--epochs", type=int, help="epochs (default: each study's)")
    p.add_argument("--studies", help="comma-separated study names (default: all but joint)")
    p.add_argument("--regimes", default="appearance,temporal")
    p.add_argument("--configs", type=Path, default=ROOT / "configs" / "studies", help="the study files' folder")
    r = sub.add_parser("run", help="train every planned run (the GPU machine)")
    r.add_argument("out", type=Path)
    r.add_argument("--smoke", action="store_true", help="toy size on a CPU: the same code paths")
    args = parser.parse_args()
    if args.command == "plan":
        written = plan(args.out, size=args.size, width=args.width, depth=args.depth, epochs=args.epochs,
                       studies=args.studies.split(",") if args.studies else None, regimes=args.regimes.split(","),
                       configs=args.configs)
        print(f"written: {written} ({len(json.loads(written.read_text())['runs'])} runs)")
    else:
        run_all(args.out, smoke=args.smoke)
