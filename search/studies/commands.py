"""`vidnas study run | report | index`, and `vidnas report` of a search or a study directory."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from search.cli import commands as searching
from search.errors import EXIT_INTERRUPTED, SearchError
from search.studies.config import STUDY_CONFIG


def add_report(p: argparse.ArgumentParser) -> None:
    p.add_argument("search_dir", type=Path, help="a search directory (or a study directory: its study report)")


def run_report(args: argparse.Namespace) -> int:
    if (args.search_dir / STUDY_CONFIG).is_file():  # a study directory: its verdicts and report
        return run_study_report(argparse.Namespace(study=args.search_dir, out=None))
    return searching.run_report(args)


def add_study_run(p: argparse.ArgumentParser) -> None:
    p.add_argument("study", type=Path, help="a study file (YAML); running it again resumes or re-reports it")
    p.add_argument("--cpus", type=int, help="CPUs for the local Ray (default: all)")
    p.add_argument("--out", type=Path, help="also copy the report here (e.g. docs/studies/NAME)")
    p.add_argument("--verbose", type=int, default=1, choices=[0, 1, 2], help="Tune's progress output")
    p.add_argument("--data", help="the study file's `data`, replaced (e.g. the temporal regime's store)")
    p.add_argument("--name", help="the study file's `name`, replaced (its directory: one per regime)")
    p.add_argument("--storage", help="the study file's `storage`, replaced")


def run_study_command(args: argparse.Namespace) -> int:
    from search.studies.analysis import analyze
    from search.studies.config import StudyConfig
    from search.studies.report import format_verdicts, write_study_report
    from search.studies.runner import Study

    cfg = StudyConfig.from_yaml(args.study)
    overrides = {k: v for k in ("data", "name", "storage") if (v := getattr(args, k, None)) is not None}
    if overrides:  # validated again, as if the file said so
        cfg = StudyConfig.from_dict(cfg.to_dict() | overrides, where=str(args.study))
    study = Study(cfg)
    start = time.perf_counter()
    again = " ".join(["vidnas study run", str(args.study), *(f"--{k} {v}" for k, v in overrides.items())])
    if not study.run(num_cpus=args.cpus, verbose=args.verbose, command=again):
        print(f"interrupted: run `{again}` again to continue")
        return EXIT_INTERRUPTED
    result = analyze(cfg.study_dir)
    directory = write_study_report(result, out=args.out)
    print(f"\n{format_verdicts(result)}\n\nwall time {(time.perf_counter() - start) / 60:.1f} min; "
          f"report: {directory / 'report.md'} (and report.html)")
    return 0


def add_study_report(p: argparse.ArgumentParser) -> None:
    p.add_argument("study", type=Path, help="a study directory (or the study file that names it)")
    p.add_argument("--out", type=Path, help="also copy the report here (e.g. docs/studies/NAME)")


def run_study_report(args: argparse.Namespace) -> int:
    from search.studies.analysis import analyze
    from search.studies.config import load_study_config
    from search.studies.report import format_verdicts, write_study_report

    cfg = load_study_config(args.study)
    result = analyze(cfg.study_dir)
    directory = write_study_report(result, out=args.out)
    print(f"{format_verdicts(result)}\n\nreport: {directory / 'report.md'} (and report.html)")
    return 0


def add_study_index(p: argparse.ArgumentParser) -> None:
    p.add_argument("reports", type=Path, nargs="+", help="report directories (each with summary.json)")
    p.add_argument("--out", type=Path, required=True, help="the index page to write (Markdown)")
    p.add_argument("--before", type=Path, help="a JSON of study/claim -> an earlier verdict, shown beside")


def run_study_index(args: argparse.Namespace) -> int:
    from search.studies.index import write_index

    missing = [str(d) for d in args.reports if not (d / "summary.json").is_file()]
    if missing:
        raise SearchError(f"{missing[0]}: no summary.json there; run `vidnas study report` on its study first")
    if args.before is not None and not args.before.is_file():
        raise SearchError(f"--before {args.before}: no such file")
    print(write_index([d / "summary.json" for d in args.reports], args.out, before=args.before))
    return 0
