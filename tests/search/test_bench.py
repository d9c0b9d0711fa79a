"""The tabulated benchmark: its space, its build through the real engine, and replays of the
search's own searcher and schedulers against the shipped table (seeded, deterministic)."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import optuna
import pytest
from scipy.stats import chisquare

from search.cli.main import main
from search.engine.config import ConfigError
from search.pareto import hypervolume, pareto_ranks
from search.tabular.config import BenchConfig
from search.tabular.figures import REPLAY_LIBRARIES, replay_version
from search.tabular.ratios import StrategySummary, choose_default, choose_peer, goal_report, ratio_interval, versus
from search.tabular.replay import ShuffledGrid, Strategy, grid_seconds, replay, reported_hv
from search.tabular.space import Axes, enumerate_points, point_id, point_trial_params, suggest_point
from search.tabular.table import Table, near_front, seed_sd

ROOT = Path(__file__).resolve().parents[2]
SMALL = ROOT / "bench" / "tables" / "demo_cpu_small.parquet"  # a declared sub-space of demo_cpu (its build)


# -- the space ------------------------------------------------------------------------------


@pytest.mark.slow  # counts the cost of all 138 points (25 s)
def test_shipped_config_points_are_distinct_networks_and_replayable() -> None:
    cfg = BenchConfig.from_yaml(ROOT / "configs" / "bench" / "demo_cpu.yaml")
    points = cfg.points()
    ids = [point_id(p) for p in points]
    assert len(points) == 138 and len(set(ids)) == 138  # 96 Inception, 21 ResNet, 21 VoV
    assert [p["backbone"] for p in points].count("inception_v1") == 96
    from search.tabular.build import point_specs
    from spaces import cost
    specs = point_specs(cfg, 18)
    costs = [(cost(s).params, cost(s).gmacs) for s in specs.values()]
    assert len(set(costs)) == len(costs)  # no two points are the same network under another name
    for p in points:  # each point is what the define-by-run space gives for its own parameters
        assert suggest_point(optuna.trial.FixedTrial(point_trial_params(p, cfg.backbones)), cfg.backbones) == p


def test_the_held_out_table_is_another_store_and_sub_space_of_distinct_networks() -> None:
    held = BenchConfig.from_yaml(ROOT / "configs" / "bench" / "temporal_cpu.yaml")
    selection = BenchConfig.from_yaml(ROOT / "configs" / "bench" / "demo_cpu.yaml")
    from search.tabular.build import point_specs
    specs = point_specs(held, 18)  # refuses two points that build the same network
    assert len(specs) == len(held.points()) == 145 >= 128
    assert held.data != selection.data and held.noise_every == 1 and held.front_seed is not None
    shared = {point_id(p) for p in held.points()} & {point_id(p) for p in selection.points()}
    assert len(shared) == 60  # the rest (85) are design choices the selection table never saw


def test_enumeration_is_the_define_by_run_space() -> None:
    axes = {"inception_v1": Axes(layouts=("2d", "top2", "3d"), temporal_ops=("3d", "separable"),
                                 gates=("off", "temporal")),
            "vov3d_m": Axes(layouts=("2d", "3d"), temporal_ops=("depthwise",), tosa_depths=(1, 3))}
    points = enumerate_points(axes)
    # inception: 2d x gate off (temporal gating is not offered to 2d) + 2 layouts x 2 ops x 2 gates; vov: 2 x 2
    assert len(points) == 1 + 8 + 4
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    drawn = {point_id(suggest_point(study.ask(), axes)) for _ in range(300)}
    assert drawn == {point_id(p) for p in points}


@pytest.mark.parametrize("change, message", [
    ({"backbones": {"inception_v1": {"layouts": ["top4"]}}}, "backbones.inception_v1.layouts='top4'"),
    ({"backbones": {"inception_v1": {"layouts": ["2d", "top1"]}}}, "build the same architecture"),
    ({"backbones": {"resnet50": {"tosa_depths": [3]}}}, "T-OSA depth is a VoV choice only"),
    ({"warm_start": {"x": {"backbone": "inception_v1", "layout": "bottom3"}}}, "warm_start.x"),
    ({"noise_seed": 0}, "noise_seed=0"),
    ({"front_seed": 1}, "front_seed=1: must differ"),
    ({"front_sds": -1}, "front_sds=-1"),
    ({"init": {"weights": "nowhere/weights.pt"}}, "init.weights='nowhere/weights.pt': must be a state dict file or"),
    ({"init": {"weights": "README.md", "backbone_lr": 0}}, "init.backbone_lr=0.0: must be in (0, 1]"),
])
def test_bad_bench_configs_are_refused_in_one_line(tmp_path, store, capsys, change, message) -> None:
    import yaml
    data = {"name": "t", "data": store, "storage": str(tmp_path / "runs"), "out": str(tmp_path / "t"), "epochs": 1,
            "backbones": {"inception_v1": {"layouts": ["2d", "3d"]}}} | change
    (tmp_path / "b.yaml").write_text(yaml.safe_dump(data))
    assert main(["bench", "build", str(tmp_path / "b.yaml")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "Traceback" not in err


def test_a_build_time_limit_must_be_minutes(tmp_path, store, capsys) -> None:
    import yaml
    data = {"name": "t", "data": store, "storage": str(tmp_path / "runs"), "out": str(tmp_path / "t"),
            "backbones": {"inception_v1": {"layouts": ["2d", "3d"]}}}
    (tmp_path / "b.yaml").write_text(yaml.safe_dump(data))
    assert main(["bench", "build", str(tmp_path / "b.yaml"), "--minutes", "-1"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--minutes=-1: must be a number of minutes >= 0" in err and "\n" not in err
    assert not (tmp_path / "runs").exists()  # refused before anything started


def test_init_reaches_every_point_of_a_benchmark(tmp_path, store) -> None:
    from search.tabular.build import bounds_of, search_config
    from search.trial.options import InitConfig

    data = {"name": "t", "data": store, "storage": str(tmp_path / "runs"), "out": str(tmp_path / "t"),
            "backbones": {"inception_v1": {"layouts": ["2d", "3d"]}},
            "init": {"weights": str(Path(__file__)), "inflate": True, "backbone_lr": 0.1, "freeze_bn": True}}
    import yaml
    (tmp_path / "b.yaml").write_text(yaml.safe_dump(data))
    cfg = BenchConfig.from_yaml(tmp_path / "b.yaml")
    search = search_config(cfg, "t", 3, 0, bounds_of(cfg, 6))
    assert search.init == InitConfig(weights=str(Path(__file__)), inflate=True, backbone_lr=0.1, freeze_bn=True)


# -- the build, through the engine ----------------------------------------------------------


@pytest.mark.ray
@pytest.mark.slow
def test_build_records_curves_costs_seeds_and_provenance(tmp_path, store, capsys, monkeypatch) -> None:
    import yaml
    cfg = {"name": "mini", "data": store, "storage": str(tmp_path / "runs"), "out": str(tmp_path / "tables"),
           "epochs": 2, "noise_every": 2, "front_seed": 2, "piece": 2, "concurrency": 2, "optim": {"batch_size": 32},
           "backbones": {"inception_v1": {"layouts": ["2d", "bottom1", "3d"], "temporal_ops": ["separable"]}}}
    (tmp_path / "mini.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["bench", "build", str(tmp_path / "mini.yaml"), "--cpus", "2"]) == 0
    table = Table.read(tmp_path / "tables" / "mini.parquet")
    assert len(table.points) == 3 and table.epochs == 2 and table.seeds == [0, 1, 2]
    # every point at seed 0, every 2nd point (in enumeration order) again at seed 1, and the points
    # near the front of those two seeds' means at seed 2: one row per epoch
    first_two = Table([r for r in table.rows if r["seed"] < 2], table.objectives, table.reference, table.provenance)
    third = {r["point"] for r in table.rows if r["seed"] == 2}
    assert third == set(near_front(first_two)) and third
    keys = [(r["point"], r["seed"], r["epoch"]) for r in table.rows]
    assert len(keys) == len(set(keys)) == 3 * 2 + 2 * 2 + len(third) * 2
    for r in table.rows:
        for k in ("val_top1", "test_top1", "val_within_pair", "test_within_pair", "epoch_seconds", "train_seconds"):
            assert isinstance(r[k], float) and not math.isnan(r[k]), (k, r)
        assert r["gmacs"] > 0 and r["params"] > 0 and r["latency_ms"] > 0
    twice = {r["point"] for r in table.rows if r["seed"] == 1}
    assert twice == {table.points[0], table.points[2]}
    prov = table.provenance
    assert prov["config"]["name"] == "mini" and prov["seeds"] == {"all": 0, "noise": 1, "noise_every": 2,
                                                                  "front": 2, "front_sds": 1.0}
    assert prov["store_fingerprint"].startswith("synth-tiny:") and prov["device"].startswith("CPU")
    assert set(prov["wall_seconds"]) == {"mini", "mini-noise", "mini-front"} and len(prov["code_version"]) >= 7
    assert table.reference["val_top1"] == 0.0 and table.reference["gmacs"] == pytest.approx(
        1.1 * max(r["gmacs"] for r in table.rows))
    # the pieces: at most 2 points each, one seed each, listed in the table's provenance
    parts = sorted(p.name for p in (tmp_path / "tables" / "mini.parts").glob("*.parquet"))
    assert [p.split("-")[0] for p in parts].count("s0") == 2 and [p.split("-")[0] for p in parts].count("s1") == 1
    assert sorted(p["file"] for p in prov["pieces"]) == parts
    assert sum(p["points"] for p in prov["pieces"]) == 3 + 2 + len(third)
    for p in prov["pieces"]:  # how busy the machine was as each piece ended
        assert set(p["load_avg"]) == {"1min", "5min", "15min", "cores"} and p["load_avg"]["cores"] == os.cpu_count()
        assert p["load_avg"]["1min"] > 0  # its own trials had just run
    # another machine (no search directories: another storage) with the pieces trains nothing and
    # writes the same table (another storage, not the first one removed: MLflow keeps its store open)
    before = table.rows
    cfg["storage"] = str(tmp_path / "elsewhere")
    (tmp_path / "mini.yaml").write_text(yaml.safe_dump(cfg))
    capsys.readouterr()
    assert main(["bench", "build", str(tmp_path / "mini.yaml"), "--cpus", "2"]) == 0
    out = capsys.readouterr().out
    assert "seed 0: 3 points x 2 epochs, 3 in" in out and "0 to train" in out and "wrote" not in out
    assert Table.read(tmp_path / "tables" / "mini.parquet").rows == before
    assert not (tmp_path / "elsewhere").exists()
    # a piece lost (its machine went before it was committed) is trained again, and only it; by
    # another code version, which first retrains one point of the pieces and must match it bit for bit
    from search.tabular import build as build_module
    monkeypatch.setattr(build_module, "code_version", lambda: "0123abc")
    lost = tmp_path / "tables" / "mini.parts" / parts[0]
    lost_points = Table.read(lost).points
    lost.unlink()
    assert main(["bench", "build", str(tmp_path / "mini.yaml"), "--cpus", "2"]) == 0
    out = capsys.readouterr().out
    assert out.count("wrote ") == 1 and f"({len(lost_points)} points," in out
    assert "code 0123abc trains" in out and "bit for bit" in out
    checks = json.loads((tmp_path / "tables" / "mini.parts" / "checks.json").read_text())
    assert list(checks) == ["0123abc"] and checks["0123abc"]["piece"] == parts[1]
    rebuilt = Table.read(tmp_path / "tables" / "mini.parquet")
    assert [(r["point"], r["seed"], r["epoch"]) for r in rebuilt.rows] == keys
    # bit-reproducible trials: the retrained piece has the same curves
    assert [r["val_top1"] for r in rebuilt.rows] == [r["val_top1"] for r in before]
    assert rebuilt.provenance["code_checks"] == checks
    # pieces this code does not reproduce (here: one doctored) stop a new version before it trains
    reference = tmp_path / "tables" / "mini.parts" / parts[0]  # the first piece again (it was retrained)
    doctored = Table.read(reference)
    first = doctored.points[0]
    doctored.rows = [{**r, "val_top1": r["val_top1"] + 0.25 if r["point"] == first and r["epoch"] == 1
                      else r["val_top1"]} for r in doctored.rows]
    doctored.write(reference)
    (tmp_path / "tables" / "mini.parts" / parts[2]).unlink()
    monkeypatch.setattr(build_module, "code_version", lambda: "4567def")
    assert main(["bench", "build", str(tmp_path / "mini.yaml"), "--cpus", "2"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("vidnas: error")]
    assert len(errors) == 1  # one line (MLflow may log its own INFO lines before it)
    assert "code 4567def does not train as code 0123abc did" in errors[0] and f"{first} at seed 0" in errors[0]
    assert "val_top1 at epoch 1" in errors[0] and not (tmp_path / "tables" / "mini.parts" / parts[2]).exists()


def test_pieces_trained_otherwise_or_twice_are_refused(tmp_path, store) -> None:
    import shutil

    import yaml
    from search.data.store import ClipStore
    from search.tabular.build import point_specs
    from search.tabular.pieces import Pieces
    cfg = {"name": "mini", "data": store, "storage": str(tmp_path / "runs"), "out": str(tmp_path / "tables"),
           "epochs": 2, "backbones": {"inception_v1": {"layouts": ["2d", "3d"], "temporal_ops": ["separable"]}}}
    (tmp_path / "mini.yaml").write_text(yaml.safe_dump(cfg))
    bench = BenchConfig.from_yaml(tmp_path / "mini.yaml")
    meta = ClipStore.open(store).meta
    ids = list(point_specs(bench, len(meta.classes)))
    rows = [{"point": p, "seed": 0, "epoch": e, "val_top1": 0.5, "gmacs": 0.01} for p in ids for e in (1, 2)]
    points = {p: {"spec": "{}"} for p in ids}
    pieces = Pieces(bench, meta.fingerprint)
    piece = Table.from_rows(rows, points, bench.objectives, {"code_version": "abc1234"})
    path = pieces.add(0, ids, piece)
    assert set(pieces.done()) == {(p, 0) for p in ids}
    # the same pieces under a config that trains longer: refused, naming the setting
    longer = BenchConfig.from_yaml(tmp_path / "mini.yaml").__class__(**{**bench.__dict__, "epochs": 3})
    with pytest.raises(ConfigError, match=r"trained with epochs=2, not this config's settings"):
        Pieces(longer, meta.fingerprint).done()
    # a point at a seed in two pieces: refused, naming both
    shutil.copy(path, path.with_name("s0-copy.parquet"))
    with pytest.raises(ConfigError, match=r"at seed 0 is also in"):
        pieces.done()
    # a piece must hold exactly the points it is written for
    with pytest.raises(ValueError, match="must hold exactly its 1 points"):
        pieces.add(0, ids[:1], piece)


# -- replays against the shipped table -------------------------------------------------------


@pytest.fixture(scope="module")
def small() -> Table:
    return Table.read(SMALL)


def test_hypervolume_against_a_dense_grid() -> None:
    rng = np.random.default_rng(0)
    points = [(float(a), float(c)) for a, c in zip(rng.uniform(0, 1, 12), rng.uniform(-3, -1, 12))]
    ref = (0.0, -0.5)
    acc, cost = np.meshgrid(np.linspace(0, 1, 801)[1:] - 1 / 1600, np.linspace(-3, -0.5, 1001)[1:] - 2.5 / 2000)
    covered = np.zeros_like(acc, dtype=bool)
    for a, c in points:
        covered |= (acc <= a) & (cost >= c)
    assert hypervolume(points, ref) == pytest.approx(covered.mean() * 1.0 * 2.5, rel=0.01)


@pytest.mark.parametrize("name", ["tpe/moasha", "random/fifo", "uniform/moasha", "nsga2/moasha/warm", "tpe/asha"])
def test_replay_is_deterministic_and_keeps_the_scheduler_rules(small, name) -> None:
    strategy = Strategy.parse(name)
    a = replay(small, strategy, seed=3, workers=3, budget=0.6)
    b = replay(small, strategy, seed=3, workers=3, budget=0.6)
    assert [(t["point"], t["start"], t["end"], t["state"]) for t in a.trials] == \
        [(t["point"], t["start"], t["end"], t["state"]) for t in b.trials]
    epochs = small.epochs
    rungs = set()  # the epochs MO-ASHA / ASHA may stop a trial at: min_epochs x eta^k, before the last
    while strategy.scheduler != "fifo" and strategy.min_epochs * strategy.reduction_factor ** len(rungs) < epochs:
        rungs.add(strategy.min_epochs * strategy.reduction_factor ** len(rungs))
    assert len(a.trials) >= 10
    for t in a.trials:
        assert t["state"] in ("complete", "pruned") and t["end"] <= a.budget_s
        assert (t["epochs"] == epochs) == (t["state"] == "complete")
        assert t["state"] == "complete" or t["epochs"] in rungs  # stopped only at a rung
        curve = small.curve(t["point"])
        assert t["end"] - t["start"] == pytest.approx(sum(r["epoch_seconds"] for r in curve[:t["epochs"]]))
    # never more than `workers` trials at once, and a worker is never idle while the budget lasts
    for t in a.trials:
        running = [u for u in a.trials if u["start"] <= t["start"] < u["end"]]
        assert len(running) <= 3
    assert min(t["start"] for t in a.trials) == 0.0
    if strategy.warm_start:  # the papers' points in this sub-space (S3D-G, I3D top-heavy) start first
        first = [t["point"] for t in sorted(a.trials, key=lambda t: (t["start"], t["trial_id"]))[:2]]
        assert first == ["inception_v1/w0.125/3d-separable/gate=temporal/bv=off/tosa=-",
                         "inception_v1/w0.125/top2-3d/gate=off/bv=off/tosa=-"]


def test_uniform_search_draws_every_point_once_in_a_seeded_order(small) -> None:
    """The ratios' baseline: each trial a different point (no replacement), uniformly over the
    table's points whatever their backbone, in an order set by the seed; with budget enough for
    the whole grid on one worker it trains every point exactly once, then stops asking."""
    n = len(small.points)
    run = replay(small, Strategy.parse("uniform/fifo"), seed=0, workers=1, budget=1.5)
    drawn = [t["point"] for t in sorted(run.trials, key=lambda t: t["start"])]
    assert len(drawn) == n and set(drawn) == set(small.points) and len(set(drawn)) == n
    assert all(t["state"] == "complete" for t in run.trials)
    orders = {tuple(t["point"] for t in sorted(replay(small, Strategy.parse("uniform/fifo"), seed=s, workers=4,
                                                      budget=0.3).trials, key=lambda t: (t["start"], t["trial_id"])))
              for s in range(4)}
    assert len(orders) == 4
    # uniform over points: over 100 draws a point, the first draw is each point about equally often
    firsts = [ShuffledGrid(small.points, seed).suggest("0")["point"] for seed in range(100 * n)]
    counts = [firsts.count(p) for p in small.points]
    assert sum(counts) == 100 * n and chisquare(counts).pvalue > 0.001, counts


def test_the_stratified_replay_tries_every_point_before_any_twice(small) -> None:
    """`stratified` in a replay is the search's sampler (tests/search/test_strata.py): over a
    budget of twice the grid, the first trials cover every point once, and only then repeat."""
    run = replay(small, Strategy.parse("stratified/moasha"), seed=0, workers=4, budget=2.0)
    points = [t["point"] for t in sorted(run.trials, key=lambda t: (t["start"], t["trial_id"]))]
    n = len(small.points)
    assert len(points) > n and sorted(points[:n]) == sorted(small.points)


def test_tpe_starts_as_a_search_of_the_replays_size(small) -> None:
    """Unless a strategy says `startup=N`, TPE's random startup is what `vidnas search` would use
    for as many trials as the replay's budget buys (min(10, max(2, trials // 3)))."""
    from search.tabular.replay import make_searcher

    assert Strategy.parse("tpe/moasha").name.endswith("/startup=auto")
    n = len(small.points)
    for budget, expected in ((0.25, min(10, max(2, round(0.25 * n) // 3))), (4.0, 10)):
        searcher = make_searcher(small, Strategy.parse("tpe/moasha"), 0, budget)
        assert searcher._sampler._n_startup_trials == expected, budget
    assert make_searcher(small, Strategy.parse("tpe/moasha/startup=7"), 0, 0.25)._sampler._n_startup_trials == 7


def test_any_optuna_sampler_replays_by_name_with_its_arguments(small) -> None:
    strategy = Strategy.parse("QMCSampler:qmc_type=halton:scramble=true/moasha")
    assert strategy.name == "QMCSampler:qmc_type=halton:scramble=true/moasha/eta=2/min=2"
    a, b = (replay(small, strategy, seed=2, workers=3, budget=0.4) for _ in range(2))
    assert [t["point"] for t in a.trials] == [t["point"] for t in b.trials] and len(a.trials) >= 8
    assert {t["point"] for t in a.trials} <= set(small.points)
    for text, message in (("NoSuchSampler/fifo", "must be one of uniform, stratified, random, tpe, nsga2, gp or an "
                                                  "Optuna sampler \\(optuna.samplers: BruteForceSampler, CmaEsSampler"),
                          ("QMCSampler:halton/fifo", "argument 'halton' must be key=value"),
                          ("QMCSampler:qmc_type=nope/fifo", "strategy sampler 'QMCSampler:qmc_type=nope'")):
        with pytest.raises(ValueError, match=message):
            Strategy.parse(text)


def test_early_stopping_finds_more_than_random_search_early(small) -> None:
    """The regression guard: at a quarter of the grid's compute, the default strategy (TPE and
    MO-ASHA) reports more test hypervolume than random search without early stopping (5 seeds,
    mean); MO-ASHA has tried more points by then."""
    full = reported_hv(small, small.points)
    at, tried = {}, {}
    for name in ("tpe/moasha", "random/fifo"):
        values, points = [], []
        for seed in range(5):
            run = replay(small, Strategy.parse(name), seed=seed, workers=4, budget=0.25)
            values.append(reported_hv(small, [(p, s) for _, p, s in run.completions()]) / full)
            points.append(len({t["point"] for t in run.trials}))
        at[name], tried[name] = float(np.mean(values)), float(np.mean(points))
    assert at["tpe/moasha"] > at["random/fifo"] + 0.01, at
    assert tried["tpe/moasha"] > tried["random/fifo"], tried


def test_the_peer_replays_the_table_seeded_and_keeps_its_rungs(small) -> None:
    """Syne Tune's MOASHA and random search through its own simulator: the same seed gives the
    same trials, another seed others; MOASHA stops a trial only at its rungs (min 2, eta 3)."""
    from search.tabular.peer import peer_replay

    def trials(run):
        return [(t["point"], t["state"], t["epochs"]) for t in sorted(run.trials, key=lambda t: int(t["trial_id"]))]

    for name, rungs in (("peer:random", set()), ("peer:moasha/min=2", {2, 6})):
        a, b = (peer_replay(small, name, seed=0, workers=4, budget=0.5) for _ in range(2))
        other = peer_replay(small, name, seed=1, workers=4, budget=0.5)
        assert trials(a) == trials(b) and trials(a) != trials(other)
        assert len(a.trials) >= 8
        for point, state, epochs in trials(a):
            assert point in small.points and (state == "complete") == (epochs == small.epochs)
            assert state == "complete" or epochs in rungs
        assert max(t["end"] for t in a.trials) <= a.budget_s


@pytest.mark.slow  # 12 replays and their plots (11 s)
def test_replay_command_writes_figures_and_resumes(small, tmp_path, capsys) -> None:
    out = tmp_path / "rep"
    argv = ["bench", "replay", str(SMALL), "--strategies", "random/fifo,tpe/moasha", "--seeds", "2", "--workers",
            "4", "--budget", "0.3", "--out", str(out)]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "| random/fifo | 2 |" in text and f"| {Strategy.parse('tpe/moasha').name} | 2 |" in text
    lines = (out / "runs.jsonl").read_text().splitlines()
    assert len(lines) == 4
    assert main(argv) == 0  # every replay is reused, none is run twice
    assert len((out / "runs.jsonl").read_text().splitlines()) == 4
    for name in ("summary.json", "ratios.md", "hypervolume.png", "rank.png"):
        assert (out / name).stat().st_size > 0
    assert grid_seconds(small) > 0
    # what the figures were replayed with: the code and library digest the cache keys on, and the versions
    summary = json.loads((out / "summary.json").read_text())
    assert summary["replay_version"] == replay_version() == json.loads(lines[0])["code"]
    assert summary["libraries"]["optuna"] == optuna.__version__ and set(summary["libraries"]) == set(REPLAY_LIBRARIES)
    # the same replays two at a time, in processes of their own: the same trials, in any order
    assert main([*argv[:-1], str(tmp_path / "rep2"), "--jobs", "2"]) == 0

    def runs(path):
        return sorted((d["strategy"], d["seed"], json.dumps(d["trials"])) for d in map(json.loads, path.read_text().splitlines()))
    assert runs(tmp_path / "rep2" / "runs.jsonl") == runs(out / "runs.jsonl")


def test_replay_on_fresh_seeds(small, tmp_path, capsys) -> None:
    """--first-seed K replays seeds K.. (a confirmation of what seeds 0.. chose)."""
    out = tmp_path / "confirm"
    assert main(["bench", "replay", str(SMALL), "--strategies", "random/fifo,tpe/fifo", "--seeds", "2",
                 "--first-seed", "20", "--budget", "0.2", "--out", str(out)]) == 0
    seeds = [(d["strategy"], d["seed"]) for d in map(json.loads, (out / "runs.jsonl").read_text().splitlines())]
    tpe = Strategy.parse("tpe/fifo").name
    assert sorted(seeds) == [("random/fifo", 20), ("random/fifo", 21), (tpe, 20), (tpe, 21)]
    ratios = (out / "ratios.md").read_text()
    assert "| ratio to uniform, val | 95% CI |" in ratios and "| ratio to uniform, test | 95% CI |" in ratios
    assert f"| {tpe} | 2 |" in ratios


def test_ratio_interval_and_the_defaults_rule() -> None:
    # the same replays: ratio 1 in every resample; never reached: infinite; twice as fast: 0.5
    base = [0.4, 0.5, 0.6, 0.5, 0.45]
    assert ratio_interval(base, base, resamples=500)[1] >= 1.0 >= ratio_interval(base, base, resamples=500)[0]
    assert ratio_interval([t / 2 for t in base], [t / 2 for t in base], resamples=200) == \
        ratio_interval(base, base, resamples=200)  # scale-free
    low, high = ratio_interval([0.25] * 5, [0.5] * 5, resamples=200)
    assert (low, high) == (0.5, 0.5)
    assert ratio_interval([None] * 5, base, resamples=200) == (math.inf, math.inf)
    # the rule: no warm starts, no peer, no single-objective ASHA; lowest median compute
    def summary(name, median, final=0.97, test=None):  # the rule reads the validation split only
        return StrategySummary(name, 20, [], [], [], [0.0], final, [], 20, test, None, None, None, 100, 0.5, 0.0,
                               val_median_t95=median)
    pool = {s.strategy: s for s in [summary("tpe/moasha/warm", 0.1), summary("peer:moasha", 0.1),
                                     summary("tpe/asha", 0.1), summary("random/fifo", 0.7),
                                     summary("tpe/moasha/eta=2", 0.3, 0.95, test=0.01),
                                     summary("random/moasha", 0.3, 0.98, test=0.9), summary("tpe/fifo", None, test=0.01)]}
    assert choose_default(pool).strategy == "random/moasha"  # whatever the test split says
    # the peer at its best: the corrected MOASHA's fastest setting on validation (not the release's)
    peers = {s.strategy: s for s in [summary("peer:moasha", 0.4), summary("peer:moasha/eta=2/min=2", 0.3),
                                      summary("peer:moasha_upstream", 0.1), summary("peer:random", 0.05)]}
    assert choose_peer(peers).strategy == "peer:moasha/eta=2/min=2"
    # a ratio between any two strategies, on either split, with its bootstrap interval over seeds
    a = summary("a", 0.2, test=0.3)
    a.val_t95, a.t95 = [0.2] * 5, [0.3] * 5
    b = summary("b", 0.4, test=0.3)
    b.val_t95, b.t95 = [0.4] * 5, [0.3] * 5
    assert versus(a, b, "val") == (0.5, 0.5, 0.5) and versus(a, b, "test") == (1.0, 1.0, 1.0)
    b.val_median_t95, b.val_t95 = None, [None] * 5
    assert versus(a, b, "val") == (None, 0.0, 0.0)  # b never reached it: no ratio, a's interval is 0


def test_the_goal_is_checked_on_validation_against_uniform_and_the_peer_at_its_best() -> None:
    def summary(name, t95s):
        reached = [t for t in t95s if t is not None]
        median = float(np.median([math.inf if t is None else t for t in t95s]))
        return StrategySummary(name, len(t95s), [], [], [], [0.0], 0.99, [0.9] * len(t95s), len(reached), 0.9, None,
                               None, None, 100, 0.5, 0.0, val_median_t95=None if math.isinf(median) else median,
                               val_t95=t95s)
    base = summary("uniform/fifo", [1.0, 1.1, 0.9, 1.0, 1.05, 0.95])
    peer = summary("peer:moasha", [0.6, 0.65, 0.55, 0.6, 0.62, 0.58])
    fast = summary("stratified/moasha", [0.3, 0.32, 0.28, 0.3, 0.31, 0.29])  # 0.3x uniform, 0.5x the peer
    met, text = goal_report({s.strategy: s for s in (base, peer, fast)}, "stratified/moasha", "peer:moasha")
    assert met and text.count("| yes |") == 3 and "**Met.**" in text
    slow = summary("tpe/moasha", [0.3, 0.9, 0.2, 0.7, 0.25, 0.8])  # median 0.5: 0.5x uniform, 0.83x the peer
    met, text = goal_report({s.strategy: s for s in (base, peer, slow)}, "tpe/moasha", "peer:moasha")
    assert not met and "| 0.83 (95% interval" in text and "**Missed.**" in text
    assert text.count("| yes |") == 1  # within 0.5x of uniform; not within 0.8x of the peer, nor its interval


def _counting_runner(calls: list[tuple[str, int]]):
    """A real replay that records each (strategy, seed) it runs in `calls`."""
    def runner(table, name, *, seed, workers, budget):
        calls.append((name, seed))
        return replay(table, Strategy.parse(name), seed=seed, workers=workers, budget=budget)
    return runner


def test_a_cached_replay_is_reused_only_by_the_same_code(small, tmp_path, monkeypatch) -> None:
    """runs.jsonl is keyed on the table, the settings and the code and library versions a replay
    depends on: after a change to any of them, every replay runs again."""
    from search.tabular import figures

    calls: list[tuple[str, int]] = []
    runner = _counting_runner(calls)
    kwargs = dict(workers=4, budget=0.2, out=tmp_path, runner=runner)
    figures.run_all(small, ["random/fifo"], 2, **kwargs)
    figures.run_all(small, ["random/fifo"], 2, **kwargs)
    assert calls == [("random/fifo", 0), ("random/fifo", 1)]
    version = figures.replay_version()
    assert len(version) == 16 and version == figures.replay_version()
    monkeypatch.setattr(figures, "replay_version", lambda: "another-version")
    figures.run_all(small, ["random/fifo"], 2, **kwargs)
    assert calls[2:] == [("random/fifo", 0), ("random/fifo", 1)]
    codes = [json.loads(line)["code"] for line in (tmp_path / "runs.jsonl").read_text().splitlines()]
    assert codes == [version, version, "another-version", "another-version"]


def test_the_replay_cache_keys_on_the_cpu_s_vector_instructions() -> None:
    """numpy's and torch's kernels for another instruction set round differently in the last bit,
    which moves TPE's and GPSampler's replays (README, "Search efficiency"): the key and the summary
    name the instructions, so a replay cached on one is not reused on the other. Here, another
    process with numpy's dispatch and torch's capability turned down to the baseline."""
    import subprocess
    import sys

    from search.tabular import figures

    here = figures.replay_platform()
    assert here["torch_cpu"] in ("DEFAULT", "AVX2", "AVX512", "NO AVX") and here["numpy_simd"]
    code = ("import json; from search.tabular.figures import replay_platform, replay_version; "
            "print(json.dumps([replay_platform(), replay_version()]))")
    env = os.environ | {"NPY_DISABLE_CPU_FEATURES": "X86_V3 X86_V4 AVX512_ICL AVX512_SPR",
                        "ATEN_CPU_CAPABILITY": "default", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    there, version = json.loads(done.stdout)
    assert there["torch_cpu"] == "DEFAULT" and there["numpy_simd"].startswith("baseline")
    assert "X86_V3" not in there["numpy_simd"] and "X86_V4" not in there["numpy_simd"]
    assert (version == figures.replay_version()) == (there == here)


def test_a_replay_torn_by_a_kill_is_replayed_and_nothing_else(small, tmp_path) -> None:
    """A set of replays killed while it appended a line to runs.jsonl resumes: the torn line is cut
    off, that replay runs again, the others are reused, and every line of the cache parses."""
    from search.tabular import figures

    calls: list[tuple[str, int]] = []
    runner = _counting_runner(calls)
    kwargs = dict(workers=4, budget=0.2, out=tmp_path, runner=runner)
    first = figures.run_all(small, ["random/fifo"], 2, **kwargs)
    cache = tmp_path / "runs.jsonl"
    lines = cache.read_text().splitlines()
    cache.write_text(lines[0] + "\n" + lines[1][: len(lines[1]) // 2])  # seed 1's line, torn mid-write
    again = figures.run_all(small, ["random/fifo"], 3, **kwargs)
    assert calls == [("random/fifo", 0), ("random/fifo", 1), ("random/fifo", 1), ("random/fifo", 2)]
    assert again[0] == first[0] and again[1].trials == first[1].trials  # the same replay (its wall time aside)
    assert [json.loads(line)["seed"] for line in cache.read_text().splitlines()] == [0, 1, 2]


@pytest.mark.parametrize("argv, message", [
    (["--strategies", "tpe/bogus"], "--strategies: strategy 'tpe/bogus': unknown part 'bogus'"),
    (["--strategies", "random/moasha/eta=2/min=3,random/moasha/min=3/eta=2"],
     "--strategies: 'random/moasha/eta=2/min=3' and 'random/moasha/min=3/eta=2' are the same strategy"),
    (["--seeds", "1"], "--seeds=1: must be >= 2"),
    (["--budget", "0"], "--budget=0.0: must be > 0"),
])
def test_replay_bad_input(argv, message, capsys) -> None:
    assert main(["bench", "replay", str(SMALL), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_replay_of_a_missing_table(tmp_path, capsys) -> None:
    assert main(["bench", "replay", str(tmp_path / "none.parquet")]) == 2
    assert "no such benchmark table" in capsys.readouterr().err


def test_config_errors_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="backbones: must name"):
        BenchConfig(name="x", data="d", backbones={})


# -- rediscovery on the grid ----------------------------------------------------------------


def test_effects_pair_points_that_differ_in_one_choice(small) -> None:
    """Each effect's pairs, found again from the point ids: all-temporal against all-2D (which has
    no temporal form, so both 3D forms pair with it; temporal gating has no 2D twin), and S3D-G
    gating against none wherever a layout has temporal convs."""
    from search.tabular.effects import effects, effects_markdown

    final = small.final()
    rows = {r["effect"]: r for r in effects(small)}

    def pairs(select, twin):
        return [(p, twin(p)) for p in final if select(p) and twin(p) in final]

    temporal = pairs(lambda p: "/3d-" in p, lambda p: p.replace("/3d-3d/", "/2d/").replace("/3d-separable/", "/2d/"))
    gated = pairs(lambda p: "gate=temporal" in p, lambda p: p.replace("gate=temporal", "gate=off"))
    assert (len(temporal), len(gated)) == (4, 10)
    for name, found, metric in (("temporal_needed", temporal, "test_within_pair"),
                                ("gating_helps", gated, "test_top1")):
        diffs = [final[a][metric] - final[b][metric] for a, b in found]
        assert rows[name]["n"] == len(found)
        assert rows[name]["mean"] == pytest.approx(float(np.mean(diffs)))
        assert rows[name]["low"] <= rows[name]["mean"] <= rows[name]["high"]
    # a one-pair effect has no interval, and says so
    text = effects_markdown(small, [dict(rows["gating_helps"], n=1, low=math.nan, high=math.nan)])
    assert "n/a (1 pair)" in text and "nan" not in text


@pytest.mark.parametrize("name", ["demo_cpu", "temporal_cpu"])
def test_the_tosa_effect_pairs_every_deeper_depth_with_one_layer(name) -> None:
    """The shipped tables offer different T-OSA depths (1, 3, 5 and 1, 2, 4): the effect pairs
    each VoV point deeper than one layer with its one-layer twin in either, 2 per layout and form."""
    from search.tabular.effects import effects

    table = Table.read(ROOT / "bench" / "tables" / f"{name}.parquet")
    final = table.final()
    vov = [p for p in final if p.startswith("vov3d_m/")]
    deeper = [p for p in vov if not p.endswith("/tosa=1")]
    twins = [p.rsplit("=", 1)[0] + "=1" for p in deeper]
    assert len(deeper) == 2 * len(vov) // 3 and all(t in final for t in twins)
    rows = {r["effect"]: r for r in effects(table)}
    for effect, metric in (("tosa_depth_temporal", "test_within_pair"), ("tosa_depth_top1", "test_top1")):
        assert rows[effect]["n"] == len(deeper)
        diffs = [final[a][metric] - final[b][metric] for a, b in zip(deeper, twins)]
        assert rows[effect]["mean"] == pytest.approx(float(np.mean(diffs)))

# -- a table that carries its noise ----------------------------------------------------------


@pytest.fixture(scope="module")
def noisy(small) -> Table:
    """The small table with a second seed for every point (val and test top-1 shifted by a
    point-dependent amount, epochs taking 3x as long) and a third for the first 4 points."""
    rows = list(small.rows)
    for i, p in enumerate(small.points):
        shift = 0.05 * ((i % 5) - 2) / 2
        for seed, extra in ((1, shift), (2, -shift)) if i < 4 else ((1, shift),):
            rows += [{**r, "seed": seed, "val_top1": min(1.0, max(0.0, r["val_top1"] + extra)),
                      "test_top1": min(1.0, max(0.0, r["test_top1"] - extra)),
                      "epoch_seconds": 3 * r["epoch_seconds"]} for r in small.curve(p)]
    return Table(rows, small.objectives, dict(small.reference), small.provenance)


def test_a_noisy_table_averages_its_seeds_and_charges_its_quietest_build(small, noisy) -> None:
    p = small.points[0]
    assert noisy.point_seeds()[p] == [0, 1, 2] and noisy.point_seeds()[small.points[5]] == [0, 1]
    assert noisy.replay_seeds() == [0, 1]  # only the seeds every point has are drawn
    q = small.points[5]
    # charged its least-loaded build among the seeds every point has: seed 0's here (1x, not 3x)
    assert noisy.epoch_seconds(p) == pytest.approx([r["epoch_seconds"] for r in small.curve(p)])
    assert noisy.epoch_seconds(q) == pytest.approx([r["epoch_seconds"] for r in small.curve(q)])
    # q's seed-1 build the quieter (3x / 4), p's seed-2 build the quietest (3x / 6): q is charged its
    # seed-1 build; p still its seed-0 one, as seed 2 is not one every point has
    quieter = {(q, 1): 4, (p, 2): 6}
    rows = [{**r, "epoch_seconds": r["epoch_seconds"] / quieter.get((r["point"], r["seed"]), 1)} for r in noisy.rows]
    other = Table(rows, noisy.objectives, dict(noisy.reference), noisy.provenance)
    assert other.epoch_seconds(q) == pytest.approx([0.75 * r["epoch_seconds"] for r in small.curve(q)])
    assert other.epoch_seconds(p) == pytest.approx([r["epoch_seconds"] for r in small.curve(p)])
    mean = noisy.mean_final()[q]
    assert mean["val_top1"] == pytest.approx((small.final()[q]["val_top1"] + noisy.final(1)[q]["val_top1"]) / 2)
    # the grid's hypervolume: the front of the seed means, reported by the seed means
    acc, cost = list(small.objectives)
    means = noisy.mean_final()
    ranks = pareto_ranks([(-means[x][acc], means[x][cost]) for x in small.points])
    front = [x for x, r in zip(small.points, ranks) if r == 0]
    ref = (small.reference[acc], math.log10(small.reference[cost]))
    assert reported_hv(noisy, noisy.points) == pytest.approx(
        hypervolume([(means[x]["test_top1"], math.log10(means[x][cost])) for x in front], ref))
    assert reported_hv(noisy, noisy.points) != pytest.approx(reported_hv(small, small.points))


def test_near_front_points_are_those_one_noise_sd_could_put_on_it(small, noisy) -> None:
    """seed_sd pools the points with several seeds; near_front lifts each point's mean by that
    many SDs and keeps those no other mean then dominates: the front itself, and more with more SDs."""
    assert seed_sd(small) == 0.0 and seed_sd(noisy) > 0.01
    acc, cost = list(noisy.objectives)
    means = noisy.mean_final()
    front = [p for p, r in zip(noisy.points, pareto_ranks([(-means[p][acc], means[p][cost]) for p in noisy.points]))
             if r == 0]
    assert near_front(noisy, 0.0) == front
    one, three = near_front(noisy, 1.0), near_front(noisy, 3.0)
    assert set(front) <= set(one) <= set(three) and len(three) > len(front)
    lift = seed_sd(noisy)
    for p in set(noisy.points) - set(one):  # each left out is dominated even when lifted
        assert any(means[q][acc] > means[p][acc] + lift and means[q][cost] <= means[p][cost] for q in noisy.points)


def test_a_replayed_trial_sees_one_seeds_curve_and_is_scored_by_the_mean(noisy) -> None:
    a = replay(noisy, Strategy.parse("tpe/moasha"), seed=4, workers=3, budget=0.6)
    b = replay(noisy, Strategy.parse("tpe/moasha"), seed=4, workers=3, budget=0.6)
    assert [(t["point"], t["seed"], t["end"]) for t in a.trials] == [(t["point"], t["seed"], t["end"]) for t in b.trials]
    seen = [t["seed"] for t in a.trials]
    assert set(seen) == {0, 1} and min(seen.count(0), seen.count(1)) >= len(seen) // 5, seen
    for t in a.trials:  # its time is the point's quietest build's, whichever curve it saw
        assert t["end"] - t["start"] == pytest.approx(sum(noisy.epoch_seconds(t["point"])[:t["epochs"]]))
    # what it found: chosen by the accuracy each trial saw, reported by the seed means
    found = [(p, s) for _, p, s in a.completions()]
    acc, cost = list(noisy.objectives)
    seen_val = [noisy.final(s)[p][acc] for p, s in found]
    ranks = pareto_ranks([(-v, noisy.mean_final()[p][cost]) for (p, _), v in zip(found, seen_val)])
    front = list(dict.fromkeys(p for (p, _), r in zip(found, ranks) if r == 0))
    ref = (noisy.reference[acc], math.log10(noisy.reference[cost]))
    expected = hypervolume([(noisy.mean_final()[p]["test_top1"], math.log10(noisy.mean_final()[p][cost])) for p in front],
                           ref)
    assert reported_hv(noisy, found) == pytest.approx(expected)
    # the peer draws seeds too, and runs at the same epoch times
    from search.tabular.peer import peer_replay
    peer = peer_replay(noisy, "peer:moasha/min=2", seed=4, workers=3, budget=0.6)
    assert {t["seed"] for t in peer.trials} == {0, 1}
    for t in peer.trials:
        assert t["end"] - t["start"] == pytest.approx(sum(noisy.epoch_seconds(t["point"])[:t["epochs"]]), rel=1e-6)
