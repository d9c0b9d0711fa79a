"""PyTorch access to a clip store: batched random reads, seeded per-epoch shuffling, augmentation.

Example:
    >>> ds = ClipDataset("data/synth-demo", "train", train=True)  # doctest: +SKIP
    >>> loader = make_loader(ds, batch_size=32, seed=0)           # doctest: +SKIP
    >>> for epoch in range(3):                                    # doctest: +SKIP
    ...     loader.sampler.set_epoch(epoch)
    ...     for batch in loader: ...   # batch.clips (B, 3, T, H, W) float, .labels, .groups
"""
from __future__ import annotations

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


@dataclass
class ClipBatch:
    clips: torch.Tensor  # (B, 3, T, H, W) float32, normalized
    labels: torch.Tensor  # (B,) int64
    groups: torch.Tensor  # (B,) int64: index into the store's group names

    def pin_memory(self) -> ClipBatch:
        return ClipBatch(self.clips.pin_memory(), self.labels.pin_memory(), self.groups.pin_memory())

    def __len__(self) -> int:
        return len(self.labels)


class ClipDataset(Dataset):
    """One split of a clip store. Training adds a random crop of 60-100% of the frame's area
    (aspect 3/4..4/3) resized back, and a horizontal flip where the store says it keeps labels;
    evaluation takes a center crop. `crop` resizes to another size (default: the stored size);
    `frames` takes that many frames, evenly spaced, from longer stored clips.

    Fetching is batched (`__getitems__`): DataLoader hands a whole batch of indices at once.
    Augmentation randomness is a pure function of (seed, the batch's indices): the same
    seed and epoch give the same batches whatever the number of workers.
    """

    def __init__(self, store: ClipStore | str | os.PathLike[str], split: str, *, train: bool = False,
                 crop: int | None = None, frames: int | None = None, min_area: float = 0.6,
                 flip: bool | None = None, seed: int = 0) -> None:
        self.store = store if isinstance(store, ClipStore) else ClipStore.open(store)
        self.split, self.train, self.seed, self.min_area = split, train, seed, min_area
        meta = self.store.meta
        self.crop = crop or min(meta.height, meta.width)
        frames = frames or meta.frames
        if not 1 <= frames <= meta.frames:
            raise ValueError(f"frames must be in 1..{meta.frames} (the store's clip length), got {frames}")
        # fewer frames than stored: uniformly spaced, centred in their segments
        self.frame_index = None if frames == meta.frames else ((np.arange(frames) + 0.5) * meta.frames / frames).astype(int)
        self.flip = (train and meta.flip_safe) if flip is None else flip
        if self.flip and not meta.flip_safe:
            raise ValueError(f"store {meta.name!r} says a horizontal flip changes labels (flip_safe=false)")
        self.group_of_class = np.array([meta.group_names.index(g) for g in meta.groups], dtype=np.int64)
        self.labels = self.store.labels(split)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> ClipBatch:
        return self.__getitems__([index])

    def __getitems__(self, indices: list[int]) -> ClipBatch:
        raw = self.store.clips(self.split, indices)  # (B, T, H, W, 3) uint8
        if self.frame_index is not None:
            raw = raw[:, self.frame_index]
        raw = torch.from_numpy(raw)
        clips = raw.permute(0, 4, 1, 2, 3).float().div_(255)  # (B, 3, T, H, W)
        if self.train:
            rng = np.random.default_rng([self.seed, *indices[:8], len(indices)])
            clips = torch.stack([self._augment(c, rng) for c in clips])
        else:
            clips = _center_crop(clips, self.crop)
        mean = torch.tensor(MEAN).view(1, 3, 1, 1, 1)
        std = torch.tensor(STD).view(1, 3, 1, 1, 1)
        labels = torch.from_numpy(self.labels[indices])
        return ClipBatch((clips - mean) / std, labels, torch.from_numpy(self.group_of_class[labels.numpy()]))

    def _augment(self, clip: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        """Random resized crop (same box on every frame) and optional flip: (3, T, H, W)."""
        _, _, h, w = clip.shape
        area = rng.uniform(self.min_area, 1.0) * h * w
        aspect = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
        ch = int(min(h, round(np.sqrt(area / aspect))))
        cw = int(min(w, round(np.sqrt(area * aspect))))
        top, left = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
        box = clip[:, :, top:top + ch, left:left + cw]
        if (ch, cw) != (self.crop, self.crop):
            box = F.interpolate(box, size=(self.crop, self.crop), mode="bilinear", align_corners=False)
        if self.flip and rng.random() < 0.5:
            box = box.flip(-1)
        return box


def _center_crop(clips: torch.Tensor, size: int) -> torch.Tensor:
    """Resize the short side to `size` if it is smaller, then take the center `size` x `size`."""
    b, c, t, h, w = clips.shape
    if min(h, w) < size:
        scale = size / min(h, w)
        h, w = round(h * scale), round(w * scale)
        clips = F.interpolate(clips.flatten(1, 2), size=(h, w), mode="bilinear", align_corners=False)
        clips = clips.view(b, c, t, h, w)
    top, left = (h - size) // 2, (w - size) // 2
    return clips[..., top:top + size, left:left + size]


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
    """A DataLoader of `ClipBatch`es; shuffles (and drops the last partial batch) when training."""
    shuffle = dataset.train if shuffle is None else shuffle
    drop_last = dataset.train if drop_last is None else drop_last
    return DataLoader(dataset, batch_size=batch_size, sampler=EpochSampler(len(dataset), seed=seed, shuffle=shuffle),
                      num_workers=workers, collate_fn=_identity, drop_last=drop_last,
                      persistent_workers=workers > 0, pin_memory=torch.cuda.is_available())


def _identity(batch: ClipBatch) -> ClipBatch:
    return batch
