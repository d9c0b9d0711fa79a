"""The README's "How to add a family / a temporal form / a study", done the way it says: a toy
form and a toy family each written to a temporary module, registered, then used through the
space's public entry points (spec, JSON, build, cost, presets, the sampler, a study config).
Unknown names are errors that list what exists."""
from __future__ import annotations

import importlib
import sys
import textwrap

import optuna
import pytest
import torch

from spaces import ArchSpec, SpecError, build, cost, families, get_preset, list_presets
from spaces.bounds import BACKBONES, SpaceBounds
from spaces.forms import FORMS, TemporalOp, form
from spaces.sample import sample_arch

FORM_MODULE = '''
from spaces.forms import Form, register_form


def dilated(in_channels, out_channels, kernel, temporal_kernel, stride, temporal_stride):
    """A kt x k x k conv whose temporal taps are two frames apart."""
    from torch import nn

    k, kt = kernel, temporal_kernel
    return nn.Conv3d(in_channels, out_channels, (kt, k, k), stride=(temporal_stride, stride, stride),
                     padding=(kt - 1, k // 2, k // 2), dilation=(2, 1, 1), bias=False)


DILATED = register_form(Form("dilated", "x", dilated))
'''

FAMILY_MODULE = '''
import dataclasses
from dataclasses import dataclass

from spaces.families.base import FamilyDef, Preset
from spaces.forms import TemporalOp, check_temporal
from spaces.schema import check_fields
from spaces.spec import ArchSpec, BigView, ConvSpec, HeadSpec, StageSpec


@dataclass(frozen=True)
class PlainBlock:
    """One conv -> BN -> ReLU."""

    out_channels: int
    temporal_op: TemporalOp = TemporalOp.THREE_D
    temporal_kernel: int = 3
    big_view: BigView = BigView.OFF

    def __post_init__(self):
        check_fields(self)
        check_temporal(self.temporal_op, self.temporal_kernel)


def build_block(block, *, in_channels, stride, temporal_stride, frames, gate, gate_bias):
    from torch import nn

    from spaces.blocks import ConvUnit

    return ConvUnit(in_channels=in_channels, out_channels=block.out_channels, temporal_op=block.temporal_op,
                    kernel=3, temporal_kernel=block.temporal_kernel, stride=stride,
                    temporal_stride=temporal_stride, act=nn.ReLU(), big_view=block.big_view)


def scale_block(block, w, inner):
    return dataclasses.replace(block, out_channels=w(block.out_channels))


BACKBONES, PRESETS = {}, {}
FAMILY = FamilyDef(name="plain", block=PlainBlock, build_block=build_block, scale_block=scale_block,
                   slug=lambda spec: "-plain", backbones=BACKBONES, presets=PRESETS)


def plain(width):
    stages = tuple(StageSpec(blocks=(PlainBlock(out_channels=width * m),) * 2) for m in (1, 2))
    return ArchSpec(family="plain", stem=(ConvSpec(out_channels=width, kernel=3, stride=2),), stages=stages,
                    frames=8, crop=32, num_classes=5, head=HeadSpec(dropout=0.0))


BACKBONES["plain_net"] = plain(32)
PRESETS["plain_tiny"] = Preset(plain(16), "a toy family of tests/spaces/test_extend.py")
'''


@pytest.fixture
def module_dir(tmp_path, monkeypatch):
    """A temporary importable directory; every registry restored afterwards."""
    from spaces import presets, sample

    monkeypatch.syspath_prepend(str(tmp_path))
    saved = [(d, dict(d)) for d in (FORMS, TemporalOp._members, families.REGISTRY, families.Family._members,
                                    presets.PRESETS, sample.BACKBONES)]
    yield tmp_path
    for d, before in saved:
        d.clear()
        d.update(before)
    for name in ("toy_form", "toy_family"):
        sys.modules.pop(name, None)


def test_a_temporal_form_added_in_its_own_module_is_usable_by_every_family(module_dir) -> None:
    (module_dir / "toy_form.py").write_text(textwrap.dedent(FORM_MODULE))
    importlib.import_module("toy_form")
    assert TemporalOp("dilated") is TemporalOp._members["dilated"] and form("dilated").short == "x"
    for preset in ("tsn_r50", "s3d", "vov3d_m"):
        spec = get_preset(preset, frames=16, crop=32, num_classes=5).scaled(width=0.25, depth=0.34)
        first = spec.stages[0]
        blocks = tuple(type(b)(**{**b.__dict__, "temporal_op": "dilated", "temporal_kernel": 3}) for b in first.blocks)
        spec = spec.replace(stages=(type(first)(**{**first.__dict__, "blocks": blocks}), *spec.stages[1:]))
        assert ArchSpec.from_json(spec.to_json()) == spec
        assert spec.slug().split("-")[1].split(".")[1][0] == "x"  # the form's letter at stage 1
        net = build(spec).eval()
        dilated = [m for m in net.stages[0].modules() if isinstance(m, torch.nn.Conv3d) and m.dilation == (2, 1, 1)]
        assert dilated, preset
        assert net(torch.randn(1, 3, 16, 32, 32)).shape == (1, 5)
    bounds = SpaceBounds(frames=(8,), crop=32, num_classes=5, temporal_ops=("dilated",), widths=(0.25,),
                         depths=(0.34,), families=("resnet",), backbones=("resnet50",))
    drawn = sample_arch(optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask(), bounds)
    assert {b.temporal_op.value for st in drawn.stages for b in st.blocks} == {"dilated"}


def test_a_family_added_in_its_own_module_is_a_whole_family(module_dir) -> None:
    (module_dir / "toy_family.py").write_text(textwrap.dedent(FAMILY_MODULE))
    assert families.register("plain", "toy_family") == "plain"
    assert "plain" in families.names() and "plain_tiny" in list_presets()
    spec = get_preset("plain_tiny")
    assert ArchSpec.from_json(spec.to_json()) == spec
    assert spec.slug() == "plain-2.33----plain-w32-d4-8x32"
    assert spec.scaled(width=0.5).stages[1].blocks[0].out_channels == 16
    assert spec.choices()["s2_temporal_op"] == "3d"
    assert build(spec)(torch.randn(2, 3, 8, 32, 32)).shape == (2, 5)
    # stem 3 -> 16 (3x3, stride 2), then four 3x3x3 convs 16 -> 16 -> 16 (stride 2) -> 32 -> 32, BN each, head
    convs = 3 * 16 * 9 + 16 * 16 * 27 * 2 + 16 * 32 * 27 + 32 * 32 * 27
    norms = 2 * (16 + 16 + 16 + 32 + 32)
    assert cost(spec).params == convs + norms + 32 * 5 + 5
    bounds = SpaceBounds(frames=(8,), crop=32, num_classes=5, families=("plain",), backbones=("plain_net",),
                         widths=(0.25, 0.5), depths=(0.5, 1.0))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    drawn = [sample_arch(study.ask(), bounds) for _ in range(8)]
    assert {d.family for d in drawn} == {"plain"} and "plain_net" in BACKBONES
    assert len({d.to_json() for d in drawn}) > 1


def test_a_study_of_a_new_family_is_a_yaml_file(module_dir) -> None:
    from search.studies.config import load_study_config

    (module_dir / "toy_family.py").write_text(textwrap.dedent(FAMILY_MODULE))
    families.register("plain", "toy_family")
    path = module_dir / "plain.yaml"
    path.write_text(textwrap.dedent("""\
        name: plain_depth
        title: "Plain: does time help a plain conv net?"
        question: Does a 3D plain net beat its 2D twin?
        data: data/study
        seeds: [0, 1, 2]
        epochs: 4
        arms:
          - {name: plain_3d, preset: plain_tiny}
          - {name: plain_2d, preset: plain_tiny, blocks: {temporal_op: 2d, temporal_kernel: 1}}
        claims:
          - {id: time_helps, statement: the 3D plain net beats the 2D one, source: a toy, test: difference,
             metric: top1, a: [plain_3d], b: [plain_2d], margin: 0.01}
        """))
    cfg = load_study_config(path)
    assert [a.preset for a in cfg.arms] == ["plain_tiny", "plain_tiny"] and cfg.claims[0].id == "time_helps"


def test_unknown_names_say_what_exists() -> None:
    with pytest.raises(SpecError, match="family='x4d': must be one of inception, vov, resnet, x3d"):
        ArchSpec.from_dict({**get_preset("s3d").to_dict(), "family": "x4d"})
    with pytest.raises(SpecError, match="unknown family; registered: inception, vov, resnet, x3d"):
        families.get("x4d")
    with pytest.raises(SpecError, match="unknown temporal form; registered: 2d, 3d, separable, depthwise, channelwise"):
        form("shift")
    data = get_preset("s3d").to_dict()
    data["stages"][0]["blocks"][0]["temporal_op"] = "shift"
    with pytest.raises(SpecError, match=r"stages\[0\].blocks\[0\].temporal_op='shift': must be one of 2d, 3d"):
        ArchSpec.from_dict(data)
    with pytest.raises(SpecError, match="family 'inception' takes InceptionBlock blocks"):
        get_preset("s3d").replace(stages=get_preset("tsn_r50").stages)
    with pytest.raises(SpecError, match="unknown choice; valid: 2d, 3d, separable, depthwise, channelwise"):
        SpaceBounds(temporal_ops=("shift",))
