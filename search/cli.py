"""The `vidnas` command line: a small table of subcommands, each an (add_arguments, run) pair.

    vidnas presets [--names-only]
    vidnas cost (--preset NAME | --spec FILE) [--frames N --crop N --classes N] [--json]
    vidnas spec --preset NAME [--frames N --crop N --classes N]
    vidnas search CONFIG.yaml | --resume SEARCH_DIR
    vidnas report SEARCH_DIR
    vidnas train PRESET_OR_SPEC --data STORE --epochs N [--address ...]
    vidnas study run STUDY.yaml [--out DIR] | report STUDY_DIR [--out DIR] | index REPORT_DIR... --out FILE
    vidnas bench build BENCH.yaml | replay TABLE [--strategies ...] [--seeds N] | effects TABLE
    vidnas ui [SEARCH_DIR] [--port N]
    vidnas export SEARCH_DIR (--pareto | --best METRIC | --trial ID) --out DIR
    vidnas register EXPORT_DIR_OR_RUN_ID --name NAME [--alias champion] [--tracking-uri URI]
    vidnas cluster up --local [--state DIR] | down | status
    vidnas submit CONFIG.yaml --address URL [--tracking-uri URI]; vidnas jobs | logs JOB | stop JOB --address URL
    vidnas data synth NAME --size tiny|demo|medium|large --out DIR
    vidnas data import SRC --layout ucf101|hmdb51|ssv2|kinetics|folder --out DIR
    vidnas data info DIR
    vidnas data add-test DIR

Exit status, the same for every command: 0 finished, 1 failed (e.g. no trial of a search
completed), 2 bad input (one line, `vidnas: error: ...`; a traceback is a bug), 130 interrupted
(Ctrl-C or SIGTERM; the command that resumes it is printed).
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from cluster import commands as clustering
from cluster.local import ClusterError
from search import commands as searching
from search import export as exporting
from search import registry
from search import ui
from search.bench import commands as benching
from search.config import ConfigError
from search.data import commands as data
from search.data.layouts import LayoutError
from search.data.store import StoreError
from search.tuner import SearchError
from spaces import PRESETS, ArchSpec, SpecError, cost, get_preset


class UsageError(ValueError):
    """Bad user input that is not a spec error (missing file, conflicting flags)."""


# ---------------------------------------------------------------------------------------------
# presets


def _add_presets(p: argparse.ArgumentParser) -> None:
    p.add_argument("--names-only", action="store_true", help="print only the preset names")


def _run_presets(args: argparse.Namespace) -> int:
    if args.names_only:
        print("\n".join(PRESETS))
        return 0
    header = (f"{'preset':<26} {'family':<9} {'input':>8} {'params':>12} {'GMACs':>8} "
              f"{'ref params':>12} {'ref GMACs':>9} {'d params':>8} {'d GMACs':>8}")
    print(header)
    print("-" * len(header))
    for name, preset in PRESETS.items():
        spec, c = preset.spec, cost(preset.spec)
        ref_p = f"{preset.params:,}" if preset.params else "-"
        ref_g = f"{preset.gmacs:.2f}" if preset.gmacs else "-"
        d_p = f"{100 * (c.params / preset.params - 1):+.2f}%" if preset.params else "-"
        d_g = f"{100 * (c.gmacs / preset.gmacs - 1):+.2f}%" if preset.gmacs else "-"
        print(f"{name:<26} {spec.family.value:<9} {f'{spec.frames}x{spec.crop}':>8} {c.params:>12,} "
              f"{c.gmacs:>8.2f} {ref_p:>12} {ref_g:>9} {d_p:>8} {d_g:>8}")
    print("\nparams = parameter count; GMACs = multiply-adds / 1e9 per clip (GFLOPs = 2 x GMACs), "
          "batch 1, 400 classes; ref = the papers' reference code (see spaces/presets.py)")
    return 0


# ---------------------------------------------------------------------------------------------
# cost and spec


def _add_spec_source(p: argparse.ArgumentParser, *, allow_file: bool) -> None:
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--preset", help="a preset name (see `vidnas presets --names-only`)")
    if allow_file:
        source.add_argument("--spec", type=Path, help="an ArchSpec JSON file")
    p.add_argument("--frames", type=int, help="input frames (overrides the spec)")
    p.add_argument("--crop", type=int, help="input crop size in pixels (overrides the spec)")
    p.add_argument("--classes", type=int, help="number of classes (overrides the spec)")


def _load_spec(args: argparse.Namespace) -> ArchSpec:
    if getattr(args, "spec", None) is not None:
        if not args.spec.is_file():
            raise UsageError(f"--spec {args.spec}: no such file")
        spec = ArchSpec.from_json(args.spec.read_text())
    else:
        spec = get_preset(args.preset)
    overrides = {k: v for k, v in (("frames", args.frames), ("crop", args.crop),
                                   ("num_classes", args.classes)) if v is not None}
    return spec.replace(**overrides) if overrides else spec


def _add_cost(p: argparse.ArgumentParser) -> None:
    _add_spec_source(p, allow_file=True)
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


def _run_cost(args: argparse.Namespace) -> int:
    spec = _load_spec(args)
    c = cost(spec)
    if args.json:
        print(json.dumps({"params": c.params, "gmacs": c.gmacs, "gflops": c.gflops, "frames": spec.frames,
                          "crop": spec.crop, "num_classes": spec.num_classes}))
    else:
        print(f"{spec.slug()}\n  params: {c.params:,}\n  GMACs (multiply-adds / 1e9): {c.gmacs:.3f}\n"
              f"  GFLOPs (2 x GMACs): {c.gflops:.3f}\n  input: {spec.frames} x {spec.crop} x {spec.crop}")
    return 0


def _add_spec(p: argparse.ArgumentParser) -> None:
    _add_spec_source(p, allow_file=False)


def _run_spec(args: argparse.Namespace) -> int:
    print(_load_spec(args).to_json(indent=2))
    return 0


# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None
    run: Callable[[argparse.Namespace], int] | None = None
    subcommands: dict[str, Command] | None = None


COMMANDS: dict[str, Command] = {
    "presets": Command("the papers' architectures: params and GMACs, ours vs reference", _add_presets, _run_presets),
    "cost": Command("params and GMACs of a preset or spec file", _add_cost, _run_cost),
    "spec": Command("print a preset's ArchSpec JSON", _add_spec, _run_spec),
    "search": Command("run a search (or --resume one) and print its Pareto front", searching.add_search,
                      searching.run_search_command),
    "report": Command("the Pareto front of a search directory", searching.add_report, searching.run_report),
    "train": Command("train one architecture (a preset or spec file) at full budget, tracked in MLflow",
                     searching.add_train, searching.run_train),
    "study": Command("studies: the papers' claims as experiments with verdicts", subcommands={
        "run": Command("run (or resume) a study file and write its report", searching.add_study_run,
                       searching.run_study_command),
        "report": Command("the verdicts, tables and plots of a study directory", searching.add_study_report,
                          searching.run_study_report),
        "index": Command("one page of every study's verdicts", searching.add_study_index, searching.run_study_index),
    }),
    "bench": Command("tabulated benchmarks of the space, and strategies replayed against them", subcommands={
        "build": Command("train every point of a benchmark's sub-space (resumable) and write its table",
                         benching.add_build, benching.run_build),
        "replay": Command("replay search strategies against a table in simulated time: hypervolume, ratios, ranks",
                          benching.add_replay, benching.run_replay),
        "effects": Command("each design choice's effect over every point of a table, next to the studies' verdicts",
                           benching.add_effects, benching.run_effects),
    }),
    "ui": Command("the MLflow UI of a search, on 127.0.0.1", ui.add_ui, ui.run_ui),
    "export": Command("found architectures as spec + weights + card (spaces.load reads them)",
                      exporting.add_export, exporting.run_export),
    "register": Command("put a found architecture in the MLflow model registry (with an alias)",
                        registry.add_register, registry.run_register),
    "cluster": Command("a local Ray head + MLflow server to submit searches to", subcommands={
        "up": Command("start them (127.0.0.1), recording their pids", clustering.add_up, clustering.run_up),
        "down": Command("stop exactly the recorded processes", clustering.add_down, clustering.run_down),
        "status": Command("addresses of the running local cluster", clustering.add_down, clustering.run_status),
    }),
    "submit": Command("submit a search to a Ray cluster (Jobs API)", clustering.add_submit, clustering.run_submit),
    "jobs": Command("the jobs of a Ray cluster", clustering.add_jobs, clustering.run_jobs),
    "logs": Command("a job's output (--follow to stream it)", clustering.add_logs, clustering.run_logs),
    "stop": Command("stop a job", clustering.add_stop, clustering.run_stop),
    "data": Command("clip stores: the built-in benchmark, importing datasets, inspecting a store", subcommands={
        "synth": Command("generate the built-in benchmark into a new store", data.add_synth, data.run_synth),
        "import": Command("import a video dataset (resumable; bad videos are reported)", data.add_import,
                          data.run_import),
        "info": Command("counts per split, class and group; clip shape; size on disk", data.add_info,
                        data.run_info),
        "add-test": Command("give a store made before the train/val/test protocol its test split", data.add_test,
                            data.run_add_test),
    }),
}
USER_ERRORS = (SpecError, UsageError, StoreError, LayoutError, ConfigError, SearchError, ClusterError)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2 (argparse's own prints usage too)
        self.exit(2, f"vidnas: error: {message}\n")


def _add_commands(parser: argparse.ArgumentParser, commands: dict[str, Command], dest: str) -> None:
    sub = parser.add_subparsers(dest=dest, required=True, parser_class=_Parser, metavar="COMMAND")
    for name, command in commands.items():
        p = sub.add_parser(name, help=command.help, description=command.help)
        if command.subcommands:
            _add_commands(p, command.subcommands, f"{dest}_{name}")
        else:
            command.add_arguments(p)
            p.set_defaults(run=command.run)


def make_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="vidnas", description="Architecture search for efficient video networks.")
    _add_commands(parser, COMMANDS, "command")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    try:
        return args.run(args)
    except USER_ERRORS as e:
        print(f"vidnas: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `vidnas presets | head`
        return 0
    except KeyboardInterrupt:  # Ctrl-C outside a search (a search handles it: its trials are saved)
        print("vidnas: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
