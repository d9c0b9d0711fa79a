"""Changes to the pick that could close issue 22's gap to the peer, tried on the selection table.

    python bench/bench_variants.py [--table bench/tables/demo_cpu.parquet] [--seeds 20] [--jobs 2]

Each variant is the search's pick (`stratified/moasha/eta=2/min=2`) with one thing changed, replayed
as `vidnas bench replay` replays (4 workers, the grid's compute, seeds 0..N-1), beside the pick itself
on the same seeds. None won, so none is in the search; this script keeps the evidence.

1. `front-stop`: stop a trial whose best possible final result is already dominated. At each epoch,
   once `min_complete` trials have completed, a trial's final validation top-1 is bounded above by
   its accuracy now plus the largest gain from this epoch to the last that any completed trial made.
   Its cost (GMACs) is known. If a completed trial costs no more and its final accuracy is at least
   that bound (strictly better in one of the two), the trial is stopped. MO-ASHA's rungs act as
   before on the rest.
   `rungs`: the same test at MO-ASHA's rungs only, not at every epoch.
2. `strata=N`: the stratified sampler with N bins of log GMACs instead of its default 8.
3. `eta=N/min=N`: MO-ASHA's rungs that the selection table's own strategies do not have (a first rung
   at epoch 1; eta 4).

`--where`: instead, where the pick's compute goes before it reaches the target, per seed: the share
of worker-seconds spent on trials MO-ASHA stopped, on completed trials off the grid's validation
front (of the seed means), on completed front members, and on trials still running (written to
docs/bench/demo_cpu/where.md).

Prints a table (and writes it to --out): per variant, the median compute to 95% of the grid's
validation hypervolume (x the grid's), the seeds that reached it, and its ratio to the pick's with a
95% bootstrap interval over seeds (search.tabular.ratios.ratio_interval).
"""
from __future__ import annotations

import argparse
import functools
import math
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))

from ray.tune.schedulers import TrialScheduler  # noqa: E402

import search.tabular.replay as replay_module  # noqa: E402
from search.engine.scheduler import MOASHAScheduler  # noqa: E402

PICK = "stratified/moasha/eta=2/min=2"
VARIANTS: dict[str, dict[str, Any]] = {
    "pick": {},
    "front-stop/min_complete=3": {"front": {"min_complete": 3}},
    "front-stop/min_complete=10": {"front": {"min_complete": 10}},
    "front-stop/min_complete=20": {"front": {"min_complete": 20}},
    "front-stop/rungs/min_complete=5": {"front": {"min_complete": 5, "every_epoch": False}},
    "front-stop/rungs/min_complete=10": {"front": {"min_complete": 10, "every_epoch": False}},
    "strata=4": {"strata": 4},
    "strata=6": {"strata": 6},
    "strata=12": {"strata": 12},
    "strata=16": {"strata": 16},
    "eta=2/min=1": {"strategy": "stratified/moasha/eta=2/min=1"},
    "eta=3/min=1": {"strategy": "stratified/moasha/eta=3/min=1"},
    "eta=4/min=1": {"strategy": "stratified/moasha/eta=4/min=1"},
    "eta=4/min=2": {"strategy": "stratified/moasha/eta=4/min=2"},
}


class FrontStop(MOASHAScheduler):
    """MO-ASHA, and a trial whose optimistic final point is dominated by a completed trial's stops."""

    def __init__(self, *, min_complete: int, every_epoch: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.min_complete, self.every_epoch, self.last = min_complete, every_epoch, kwargs["max_epochs"]
        self.learned = [m for m, mode in self.objectives.items() if mode == "max"]  # accuracy: grows with training
        self.known = [m for m in self.objectives if m not in self.learned]  # cost: known before training
        self.curves: dict[str, dict[int, dict[str, float]]] = {}
        self.final: dict[str, dict[str, float]] = {}

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
        epoch = result.get("epoch")
        self.curves.setdefault(trial.trial_id, {})[epoch] = {m: result[m] for m in self.learned}
        if (result.get("status") == "running" and len(self.final) >= self.min_complete
                and (self.every_epoch or epoch in self.rungs) and self._dominated(result, epoch)):
            return TrialScheduler.STOP
        return super().on_trial_result(tune_controller, trial, result)

    def _dominated(self, result: dict[str, Any], epoch: int) -> bool:
        bound = {}
        for m in self.learned:  # the largest gain from this epoch on that a completed trial made
            gain = max((f[m] - self.curves[t][epoch][m] for t, f in self.final.items() if epoch in self.curves[t]),
                       default=math.inf)
            bound[m] = result[m] + max(gain, 0.0)
        for f in self.final.values():
            if all(f[m] >= bound[m] for m in self.learned) and all(f[m] <= result[m] for m in self.known) and (
                    any(f[m] > bound[m] for m in self.learned) or any(f[m] < result[m] for m in self.known)):
                return True
        return False

    def on_trial_complete(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> None:
        if result.get("epoch") == self.last:
            self.final[trial.trial_id] = {m: result[m] for m in self.objectives}
        super().on_trial_complete(tune_controller, trial, result)


_table = None


def _hold(path: str) -> None:
    global _table
    from search.tabular.table import Table
    _table = Table.read(path)


def _t95(variant: str, seed: int) -> float | None:
    """The variant's compute to 95% of the grid's validation hypervolume on `seed` (None: never)."""
    from search.tabular.figures import _t95 as t95
    from search.tabular.ratios import TARGET

    settings = VARIANTS[variant]
    sampler, scheduler = replay_module.StratifiedSampler, replay_module.make_scheduler
    if "strata" in settings:
        replay_module.StratifiedSampler = functools.partial(sampler, strata=settings["strata"])
    if "front" in settings:
        replay_module.make_scheduler = lambda table, strategy: FrontStop(
            objectives=table.objectives, max_epochs=table.epochs, min_epochs=strategy.min_epochs,
            reduction_factor=strategy.reduction_factor, **settings["front"])
    try:
        strategy = replay_module.Strategy.parse(settings.get("strategy", PICK))
        run = replay_module.replay(_table, strategy, seed=seed, workers=4, budget=1.0)
    finally:
        replay_module.StratifiedSampler, replay_module.make_scheduler = sampler, scheduler
    full = replay_module.reported_hv(_table, _table.points, split="val")
    return t95(_table, run, TARGET * full, "val")


def _where(seed: int) -> tuple[float | None, int, int, dict[str, float]]:
    """The pick's compute to the target on `seed`, the trials ended and those complete by then, and
    the shares of the worker-seconds spent until then."""
    from search.tabular.figures import _t95 as t95
    from search.tabular.ratios import TARGET
    from search.tabular.table import near_front

    table = _table
    run = replay_module.replay(table, replay_module.Strategy.parse(PICK), seed=seed, workers=4, budget=1.0)
    full = replay_module.reported_hv(table, table.points, split="val")
    t = t95(table, run, TARGET * full, "val")
    if t is None:
        return None, 0, 0, {}
    until = t * replay_module.grid_seconds(table) / run.workers
    front = set(near_front(table, 0.0))  # the grid's validation front of the seed means
    spent = dict.fromkeys(("stopped", "complete, off the front", "complete, on the front", "running"), 0.0)
    for trial in run.trials:
        if trial["start"] >= until:
            continue
        if trial["end"] > until:
            kind = "running"
        elif trial["state"] == "pruned":
            kind = "stopped"
        else:
            kind = "complete, on the front" if trial["point"] in front else "complete, off the front"
        spent[kind] += min(trial["end"], until) - trial["start"]
    total = sum(spent.values())
    ended = [trial for trial in run.trials if trial["end"] <= until]
    complete = sum(trial["state"] == "complete" for trial in ended)
    return t, len(ended), complete, {k: v / total for k, v in spent.items()}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", type=Path, default=ROOT / "bench" / "tables" / "demo_cpu.parquet")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--out", type=Path, help="default: docs/bench/demo_cpu/variants.md (where.md with --where)")
    parser.add_argument("--where", action="store_true", help="where the pick's compute goes before its target")
    args = parser.parse_args()
    args.out = args.out or ROOT / "docs" / "bench" / "demo_cpu" / ("where.md" if args.where else "variants.md")
    if not args.table.is_file():
        sys.exit(f"{args.table}: no such table; build it with `vidnas bench build configs/bench/{args.table.stem}.yaml`")
    import multiprocessing

    import numpy as np
    from tqdm import tqdm

    from search.tabular.ratios import ratio_interval
    from spaces import atomic

    if args.where:
        with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn"), initializer=_hold,
                                 initargs=(str(args.table),)) as pool:
            rows = list(tqdm(pool.map(_where, range(args.seeds)), total=args.seeds, desc="replays", file=sys.stderr))
        kinds = ("stopped", "complete, off the front", "complete, on the front", "running")
        lines = [f"Where `{PICK}` spends its compute before it reaches 95% of the grid's validation hypervolume, "
                 f"{args.table.name}, 4 workers (`python bench/bench_variants.py --where`): shares of the "
                 "worker-seconds until then", "",
                 "| seed | compute to 95%, val (x grid) | trials ended by then | complete by then | " + " | ".join(kinds) + " |",
                 "|---|---|---|---|" + "---|" * len(kinds)]
        for seed, (t, ended, complete, shares) in enumerate(rows):
            lines.append(f"| {seed} | {'not reached' if t is None else f'{t:.3f}'} | {ended} | {complete} | "
                         + " | ".join(f"{shares[k]:.2f}" if shares else "-" for k in kinds) + " |")
        atomic.write_text(args.out, "\n".join(lines) + "\n")
        sys.exit(print("\n".join(lines) + f"\n\nwritten: {args.out}"))
    tasks = [(v, s) for v in VARIANTS for s in range(args.seeds)]
    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn"), initializer=_hold,
                             initargs=(str(args.table),)) as pool:
        found = list(tqdm(pool.map(_t95, *zip(*tasks)), total=len(tasks), desc="replays", unit="run", file=sys.stderr))
    t95 = {v: found[i * args.seeds:(i + 1) * args.seeds] for i, v in enumerate(VARIANTS)}

    def median(ts: list[float | None]) -> float:
        return float(np.median([math.inf if t is None else t for t in ts]))

    lines = [f"Variants of `{PICK}` on {args.table.name}, seeds 0-{args.seeds - 1}, 4 workers, the grid's compute "
             "(`python bench/bench_variants.py`)", "",
             "| variant | reached 95% (val) | median compute to 95%, val (x grid) | ratio to the pick | 95% CI |",
             "|---|---|---|---|---|"]
    for v, ts in t95.items():
        m, low, high = median(ts), *ratio_interval(ts, t95["pick"])
        ratio = "-" if v == "pick" else f"{m / median(t95['pick']):.2f}"
        ci = "-" if v == "pick" else f"{low:.2f} to {high:.2f}".replace("inf", "not reached")
        lines.append(f"| {v} | {sum(t is not None for t in ts)}/{len(ts)} | "
                     f"{'not reached' if math.isinf(m) else f'{m:.3f}'} | {ratio} | {ci} |")
    atomic.write_text(args.out, "\n".join(lines) + "\n")
    print("\n".join(lines) + f"\n\nwritten: {args.out}")
