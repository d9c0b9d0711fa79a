"""The backbone families: one module each, and this registry that names them.

A family module (`spaces/families/inception.py`, ...) holds everything about its family: the
block spec, how a block is built and scaled, how a stage downsamples, which block fields the
sampler chooses per stage, its part of the slug, its skeletons for the sampler and its presets,
all in one `FAMILY = FamilyDef(...)`. The registry maps a name to the module and imports it when
the family is first asked for, so listing names loads nothing.

How to add a family: copy the smallest one (`resnet.py`), change what differs, and add one
line to `REGISTRY` (or call `register(name, module)` from your own code);
`tests/spaces/test_extend.py` adds a toy one from a temporary module.

Example:
    >>> from spaces import families
    >>> families.get("vov").stage_choices
    ('tosa_depth', 'squeeze_excite')
"""
from __future__ import annotations

import importlib
from typing import Any, ClassVar

from spaces.schema import Registered, SpecError

REGISTRY: dict[str, str] = {
    "inception": "spaces.families.inception",  # I3D / S3D / S3D-G: Mixed blocks, max-pool downsampling
    "vov": "spaces.families.vov",  # VoV3D: T-OSA blocks of D(2+1)D layers, strided convs
    "resnet": "spaces.families.resnet",  # TSN / SmallBigNet: bottleneck blocks, strided convs
    "x3d": "spaces.families.x3d",  # X3D: channelwise 3x3x3 bottlenecks, SE, swish, strided convs
}


class Family(Registered):
    """The name of a registered backbone family."""

    _members: ClassVar[dict[str, Family]] = {}

    @classmethod
    def _names(cls) -> dict[str, Registered]:
        for name in REGISTRY:
            if name not in cls._members:
                cls._members[name] = cls._make(name)
        return cls._members


def register(name: str, module: str) -> Family:
    """Add family `name`, defined by `FAMILY` in `module` (imported when first used)."""
    if name in REGISTRY and REGISTRY[name] != module:
        raise SpecError("family", name, f"is registered already (by {REGISTRY[name]}); registered: "
                        f"{', '.join(REGISTRY)}")
    REGISTRY[name] = module
    return Family(name)


def names() -> list[str]:
    return list(REGISTRY)


def get(name: str) -> Any:
    """The `FamilyDef` of family `name` (an error lists the registered ones)."""
    if name not in REGISTRY:
        raise SpecError("family", name, f"unknown family; registered: {', '.join(REGISTRY)}")
    definition = importlib.import_module(REGISTRY[name]).FAMILY
    if definition.name != name:
        raise SpecError("family", name, f"{REGISTRY[name]}.FAMILY is named {definition.name!r}")
    return definition


def all_definitions() -> list[Any]:
    """Every registered family's `FamilyDef`, in registry order (imports them all)."""
    return [get(name) for name in REGISTRY]


def gather(attr: str, into: dict[str, Any]) -> dict[str, Any]:
    """`into` (updated in place, so those who imported it see families registered later) with the
    entries of every family's `attr` (`presets`, `backbones`); a name two families declare is an error."""
    for definition in all_definitions():
        for name, value in getattr(definition, attr).items():
            if into.setdefault(name, value) is not value:
                raise SpecError(attr, name, f"is declared by two families (one: {definition.name})")
    return into
