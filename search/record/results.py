"""The results table of a search: one row per trial (Parquet), and its Pareto front.

Columns: trial_id, seed (a study's replicate, else None), state (complete | pruned | failed |
interrupted: stopped with the search, `--resume` finishes it), epochs (reached),
max_epochs, preset (the warm start it replays, or ""), the validation metrics of the last epoch
(val_top1, val_top5, val_loss, val_within_pair, val_acc_<group>, val_views), the test metrics of a
complete trial (test_* alike; None elsewhere), with each test clip's outcome (test_clip_top1,
test_clip_pair: lists in the test split's order), the learning curves (curve_val_top1,
curve_val_within_pair, curve_train_loss: one value per epoch), the costs (params, gmacs =
multiply-adds / 1e9 per view, views = evaluation views per clip, gmacs_clip = gmacs x views: the
cost of evaluating one clip, latency_ms), train_clips_per_s, train_seconds, mlflow_run_id, reason,
slug, spec (JSON), the architecture's flat choices, and pareto (on the front of the complete trials by the
objectives, which are validation metrics and costs: the front *selects*).

Selection reads validation metrics only: `selection_view` strips every `test_*` value from rows
before they reach code that chooses (the front here, `export --best/--pareto`, a study's
retrained front), so a choice cannot depend on the test split.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from search.pareto import pareto_ranks
from spaces import ArchSpec, atomic

METRIC_KEYS = ("params", "gmacs", "views", "gmacs_clip", "latency_ms", "train_clips_per_s", "train_seconds", "train_loss", "time_total_s",
               "timestamp")
EVAL_KEYS = ("top1", "top5", "loss", "within_pair", "views")  # with acc_<group>, per split: val_*, test_*
REPORT_PREFIX = "test_"
CURVE_KEYS = ("curve_val_top1", "curve_val_within_pair", "curve_train_loss")  # per epoch (search.trial.trainable)
CLIP_KEYS = ("test_clip_top1", "test_clip_pair")  # per test clip (search.trial.metrics.clip_outcomes)
RESULTS_FILE = "results.parquet"


STATES = ("complete", "pruned", "failed", "interrupted")
INTERRUPTED = "interrupted; resume with --resume"


def trial_row(trial_id: str, result: dict[str, Any], arch_json: str, *, errored: bool = False,
              interrupted: bool = False, presets: dict[str, str] | None = None) -> dict[str, Any]:
    """One row from a trial's last reported result (or none, for a trial that crashed first). A
    trial that ended before its last epoch was pruned. An `interrupted` one was stopped with the
    search before Tune recorded its end (even if its last result says complete: Optuna was not
    told yet); `--resume` ends it."""
    spec = ArchSpec.from_json(arch_json)
    status = result.get("status")
    epochs, max_epochs = int(result.get("epoch", 0) or 0), result.get("max_epochs")
    if errored:
        state = "failed"
    elif interrupted:
        state = "interrupted"
    else:
        state = {"failed": "failed", "complete": "complete"}.get(status, "pruned")
    reason = result.get("reason", "") or ("trial process crashed" if errored else "")
    row = {"trial_id": trial_id, "state": state, "epochs": epochs, "max_epochs": max_epochs,
           "preset": (presets or {}).get(arch_json, ""), "mlflow_run_id": result.get("mlflow_run_id", ""),
           "reason": INTERRUPTED if state == "interrupted" else reason,
           "slug": spec.slug(), "spec": arch_json,
           "seed": int(result["seed"]) if isinstance(result.get("seed"), int) else None,
           "node_id": str(result.get("node_id") or ""),  # the Ray node of its last attempt
           "restored_from_epoch": int(result.get("restored_from_epoch") or 0)}  # > 0: resumed from a checkpoint
    row |= {k: _float(result.get(k)) for k in METRIC_KEYS}
    row |= {f"{split}_{k}": _float(result.get(f"{split}_{k}")) for split in ("val", "test") for k in EVAL_KEYS}
    row |= {k: _float(v) for k, v in result.items() if k.startswith(("val_acc_", "test_acc_"))}
    row |= {k: [_float(x) for x in result.get(k) or []] for k in CURVE_KEYS}
    row |= {k: [int(x) for x in result[k]] if isinstance(result.get(k), list) else None for k in CLIP_KEYS}
    row |= {f"arch_{k}": v for k, v in spec.choices().items()}
    return row


def _float(value: Any) -> float | None:
    """A number, or None for a missing, non-numeric or NaN (unmeasured) value."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
    return float(value) if ok else None


def selection_view(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows as what selects may see them: without any test-split value."""
    return [{k: v for k, v in r.items() if not k.startswith(REPORT_PREFIX)} for r in rows]


def mark_pareto(rows: list[dict[str, Any]], objectives: dict[str, str]) -> list[dict[str, Any]]:
    """Set `pareto` on complete trials that no other complete trial dominates (by validation
    metrics and costs only: a test_* objective is refused)."""
    if any(m.startswith(REPORT_PREFIX) for m in objectives):
        raise ValueError(f"objectives {list(objectives)}: the Pareto front selects, so it reads val_* metrics only")
    visible = selection_view(rows)
    complete = [r for r in visible if r["state"] == "complete" and all(r.get(m) is not None for m in objectives)]
    points = [tuple(-r[m] if mode == "max" else r[m] for m, mode in objectives.items()) for r in complete]
    front = {id(r) for r, rank in zip(complete, pareto_ranks(points)) if rank == 0}
    return [r | {"pareto": id(v) in front} for r, v in zip(rows, visible)]


def write_results(search_dir: Path, rows: list[dict[str, Any]]) -> Path:
    path = search_dir / RESULTS_FILE
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    table = pa.Table.from_pylist([{c: r.get(c) for c in columns} for r in rows])
    with atomic.replacing(path) as tmp:
        pq.write_table(table, tmp)
    return path


class ResultsDamaged(ValueError):
    """The results table cannot be read (one line: the file, what is wrong, how to rebuild it)."""

    user_error = True  # the CLI reports it in one line (search.errors)

    def __init__(self, path: Path, what: str) -> None:
        self.what = what
        super().__init__(f"{path}: {what}; it is rebuilt from Tune's records and the Optuna journal by "
                         f"`vidnas search --resume {path.parent}`")


def read_results(search_dir: Path) -> list[dict[str, Any]]:
    path = Path(search_dir) / RESULTS_FILE
    if not path.is_file():
        return []
    try:
        return pq.read_table(path).to_pylist()
    except (pa.ArrowException, OSError) as e:
        raise ResultsDamaged(path, f"damaged ({str(e).splitlines()[0][:80]})") from None


def set_aside_damaged(search_dir: Path) -> str:
    """Move a damaged results table aside (RESULTS_FILE.damaged) so that it can be rebuilt; returns
    what was wrong, or "" when it reads (or is missing: nothing to rebuild from it either way)."""
    try:
        read_results(search_dir)
        return ""
    except ResultsDamaged as e:
        path = Path(search_dir) / RESULTS_FILE
        path.replace(path.with_name(RESULTS_FILE + ".damaged"))
        return e.what


def sorted_front(rows: list[dict[str, Any]], objectives: dict[str, str]) -> list[dict[str, Any]]:
    """The rows on the Pareto front, best first by the first objective."""
    metric, mode = next(iter(objectives.items()))
    return sorted((r for r in rows if r.get("pareto")), key=lambda r: r[metric], reverse=mode == "max")


def row_name(row: dict[str, Any]) -> str:
    """The row's architecture as a person reads it, its preset in front (`ArchSpec.title`)."""
    return ArchSpec.from_json(row["spec"]).title(row.get("preset") or "")


def format_front(rows: list[dict[str, Any]], objectives: dict[str, str]) -> str:
    """The Pareto front as a text table, best first by the first objective."""
    front = sorted_front(rows, objectives)
    groups = sorted({k for r in rows for k in r if k.startswith("val_acc_") and any(x.get(k) is not None for x in rows)})
    header = (f"{'trial':<12} {'val_top1':>8} {'val_within_pair':>15} {'views':>5} " + " ".join(f"{g:>15}" for g in groups)
              + f" {'GMACs/view':>10} {'GMACs/clip':>10} {'params':>10} {'latency_ms':>10}  architecture (preset: ...)")
    lines = [header, "-" * len(header)]
    for r in front:
        cells = " ".join(f"{_fmt(r.get(g)):>15}" for g in groups)
        lines.append(f"{r['trial_id']:<12} {_fmt(r['val_top1']):>8} {_fmt(r.get('val_within_pair')):>15} "
                     f"{_fmt(r.get('val_views'), 0):>5} {cells} {r['gmacs']:>10.4f} {_fmt(r.get('gmacs_clip'), 4):>10} "
                     f"{int(r['params']):>10,} {_fmt(r.get('latency_ms'), 1):>10}  "
                     + row_name(r))
    counts = {s: sum(r["state"] == s for r in rows) for s in STATES}
    interrupted = f", {counts['interrupted']} interrupted" if counts["interrupted"] else ""
    lines.append(f"\n{len(front)} on the Pareto front of {counts['complete']} complete trials "
                 f"({counts['pruned']} pruned early, {counts['failed']} failed{interrupted}); objectives: "
                 + ", ".join(f"{m} ({mode})" for m, mode in objectives.items())
                 + "; GMACs = multiply-adds / 1e9, per view and per clip (per view x views, what evaluating a clip costs); "
                 "validation metrics "
                 "(they select; test_* in results.parquet reports)")
    return "\n".join(lines)


def _fmt(value: Any, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"
