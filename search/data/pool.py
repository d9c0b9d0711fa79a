"""A process pool for decoding and generation: spawned workers (no fork of a parent that may
hold torch/OpenMP threads), at most 8 and at most the cores there are."""
from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor


def worker_pool(workers: int | None) -> ProcessPoolExecutor:
    count = workers or min(os.cpu_count() or 1, 8)
    return ProcessPoolExecutor(count, mp_context=multiprocessing.get_context("spawn"))
