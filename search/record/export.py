"""`vidnas export`: the architectures a search found, as spec + weights + model card directories
that `spaces.load` turns back into networks."""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import torch
import yaml

from search.errors import SearchError
from search.record.layout import CONFIG_FILE, STATE_FILE, TUNE_DIR
from search.record.results import CLIP_KEYS, REPORT_PREFIX, read_results, selection_view
from search.record.storage import storage_of
from spaces import ArchSpec
from spaces.load import save


def select(rows: list[dict[str, Any]], *, pareto: bool = False, best: str | None = None,
           trial: str | None = None) -> list[dict[str, Any]]:
    """The Pareto front, the best complete trial by a validation metric (max for accuracies, min
    for costs), or one trial by id; chosen without seeing any test metric."""
    if best is not None and best.startswith(REPORT_PREFIX):
        raise SearchError(f"--best {best}: the test split reports and never selects; choose by a val_ metric "
                          f"or a cost (val_top1, val_within_pair, gmacs, params, latency_ms)")
    ids = _choose(selection_view(rows), pareto=pareto, best=best, trial=trial)  # by val metrics and costs only
    return [r for r in rows if r["trial_id"] in ids]


def _choose(rows: list[dict[str, Any]], *, pareto: bool, best: str | None, trial: str | None) -> list[str]:
    complete = [r for r in rows if r["state"] == "complete"]
    if trial is not None:
        if not any(r["trial_id"] == trial for r in rows):
            raise SearchError(f"--trial {trial}: no such trial; trials: {', '.join(r['trial_id'] for r in rows)}")
        return [trial]
    if best is not None:
        scored = [r for r in complete if isinstance(r.get(best), (int, float))]
        if not scored:
            metrics = sorted(k for k, v in (complete[0] if complete else {}).items() if isinstance(v, float))
            raise SearchError(f"--best {best}: not a metric of the complete trials; metrics: {', '.join(metrics)}")
        lower_is_better = best in ("gmacs", "gmacs_clip", "params", "latency_ms") or best.endswith("loss")
        return [(min(scored, key=lambda r: r[best]) if lower_is_better else max(scored, key=lambda r: r[best]))["trial_id"]]
    if pareto:
        return [r["trial_id"] for r in complete if r.get("pareto")]
    raise SearchError("choose --pareto, --best METRIC or --trial ID")


def checkpoint_state(search_dir: Path, trial_id: str) -> dict[str, Any]:
    """The last checkpoint of a trial (model, optimizer, epoch, spec), read with weights_only=True;
    from the search's storage (a directory, or object storage for a search stored at a URI)."""
    storage = storage_of(search_dir)
    found = storage.glob_tune(f"{trial_id}-") + storage.glob_tune(f"trial_{trial_id}")
    if not found:
        raise SearchError(f"trial {trial_id}: no checkpoint under {storage.uri}/{TUNE_DIR}")
    with tempfile.TemporaryDirectory() as tmp:
        directory = storage.fetch(found[-1], Path(tmp) / "checkpoint")
        return torch.load(directory / STATE_FILE, map_location="cpu", weights_only=True)


def _init_of(search_dir: Path) -> dict[str, Any] | None:
    """The `init:` section of the search's config: where its trials' weights started (None: random;
    each trial's run has the source's hash as param init_sha256)."""
    path = Path(search_dir) / CONFIG_FILE
    return (yaml.safe_load(path.read_text()) or {}).get("init") if path.is_file() else None


def export(search_dir: Path, out: Path, rows: list[dict[str, Any]]) -> list[Path]:
    """Each trial of `rows` as OUT/<trial_id>/."""
    return [export_one(search_dir, row, out / row["trial_id"]) for row in rows]


def export_one(search_dir: Path, row: dict[str, Any], directory: Path) -> Path:
    """One trial (its results row) as an export in `directory`: spec, weights and card."""
    init = _init_of(search_dir)
    state = checkpoint_state(search_dir, row["trial_id"])
    spec = ArchSpec.from_json(state["spec"])
    card = {"source": {"search_dir": str(search_dir), "trial_id": row["trial_id"],
                       "mlflow_run_id": row.get("mlflow_run_id"), "epochs": state["epoch"],
                       "preset": row.get("preset") or None},
            "input": {"shape": [3, spec.frames, spec.crop, spec.crop], "layout": "(B, C, T, H, W)",
                      "normalize": "(x / 255 - 0.45) / 0.225", "num_classes": spec.num_classes},
            "cost": {"params": row.get("params"), "gmacs per view (multiply-adds / 1e9)": row.get("gmacs"),
                     "views": row.get("views"), "gmacs per clip (per view x views)": row.get("gmacs_clip"),
                     "latency_ms (batch 1, search device)": row.get("latency_ms")},
            "metrics": {"test (reported)": {k.removeprefix("test_"): v for k, v in row.items()
                                            if k.startswith("test_") and v is not None and k not in CLIP_KEYS},
                        "val (selected on)": {k.removeprefix("val_"): v for k, v in row.items()
                                              if k.startswith("val_") and v is not None},
                        "views": "temporal offsets x 1 central crop; cost is GMACs per view x views"},
            "architecture": row.get("slug"),
            "init": init or "random (no init weights)"}
    return save(directory, spec, state["model"], card)


def export_run(client: Any, run: Any, out: Path) -> Path:
    """Export the trial behind an MLflow child run (its search directory is on the parent run)."""
    from search.record.tracking import PARENT_TAG, SEARCH_TAG, TRIAL_TAG

    trial_id, parent_id = run.data.tags.get(TRIAL_TAG), run.data.tags.get(PARENT_TAG)
    if not trial_id or not parent_id:
        raise SearchError(f"run {run.info.run_id} is not a trial of a vidnas search")
    search_dir = Path(client.get_run(parent_id).data.tags[SEARCH_TAG])
    rows = [r for r in read_results(search_dir) if r["trial_id"] == trial_id]
    if not rows:
        raise SearchError(f"trial {trial_id} has no row in {search_dir}/results.parquet")
    return export(search_dir, out, rows)[0]


def run_export(args: Any) -> int:
    path = args.search_dir.expanduser().resolve()
    if not path.is_dir():  # an MLflow trial run id: export that trial
        from mlflow.exceptions import MlflowException
        from mlflow.tracking import MlflowClient

        client = MlflowClient(args.tracking_uri)
        try:
            run = client.get_run(str(args.search_dir))
        except MlflowException:
            raise SearchError(f"{args.search_dir}: neither a search directory nor an MLflow run id") from None
        print(f"exported {export_run(client, run, args.out)}")
        return 0
    rows = read_results(path)
    if not rows:
        raise SearchError(f"{path}: no results (is it a search directory with ended trials?)")
    if not (args.pareto or args.best or args.trial):
        raise SearchError("choose --pareto, --best METRIC or --trial ID")
    chosen = select(rows, pareto=args.pareto, best=args.best, trial=args.trial)
    for directory in export(path, args.out, chosen):
        print(f"exported {directory}")
    print(f"load one with: spaces.load('{args.out / chosen[0]['trial_id']}')")
    return 0


def add_export(p: Any) -> None:
    p.add_argument("search_dir", type=Path, help="a search directory, or an MLflow trial run id")
    p.add_argument("--tracking-uri", help="for a run id: the MLflow tracking URI (default: $MLFLOW_TRACKING_URI)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--pareto", action="store_true", help="every architecture on the Pareto front")
    which.add_argument("--best", metavar="METRIC", help="the best complete trial by METRIC (e.g. val_top1)")
    which.add_argument("--trial", metavar="ID", help="one trial by id")
    p.add_argument("--out", type=Path, required=True, help="directory to write <trial_id>/ folders into")
