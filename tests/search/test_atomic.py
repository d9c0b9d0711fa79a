"""Every file a later command reads survives its writer being killed mid-write: a reader finds the
old version or the new one, never half of one.

How a kill lands at a random byte: a forked child lowers its file-size limit (RLIMIT_FSIZE) to a
random offset and writes the new version; the first write past the offset raises SIGXFSZ, whose
default action kills the process on the spot (Python ignores the signal at startup; the child
restores the default). The same limit with the signal ignored is a full disk: the write fails with
EFBIG, and the writer must leave the old file and no temporary behind. Each writer is the real
one (the results table, MO-ASHA's state, the parent-run record, a study's state, a benchmark
table, a report page, an export directory, a clip store's split and meta.json), 50 kills each.
"""
from __future__ import annotations

import json
import os
import random
import resource
import signal
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

import numpy as np
import pyarrow as pa
import pytest
import torch
from ray.tune.schedulers import TrialScheduler

from search.data.store import StoreMeta, clips_to_batch, write_meta, write_split
from search.engine.scheduler import MOASHAScheduler
from search.record.results import read_results, write_results
from search.record.tracking import PARENT_FILE, record_parent
from search.studies.config import read_timing
from search.studies.runner import Study
from search.tabular.table import Table
from spaces import ArchSpec, ConvSpec, HeadSpec, StageSpec, atomic, build, load, save
from spaces.families.resnet import BottleneckBlock

KILLS = 50


def _rows(n: int) -> list[dict[str, Any]]:
    return [{"trial_id": f"t{i:04d}", "state": "complete", "val_top1": i / n, "spec": "x" * 200} for i in range(n)]


def _results(d: Path, v: int) -> None:
    write_results(d, _rows(40 if v == 0 else 400))


def _read_results(d: Path) -> int:
    return {40: 0, 400: 1}[len(read_results(d))]


def _moasha(d: Path, v: int) -> None:
    s = MOASHAScheduler(objectives={"val_top1": "max"}, max_epochs=8, min_epochs=2, reduction_factor=2,
                        state_file=str(d / "moasha.json"))
    s.decisions[2] = {f"trial_{i:05d}": TrialScheduler.STOP for i in range(3 if v == 0 else 3000)}
    s._save()


def _read_moasha(d: Path) -> int:
    return {3: 0, 3000: 1}[len(json.loads((d / "moasha.json").read_text())["stopped"])]


def _parent(d: Path, v: int) -> None:
    record_parent(d, ("a" if v == 0 else "b") * 32, "1")


def _read_parent(d: Path) -> int:
    return {"a": 0, "b": 1}[json.loads((d / PARENT_FILE).read_text())["run_id"][0]]


def _timing(d: Path, v: int) -> None:
    Study._save_timing(SimpleNamespace(dir=d), {"train": {"done": True, "seconds": 1.0}} if v == 0 else
                       {f"phase{i}": {"done": True, "seconds": float(i)} for i in range(500)})


def _read_timing(d: Path) -> int:
    return {1: 0, 500: 1}[len(read_timing(d))]


def _table(d: Path, v: int) -> None:
    Table(_rows(30 if v == 0 else 3000), {"val_top1": "max"}, {"val_top1": 0.0}, {"v": v}).write(d / "t.parquet")


def _read_table(d: Path) -> int:
    return Table.read(d / "t.parquet").provenance["v"]


def _page(d: Path, v: int) -> None:
    atomic.write_text(d / "report.md", f"{v}\n" + "row\n" * (10 if v == 0 else 100_000))


def _read_page(d: Path) -> int:
    text = (d / "report.md").read_text()
    assert text.count("row\n") == (10 if text[0] == "0" else 100_000)
    return int(text[0])


SPEC = ArchSpec(family="resnet", stem=(ConvSpec(out_channels=8, kernel=3),),
                stages=(StageSpec(blocks=(BottleneckBlock(out_channels=16, mid_channels=8),), spatial_stride=1),),
                frames=2, crop=16, num_classes=3, head=HeadSpec(dropout=0.0))


def _export(d: Path, v: int) -> None:
    state = {k: torch.full_like(t, float(v)) if t.is_floating_point() else t for k, t in build(SPEC).state_dict().items()}
    save(d / "model", SPEC, state, {"version": v, "pad": "x" * (10 if v == 0 else 2_000_000)})


def _read_export(d: Path) -> int:
    net, card = load(d / "model"), json.loads((d / "model" / "card.json").read_text())
    assert all(float(t.flatten()[0]) == card["version"] for t in net.state_dict().values() if t.is_floating_point())
    return card["version"]


META = StoreMeta(name="m", frames=2, height=8, width=8, classes=("a", "b"), groups=("g", "g"), pairs=(),
                 flip_safe=True, fps=None, source={}, splits={"train": 8})


def _split(d: Path, v: int) -> None:
    n = 8 if v == 0 else 800
    clips = np.full((n, 2, 8, 8, 3), v, np.uint8)
    write_split(d / "train.arrow", META, [clips_to_batch(META, clips, [0] * n, ["x"] * n, [0] * n)])


def _read_split(d: Path) -> int:
    with pa.memory_map(str(d / "train.arrow")) as source:
        rows = pa.ipc.open_file(source).read_all().num_rows
    return {8: 0, 800: 1}[rows]


def _meta(d: Path, v: int) -> None:
    write_meta(d, META if v == 0 else StoreMeta(**{**META.__dict__, "source": {"pad": "y" * 100_000}}))


def _read_meta(d: Path) -> int:
    return 0 if json.loads((d / "meta.json").read_text())["source"] == {} else 1


WRITERS: dict[str, tuple[Callable[[Path, int], None], Callable[[Path], int]]] = {
    "results.parquet": (_results, _read_results), "moasha.json": (_moasha, _read_moasha),
    "mlflow_parent.json": (_parent, _read_parent), "study timing.json": (_timing, _read_timing),
    "bench table": (_table, _read_table), "report page": (_page, _read_page), "export directory": (_export, _read_export),
    "clip store split": (_split, _read_split), "clip store meta.json": (_meta, _read_meta),
}


def _write_in_child(write: Callable[[Path, int], None], d: Path, limit: int, *, kill: bool) -> int:
    """Fork; the child writes version 1 under a file-size limit of `limit` bytes. Returns its exit
    status: killed by SIGXFSZ, failed (exit 3: the write raised, EFBIG, the full-disk case) or done (0)."""
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 1
        try:
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            signal.signal(signal.SIGXFSZ, signal.SIG_DFL if kill else signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
            write(d, 1)
            code = 0
        except Exception:  # EFBIG as OSError, or wrapped (torch.save raises RuntimeError)
            code = 3
        finally:
            os._exit(code)
    return os.waitpid(pid, 0)[1]


def _size(d: Path) -> int:
    return sum(p.stat().st_size for p in d.rglob("*") if p.is_file())


@pytest.mark.slow  # 9 writers x 2 x 50 forks (about 40 s)
@pytest.mark.parametrize("name", list(WRITERS))
def test_a_writer_killed_mid_write_leaves_the_old_file_or_the_new_one(name: str, tmp_path: Path) -> None:
    write, read = WRITERS[name]
    write(tmp_path, 1)
    full = _size(tmp_path)  # how many bytes version 1 takes: offsets are drawn below it, and a few past it
    rng = random.Random(name)
    outcomes = {"killed": 0, "failed": 0, "done": 0}
    for i in range(2 * KILLS):
        d = tmp_path / f"run{i}"
        d.mkdir()
        write(d, 0)  # the old version, complete
        kill = i % 2 == 0
        status = _write_in_child(write, d, rng.randint(0, int(full * 1.1)), kill=kill)
        if os.WIFSIGNALED(status):
            assert os.WTERMSIG(status) == signal.SIGXFSZ
            outcomes["killed"] += 1
        else:
            code = os.WEXITSTATUS(status)
            assert code in (0, 3), f"the child exited {code}"
            outcomes["done" if code == 0 else "failed"] += 1
        found = read(d)  # parses: the old version or the new one
        if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 3:
            assert found == 0  # a write that failed (a full disk) leaves the old file
            assert not [p.name for p in d.rglob(".*") if ".tmp" in p.name], "a failed write left its temporary"
        if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
            assert found == 1
    assert outcomes["killed"] >= KILLS * 0.7 and outcomes["failed"] >= KILLS * 0.7, outcomes  # most landed mid-write
