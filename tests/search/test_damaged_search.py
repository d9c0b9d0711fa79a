"""A search directory whose files were damaged after the fact (a full disk, a bad copy): the results
table is derived state and is rebuilt from Tune's records and the Optuna journal; a damaged MLflow
store is one line, before Ray starts, saying what is lost and how to go on, and that advice works."""
from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import ray

from search.cli.main import main
from search.engine.tuner import run_search
from search.record.results import RESULTS_FILE, read_results
from tests.search.test_search import _config

pytestmark = [pytest.mark.ray, pytest.mark.slow]

KEYS = ("trial_id", "state", "epochs", "val_top1", "test_top1", "gmacs_clip", "pareto", "spec", "preset")


def _cut(path: Path, size: int) -> None:
    path.write_bytes(path.read_bytes()[:size])


def test_a_damaged_results_table_is_rebuilt_and_a_damaged_store_is_one_line(store: str, tmp_path: Path,
                                                                            capsys) -> None:
    cfg = _config(store, tmp_path)
    outcome = run_search(cfg, num_cpus=2, verbose=0)
    before = sorted(({k: r[k] for k in KEYS} for r in outcome.rows), key=lambda r: r["trial_id"])
    directory = cfg.search_dir
    results = directory / RESULTS_FILE
    _cut(results, results.stat().st_size // 2)
    capsys.readouterr()

    assert main(["report", str(directory)]) == 2  # reading it: one line, which says how to rebuild it
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{results}: damaged (" in err[0] and f"vidnas search --resume {directory}" in err[0]

    assert main(["search", "--resume", str(directory), "--cpus", "2", "--verbose", "0"]) == 0
    out = capsys.readouterr().out
    assert f"{RESULTS_FILE} was damaged (" in out and f"set aside as {RESULTS_FILE}.damaged" in out
    after = sorted(({k: r[k] for k in KEYS} for r in read_results(directory)), key=lambda r: r["trial_id"])
    assert after == before  # every trial, once, with its state and metrics
    assert (directory / f"{RESULTS_FILE}.damaged").is_file()

    db = directory / "mlflow.db"
    _cut(db, 4096)
    assert main(["search", "--resume", str(directory), "--cpus", "2", "--verbose", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{db}: damaged (" in err[0] and f"mv {db} {db}.damaged" in err[0], err
    assert "Traceback" not in err[0] and not ray.is_initialized()
    db.replace(db.with_name("mlflow.db.damaged"))  # the advice: a fresh store, and resume (a fresh process,
    done = subprocess.run([sys.executable, "-m", "search.cli", "search", "--resume", str(directory),  # as a user's:
                           "--cpus", "2", "--verbose", "0"], capture_output=True, text=True)  # this one has the
    assert done.returncode == 0, done.stderr[-4000:] + done.stdout[-2000:]  # damaged file open in MLflow's engine cache)
    assert "logged 3 ended trial(s) again in this MLflow store" in done.stdout
    assert sorted(({k: r[k] for k in KEYS} for r in read_results(directory)), key=lambda r: r["trial_id"]) == before
    with contextlib.closing(sqlite3.connect(db)) as con:  # a fresh connection: MLflow's cached engine has the old file
        relogged = con.execute("SELECT r.status, t.value, (SELECT count(*) FROM latest_metrics m WHERE m.run_uuid = "
                               "r.run_uuid AND m.key = 'val_top1') FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid "
                               "AND t.key = 'vidnas.trial_id' JOIN tags x ON x.run_uuid = r.run_uuid AND "
                               "x.key = 'vidnas.relogged'").fetchall()
    assert sorted(trial for _, trial, _ in relogged) == [r["trial_id"] for r in before]
    assert all(status == "FINISHED" and metric == 1 for status, _, metric in relogged)
