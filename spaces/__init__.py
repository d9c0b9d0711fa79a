"""vidnas.spaces: the unified design space of S3D/S3D-G, VoV3D, SmallBigNet and X3D.

    spec (ArchSpec) -> build(spec) -> nn.Module;  cost(spec) -> params, GMACs;
    get_preset(name) -> the papers' architectures;  sample_arch(trial, bounds) -> ArchSpec.

Families live in `spaces/families/` (one module each, listed by `spaces.families.REGISTRY`),
temporal forms in `spaces/forms.py` (one registry entry each).
"""
import importlib
import sys
import types
from typing import Any

# Lazy (PEP 562): `from spaces import ArchSpec` loads the spec modules only, and torch is
# imported when something that needs it (build, cost, load) is first used.
_WHERE = {
    "VideoNet": "spaces.build", "build": "spaces.build",
    "Cost": "spaces.cost", "Latency": "spaces.cost", "cost": "spaces.cost", "measure_latency": "spaces.cost",
    "load": "spaces.load", "save": "spaces.load",
    "load_weights": "spaces.weights", "inflate": "spaces.inflate", "WeightsError": "spaces.weights", "WeightsSource": "spaces.weights",
    "PRESETS": "spaces.presets", "Preset": "spaces.presets", "get_preset": "spaces.presets",
    "list_presets": "spaces.presets",
    "Family": "spaces.families", "TemporalOp": "spaces.forms",
    "InceptionBlock": "spaces.families.inception", "VoVBlock": "spaces.families.vov",
    "BottleneckBlock": "spaces.families.resnet",
    **{name: "spaces.spec" for name in (
        "ArchSpec", "BigView", "ConvSpec", "Gate", "HeadSpec", "SpecError", "SqueezeExcite", "StageSpec")},
    "make_divisible": "spaces.variants",
}


class _Spaces(types.ModuleType):
    """`spaces.build`, `spaces.cost` and `spaces.load` are functions, as with eager imports: the
    submodules of the same names, once imported, are not set over them (they stay importable)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and _WHERE.get(name) == value.__name__:
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Spaces


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'spaces' has no attribute {name!r}")


__all__ = [
    "ArchSpec", "BigView", "BottleneckBlock", "ConvSpec", "Cost", "Family", "Gate", "HeadSpec", "InceptionBlock",
    "Latency", "PRESETS", "Preset", "SpecError", "SqueezeExcite", "StageSpec", "TemporalOp", "VideoNet",
    "VoVBlock", "build", "cost", "get_preset", "list_presets", "load", "make_divisible", "measure_latency", "save",
]


def __dir__() -> list[str]:
    return sorted(__all__)
