"""The papers' architectures as named points of the space, each citing its source.

Each family module (`spaces/families/`) declares its presets; this module lists them all.
Reference counts are multiply-adds (GMACs, what all three papers call "FLOPs") and parameters,
measured on the official/reference code at the preset's default input with 400 classes
(`../shared/PAPERS.md`). `tests/spaces/test_presets.py` measures ours against them.

Example:
    >>> from spaces import get_preset, list_presets
    >>> get_preset("s3d", frames=16).frames
    16
"""
from __future__ import annotations

import dataclasses
import difflib
from typing import Any

from spaces import families
from spaces.families.base import Preset
from spaces.spec import ArchSpec, SpecError

__all__ = ["PRESETS", "Preset", "get_preset", "list_presets"]


PRESETS: dict[str, Preset] = {}


def _collect() -> dict[str, Preset]:
    """PRESETS, with those of families registered since the last call added."""
    return families.gather("presets", PRESETS)


_collect()


def list_presets() -> list[str]:
    return list(_collect())


def unknown_preset(name: Any) -> str:
    """The rule an unknown preset name breaks, with the nearest names: short, unlike the whole list."""
    names = list_presets()
    near = difflib.get_close_matches(str(name), names, n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(near)}? " if near else ""
    return f"unknown preset; {hint}`vidnas presets --names-only` lists all {len(names)}"


def get_preset(name: str, **overrides: Any) -> ArchSpec:
    """The named preset, with top-level fields overridden (e.g. frames=16, num_classes=174). At
    other frames, kernels that would only see padding are cut (`ArchSpec.at_frames`), so the
    preset's weights load at any frame count (`load_weights(..., shorten=True)`)."""
    if name not in _collect():
        raise SpecError("preset", name, unknown_preset(name))
    spec = PRESETS[name].spec
    unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(spec)})
    if unknown:
        valid = ", ".join(f.name for f in dataclasses.fields(spec))
        raise SpecError(unknown[0], overrides[unknown[0]], f"unknown field; valid fields: {valid}")
    if "frames" in overrides:
        frames = overrides.pop("frames")
        if not isinstance(frames, int) or isinstance(frames, bool) or frames < 1:
            raise SpecError("frames", frames, "must be an integer >= 1")
        spec = spec.at_frames(frames)
    return spec.replace(**overrides) if overrides else spec
