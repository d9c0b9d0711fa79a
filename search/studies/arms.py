"""A study's arms as specs: a preset at the study's scale, with its block fields changed. Light
(no Ray, no MLflow): the GPU script of the studies (`bench/gpu_studies.py`) builds arms with it."""
from __future__ import annotations

import json

from search.data.store import StoreMeta
from search.engine.config import ConfigError
from search.studies.config import Arm, StudyConfig
from spaces import ArchSpec
from spaces.presets import get_preset
from spaces.schema import SpecError


def arm_spec(arm: Arm, cfg: StudyConfig, meta: StoreMeta) -> ArchSpec:
    """The arm's architecture for clips of a store with `meta` (its frames, size and classes)."""
    try:
        return _arm_spec(arm, cfg, meta)
    except SpecError as e:
        raise ConfigError(f"arm {arm.name}: {e}") from None


def _arm_spec(arm: Arm, cfg: StudyConfig, meta: StoreMeta) -> ArchSpec:
    frames = arm.frames or cfg.frames or meta.frames
    if frames > meta.frames:
        raise ConfigError(f"arm {arm.name}: frames={frames}, but the store's clips have {meta.frames} frames")
    spec = get_preset(arm.preset, frames=frames, crop=cfg.crop or min(meta.height, meta.width),
                      num_classes=len(meta.classes))
    spec = spec.scaled(width=arm.width or cfg.width, depth=arm.depth or cfg.depth)
    if arm.blocks:
        data = json.loads(spec.to_json())
        for stage in data["stages"]:
            for block in stage["blocks"]:
                for key, value in arm.blocks.items():
                    if key not in block:
                        raise ConfigError(f"arm {arm.name}: blocks.{key}: not a field of its blocks; "
                                          f"fields: {', '.join(block)}")
                    block[key] = value
        spec = ArchSpec.from_json(json.dumps(data))
    return spec
