"""What a family module declares (`FamilyDef`) and a preset (`Preset`). torch-free."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from spaces.schema import SpecError

# Every block spec of every family has these fields (the sampler and the slug read them).
BLOCK_FIELDS = ("temporal_op", "temporal_kernel", "big_view")
ENTRIES = ("stride", "pool")


@dataclass(frozen=True)
class Preset:
    spec: Any  # ArchSpec
    source: str  # paper and table / code the spec follows
    params: int | None = None  # reference parameter count at the default input, 400 classes
    gmacs: float | None = None  # reference multiply-adds (1e9) at the default input


@dataclass(frozen=True)
class FamilyDef:
    """Everything about one backbone family.

    - `block`: its block spec, a frozen dataclass with `out_channels` and the `BLOCK_FIELDS`.
    - `build_block(block, *, in_channels, stride, temporal_stride, frames, gate, gate_bias)`: the
      block's nn.Module (`frames` enter it); it imports torch itself, so this module stays light.
    - `scale_block(block, w, inner)`: the block with every width c replaced by w(c), its inner
      (bottleneck) widths by inner(c).
    - `enters_by`: how a stage downsamples: `stride` (its first block strides) or `pool` (a max
      pool before the blocks, as Inception's 3a, 4a, 5a).
    - `stage_choices`: block fields the sampler chooses per stage besides the form, the temporal
      kernel and the big view (each needs a `SpaceBounds` field, see `spaces.sample`).
    - `slug(spec)`: the family's part of `ArchSpec.slug` ("" for none).
    - `backbones`: skeletons the sampler scales and configures (every spatio-temporal conv 3D with
      the temporal kernel it takes when a sampled form gives it one).
    - `presets`: the papers' networks, each citing its source and reference counts.
    - `in_default_space`: whether `SpaceBounds` offers it when a config names no families.

    A module defines `FAMILY` before it makes its skeletons and presets (an ArchSpec looks its
    family up when it is validated), so it passes dicts it fills afterwards.
    """

    name: str
    block: type
    build_block: Callable[..., Any]
    scale_block: Callable[[Any, Callable[[int], int], Callable[[int], int]], Any]
    enters_by: str = "stride"
    stage_choices: tuple[str, ...] = ()
    slug: Callable[[Any], str] = lambda spec: ""
    backbones: Mapping[str, Any] = field(default_factory=dict)
    presets: Mapping[str, Preset] = field(default_factory=dict)
    in_default_space: bool = False

    def __post_init__(self) -> None:
        if not dataclasses.is_dataclass(self.block):
            raise SpecError(f"{self.name}.block", self.block, "must be a frozen dataclass")
        names = {f.name for f in dataclasses.fields(self.block)}
        missing = [n for n in BLOCK_FIELDS if n not in names]
        if "out_channels" not in names and not hasattr(self.block, "out_channels"):  # a field or a property
            missing.append("out_channels")
        if missing:
            raise SpecError(f"{self.name}.block", self.block.__name__, "must have the fields "
                            f"{', '.join(BLOCK_FIELDS)} and out_channels; missing: {', '.join(missing)}")
        if self.enters_by not in ENTRIES:
            raise SpecError(f"{self.name}.enters_by", self.enters_by, f"must be one of {', '.join(ENTRIES)}")
        for choice in self.stage_choices:
            if choice not in names:
                raise SpecError(f"{self.name}.stage_choices", choice, f"is not a field of {self.block.__name__}")
