"""`sampler: stratified` (search.engine.strata): turns over cost strata, uniform over architectures
within one, without replacement; deterministic, so a resumed search draws what it would have. On
the benchmark's space (costs from the shipped table) and on the unified space (costs counted)."""
from __future__ import annotations

import math
from pathlib import Path

import optuna
import pytest

from search.engine.searcher import FidelityOptunaSearch, make_sampler
from search.engine.strata import EDGES_ATTR, PARAMS_ATTR, ArchCost, ArchDraw, StratifiedSampler, _bin
from search.tabular.replay import TableCost, table_axes
from search.tabular.space import PointSpace, point_trial_params
from search.tabular.table import Table
from spaces import ArchSpec, cost
from spaces.bounds import SpaceBounds
from spaces.sample import ArchSpace

ROOT = Path(__file__).resolve().parents[2]
TABLE = ROOT / "bench" / "tables" / "demo_cpu.parquet"  # 138 points: 96 Inception, 21 ResNet, 21 VoV


@pytest.fixture(scope="module")
def table() -> Table:
    return Table.read(TABLE)


def _table_sampler(table: Table, seed: int = 0, **kwargs) -> StratifiedSampler:
    final = table.mean_final()
    return StratifiedSampler(PointSpace(table_axes(table)), TableCost({p: final[p]["gmacs"] for p in table.points}),
                             seed=seed, **kwargs)


def _ask(study: optuna.Study, table: Table, n: int) -> list[str]:
    space = PointSpace(table_axes(table))
    out = []
    for _ in range(n):
        trial = study.ask()
        out.append(space(trial)["point"])
        study.tell(trial, [0.5, 0.01])
    return out


def test_draws_are_uniform_over_architectures_not_over_the_tree_and_never_repeat(table) -> None:
    """The space picks the backbone first: Optuna's random sampler draws each backbone a third of
    the time, so each Inception point (96 of 138) 4.6 times less often than a VoV one. One stratum
    (no turns): the draws follow the points, 70% Inception."""
    n = 60
    uniform = _ask(optuna.create_study(directions=["maximize", "minimize"], sampler=_table_sampler(table, strata=1)),
                   table, n)
    tree = _ask(optuna.create_study(directions=["maximize", "minimize"],
                                    sampler=optuna.samplers.RandomSampler(seed=0)), table, n)
    share = sum(p.startswith("inception_v1") for p in uniform) / n
    assert len(set(uniform)) == n  # without replacement
    assert 0.57 <= share <= 0.83, share  # 96/138 = 0.70; binomial SD over 60 draws 0.06
    assert sum(p.startswith("inception_v1") for p in tree) / n <= 0.45  # the tree's third
    assert len(set(tree)) < n  # with replacement, 60 draws of 138 points repeat some


def test_each_round_visits_every_cost_stratum_once(table) -> None:
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=_table_sampler(table, strata=4))
    drawn = _ask(study, table, 12)
    stored = study._storage.get_study_system_attrs(study._study_id)[EDGES_ATTR]
    edges, bins = stored["edges"], stored["bins"]
    assert len(edges) == 5 and len(bins) >= 3
    gmacs = table.mean_final()
    of = [_bin(math.log10(gmacs[p]["gmacs"]), edges, 4) for p in drawn]
    rounds = [of[i:i + len(bins)] for i in range(0, len(of) - len(bins) + 1, len(bins))]
    assert len(rounds) >= 3 and all(sorted(r) == bins for r in rounds), of
    tree = _ask(optuna.create_study(directions=["maximize", "minimize"],
                                    sampler=optuna.samplers.RandomSampler(seed=1)), table, 12)
    tree_of = [_bin(math.log10(gmacs[p]["gmacs"]), edges, 4) for p in tree]
    assert not all(sorted(tree_of[i:i + len(bins)]) == bins for i in range(0, 12 - len(bins) + 1, len(bins)))


def test_a_resumed_search_draws_what_it_would_have_and_warm_starts_keep_their_point(table) -> None:
    axes = table_axes(table)
    warm = point_trial_params(table.rows[0], axes)  # the table's first point, as its trial parameters

    def searcher(study: optuna.Study, seed: int = 7, warm_start: bool = True) -> FidelityOptunaSearch:
        # the warm start is enqueued in the study when the searcher is made: a resumed one has it already
        return FidelityOptunaSearch(space=PointSpace(axes), metric=["val_top1", "gmacs"], mode=["max", "min"],
                                    points_to_evaluate=[warm] if warm_start else None,
                                    sampler=_table_sampler(table, seed=seed), budget=100, search_dir="",
                                    study_name=study.study_name, storage=study._storage)

    def run(s: FidelityOptunaSearch, ids: range) -> list[str]:
        out = []
        for i in ids:
            out.append(s.suggest(f"t{i}")["point"])
            s.on_trial_complete(f"t{i}", {"status": "complete", "epoch": 8, "val_top1": 0.5, "gmacs": 0.01})
        return out

    straight = run(searcher(optuna.create_study(directions=["maximize", "minimize"])), range(10))
    study = optuna.create_study(directions=["maximize", "minimize"])
    first = run(searcher(study), range(5))
    resumed = searcher(study, warm_start=False)  # a new sampler (no cache), the study as the journal left it
    assert first + run(resumed, range(5, 10)) == straight
    assert straight[0] == table.rows[0]["point"] and len(set(straight)) == 10
    trials = study.get_trials(deepcopy=False)
    assert PARAMS_ATTR not in trials[0].system_attrs and all(PARAMS_ATTR in t.system_attrs for t in trials[1:])
    other = run(searcher(optuna.create_study(directions=["maximize", "minimize"]), seed=8), range(10))
    assert other[0] == straight[0] and other[1:] != straight[1:]  # the seed matters


def test_a_space_it_cannot_walk_is_refused_in_one_line() -> None:
    def floats(trial: optuna.trial.BaseTrial) -> float:
        return trial.suggest_float("lr", 1e-4, 1e-1)

    study = optuna.create_study(sampler=StratifiedSampler(floats, lambda v: 1.0))
    with pytest.raises(ValueError, match=r"parameter 'lr': the stratified sampler draws categorical spaces only"):
        study.ask()


BOUNDS = SpaceBounds(families=("resnet", "vov"), backbones=("resnet50", "vov3d_m"), widths=(0.125, 0.25),
                     depths=(0.34,), frames=(8,), crop=32, num_classes=6, temporal_kernels=(3,), tosa_depths=(1, 2))


@pytest.mark.slow  # counts the GMACs of about 80 architectures (15 s)
def test_on_the_unified_space_it_prices_before_drawing_so_no_draw_is_over_the_budget() -> None:
    """With `max_gmacs` the other samplers draw, then learn that a draw was over (an infeasible
    trial, not trained); this one knows the cost first and draws only what fits."""
    probe, space = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)), ArchSpace(BOUNDS)
    spent = sorted(cost(ArchSpec.from_json(space(probe.ask())["arch"])).gmacs for _ in range(12))
    budget = spent[len(spent) // 2]
    bounds = SpaceBounds(**{**BOUNDS.__dict__, "max_gmacs": budget})
    study = optuna.create_study(directions=["maximize", "minimize"])
    searcher = FidelityOptunaSearch(space=ArchSpace(bounds), metric=["val_top1", "gmacs"], mode=["max", "min"],
                                    sampler=StratifiedSampler(ArchDraw(bounds), ArchCost(budget), pilot=16, max_draws=8),
                                    budget=6,
                                    search_dir="", study_name=study.study_name, storage=study._storage)
    given = []
    for i in range(6):
        config = searcher.suggest(f"t{i}")
        given.append(cost(ArchSpec.from_json(config["arch"])).gmacs)
        searcher.on_trial_complete(f"t{i}", {"status": "complete", "epoch": 2, "val_top1": 0.5, "gmacs": given[-1]})
    assert searcher.suggest("t6") == "FINISHED"
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == 6 and all(g <= budget for g in given)  # six trials, none infeasible
    assert all(t.constraints["gmacs_over_budget"] <= 0 for t in trials)
    assert len({tuple(sorted(t.params.items())) for t in trials}) == 6
    sampler = make_sampler("stratified", 0, 6, {}, bounds=bounds, stored_frames=16)  # the search's, at its defaults
    assert (sampler.max_draws, sampler.pilot, sampler.cost.max_gmacs, sampler.cost.stored_frames) == (32, 64, budget, 16)
    with pytest.raises(ValueError, match="needs the space's bounds"):
        make_sampler("stratified", 0, 6, {})
    # the strata are in GMACs per clip, as the search's cost objective: an 8-frame network on
    # 16-frame clips is evaluated on 2 views
    spec = ArchSpec.from_json(space(probe.ask())["arch"])
    assert ArchCost(None, stored_frames=16)(spec) == pytest.approx(2 * cost(spec).gmacs)
    assert ArchCost(None)(spec) == cost(spec).gmacs and ArchCost(cost(spec).gmacs / 2)(spec) is None


@pytest.mark.ray
@pytest.mark.slow
def test_a_real_search_with_the_stratified_sampler(store: str, tmp_path: Path) -> None:
    from search.engine.config import SearchConfig
    from search.engine.tuner import open_study, run_search

    cfg = SearchConfig.from_dict({
        "name": "strata", "data": store, "storage": str(tmp_path), "trials": 3, "epochs": 1, "min_epochs": 1,
        "early_stopping": False, "concurrency": 2, "sampler": "stratified", "seed": 2, "system_metrics_s": None, "optim": {"batch_size": 16},
        "space": {"frames": [8], "crop": 32, "widths": [0.125], "depths": [0.34], "families": ["resnet", "vov"],
                  "backbones": ["resnet50", "vov3d_m"], "tosa_depths": [1, 2], "max_gmacs": 0.05}})
    outcome = run_search(cfg, num_cpus=2, verbose=0)
    assert outcome.finished and [r["state"] for r in outcome.rows] == ["complete"] * 3
    assert len({r["spec"] for r in outcome.rows}) == 3 and all(r["gmacs"] <= 0.05 for r in outcome.rows)
    study = open_study(cfg.search_dir)
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == 3 and all(t.params == t.system_attrs[PARAMS_ATTR] for t in trials)  # each drawn whole
    assert EDGES_ATTR in study._storage.get_study_system_attrs(study._study_id)
