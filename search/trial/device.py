"""What a trial does to keep its device busy, and to share it.

- `device_batches`: batches moved to the device ahead of use: on CUDA the next batch is copied
  and prepared in a side stream while the current one computes (from pinned memory, so the copy is
  asynchronous); elsewhere, in line.
- `memory_fraction`: the caching allocator's cap for a trial that shares a GPU, less the memory
  each process's CUDA context takes outside the allocator.
- `DeviceLock`: an exclusive phase on a shared device. Training steps hold it shared; a latency
  measurement holds it exclusively, so neighbouring trials pause instead of timing each other.
- `configure_backends`: cuDNN picks the fastest convolution algorithms for the trial's shapes.

Torch only (no Ray, Optuna or MLflow): `bench/gpu.py` runs these on a machine that has only torch.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import torch

from search.data.loader import ClipBatch, RawBatch

# CUDA context, cuBLAS/cuDNN workspaces and kernels, outside the caching allocator: ~0.5-0.8 GiB
# per process on recent GPUs; the cap leaves this much of a trial's share for it.
CONTEXT_BYTES = 1 << 30


def device_batches(batches: Iterable[RawBatch], device: torch.device, *, channels_last: bool = False
                   ) -> Iterator[ClipBatch]:
    """`RawBatch`es prepared on `device`, one ahead on CUDA (a side stream: its copies and crops
    overlap the current step's compute)."""
    if device.type != "cuda":
        for raw in batches:
            yield raw.prepare(device, channels_last=channels_last)
        return
    side = torch.cuda.Stream(device)

    def ahead(raw: RawBatch | None) -> ClipBatch | None:
        if raw is None:
            return None
        with torch.cuda.stream(side):
            return raw.prepare(device, channels_last=channels_last)

    it = iter(batches)
    pending = ahead(next(it, None))
    while pending is not None:
        current = torch.cuda.current_stream(device)
        current.wait_stream(side)
        for tensor in (pending.clips, pending.labels, pending.groups):
            tensor.record_stream(current)  # made in the side stream, freed after use in this one
        batch, pending = pending, ahead(next(it, None))
        yield batch


def memory_fraction(gpus: float, total_bytes: int, context_bytes: int = CONTEXT_BYTES) -> float:
    """The allocator cap of a trial that holds `gpus` (< 1) of a GPU of `total_bytes`: its share
    less its process's context, so that the trials packed on one GPU fit together."""
    share = gpus * total_bytes - context_bytes
    if share <= 0:
        raise ValueError(f"gpus_per_trial={gpus:g} of a {total_bytes / 2**30:.1f} GiB GPU leaves no memory after "
                         f"the CUDA context ({context_bytes / 2**30:.1f} GiB per process); use a larger fraction")
    return share / total_bytes


def configure_backends(device: torch.device) -> None:
    """cuDNN autotuning (a trial's shapes are fixed, so the search pays off after a few steps) and
    TF32 matmuls for any float32 left outside autocast."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


class DeviceLock:
    """A readers-writer lock between the processes that share one device (file locks, so any
    process on the node takes part, and a dead one releases its hold).

    `shared()` around each training step, `exclusive()` around a measurement. The writer wins:
    an exclusive request takes the turnstile first, so new steps queue behind it, and it waits
    only for the steps in flight, each of which drains its queued GPU work when it sees a writer
    waiting (so the device is idle when the measurement starts, without a sync per step).
    """

    def __init__(self, name: str, directory: str | os.PathLike | None = None) -> None:
        base = Path(directory or tempfile.gettempdir())
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
        self.paths = (base / f"vidnas-device-{safe}.turnstile", base / f"vidnas-device-{safe}.lock")

    @classmethod
    def for_device(cls, device: torch.device) -> DeviceLock | None:
        """The lock of a CUDA device (named by its UUID, the same in every process on the node);
        None elsewhere."""
        if device.type != "cuda":
            return None
        index = device.index if device.index is not None else torch.cuda.current_device()
        return cls(f"cuda-{torch.cuda.get_device_properties(index).uuid}")

    @contextlib.contextmanager
    def _flock(self, path: Path, mode: int) -> Iterator[None]:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, mode)
            yield
        finally:
            os.close(fd)  # releases the lock

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        turnstile, lock = self.paths
        with self._flock(turnstile, fcntl.LOCK_EX):  # pass through; blocks while a writer waits
            pass
        with self._flock(lock, fcntl.LOCK_SH):
            yield
            if self.writer_waiting():  # drain this step's queued kernels before letting it measure
                _synchronize()

    def writer_waiting(self) -> bool:
        """Whether an exclusive request holds the turnstile (or, rarely, a step passes through it)."""
        fd = os.open(self.paths[0], os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return False
        except BlockingIOError:
            return True
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        turnstile, lock = self.paths
        with self._flock(turnstile, fcntl.LOCK_EX), self._flock(lock, fcntl.LOCK_EX):
            _synchronize()  # this process's own queued work, before the clock starts
            yield


def _synchronize() -> None:
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()
