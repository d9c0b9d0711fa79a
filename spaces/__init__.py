"""vidnas.spaces: the unified design space of S3D/S3D-G, VoV3D and SmallBigNet.

    spec (ArchSpec) -> build(spec) -> nn.Module;  cost(spec) -> params, GMACs;
    get_preset(name) -> the papers' architectures;  sample_arch(trial, bounds) -> ArchSpec.
"""
from spaces.build import VideoNet, build
from spaces.cost import Cost, Latency, cost, measure_latency
from spaces.load import load, save
from spaces.presets import PRESETS, Preset, get_preset, list_presets
from spaces.spec import (
    ArchSpec, BigView, BottleneckBlock, ConvSpec, Family, Gate, HeadSpec, InceptionBlock, SpecError,
    SqueezeExcite, StageSpec, TemporalOp, VoVBlock, make_divisible,
)

__all__ = [
    "ArchSpec", "BigView", "BottleneckBlock", "ConvSpec", "Cost", "Family", "Gate", "HeadSpec", "InceptionBlock",
    "Latency", "PRESETS", "Preset", "SpecError", "SqueezeExcite", "StageSpec", "TemporalOp", "VideoNet",
    "VoVBlock", "build", "cost", "get_preset", "list_presets", "load", "make_divisible", "measure_latency", "save",
]
