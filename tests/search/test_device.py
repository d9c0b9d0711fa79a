"""Sharing a device between trials: the memory cap leaves room for each process's CUDA context,
and a latency measurement gets the device to itself (steps in flight finish, new ones wait)."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import torch

from search.data.loader import ClipDataset, make_loader
from search.data.store import ClipStore
from search.trial.device import CONTEXT_BYTES, DeviceLock, device_batches, memory_fraction


def test_the_memory_cap_leaves_each_process_its_context() -> None:
    total = 141 * 2**30  # an H200
    fraction = memory_fraction(0.25, total)
    assert fraction == pytest.approx((0.25 * total - CONTEXT_BYTES) / total)
    # four trials at 0.25: their caps and contexts fit in the GPU together
    assert 4 * (fraction * total + CONTEXT_BYTES) == pytest.approx(total)
    with pytest.raises(ValueError, match=r"gpus_per_trial=0.005 of a 141.0 GiB GPU leaves no memory after the CUDA "
                                         r"context \(1.0 GiB per process\); use a larger fraction"):
        memory_fraction(0.005, total)


def test_an_exclusive_phase_waits_for_the_steps_in_flight_and_holds_new_ones(tmp_path: Path) -> None:
    lock = DeviceLock("cuda-test", tmp_path)
    log: list[str] = []
    in_step, finish = threading.Event(), threading.Event()

    def first_step() -> None:
        with lock.shared():
            log.append("step 1 starts")
            in_step.set()
            finish.wait(30)
            log.append("step 1 ends")

    def measure() -> None:
        with lock.exclusive():
            log.append("measure")

    def second_step() -> None:
        with lock.shared():
            log.append("step 2")

    threads = [threading.Thread(target=first_step)]
    threads[0].start()
    assert in_step.wait(30)
    assert not lock.writer_waiting()
    threads.append(threading.Thread(target=measure))
    threads[1].start()
    deadline = time.monotonic() + 30
    while not lock.writer_waiting() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert lock.writer_waiting()  # the measurement waits for step 1...
    threads.append(threading.Thread(target=second_step))
    threads[2].start()
    time.sleep(0.3)
    assert log == ["step 1 starts"]  # ...and step 2 waits behind it
    finish.set()
    for t in threads:
        t.join(30)
    assert log == ["step 1 starts", "step 1 ends", "measure", "step 2"]
    assert not lock.writer_waiting()


def test_batches_on_the_cpu_are_prepared_in_line(store: str) -> None:
    dataset = ClipDataset(ClipStore.open(store), "val", crop=24)
    raws = list(make_loader(dataset, batch_size=8))
    moved = list(device_batches(raws, torch.device("cpu"), channels_last=True))
    assert len(moved) == len(raws) > 1
    for raw, batch in zip(raws, moved):
        expected = raw.prepare("cpu", channels_last=True)
        assert batch.clips.shape == expected.clips.shape == (len(raw), 3, raw.clips.shape[1], 24, 24)
        torch.testing.assert_close(batch.clips, expected.clips, rtol=0, atol=0)
        assert torch.equal(batch.labels, expected.labels)
