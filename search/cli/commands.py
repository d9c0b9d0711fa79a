"""`vidnas search | report | train`: running a search and reading its results."""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import yaml

from search.data.store import ClipStore
from search.engine.config import SearchConfig
from search.engine.config import load_search_config
from search.engine.tuner import open_study, resume_search, run_search, train_spec
from search.errors import EXIT_FAILED, EXIT_INTERRUPTED, SearchError
from search.record import tracking
from search.record.report import write_report
from search.record.results import format_front, read_results
from spaces import ArchSpec, get_preset


def add_search(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", nargs="?", type=Path, help="a search config (YAML)")
    p.add_argument("--resume", metavar="SEARCH", help="finish an interrupted search: its directory, or its "
                                                    "storage URI (e.g. s3://bucket/searches/NAME)")
    p.add_argument("--config-env", metavar="VAR", help=argparse.SUPPRESS)  # `vidnas submit`: config in $VAR
    p.add_argument("--cpus", type=int, help="CPUs for the local Ray (default: all)")
    p.add_argument("--verbose", type=int, default=1, choices=[0, 1, 2],
                   help="0: a line per ended trial; 1: also starts, rung decisions and a status bar; 2: also Ray Tune's "
                        "tables and the trials' own logs")
    p.add_argument("--register", metavar="NAME", help="register the Pareto front in the MLflow model registry as "
                                                       "NAME (aliases best-top1, cheapest, front-1...)")


def run_search_command(args: argparse.Namespace) -> int:
    if sum(x is not None for x in (args.config, args.resume, args.config_env)) != 1:
        raise SearchError("give a config to start a search, or --resume SEARCH_DIR to finish one")
    start = time.perf_counter()
    if args.resume is not None:
        outcome = resume_search(args.resume, num_cpus=args.cpus, verbose=args.verbose, register=args.register)
    elif args.config_env is not None:
        cfg = SearchConfig.from_dict(yaml.safe_load(os.environ[args.config_env]), where=f"${args.config_env}")
        outcome = run_search(cfg, num_cpus=args.cpus, verbose=args.verbose, register=args.register)
    else:
        outcome = run_search(SearchConfig.from_yaml(args.config), num_cpus=args.cpus, verbose=args.verbose,
                             register=args.register)
    cfg = load_search_config(outcome.search_dir)  # the working copy (its files are current)
    print(f"\n{outcome.front_table(cfg.objectives)}")
    print(f"\nwall time {(time.perf_counter() - start) / 60:.1f} min; results: {outcome.search_dir / 'results.parquet'}")
    print(f"report: {outcome.search_dir / 'report' / 'index.html'}")
    print(f"browse the trials: vidnas ui {outcome.search_dir}  (it prints the MLflow runs page: "
          f"{tracking.runs_page('http://127.0.0.1:PORT', outcome.experiment_id)})")
    if not outcome.finished:
        print(f"interrupted: finish it with `vidnas search --resume {outcome.location or outcome.search_dir}`")
        return EXIT_INTERRUPTED
    if not any(r["state"] == "complete" for r in outcome.rows):
        print("failed: no trial completed; the reasons are in the results table's `reason` column")
        return EXIT_FAILED
    return 0


def add_report(p: argparse.ArgumentParser) -> None:
    p.add_argument("search_dir", type=Path, help="a search directory (or a study directory: its study report)")


def run_report(args: argparse.Namespace) -> int:
    """The Pareto front and plots of a search directory (search.studies.commands dispatches a
    study directory to its study report)."""
    cfg = load_search_config(args.search_dir)
    path = cfg.search_dir
    rows = read_results(path)
    if not rows:
        raise SearchError(f"{path}: no trial has ended yet")
    print(format_front(rows, cfg.objectives))
    *plots, page = write_report(path, rows, cfg.objectives, open_study(path), name=cfg.name,
                                tracking_uri=cfg.resolved_tracking_uri())
    print("\nplots: " + ", ".join(str(p) for p in plots) + f"\nreport: {page}")
    return 0


def add_train(p: argparse.ArgumentParser) -> None:
    p.add_argument("arch", help="a preset name or an ArchSpec JSON file (e.g. an export's spec.json)")
    p.add_argument("--data", required=True, help="the clip store to train on (path or URI)")
    p.add_argument("--epochs", type=int, required=True)
    p.add_argument("--width", type=float, default=1.0, help="scale a preset's widths (default 1)")
    p.add_argument("--depth", type=float, default=1.0, help="scale a preset's blocks per stage (default 1)")
    p.add_argument("--frames", type=int, help="input frames (default: the store's clip length)")
    p.add_argument("--crop", type=int, help="input crop (default: the store's frame size)")
    p.add_argument("--name", help="run name (default: train-ARCH)")
    p.add_argument("--storage", default="results", help="parent of the run directory (default results)")
    p.add_argument("--address", help="a Ray cluster address (default: a local Ray)")
    p.add_argument("--tracking-uri", help="MLflow tracking URI (default: sqlite in the run directory)")
    p.add_argument("--cpus", type=int, default=2, help="CPUs for the trial (default 2)")
    p.add_argument("--gpus", type=float, default=0.0, help="GPUs for the trial (default 0)")
    p.add_argument("--init", help="start from these weights: a state dict file or an export directory")
    p.add_argument("--inflate", action="store_true", help="--init is a 2D network's: inflate it (spaces.inflate)")
    p.add_argument("--no-head", action="store_true", help="leave --init's classifier out (other classes)")
    p.add_argument("--shorten", action="store_true",
                   help="--init was trained at more frames: take its longer temporal kernels' centre taps")
    p.add_argument("--backbone-lr", type=float, default=1.0,
                   help="with --init: all but the classifier train at this fraction of the lr (default 1)")
    p.add_argument("--freeze-bn", action="store_true", help="with --init: keep every BatchNorm as loaded")
    p.add_argument("--export", type=Path, help="write the trained network here (spec + weights + card), for "
                   "spaces.load or another run's --init")


def run_train(args: argparse.Namespace) -> int:
    given = [flag for flag, on in (("--inflate", args.inflate), ("--no-head", args.no_head), ("--shorten", args.shorten),
                                   ("--backbone-lr", args.backbone_lr != 1.0), ("--freeze-bn", args.freeze_bn)) if on]
    if given and not args.init:
        raise SearchError(f"{given[0]}: only with --init (it says how to start from given weights)")
    store = ClipStore.open(args.data)
    meta = store.meta
    shape = {"frames": args.frames or meta.frames, "crop": args.crop or min(meta.height, meta.width),
             "num_classes": len(meta.classes)}
    path = Path(args.arch)
    if path.suffix == ".json" or path.is_file():
        if not path.is_file():
            raise SearchError(f"{path}: no such spec file")
        spec = ArchSpec.from_json(path.read_text()).replace(**shape)
        label = path.parent.name if path.name == "spec.json" else path.stem
    else:
        spec = get_preset(args.arch, **shape).scaled(width=args.width, depth=args.depth)
        label = args.arch
    cfg = SearchConfig.from_dict({
        "name": args.name or f"train-{label}".replace(".", "_"), "data": args.data, "storage": args.storage,
        "trials": 1, "epochs": args.epochs, "min_epochs": 1, "early_stopping": False, "concurrency": 1,
        "cpus_per_trial": args.cpus, "gpus_per_trial": args.gpus, "address": args.address,
        "tracking_uri": args.tracking_uri,
        "init": {"weights": args.init, "inflate": args.inflate, "head": not args.no_head, "shorten": args.shorten,
                 "backbone_lr": args.backbone_lr, "freeze_bn": args.freeze_bn} if args.init else None,
        "space": {"frames": [spec.frames], "crop": spec.crop, "num_classes": spec.num_classes}})
    start = time.perf_counter()
    outcome = train_spec(spec, cfg, num_cpus=args.cpus if not args.address else None)
    row = outcome.rows[0] if outcome.rows else {}
    split = "test" if row.get("test_top1") is not None else "val"  # the test split reports, when the store has one
    print(f"\n{spec.slug()}: {row.get('state', 'no result')} after {row.get('epochs', 0)} epochs; on {split}: "
          f"top-1 {_fmt(row.get(f'{split}_top1'))}, within-pair {_fmt(row.get(f'{split}_within_pair'))} "
          f"({_fmt(row.get(f'{split}_views'), 0)} views per clip); "
          f"GMACs {row.get('gmacs')} per view, {row.get('gmacs_clip')} per clip "
          f"({(time.perf_counter() - start) / 60:.1f} min)\nrun directory: {outcome.search_dir}; export it with "
          f"`vidnas export {outcome.search_dir} --best val_top1 --out DIR`")
    if not outcome.finished:
        print(f"interrupted: finish it with `vidnas search --resume {outcome.search_dir}`")
        return EXIT_INTERRUPTED
    if row.get("state") != "complete":
        return EXIT_FAILED
    if args.export:
        from search.record.export import export_one

        print(f"exported {export_one(Path(outcome.search_dir), row, args.export)}")
    return 0


def _fmt(value: object, digits: int = 3) -> str:
    return f"{value:.{digits}f}" if isinstance(value, float) else "-"
