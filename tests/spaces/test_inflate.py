"""2D weights inflated into the space: on a clip of one repeated image, the inflated network's
features equal the 2D network's (`spaces.inflate`), for every temporal form with a 2D skeleton in
the space, with gates and big views."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from spaces import WeightsError, build, get_preset, inflate
from tests.spaces.reference import fakes_off, realistic


def _static(frames: int, crop: int, seed: int = 0) -> torch.Tensor:
    image = torch.randn(1, 3, 1, crop, crop, generator=torch.Generator().manual_seed(seed))
    return image.repeat(1, 1, frames, 1, 1)  # (1, 3, T, H, W): every frame the same image


def _features(net: nn.Module, clip: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return net.eval().forward_features(clip)


SLOW = pytest.mark.slow  # full-width networks, 2 to 6 s each: one stays in the fast tier


@pytest.mark.parametrize("preset, rule", [
    ("s3d", "mean"),  # separable: spatial from 2D, temporal identity
    pytest.param("i3d", "centre", marks=SLOW),  # full 3D, the 2D kernel on the centre frame
    pytest.param("s3d_g", "mean", marks=SLOW),  # gates on every branch, no bias
    pytest.param("s3d_g_temporal", "mean", marks=SLOW),  # gates after the temporal convs, with bias
    pytest.param("smallbig_r50", "mean", marks=SLOW),  # big views through the shared conv
    pytest.param("smallbig_r50_unshared", "mean", marks=SLOW),  # big views through their own convs
    pytest.param("vov3d_m", "mean", marks=SLOW),  # D(2+1)D: depthwise spatial from 2D, depthwise temporal identity
    pytest.param("x3d_m", "mean", marks=SLOW),  # channelwise 3D: a depthwise 2D kernel repeated over time
    pytest.param("x3d_m", "centre", marks=SLOW),
])
def test_on_a_static_clip_the_inflated_network_is_the_2d_one(preset: str, rule: str) -> None:
    """The 2D network is the preset's 2D skeleton (`ArchSpec.flat`: I2D for I3D and S3D, TSN for
    SmallBig, depthwise 2D convs for VoV3D and X3D), with realistic weights, at width 1.0."""
    spec = get_preset(preset, crop=32, num_classes=10)
    frames = spec.frames
    two_d = realistic(build(spec.flat()))
    net = build(spec)
    record = inflate(net, two_d.state_dict(), rule=rule, name=f"{preset} flat")
    assert record.tensors == len(two_d.state_dict()) and net.weights_source == record  # every 2D tensor used
    clip = _static(frames, 32)
    ours, reference = _features(net, clip), _features(two_d, clip)
    assert ours.shape == reference.shape
    err = float((ours - reference).abs().max() / reference.abs().max())
    if rule == "centre" or preset not in ("i3d", "x3d_m"):  # no full 3D kernel that sees padding at the clip's ends
        assert err < 1e-5
    else:
        assert err > 1e-3  # I3D's rule: the ends see zero padding
    assert float(reference.abs().max()) > 0.1  # not a network that outputs nothing


def test_the_papers_2d_baselines_are_the_flat_forms_of_their_3d_networks() -> None:
    assert get_preset("i3d").flat() == get_preset("s3d").flat() == get_preset("s3d_g").flat() == get_preset("i2d")
    assert get_preset("smallbig_r50").flat() == get_preset("smallbig_r50_unshared").flat() == get_preset("tsn_r50")
    vov = get_preset("vov3d_m").flat()
    assert {b.temporal_op.value for st in vov.stages for b in st.blocks} == {"2d_depthwise"}
    assert vov.slug().startswith("vov-w.wwww-") and get_preset("x3d_m").flat().slug().startswith("x3d-w.wwww-")


@pytest.mark.slow  # I3D at full width (about 3 s)
def test_the_i3d_rule_repeats_the_2d_kernel_over_time_and_sees_padding_at_the_ends() -> None:
    """rule="mean": the kernel repeated over its kt frames / kt. On a static clip the 3D conv gives
    the 2D response where the kernel stays inside the clip; at the ends it sees the zero padding
    ((kt - missing) / kt of it), which is I3D's rule as published."""
    two_d = realistic(build(get_preset("i2d", frames=16, crop=32, num_classes=10)))
    net = build(get_preset("i3d", frames=16, crop=32, num_classes=10))
    inflate(net, two_d.state_dict(), rule="mean")
    conv3, conv2 = net.stem[0][0].conv, two_d.stem[0][0].conv  # 1a: 7 x 7 x 7 vs 1 x 7 x 7, temporal stride 2
    assert conv3.weight.shape[2] == 7
    torch.testing.assert_close(conv3.weight.sum(dim=2), conv2.weight[:, :, 0], rtol=1e-6, atol=1e-7)
    x = _static(16, 32)
    with torch.no_grad():
        y3, y2 = conv3(x), conv2(x)  # (1, 64, 8, 16, 16) each
    inside = slice(2, 7)  # output frames 2..6 read input frames 1..15 with 7 taps: no padding
    torch.testing.assert_close(y3[:, :, inside], y2[:, :, inside], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(y3[:, :, 0], y2[:, :, 0] * 4 / 7, rtol=1e-5, atol=1e-5)  # frame 0 sees 3 pad taps


def test_a_2d_network_that_does_not_fit_is_one_line_naming_both_layers() -> None:
    net = build(get_preset("s3d", frames=16, crop=32, num_classes=10))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    narrow = build(get_preset("i2d", frames=16, crop=32, num_classes=10).scaled(width=0.5)).state_dict()
    with pytest.raises(WeightsError, match=r"^inflate: wrong shape: source 'stem.0.0.conv.weight' \(32, 3, 1, 7, 7\) "
                                           r"vs 'stem.0.0.conv.0.weight' \(64, 3, 1, 7, 7\): not the same 2D skeleton$"):
        inflate(net, narrow)
    resnet = build(get_preset("tsn_r50", frames=8, crop=32, num_classes=10)).state_dict()
    with pytest.raises(WeightsError, match=r"^inflate: wrong shape: source 'stem.0.0.conv.weight' \(64, 3, 1, 7, 7\) vs "
                                           r"'stem.0.0.conv.0.weight'|^inflate: .* not the same 2D skeleton"):
        inflate(net, resnet)
    with pytest.raises(WeightsError, match=r"^rule='linear': must be one of mean, centre$"):
        inflate(net, narrow, rule="linear")
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # nothing changed


def test_a_head_for_other_classes_is_left_out() -> None:
    two_d = build(get_preset("i2d", frames=16, crop=32, num_classes=400))
    net = build(get_preset("s3d", frames=16, crop=32, num_classes=10))
    head = net.head.fc.weight.clone()
    record = inflate(net, two_d.state_dict(), head=False)
    assert not record.head and record.tensors == len(two_d.state_dict()) - 2 and torch.equal(net.head.fc.weight, head)


@pytest.mark.slow  # torchvision's GoogLeNet at full width (about 5 s)
def test_torchvision_googlenet_inflates_into_i3d_and_s3d() -> None:
    """The Inception-v1 that I3D and S3D inflate: every layer used but its auxiliary classifiers."""
    with fakes_off():
        import torchvision.models
    googlenet = torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=True)
    source = googlenet.state_dict()
    aux = sum(k.startswith(("aux1.", "aux2.")) for k in source)
    for preset in ("i3d", "s3d", "s3d_g"):
        net = build(get_preset(preset, frames=16, crop=32, num_classes=1000))
        record = inflate(net, source, ignore=("aux1.", "aux2."), name="torchvision googlenet")
        assert record.tensors == len(source) - aux
    conv = net.stages[0][1].branch1[1].conv[0]  # Mixed_3b's 3x3 branch, separable: its spatial conv
    torch.testing.assert_close(conv.weight[:, :, 0], source["inception3a.branch2.1.conv.weight"])  # torchvision's 3a


def test_every_point_of_the_demo_init_space_takes_the_pretrained_2d_network() -> None:
    """`configs/demo_init.yaml` (`make demo-init`): I2D at width 0.25 and half the blocks, the network
    `make demo-init` pretrains, inflates into every point its space samples (forms per stage,
    gates, big views), and on a static clip each gives the 2D features (rule centre)."""
    import optuna
    import yaml

    from spaces.bounds import SpaceBounds
    from spaces.sample import sample_arch

    config = yaml.safe_load((Path(__file__).parents[2] / "configs" / "demo_init.yaml").read_text())
    space = config["space"]
    bounds = SpaceBounds(**{k: tuple(v) if isinstance(v, list) else v for k, v in space.items()}, num_classes=6)
    two_d = realistic(build(get_preset("i2d", frames=8, crop=32, num_classes=6).scaled(
        width=space["widths"][0], depth=space["depths"][0])))
    clip = _static(8, 32)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = []
    for _ in range(12):
        spec = sample_arch(study.ask(), bounds)
        seen.append(spec.slug())
        net = build(spec)
        assert inflate(net, two_d.state_dict(), rule="centre").tensors == len(two_d.state_dict())
        flat = build(spec.flat()).eval()  # the point's own 2D network: I2D but for the space's 3x3x3 5a pool
        flat.load_state_dict(two_d.state_dict())
        ours, reference = _features(net, clip), _features(flat, clip)
        assert float((ours - reference).abs().max() / reference.abs().max()) < 1e-5, spec.slug()
    assert len(set(seen)) >= 8  # distinct points, not one drawn twelve times
