"""Checkpoints in the papers' published layouts load into the presets (`spaces.load_weights`).

VoV3D: the layout of VoV3D-M as its own code (on PySlowFast) registers it
(`data/vov3d_m_kinetics.json`), saved as PySlowFast saves a checkpoint (`{"epoch", "model_state",
"optimizer_state", "cfg"}`): all 944 tensors land in `vov3d_m`, each block's shortcut (`branch1`,
registered first there) on our shortcut. Function: 8.4e-7 relative (logits) against the official code
(`bench/reference_check.py --vov3d-code DIR --slowfast-code DIR`).

SmallBigNet: the layout is what its own code registers (`data/smallbig50_no_extra.json`: the names,
shapes and dtypes of `smallbig50_no_extra`'s state dict, written by the official repository's code;
the code itself cannot be installed from a package registry). A checkpoint in that layout, saved as
its `main.py` saves one (`{"epoch", "state_dict", "best_metric", "optimizer"}`, DataParallel's
`module.` prefix), loads into `smallbig_r50` with every tensor accounted for and each big view's
norm on the big view. That the two then compute the same function was measured against the
official code (`python bench/reference_check.py --smallbig-code DIR`: 3.7e-7 relative)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from spaces import build, get_preset, load_weights
from spaces.weights import WeightsError

LAYOUT = json.loads((Path(__file__).parent / "data" / "smallbig50_no_extra.json").read_text())["tensors"]


def _checkpoint(drop: str | None = None) -> tuple[dict, dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    state = {name: (torch.randn(shape, generator=g) if dtype.startswith("float") else torch.tensor(11))
             for name, shape, dtype in LAYOUT if name != drop}
    return {"epoch": 30, "state_dict": {f"module.{k}": v for k, v in state.items()}, "best_metric": 0.7,
            "optimizer": {"state": {}, "param_groups": [{"lr": 0.01}]}}, state


def test_a_smallbignet_checkpoint_loads_into_smallbig_r50_with_every_tensor_in_its_place(tmp_path: Path) -> None:
    checkpoint, state = _checkpoint()
    torch.save(checkpoint, tmp_path / "model_best.pth")
    net = build(get_preset("smallbig_r50", frames=8, crop=112, num_classes=400))
    record = load_weights(net, tmp_path / "model_best.pth")
    assert record.tensors == len(LAYOUT) == 515 and record.name.endswith("model_best.pth")
    ours = net.state_dict()
    pairs = {"stem.0.0.conv.weight": "conv1.weight", "stages.0.0.conv1.conv.weight": "layer1.0.conv1.weight",
             "stages.1.0.conv1.norm.weight": "layer2.0.bn1.weight",
             "stages.1.0.conv1.big_norm.weight": "layer2.0.big1.1.weight",  # moved next to its small view
             "stages.2.5.conv2.big_norm.running_mean": "layer3.5.big2.1.running_mean",
             "stages.3.2.conv3.big_norm.running_var": "layer4.2.big3.1.running_var",
             "stages.3.2.conv3.norm.bias": "layer4.2.bn3.bias", "head.fc.weight": "fc.weight"}
    for mine, theirs in pairs.items():
        assert torch.equal(ours[mine].reshape(-1), state[theirs].reshape(-1)), (mine, theirs)


def test_a_checkpoint_missing_a_big_view_norm_is_one_line_naming_both_sides(tmp_path: Path) -> None:
    checkpoint, _ = _checkpoint(drop="layer3.1.big2.1.running_var")
    net = build(get_preset("smallbig_r50", frames=8, crop=112, num_classes=400))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(WeightsError) as e:
        load_weights(net, checkpoint)
    assert "\n" not in str(e.value) and "layer3.1" in str(e.value) and "stages.2.1" in str(e.value)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # nothing loaded half-way


VOV = json.loads((Path(__file__).parent / "data" / "vov3d_m_kinetics.json").read_text())["tensors"]


def test_a_vov3d_checkpoint_in_pyslowfast_s_layout_loads_into_vov3d_m_with_the_shortcuts_in_place(tmp_path: Path) -> None:
    g = torch.Generator().manual_seed(1)
    state = {name: (torch.randn(shape, generator=g) if dtype.startswith("float") else torch.tensor(3))
             for name, shape, dtype in VOV}
    torch.save({"epoch": 196, "model_state": state, "optimizer_state": {"state": {}, "param_groups": []},
                "cfg": "MODEL:\n  MODEL_NAME: VoV3D\n"}, tmp_path / "checkpoint_epoch_00196.pyth")
    net = build(get_preset("vov3d_m", frames=16, crop=224, num_classes=400))
    record = load_weights(net, tmp_path / "checkpoint_epoch_00196.pyth")
    assert record.tensors == len(VOV) == 944
    ours = net.state_dict()
    pairs = {"stages.0.0.shortcut.conv.weight": "s2.pathway0_res0.branch1.weight",  # registered first there
             "stages.0.0.shortcut.norm.running_var": "s2.pathway0_res0.branch1_bn.running_var",
             "stages.0.0.layers.0.expand.conv.weight": "s2.pathway0_res0.branch2.layers.0.a.0.weight",
             "stages.0.0.layers.4.spatiotemporal.conv.1.weight": "s2.pathway0_res0.branch2.layers.4.b2.weight",
             "stages.0.0.aggregate.conv.weight": "s2.pathway0_res0.branch2.c.weight"}
    for mine, theirs in pairs.items():
        assert torch.equal(ours[mine], state[theirs]), (mine, theirs)
    assert torch.equal(ours["head.fc.weight"].reshape(-1), state[VOV[-2][0]].reshape(-1))


# The official S3D-G (TF): the variables its own code makes (`data/s3dg_tf.json`, written by
# bench/reference_s3dg.py --layout), read as a checkpoint lists them (sorted by name). Function:
# 7.2e-7 relative (logits) against the official code run on TF (`bench/reference_s3dg.py`).
TF_LAYOUT = json.loads((Path(__file__).parent / "data" / "s3dg_tf.json").read_text())["variables"]


def _tf_variables(drop: str | None = None, extra: str | None = None) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    names = sorted(name for name, _ in TF_LAYOUT if name != drop)  # tf.train.list_variables' order
    shapes = dict((name, shape) for name, shape in TF_LAYOUT)
    out = {name: torch.randn(shapes[name], generator=g) for name in names}
    if extra:
        out[extra] = torch.zeros(3)
    return out


def test_the_official_s3dg_variables_load_into_s3d_g_tf_each_in_its_place() -> None:
    variables = _tf_variables()
    net = build(get_preset("s3d_g_tf", frames=16, crop=64))
    record = load_weights(net, variables, name="official s3dg")
    norms = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm3d)]
    separable = 1 + 2 * 9  # 2c and two branches of each of the 9 Mixed blocks
    # 305 TF variables; each norm gains its scale and num_batches_tracked, and each temporal bias becomes a norm
    assert record.tensors == len(net.state_dict()) == len(TF_LAYOUT) + 2 * len(norms) + 2 * separable == 495
    trainable = sum(torch.Size(shape).numel() for name, shape in TF_LAYOUT if "moving_" not in name)
    assert trainable == 9_518_848  # the official count (400 classes), from its own variables
    assert sum(p.numel() for p in net.parameters()) == trainable + sum(m.num_features for m in norms)  # + scales
    stem = net.stem[0][0]  # 1a: full 3D, (kt, kh, kw, in, out) -> (out, in, kt, kh, kw)
    assert torch.equal(stem.conv.weight, variables["InceptionV1/Conv2d_1a_7x7/weights"].permute(4, 3, 0, 1, 2))
    assert torch.equal(stem.norm.bias, variables["InceptionV1/Conv2d_1a_7x7/BatchNorm/beta"])
    assert torch.equal(stem.norm.weight, torch.ones(64))  # slim's batch_norm has no scale
    sep = net.stages[1][2].branch1[1]  # Mixed_4c, branch 1's separable 3x3: its temporal bias in its norm
    scope = "InceptionV1/Mixed_4c/Branch_1/Conv2d_0b_3x3"
    assert torch.equal(sep.conv[3].weight, variables[f"{scope}/temporal/weights"].permute(4, 3, 0, 1, 2))
    x = torch.randn(2, sep.norm.num_features, 3, 4, 4)
    bias = variables[f"{scope}/temporal/biases"]
    torch.testing.assert_close(sep.norm.eval()(x), x + bias[None, :, None, None, None], rtol=1e-6, atol=1e-6)
    gate = net.stages[1][2].branch1[2]  # its gate: a (1, 1, 1, C, C) kernel as a C x C linear layer
    assert torch.equal(gate.fc.weight, variables[f"{scope}/self_gating/transformer_W/weights"][0, 0, 0].t())
    assert torch.equal(net.head.fc.bias, variables["InceptionV1/Logits/Conv2d_0c_1x1/biases"])


def test_a_missing_or_foreign_tf_variable_is_one_line() -> None:
    net = build(get_preset("s3d_g_tf", frames=16, crop=64))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(WeightsError, match=r"^weights: TF scope 'InceptionV1/Mixed_4d/Branch_2/Conv2d_0b_3x3' has no "
                                           r"BatchNorm/moving_variance$"):
        load_weights(net, _tf_variables(drop="InceptionV1/Mixed_4d/Branch_2/Conv2d_0b_3x3/BatchNorm/moving_variance"))
    with pytest.raises(WeightsError, match=r"^weights: TF variable 'InceptionV1/Mixed_4d/Branch_2/Conv2d_0b_3x3/Adam' "
                                           r"is not part of the official S3D-G's layout"):
        load_weights(net, _tf_variables(extra="InceptionV1/Mixed_4d/Branch_2/Conv2d_0b_3x3/Adam"))
    with pytest.raises(WeightsError, match=r"^weights: wrong shape at tensor \d+: source 'InceptionV1/Mixed_5c/Branch_2/"
                                           r"Conv2d_0b_3x3/self_gating.weight' \(128, 128\) vs network "
                                           r"'stages.2.2.branch2.1.conv.3.weight' \(128, 128, 3, 1, 1\)$"):  # no temporal part
        load_weights(net, _tf_variables(drop="InceptionV1/Mixed_5c/Branch_2/Conv2d_0b_3x3/temporal/weights"))
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # nothing loaded half-way
