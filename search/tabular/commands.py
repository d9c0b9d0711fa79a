"""`vidnas bench build | replay | effects | export`: a tabulated benchmark of the space, and search strategies
replayed against it in simulated time. Heavy imports happen inside the commands."""
from __future__ import annotations

import argparse
from pathlib import Path

from search.errors import EXIT_INTERRUPTED
from spaces import atomic


def add_build(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", type=Path, help="a benchmark config (YAML), e.g. configs/bench/demo_cpu.yaml")
    p.add_argument("--cpus", type=int, help="CPUs for the local Ray (default: all)")
    p.add_argument("--verbose", type=int, default=0, choices=[0, 1, 2], help="Tune's progress output")
    p.add_argument("--minutes", type=float, metavar="M",
                   help="start no new piece after M minutes (the pieces finished so far are kept: run it again to go on)")


def run_build(args: argparse.Namespace) -> int:
    from search.engine.config import ConfigError
    from search.tabular.build import build
    from search.tabular.config import BenchConfig

    cfg = BenchConfig.from_yaml(args.config)
    if args.minutes is not None and not args.minutes >= 0:
        raise ConfigError(f"--minutes={args.minutes:g}: must be a number of minutes >= 0")
    path = build(cfg, num_cpus=args.cpus, verbose=args.verbose, minutes=args.minutes)
    if path is None:
        print(f"stopped: the finished pieces are in {cfg.out}/{cfg.name}.parts; "
              f"run `vidnas bench build {args.config}` again to go on")
        return EXIT_INTERRUPTED
    from search.tabular.table import Table

    table = Table.read(path)
    print(f"table: {path} ({len(table.points)} points, {table.epochs} epochs, seeds {table.seeds}; "
          f"wall time {sum(table.provenance['wall_seconds'].values()) / 60:.1f} min on {table.provenance['device']})")
    return 0


# the strategies `vidnas bench replay` runs by default, spelled out so that they keep their meaning
# when the search's defaults change: every sampler with and without MO-ASHA and warm starts, Ray's
# single-objective ASHA for contrast, the peer (Syne Tune, its MOASHA corrected: search.tabular.peer)
# when installed, and the candidates for the search's defaults (search.tabular.ratios.choose_default).
# uniform/fifo (the points shuffled, each once) is what every ratio divides by.
DEFAULT_STRATEGIES = (
    "uniform/fifo", "uniform/moasha/eta=3/min=2", "uniform/moasha/eta=2/min=2",
    "stratified/fifo", "stratified/moasha/eta=2/min=2",  # the known cost used: turns over log-GMACs strata
    "stratified/moasha/eta=3/min=2", "stratified/moasha/eta=2/min=3",  # ... at the rungs next to it
    "random/fifo", "random/moasha/eta=3/min=2", "random/moasha/warm/eta=3/min=2",
    "tpe/fifo/startup=10", "tpe/fifo/warm/startup=10", "tpe/moasha/eta=3/min=2/startup=10",
    "tpe/moasha/warm/eta=3/min=2/startup=10", "tpe/asha/eta=3/min=2/startup=10",
    "nsga2/fifo", "nsga2/moasha/eta=3/min=2", "nsga2/moasha/warm/eta=3/min=2",
    # GPSampler: ~0.3 s per draw here, and it models only `backbone` (see replay.py)
    "gp/fifo/startup=10", "gp/moasha/eta=3/min=2/startup=10",
    "peer:moasha", "peer:random",
    "peer:moasha/min=2", "peer:moasha/eta=2/min=2",  # the peer at our rungs (its default is min=1)
    # the search's former defaults (tpe/moasha/eta=3/min=2/startup=10), each varied alone ...
    "tpe/moasha/eta=2/min=2/startup=10", "tpe/moasha/eta=4/min=2/startup=10", "tpe/moasha/eta=3/min=1/startup=10",
    "tpe/moasha/eta=3/min=3/startup=10", "tpe/moasha/eta=3/min=2/startup=5", "tpe/moasha/eta=3/min=2/startup=20",
    # ... and the variants that helped, combined, with and without warm starts
    "random/moasha/eta=2/min=2", "tpe/moasha/eta=2/min=2/startup=5", "tpe/moasha/eta=2/min=3/startup=10",
    "tpe/moasha/warm/eta=2/min=2/startup=10", "tpe/moasha/warm/eta=2/min=2/startup=5",
    "tpe/moasha",  # the search's defaults, whatever they are (the same replays when they are listed above)
)


def add_replay(p: argparse.ArgumentParser) -> None:
    p.add_argument("table", type=Path, help="a benchmark table (Parquet), e.g. bench/tables/demo_cpu.parquet")
    p.add_argument("--strategies", help="comma-separated sampler/scheduler[/warm][/eta=N][/min=N][/startup=N][@SEEDS] "
                        "(samplers uniform|stratified|random|tpe|nsga2|gp; schedulers fifo|moasha|asha), or peer:moasha[/eta=N][/min=N] "
                        "(corrected), peer:moasha_upstream[...] (as released), peer:random; "
                        "@SEEDS caps that strategy's seeds (default: the shipped figures' strategies)")
    p.add_argument("--seeds", type=int, default=20, help="replays per strategy (seeds K..K+N-1)")
    p.add_argument("--first-seed", type=int, default=0, metavar="K",
                   help="the first seed (default 0); fresh seeds confirm what a first set of replays chose")
    p.add_argument("--workers", type=int, default=4, help="concurrent trials in simulated time")
    p.add_argument("--jobs", type=int, default=1, help="replays at once, each in a process of its own (results "
                                                       "do not depend on it: the simulated clock does not count "
                                                       "the searcher's compute)")
    p.add_argument("--budget", type=float, default=1.0, help="simulated compute, x the exhaustive grid's")
    p.add_argument("--out", type=Path, help="output directory (default: docs/bench/TABLE_NAME); "
                                            "replays already there are reused")


def run_replay(args: argparse.Namespace) -> int:
    from search.tabular.figures import run_all, summarize, write
    from search.tabular.peer import PeerUnavailable
    from search.tabular.replay import canonical
    from search.tabular.table import Table
    from search.engine.config import ConfigError

    try:
        table = Table.read(args.table)
    except (FileNotFoundError, ValueError) as e:
        raise ConfigError(str(e)) from None
    given = args.strategies is not None
    strategies = [s.strip() for s in (args.strategies or ",".join(DEFAULT_STRATEGIES)).split(",") if s.strip()]
    named: dict[str, str] = {}  # canonical name -> the entry that named it first
    for entry in strategies:
        name, _, fewer = entry.partition("@")
        if fewer and not fewer.isdigit():
            raise ConfigError(f"--strategies: {entry!r}: after @ comes a number of seeds")
        try:
            name = canonical(name)
        except ValueError as e:
            raise ConfigError(f"--strategies: {e}") from None
        if name in named and given:
            raise ConfigError(f"--strategies: {named[name]!r} and {entry!r} are the same strategy ({name}); "
                              "name it once")
        named.setdefault(name, entry)
    strategies = list(named.values())  # the default list names the search's defaults once more on purpose
    for name, value, low in (("--seeds", args.seeds, 2), ("--workers", args.workers, 1),
                             ("--first-seed", args.first_seed, 0)):
        if value < low:
            raise ConfigError(f"{name}={value}: must be >= {low}")
    if not args.budget > 0:
        raise ConfigError(f"--budget={args.budget}: must be > 0 (x the grid's compute)")
    out = args.out or Path("docs/bench") / args.table.stem
    try:
        import syne_tune  # noqa: F401
    except ImportError:
        peers = [s for s in strategies if s.startswith("peer:")]
        if peers:
            print(f"[vidnas bench] skipping {', '.join(peers)}: Syne Tune is not installed "
                  "(pip install -e '.[peer]')")
            strategies = [s for s in strategies if s not in peers]
    try:
        runs = run_all(table, strategies, args.seeds, workers=args.workers, budget=args.budget, out=out,
                   jobs=args.jobs, first_seed=args.first_seed)
    except PeerUnavailable as e:
        raise ConfigError(str(e)) from None
    fractions, summaries = summarize(table, runs)
    paths = write(out, table, fractions, summaries, workers=args.workers, budget=args.budget)
    print((out / "ratios.md").read_text())
    print("written: " + ", ".join(str(p) for p in paths))
    return 0


def add_effects(p: argparse.ArgumentParser) -> None:
    p.add_argument("table", type=Path, help="a benchmark table (Parquet)")
    p.add_argument("--out", type=Path, help="write the table as Markdown here too (e.g. docs/bench/NAME/effects.md)")


def run_effects(args: argparse.Namespace) -> int:
    from search.tabular.effects import effects, effects_markdown
    from search.tabular.table import Table
    from search.engine.config import ConfigError

    try:
        table = Table.read(args.table)
    except (FileNotFoundError, ValueError) as e:
        raise ConfigError(str(e)) from None
    text = effects_markdown(table, effects(table))
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_text(args.out, text + "\n")
    return 0


def add_noise(p: argparse.ArgumentParser) -> None:
    p.add_argument("table", type=Path, help="a benchmark table (Parquet) with points at two or more seeds")
    p.add_argument("--out", type=Path, help="write the figures as Markdown here too (e.g. docs/bench/NAME/noise.md)")


def run_noise(args: argparse.Namespace) -> int:
    from search.engine.config import ConfigError
    from search.tabular.noise import markdown, noise
    from search.tabular.table import Table

    try:
        text = markdown(noise(Table.read(args.table)))
    except (FileNotFoundError, ValueError) as e:
        raise ConfigError(f"{args.table}: {e}" if "no point trained" in str(e) else str(e)) from None
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_text(args.out, text + "\n")
    return 0


def add_export(p: argparse.ArgumentParser) -> None:
    p.add_argument("table", type=Path, help="a benchmark table (Parquet)")
    p.add_argument("--format", default="syne-tune", help="syne-tune: Syne Tune's blackbox format (BlackboxTabular)")
    p.add_argument("--out", type=Path, default=Path("bench/export"), help="the folder to write NAME/ into")
    p.add_argument("--name", help="the blackbox's name (default: the table's file name)")


def run_export(args: argparse.Namespace) -> int:
    from search.tabular.export import FORMATS, to_syne_tune
    from search.tabular.table import Table
    from search.engine.config import ConfigError

    if args.format not in FORMATS:
        raise ConfigError(f"--format={args.format}: must be one of {', '.join(FORMATS)}")
    try:
        import syne_tune  # noqa: F401
        import fastparquet  # noqa: F401  (Syne Tune's serialize writes with it)
    except ImportError as e:
        raise ConfigError(f"--format syne-tune needs Syne Tune and fastparquet ({e}); "
                          "install them with pip install -e '.[peer]'") from None
    try:
        table = Table.read(args.table)
        folder = to_syne_tune(table, args.out, args.name or args.table.stem)
    except (FileNotFoundError, ValueError) as e:
        raise ConfigError(str(e)) from None
    print(f"written: {folder} ({len(table.points)} points x {table.epochs} epochs, Syne Tune's BlackboxTabular; "
          f"load it with syne_tune.blackbox_repository.blackbox_tabular.deserialize({str(folder)!r}))")
    return 0
