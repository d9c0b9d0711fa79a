"""What the benchmarks share: the clip store they measure on."""
from __future__ import annotations

from pathlib import Path

from search.data.synth import write_synth


def store_or_synth(given: Path | None, tmp: str, *, size: str = "demo", seed: int = 0) -> Path:
    """`given`, or the built-in benchmark at `size` generated into the temporary directory."""
    if given is not None:
        return given
    root = Path(tmp) / f"synth-{size}"
    write_synth(root, size_name=size, seed=seed, progress=False)
    return root
