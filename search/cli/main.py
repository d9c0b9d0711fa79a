"""The `vidnas` command line: a small table of subcommands, each an (add_arguments, run) pair.

    vidnas presets [--names-only]
    vidnas cost (--preset NAME | --spec FILE) [--frames N --crop N --classes N] [--json]
    vidnas spec --preset NAME [--frames N --crop N --classes N]
    vidnas search CONFIG.yaml | --resume SEARCH_DIR
    vidnas report SEARCH_DIR
    vidnas train PRESET_OR_SPEC --data STORE --epochs N [--address ...]
    vidnas study run STUDY.yaml [--out DIR] | report STUDY_DIR [--out DIR] | index REPORT_DIR... --out FILE
    vidnas bench build BENCH.yaml | replay TABLE [--strategies ...] [--seeds N] | effects TABLE | noise TABLE | export TABLE
    vidnas ui [SEARCH_DIR] [--port N]
    vidnas dashboard SEARCH_DIR [--port N]
    vidnas export SEARCH_DIR (--pareto | --best METRIC | --trial ID) --out DIR
    vidnas register EXPORT_DIR_OR_RUN_ID --name NAME [--alias champion] [--tracking-uri URI]
    vidnas cluster up --local [--state DIR] | add-node [--cpus N] | down | status
    vidnas submit CONFIG.yaml --address URL [--tracking-uri URI]; vidnas jobs | logs JOB | stop JOB --address URL
    vidnas data synth NAME --size tiny|demo|study|medium|large [--profile appearance|temporal] --out DIR
    vidnas data import SRC --layout ucf101|hmdb51|ssv2|kinetics|folder --out DIR
    vidnas data info DIR
    vidnas data add-test DIR

Commands are loaded lazily: `vidnas --help` imports no command module, and a command imports
only its own (so neither Ray nor torch for `--help` or `presets --names-only`).

Exit status, the same for every command: 0 finished, 1 failed (e.g. no trial of a search
completed), 2 bad input (one line, `vidnas: error: ...`; a traceback is a bug), 130 interrupted
(Ctrl-C or SIGTERM; the command that resumes it is printed).
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
from dataclasses import dataclass
from typing import Callable

from search.errors import is_user_error
from search.net import ray_auth_env


@dataclass(frozen=True)
class Command:
    help: str
    target: str | None = None  # "module:add_arguments:run", imported only when the command runs
    subcommands: dict[str, Command] | None = None

    def load(self) -> tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]:
        module, add, run = self.target.split(":")
        loaded = importlib.import_module(module)
        return getattr(loaded, add), getattr(loaded, run)


COMMANDS: dict[str, Command] = {
    "presets": Command("the papers' architectures: params and GMACs, ours vs reference", "search.cli.presets:add_presets:run_presets"),
    "cost": Command("params and GMACs of a preset or spec file", "search.cli.presets:add_cost:run_cost"),
    "spec": Command("print a preset's ArchSpec JSON", "search.cli.presets:add_spec:run_spec"),
    "search": Command("run a search (or --resume one) and print its Pareto front", "search.cli.commands:add_search:run_search_command"),
    "report": Command("the Pareto front of a search directory", "search.studies.commands:add_report:run_report"),
    "train": Command("train one architecture (a preset or spec file) at full budget, tracked in MLflow",
                     "search.cli.commands:add_train:run_train"),
    "study": Command("studies: the papers' claims as experiments with verdicts", subcommands={
        "run": Command("run (or resume) a study file and write its report", "search.studies.commands:add_study_run:run_study_command"),
        "report": Command("the verdicts, tables and plots of a study directory", "search.studies.commands:add_study_report:run_study_report"),
        "index": Command("one page of every study's verdicts", "search.studies.commands:add_study_index:run_study_index"),
    }),
    "bench": Command("tabulated benchmarks of the space, and strategies replayed against them", subcommands={
        "build": Command("train every point of a benchmark's sub-space (resumable) and write its table",
                         "search.tabular.commands:add_build:run_build"),
        "replay": Command("replay search strategies against a table in simulated time: hypervolume, ratios, ranks",
                          "search.tabular.commands:add_replay:run_replay"),
        "effects": Command("each design choice's effect over every point of a table, next to the studies' verdicts",
                           "search.tabular.commands:add_effects:run_effects"),
        "noise": Command("how much of a table's front is seed noise: one run's SD, order swaps, the front per seed",
                         "search.tabular.commands:add_noise:run_noise"),
        "export": Command("write a benchmark table in Syne Tune's blackbox format, for other tools' simulators",
                          "search.tabular.commands:add_export:run_export"),
    }),
    "ui": Command("the MLflow UI of a search, on 127.0.0.1", "search.cli.ui:add_ui:run_ui"),
    "dashboard": Command("optuna-dashboard on a search's Optuna journal, on 127.0.0.1",
                         "search.cli.dashboard:add_dashboard:run_dashboard"),
    "export": Command("found architectures as spec + weights + card (spaces.load reads them)", "search.record.export:add_export:run_export"),
    "register": Command("put a found architecture in the MLflow model registry (with an alias)",
                        "search.record.registry:add_register:run_register"),
    "cluster": Command("a local Ray head + MLflow server to submit searches to", subcommands={
        "up": Command("start them (127.0.0.1), recording their pids", "cluster.commands:add_up:run_up"),
        "add-node": Command("join one more Ray node on this machine, with its own resources",
                            "cluster.commands:add_add_node:run_add_node"),
        "down": Command("stop exactly the recorded processes", "cluster.commands:add_down:run_down"),
        "status": Command("addresses of the running local cluster", "cluster.commands:add_down:run_status"),
    }),
    "submit": Command("submit a search to a Ray cluster (Jobs API)", "cluster.commands:add_submit:run_submit"),
    "jobs": Command("the jobs of a Ray cluster", "cluster.commands:add_jobs:run_jobs"),
    "logs": Command("a job's output (--follow to stream it)", "cluster.commands:add_logs:run_logs"),
    "stop": Command("stop a job", "cluster.commands:add_stop:run_stop"),
    "data": Command("clip stores: the built-in benchmark, importing datasets, inspecting a store", subcommands={
        "synth": Command("generate the built-in benchmark into a new store", "search.data.commands:add_synth:run_synth"),
        "import": Command("import a video dataset (resumable; bad videos are reported)", "search.data.commands:add_import:run_import"),
        "info": Command("counts per split, class and group; clip shape; size on disk", "search.data.commands:add_info:run_info"),
        "add-test": Command("give a store made before the train/val/test protocol its test split",
                            "search.data.commands:add_test:run_add_test"),
    }),
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2 (argparse's own prints usage too)
        self.exit(2, f"vidnas: error: {message}\n")


def _add_commands(parser: argparse.ArgumentParser, commands: dict[str, Command], dest: str,
                  argv: list[str]) -> None:
    """Every command is listed; only the one `argv` names gets its arguments (importing its module)."""
    sub = parser.add_subparsers(dest=dest, required=True, parser_class=_Parser, metavar="COMMAND")
    chosen = next((a for a in argv if not a.startswith("-")), None)
    for name, command in commands.items():
        p = sub.add_parser(name, help=command.help, description=command.help)
        rest = argv[argv.index(chosen) + 1:] if chosen == name else []
        if command.subcommands:
            _add_commands(p, command.subcommands, f"{dest}_{name}", rest)
        elif chosen == name:
            add, run = command.load()
            add(p)
            p.set_defaults(run=run)


def make_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    parser = _Parser(prog="vidnas", description="Architecture search for efficient video networks.")
    _add_commands(parser, COMMANDS, "command", sys.argv[1:] if argv is None else argv)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")  # not "Updating database tables" on every open
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")  # nor two links per run closed on a server
    if "ray" not in sys.modules:  # Ray reads the mode once, at import: never change it under a running Ray
        os.environ.update(ray_auth_env())  # present this machine's token to token-auth clusters
    try:
        args = make_parser(argv).parse_args(argv)
        return args.run(args)
    except BrokenPipeError:  # `vidnas presets | head`
        return 0
    except KeyboardInterrupt:  # Ctrl-C outside a search (a search handles it: its trials are saved)
        print("vidnas: interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        if not is_user_error(e):
            raise  # a bug: its traceback
        status = getattr(e, "exit_status", 2)
        print(f"vidnas: {'stopped' if status == 130 else 'error'}: {e}", file=sys.stderr)
        return status


if __name__ == "__main__":
    sys.exit(main())
