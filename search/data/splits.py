"""Three splits, one protocol: `train` fits, `val` selects, `test` reports.

Every store holds train / val / test. Whatever *selects* (MO-ASHA rungs, the Pareto front,
warm-start order, `export --best/--pareto`, a study's retrained front) reads `val` only; whatever
is *reported as a result* (study verdicts, `vidnas train`, export cards) reads `test`, computed
once at the end of a run.

Real datasets ship two lists: UCF101 and HMDB51 a train and a test list; SSv2 and Kinetics a
train and a validation list (their test labels are withheld, so the validation list is the test
set). The official held-out list becomes `test`, and `val` is carved from the training list by
*group*: clips cut from one source video (UCF101's `gNN`, HMDB51's source title, Kinetics'
YouTube id) never sit on both sides. The carve is seeded and recorded in `meta.json`.

Example:
    >>> video_group("ucf101", "v_ApplyEyeMakeup_g08_c01")
    'g08'
    >>> video_group("kinetics", "abc_XYZ-12_000010_000020")
    'abc_XYZ-12'
    >>> video_group("hmdb51", "April_09_brush_hair_u_nm_np1_ba_goo_0", "brush_hair")
    'April_09'
"""
from __future__ import annotations

import hashlib
import re
from typing import Any, Sequence

import numpy as np

SELECT, REPORT = "val", "test"  # the split that selects, the split that reports
PROTOCOL = "train/val/test: val carved from train by group selects, the held-out list reports"
_UCF_GROUP = re.compile(r"_(g\d+)_c\d+$")


def video_group(layout: str, video_id: str, class_name: str = "") -> str:
    """The source a clip was cut from, for each layout: clips of one group stay on one side."""
    if layout == "ucf101":
        match = _UCF_GROUP.search(video_id)
        return match.group(1) if match else video_id
    if layout == "hmdb51":  # "<source title>_<class>_<visibility>_..._<n>"
        head, sep, _ = video_id.partition(f"_{class_name}_") if class_name else ("", "", "")
        return head if sep and head else video_id
    if layout == "kinetics":  # "<youtube id>_<start:06d>_<end:06d>"
        parts = video_id.rsplit("_", 2)
        return parts[0] if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit() else video_id
    return video_id  # ssv2, folder: every video is its own source


def carve(groups: Sequence[str], *, percent: int, seed: int) -> tuple[np.ndarray, dict[str, Any]]:
    """Choose whole groups for `val` from training items (one group name per item), about
    `percent`% of the items, in a seeded order. Returns a boolean mask (True = val) and the
    record for `meta.json`.

    Example:
        >>> mask, record = carve(["a", "a", "b", "b", "c", "c", "d", "d", "e", "e"], percent=20, seed=0)
        >>> int(mask.sum()), record["val_groups"]
        (2, 1)
    """
    if not 1 <= percent <= 50:
        raise ValueError(f"val percent must be in 1..50, got {percent}")
    names = sorted(set(groups))
    if len(names) < 2:
        raise ValueError(f"cannot carve val by group from {len(names)} group(s); need at least 2")
    order = np.random.default_rng(seed).permutation(len(names))
    sizes: dict[str, int] = {}
    for g in groups:
        sizes[g] = sizes.get(g, 0) + 1
    target, chosen, taken = len(groups) * percent / 100, [], 0
    for i in order:
        if taken >= target or len(chosen) == len(names) - 1:  # always leave train a group
            break
        chosen.append(names[i])
        taken += sizes[names[i]]
    picked = set(chosen)
    mask = np.array([g in picked for g in groups], dtype=bool)
    record = {"from": "train", "by": "group", "percent": percent, "seed": seed, "val_groups": len(chosen),
              "train_groups": len(names) - len(chosen), "val_items": int(mask.sum()),
              "groups_sha1": hashlib.sha1("\n".join(sorted(chosen)).encode()).hexdigest()}
    if len(chosen) <= 200:
        record["val_group_names"] = sorted(chosen)
    return mask, record
