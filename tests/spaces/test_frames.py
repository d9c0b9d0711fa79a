"""Any frame count: `get_preset(name, frames=F)` cuts the temporal taps that would only see padding
(`ArchSpec.at_frames`), and the preset's weights load into it (`load_weights(..., shorten=True)`):
the same function on F frames as the preset's network with its uncut kernels."""
from __future__ import annotations

import copy

import pytest
import torch

from spaces import SpecError, WeightsError, build, get_preset, list_presets, load_weights
from spaces.spec import ArchSpec
from tests.spaces.reference import realistic


def _uncut(spec: ArchSpec, frames: int) -> ArchSpec:
    """`spec` at `frames` with its kernels as they are: not a valid spec (its cut taps see only
    padding), made here to be the reference the cut network must equal."""
    out = copy.copy(spec)
    object.__setattr__(out, "frames", frames)
    object.__setattr__(out, "head", copy.copy(spec.head))
    object.__setattr__(out.head, "temporal_window", min(spec.head.temporal_window, spec.stage_frames(frames)[-1]))
    return out


def _ops(spec: ArchSpec) -> list[str]:
    return [c.temporal_op.value for c in spec.stem] + [b.temporal_op.value for st in spec.stages for b in st.blocks]


def _kernels(spec: ArchSpec) -> list[int]:
    return [c.temporal_kernel for c in spec.stem] + [b.temporal_kernel for st in spec.stages for b in st.blocks]


@pytest.mark.parametrize("name", list_presets())
def test_every_preset_takes_every_frame_count(name: str) -> None:
    full = get_preset(name)
    for frames in range(1, full.frames + 1):
        spec = get_preset(name, frames=frames)
        assert spec.frames == frames
        stem, blocks = spec.frames_reaching()
        reaching = list(stem) + [f for stage in blocks for f in stage]
        for kept, cut, f in zip(_kernels(full), _kernels(spec), reaching):
            assert cut == min(kept, 2 * f - 1)  # cut exactly where taps would only see padding
        assert _ops(spec) == _ops(full)  # every form kept, so the weights keep their structure


@pytest.mark.parametrize("name, frames, cut", [
    ("s3d", 8, True),  # Inception, one frame at 5b-5c and the head's window cut to 1
    ("vov3d_m", 2, True),  # D(2+1)D, no temporal stride: the stem's 5 taps cut to 3
    pytest.param("smallbig_r50", 3, False, marks=pytest.mark.slow),  # 2D convs; big views pool over the frames left
    pytest.param("x3d_m", 1, True, marks=pytest.mark.slow),  # channelwise 3D down to one frame
    pytest.param("i3d", 2, True, marks=pytest.mark.slow),
])
def test_weights_load_at_fewer_frames_and_compute_the_same(name: str, frames: int, cut: bool) -> None:
    full = get_preset(name, crop=64, num_classes=10).scaled(width=0.25)
    source = realistic(build(full))
    spec = get_preset(name, frames=frames, crop=64, num_classes=10).scaled(width=0.25)
    assert (_kernels(spec) != _kernels(full)) == cut
    net = build(spec).eval()
    record = load_weights(net, source.state_dict(), shorten=True, name=name)
    assert record.tensors == len(source.state_dict())
    reference = build(_uncut(full, frames)).eval()
    reference.load_state_dict(source.state_dict())
    clip = torch.randn(2, 3, frames, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours, theirs = net(clip), reference(clip)
    assert float(theirs.abs().max()) > 0.1
    assert float((ours - theirs).abs().max() / theirs.abs().max()) < 1e-5


def test_a_longer_kernel_without_shorten_is_one_line_with_the_fix() -> None:
    source = build(get_preset("s3d", frames=16, crop=32, num_classes=10).scaled(width=0.25)).state_dict()
    net = build(get_preset("s3d", frames=8, crop=32, num_classes=10).scaled(width=0.25))
    with pytest.raises(WeightsError, match=r"^weights: wrong shape at tensor \d+: source '(\S+)' \(\d+, \d+, 3, 1, 1\) vs "
                                           r"network '\1' \(\d+, \d+, 1, 1, 1\); a longer temporal kernel: "
                                           r"shorten=True takes its centre taps$"):
        load_weights(net, source)
    shorter = build(get_preset("s3d", frames=4, crop=32, num_classes=10).scaled(width=0.25)).state_dict()
    with pytest.raises(WeightsError, match=r"wrong shape at tensor \d+: .*\(\d+, \d+, 1, 1, 1\) vs network .*"
                                           r"\(\d+, \d+, 3, 1, 1\)$"):  # never lengthened
        load_weights(net, shorter, shorten=True)


def test_one_tap_of_a_temporal_form_is_only_for_a_single_frame() -> None:
    spec = get_preset("s3d", frames=8)
    assert [b.temporal_kernel for b in spec.stages[-1].blocks] == [1, 1] and spec.stage_frames()[-1] == 1
    with pytest.raises(SpecError, match=r"^invalid stages\[2\]\.blocks\[0\]\.temporal_kernel=1: must be odd and >= 3 when "
                                        r"temporal_op is 'separable' and 2 frames reach the conv"):
        spec.replace(frames=16)
    with pytest.raises(SpecError, match=r"frames=0: must be an integer >= 1$"):
        get_preset("s3d", frames=0)
