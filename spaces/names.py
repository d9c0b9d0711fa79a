"""Names a person reads without a legend: what MLflow lists a trial as, what reports print.

`ArchSpec.slug` stays the compact key of tables and benchmarks (one letter a form); `title` spells
the same architecture out, most telling first, since a narrow column cuts the end:

    s3d: inception 16x32 · (2+1)D everywhere · width 208, blocks 1/3/1 · #3c9e0a
    inception 8x32 · 2D stem–s1, 3D s2–s3 · gate temporal + bias · width 208, blocks 1/3/1 · #51d2f7
    vov 16x32 · D(2+1)D everywhere · tosa depth 1/2/3/1 · squeeze excite alternate · width 40, ...

Stages are counted from the stem (s1 is the family's first stage: Inception's 3b-3c, ResNet's res2);
kernels other than 3 say so (3D k5). Every choice the sampler makes is spelled (`ArchSpec.choices`),
and the name ends with six hex digits of the spec's JSON: distinct specs get distinct names even
where two differ only in what no choice records (e.g. X3D's bottleneck width).
"""
from __future__ import annotations

import hashlib
import re
from typing import Any

from spaces import families
from spaces.forms import form


def digest(spec: Any) -> str:
    """Six hex digits of the spec's JSON (what the name ends with after '#')."""
    return hashlib.sha256(spec.to_json().encode()).hexdigest()[:6]


def title(spec: Any, preset: str = "") -> str:
    """The architecture spelled out, e.g. `inception 16x32 · 2D stem–s1, 3D s2–s3 · ...`; with
    `preset`, the paper's name in front (`s3d: ...`)."""
    choices = spec.choices()
    stages = len(spec.stages)
    positions = ["stem", *(f"s{i}" for i in range(1, stages + 1))]
    per_stage = _per_stage(choices, stages)
    ops = [_form(choices["stem_temporal_op"], 3)]
    ops += [_form(per_stage[i]["temporal_op"], per_stage[i]["temporal_kernel"]) for i in range(stages)]
    parts = [f"{spec.family.value} {spec.frames}x{spec.crop}", _grouped(ops, positions, everywhere=True)]
    if spec.gate.value != "off" or spec.gate_bias:
        parts.append(f"gate {spec.gate.value}" + (" + bias" if spec.gate_bias else ""))
    big = [str(s["big_view"]) for s in per_stage]
    if any(v != "off" for v in big):
        parts.append("big view " + _grouped(big, positions[1:], skip="off"))
    fixed = {"temporal_op", "temporal_kernel", "big_view", "blocks", "width"}
    for name in sorted({k for s in per_stage for k in s} - fixed):  # the family's own choices
        values = [str(s.get(name, "-")) for s in per_stage]
        shown = values[0] if len(set(values)) == 1 else "/".join(values)
        parts.append(f"{name.replace('_', ' ')} {shown}")
    if "temporal_pools" in choices:
        parts.append(f"temporal pools {choices['temporal_pools']}")
    parts.append(f"width {per_stage[-1]['width']}, blocks " + "/".join(str(s["blocks"]) for s in per_stage))
    parts.append(f"#{digest(spec)}")
    return (f"{preset}: " if preset else "") + " · ".join(parts)


def _per_stage(choices: dict[str, Any], stages: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{} for _ in range(stages)]
    for key, value in choices.items():
        if m := re.fullmatch(r"s(\d+)_(.+)", key):
            out[int(m[1]) - 1][m[2]] = value
    return out


def _form(op: str, kernel: Any) -> str:
    if op == "mixed":
        return "mixed forms"
    label = form(op).label
    return label if kernel in (1, 3) or not form(op).temporal else f"{label} k{kernel}"


def _grouped(values: list[str], positions: list[str], *, everywhere: bool = False, skip: str = "") -> str:
    """Runs of equal values with where they are: `2D stem–s1, 3D s2–s3`."""
    if everywhere and len(set(values)) == 1:
        return f"{values[0]} everywhere"
    runs: list[tuple[str, int, int]] = []
    for i, value in enumerate(values):
        if runs and runs[-1][0] == value:
            runs[-1] = (value, runs[-1][1], i)
        else:
            runs.append((value, i, i))
    return ", ".join(f"{v} {positions[a]}" + (f"–{positions[b]}" if b > a else "")
                     for v, a, b in runs if v != skip)




def slug(spec: Any) -> str:
    """The compact name (`ArchSpec.slug`; the key of run names before `title`, and of the tables'
    rows): family, the temporal form of the stem's spatial convs "." of each stage (each form's
    letter: 2, 3, s = separable, d = depthwise, ...), big views per stage (b), gating (gt, gb; "+"
    with a bias), the family's part (VoV: T-OSA depths), temporal pool kernels when not S3D's (tp),
    last width, blocks, input. Never parsed back."""
    short = lambda op: form(op).short  # noqa: E731
    stem = "".join(short(c.temporal_op) for c in spec.stem if c.kernel > 1)
    ops = f"{stem}.{''.join(short(st.blocks[0].temporal_op) for st in spec.stages)}"
    big = "".join("b" if st.blocks[0].big_view.value != "off" else "-" for st in spec.stages)
    gate = {"off": "", "temporal": "-gt", "branches": "-gb"}[spec.gate.value] + ("+" if spec.gate_bias else "")
    width = spec.stages[-1].blocks[-1].out_channels
    depth = sum(len(st.blocks) for st in spec.stages)
    own = families.get(spec.family).slug(spec)
    pools = f"-tp{p}" if (p := temporal_pools(spec)) else ""
    return f"{spec.family.value}-{ops}-{big}{gate}{own}{pools}-w{width}-d{depth}-{spec.frames}x{spec.crop}"


def temporal_pools(spec: Any) -> str:
    """The temporal kernels of the stem's pools "." of the stages' entry pools (1 where a stage
    does not stride in time), e.g. "2.122"; "" when every pool has its default, so the
    architectures named before the field existed keep their names."""
    if all(c.pool_temporal_kernel == 1 for c in spec.stem) and all(s.pool_temporal_kernel == 3 for s in spec.stages):
        return ""
    stem = "".join(str(c.pool_temporal_kernel) for c in spec.stem if c.pool)
    stages = "".join(str(s.pool_temporal_kernel if s.temporal_stride > 1 else 1) for s in spec.stages)
    return f"{stem}.{stages}" if families.get(spec.family).enters_by == "pool" else stem


__all__ = ["digest", "slug", "temporal_pools", "title"]
