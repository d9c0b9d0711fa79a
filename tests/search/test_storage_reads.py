"""Reading a search's files from a real S3 endpoint (moto server) while another process rewrites
them: a put replaces an object whole, but a plain read learns the size first and reads the bytes
after, so it can get the new object cut to the old size. `read_whole` and `pull` must return one
version whole every time."""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Iterator

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from search.record.storage import SearchStorage, read_whole

PATH = "bucket/searches/live/results.parquet"


@pytest.fixture
def s3(s3_server: int, monkeypatch: pytest.MonkeyPatch) -> pafs.S3FileSystem:
    for key, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                       "AWS_EC2_METADATA_DISABLED": "true"}.items():
        monkeypatch.setenv(key, value)
    fs = pafs.S3FileSystem(endpoint_override=f"127.0.0.1:{s3_server}", scheme="http", region="us-east-1",
                           allow_bucket_creation=True)
    fs.create_dir("bucket")
    return fs


@pytest.fixture
def rewritten(s3: pafs.S3FileSystem) -> Iterator[list[int]]:
    """A results table put again and again with one more row each time, as a running search does;
    the row counts put so far."""
    put, stop = [], threading.Event()

    def writer() -> None:
        rows = 1
        while not stop.is_set():
            table = pa.table({"x": list(range(rows)), "name": [f"trial-{i:05d}" for i in range(rows)]})
            with s3.open_output_stream(PATH) as out:
                pq.write_table(table, out)
            put.append(rows)
            rows += 1

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    while not put:
        time.sleep(0.01)
    yield put
    stop.set()
    thread.join(timeout=30)
    assert not thread.is_alive()


def _rows(data: bytes) -> list[int]:
    return pq.read_table(pa.BufferReader(data)).column("x").to_pylist()


def test_a_file_put_again_while_it_is_read_is_read_whole(s3: pafs.S3FileSystem, rewritten: list[int]) -> None:
    # the race is there: a plain read tears within at most 1000 tries (a third of them tore when measured)
    plain_tries = 0
    while plain_tries < 1000:
        plain_tries += 1
        try:
            pq.read_table(PATH, filesystem=s3)
        except (OSError, pa.ArrowInvalid):  # torn: a page or the footer of another version
            break
    assert plain_tries < 1000, "no plain read tore: the writer never raced the reader, so nothing below is tested"
    # read_whole returns a version whole every time, and versions only grow
    seen = []
    for _ in range(50):
        rows = _rows(read_whole(s3, PATH))
        assert rows == list(range(len(rows)))
        seen.append(len(rows))
    assert seen == sorted(seen) and seen[-1] > seen[0] and len(rewritten) > seen[0]


def test_pull_beside_a_running_search_copies_whole_files(s3: pafs.S3FileSystem, rewritten: list[int],
                                                         s3_server: int, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDNAS_CACHE", str(tmp_path / "cache"))
    with s3.open_output_stream("bucket/searches/live/config.yaml") as out:
        out.write(b"name: live\n")
    storage = SearchStorage(f"s3://bucket/searches?endpoint_override=127.0.0.1:{s3_server}&scheme=http"
                            "&region=us-east-1", "live")
    copies = []
    for _ in range(40):
        (storage.local / "results.parquet").unlink(missing_ok=True)  # so that each pull copies it again
        assert "results.parquet" in storage.pull()
        rows = _rows((storage.local / "results.parquet").read_bytes())
        assert rows == list(range(len(rows)))
        copies.append(len(rows))
    assert copies == sorted(copies) and copies[-1] > copies[0]
    assert sorted(p.name for p in storage.local.iterdir()) == ["config.yaml", "results.parquet"]  # no temporaries
    assert (storage.local / "config.yaml").read_text() == "name: live\n"


def test_a_missing_file_is_one_clear_line(s3: pafs.S3FileSystem) -> None:
    with pytest.raises(FileNotFoundError, match=r"^bucket/none\.parquet: no such file in s3 storage$"):
        read_whole(s3, "bucket/none.parquet")
