"""The presets equal the reference implementations as functions: the reference network's weights
(random, with BatchNorm statistics that are not the identity) loaded into the preset by
`spaces.load_weights` give the same outputs within 1e-5 relative; and a checkpoint that does not
fit is one line that names the mismatch.

The references are torchvision's model definitions (pure Python). On these machines PyPI's
torchvision is a CUDA build whose compiled ops cannot register against the CPU torch, so the
Makefile installs it without dependencies and `reference_models` imports it with
`torch.library.register_fake` replaced by a no-op for the duration of the import (restored right
after; ../shared/STACK-NOTES.md). With a matching torchvision none of that is needed.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from spaces import WeightsError, build, get_preset, load_weights
from tests.spaces.reference import fakes_off, realistic

RTOL = 1e-5


@pytest.fixture(scope="module")
def reference_models():
    with fakes_off():
        import torchvision.models
        import torchvision.models.video
    return torchvision.models


def _relative(ours: torch.Tensor, ref: torch.Tensor) -> float:
    return float((ours - ref).abs().max() / ref.abs().max())


@pytest.mark.slow  # S3D at 16 x 224 twice on CPU (about 20 s)
def test_s3d_equals_torchvision_s3d(reference_models) -> None:
    ref = realistic(reference_models.video.s3d())
    ours = build(get_preset("s3d", frames=16, num_classes=400)).eval()
    record = load_weights(ours, ref.state_dict(), name="torchvision s3d")
    assert record.tensors == len(ref.state_dict()) == 464  # every tensor, the classifier's 1x1x1 conv as a linear
    clip = torch.randn(1, 3, 16, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert _relative(ours(clip), ref(clip)) < RTOL


@pytest.mark.slow  # two frames of ResNet-50 at 224, twice (about 5 s)
def test_tsn_r50_equals_torchvision_resnet50_per_frame(reference_models) -> None:
    """TSN: ResNet-50 on each frame, the logits averaged over frames (the classifier is linear, so
    averaging features first is the same function)."""
    ref = realistic(reference_models.resnet50())
    ours = build(get_preset("tsn_r50", frames=2, num_classes=1000)).eval()
    assert load_weights(ours, ref.state_dict()).tensors == 320
    clip = torch.randn(1, 3, 2, 224, 224, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        per_frame = torch.stack([ref(clip[:, :, t]) for t in range(clip.shape[2])]).mean(0)
        assert _relative(ours(clip), per_frame) < RTOL


def test_a_checkpoint_that_does_not_fit_is_one_line_naming_both_tensors(tmp_path: Path) -> None:
    source = build(get_preset("tsn_r50", frames=2, crop=32, num_classes=10)).state_dict()
    net = build(get_preset("tsn_r50", frames=2, crop=32, num_classes=10))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    names = list(source)
    truncated = {k: source[k] for k in names[:-5]}
    with pytest.raises(WeightsError, match=r"^weights: the source has 315 tensors, the network 320; missing from the "
                                           r"source: 'stages.3.2.conv3.norm.running_mean' and 4 more$"):
        load_weights(net, truncated)
    wrong = dict(source) | {names[0]: torch.zeros(64, 3, 1, 5, 5)}
    with pytest.raises(WeightsError, match=r"^weights: wrong shape at tensor 0: source 'stem.0.0.conv.weight' "
                                           r"\(64, 3, 1, 5, 5\) vs network 'stem.0.0.conv.weight' \(64, 3, 1, 7, 7\)$"):
        load_weights(net, wrong)
    reordered = {names[2]: source[names[2]], **source}  # a norm's bias first: another layout
    with pytest.raises(WeightsError, match=r"^weights: tensor 0 is bias 'stem.0.0.norm.bias' \(64,\) in the source but "
                                           r"weight 'stem.0.0.conv.weight' \(64, 3, 1, 7, 7\) in the network: not the "
                                           r"same structure$"):
        load_weights(net, reordered)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # nothing loaded half-way
    path = tmp_path / "ckpt.pth"
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in source.items()}}, path)  # DataParallel's
    record = load_weights(net, path)
    assert record.name == str(path) and record.tensors == 320 and net.weights_source == record
    assert record.sha256 == load_weights(build(get_preset("tsn_r50", frames=2, crop=32, num_classes=10)),
                                         source).sha256  # the same tensors: the same hash, in any container
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
    with pytest.raises(WeightsError, match=r"^weights '.*ckpt.pth': not a PyTorch checkpoint \("):
        load_weights(net, path)


def test_a_head_for_other_classes_is_left_out_on_request() -> None:
    source = build(get_preset("tsn_r50", frames=2, crop=32, num_classes=400)).state_dict()
    net = build(get_preset("tsn_r50", frames=2, crop=32, num_classes=10))
    head = net.head.fc.weight.clone()
    with pytest.raises(WeightsError, match=r"wrong shape at tensor 318: source 'head.fc.weight' \(400, 2048\)"):
        load_weights(net, source)
    record = load_weights(net, source, head=False)
    assert record.tensors == 318 and not record.head and torch.equal(net.head.fc.weight, head)
    assert torch.equal(net.stem[0][0].conv.weight, source["stem.0.0.conv.weight"])
