"""Names a person reads: every choice spelled out, distinct specs get distinct names over the space
(all families, forms, kernels, gates, big views, the families' own choices, widths, depths and
bottleneck widths), and the papers' presets read as their papers describe them."""
from __future__ import annotations

from dataclasses import replace

import optuna
import pytest

from spaces import get_preset
from spaces.bounds import SpaceBounds, backbones
from spaces.forms import FORMS
from spaces.sample import sample_arch

EVERYTHING = SpaceBounds(backbones=tuple(backbones()), families=tuple(sorted({s.family.value for s in backbones().values()})),
                         temporal_ops=tuple(FORMS), widths=(0.125, 0.25), depths=(0.34, 0.5), bottlenecks=(1.0, 0.5),
                         frames=(8, 16), crop=32, num_classes=6, temporal_kernels=(3, 5), tosa_depths=(1, 2, 3))


def _draws(bounds: SpaceBounds, n: int, seed: int) -> list:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    specs = []
    for _ in range(n):
        trial = study.ask()
        specs.append(sample_arch(trial, bounds))
        study.tell(trial, 0.0)
    return specs


def test_distinct_specs_get_distinct_names_over_the_whole_space() -> None:
    specs = _draws(EVERYTHING, 400, seed=0)
    by_json = {s.to_json(): s.title() for s in specs}
    assert len(by_json) > 300  # the draws are mostly distinct: the test has something to tell apart
    names = list(by_json.values())
    assert len(set(names)) == len(names)
    assert {s.family.value for s in specs} == {"inception", "resnet", "vov", "x3d"}


def test_without_bottleneck_choices_the_readable_part_alone_tells_specs_apart() -> None:
    """The six hex digits are a safety net, not what distinguishes the space's points: without a
    bottleneck choice (what no choice records), the words alone differ."""
    bounds = SpaceBounds(**{**EVERYTHING.__dict__, "bottlenecks": (1.0,)})
    specs = _draws(bounds, 400, seed=1)
    by_json = {s.to_json(): s.title().rsplit(" · #", 1)[0] for s in specs}
    assert len(set(by_json.values())) == len(by_json) > 300


@pytest.mark.parametrize(("preset", "expected"), [
    ("s3d", "s3d: inception 16x32 · (2+1)D everywhere · width 208, blocks 1/3/1 · #"),
    ("s3d_g", "s3d_g: inception 16x32 · (2+1)D everywhere · gate branches · width 208, blocks 1/3/1 · #"),
    ("i3d_top_heavy_4b", "i3d_top_heavy_4b: inception 16x32 · 2D stem–s1, 3D s2–s3 · width 208, blocks 1/3/1 · #"),
    ("smallbig_r50", "smallbig_r50: resnet 16x32 · 2D everywhere · big view shared s2–s4 · width 512, blocks 2/2/3/2 · #"),
    ("vov3d_m", "vov3d_m: vov 16x32 · D(2+1)D everywhere · squeeze excite alternate · tosa depth 5 · width 40, "
                "blocks 1/1/2/1 · #"),
    ("x3d_m", "x3d_m: x3d 16x32 · D(2+1)D stem, channelwise 3D s1–s4 · width 48, blocks 2/3/6/4 · #"),
])
def test_the_papers_presets_read_as_their_papers_describe_them(preset: str, expected: str) -> None:
    spec = get_preset(preset, frames=16, crop=32, num_classes=6).scaled(width=0.25, depth=0.5).as_space_point()
    name = spec.title(preset)
    assert name.startswith(expected) and len(name) == len(expected) + 6
    assert spec.title() == name.removeprefix(f"{preset}: ")


def test_kernels_other_than_three_and_the_gate_bias_are_named() -> None:
    spec = get_preset("i3d", frames=32, crop=32, num_classes=6).scaled(width=0.25, depth=0.5).as_space_point()
    wide = replace(spec, stages=tuple(replace(st, blocks=tuple(replace(b, temporal_kernel=5) for b in st.blocks))
                                      for st in spec.stages))
    assert " · 3D stem, 3D k5 s1–s3 · " in wide.title()
    gated = spec.replace(gate="temporal")
    assert " · gate temporal · " in gated.title() and " · gate temporal + bias · " in gated.replace(gate_bias=True).title()
