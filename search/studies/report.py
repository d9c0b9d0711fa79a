"""A study's report: the verdict table, the arms, plots (`search.studies.plots`), the joint
search's front, and how to reproduce it, as Markdown and HTML in STUDY_DIR/study_report/ (plus
summary.json for the index of all studies), logged to the study's MLflow parent run under
`study_report/`.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from mlflow.tracking import MlflowClient

from search.data.store import ClipStore, StoreError
from search.engine.config import load_search_config
from search.provenance import code_version
from search.record import tracking
from search.record.results import format_front
from search.studies import stats
from search.studies.analysis import UNDERTRAINED, ClaimResult, StudyResult
from search.studies.config import SEARCH_SUBDIR, claim_unit
from search.studies.config import wall_seconds
from search.studies.render import fmt, fmt_p, format_effect, to_html, to_markdown, verdict_label
from search.studies.plots import (
    plot_accuracy, plot_arms, plot_claims, plot_curves, plot_importance, plot_latency,
)
from spaces import atomic

REPORT_DIR = "study_report"


def _est(e: stats.Estimate | None, digits: int = 3) -> str:
    if e is None or e.n == 0:
        return "-"
    if not math.isfinite(e.low):
        return f"{e.mean:.{digits}f}"
    return f"{e.mean:.{digits}f} [{e.low:.{digits}f}, {e.high:.{digits}f}]"


def _effect(c: ClaimResult, estimate: stats.Estimate | None = None) -> str:
    """The claim's effect, or `estimate` (its half-budget or seeds-only one)."""
    e = estimate or c.estimate
    return format_effect(e.mean, e.low, e.high, e.n, c.claim.metric, c.claim.test,
                         exact=c.exact and estimate is None)


def _label(c: ClaimResult) -> str:
    return verdict_label(c.verdict, exact=c.exact, exploratory=c.claim.exploratory,
                         budget_sensitive=c.budget_sensitive)


def verdict_rows(result: StudyResult) -> list[list[str]]:
    rows = []
    for c in result.claims:
        cl = c.claim
        rule = f"{'>' if cl.direction == 'greater' else '<'} {cl.threshold:g}"
        rule += f", margin {cl.margin:g}" if cl.margin else ""
        note = f"; {c.test}" if c.test else ""
        if c.undertrained:
            note += f"; not adequately trained: {', '.join(c.undertrained)}"
        if c.dropped:
            note += f"; runs left out (failed the adequacy rule): {', '.join(c.dropped)}"
        seeds_only = _effect(c, c.seeds_only) if c.seeds_only is not None and c.replicates == "seeds x test clips" else "-"
        rows.append([cl.id, cl.statement, cl.source or "-", f"{cl.test}: {c.detail}{note}", claim_unit(cl), rule,
                     _effect(c), seeds_only, fmt(c.estimate.d_z, 2), fmt_p(c.p_raw), fmt_p(c.p_adjusted),
                     f"{c.estimate.n} {c.replicates}".strip() if c.estimate.n else "-",
                     _effect(c, c.half) if c.half is not None else "-", _label(c)])
    return rows


VERDICT_HEADER = ["claim", "statement", "source", "test", "effect unit", "claimed", "effect [CI]",
                  "[CI] over seeds alone", "d_z", "p", "p (Holm)", "n", "at half the epochs", "verdict"]


def blocks(result: StudyResult, plots: list[Path]) -> list[tuple]:
    cfg, t = result.cfg, result.timing
    store = _store_line(result)
    out: list[tuple] = [("h1", cfg.title or cfg.name)]
    if cfg.question:
        out.append(("p", cfg.question))
    out += [("h2", "Verdicts"), ("table", VERDICT_HEADER, verdict_rows(result)),
            ("p", method_text(result))]
    out += adequacy_blocks(result)
    out += [("h2", "Setup"), ("p", (
        f"{store}. Every arm trains {cfg.epochs} epochs ({cfg.optim.optimizer}, lr {cfg.optim.lr} at batch "
        f"{cfg.optim.batch_size}, warmup {cfg.optim.warmup_epochs:g} epoch, cosine) once per seed {cfg.seeds}"
        + (f", and again at {cfg.epochs // 2} epochs (its own schedule) on seeds {cfg.half_seeds}" if cfg.half_seeds
           else "") + ", "
        f"presets scaled to width {cfg.width:g} and depth {cfg.depth:g} unless an arm says otherwise; "
        f"{len(result.runs)} runs ({sum(r['state'] == 'complete' for r in result.runs)} complete). Latency: "
        f"{cfg.latency.rounds} rounds, each a fresh process timing every arm in turn (alternating order), each "
        f"time the median of {cfg.latency.repeats} timings of a batch of {cfg.latency.batch} "
        f"({result.latency_device}), measured after training. Accuracy is the mean of the logits over each "
        "clip's evaluation views (every start offset of the arm's frames in the stored clip, up to 4, closed "
        "under time reversal, x 1 central crop; `views` per arm below). GMACs = multiply-adds / 1e9 "
        "(GFLOPs = 2 x GMACs), counted by torch.utils.flop_counter, per clip: GMACs per view x views, the cost "
        "of evaluating one clip; every cost comparison below uses it."))]
    if result.aliases:
        out.append(("p", "Found arms that are the same architecture as an arm of the study, trained once and "
                         "recorded under both names: " + ", ".join(f"{f} = {t}" for f, t in result.aliases.items())))
    arm_rows = []
    for name, arm in sorted(result.arms.items(), key=lambda kv: kv[1]["gmacs"]):
        runs = sum(r["preset"] == name and r["state"] == "complete" for r in result.runs)
        arm_rows.append([name, arm["preset"] or "(found)", ", ".join(arm["groups"]) or "-", arm["slug"],
                         f"{arm['params']:,}", f"{arm['gmacs_view']:.4f} x {arm['views']} = {arm['gmacs']:.4f}",
                         _est(arm.get("top1")),
                         _est(arm.get("within_pair")), _est(arm.get("latency_ms"), 1), _est(arm.get("step_ms"), 1),
                         _ms_per_gmac(arm, cfg.latency.batch), str(runs)])
    out += [("h2", "Arms"), ("table", ["arm", "preset", "groups", "architecture", "params",
                                       "GMACs per view x views = per clip",
                                       "test top1 [CI]", "test within_pair [CI]", f"fwd ms/batch {cfg.latency.batch} [CI]",
                                       "fwd+bwd ms [CI]", "fwd ms per GMAC", "runs"], arm_rows)]
    failed = [r for r in result.runs if r["state"] != "complete"]
    if failed:
        out.append(("p", "Runs that did not complete: " + "; ".join(
            f"{r['preset']} seed {r.get('seed')}: {r['state']} ({r.get('reason') or 'no reason'})" for r in failed)))
    if result.discordant:
        out += [("h2", "Where the GMACs ranking and the latency ranking disagree")]
        names = {"latency_ms": "forward (inference)", "step_ms": "forward + backward (a training step)"}
        for metric, pairs in result.discordant.items():
            if not pairs:
                out.append(("p", f"{names[metric].capitalize()}: the rankings agree for every pair of arms (no arm "
                                 "with fewer GMACs is measurably slower)."))
                continue
            a = result.arms
            rows = [[cheap, dear, f"{a[cheap]['gmacs']:.4f} < {a[dear]['gmacs']:.4f}",
                     f"{a[dear]['gmacs'] / a[cheap]['gmacs']:.2f}x", f"{a[dear][metric].mean:.1f}",
                     f"{a[cheap][metric].mean:.1f}", _est(e, 2)]
                    for cheap, dear, e in sorted(pairs, key=lambda p: -p[2].mean)]
            out += [("p", f"{names[metric].capitalize()}: pairs where the arm with fewer GMACs is slower, by an "
                          "interval over the latency rounds that excludes 0 (measured side by side)."),
                    ("table", ["fewer GMACs", "more GMACs", "GMACs", "GMACs ratio", "ms (more GMACs)",
                               "ms (fewer GMACs)", "extra ms of the cheaper [CI]"], rows)]
    if result.search_rows:
        out += [("h2", "Joint search"), ("p", f"The search of `{SEARCH_SUBDIR}/` (its own config, seed "
                                             f"{cfg.seeds[0]}), at the same budget; its front:"),
                ("pre", format_front(result.search_rows, _search_objectives(result)))]
    out.append(("h2", "Plots"))
    out += [("img", p.name, p.stem.replace("_", " ")) for p in plots]
    command = t.get("command") or f"vidnas study run configs/studies/{cfg.name}.yaml"
    phases = ", ".join(f"{k.removesuffix('_s')} {v / 60:.1f} min" for k, v in t.items() if k.endswith("_s"))
    total = wall_seconds(t)
    where = cfg.study_dir if Path(cfg.storage).is_absolute() else Path(cfg.storage) / cfg.name
    out += [("h2", "Reproduce"), ("pre", f"{command}\nvidnas study report {where}"),
            ("p", f"Wall time {total / 60:.1f} min ({phases}) on {os.cpu_count()} CPU cores "
                  f"({platform.processor() or platform.machine()}), torch {torch.__version__}; trained by code "
                  f"{_trained_by(result)}, reported by code {code_version()} on {_dt.date.today().isoformat()}. "
                  f"Runs are browsable with `vidnas ui {where}`.")]
    return out


def method_text(result: StudyResult) -> str:
    cfg = result.cfg
    alpha = stats.one_sided_alpha(cfg.confidence)
    crossed = cfg.interval == "crossed"
    return (
        "Effects are measured on the store's **test** split, evaluated once after the last epoch; nothing that "
        "chose anything read it (dominance and matched cost choose on validation). Effect = a - b (or Kendall tau, "
        f"bounded to [-1, 1]), with a {round(100 * cfg.confidence)}% interval "
        + ("that accounts for the training seeds *and* the test clips every seed is scored on: each claim's "
           "effect is a weighted sum over arms, so per seed and per test clip it has a contribution, and seeds and "
           "clips are crossed random effects (two-way ANOVA without replication; the seed part at Student t with "
           "seeds - 1 degrees of freedom, the clip part at t with clips - 1, combined as Banerjee's interval: "
           "`search.studies.clips`); the interval over seeds alone is shown beside it. "
           if crossed else "over the seeds (Student t, n-1 degrees of freedom). ")
        + "Latency claims use latency rounds as replicates (each a fresh process timing every arm in turn). "
        "d_z = mean / sd of the per-seed effects. p = the one-sided test of the claim's direction against its "
        "threshold (times the number of choices, for dominance: its interval is Bonferroni-widened to match); "
        "p (Holm) = Holm-Bonferroni over this study's family: its confirmatory claims that were tested "
        "(the index adjusts over every study and regime). Matched cost compares an a arm only where b arms "
        "bracket its cost on both sides (within the claim's max ratio), against the harder of the two, chosen "
        "on validation: if the b curve is monotone there, that understates a's advantage whatever its curvature. "
        "Verdict, in this order: *other regime* if the papers state it for another kind of data; *exact* "
        "claims (costs, counted; properties that hold by construction, proven by the named structural test) "
        "are decided by their value; *undertrained* if an arm it needs fails the adequacy rule (below); "
        "*not reproduced* if the interval lies entirely short of threshold + margin; *reproduced* if it lies "
        f"beyond the threshold and the Holm p is below {alpha:g}; *inconclusive* otherwise; *descriptive* for "
        f"latency claims timed in fewer than 5 independent processes. *budget-sensitive*: the effect lies on "
        f"the other side of the threshold when every arm trains half the epochs. The claims, the adequacy "
        f"rule and the budget are fixed in the study file before the runs; nothing here is typed in by hand.")


def adequacy_blocks(result: StudyResult) -> list[tuple]:
    """The adequacy rule, and each arm's runs against it."""
    rule = result.cfg.adequacy
    rows = []
    for name, arm in sorted(result.arms.items(), key=lambda kv: kv[1]["gmacs"]):
        runs = [a for (n, _), a in result.adequacy.items() if n == name]
        if not runs or name in result.aliases:
            continue
        verdict = arm["adequacy"]
        med = lambda xs: fmt(float(np.median(xs)), 3) if xs else "-"  # noqa: E731
        rows.append([name, f"{sum(a.adequate for a in runs)}/{len(runs)}", med([a.val_gain for a in runs]),
                     med([a.train_loss for a in runs]), "**adequate**" if verdict and verdict.adequate else
                     "**not adequate**", verdict.reason if verdict and verdict.reason else "-"])
    limit = rule.max_train_loss_ratio
    return [("h2", "Adequacy of training"),
            ("p", f"Rule, fixed before the runs: a run is adequately trained when its validation top-1 gained "
                  f"less than {rule.max_val_gain:g} over the last {rule.last_fraction:.0%} of its epochs (the last "
                  f"epoch against the best before that window) and its final train loss is at most {limit:g} x "
                  f"ln(classes) (a uniform guess's loss); an arm is adequate when at most {rule.max_failed_seeds} "
                  "of its seeds' runs are not. Runs that fail are left out of every claim; a claim that needs an "
                  f"arm that is not adequate is *{UNDERTRAINED}*. The learning curves are in `curves.png`."),
            ("table", ["arm", "adequate runs", "median val gain over the window", "median final train loss",
                       "arm", "why not"], rows)]


def _search_objectives(result: StudyResult) -> dict[str, str]:
    """The objectives the joint search ran with (its saved config)."""
    return load_search_config(result.cfg.study_dir / SEARCH_SUBDIR).objectives


def _parent_run(cfg: Any) -> tuple[MlflowClient, str] | None:
    """The study's MLflow parent run (the arms' search run), if its tracking store has one."""
    client = MlflowClient(cfg.resolved_tracking_uri())
    experiment = client.get_experiment_by_name(cfg.name)
    parent = experiment and tracking.find_parent_run(client, experiment.experiment_id, cfg.study_dir)
    return (client, parent) if parent else None


def _trained_by(result: StudyResult) -> str:
    """The code version the study's parent MLflow run recorded when training started."""
    found = _parent_run(result.cfg)
    return found[0].get_run(found[1]).data.params.get("code_version", "unknown") if found else "unknown"


def _ms_per_gmac(arm: dict[str, Any], batch: int) -> str:
    """Forward milliseconds per GMAC of the batch: what one multiply-add costs this arm's convs."""
    e = arm.get("latency_ms")
    return "-" if e is None or not e.n else f"{e.mean / (arm['gmacs_view'] * batch):.1f}"  # one view a clip


def _store_line(result: StudyResult) -> str:
    try:
        meta = ClipStore.open(result.cfg.data).meta
    except StoreError:  # the report still renders without its store
        return f"Data: {result.cfg.data}"
    splits = ", ".join(f"{n} {k}" for k, n in meta.splits.items())
    return (f"Data: `{meta.name}` ({splits} clips of {meta.frames}x{meta.height}x{meta.width}, "
            f"{len(meta.classes)} classes)")


def summary(result: StudyResult) -> dict[str, Any]:
    """What the index needs of a study: its setup and every claim's estimate, rule and verdict."""
    def interval(e: stats.Estimate | None) -> dict[str, float] | None:
        return None if e is None else {"effect": e.mean, "low": e.low, "high": e.high, "n": e.n}

    return {
        "name": result.cfg.name, "title": result.cfg.title, "interval": result.cfg.interval,
        "confidence": result.cfg.confidence, "runs": len(result.runs), "seeds": result.cfg.seeds,
        "epochs": result.cfg.epochs, "half_seeds": result.cfg.half_seeds, "half_runs": len(result.half_runs),
        "command": result.timing.get("command", ""), "wall_s": wall_seconds(result.timing), "regime": result.regime,
        "arms_adequate": sum(1 for a in result.arm_adequacy.values() if a.adequate),
        "arms": len(result.arm_adequacy),
        "claims": [{"id": c.claim.id, "statement": c.claim.statement, "source": c.claim.source,
                    "test": c.claim.test, "metric": c.claim.metric, "unit": claim_unit(c.claim),
                    "effect": c.estimate.mean, "low": c.estimate.low, "high": c.estimate.high, "d_z": c.estimate.d_z,
                    "n": c.estimate.n, "replicates": c.replicates, "verdict": c.verdict, "detail": c.detail,
                    "test_description": c.test, "p": c.p_raw, "p_holm": c.p_adjusted, "alpha": c.alpha,
                    "direction": c.claim.direction, "threshold": c.claim.threshold, "margin": c.claim.margin,
                    "exact": c.exact, "exploratory": c.claim.exploratory, "in_family": c.in_family,
                    "budget_sensitive": c.budget_sensitive, "half": interval(c.half),
                    "seeds_only": interval(c.seeds_only), "undertrained": c.undertrained, "dropped": c.dropped}
                   for c in result.claims]}


def write_study_report(result: StudyResult, *, out: Path | None = None, log: bool = True) -> Path:
    """Write STUDY_DIR/study_report/ (and copy it to `out`); log it to the study's parent MLflow run."""
    directory = result.cfg.study_dir / REPORT_DIR
    directory.mkdir(parents=True, exist_ok=True)
    plots = [plot_curves(result, directory / "curves.png"),
             plot_accuracy(result, directory / "accuracy_vs_gmacs.png"), plot_arms(result, directory / "arms.png"),
             plot_claims(result, directory / "claims.png"), plot_latency(result, directory / "latency_vs_gmacs.png"),
             plot_importance(result, directory / "importance.png")]
    search_importance = result.cfg.study_dir / SEARCH_SUBDIR / "report" / "importance.png"
    if result.search_rows and search_importance.is_file():
        plots.append(Path(shutil.copy(search_importance, directory / "search_importance.png")))
    plots = [p for p in plots if p is not None]
    items = blocks(result, plots)
    atomic.write_text(directory / "report.md", to_markdown(items))
    atomic.write_text(directory / "report.html", to_html(items, result.cfg.title or result.cfg.name))
    atomic.write_text(directory / "summary.json", json.dumps(summary(result), indent=2, allow_nan=True))
    if log:
        _log(result, directory)
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        for f in directory.iterdir():
            shutil.copy(f, out / f.name)
    return directory


def _log(result: StudyResult, directory: Path) -> None:
    found = _parent_run(result.cfg)
    if found is None:
        return
    client, parent = found
    tracking.retry(lambda: client.log_artifacts(parent, str(directory), "study_report"))
    for c in result.claims:
        if c.estimate.n:
            tracking.retry(lambda: client.log_metric(parent, f"claim.{c.claim.id}.effect", c.estimate.mean))
        tracking.retry(lambda: client.set_tag(parent, f"vidnas.claim.{c.claim.id}", c.verdict))


def format_verdicts(result: StudyResult) -> str:
    lines = [f"{'claim':<30} {'effect [CI]':<40} {'n':>24}  verdict"]
    for c in result.claims:
        n = f"{c.estimate.n} {c.replicates}" if c.estimate.n else "-"
        lines.append(f"{c.claim.id:<30} {_effect(c):<40} {n:>24}  {_label(c).replace('**', '')}")
    return "\n".join(lines)
