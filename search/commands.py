"""`vidnas search | report`: running a search and reading its results."""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import yaml

from search.config import SearchConfig
from search.results import format_front, read_results
from search.report import write_report
from search.tuner import CONFIG_FILE, SearchError, open_study, resume_search, run_search


def add_search(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", nargs="?", type=Path, help="a search config (YAML)")
    p.add_argument("--resume", type=Path, metavar="SEARCH_DIR", help="finish an interrupted search")
    p.add_argument("--config-env", metavar="VAR", help=argparse.SUPPRESS)  # `vidnas submit`: config in $VAR
    p.add_argument("--cpus", type=int, help="CPUs for the local Ray (default: all)")
    p.add_argument("--verbose", type=int, default=1, choices=[0, 1, 2], help="Tune's progress output")


def run_search_command(args: argparse.Namespace) -> int:
    if sum(x is not None for x in (args.config, args.resume, args.config_env)) != 1:
        raise SearchError("give a config to start a search, or --resume SEARCH_DIR to finish one")
    start = time.perf_counter()
    if args.resume is not None:
        outcome = resume_search(args.resume, num_cpus=args.cpus, verbose=args.verbose)
    elif args.config_env is not None:
        cfg = SearchConfig.from_dict(yaml.safe_load(os.environ[args.config_env]), where=f"${args.config_env}")
        outcome = run_search(cfg, num_cpus=args.cpus, verbose=args.verbose)
    else:
        outcome = run_search(SearchConfig.from_yaml(args.config), num_cpus=args.cpus, verbose=args.verbose)
    cfg = SearchConfig.from_dict(yaml.safe_load((outcome.search_dir / CONFIG_FILE).read_text()))
    print(f"\n{outcome.front_table(cfg.objectives)}")
    print(f"\nwall time {(time.perf_counter() - start) / 60:.1f} min; results: {outcome.search_dir / 'results.parquet'}")
    if not outcome.finished:
        print(f"interrupted: finish it with `vidnas search --resume {outcome.search_dir}`")
    print(f"browse the trials: vidnas ui {outcome.search_dir}")
    return 0


def add_report(p: argparse.ArgumentParser) -> None:
    p.add_argument("search_dir", type=Path)


def run_report(args: argparse.Namespace) -> int:
    path = args.search_dir.expanduser().resolve()
    if not (path / CONFIG_FILE).is_file():
        raise SearchError(f"{path}: not a search directory (no {CONFIG_FILE})")
    cfg = SearchConfig.from_dict(yaml.safe_load((path / CONFIG_FILE).read_text()))
    rows = read_results(path)
    if not rows:
        raise SearchError(f"{path}: no trial has ended yet")
    print(format_front(rows, cfg.objectives))
    plots = write_report(path, rows, cfg.objectives, open_study(path))
    print("\nplots: " + ", ".join(str(p) for p in plots))
    return 0
