from __future__ import annotations

import multiprocessing
import os
import pickle
from pathlib import Path

import numpy as np
import pyarrow.fs as pafs
import pytest

from search.data.store import (
    BATCH_ROWS, ClipStore, StoreError, StoreMeta, clips_to_batch, write_meta, write_split,
)

META = StoreMeta(name="t", frames=4, height=6, width=5, classes=("a", "b", "c"), groups=("x", "x", "y"),
                 pairs=((0, 1),), flip_safe=False, fps=12.5, source={"made": "by a test"})


def make_store(root: Path, n: int = 600, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    clips = rng.integers(0, 256, (n, *META.clip_shape), dtype=np.uint8)
    root.mkdir(parents=True, exist_ok=True)
    step = 97  # uneven input batches: the writer re-chunks them
    batches = (clips_to_batch(META, clips[i:i + step], np.arange(i, min(n, i + step)) % 3,
                              [f"v{j}" for j in range(i, min(n, i + step))], [0] * len(clips[i:i + step]))
               for i in range(0, n, step))
    assert write_split(root / "train.arrow", META, batches) == n
    write_meta(root, StoreMeta(**{**META.__dict__, "splits": {"train": n}}))
    return clips


def test_round_trip_and_random_access(tmp_path: Path) -> None:
    clips = make_store(tmp_path / "s")
    store = ClipStore.open(tmp_path / "s")
    assert store.meta.classes == META.classes and store.meta.pairs == ((0, 1),) and store.meta.fps == 12.5
    assert store.num_clips("train") == 600 and store.splits == ["train"]
    batches = store._split("train").views
    assert [len(v) for v in batches] == [BATCH_ROWS, BATCH_ROWS, 600 - 2 * BATCH_ROWS]
    order = np.random.default_rng(1).permutation(600)[:100]
    assert np.array_equal(store.clips("train", order), clips[order])
    view = store.clip("train", 300)
    assert np.array_equal(view, clips[300]) and not view.flags.writeable  # a view of the mapped file
    assert store.labels("train")[:5].tolist() == [0, 1, 2, 0, 1]
    assert store.video_ids("train")[599] == "v599"


def test_errors_are_one_line(tmp_path: Path) -> None:
    make_store(tmp_path / "s", n=10)
    store = ClipStore.open(tmp_path / "s")
    with pytest.raises(StoreError, match="split 'val' not in store .*; it has: train"):
        store.num_clips("val")
    with pytest.raises(IndexError, match=r"clip indices must be in 0..9"):
        store.clips("train", [10])
    with pytest.raises(StoreError, match="no such directory"):
        ClipStore.open(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(StoreError, match="not a clip store"):
        ClipStore.open(tmp_path / "empty")
    (tmp_path / "empty" / "meta.json").write_text('{"format": "something-else"}')
    with pytest.raises(StoreError, match="is not a vidnas clip store"):
        ClipStore.open(tmp_path / "empty")


def _read_in_child(store: ClipStore, index: int, queue) -> None:
    queue.put(store.clip("train", index).copy())


def test_a_pickled_store_reopens_its_maps_in_another_process(tmp_path: Path) -> None:
    clips = make_store(tmp_path / "s")
    store = ClipStore.open(tmp_path / "s")
    store.clip("train", 0)  # mapped here ...
    assert pickle.loads(pickle.dumps(store))._splits == {}  # ... never pickled
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=_read_in_child, args=(store, 451, queue))
    child.start()
    got = queue.get(timeout=60)
    child.join(timeout=60)
    assert np.array_equal(got, clips[451])


def test_a_remote_store_is_cached_once_per_node(tmp_path: Path, s3_server: int, monkeypatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("VIDNAS_CACHE", str(tmp_path / "cache"))
    clips = make_store(tmp_path / "s", n=300)
    s3 = pafs.S3FileSystem(endpoint_override=f"127.0.0.1:{s3_server}", scheme="http", region="us-east-1",
                           allow_bucket_creation=True)
    s3.create_dir("bucket")
    pafs.copy_files(str(tmp_path / "s"), "bucket/stores/s", source_filesystem=pafs.LocalFileSystem(),
                    destination_filesystem=s3)
    uri = f"s3://bucket/stores/s?endpoint_override=127.0.0.1:{s3_server}&scheme=http&region=us-east-1"
    store = ClipStore.open(uri)
    assert store.root.parent == tmp_path / "cache"
    assert np.array_equal(store.clips("train", [5, 299]), clips[[5, 299]])
    s3.delete_dir("bucket/stores/s")  # the second open needs no remote: the node's copy is used
    assert np.array_equal(ClipStore.open(uri).clip("train", 7), clips[7])
    assert [p.name for p in (tmp_path / "cache").iterdir() if p.is_dir()] == [store.root.name]
    with pytest.raises(StoreError, match="not a clip store"):
        ClipStore.open(f"s3://bucket/elsewhere?endpoint_override=127.0.0.1:{s3_server}&scheme=http")
    assert os.environ["VIDNAS_CACHE"]
