"""The index of every study piece: each claim per regime, Holm over the whole family of confirmatory
claims (`family_verdicts`), written as one Markdown page (`write_index`, docs/studies/README.md)
from the pieces' summary.json files.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from search.studies import stats
from search.studies.claims import OTHER_REGIME, VERDICTS
from search.studies.render import fmt_p, format_effect, to_markdown, verdict_label
from spaces import atomic


def family_verdicts(loaded: list[dict[str, Any]]) -> None:
    """Holm over every confirmatory, tested claim of every study and regime in `loaded` (the index's
    family): sets each claim's `p_family` and `verdict_family`; the others keep their verdict."""
    family = [c for s in loaded for c in s["claims"] if c.get("in_family")]
    for c, p in zip(family, stats.holm([c["p"] for c in family])):
        estimate = stats.Estimate(c["effect"], c["low"], c["high"], c["n"], math.nan)
        c["p_family"] = p
        c["verdict_family"] = stats.verdict(estimate, direction=c["direction"], threshold=c["threshold"],
                                            margin=c["margin"], p_adjusted=p, alpha=c["alpha"])
    for s in loaded:
        for c in s["claims"]:
            c.setdefault("p_family", math.nan)
            c.setdefault("verdict_family", c["verdict"])


def _index_cell(c: dict[str, Any] | None) -> tuple[str, str, str]:
    """effect [CI], p (family Holm), verdict with its flags, for one claim in one regime."""
    if c is None:
        return "-", "-", "not run"
    if c["verdict"] == OTHER_REGIME:
        return "-", "-", OTHER_REGIME
    effect = format_effect(c["effect"], c["low"], c["high"], c["n"], c["metric"], c["test"],
                           exact=c.get("exact", False))
    verdict = verdict_label(c["verdict_family"], exploratory=c.get("exploratory", False),
                            budget_sensitive=c.get("budget_sensitive", False))
    if c.get("undertrained"):
        verdict += f"; not trained: {', '.join(c['undertrained'])}"
    return effect, fmt_p(c.get("p_family", math.nan)), verdict


def write_index(summaries: list[Path], out: Path, *, before: Path | None = None) -> Path:
    """One Markdown page with every claim's verdict per regime (Holm over the whole family of
    confirmatory claims), adequacy, budget sensitivity, the verdicts before (from `before`, a JSON
    of claim id -> verdict), run counts, wall times and commands (docs/studies/README.md)."""
    loaded = [(Path(p), json.loads(Path(p).read_text())) for p in summaries]
    family_verdicts([s for _, s in loaded])
    regimes = sorted({s.get("regime") or "-" for _, s in loaded})
    old = json.loads(Path(before).read_text()) if before else {}
    by_claim: dict[tuple[str, str], dict[str, Any]] = {}
    links: dict[str, str] = {}
    for path, s in loaded:  # a study is named by its report's directory (docs/studies/REGIME/STUDY)
        s["study"] = path.parent.name
        s["link"] = (f"[{s['study']}]({path.parent.resolve().relative_to(out.parent.resolve())}/report.md)"
                     if path.parent.resolve().is_relative_to(out.parent.resolve()) else s["study"])
        links.setdefault(s["study"], s["link"])
        for c in s["claims"]:
            by_claim.setdefault((s["study"], c["id"]), {})[s.get("regime") or "-"] = c
    rows = []
    for (study, claim), cells in by_claim.items():
        first = next(iter(cells.values()))
        row = [links[study], claim, first["statement"], first["source"] or "-", first["unit"]]
        for regime in regimes:
            row += list(_index_cell(cells.get(regime)))
        rows.append(row + ([old.get(f"{study}/{claim}", "-")] if old else []))
    counts = {r: {v: sum(c.get("verdict_family") == v for _, s in loaded if (s.get("regime") or "-") == r
                         for c in s["claims"]) for v in VERDICTS} for r in regimes}
    family = sum(c.get("in_family", False) for _, s in loaded for c in s["claims"])
    wall = sum(s["wall_s"] for _, s in loaded)
    header = ["study", "claim", "statement", "source", "effect unit"]
    for regime in regimes:
        header += [f"{regime}: effect [CI]", f"{regime}: p (Holm, family)", f"{regime}: verdict"]
    header += ["before (one regime, 5 epochs)"] if old else []
    studies = [[s["link"], s.get("regime") or "-", s["title"], str(s["runs"]), str(s.get("half_runs", 0)),
                f"{s['epochs']}", str(len(s["seeds"])), f"{s.get('arms_adequate', '-')}/{s.get('arms', '-')}",
                f"{s['wall_s'] / 60:.1f} min", f"`{s['command']}`"] for _, s in loaded]
    items: list[tuple] = [
        ("h1", "Studies: the papers' claims, measured on the built-in benchmark"),
        ("p", "; ".join(f"{regime}: " + ", ".join(f"{n} {v}" for v, n in counts[regime].items() if n)
                        for regime in regimes)
         + f". The multiplicity family is every confirmatory claim that was tested, over all studies and "
           f"regimes ({family} claims): p (Holm, family) is Holm-adjusted over it, and the verdicts use it. "
           "Effects are a - b on the test split in the unit shown (accuracies are fractions; GMACs = "
           "multiply-adds / 1e9 per clip, per view x views), with "
         + " / ".join(sorted({f"{round(100 * s['confidence'])}% {s['interval']}" for _, s in loaded}))
         + " intervals (crossed: over seeds and the test clips they share). Exact claims are counted or "
           "proven by a structural test, and are not in the family; exploratory ones are labelled and not in it "
           "either; undertrained ones name the arms that failed the adequacy rule; budget-sensitive ones change "
           "side at half the epochs. Each study's page has its setup, arms, learning curves, adequacy, plots and "
           "the exact commands; the claims and their tests are in `configs/studies/`."),
        ("table", header, rows),
        ("h2", "Reproduce"),
        ("p", f"`make studies` runs them all ({wall / 60:.0f} min of wall time here, on "
              f"{os.cpu_count()} CPU cores, no GPU) and rewrites this page; each study alone:"),
        ("table", ["study", "regime", "title", "runs", "half-budget runs", "epochs", "seeds", "adequate arms",
                   "wall time", "command"], studies)]
    atomic.write_text(out, to_markdown(items))
    return out
