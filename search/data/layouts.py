"""Where the videos and labels of each dataset live on disk: one function per layout, each
returning the class names and the (video, label, split) items. No decoding here.

Layouts (the datasets' official distributions):
- `ucf101`: class folders + `ucfTrainTestlist/{classInd,trainlist0N,testlist0N}.txt`
- `hmdb51`: class folders + `<class>_test_split<N>.txt` files (1 = train, 2 = test, 0 = unused)
- `ssv2`: numbered `.webm` files + `labels.json`, `train.json`, `validation.json`
- `kinetics`: `train.csv` / `validate.csv` (label, youtube_id, time_start, time_end, ...) +
  `<youtube_id>_<start:06d>_<end:06d>.mp4` files anywhere under the source
- `folder`: `<split>/<class>/*.mp4` (train and test folders; val is carved if absent) or
  `<class>/*.mp4` (then a deterministic test share by hash of the video id)

The official test lists of UCF101 and HMDB51 and the validation sets of SSv2 and Kinetics (whose
test labels are withheld) become the store's `test` split: the split results are reported on.
`val`, the split a search selects on, is carved by the importer from the decoded training videos
by source group (`search.data.splits`), seeded, and recorded in the store's metadata.
"""
from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from search.data.splits import video_group

VIDEO_SUFFIXES = (".mp4", ".avi", ".webm", ".mkv", ".mov", ".m4v")


class LayoutError(ValueError):
    """The source does not have the layout's files, or one of them is malformed."""

    user_error = True  # the CLI reports it in one line (search.errors)


@dataclass(frozen=True)
class VideoItem:
    path: Path
    label: int
    split: str
    video_id: str
    group: str = ""  # the source video it was cut from (`search.data.splits.video_group`)


@dataclass(frozen=True)
class Layout:
    classes: list[str]
    items: list[VideoItem]
    flip_safe: bool = True
    missing: tuple[tuple[str, str, str], ...] = ()  # (video id, split, reason) of listed videos not found


@dataclass(frozen=True)
class LayoutOptions:
    fold: int = 1  # which official split (UCF101, HMDB51: 1..3)
    splits_dir: Path | None = None  # where the split/annotation files are (default: searched)
    val_percent: int = 20  # share of the training videos carved into val, by source group
    test_percent: int = 20  # `folder` without split folders: share of videos for test
    seed: int = 0  # the seed of the val carve


def _find(root: Path, explicit: Path | None, candidates: list[str], what: str) -> Path:
    if explicit is not None:
        if not explicit.is_dir():
            raise LayoutError(f"--splits-dir {explicit}: no such directory")
        return explicit
    for name in candidates:
        for base in (root, root.parent):
            if (base / name).is_dir():
                return base / name
    raise LayoutError(f"{root}: cannot find the {what} (looked for {', '.join(candidates)}); pass --splits-dir")


def _lines(path: Path) -> list[str]:
    if not path.is_file():
        raise LayoutError(f"missing split file {path}")
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def ucf101(root: Path, opts: LayoutOptions) -> Layout:
    splits = _find(root, opts.splits_dir, ["ucfTrainTestlist", "splits"], "UCF101 split files")
    classes = []
    for n, line in enumerate(_lines(splits / "classInd.txt"), 1):
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise LayoutError(f"{splits / 'classInd.txt'} line {n}: expected 'index ClassName', got {line!r}")
        classes.append(parts[1])
    index = {c: i for i, c in enumerate(classes)}
    items = []
    for split, name in (("train", f"trainlist0{opts.fold}.txt"), ("test", f"testlist0{opts.fold}.txt")):
        for n, line in enumerate(_lines(splits / name), 1):
            rel = line.split()[0]
            cls = rel.split("/")[0]
            if "/" not in rel or cls not in index:
                raise LayoutError(f"{splits / name} line {n}: expected 'ClassName/video.avi', got {line!r}")
            stem = Path(rel).stem
            items.append(VideoItem(root / rel, index[cls], split, stem, video_group("ucf101", stem)))
    return Layout(classes, items)


def hmdb51(root: Path, opts: LayoutOptions) -> Layout:
    splits = _find(root, opts.splits_dir, ["testTrainMulti_7030_splits", "splits"], "HMDB51 split files")
    files = sorted(splits.glob(f"*_test_split{opts.fold}.txt"))
    if not files:
        raise LayoutError(f"{splits}: no '*_test_split{opts.fold}.txt' files")
    classes = [f.name.removesuffix(f"_test_split{opts.fold}.txt") for f in files]
    items = []
    for label, (cls, f) in enumerate(zip(classes, files)):
        for n, line in enumerate(_lines(f), 1):
            parts = line.split()
            if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                raise LayoutError(f"{f} line {n}: expected 'video.avi 0|1|2', got {line!r}")
            if parts[1] != "0":
                split, stem = "train" if parts[1] == "1" else "test", Path(parts[0]).stem
                items.append(VideoItem(root / cls / parts[0], label, split, stem, video_group("hmdb51", stem, cls)))
    return Layout(classes, items)


def ssv2(root: Path, opts: LayoutOptions) -> Layout:
    labels_dir = _find(root, opts.splits_dir, ["labels", "annotations"], "Something-Something V2 label files")
    try:
        names = json.loads((labels_dir / "labels.json").read_text())
        lists = {split: json.loads((labels_dir / f).read_text())
                 for split, f in (("train", "train.json"), ("test", "validation.json"))}
    except FileNotFoundError as e:
        raise LayoutError(f"missing label file {e.filename}") from None
    except json.JSONDecodeError as e:
        raise LayoutError(f"{labels_dir}: a label file is not valid JSON ({e.msg} at line {e.lineno})") from None
    classes = [name for name, _ in sorted(names.items(), key=lambda kv: int(kv[1]))]
    index = {c: i for i, c in enumerate(classes)}
    videos = next((d for d in (root / "20bn-something-something-v2", root / "videos", root) if d.is_dir()), root)
    items = []
    for split, entries in lists.items():
        for n, entry in enumerate(entries):
            template = str(entry.get("template", "")).replace("[", "").replace("]", "")
            if "id" not in entry or template not in index:
                raise LayoutError(f"{split} entry {n}: expected an id and a template of labels.json, got {entry!r}")
            vid = str(entry["id"])
            items.append(VideoItem(videos / f"{vid}.webm", index[template], split, vid, video_group("ssv2", vid)))
    return Layout(classes, items, flip_safe=False)  # "from left to right" classes


def kinetics(root: Path, opts: LayoutOptions) -> Layout:
    annotations = _find(root, opts.splits_dir, ["annotations", "kinetics400", "."], "Kinetics CSV annotations")
    rows = {}
    for split, name in (("train", "train.csv"), ("test", "validate.csv")):
        path = annotations / name
        if not path.is_file():
            raise LayoutError(f"missing annotation file {path}")
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            need = {"label", "youtube_id", "time_start", "time_end"}
            if not need <= set(reader.fieldnames or ()):
                raise LayoutError(f"{path}: needs columns {', '.join(sorted(need))}, has {reader.fieldnames}")
            rows[split] = list(reader)
    classes = sorted({r["label"] for r in rows["train"]})
    index = {c: i for i, c in enumerate(classes)}
    files = {p.stem: p for p in root.rglob("*") if p.suffix in VIDEO_SUFFIXES}
    items, missing = [], []
    for split, entries in rows.items():
        for n, r in enumerate(entries, 2):
            try:
                stem = f"{r['youtube_id']}_{int(float(r['time_start'])):06d}_{int(float(r['time_end'])):06d}"
            except ValueError:
                raise LayoutError(f"{annotations}/{split} line {n}: time_start/time_end must be numbers") from None
            if r["label"] not in index:
                missing.append((stem, split, f"label {r['label']!r} not in the training classes"))
            elif stem not in files:
                missing.append((stem, split, "video file not found"))
            else:
                items.append(VideoItem(files[stem], index[r["label"]], split, stem, video_group("kinetics", stem)))
    return Layout(classes, items, missing=tuple(missing))


def folder(root: Path, opts: LayoutOptions) -> Layout:
    split_dirs = {s: root / s for s in ("train", "val", "test") if (root / s).is_dir()}
    if split_dirs and not {"train", "test"} <= set(split_dirs):
        raise LayoutError(f"{root}: split folders must include train/ and test/ (val/ is carved from train if "
                          f"absent); found {', '.join(split_dirs)}")
    sources = split_dirs or {None: root}
    classes = sorted({d.name for base in sources.values() for d in base.iterdir() if d.is_dir()})
    if not classes:
        raise LayoutError(f"{root}: no class folders (expected {root}/<class>/*.mp4 or {root}/train/<class>/*.mp4)")
    items = []
    for split, base in sources.items():
        for label, cls in enumerate(classes):
            for path in sorted((base / cls).glob("*")) if (base / cls).is_dir() else []:
                if path.suffix.lower() in VIDEO_SUFFIXES:
                    video_id = f"{cls}/{path.stem}"
                    chosen = split or ("test" if _bucket(video_id) < opts.test_percent else "train")
                    items.append(VideoItem(path, label, chosen, video_id, video_id))
    return Layout(classes, items)


def _bucket(video_id: str) -> int:
    return int(hashlib.sha1(video_id.encode()).hexdigest(), 16) % 100


LAYOUTS: dict[str, Callable[[Path, LayoutOptions], Layout]] = {
    "ucf101": ucf101, "hmdb51": hmdb51, "ssv2": ssv2, "kinetics": kinetics, "folder": folder,
}


def read_layout(name: str, root: Path, opts: LayoutOptions) -> Layout:
    if name not in LAYOUTS:
        raise LayoutError(f"unknown layout {name!r}; available: {', '.join(LAYOUTS)}")
    if not root.is_dir():
        raise LayoutError(f"{root}: no such directory")
    layout = LAYOUTS[name](root, opts)
    if not layout.items and not layout.missing:
        raise LayoutError(f"{root}: the {name} layout lists no videos")
    return layout
