from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from search.data.store import ClipStore
from search.data.synth import SIZES, class_pairs, class_table, clip_rng, render_clip, write_synth
from spaces import build, get_preset

DEMO = class_table(SIZES["demo"])


def _clip(cls, seed: int, index: int, split: str = "train") -> np.ndarray:
    return render_clip(cls, frames=16, size=32, rng=clip_rng(seed, split, index))


def test_every_size_has_all_three_kinds_of_classes() -> None:
    for size in SIZES.values():
        classes = class_table(size)
        groups = {c.group for c in classes}
        assert groups == {"appearance", "motion", "order"}
        assert len({c.name for c in classes}) == len(classes)
        for a, b in class_pairs(classes):
            assert classes[a].event == classes[b].event and not classes[a].reverse and classes[b].reverse
    assert len(DEMO) == 18


def test_generation_is_deterministic_per_seed() -> None:
    assert np.array_equal(_clip(DEMO[6], 0, 3), _clip(DEMO[6], 0, 3))
    assert not np.array_equal(_clip(DEMO[6], 0, 3), _clip(DEMO[6], 1, 3))
    assert not np.array_equal(_clip(DEMO[6], 0, 3), _clip(DEMO[6], 0, 3, split="val"))
    clip = _clip(DEMO[0], 0, 0)
    assert clip.shape == (16, 32, 32, 3) and clip.dtype == np.uint8
    assert clip.std() > 20  # cluttered, not a flat background


@pytest.mark.parametrize("pair", class_pairs(DEMO), ids=lambda p: f"{DEMO[p[0]].name}/{DEMO[p[1]].name}")
def test_a_clip_reversed_in_time_is_a_clip_of_the_paired_class(pair: tuple[int, int]) -> None:
    """The within-pair property: the partner class is the same scene in reverse frame order, so
    both classes have the same frames, only their order differs."""
    a, b = (DEMO[i] for i in pair)
    for seed in range(3):
        forward, backward = _clip(a, seed, 7), _clip(b, seed, 7)
        assert np.array_equal(backward, forward[::-1])
        frames_a = sorted(f.tobytes() for f in forward)
        frames_b = sorted(f.tobytes() for f in backward)
        assert frames_a == frames_b
        assert not np.array_equal(forward, backward)  # the order does differ


def test_order_blind_models_cannot_separate_a_pair_and_temporal_ones_can() -> None:
    """TSN (2D per frame, averaged) and SmallBig (per-frame convs + max pools that are symmetric
    in time) give identical outputs for a clip and its time-reversed partner: 50% within pairs is
    their ceiling on this benchmark. An I3D-like net is not bound by it."""
    a, b = DEMO[6], DEMO[7]  # move_right, move_left
    clips = torch.from_numpy(np.stack([_clip(a, 0, 1), _clip(b, 0, 1)])).permute(0, 4, 1, 2, 3).float() / 255
    for name, blind in (("tsn_r50", True), ("smallbig_r50", True), ("i3d", False)):
        spec = get_preset(name, frames=16, crop=32, num_classes=18).scaled(width=0.25, depth=0.5)
        torch.manual_seed(0)
        model = build(spec).eval()
        with torch.no_grad():
            for m in model.modules():  # non-trivial big-view norms (they start at zero)
                if isinstance(m, torch.nn.BatchNorm3d):
                    m.weight.uniform_(0.5, 1.5)
            out = model(clips)
        same = torch.allclose(out[0], out[1], atol=1e-5)
        assert same == blind, name


def test_write_synth_tiny(tmp_path: Path) -> None:
    meta = write_synth(tmp_path / "s", size_name="tiny", seed=3, workers=2, progress=False)
    store = ClipStore.open(tmp_path / "s")
    assert store.meta == meta and meta.flip_safe is False
    assert meta.splits == {"train": 96, "val": 48, "test": 48} and store.num_clips("train") == 96
    assert store.num_clips("test") == 48 and store.splits == ["train", "val", "test"]
    assert np.bincount(store.labels("train")).tolist() == [16] * 6
    classes = class_table(SIZES["tiny"])
    i = 13
    assert np.array_equal(store.clip("train", i), render_clip(classes[i % 6], frames=16, size=32,
                                                              rng=clip_rng(3, "train", i)))
    assert meta.pairs == ((2, 3), (4, 5)) and meta.groups[0] == "appearance"
