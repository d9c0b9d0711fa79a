"""The benchmark's key property at every frame count: a clip reversed in time gets exactly the
time reversals of its original's views, in training and in evaluation, so an order-blind model
(TSN, SmallBig, I2D-symmetric) cannot tell a clip from its reversal, whatever `frames` the space chooses."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from search.data.loader import ClipDataset, make_loader, temporal_offsets, view_offsets
from search.data.store import ClipStore, StoreMeta, clips_to_batch, write_meta, write_split
from search.data.synth import SIZES
from search.trial.loop import evaluate
from spaces import PRESETS, build, get_preset

# every clip length of the sizes a study or the demo uses: frames 1..T are all choosable
STORED = sorted({SIZES[s].frames for s in ("tiny", "demo", "medium")})


def _pair_store(root: Path, frames: int, n: int = 3) -> Path:
    """Clips 2k and 2k+1 are a random clip and its exact time reversal."""
    rng = np.random.default_rng(frames)
    clips = rng.integers(0, 256, (n, frames, 8, 8, 3), dtype=np.uint8)
    both = np.stack([x for c in clips for x in (c, c[::-1])])
    meta = StoreMeta(name="pairs", frames=frames, height=8, width=8, classes=("fwd", "rev"), groups=("o", "o"),
                     pairs=((0, 1),), flip_safe=False, splits={"val": len(both)})
    root.mkdir(parents=True)
    write_split(root / "val.arrow", meta, [clips_to_batch(meta, both, [0, 1] * n, [str(i) for i in range(len(both))],
                                                          [0] * len(both))])
    write_meta(root, meta)
    return root


@pytest.mark.parametrize("stored", STORED)
def test_every_start_offset_has_a_reversed_twin(stored: int) -> None:
    clip = np.arange(stored)  # frame i is i
    rev = clip[::-1]
    for frames in range(1, stored + 1):
        stride, last = temporal_offsets(stored, frames)
        steps = np.arange(frames) * stride
        assert last >= 0 and last + steps[-1] == stored - 1
        for o in range(last + 1):
            np.testing.assert_array_equal(rev[o + steps], clip[last - o + steps][::-1])
        views = view_offsets(stored, frames)
        np.testing.assert_array_equal(views, (last - views)[::-1])  # closed under o -> last - o
        assert len(views) == min(last + 1, 4)  # every offset, or 4 spread symmetrically
        assert len(set(views.tolist())) == len(views)


@pytest.mark.parametrize("stored", STORED)
def test_evaluation_views_of_a_reversed_clip_are_the_reversed_views(tmp_path: Path, stored: int) -> None:
    root = _pair_store(tmp_path / "s", stored)
    for frames in range(1, stored + 1):
        ds = ClipDataset(root, "val", frames=frames)
        raw = ds.__getitems__([0, 1]).clips.numpy()  # (2 * views, frames, H, W, 3)
        v = ds.views
        original, reversed_ = raw[:v], raw[v:]
        for k in range(v):  # the reversal's k-th view is the original's (v-1-k)-th, reversed in time
            np.testing.assert_array_equal(reversed_[k], original[v - 1 - k][::-1])


@pytest.mark.parametrize("frames", [3, 8, 16])
def test_training_draws_every_start_and_only_those(tmp_path: Path, frames: int) -> None:
    root = _pair_store(tmp_path / "s", 16, n=1)
    store = ClipStore.open(root)
    full = store.clip("val", 0)
    stride, last = temporal_offsets(16, frames)
    seen = set()
    for seed in range(200):
        ds = ClipDataset(store, "val", train=True, frames=frames, seed=seed, min_area=1.0)
        view = ds.__getitems__([0]).clips.numpy()[0]
        starts = [o for o in range(last + 1) if np.array_equal(view, full[o::stride][:frames])]
        assert len(starts) >= 1
        seen.add(starts[0])
    assert seen == set(range(last + 1))  # uniform draws over a set closed under o -> last - o


@pytest.mark.parametrize("preset", ["tsn_r50", "smallbig_r50", "i2d_symmetric"])
@pytest.mark.parametrize("frames", [8, 16])
def test_order_blind_presets_give_a_clip_and_its_reversal_the_same_logits(tmp_path: Path, preset: str,
                                                                          frames: int) -> None:
    """Through the evaluation path (views, averaging): TSN, SmallBig and I2D-symmetric at 8 of 16
    frames too (S3D's head averages windows of 2 frames: at most the 1 left at 8 frames)."""
    root = _pair_store(tmp_path / "s", 16, n=2)
    base = PRESETS[preset].spec
    head = dataclasses.replace(base.head, temporal_window=min(base.head.temporal_window, base.stage_frames(frames)[-1]))
    spec = get_preset(preset, frames=frames, crop=8, num_classes=2, head=head).scaled(width=0.125, depth=0.34)
    torch.manual_seed(0)
    model = build(spec).eval()
    ds = ClipDataset(root, "val", frames=frames)
    batch = ds.__getitems__([0, 1, 2, 3]).prepare()
    with torch.no_grad():
        logits = model(batch.clips).view(4, ds.views, -1).mean(1)
    torch.testing.assert_close(logits[0], logits[1], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(logits[2], logits[3], rtol=1e-4, atol=1e-5)
    metrics = evaluate(model, make_loader(ds, batch_size=4), device=torch.device("cpu"), group_names=("o",),
                       pairs=((0, 1),))
    assert metrics["views"] == ds.views and metrics["within_pair"] == 0.5  # one of each pair, exactly
