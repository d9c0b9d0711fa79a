"""`vidnas bench build | replay`: a tabulated benchmark of the space, and search strategies
replayed against it in simulated time. Heavy imports happen inside the commands."""
from __future__ import annotations

import argparse
from pathlib import Path

from search.errors import EXIT_INTERRUPTED


def add_build(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", type=Path, help="a benchmark config (YAML), e.g. configs/bench/demo_cpu.yaml")
    p.add_argument("--cpus", type=int, help="CPUs for the local Ray (default: all)")
    p.add_argument("--verbose", type=int, default=0, choices=[0, 1, 2], help="Tune's progress output")


def run_build(args: argparse.Namespace) -> int:
    from search.bench.build import build
    from search.bench.config import BenchConfig

    cfg = BenchConfig.from_yaml(args.config)
    path = build(cfg, num_cpus=args.cpus, verbose=args.verbose)
    if path is None:
        print(f"interrupted: run `vidnas bench build {args.config}` again to go on")
        return EXIT_INTERRUPTED
    from search.bench.table import Table

    table = Table.read(path)
    print(f"table: {path} ({len(table.points)} points, {table.epochs} epochs, seeds {table.seeds}; "
          f"wall time {sum(table.provenance['wall_seconds'].values()) / 60:.1f} min on {table.provenance['device']})")
    return 0


# the strategies `vidnas bench replay` runs by default: every sampler with and without MO-ASHA and
# warm starts, Ray's single-objective ASHA for contrast, and the peer (Syne Tune) when installed
DEFAULT_STRATEGIES = (
    "random/fifo", "random/moasha", "random/moasha/warm",
    "tpe/fifo", "tpe/fifo/warm", "tpe/moasha", "tpe/moasha/warm", "tpe/asha",
    "nsga2/fifo", "nsga2/moasha", "nsga2/moasha/warm",
    "gp/fifo@5", "gp/moasha@5",  # GPSampler: ~2 s per draw here, and it models only `backbone` (see replay.py)
    "peer:moasha", "peer:random",
    # the search's defaults, each varied alone around tpe/moasha (eta=3, min=2, startup 10)
    "tpe/moasha/eta=2", "tpe/moasha/eta=4", "tpe/moasha/min=1", "tpe/moasha/startup=5", "tpe/moasha/startup=20",
)


def add_replay(p: argparse.ArgumentParser) -> None:
    p.add_argument("table", type=Path, help="a benchmark table (Parquet), e.g. bench/tables/demo_cpu.parquet")
    p.add_argument("--strategies", default=",".join(DEFAULT_STRATEGIES),
                   help="comma-separated sampler/scheduler[/warm][/eta=N][/min=N][/startup=N][@SEEDS] "
                        "(samplers random|tpe|nsga2|gp; schedulers fifo|moasha|asha), or peer:moasha, peer:random; "
                        "@SEEDS caps that strategy's seeds")
    p.add_argument("--seeds", type=int, default=20, help="replays per strategy (seeds 0..N-1)")
    p.add_argument("--workers", type=int, default=4, help="concurrent trials in simulated time")
    p.add_argument("--jobs", type=int, default=1, help="replays at once, each in a process of its own (results "
                                                       "do not depend on it: the simulated clock does not count "
                                                       "the searcher's compute)")
    p.add_argument("--budget", type=float, default=1.0, help="simulated compute, x the exhaustive grid's")
    p.add_argument("--out", type=Path, help="output directory (default: docs/bench/TABLE_NAME); "
                                            "replays already there are reused")


def run_replay(args: argparse.Namespace) -> int:
    from search.bench.figures import run_all, summarize, write
    from search.bench.peer import PeerUnavailable
    from search.bench.replay import Strategy
    from search.bench.table import Table
    from search.config import ConfigError

    try:
        table = Table.read(args.table)
    except (FileNotFoundError, ValueError) as e:
        raise ConfigError(str(e)) from None
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    for entry in strategies:
        name, _, fewer = entry.partition("@")
        if fewer and not fewer.isdigit():
            raise ConfigError(f"--strategies: {entry!r}: after @ comes a number of seeds")
        if not name.startswith("peer:"):
            try:
                Strategy.parse(name)
            except ValueError as e:
                raise ConfigError(f"--strategies: {e}") from None
    for name, value, low in (("--seeds", args.seeds, 2), ("--workers", args.workers, 1)):
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
                   jobs=args.jobs)
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
    from search.bench.effects import effects, effects_markdown
    from search.bench.table import Table
    from search.config import ConfigError

    try:
        table = Table.read(args.table)
    except (FileNotFoundError, ValueError) as e:
        raise ConfigError(str(e)) from None
    text = effects_markdown(table, effects(table))
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return 0
