from __future__ import annotations

import pytest

from search.data.synth import write_synth


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    """The tiny synthetic benchmark (6 classes, 16 x 32 x 32 clips), written once per module."""
    root = tmp_path_factory.mktemp("data") / "tiny"
    write_synth(root, size_name="tiny", seed=0, workers=1, progress=False)
    return str(root)
