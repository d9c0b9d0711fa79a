"""PyTorch access to a clip store: batched random reads, seeded per-epoch shuffling, augmentation.

Example:
    >>> ds = ClipDataset("data/synth-demo", "train", train=True)  # doctest: +SKIP
    >>> loader = make_loader(ds, batch_size=32, seed=0)           # doctest: +SKIP
    >>> for epoch in range(3):                                    # doctest: +SKIP
    ...     loader.sampler.set_epoch(epoch)
    ...     for raw in loader:
    ...         batch = raw.prepare("cpu")  # batch.clips (B, 3, T, H, W) float, .labels, .groups
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset, Sampler

from search.data.store import ClipStore

# Kinetics-style normalization (pytorchvideo, SlowFast): per channel, on [0, 1] pixels
MEAN = (0.45, 0.45, 0.45)
STD = (0.225, 0.225, 0.225)


MAX_TEMPORAL_VIEWS = 4  # evaluation views per clip at most (all start offsets when there are fewer)


def temporal_offsets(stored: int, frames: int) -> tuple[int, int]:
    """Sampling `frames` of `stored` frames: the stride (`stored // frames`) and the last valid
    start offset. A view is frames `o, o + stride, ...` for a start `o` in `0..last`.

    The time-reversal property: frame `i` of a reversed clip is frame `stored - 1 - i` of the
    original, so the reversed clip's view at `o` is the original's view at `last - o`, reversed.
    Any set of offsets closed under `o -> last - o` (all of them, as training draws them, or
    `view_offsets`) gives a reversed clip exactly the reversed views of its original.
    """
    if not 1 <= frames <= stored:
        raise ValueError(f"frames must be in 1..{stored} (the store's clip length), got {frames}")
    stride = stored // frames
    return stride, stored - 1 - (frames - 1) * stride


def view_offsets(stored: int, frames: int, max_views: int = MAX_TEMPORAL_VIEWS) -> np.ndarray:
    """Evaluation start offsets: all of them if there are at most `max_views`, else `max_views`
    spread evenly and symmetric under `o -> last - o` (one fewer, or two, where the middle
    offset would not be a whole frame).

    Example:
        >>> view_offsets(16, 8).tolist(), view_offsets(16, 16).tolist(), view_offsets(16, 1).tolist()
        ([0, 1], [0], [0, 5, 10, 15])
    """
    _, last = temporal_offsets(stored, frames)
    if last + 1 <= max_views:
        return np.arange(last + 1)
    k = max_views if max_views % 2 == 0 or last % 2 == 0 else max_views - 1
    k = max(k, 2 if last % 2 else 1)
    if k == 1:
        return np.array([last // 2])
    half = [math.floor(i * last / (k - 1)) for i in range(k // 2)]
    return np.array(half + ([last // 2] if k % 2 else []) + [last - o for o in reversed(half)])


def eval_views(stored: int, frames: int) -> int:
    """Evaluation views per clip for `frames` of a store's `stored` frames (one spatial crop): what
    evaluating one clip costs, in forward passes. Known before a network trains.

    Example:
        >>> eval_views(16, 16), eval_views(16, 8), eval_views(16, 4)
        (1, 2, 4)
    """
    return len(view_offsets(stored, frames))


@dataclass
class ClipBatch:
    clips: torch.Tensor  # (B * views, 3, T, H, W) float32, normalized; a clip's views are adjacent
    labels: torch.Tensor  # (B,) int64
    groups: torch.Tensor  # (B,) int64: index into the store's group names
    views: int = 1  # evaluation views per clip (temporal offsets x spatial crops)

    def __len__(self) -> int:
        return len(self.labels)


@dataclass
class RawBatch:
    """What a reader ships: uint8 clips and where to crop them. `prepare` does the float work in
    one batched call on the consumer's device (4x less data between processes, or to the GPU)."""

    clips: torch.Tensor  # (B * views, T, H, W, 3) uint8
    labels: torch.Tensor  # (B,) int64
    groups: torch.Tensor  # (B,) int64
    boxes: torch.Tensor  # (B * views, 4) float: crop box (top, left, height, width) in pixels
    flips: torch.Tensor  # (B * views,) bool: mirror horizontally
    crop: int  # output size
    views: int = 1

    def __len__(self) -> int:
        return len(self.labels)

    def pin_memory(self) -> RawBatch:
        """Page-locked copies (the DataLoader calls this when CUDA is present), so that `prepare`'s
        copies to the GPU are asynchronous."""
        return RawBatch(self.clips.pin_memory(), self.labels.pin_memory(), self.groups.pin_memory(),
                        self.boxes.pin_memory(), self.flips.pin_memory(), self.crop, self.views)

    def prepare(self, device: torch.device | str = "cpu", *, channels_last: bool = False) -> ClipBatch:
        """Normalize, crop, resize (bilinear), mirror: (B, 3, T, crop, crop) float32.

        The stored layout (B, T, H, W, 3) is already channels_last_3d's memory order, so an
        uncropped batch becomes the model's input without a copy. Nothing here waits for the
        device: whether to resample is decided on the host tensors, and copies are non-blocking
        (asynchronous from pinned memory).
        """
        device = torch.device(device)
        b, t, h, w, _ = self.clips.shape
        identity = (h, w) == (self.crop, self.crop) and not bool(self.flips.any()) and bool(
            (self.boxes == torch.tensor([0.0, 0.0, h, w])).all())
        x = self.clips.to(device, non_blocking=True).float()  # (B, T, H, W, 3)
        if len(set(MEAN)) == len(set(STD)) == 1:  # one scalar op (4x faster than a broadcast over 3)
            x.mul_(1 / (255 * STD[0])).sub_(MEAN[0] / STD[0])
        else:
            x.mul_(torch.tensor([1 / (255 * s) for s in STD], device=device))
            x.sub_(torch.tensor([m / s for m, s in zip(MEAN, STD)], device=device))
        if not identity:
            # one affine resample for the whole batch: output [-1, 1] -> the box, mirrored if flipped
            # (normalizing first is exact: bilinear weights sum to one)
            top, left, bh, bw = self.boxes.to(device, non_blocking=True).unbind(1)
            sign = 1.0 - 2.0 * self.flips.to(device, non_blocking=True).float()
            theta = torch.zeros(b, 2, 3, device=device)
            theta[:, 0, 0], theta[:, 0, 2] = sign * bw / w, (2 * left + bw) / w - 1
            theta[:, 1, 1], theta[:, 1, 2] = bh / h, (2 * top + bh) / h - 1
            grid = F.affine_grid(theta, [b, 1, self.crop, self.crop], align_corners=False)
            planes = x.permute(0, 1, 4, 2, 3).reshape(b, t * 3, h, w)  # (B, T*3, H, W)
            x = F.grid_sample(planes, grid, mode="bilinear", padding_mode="border", align_corners=False)
            x = x.view(b, t, 3, self.crop, self.crop).permute(0, 1, 3, 4, 2)  # (B, T, crop, crop, 3)
            if channels_last:
                x = x.contiguous()
        x = x.permute(0, 4, 1, 2, 3)  # (B, 3, T, H, W), channels_last_3d strides if x was contiguous
        x = x.contiguous(memory_format=torch.channels_last_3d if channels_last else torch.contiguous_format)
        return ClipBatch(x, self.labels.to(device, non_blocking=True), self.groups.to(device, non_blocking=True),
                         self.views)


class ClipDataset(Dataset):
    """One split of a clip store. Training adds a random crop of 60-100% of the frame's area
    (aspect 3/4..4/3) resized back, and a horizontal flip where the store says it keeps labels;
    evaluation takes the central square. `crop` resizes to another size (default: the stored
    size). `frames` takes that many frames at a stride of `stored // frames` from longer stored
    clips: training from a random start offset, evaluation from several (`view_offsets`, at most
    `temporal_views`), whose logits the evaluation averages. Both are closed under time reversal
    (`temporal_offsets`): a clip reversed in time gets exactly its original's views, reversed,
    at every frame count, so a model blind to frame order cannot tell a clip from its reversal.

    Fetching is batched (`__getitems__`) and yields `RawBatch`es; call `.prepare(device)` on
    them. Augmentation randomness is a pure function of (seed, the batch's indices): the same
    seed and epoch give the same batches whatever the number of workers.
    """

    def __init__(self, store: ClipStore | str | os.PathLike[str], split: str, *, train: bool = False,
                 crop: int | None = None, frames: int | None = None, min_area: float = 0.6,
                 flip: bool | None = None, seed: int = 0, temporal_views: int = MAX_TEMPORAL_VIEWS) -> None:
        self.store = store if isinstance(store, ClipStore) else ClipStore.open(store)
        self.split, self.train, self.seed, self.min_area = split, train, seed, min_area
        meta = self.store.meta
        self.crop = crop or min(meta.height, meta.width)
        self.frames = frames or meta.frames
        self.stride, self.last_offset = temporal_offsets(meta.frames, self.frames)
        self.offsets = view_offsets(meta.frames, self.frames, temporal_views)
        self.views = 1 if train else len(self.offsets)  # spatial: 1 (the central square)
        self.flip = (train and meta.flip_safe) if flip is None else flip
        if self.flip and not meta.flip_safe:
            raise ValueError(f"store {meta.name!r} says a horizontal flip changes labels (flip_safe=false)")
        self.group_of_class = np.array([meta.group_names.index(g) for g in meta.groups], dtype=np.int64)
        self.labels = self.store.labels(split)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> RawBatch:
        return self.__getitems__([index])

    def __getitems__(self, indices: list[int]) -> RawBatch:
        raw = self.store.clips(self.split, indices)  # (B, T, H, W, 3) uint8
        n, h, w = len(indices), raw.shape[2], raw.shape[3]
        rng = np.random.default_rng([self.seed, *indices[:8], n])
        steps = np.arange(self.frames) * self.stride
        if self.frames < self.store.meta.frames and self.train:  # one random start per clip
            starts = rng.integers(0, self.last_offset + 1, n)
            raw = raw[np.arange(n)[:, None], starts[:, None] + steps]  # (B, frames, H, W, 3)
        elif self.frames < self.store.meta.frames:  # every view of a clip, adjacent
            raw = raw[:, self.offsets[:, None] + steps].reshape(n * self.views, self.frames, h, w, 3)
        if self.train:
            area = rng.uniform(self.min_area, 1.0, n) * h * w
            aspect = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3), n))
            bh, bw = np.minimum(h, np.sqrt(area / aspect)), np.minimum(w, np.sqrt(area * aspect))
            boxes = np.stack([rng.uniform(0, 1, n) * (h - bh), rng.uniform(0, 1, n) * (w - bw), bh, bw], axis=1)
            flips = (rng.random(n) < 0.5) & self.flip
        else:  # the central square
            side = min(h, w)
            boxes = np.tile([(h - side) / 2, (w - side) / 2, side, side], (n * self.views, 1))
            flips = np.zeros(n * self.views, bool)
        labels = torch.from_numpy(self.labels[indices])
        return RawBatch(torch.from_numpy(np.ascontiguousarray(raw)), labels,
                        torch.from_numpy(self.group_of_class[labels.numpy()]), torch.from_numpy(boxes.astype(np.float32)),
                        torch.from_numpy(flips), self.crop, self.views)


class EpochSampler(Sampler[int]):
    """A seeded permutation per epoch (`set_epoch`), or the store order when not shuffling."""

    def __init__(self, length: int, *, seed: int = 0, shuffle: bool = True) -> None:
        self.length, self.seed, self.shuffle, self.epoch = length, seed, shuffle, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        if not self.shuffle:
            return iter(range(self.length))
        return iter(np.random.default_rng([self.seed, self.epoch]).permutation(self.length).tolist())

    def __len__(self) -> int:
        return self.length


def make_loader(dataset: ClipDataset, *, batch_size: int, seed: int = 0, shuffle: bool | None = None,
                workers: int = 0, drop_last: bool | None = None) -> DataLoader:
    """A DataLoader of `RawBatch`es; shuffles (and drops the last partial batch) when training."""
    shuffle = dataset.train if shuffle is None else shuffle
    drop_last = dataset.train if drop_last is None else drop_last
    return DataLoader(dataset, batch_size=batch_size, sampler=EpochSampler(len(dataset), seed=seed, shuffle=shuffle),
                      num_workers=workers, collate_fn=_identity, drop_last=drop_last,
                      persistent_workers=workers > 0, pin_memory=torch.cuda.is_available())


def _identity(batch: RawBatch) -> RawBatch:
    return batch
