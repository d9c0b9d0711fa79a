"""Temporal forms: how a spatio-temporal conv (spatial kernel k, temporal kernel kt) is made.

One registry holds them; a form is one `Form` entry: its name (what a spec stores), its letter
in `ArchSpec.slug`, whether it has a temporal extent, and the function that makes its conv. Any
block of any family takes any form. torch is imported when a conv is made, not here.

How to add a form: write its conv function, then `register_form(Form(...))` in the module that
defines it (import that module before specs that use it are read); `tests/spaces/test_extend.py`
adds a toy one.

Example:
    >>> from spaces.forms import TemporalOp, form
    >>> TemporalOp("separable") is TemporalOp.SEPARABLE, form("separable").short
    (True, 's')
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar

from spaces.schema import Registered, SpecError

# conv(in_channels, out_channels, kernel, temporal_kernel, stride, temporal_stride) -> nn.Module,
# without its output norm.
ConvFn = Callable[..., Any]


@dataclass(frozen=True)
class Form:
    name: str
    short: str  # one letter in `ArchSpec.slug`
    conv: ConvFn
    temporal: bool = True  # False: no temporal extent (temporal kernel 1), e.g. `2d`
    in_default_space: bool = False  # the sampler's default choices (`SpaceBounds.temporal_ops`)
    doc: str = ""
    title: str = ""  # how names spell it (`spaces.names.title`), e.g. "(2+1)D"; default: the name
    flat: str = "2d"  # the form with this one's 2D skeleton and no temporal extent (`ArchSpec.flat`:
    #                   the 2D network whose weights `spaces.inflate` takes)

    @property
    def label(self) -> str:
        return self.title or self.name


class TemporalOp(Registered):
    """The name of a registered temporal form. The built-in ones are attributes, as with an Enum."""

    _members: ClassVar[dict[str, TemporalOp]] = {}
    TWO_D: ClassVar[TemporalOp]
    THREE_D: ClassVar[TemporalOp]
    SEPARABLE: ClassVar[TemporalOp]
    DEPTHWISE: ClassVar[TemporalOp]
    CHANNELWISE: ClassVar[TemporalOp]
    TWO_D_DEPTHWISE: ClassVar[TemporalOp]


FORMS: dict[str, Form] = {}


def register_form(entry: Form) -> TemporalOp:
    """Add a form; its name becomes a valid `temporal_op`. Names and slug letters are unique."""
    if entry.name in FORMS:
        raise SpecError("form", entry.name, f"is registered already; registered: {', '.join(FORMS)}")
    taken = {f.short: f.name for f in FORMS.values()}
    if len(entry.short) != 1 or entry.short in taken:
        raise SpecError("form.short", entry.short, "must be one letter no other form uses; taken: "
                        + ", ".join(f"{s} ({n})" for s, n in taken.items()))
    FORMS[entry.name] = entry
    member = TemporalOp._members[entry.name] = TemporalOp._make(entry.name)
    return member


def form(op: str) -> Form:
    """The registered form named `op` (an error lists the registered ones)."""
    if op not in FORMS:
        raise SpecError("temporal_op", op, f"unknown temporal form; registered: {', '.join(FORMS)}")
    return FORMS[op]


def check_temporal(op: TemporalOp, kernel: int) -> None:
    """A form without temporal extent has temporal kernel 1; every other an odd kernel >= 3, or 1
    where a single frame reaches the conv (`ArchSpec.at_frames` shortens a kernel that only pads
    so, keeping the form and its weights; `ArchSpec` checks the frames)."""
    if not form(op).temporal and kernel != 1:
        raise SpecError("temporal_kernel", kernel, f"must be 1 when temporal_op is '{op}'")
    if form(op).temporal and (kernel < 1 or kernel % 2 == 0):
        raise SpecError("temporal_kernel", kernel, f"must be odd and >= 3 when temporal_op is '{op}' "
                        "(use temporal_op '2d' for no temporal extent)")


# ----------------------------------------------------------------------------------------------
# The built-in forms.


def _full(in_channels: int, out_channels: int, kernel: int, temporal_kernel: int, stride: int,
          temporal_stride: int, groups: int = 1) -> Any:
    from torch import nn

    k, kt = kernel, temporal_kernel
    return nn.Conv3d(in_channels, out_channels, (kt, k, k), stride=(temporal_stride, stride, stride),
                     padding=(kt // 2, k // 2, k // 2), groups=groups, bias=False)


def _two_d(in_channels: int, out_channels: int, kernel: int, temporal_kernel: int, stride: int,
           temporal_stride: int) -> Any:
    """One 1 x k x k conv (a temporal stride still applies, as I2D's 1a keeps I3D's strides)."""
    return _full(in_channels, out_channels, kernel, 1, stride, temporal_stride)


def _three_d(in_channels: int, out_channels: int, kernel: int, temporal_kernel: int, stride: int,
             temporal_stride: int) -> Any:
    """One kt x k x k conv (I3D)."""
    return _full(in_channels, out_channels, kernel, temporal_kernel, stride, temporal_stride)


def _channelwise(in_channels: int, out_channels: int, kernel: int, temporal_kernel: int, stride: int,
                 temporal_stride: int) -> Any:
    """One depthwise kt x k x k conv (channel-separated, CSN's ir-CSN; X3D's 3x3x3); a full conv
    where the width changes (a stem)."""
    groups = in_channels if in_channels == out_channels else 1
    return _full(in_channels, out_channels, kernel, temporal_kernel, stride, temporal_stride, groups)


def _two_d_depthwise(in_channels: int, out_channels: int, kernel: int, temporal_kernel: int, stride: int,
                     temporal_stride: int) -> Any:
    """One depthwise 1 x k x k conv; a full conv where the width changes: the 2D skeleton of the
    depthwise and channelwise forms (a 2D VoV or X3D network, e.g. to pretrain on images)."""
    return _channelwise(in_channels, out_channels, kernel, 1, stride, temporal_stride)


def _factorized(in_channels: int, out_channels: int, kernel: int, temporal_kernel: int, stride: int,
                temporal_stride: int, *, depthwise: bool) -> Any:
    from torch import nn

    k, kt = kernel, temporal_kernel
    spatial_groups = in_channels if depthwise and in_channels == out_channels else 1
    spatial = nn.Conv3d(in_channels, out_channels, (1, k, k), stride=(1, stride, stride),
                        padding=(0, k // 2, k // 2), groups=spatial_groups, bias=False)
    temporal = nn.Conv3d(out_channels, out_channels, (kt, 1, 1), stride=(temporal_stride, 1, 1),
                         padding=(kt // 2, 0, 0), groups=out_channels if depthwise else 1, bias=False)
    temporal.temporal_part = True  # no 2D counterpart: `spaces.inflate` starts it as the identity
    if depthwise:
        return nn.Sequential(spatial, temporal)
    return nn.Sequential(spatial, nn.BatchNorm3d(out_channels), nn.ReLU(inplace=True), temporal)


def _separable(in_channels: int, out_channels: int, kernel: int, temporal_kernel: int, stride: int,
               temporal_stride: int) -> Any:
    """1 x k x k conv -> BN -> ReLU -> kt x 1 x 1 conv, both Cout wide (S3D, no mid width unlike
    R(2+1)D); spatial stride on the first, temporal on the second."""
    return _factorized(in_channels, out_channels, kernel, temporal_kernel, stride, temporal_stride, depthwise=False)


def _depthwise(in_channels: int, out_channels: int, kernel: int, temporal_kernel: int, stride: int,
               temporal_stride: int) -> Any:
    """Depthwise 1 x k x k -> depthwise kt x 1 x 1 with no norm between (VoV3D's D(2+1)D). Where the
    width changes the spatial conv is a full conv (VoV3D's/X3D's stem)."""
    return _factorized(in_channels, out_channels, kernel, temporal_kernel, stride, temporal_stride, depthwise=True)


TemporalOp.TWO_D = register_form(Form("2d", "2", _two_d, temporal=False, in_default_space=True, doc=_two_d.__doc__,
                                      title="2D"))
TemporalOp.THREE_D = register_form(Form("3d", "3", _three_d, in_default_space=True, doc=_three_d.__doc__,
                                        title="3D"))
TemporalOp.SEPARABLE = register_form(Form("separable", "s", _separable, in_default_space=True,
                                          doc=_separable.__doc__, title="(2+1)D"))
TemporalOp.DEPTHWISE = register_form(Form("depthwise", "d", _depthwise, in_default_space=True,
                                          doc=_depthwise.__doc__, title="D(2+1)D", flat="2d_depthwise"))
# Not in the default space: a saved search resumes with the choices it was sampled from.
TemporalOp.CHANNELWISE = register_form(Form("channelwise", "c", _channelwise, doc=_channelwise.__doc__,
                                            title="channelwise 3D", flat="2d_depthwise"))
TemporalOp.TWO_D_DEPTHWISE = register_form(Form("2d_depthwise", "w", _two_d_depthwise, temporal=False,
                                                doc=_two_d_depthwise.__doc__, title="depthwise 2D",
                                                flat="2d_depthwise"))
