"""A damaged clip store is caught before Ray starts: one line naming the file, what is wrong and
the command that rebuilds the store (`ClipStore.verify`, run by every search, train, study and
benchmark when it opens its store)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pytest
import ray
import yaml

from search.cli.main import main
from search.data.store import ClipStore, StoreError

REBUILD = r"rebuild the store: `vidnas data synth synth-tiny --size tiny --seed 0 --out .*`"


def _damaged(store: str, tmp_path: Path) -> Path:
    copy = tmp_path / "store"
    shutil.copytree(store, copy)
    return copy


def _cut(path: Path, fraction: float) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])


@pytest.mark.parametrize("damage, pattern", [
    (lambda d: _cut(d / "train.arrow", 1 / 3), r"train.arrow: unreadable \("),
    (lambda d: (d / "val.arrow").unlink(), r"val.arrow: missing"),
    (lambda d: (d / "meta.json").write_text(json.dumps(json.loads((d / "meta.json").read_text())
                                                       | {"splits": {"train": 100, "val": 48, "test": 48}})),
     r"train.arrow: \d+ clips where meta.json says 100"),
    (lambda d: _foreign(d / "test.arrow"), r"test.arrow: not this store's schema"),
])
def test_a_damaged_split_is_one_line_naming_it_and_the_rebuild(store: str, tmp_path: Path, damage, pattern) -> None:
    d = _damaged(store, tmp_path)
    damage(d)
    with pytest.raises(StoreError, match=rf"^{d}/{pattern}.*; {REBUILD}$"):
        ClipStore.open(d).verify()


def _foreign(path: Path) -> None:
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, pa.schema([("x", pa.int8())])) as writer:
        writer.write_batch(pa.record_batch([pa.array([1], pa.int8())], names=["x"]))


def test_a_search_on_a_damaged_store_stops_before_ray_starts(store: str, tmp_path: Path, capsys) -> None:
    d = _damaged(store, tmp_path)
    _cut(d / "train.arrow", 1 / 3)
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"name": "s", "data": str(d), "storage": str(tmp_path / "results"), "trials": 1,
                                      "space": {"frames": [8], "crop": 32, "widths": [0.125], "depths": [0.34]}}))
    assert main(["search", str(config)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "train.arrow: unreadable" in err[0] and "vidnas data synth synth-tiny" in err[0], err
    assert "Traceback" not in err[0] and not ray.is_initialized()
    ClipStore.open(store).verify()  # the intact store passes


def test_a_damaged_mlflow_store_is_one_line_for_the_ui_too(store: str, tmp_path: Path, capsys) -> None:
    directory = tmp_path / "results" / "s"
    directory.mkdir(parents=True)
    (directory / "config.yaml").write_text(yaml.safe_dump({"name": "s", "data": store, "storage": str(tmp_path / "results")}))
    db = directory / "mlflow.db"
    db.write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 16)  # a header, then garbage
    assert main(["ui", str(directory)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"vidnas: error: {db}: damaged (") and f"mv {db} {db}.damaged" in err[0]
