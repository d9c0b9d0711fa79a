"""Does the GMACs budget steer the sampler? Infeasible draws on the demo space, TPE against random.

    python bench/bench_constraints.py [--draws 40] [--seeds 5]

The real searcher (`FidelityOptunaSearch` over the demo config's space and budget) is asked for
trials until Optuna holds `draws` draws. A draw over `space.max_gmacs` is told PRUNED with its
constraint value and never trains; a feasible one is told COMPLETE at once with a synthetic
accuracy (a smooth function of its GMACs plus noise: this measures constraint steering, not
accuracy). Prints the fraction of infeasible draws in the first and the second half of the run,
mean over seeds, per sampler, and the second-half ratio TPE / random.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import random
import sys
import time
from pathlib import Path

import warnings

import optuna

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))

from search.engine.config import SearchConfig  # noqa: E402
from search.engine.searcher import INFEASIBLE_ATTR, FidelityOptunaSearch, make_sampler  # noqa: E402
from spaces import ArchSpec, cost  # noqa: E402
from spaces.sample import ArchSpace  # noqa: E402


def run(sampler_name: str, seed: int, draws: int, bounds) -> list[bool]:
    """Infeasible or not, for each draw in order."""
    study = optuna.create_study(directions=["maximize", "minimize"], study_name=f"{sampler_name}-{seed}")
    searcher = FidelityOptunaSearch(space=ArchSpace(bounds), metric=["val_top1", "gmacs"], mode=["max", "min"],
                                    sampler=make_sampler(sampler_name, seed, draws, {}), budget=draws,
                                    search_dir="", study_name=study.study_name, storage=study._storage)
    rng = random.Random(seed)
    i = 0
    while len(searcher._ot_study.trials) < draws:
        config = searcher.suggest(f"t{i}")
        if isinstance(config, dict):
            gmacs = cost(ArchSpec.from_json(config["arch"])).gmacs
            top1 = 0.3 + 0.4 * (1 - math.exp(-gmacs / 0.02)) + rng.gauss(0, 0.03)
            searcher.on_trial_complete(f"t{i}", {"status": "complete", "epoch": 8, "val_top1": top1, "gmacs": gmacs})
        i += 1
    return [bool(t.user_attrs.get(INFEASIBLE_ATTR)) for t in searcher._ot_study.trials[:draws]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=40)
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", message=".*(Define-by-run function|``group`` is an experimental).*")
    cfg = SearchConfig.from_yaml(ROOT / "configs" / "demo.yaml")
    bounds = dataclasses.replace(cfg.space, num_classes=18)
    half = args.draws // 2
    print(f"demo space, max_gmacs {bounds.max_gmacs} (GMACs = multiply-adds / 1e9 per clip); {args.draws} draws, "
          f"{args.seeds} seeds; fraction of draws over the budget")
    print(f"{'sampler':<8} {'first half':>10} {'second half':>11} {'seconds':>8}")
    second = {}
    for name in ("random", "tpe"):
        start = time.perf_counter()
        runs = [run(name, seed, args.draws, bounds) for seed in range(args.seeds)]
        first = sum(sum(r[:half]) for r in runs) / (half * len(runs))
        second[name] = sum(sum(r[half:]) for r in runs) / ((args.draws - half) * len(runs))
        print(f"{name:<8} {first:>10.3f} {second[name]:>11.3f} {time.perf_counter() - start:>8.1f}")
    ratio = second["tpe"] / second["random"] if second["random"] else float("nan")
    print(f"second half, TPE / random: {ratio:.2f} (below 1: the budget steers TPE)")


if __name__ == "__main__":
    main()
