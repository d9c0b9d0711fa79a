"""Importing a real dataset into a clip store: parallel, resumable, and tolerant of bad videos.

Work is cut into chunks of videos with stable names (`train-00012`); each finished chunk is
written atomically to `OUT/parts/` with the list of its failures, so a re-run (after Ctrl-C, a
crash or a reboot) decodes only the chunks that are missing. When all are there they are joined
into one Arrow file per split, `meta.json` and `import_report.json` (every video that could not be
used, with the reason) are written, and the parts are removed.
"""
from __future__ import annotations

import dataclasses
import json
import statistics
from concurrent.futures import as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pyarrow as pa
from tqdm import tqdm

from search.data.layouts import LayoutOptions, VideoItem, read_layout
from search.data.pool import worker_pool
from search.data.splits import PROTOCOL, carve
from search.data.store import StoreError, StoreMeta, clips_to_batch, write_meta, write_split
from search.data.video import VideoError, decode_clips
from spaces import atomic


@dataclass(frozen=True)
class ImportConfig:
    layout: str
    source: Path
    out: Path
    frames: int = 16
    size: int = 112  # short side resized to this, then a center crop of size x size
    clips_per_video: int = 1
    fold: int = 1
    splits_dir: Path | None = None
    val_percent: int = 20  # of the training videos, carved into val by source group
    test_percent: int = 20  # `folder` layout without split folders only
    seed: int = 0  # of the val carve
    workers: int | None = None
    chunk: int = 32  # videos per unit of work (and of resumption)
    name: str | None = None

    def settings(self) -> dict[str, Any]:
        """What must match for a re-run to resume an earlier import."""
        return {"layout": self.layout, "source": str(self.source.resolve()), "frames": self.frames,
                "size": self.size, "clips_per_video": self.clips_per_video, "fold": self.fold,
                "val_percent": self.val_percent, "test_percent": self.test_percent, "seed": self.seed,
                "chunk": self.chunk}


@dataclass(frozen=True)
class ImportReport:
    videos: int  # listed by the layout
    imported: int  # decoded into the store
    failed: list[dict[str, str]]  # {"video", "split", "reason"} of every video left out
    clips: dict[str, int]  # clips per split
    resumed_chunks: int  # chunks found done from an earlier run

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2)


def import_dataset(cfg: ImportConfig, *, progress: bool = True) -> ImportReport:
    for name, value, low in (("frames", cfg.frames, 1), ("size", cfg.size, 8), ("clips_per_video", cfg.clips_per_video, 1),
                             ("chunk", cfg.chunk, 1)):
        if value < low:
            raise StoreError(f"--{name.replace('_', '-')} must be >= {low}, got {value}")
    layout = read_layout(cfg.layout, cfg.source, LayoutOptions(
        fold=cfg.fold, splits_dir=cfg.splits_dir, val_percent=cfg.val_percent, test_percent=cfg.test_percent,
        seed=cfg.seed))
    finished = _finished(cfg)
    if finished is not None:
        return finished
    parts = cfg.out / "parts"
    parts.mkdir(parents=True, exist_ok=True)
    _check_same_settings(cfg)
    meta = StoreMeta(
        name=cfg.name or cfg.source.resolve().name, frames=cfg.frames, height=cfg.size, width=cfg.size,
        classes=tuple(layout.classes), groups=("all",) * len(layout.classes), flip_safe=layout.flip_safe,
        source={"importer": "vidnas data import", **cfg.settings(),
                "sampling": f"{cfg.frames} frames uniformly over each of {cfg.clips_per_video} equal segments",
                "protocol": PROTOCOL, "test": "the official test list (validation list where test labels are withheld)",
                "val": f"carved from train by source group ({cfg.val_percent}%, seed {cfg.seed})"})
    chunks = _chunks(layout.items, cfg.chunk)
    todo = {key: items for key, items in chunks.items() if not (parts / f"{key}.json").is_file()}
    bar = tqdm(total=sum(len(v) for v in todo.values()), unit="video", disable=not progress,
               desc=f"import {cfg.layout}")
    with worker_pool(cfg.workers) as pool, bar:
        futures = {pool.submit(_import_chunk, meta, parts, key, items, cfg.clips_per_video): key
                   for key, items in todo.items()}
        for future in as_completed(futures):
            bar.update(future.result())
    return _finalize(cfg, meta, layout, chunks, resumed=len(chunks) - len(todo))


def _finished(cfg: ImportConfig) -> ImportReport | None:
    """The report of an earlier, complete import with the same settings into `out`, if any."""
    report, meta = cfg.out / "import_report.json", cfg.out / "meta.json"
    if not (report.is_file() and meta.is_file()):
        return None
    source = json.loads(meta.read_text()).get("source", {})
    if {k: source.get(k) for k in cfg.settings()} != cfg.settings():
        raise StoreError(f"{cfg.out} already holds a store made with other settings; use another --out")
    data = json.loads(report.read_text())
    return ImportReport(**data)


def _chunks(items: list[VideoItem], size: int) -> dict[str, list[VideoItem]]:
    out = {}
    for split in ("train", "val", "test"):
        in_split = sorted((i for i in items if i.split == split), key=lambda i: i.video_id)
        for k, start in enumerate(range(0, len(in_split), size)):
            out[f"{split}-{k:05d}"] = in_split[start:start + size]
    return out


def _check_same_settings(cfg: ImportConfig) -> None:
    path = cfg.out / "parts" / "settings.json"
    if path.is_file():
        earlier = json.loads(path.read_text())
        if earlier != cfg.settings():
            changed = sorted(k for k in cfg.settings() if earlier.get(k) != cfg.settings()[k])
            raise StoreError(f"{cfg.out} holds an unfinished import with other settings ({', '.join(changed)}); "
                             "use another --out or the same settings")
    else:
        atomic.write_text(path, json.dumps(cfg.settings()))


def _import_chunk(meta: StoreMeta, parts: Path, key: str, items: list[VideoItem], clips_per_video: int) -> int:
    """Decode one chunk into parts/KEY.arrow and parts/KEY.json (written last: the done mark)."""
    batches, failed, fps = [], [], []
    for item in items:
        try:
            video = decode_clips(item.path, frames=meta.frames, size=meta.height, clips=clips_per_video)
        except VideoError as e:
            failed.append({"video": str(item.path), "split": item.split, "reason": str(e)})
            continue
        n = len(video.clips)
        batches.append(clips_to_batch(meta, video.clips, [item.label] * n, [item.video_id] * n, range(n)))
        if video.fps:
            fps.append(video.fps)
    write_split(parts / f"{key}.arrow", meta, batches)
    done = {"imported": len(items) - len(failed), "failed": failed, "fps": fps}
    atomic.write_text(parts / f"{key}.json", json.dumps(done))
    return len(items)


def _finalize(cfg: ImportConfig, meta: StoreMeta, layout: Any, chunks: dict[str, list[VideoItem]],
              resumed: int) -> ImportReport:
    parts = cfg.out / "parts"
    done = {key: json.loads((parts / f"{key}.json").read_text()) for key in chunks}
    failed = [{"video": v, "split": s, "reason": r} for v, s, r in layout.missing]
    failed += [f for key in chunks for f in done[key]["failed"]]
    clips, carved = {}, None
    if not any(k.startswith("val-") for k in chunks):  # carve val from what was decoded of train
        group_of = {i.video_id: i.group or i.video_id for i in layout.items if i.split == "train"}
        train_keys = [k for k in chunks if k.startswith("train-")]
        ids = [v for key in train_keys for v in _read_column(parts, key, "video_id")]
        try:
            mask, carved = carve([group_of[v] for v in ids], percent=cfg.val_percent, seed=cfg.seed)
        except ValueError as e:
            raise StoreError(f"--val-percent {cfg.val_percent}: {e}") from None
        for split, keep in (("train", ~mask), ("val", mask)):
            clips[split] = write_split(cfg.out / f"{split}.arrow", meta, _read_parts(parts, train_keys, keep))
    for split in ("train", "val", "test"):
        keys = [k for k in chunks if k.startswith(f"{split}-")]
        if keys and split not in clips:
            clips[split] = write_split(cfg.out / f"{split}.arrow", meta, _read_parts(parts, keys))
    meta = dataclasses.replace(meta, source=meta.source | {"val": carved or "the source's own val folder"})
    fps = [f for key in chunks for f in done[key]["fps"]]
    meta = dataclasses.replace(meta, splits=clips, fps=statistics.median(fps) if fps else None)
    write_meta(cfg.out, meta)
    report = ImportReport(videos=len(layout.items) + len(layout.missing),
                          imported=sum(d["imported"] for d in done.values()), failed=failed, clips=clips,
                          resumed_chunks=resumed)
    atomic.write_text(cfg.out / "import_report.json", report.to_json())
    for path in parts.iterdir():
        path.unlink()
    parts.rmdir()
    return report


def _read_column(parts: Path, key: str, column: str) -> list[Any]:
    return pa.ipc.open_file(pa.memory_map(str(parts / f"{key}.arrow"), "r")).read_all().column(column).to_pylist()


def _read_parts(parts: Path, keys: list[str], keep: Any = None) -> Iterator[pa.RecordBatch]:
    """The parts' record batches in order (streamed from their memory maps); with `keep`, a boolean
    mask over all their rows, only the rows it marks."""
    start = 0
    for key in keys:  # the batches keep their memory map open until written
        for batch in pa.ipc.open_file(pa.memory_map(str(parts / f"{key}.arrow"), "r")).read_all().to_batches():
            if keep is None:
                yield batch
            else:
                yield batch.filter(pa.array(keep[start:start + batch.num_rows]))
            start += batch.num_rows

