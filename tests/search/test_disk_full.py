"""A full disk mid-search: the driver's writes fail (a file-size limit, RLIMIT_FSIZE, set on the
driver once its first trial has a checkpoint; Ray's processes, started before, keep writing), the
search stops as an interrupt does (exit 130, one line with the resume command, no traceback),
no file is left half-written, and once the limit is lifted `--resume` finishes it with every trial
recorded once in the table, Optuna and MLflow."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from mlflow.tracking import MlflowClient

from search.engine.config import SearchConfig
from search.engine.tuner import open_study, resume_search

pytestmark = [pytest.mark.ray, pytest.mark.slow]

DRIVER = textwrap.dedent("""
    import resource, signal, sys, threading, time
    from pathlib import Path
    import ray
    from search.cli.main import main

    config, search_dir, limit = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
    ray.init(address="local", num_cpus=2, include_dashboard=False, configure_logging=False, log_to_driver=False)

    def fill_the_disk():  # once the first trial has a checkpoint: this process's writes only
        while not list((search_dir / "tune").glob("*/checkpoint_000000")):
            time.sleep(0.05)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

    threading.Thread(target=fill_the_disk, daemon=True).start()
    sys.exit(main(["search", config, "--verbose", "0"]))
""")


def test_a_full_disk_stops_the_search_as_an_interrupt_and_it_resumes(store: str, tmp_path: Path) -> None:
    cfg = SearchConfig.from_dict({
        "name": "full", "data": store, "storage": str(tmp_path / "results"), "trials": 3, "epochs": 2,
        "early_stopping": False, "concurrency": 2, "sampler": "random", "system_metrics_s": None,
        "optim": {"batch_size": 16},
        "space": {"frames": [8], "crop": 32, "widths": [0.125], "depths": [0.34], "families": ["inception"],
                  "backbones": ["inception_v1"]}})
    config = tmp_path / "full.yaml"
    config.write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    done = subprocess.run([sys.executable, "-c", DRIVER, str(config), str(cfg.search_dir), str(16 * 1024)],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 130, done.stderr[-3000:]
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout, done.stderr[-3000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("vidnas: stopped: File too large") and last.endswith(
        f"free space, then run `vidnas search --resume {cfg.search_dir}`"), last
    for path in cfg.search_dir.rglob("*"):  # no half file: each is the old one or the new one
        assert ".tmp" not in path.name, path
    if (cfg.search_dir / "results.parquet").exists():
        pq.read_table(cfg.search_dir / "results.parquet")

    outcome = resume_search(cfg.search_dir, num_cpus=2, verbose=0)  # the limit is the driver's: gone here
    assert outcome.finished
    ids = [r["trial_id"] for r in outcome.rows]
    assert len(ids) == 3 == len(set(ids)) and all(r["state"] == "complete" for r in outcome.rows)
    study = open_study(cfg.search_dir)
    assert sorted(t.state.name for t in study.trials) == ["COMPLETE"] * 3
    client = MlflowClient(cfg.resolved_tracking_uri())
    experiment = client.get_experiment_by_name(cfg.experiment_name)
    children = [r for r in client.search_runs([experiment.experiment_id]) if "mlflow.parentRunId" in r.data.tags]
    assert sorted(r.data.tags["vidnas.trial_id"] for r in children) == sorted(ids)
