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
