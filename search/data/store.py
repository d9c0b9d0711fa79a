"""The clip store: one on-disk format for every dataset, read by many processes without copies.

A store is a directory::

    meta.json           dataset metadata (`StoreMeta`): clip shape, classes, class groups, pairs,
                        whether a horizontal flip keeps labels, frame rate, how it was made
    train.arrow         one Arrow IPC file (Feather v2, uncompressed) per split: columns
    val.arrow           clip fixed_size_list<uint8>[T*H*W*3], label int16, video_id string,
    ...                 clip_index int16 (which clip of its video), in record batches of 256 rows

Why Arrow IPC: memory-mapped and uncompressed, a clip is a zero-copy slice of the page cache, so
random access is fast and every process on a node shares one copy; Parquet decodes per reader
and was ~100x slower at random access (`bench/bench_data.py` measures both).

Paths may be local or any `pyarrow.fs` URI (s3://, gs://, hdfs://): a remote store is copied to
a local cache once per node (`VIDNAS_CACHE`, default `~/.cache/vidnas/stores`) and mapped from there.
"""
from __future__ import annotations

import bisect
import dataclasses
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs

from spaces import atomic

FORMAT = "vidnas-clips"
VERSION = 1
BATCH_ROWS = 256
SPLITS = ("train", "val", "test")


class StoreError(ValueError):
    """A missing, foreign or damaged store (a user error: reported in one line)."""

    user_error = True  # the CLI reports it in one line (search.errors)


@dataclass(frozen=True)
class StoreMeta:
    name: str
    frames: int
    height: int
    width: int
    classes: tuple[str, ...]
    groups: tuple[str, ...]  # each class's group, e.g. appearance / motion / order
    pairs: tuple[tuple[int, int], ...] = ()  # class pairs that differ only in time (within-pair accuracy)
    flip_safe: bool = True  # whether a horizontal flip keeps every label
    fps: float | None = None
    source: dict[str, Any] = field(default_factory=dict)  # how it was made (generator/importer settings)
    splits: dict[str, int] = field(default_factory=dict)  # clips per split

    def __post_init__(self) -> None:
        if len(self.groups) != len(self.classes):
            raise StoreError(f"groups has {len(self.groups)} entries but there are {len(self.classes)} classes")

    @property
    def clip_shape(self) -> tuple[int, int, int, int]:
        return (self.frames, self.height, self.width, 3)

    @property
    def group_names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.groups))

    @property
    def fingerprint(self) -> str:
        """What names the clips a run trained on: the store's name, how it was made, its splits, its shape."""
        return f"{self.name}:{self.source}:{self.splits}:{self.clip_shape}"

    def to_json(self) -> str:
        data = dataclasses.asdict(self) | {"format": FORMAT, "version": VERSION}
        return json.dumps(data, indent=2)

    @classmethod
    def from_json(cls, text: str) -> StoreMeta:
        data = json.loads(text)
        if data.pop("format", None) != FORMAT:
            raise StoreError("meta.json is not a vidnas clip store")
        if data.pop("version", None) != VERSION:
            raise StoreError(f"clip store version is not {VERSION}; re-create it")
        data["classes"] = tuple(data["classes"])
        data["groups"] = tuple(data["groups"])
        data["pairs"] = tuple(tuple(p) for p in data["pairs"])
        return cls(**data)


def clip_schema(meta: StoreMeta) -> pa.Schema:
    size = int(np.prod(meta.clip_shape))
    return pa.schema([
        ("clip", pa.list_(pa.uint8(), size)),
        ("label", pa.int16()),
        ("video_id", pa.string()),
        ("clip_index", pa.int16()),
    ])


def clips_to_batch(meta: StoreMeta, clips: np.ndarray, labels: Iterable[int], video_ids: Iterable[str],
                   clip_indices: Iterable[int]) -> pa.RecordBatch:
    """(N, T, H, W, 3) uint8 clips and their labels -> one record batch of the store's schema."""
    if clips.dtype != np.uint8 or clips.shape[1:] != meta.clip_shape:
        raise ValueError(f"clips must be uint8 of shape (N, {meta.clip_shape}), got {clips.dtype} {clips.shape}")
    flat = pa.array(np.ascontiguousarray(clips).reshape(-1), type=pa.uint8())
    column = pa.FixedSizeListArray.from_arrays(flat, int(np.prod(meta.clip_shape)))
    return pa.RecordBatch.from_arrays(
        [column, pa.array(list(labels), pa.int16()), pa.array(list(video_ids), pa.string()),
         pa.array(list(clip_indices), pa.int16())], schema=clip_schema(meta))


def write_split(path: Path, meta: StoreMeta, batches: Iterable[pa.RecordBatch]) -> int:
    """Write record batches, re-chunked to BATCH_ROWS rows, to `path` atomically; returns rows."""
    schema = clip_schema(meta)
    rows, pending = 0, []
    with atomic.replacing(path) as tmp, pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, schema) as writer:

        def flush(final: bool) -> list[pa.RecordBatch]:
            nonlocal rows
            table = pa.Table.from_batches(pending, schema=schema).combine_chunks()
            full = table.num_rows if final else table.num_rows - table.num_rows % BATCH_ROWS
            for chunk in table.slice(0, full).to_batches(max_chunksize=BATCH_ROWS):
                writer.write_batch(chunk)
            rows += full
            return table.slice(full).to_batches()

        for batch in batches:
            pending.append(batch)
            if sum(b.num_rows for b in pending) >= BATCH_ROWS:
                pending = flush(final=False)
        flush(final=True)
    return rows


def write_meta(root: Path, meta: StoreMeta) -> None:
    atomic.write_text(root / "meta.json", meta.to_json())


class ClipStore:
    """A memory-mapped clip store. Picklable (reopens its maps in the receiving process).

    Example:
        >>> store = ClipStore.open("data/synth-demo")  # doctest: +SKIP
        >>> clip, label = store.clip("train", 0), store.labels("train")[0]  # doctest: +SKIP
    """

    def __init__(self, root: Path, meta: StoreMeta) -> None:
        self.root, self.meta = root, meta
        self._splits: dict[str, _MappedSplit] = {}

    @classmethod
    def open(cls, location: str | os.PathLike[str]) -> ClipStore:
        root = local_copy(str(location))
        meta_path = root / "meta.json"
        if not meta_path.is_file():
            raise StoreError(f"{location}: not a clip store (no meta.json); create one with "
                             "`vidnas data synth` or `vidnas data import`")
        return cls(root, StoreMeta.from_json(meta_path.read_text()))

    @property
    def splits(self) -> list[str]:
        return [s for s in self.meta.splits if (self.root / f"{s}.arrow").is_file()]

    def verify(self) -> None:
        """Open every split meta.json lists and check it before anything trains on it: an Arrow
        file, the store's schema, the row count meta.json gives, and a read of its first and last
        clip and label. A damaged file is a StoreError in one line: the file, what is wrong, and
        the command that rebuilds the store."""
        for split, expected in self.meta.splits.items():
            path = self.root / f"{split}.arrow"
            if not path.is_file():
                self._damaged(path, "missing")
            try:
                with pa.memory_map(str(path), "r") as source:
                    reader = pa.ipc.open_file(source)
                    if not reader.schema.equals(clip_schema(self.meta)):
                        self._damaged(path, f"not this store's schema (clip shape {self.meta.clip_shape})")
                    rows = sum(reader.get_batch(i).num_rows for i in range(reader.num_record_batches))
                    if rows != expected:
                        self._damaged(path, f"{rows} clips where meta.json says {expected}")
                    if rows:
                        for batch in (reader.get_batch(0), reader.get_batch(reader.num_record_batches - 1)):
                            labels = batch.column("label").to_numpy()
                            batch.column("clip").flatten().to_numpy(zero_copy_only=True)
                            if labels.min() < 0 or labels.max() >= len(self.meta.classes):
                                self._damaged(path, f"labels outside 0..{len(self.meta.classes) - 1}")
            except StoreError:
                raise
            except (pa.ArrowException, OSError, ValueError) as e:
                self._damaged(path, f"unreadable ({str(e).splitlines()[0][:80]})")

    def _damaged(self, path: Path, what: str) -> None:
        raise StoreError(f"{path}: {what}; rebuild the store: {rebuild_command(self.meta, self.root)}")

    def _split(self, split: str) -> _MappedSplit:
        if split not in self._splits:
            path = self.root / f"{split}.arrow"
            if not path.is_file():
                raise StoreError(f"split {split!r} not in store {self.root}; it has: {', '.join(self.splits)}")
            self._splits[split] = _MappedSplit(path, self.meta.clip_shape)
        return self._splits[split]

    def __len__(self) -> int:
        return sum(self.meta.splits.values())

    def num_clips(self, split: str) -> int:
        return self._split(split).rows

    def clip(self, split: str, index: int) -> np.ndarray:
        """(T, H, W, 3) uint8, a zero-copy view of the mapped file."""
        return self._split(split).clip(index)

    def clips(self, split: str, indices: Iterable[int]) -> np.ndarray:
        """(N, T, H, W, 3) uint8, gathered (one copy), in the order of `indices`."""
        mapped = self._split(split)
        indices = np.asarray(indices, dtype=np.int64)
        if len(indices) and (indices.min() < 0 or indices.max() >= mapped.rows):
            raise IndexError(f"clip indices must be in 0..{mapped.rows - 1}")
        batch_of = np.searchsorted(mapped.starts, indices, side="right") - 1
        out = np.empty((len(indices), *self.meta.clip_shape), np.uint8)
        for b in np.unique(batch_of):
            rows = batch_of == b
            out[rows] = mapped.views[b][indices[rows] - mapped.starts[b]]
        return out

    def labels(self, split: str) -> np.ndarray:
        return self._split(split).labels

    def video_ids(self, split: str) -> list[str]:
        return self._split(split).table.column("video_id").to_pylist()

    def size_on_disk(self) -> int:
        return sum(p.stat().st_size for p in self.root.iterdir() if p.is_file())

    def __getstate__(self) -> dict[str, Any]:
        return {"root": self.root, "meta": self.meta}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["root"], state["meta"])


def rebuild_command(meta: StoreMeta, root: Path) -> str:
    """The command that writes this store again, from what its meta.json says made it."""
    source = meta.source
    if source.get("generator") == "vidnas synth":
        profile = f" --profile {source['profile']}" if source.get("profile") else ""
        return (f"`vidnas data synth {meta.name} --size {source.get('size', 'demo')} --seed {source.get('seed', 0)}"
                f"{profile} --out {root}`")
    if source.get("importer"):
        return (f"`vidnas data import {source.get('source', 'SOURCE')} --layout {source.get('layout', 'LAYOUT')} "
                f"--out NEW_DIR` with the settings in {root / 'meta.json'}")
    return f"write it again into {root} with the tool that made it"


class _MappedSplit:
    """One memory-mapped split: per-record-batch numpy views of the clip column, no copies."""

    def __init__(self, path: Path, clip_shape: tuple[int, ...]) -> None:
        self.source = pa.memory_map(str(path), "r")
        reader = pa.ipc.open_file(self.source)
        self.table = reader.read_all()
        self.views: list[np.ndarray] = []
        self.starts: list[int] = []
        start = 0
        for batch in self.table.column("clip").chunks:
            values = batch.flatten().to_numpy(zero_copy_only=True)  # respects slice offsets
            self.views.append(values.reshape(len(batch), *clip_shape))
            self.starts.append(start)
            start += len(batch)
        self.rows = start
        self.labels = self.table.column("label").to_numpy().astype(np.int64)

    def clip(self, index: int) -> np.ndarray:
        if not 0 <= index < self.rows:
            raise IndexError(f"clip {index} out of range 0..{self.rows - 1}")
        b = bisect.bisect_right(self.starts, index) - 1
        return self.views[b][index - self.starts[b]]


# ---------------------------------------------------------------------------------------------
# Remote stores: cached once per node.


def local_copy(location: str) -> Path:
    """The local directory of a store: itself if local, else a per-node cache copy (made once,
    under a file lock, atomically renamed into place)."""
    if "://" not in location or location.startswith("file://"):
        path = Path(location.removeprefix("file://")).expanduser()
        if not path.exists():
            raise StoreError(f"{location}: no such directory")
        return path
    try:
        filesystem, remote = pafs.FileSystem.from_uri(location)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as e:
        raise StoreError(f"{location}: cannot open this URI ({e})") from None
    cache_root = Path(os.environ.get("VIDNAS_CACHE", Path.home() / ".cache" / "vidnas" / "stores"))
    cache_root.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha1(location.split("?")[0].encode()).hexdigest()[:16]
    target = cache_root / key
    with open(cache_root / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # other processes of this node wait for the first copy
        if not (target / "meta.json").is_file():
            info = filesystem.get_file_info(remote + "/meta.json")
            if info.type != pafs.FileType.File:
                raise StoreError(f"{location}: not a clip store (no meta.json)")
            staging = Path(tempfile.mkdtemp(dir=cache_root, prefix=f"{key}-"))
            pafs.copy_files(remote, str(staging), source_filesystem=filesystem,
                            destination_filesystem=pafs.LocalFileSystem())
            shutil.rmtree(target, ignore_errors=True)
            os.replace(staging, target)
    return target
