from __future__ import annotations

import copy
import json
import random

import pytest

from spaces import (
    PRESETS, ArchSpec, BigView, BottleneckBlock, ConvSpec, Family, Gate, HeadSpec, InceptionBlock, SpecError,
    StageSpec, TemporalOp, VoVBlock, get_preset, make_divisible,
)


@pytest.mark.parametrize("name", list(PRESETS))
def test_json_round_trip_is_exact(name: str) -> None:
    spec = PRESETS[name].spec
    text = spec.to_json()
    back = ArchSpec.from_json(text)
    assert back == spec
    assert back.to_json() == text
    assert hash(back) == hash(spec)


def test_enums_are_plain_strings_in_json() -> None:
    data = json.loads(get_preset("s3d_g").to_json())
    assert data["family"] == "inception" and data["gate"] == "branches"
    assert data["stem"][0]["temporal_op"] == "separable"
    assert data["stages"][0]["blocks"][0]["branch_channels"] == [64, 96, 128, 16, 32, 32]


def test_unknown_keys_are_rejected_with_the_valid_ones() -> None:
    data = get_preset("vov3d_m").to_dict()
    data["stages"][2]["blocks"][1]["tosa_dpeth"] = 3
    with pytest.raises(SpecError, match=r"stages\[2\]\.blocks\[1\]\.tosa_dpeth.*valid keys: .*tosa_depth"):
        ArchSpec.from_dict(data)
    data = get_preset("vov3d_m").to_dict() | {"colour": "red"}
    with pytest.raises(SpecError, match="colour"):
        ArchSpec.from_dict(data)


def _mutated(name: str, edit) -> dict:
    data = copy.deepcopy(get_preset(name).to_dict())
    edit(data)
    return data


@pytest.mark.parametrize("edit, pattern", [
    (lambda d: d["stages"][1]["blocks"][0].update(temporal_op="4d"),
     r"stages\[1\]\.blocks\[0\]\.temporal_op='4d': must be one of 2d, 3d, separable, depthwise"),
    (lambda d: d["stages"][1]["blocks"][0].update(temporal_op="2d"),
     r"stages\[1\]\.blocks\[0\]\.temporal_kernel=3: must be 1 when temporal_op is '2d'"),
    (lambda d: d["stages"][0]["blocks"][0].update(temporal_kernel=4), r"temporal_kernel=4: must be odd"),
    (lambda d: d.update(frames="16"), r"frames='16': must be an integer"),
    (lambda d: d.update(frames=True), r"frames=True: must be an integer"),
    (lambda d: d.update(frames=0), r"frames=0: must be >= 1"),
    (lambda d: d.update(gate="sometimes"), r"gate='sometimes': must be one of off, temporal, branches"),
    (lambda d: d.update(gate_bias=True), r"gate_bias=True: must be false when gate is 'off'"),
    (lambda d: d["stages"][0].update(spatial_stride=3), r"stages\[0\]\.spatial_stride=3: must be one of 1, 2"),
    (lambda d: d["stages"][0]["blocks"][0].update(branch_channels=[1, 2, 3]), r"must have 6 widths"),
    (lambda d: d["stages"][0]["blocks"][0].update(branch_channels=[64, 96, -1, 16, 32, 32]),
     r"branch_channels\[2\]=-1: must be >= 1"),
    (lambda d: d["head"].update(dropout=1.5), r"head\.dropout=1\.5: must be in \[0, 1\)"),
    (lambda d: d["head"].update(temporal_window=9), r"head\.temporal_window=9: must be <= the 8 frames left"),
    (lambda d: d["stem"][0].update(temporal_kernel=9, temporal_op="3d"), None),  # 64 frames: fits
    (lambda d: d.update(stages=[]), r"stages=\[\]: must hold at least one stage"),
    (lambda d: d["stages"][0].update(blocks="many"), r"stages\[0\]\.blocks='many': must be a list"),
    (lambda d: d.update(family="transformer"), r"family='transformer': must be one of inception, vov, resnet"),
    (lambda d: d.update(family="resnet"), r"unknown key for BottleneckBlock"),
])
def test_bad_specs_name_field_value_and_rule(edit, pattern) -> None:
    data = _mutated("s3d", edit)
    if pattern is None:
        ArchSpec.from_dict(data)
        return
    with pytest.raises(SpecError, match=pattern) as info:
        ArchSpec.from_dict(data)
    assert "\n" not in str(info.value)


def test_temporal_kernel_longer_than_frames_left_is_rejected_at_its_depth() -> None:
    # S3D at 8 frames: stage 5 has 1 frame, a kernel of 3 only sees padding there
    with pytest.raises(SpecError, match=r"stages\[2\]\.blocks\[0\]\.temporal_kernel=3: must be <= 2\*frames-1 = 1"):
        get_preset("s3d", frames=16).replace(frames=8)
    assert get_preset("s3d", frames=8).stages[2].blocks[0].temporal_kernel == 1  # a preset cuts it (test_frames.py)
    # at 16 frames stage 5 keeps 2 frames: kernel 3 is allowed
    assert get_preset("s3d", frames=16).stage_frames() == (8, 4, 2)


def test_python_construction_is_validated_too() -> None:
    with pytest.raises(SpecError, match="tosa_depth=0: must be in 1..8"):
        VoVBlock(out_channels=8, inner_channels=16, tosa_depth=0)
    with pytest.raises(SpecError, match="family 'vov' takes VoVBlock blocks"):
        ArchSpec(family=Family("vov"), stem=(ConvSpec(out_channels=8, kernel=3),),
                 stages=(StageSpec(blocks=(BottleneckBlock(out_channels=8, mid_channels=4),)),))
    block = InceptionBlock(branch_channels=[8, 8, 8, 8, 8, 8], temporal_op="separable")  # coerced
    assert block.branch_channels == (8,) * 6 and block.temporal_op is TemporalOp.SEPARABLE


def _random_bad_value(rng: random.Random):
    return rng.choice([-1, 0, 3, 2.5, "x", "3d", None, True, [], {}, [1, "a"], 10**9, float("nan")])


def _paths(obj, prefix=()):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield prefix + (k,)
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield prefix + (i,)
            yield from _paths(v, prefix + (i,))


def test_fuzzed_specs_give_one_line_errors_never_crashes() -> None:
    rng = random.Random(0)
    bases = [get_preset(n).to_dict() for n in ("s3d_g", "vov3d_m", "smallbig_r50")]
    outcomes = {"valid": 0, "error": 0}
    for _ in range(600):
        data = copy.deepcopy(rng.choice(bases))
        paths = list(_paths(data))
        for _ in range(rng.randint(1, 3)):
            path = rng.choice(paths)
            parent = data
            try:
                for key in path[:-1]:
                    parent = parent[key]
                action = rng.random()
                if action < 0.6:
                    parent[path[-1]] = _random_bad_value(rng)
                elif action < 0.8 and isinstance(parent, dict):
                    del parent[path[-1]]
                elif isinstance(parent, dict):
                    parent["unexpected_" + str(path[-1])] = 1
            except (KeyError, IndexError, TypeError):
                continue
        try:
            spec = ArchSpec.from_dict(data)
        except SpecError as e:
            message = str(e)
            assert "\n" not in message and message.startswith("invalid ") and len(message) < 600
            outcomes["error"] += 1
        else:
            assert ArchSpec.from_json(spec.to_json()) == spec
            outcomes["valid"] += 1
    assert outcomes["error"] > 400  # nearly every mutation is an error, and each was one line


def test_scaled_keeps_temporal_ops_gates_and_big_views() -> None:
    for name in ("s3d_g", "smallbig_r50", "vov3d_l", "i3d_top_heavy_4d"):
        spec = get_preset(name)
        small = spec.scaled(width=0.25, depth=1.0)
        assert small.gate == spec.gate and small.gate_bias == spec.gate_bias
        for a, b in zip(spec.stages, small.stages):
            assert [(x.temporal_op, x.temporal_kernel, x.big_view) for x in a.blocks] == \
                   [(x.temporal_op, x.temporal_kernel, x.big_view) for x in b.blocks]
            assert all(y.out_channels < x.out_channels for x, y in zip(a.blocks, b.blocks))
        shallow = spec.scaled(depth=0.5)
        for a, b in zip(spec.stages, shallow.stages):
            assert len(b.blocks) == -(-len(a.blocks) // 2)
            assert b.blocks[0] == a.blocks[0] and (len(b.blocks) == 1 or b.blocks[-1] == a.blocks[-1])


def test_scaled_depth_moves_a_cut_to_the_nearest_kept_block() -> None:
    stage4 = get_preset("i3d_top_heavy_4d").scaled(depth=0.5).stages[1]  # 4b 4c | 4d 4e 4f -> 4b 4d 4f
    assert [b.temporal_op.value for b in stage4.blocks] == ["2d", "3d", "3d"]


def test_scaled_by_one_is_the_identity() -> None:
    for name in PRESETS:
        assert PRESETS[name].spec.scaled() == PRESETS[name].spec


def test_make_divisible() -> None:
    assert make_divisible(20, 8) == 24 and make_divisible(10, 8) == 16 and make_divisible(3, 8) == 8
    assert make_divisible(64 * 0.25, 8) == 16 and make_divisible(17, 4) == 16


def test_head_defaults_and_replace() -> None:
    spec = get_preset("tsn_r50", num_classes=174)
    assert spec.num_classes == 174 and spec.head == HeadSpec(dropout=0.5)
    with pytest.raises(SpecError, match="unknown field; valid fields: family, stem"):
        get_preset("tsn_r50", classes=10)
    assert get_preset("smallbig_r50").stages[0].blocks[0].big_view is BigView.OFF
    assert get_preset("s3d_g").gate is Gate.BRANCHES


def test_a_gate_bias_shows_in_the_name() -> None:
    """Two networks that differ only in the gate's bias get different run names."""
    from spaces import get_preset

    gated = get_preset("s3d_g").replace(gate="temporal")
    assert gated.slug() != gated.replace(gate_bias=True).slug()
    assert "-gt+-" in gated.replace(gate_bias=True).slug() and "-gt-" in gated.slug()
