"""`vidnas data add-test`: bring a store made before the three-split protocol to it.

- A built-in benchmark store gets its `test` split rendered from the same seed (its own stream:
  no clip of train or val is repeated).
- An imported store held the official test/validation list as `val`: that split becomes `test`
  (renamed, nothing decoded again), and a new `val` is carved from `train` by source group
  (`search.data.splits`), seeded and recorded in `meta.json`.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from search.data.splits import PROTOCOL, carve, video_group
from search.data.store import ClipStore, StoreError, StoreMeta, write_meta, write_split


def add_test_split(root: Path, *, val_percent: int = 20, seed: int = 0, progress: bool = True) -> StoreMeta:
    """Give the local store at `root` a test split; returns its new metadata."""
    store = ClipStore.open(root)
    meta = store.meta
    if "test" in store.splits:
        raise StoreError(f"{root}: already has a test split ({meta.splits['test']} clips)")
    if meta.source.get("generator") == "vidnas synth":
        from search.data.synth import write_synth
        new = write_synth(root, size_name=meta.source["size"], seed=meta.source["seed"], name=meta.name,
                          progress=progress, only=("test",))
        meta = dataclasses.replace(meta, splits=meta.splits | {"test": new.splits["test"]})
        write_meta(root, meta)
        return meta
    if "importer" not in meta.source or "val" not in store.splits:
        raise StoreError(f"{root}: neither a built-in benchmark nor an imported store with a val split; "
                         "re-import it with `vidnas data import`")
    return _resplit_imported(root, store, val_percent=val_percent, seed=seed)


def _resplit_imported(root: Path, store: ClipStore, *, val_percent: int, seed: int) -> StoreMeta:
    meta = store.meta
    train = pa.ipc.open_file(pa.memory_map(str(root / "train.arrow"), "r")).read_all()
    labels = train.column("label").to_numpy()
    groups = [video_group(meta.source.get("layout", ""), vid, meta.classes[label])
              for vid, label in zip(train.column("video_id").to_pylist(), labels)]
    try:
        mask, record = carve(groups, percent=val_percent, seed=seed)
    except ValueError as e:
        raise StoreError(f"--val-percent {val_percent}: {e}") from None
    store._splits.clear()  # drop our maps of the files about to be replaced
    os.replace(root / "val.arrow", root / "test.arrow")
    counts: dict[str, Any] = {"test": meta.splits["val"]}
    for split, rows in (("val", np.flatnonzero(mask)), ("train", np.flatnonzero(~mask))):
        counts[split] = write_split(root / f"{split}.arrow", meta, train.take(pa.array(rows)).to_batches())
    source = meta.source | {"protocol": PROTOCOL, "test": "the official test/validation list (was val)",
                            "val": record, "migrated": "vidnas data add-test"}
    meta = dataclasses.replace(meta, splits={s: counts[s] for s in ("train", "val", "test")}, source=source)
    write_meta(root, meta)
    return meta
