"""Importers on small real video files written by the tests, in each dataset's layout."""
from __future__ import annotations

import csv
import dataclasses
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from search.cli.main import main
from search.data.importer import ImportConfig, import_dataset
from search.data.layouts import LayoutError
from search.data.store import ClipStore
from search.data.video import sample_indices
from tests.search.data.videos import make_frames, write_corrupt, write_video

FRAMES, H, W = 24, 48, 64  # written videos; imported at size 48: a center crop of columns 8..55


def _expected(seed: int, frames: int = 8, clips: int = 1) -> np.ndarray:
    return make_frames(FRAMES, H, W, seed)[sample_indices(FRAMES, frames, clips)][:, :, :, 8:56]


def _check_clips(store: ClipStore, split: str, seeds: dict[str, int], clips: int = 1) -> None:
    ids = store.video_ids(split)
    for vid, seed in seeds.items():
        rows = [i for i, v in enumerate(ids) if v == vid]
        assert len(rows) == clips, vid
        got = store.clips(split, rows).astype(int)
        want = _expected(seed, clips=clips).astype(int)
        assert np.abs(got - want).mean() < 8  # within codec loss
        # the frame-index band (brightness 8 + 12 i) proves which frames were sampled
        assert np.abs(got[..., :5, :].mean(axis=(2, 3, 4)) - want[..., :5, :].mean(axis=(2, 3, 4))).max() < 6  # half a step


def _ucf(root: Path) -> dict[str, dict[str, int]]:
    """Two classes; group g01 is the official test list, g02 and g03 (two clips each: c01, c02,
    cut from one source video) the training list."""
    seeds, lists = {"train": {}, "test": {}}, {"train": [], "test": []}
    for c, cls in enumerate(["ApplyLipstick", "Basketball"]):
        for g in range(3):
            for clip in range(1 if g == 0 else 2):
                vid = f"v_{cls}_g0{g + 1}_c0{clip + 1}"
                write_video(root / "UCF-101" / cls / f"{vid}.avi", make_frames(FRAMES, H, W, seed := 10 * c + 3 * g + clip))
                split = "test" if g == 0 else "train"
                seeds[split][vid] = seed
                lists[split].append(f"{cls}/{vid}.avi" + (f" {c + 1}" if split == "train" else ""))
    splits = root / "ucfTrainTestlist"
    splits.mkdir()
    (splits / "classInd.txt").write_text("1 ApplyLipstick\n2 Basketball\n")
    (splits / "trainlist01.txt").write_text("\n".join(lists["train"]) + "\n")
    (splits / "testlist01.txt").write_text("\n".join(lists["test"]) + "\n")
    return seeds


def test_ucf101_imports_what_was_written(tmp_path: Path) -> None:
    seeds = _ucf(tmp_path)
    cfg = ImportConfig(layout="ucf101", source=tmp_path / "UCF-101", out=tmp_path / "store", frames=8, size=48,
                       workers=2, chunk=2)
    report = import_dataset(cfg, progress=False)
    # the official test list is `test`; `val` is one whole group (g02 or g03) of the training list
    assert report.imported == 10 and not report.failed and report.clips == {"train": 4, "val": 4, "test": 2}
    store = ClipStore.open(tmp_path / "store")
    assert store.meta.classes == ("ApplyLipstick", "Basketball") and store.meta.fps == 25.0
    assert store.meta.clip_shape == (8, 48, 48, 3) and store.meta.flip_safe
    _check_clips(store, "test", seeds["test"])
    _check_clips(store, "train", {v: s for v, s in seeds["train"].items() if v in store.video_ids("train")})
    _check_clips(store, "val", {v: s for v, s in seeds["train"].items() if v in store.video_ids("val")})
    groups = {split: [v.split("_")[2] for v in store.video_ids(split)] for split in ("train", "val", "test")}
    assert len(set(groups["val"])) == 1 and set(groups["val"]) | set(groups["train"]) == {"g02", "g03"}
    assert not set(groups["val"]) & set(groups["train"]) and set(groups["test"]) == {"g01"}
    carve = store.meta.source["val"]
    assert carve["by"] == "group" and carve["seed"] == 0 and carve["val_group_names"] == groups["val"][:1]
    assert sorted(store.labels("train").tolist()) == [0, 0, 1, 1]
    assert not (tmp_path / "store" / "parts").exists()
    again = import_dataset(cfg, progress=False)  # finished: nothing decoded again
    assert again.imported == 10 and (tmp_path / "store" / "train.arrow").stat().st_size > 0
    other = import_dataset(dataclasses.replace(cfg, out=tmp_path / "other", seed=3), progress=False)
    assert other.clips == report.clips  # another seed: another carve, same sizes


def test_hmdb51_with_corrupt_videos_reports_them_and_keeps_the_rest(tmp_path: Path) -> None:
    src, splits = tmp_path / "hmdb51", tmp_path / "testTrainMulti_7030_splits"
    splits.mkdir(parents=True)
    seeds = {"train": {}, "test": {}}
    for c, cls in enumerate(["brush_hair", "cartwheel"]):
        lines = []
        for k, flag in enumerate(["1", "1", "2", "0"]):  # HMDB51's names: <source>_<class>_<tags>_<n>
            name = f"{'Movie' + 'AB'[c] if k < 2 else 'Other' + str(k)}_{cls}_u_nm_np1_fr_goo_{k}"
            write_video(src / cls / f"{name}.avi", make_frames(FRAMES, H, W, seed := 20 + 10 * c + k))
            lines.append(f"{name}.avi {flag}")
            if flag != "0":
                seeds["train" if flag == "1" else "test"][name] = seed
        for kind in ("empty", "garbage", "text"):
            write_corrupt(src / cls / f"{cls}_{kind}.avi", kind)
            lines.append(f"{cls}_{kind}.avi 1")
        lines.append(f"{cls}_missing.avi 1")
        (splits / f"{cls}_test_split1.txt").write_text("\n".join(lines) + "\n")
    report = import_dataset(ImportConfig(layout="hmdb51", source=src, out=tmp_path / "store", frames=8, size=48,
                                         clips_per_video=2, workers=1), progress=False)
    # val: one source movie's two videos (2 clips each), never split between train and val
    assert report.imported == 6 and report.clips == {"train": 4, "val": 4, "test": 4}
    store = ClipStore.open(tmp_path / "store")
    val_sources = {v.split("_")[0] for v in store.video_ids("val")}
    assert len(val_sources) == 1 and not val_sources & {v.split("_")[0] for v in store.video_ids("train")}
    _check_clips(store, "test", seeds["test"], clips=2)
    reasons = {Path(f["video"]).stem: f["reason"] for f in report.failed}
    assert set(reasons) == {f"{c}_{k}" for c in ("brush_hair", "cartwheel") for k in ("empty", "garbage", "text", "missing")}
    assert reasons["brush_hair_missing"] == "file not found"
    assert all(r.startswith("unreadable") or r == "no decodable frames" for k, r in reasons.items() if "missing" not in k)
    saved = json.loads((tmp_path / "store" / "import_report.json").read_text())
    assert len(saved["failed"]) == 8
    _check_clips(store, "train", {v: s for v, s in seeds["train"].items() if v in store.video_ids("train")}, clips=2)


def test_ssv2_webm_and_json_labels(tmp_path: Path) -> None:
    labels = {"Pushing something from left to right": "0", "Pushing something from right to left": "1"}
    templates = ["Pushing [something] from left to right", "Pushing [something] from right to left"]
    entries = {"train": [], "val": []}
    seeds = {"train": {}, "val": {}}
    for n in range(6):
        vid = str(1000 + n)
        write_video(tmp_path / "20bn-something-something-v2" / f"{vid}.webm", make_frames(FRAMES, H, W, seed := 40 + n))
        split = "val" if n >= 4 else "train"
        entries[split].append({"id": vid, "label": "pushing a box", "template": templates[n % 2],
                               "placeholders": ["a box"]})
        seeds[split][vid] = seed
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "labels.json").write_text(json.dumps(labels))
    (tmp_path / "labels" / "train.json").write_text(json.dumps(entries["train"]))
    (tmp_path / "labels" / "validation.json").write_text(json.dumps(entries["val"]))
    report = import_dataset(ImportConfig(layout="ssv2", source=tmp_path, out=tmp_path / "store", frames=8, size=48,
                                         workers=2), progress=False)
    store = ClipStore.open(tmp_path / "store")
    assert report.imported == 6 and store.meta.flip_safe is False
    assert store.meta.classes == tuple(labels)
    assert store.labels("test").tolist() == [0, 1]  # validation.json: the test split (test labels are withheld)
    assert store.meta.splits == {"train": 3, "val": 1, "test": 2}
    _check_clips(store, "train", {v: s for v, s in seeds["train"].items() if v in store.video_ids("train")})


def test_kinetics_csv_and_youtube_id_files(tmp_path: Path) -> None:
    rows, seeds = {"train": [], "val": []}, {"train": {}, "val": {}}
    for n in range(6):
        label, ytid = ("abseiling", "air drumming")[n % 2], f"yt{n:09d}"
        split = "val" if n >= 4 else "train"
        stem = f"{ytid}_{n * 10:06d}_{n * 10 + 10:06d}"
        write_video(tmp_path / split / label / f"{stem}.mp4", make_frames(FRAMES, H, W, seed := 60 + n))
        rows[split].append({"label": label, "youtube_id": ytid, "time_start": n * 10, "time_end": n * 10 + 10,
                            "split": split})
        seeds[split][stem] = seed
    rows["val"].append({"label": "abseiling", "youtube_id": "gone", "time_start": 0, "time_end": 10, "split": "val"})
    (tmp_path / "annotations").mkdir()
    for split, name in (("train", "train.csv"), ("val", "validate.csv")):
        with (tmp_path / "annotations" / name).open("w", newline="") as f:
            writer = csv.DictWriter(f, ["label", "youtube_id", "time_start", "time_end", "split"])
            writer.writeheader()
            writer.writerows(rows[split])
    report = import_dataset(ImportConfig(layout="kinetics", source=tmp_path, out=tmp_path / "store", frames=8,
                                         size=48, workers=2), progress=False)
    assert report.imported == 6 and [f["reason"] for f in report.failed] == ["video file not found"]
    store = ClipStore.open(tmp_path / "store")
    assert store.meta.classes == ("abseiling", "air drumming")
    _check_clips(store, "test", seeds["val"])  # validate.csv: the test split
    assert store.meta.splits == {"train": 3, "val": 1, "test": 2}


def test_folder_per_class_with_and_without_split_folders(tmp_path: Path) -> None:
    for split in ("train", "test"):
        for c in ("cats", "dogs"):
            write_video(tmp_path / "split" / split / c / f"{c}.mp4", make_frames(FRAMES, H, W, 1))
    for c in ("cats", "dogs"):
        for k in range(10):
            write_video(tmp_path / "flat" / c / f"{k}.mp4", make_frames(12, H, W, k))
    report = import_dataset(ImportConfig(layout="folder", source=tmp_path / "split", out=tmp_path / "a", frames=4,
                                         size=48, workers=1), progress=False)
    assert report.clips == {"train": 1, "val": 1, "test": 2}  # val carved from train/
    report = import_dataset(ImportConfig(layout="folder", source=tmp_path / "flat", out=tmp_path / "b", frames=4,
                                         size=48, workers=2, test_percent=30), progress=False)
    assert report.imported == 20 and 0 < report.clips["test"] < 20 and report.clips["val"] > 0
    assert sum(report.clips.values()) == 20
    again = import_dataset(ImportConfig(layout="folder", source=tmp_path / "flat", out=tmp_path / "c", frames=4,
                                        size=48, workers=1, test_percent=30), progress=False)
    assert again.clips == report.clips  # the test share and the val carve are deterministic
    (tmp_path / "split" / "test").rename(tmp_path / "split" / "val")
    with pytest.raises(LayoutError, match="split folders must include train/ and test/"):
        import_dataset(ImportConfig(layout="folder", source=tmp_path / "split", out=tmp_path / "d"), progress=False)


@pytest.mark.parametrize("write, pattern", [
    (lambda s: (s / "classInd.txt").write_text("1 A\nB\n"), r"classInd.txt line 2: expected 'index ClassName'"),
    (lambda s: (s / "trainlist01.txt").write_text("Nowhere/v.avi 1\n"), r"trainlist01.txt line 1: expected"),
    (lambda s: (s / "testlist01.txt").unlink(), r"missing split file .*testlist01.txt"),
])
def test_bad_split_files_are_one_line_errors(tmp_path: Path, write, pattern: str) -> None:
    _ucf(tmp_path)
    write(tmp_path / "ucfTrainTestlist")
    with pytest.raises(LayoutError, match=pattern):
        import_dataset(ImportConfig(layout="ucf101", source=tmp_path / "UCF-101", out=tmp_path / "s"), progress=False)


@pytest.mark.slow  # encodes and imports real videos twice (6 s)
def test_a_killed_import_resumes_without_losing_or_repeating_videos(tmp_path: Path) -> None:
    for c in ("a", "b"):
        for k in range(12):
            write_video(tmp_path / "src" / c / f"{k:02d}.mp4", make_frames(120, 96, 128, k))
    out = tmp_path / "store"
    cmd = [sys.executable, "-m", "search.cli.main", "data", "import", str(tmp_path / "src"), "--layout", "folder",
           "--out", str(out), "--frames", "8", "--size", "48", "--workers", "1", "--chunk", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and len(list((out / "parts").glob("*.json"))) < 4:
        time.sleep(0.05)
    import os
    os.killpg(proc.pid, signal.SIGKILL)  # the CLI and its decoding worker, as a crash would
    proc.wait()
    done_before = len(list((out / "parts").glob("*-*.json")))  # settings.json has no dash
    assert 3 <= done_before < 24, "the import should have been killed midway"
    code = main(cmd[3:])
    assert code == 0
    report = json.loads((out / "import_report.json").read_text())
    assert report["resumed_chunks"] >= done_before and report["imported"] == 24
    store = ClipStore.open(out)
    ids = [v for split in ("train", "val", "test") for v in store.video_ids(split)]
    assert sorted(ids) == sorted(f"{c}/{k:02d}" for c in "ab" for k in range(12))  # each once


def test_import_cli_reports_failures_and_info_counts(tmp_path: Path, capsys) -> None:
    _ucf(tmp_path)
    write_corrupt(tmp_path / "UCF-101" / "Basketball" / "v_Basketball_g09_c01.avi", "garbage")
    with (tmp_path / "ucfTrainTestlist" / "trainlist01.txt").open("a") as f:
        f.write("Basketball/v_Basketball_g09_c01.avi 2\n")
    code = main(["data", "import", str(tmp_path / "UCF-101"), "--layout", "ucf101", "--out", str(tmp_path / "s"),
                 "--frames", "8", "--size", "48", "--workers", "1"])
    out = capsys.readouterr().out
    assert code == 0 and "imported 10 of 11 videos" in out and "1 videos left out" in out
    assert main(["data", "info", str(tmp_path / "s")]) == 0
    info = capsys.readouterr().out
    assert "2 classes" in info and "ApplyLipstick" in info
    total = [line for line in info.splitlines() if line.startswith("total")][0].split()
    assert len(total) == 4 and total[3] == "2" and sum(map(int, total[1:])) == 10  # train, val, test
