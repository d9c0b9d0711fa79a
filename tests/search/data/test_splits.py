"""Three splits: the val carve by source group, and `vidnas data add-test` for older stores."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from search.cli.main import main
from search.data.migrate import add_test_split
from search.data.splits import carve, video_group
from search.data.store import ClipStore, StoreMeta, clips_to_batch, write_meta, write_split
from search.data.synth import write_synth


def test_the_carve_keeps_groups_whole_and_is_seeded() -> None:
    rng = np.random.default_rng(0)
    groups = [f"g{int(g):02d}" for g in rng.integers(0, 25, 2000)]
    mask, record = carve(groups, percent=20, seed=1)
    val, train = {g for g, m in zip(groups, mask) if m}, {g for g, m in zip(groups, mask) if not m}
    assert not val & train  # no source on both sides
    assert 0.15 < mask.mean() < 0.3 and record["val_items"] == int(mask.sum())
    assert record["val_group_names"] == sorted(val) and record["seed"] == 1 and record["percent"] == 20
    again, _ = carve(groups, percent=20, seed=1)
    other, _ = carve(groups, percent=20, seed=2)
    assert np.array_equal(mask, again) and not np.array_equal(mask, other)
    with pytest.raises(ValueError, match="at least 2"):
        carve(["only"] * 5, percent=20, seed=0)
    with pytest.raises(ValueError, match="1..50"):
        carve(groups, percent=80, seed=0)


@pytest.mark.parametrize("layout, video_id, cls, group", [
    ("ucf101", "v_Basketball_g08_c03", "Basketball", "g08"),
    ("hmdb51", "Catch_Me_If_You_Can_brush_hair_u_nm_np1_fr_goo_2", "brush_hair", "Catch_Me_If_You_Can"),
    ("kinetics", "-abc_DEF12_000030_000040", "abseiling", "-abc_DEF12"),
    ("ssv2", "12345", "x", "12345"),
    ("folder", "cats/3", "cats", "cats/3"),
])
def test_source_groups_per_layout(layout: str, video_id: str, cls: str, group: str) -> None:
    assert video_group(layout, video_id, cls) == group


def test_an_old_synth_store_gets_the_same_test_split_a_new_one_has(tmp_path: Path, capsys) -> None:
    new = write_synth(tmp_path / "new", size_name="tiny", seed=4, workers=1, progress=False)
    old_meta = write_synth(tmp_path / "old", size_name="tiny", seed=4, workers=1, progress=False, only=("train", "val"))
    write_meta(tmp_path / "old", StoreMeta(**{**old_meta.__dict__, "splits": {"train": 96, "val": 48}}))
    assert "test" not in ClipStore.open(tmp_path / "old").splits
    assert main(["data", "add-test", str(tmp_path / "old")]) == 0
    old, fresh = ClipStore.open(tmp_path / "old"), ClipStore.open(tmp_path / "new")
    assert old.meta.splits == new.splits == {"train": 96, "val": 48, "test": 48}
    assert np.array_equal(old.clips("test", range(48)), fresh.clips("test", range(48)))
    # its own seed stream: no test clip repeats a val clip
    assert not any(np.array_equal(fresh.clip("test", i), fresh.clip("val", i)) for i in range(48))
    assert main(["data", "add-test", str(tmp_path / "old")]) == 2
    assert "already has a test split" in capsys.readouterr().err


def test_an_old_imported_store_moves_val_to_test_and_carves_val_by_group(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    meta = StoreMeta(name="ucf", frames=2, height=4, width=4, classes=("A", "B"), groups=("all", "all"),
                     source={"importer": "vidnas data import", "layout": "ucf101"}, splits={"train": 20, "val": 4})
    root = tmp_path / "store"
    root.mkdir()
    ids = {"train": [f"v_{'AB'[i % 2]}_g{8 + i // 4:02d}_c{i % 4:02d}" for i in range(20)],
           "val": [f"v_A_g01_c{i:02d}" for i in range(4)]}
    clips = {s: rng.integers(0, 256, (len(v), 2, 4, 4, 3), dtype=np.uint8) for s, v in ids.items()}
    for split in ("train", "val"):
        write_split(root / f"{split}.arrow", meta, [clips_to_batch(meta, clips[split], [i % 2 for i in range(len(ids[split]))],
                                                                  ids[split], [0] * len(ids[split]))])
    write_meta(root, meta)
    new = add_test_split(root, val_percent=20, seed=0, progress=False)
    store = ClipStore.open(root)
    assert new.splits["test"] == 4 and new.splits["train"] + new.splits["val"] == 20 and new.splits["val"] >= 4
    assert store.video_ids("test") == ids["val"] and np.array_equal(store.clips("test", range(4)), clips["val"])
    group = lambda v: v.split("_")[2]  # noqa: E731
    assert not {group(v) for v in store.video_ids("val")} & {group(v) for v in store.video_ids("train")}
    assert sorted(store.video_ids("val") + store.video_ids("train")) == sorted(ids["train"])
    saved = json.loads((root / "meta.json").read_text())["source"]
    assert saved["val"]["by"] == "group" and saved["migrated"] == "vidnas data add-test"
