"""The built-in benchmark: procedural video clips where time really matters.

One object on a cluttered textured background seen through a panning camera, with moving
distractor shapes and pixel noise. Three kinds of classes:

- **appearance** classes: the object's shape and texture decide; one frame suffices (Kinetics-like);
- **motion pairs**: the same object moving one way or the opposite way (right/left, down/up,
  grow/shrink, rotate cw/ccw, brighten/darken, orbit cw/ccw, fall/rise, together/apart);
- **order pairs**: event A then B, or B then A (red then blue, square then circle, a flash early or
  late, appear/disappear).

Two profiles (`PROFILES`; `class_table` decides the classes of each, per size):

- `appearance` (the default): appearance classes plus motion and order pairs; each pair's event
  draws its object with a shape of its own, so one frame may tell the pair (never the class in it).
- `temporal` (Something-Something-like): motion and order pairs only; the object's shape, texture
  and colour come from one distribution shared by every class (`object_look`: the same code and
  random draws for all), so a frame tells only what an event defines itself (red_then_blue's
  colours, square_then_circle's shapes, a size, a brightness), never what the look could carry.

The within-pair property: the second class of a pair is *defined* as the time reversal of the first
(the same random scene, frames in reverse order). Both classes therefore have exactly the same
distribution of frame sets, and any model that ignores frame order (e.g. averages per-frame
features, as TSN does) is at chance between the two classes of a pair: its within-pair accuracy
is 50%. Only temporal modelling can beat that. `tests/search/data/test_synth.py` checks it.

Every clip is a pure function of (seed, split, index, profile): generation is deterministic, and
parallel. The appearance profile renders exactly what it did before profiles existed. The classes
are `search.data.classes`, a clip's drawing `search.data.draw`; this module writes a store.

    vidnas data synth t --size demo --profile temporal --out data/demo-temporal
"""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa

from search.data.pool import worker_pool
from search.data.store import BATCH_ROWS, StoreError, StoreMeta, clips_to_batch, write_meta, write_split

from search.data.classes import (  # noqa: F401 (re-exported: the benchmark's classes)
    APPEARANCE, EVENT_LOOK, MOTION_PAIRS, ORDER_PAIRS, PROFILES, SHARED_SHAPES, SIZES, TEXTURES, SynthClass, SynthSize,
    class_pairs, class_table, store_profile,
)
from search.data.draw import clip_rng, object_look, render_clip  # noqa: F401 (re-exported)


# ---------------------------------------------------------------------------------------------
# Writing a store.


def render_chunk(size_name: str, seed: int, split: str, indices: range,
                 profile: str = "appearance") -> tuple[np.ndarray, list[int]]:
    """Clips `indices` of a split (label = index mod classes): a unit of parallel work."""
    size = SIZES[size_name]
    classes = class_table(size, profile)
    labels = [i % len(classes) for i in indices]
    clips = np.stack([render_clip(classes[label], frames=size.frames, size=size.size, rng=clip_rng(seed, split, i))
                      for i, label in zip(indices, labels)])
    return clips, labels


def synth_meta(name: str, size_name: str, seed: int, profile: str = "appearance") -> StoreMeta:
    size = SIZES[size_name]
    classes = class_table(size, profile)
    # The default profile is not recorded: its meta.json, and so a store's fingerprint in searches
    # and bench tables, stay what they were before profiles existed (`store_profile` reads it back).
    source = {"generator": "vidnas synth", "size": size_name, "seed": seed}
    return StoreMeta(
        name=name, frames=size.frames, height=size.size, width=size.size,
        classes=tuple(c.name for c in classes), groups=tuple(c.group for c in classes),
        pairs=tuple(class_pairs(classes)), flip_safe=False,  # a flip turns move_right into move_left
        fps=None, source=source if profile == "appearance" else source | {"profile": profile},
        splits={"train": size.train_per_class * len(classes), "val": size.val_per_class * len(classes),
                "test": size.test_per_class * len(classes)})


def write_synth(out: Path, *, size_name: str, seed: int = 0, name: str | None = None, workers: int | None = None,
                progress: bool = True, only: tuple[str, ...] | None = None, profile: str = "appearance") -> StoreMeta:
    """Generate the benchmark into a new clip store at `out` (train, val and test splits, each
    from its own seed stream; `only` writes just those splits, e.g. a test split for an old store).

    >>> write_synth(Path("data/demo-temporal"), size_name="demo", profile="temporal")  # doctest: +SKIP
    """
    if size_name not in SIZES:
        raise StoreError(f"unknown size {size_name!r}; available: {', '.join(SIZES)}")
    if profile not in PROFILES:
        raise StoreError(f"unknown profile {profile!r}; available: {', '.join(PROFILES)}")
    default_name = f"synth-{size_name}" + ("" if profile == "appearance" else f"-{profile}")
    meta = synth_meta(name or default_name, size_name, seed, profile)
    out.mkdir(parents=True, exist_ok=True)
    todo = {split: count for split, count in meta.splits.items() if only is None or split in only}
    if progress:
        from tqdm import tqdm  # here: the GPU machine's benchmark writes a store without it

        bar = tqdm(total=sum(todo.values()), unit="clip", desc=f"synth {size_name} {profile}")
    else:
        bar = _NoBar()
    with worker_pool(workers) as pool, bar:
        for split, count in todo.items():
            chunks = [range(start, min(start + BATCH_ROWS, count)) for start in range(0, count, BATCH_ROWS)]
            results = pool.map(render_chunk, *zip(*[(size_name, seed, split, c, profile) for c in chunks]))

            def batches() -> Iterator[pa.RecordBatch]:
                for chunk, (clips, labels) in zip(chunks, results):
                    bar.update(len(chunk))
                    yield clips_to_batch(meta, clips, labels, [f"{split}-{i:07d}" for i in chunk], [0] * len(chunk))

            write_split(out / f"{split}.arrow", meta, batches())
    write_meta(out, meta)
    return meta


class _NoBar(contextlib.nullcontext):
    def update(self, n: int) -> None:
        pass
