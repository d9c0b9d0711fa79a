from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from search.data.loader import MEAN, STD, ClipDataset, EpochSampler, make_loader
from search.data.store import ClipStore, StoreMeta, clips_to_batch, write_meta, write_split
from search.data.synth import write_synth


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tiny") / "store"
    write_synth(root, size_name="tiny", seed=0, workers=1, progress=False)
    return root


def test_eval_batches_are_normalized_clips_in_bcthw(tiny: Path) -> None:
    ds = ClipDataset(tiny, "val")
    batch = ds.__getitems__([3, 0, 7]).prepare()
    assert batch.clips.shape == (3, 3, 16, 32, 32) and batch.clips.dtype == torch.float32
    raw = ClipStore.open(tiny).clip("val", 0)  # (T, H, W, 3) uint8
    expected = (torch.from_numpy(raw.copy()).permute(3, 0, 1, 2).float() / 255 - MEAN[0]) / STD[0]
    torch.testing.assert_close(batch.clips[1], expected)
    assert batch.labels.tolist() == [3, 0, 1]  # label = index mod 6
    assert batch.groups.tolist() == [1, 0, 0]  # appearance, motion, order = 0, 1, 2


def test_epochs_shuffle_with_a_seed_and_cover_every_clip(tiny: Path) -> None:
    sampler = EpochSampler(96, seed=5)
    first = list(sampler)
    assert sorted(first) == list(range(96)) and first == list(EpochSampler(96, seed=5))
    sampler.set_epoch(1)
    assert list(sampler) != first and sorted(sampler) == list(range(96))
    assert list(EpochSampler(5, shuffle=False)) == [0, 1, 2, 3, 4]


def test_worker_processes_give_the_same_batches(tiny: Path) -> None:
    """Two reader processes (real DataLoader workers) yield what one process yields, augmentation
    included: it is a function of the seed and the batch's indices only."""
    def epoch(workers: int) -> list:
        loader = make_loader(ClipDataset(tiny, "train", train=True, seed=3), batch_size=16, seed=3, workers=workers)
        loader.sampler.set_epoch(2)
        return [(b.prepare().clips, b.labels) for b in loader]
    single, multi = epoch(0), epoch(2)
    assert len(single) == 6  # 96 clips, batches of 16
    for (c1, l1), (c2, l2) in zip(single, multi):
        assert torch.equal(l1, l2) and torch.equal(c1, c2)


def test_training_augments_but_never_flips_a_flip_unsafe_store(tiny: Path) -> None:
    plain = ClipDataset(tiny, "train").__getitems__([0, 1]).prepare()
    augmented = ClipDataset(tiny, "train", train=True).__getitems__([0, 1]).prepare()
    assert augmented.clips.shape == plain.clips.shape and not torch.equal(augmented.clips, plain.clips)
    assert ClipDataset(tiny, "train", train=True).flip is False
    with pytest.raises(ValueError, match="flip_safe=false"):
        ClipDataset(tiny, "train", train=True, flip=True)
    resized = ClipDataset(tiny, "val", crop=48).__getitems__([0]).prepare()
    assert resized.clips.shape == (1, 3, 16, 48, 48)


def test_crops_resize_like_interpolate_and_flips_mirror(tiny: Path) -> None:
    """The batched affine resample equals cropping then bilinear resizing each clip (inside the
    box: at its edges it reads the real neighbours where interpolate repeats the edge)."""
    from torch.nn import functional as F
    raw = ClipDataset(tiny, "val").__getitems__([0, 1])
    raw.boxes = torch.tensor([[8.0, 4.0, 16.0, 16.0], [0.0, 0.0, 32.0, 32.0]])
    raw.flips = torch.tensor([False, True])
    out = raw.prepare().clips
    x = raw.clips.permute(0, 4, 1, 2, 3).float()
    box = F.interpolate(x[0, :, :, 8:24, 4:20], size=(32, 32), mode="bilinear", align_corners=False)
    torch.testing.assert_close(out[0][..., 2:-2, 2:-2], ((box / 255 - 0.45) / 0.225)[..., 2:-2, 2:-2],
                               atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(out[1], ((x[1] / 255 - 0.45) / 0.225).flip(-1), atol=1e-4, rtol=1e-4)


def test_flip_safe_stores_flip_half_the_clips(tmp_path: Path) -> None:
    meta = StoreMeta(name="f", frames=2, height=8, width=8, classes=("a",), groups=("all",), flip_safe=True)
    clip = np.zeros((64, 2, 8, 8, 3), np.uint8)
    clip[..., :4, :] = 255  # left half white
    write_split(tmp_path / "train.arrow", meta, [clips_to_batch(meta, clip, [0] * 64, ["v"] * 64, [0] * 64)])
    write_meta(tmp_path, StoreMeta(**{**meta.__dict__, "splits": {"train": 64}}))
    ds = ClipDataset(tmp_path, "train", train=True, min_area=1.0)  # full-frame crops: only flips change pixels
    clips = ds.__getitems__(list(range(64))).prepare().clips
    flipped = (clips[:, 0, 0, 0, 0] < clips[:, 0, 0, 0, -1]).float().mean().item()
    assert 0.25 < flipped < 0.75


def test_fewer_frames_than_stored_are_strided_views(tiny: Path) -> None:
    full = ClipDataset(tiny, "val").__getitems__([2]).prepare().clips
    half = ClipDataset(tiny, "val", frames=8).__getitems__([2]).prepare()
    assert half.clips.shape == (2, 3, 8, 32, 32) and half.views == 2 and half.labels.shape == (1,)
    torch.testing.assert_close(half.clips[0], full[0, :, 0::2])  # both start offsets, adjacent
    torch.testing.assert_close(half.clips[1], full[0, :, 1::2])
    quarter = ClipDataset(tiny, "val", frames=4).__getitems__([2, 5]).prepare()
    assert quarter.clips.shape == (8, 3, 4, 32, 32) and quarter.views == 4
    torch.testing.assert_close(quarter.clips[3], full[0, :, 3::4])
    with pytest.raises(ValueError, match="frames must be in 1..16"):
        ClipDataset(tiny, "val", frames=32)
