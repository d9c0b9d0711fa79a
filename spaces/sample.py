"""The Optuna search space over the unified design space (define-by-run, no compute but a
meta-device cost count for the GMACs constraint).

A point is: a backbone skeleton (its family, widths and blocks), a width and a depth multiplier,
the input frames, global gating, and per stage the temporal form and kernel, the big view, and
for VoV the T-OSA depth and squeeze-excitation. Parameter names are flat (`s2_temporal_op`), values
primitive, so Ray Tune and Optuna storages keep them as they are.

Example:
    >>> import optuna
    >>> from spaces.bounds import SpaceBounds
    >>> from spaces.sample import sample_arch
    >>> bounds = SpaceBounds(frames=(16,), crop=112, num_classes=10)
    >>> study = optuna.create_study()
    >>> spec = sample_arch(study.ask(), bounds)
    >>> sample_arch(optuna.trial.FixedTrial(study.trials[0].params), bounds) == spec
    True
"""
from __future__ import annotations

import dataclasses
from typing import Any

import optuna

from spaces import families
from spaces.bounds import BACKBONES, STAGE_CHOICE_BOUNDS, SpaceBounds, gmacs_over_budget
from spaces.cost import cost
from spaces.forms import TemporalOp, form
from spaces.presets import PRESETS, unknown_preset
from spaces.schema import encode
from spaces.spec import ArchSpec, Gate, SpecError, stage_param, stage_param_name


def sample_arch(trial: optuna.trial.BaseTrial, bounds: SpaceBounds) -> ArchSpec:
    """Sample one architecture; sets the constraint `gmacs - max_gmacs <= 0` when budgeted."""
    backbone = trial.suggest_categorical("backbone", bounds.backbone_choices())
    skeleton = BACKBONES[backbone]
    frames = trial.suggest_categorical("frames", list(bounds.frames))
    width = trial.suggest_categorical("width", list(bounds.widths))
    depth = trial.suggest_categorical("depth", list(bounds.depths))
    # one value is no choice: not suggested, so searches saved before the axis draw as they did
    bottleneck = (trial.suggest_categorical("bottleneck", list(bounds.bottlenecks)) if len(bounds.bottlenecks) > 1
                  else bounds.bottlenecks[0])
    gate = trial.suggest_categorical("gate", list(bounds.gates))
    gate_bias = trial.suggest_categorical("gate_bias", [False, True]) if gate != Gate.OFF.value else False
    stem_op = trial.suggest_categorical("stem_temporal_op", list(bounds.temporal_ops))
    stages = []
    for i in range(1, len(skeleton.stages) + 1):
        choice: dict[str, Any] = {"temporal_op": trial.suggest_categorical(stage_param(i, "temporal_op"), list(bounds.temporal_ops))}
        choice["temporal_kernel"] = (1 if not form(choice["temporal_op"]).temporal else
                                     trial.suggest_categorical(stage_param(i, "temporal_kernel"), list(bounds.temporal_kernels)))
        choice["big_view"] = trial.suggest_categorical(stage_param(i, "big_view"), list(bounds.big_views))
        for name in families.get(skeleton.family).stage_choices:
            values = list(getattr(bounds, STAGE_CHOICE_BOUNDS[name]))
            choice[name] = trial.suggest_categorical(stage_param(i, name), values)
        stages.append(choice)
    spec = configure(skeleton.scaled(width=width, depth=depth, divisor=bounds.divisor, bottleneck=bottleneck),
                     frames=frames, crop=bounds.crop, num_classes=bounds.num_classes, gate=gate, gate_bias=gate_bias,
                     stem_op=stem_op, stages=stages)
    if bounds.max_gmacs is not None:
        trial.set_constraint("gmacs_over_budget", gmacs_over_budget(cost(spec).gmacs, bounds.max_gmacs))
    return spec


def configure(skeleton: ArchSpec, *, frames: int, crop: int, num_classes: int, gate: str, gate_bias: bool,
              stem_op: str, stages: list[dict[str, Any]]) -> ArchSpec:
    """Put per-stage choices on a skeleton. A temporal kernel longer than the frames reaching a
    conv allows is shortened, and to `2d` if no frames are left to mix (kept valid, not rejected)."""
    frames_at = [frames]
    for conv in skeleton.stem[:-1]:
        frames_at.append(-(-frames_at[-1] // conv.temporal_stride))
    stem = tuple(
        conv if conv.kernel == 1 else dataclasses.replace(
            conv, **_temporal(stem_op, conv.temporal_kernel, frames_in))
        for conv, frames_in in zip(skeleton.stem, frames_at)
    )
    new_stages = []
    stage_frames = skeleton.stage_frames(frames)
    own = families.get(skeleton.family).stage_choices
    for stage, frames_out, choice in zip(skeleton.stages, stage_frames, stages):
        # every block of a stage sees at least the stage's output frames
        kernel = _temporal(choice["temporal_op"], choice["temporal_kernel"], frames_out)
        extra = {k: v for k, v in choice.items() if k in own}
        blocks = tuple(dataclasses.replace(b, **kernel, big_view=choice["big_view"], **extra) for b in stage.blocks)
        new_stages.append(dataclasses.replace(stage, blocks=blocks))
    window = min(skeleton.head.temporal_window, stage_frames[-1])
    return dataclasses.replace(skeleton, stem=stem, stages=tuple(new_stages), frames=frames, crop=crop,
                               num_classes=num_classes, gate=gate, gate_bias=gate_bias,
                               head=dataclasses.replace(skeleton.head, temporal_window=window))


def _temporal(op: str, kernel: int, frames: int) -> dict[str, Any]:
    kernel = min(kernel, 2 * frames - 1)
    if not form(op).temporal:
        return {"temporal_op": op, "temporal_kernel": 1}
    if kernel < 3:
        return {"temporal_op": TemporalOp.TWO_D, "temporal_kernel": 1}
    return {"temporal_op": op, "temporal_kernel": kernel if kernel % 2 else kernel - 1}


def preset_params(name: str, bounds: SpaceBounds, *, width: float = 1.0, depth: float = 1.0,
                  frames: int | None = None) -> dict[str, Any]:
    """Trial params that replay preset `name` (scaled by width/depth, at `frames`) through
    `sample_arch`, for warm starts (`study.enqueue_trial`): its point of the space
    (`ArchSpec.as_space_point`: the reference code's 5a pool and BatchNorm epsilon are not choices).
    Raises if the preset is not a point of the per-stage space (e.g. a cut inside a stage) or needs
    a choice outside `bounds`."""
    if name not in PRESETS:
        raise SpecError("preset", name, unknown_preset(name))
    preset = PRESETS[name].spec
    frames = bounds.frames[0] if frames is None else frames
    params = {"frames": frames, "width": width, "depth": depth, "gate": preset.gate.value}
    if len(bounds.bottlenecks) > 1 or bounds.bottlenecks[0] != 1.0:  # checked in bounds below
        params["bottleneck"] = 1.0
    if preset.gate is not Gate.OFF:
        params["gate_bias"] = preset.gate_bias
    stem_ops = {c.temporal_op.value for c in preset.stem if c.kernel > 1}
    params["stem_temporal_op"] = _uniform(name, "stem temporal_op", stem_ops)
    for i, stage in enumerate(preset.stages, start=1):
        blocks = stage.blocks
        params[stage_param(i, "temporal_op")] = _uniform(name, f"stage {i} temporal_op", {b.temporal_op.value for b in blocks})
        if form(params[stage_param(i, "temporal_op")]).temporal:
            params[stage_param(i, "temporal_kernel")] = _uniform(name, f"stage {i} temporal_kernel",
                                                       {b.temporal_kernel for b in blocks})
        params[stage_param(i, "big_view")] = _uniform(name, f"stage {i} big_view", {b.big_view.value for b in blocks})
        for field in families.get(preset.family).stage_choices:
            params[stage_param(i, field)] = _uniform(name, f"stage {i} {field}", {encode(getattr(b, field)) for b in blocks})
    _check_in_bounds(name, params, bounds)
    target = preset.as_space_point().replace(crop=bounds.crop, num_classes=bounds.num_classes)
    for backbone in bounds.backbone_choices():
        params["backbone"] = backbone
        trial = optuna.trial.FixedTrial(params)
        try:
            replayed = sample_arch(trial, dataclasses.replace(bounds, max_gmacs=None))
            expected = configure(target.scaled(width=width, depth=depth, divisor=bounds.divisor), frames=frames,
                                 crop=bounds.crop, num_classes=bounds.num_classes, gate=preset.gate.value,
                                 gate_bias=preset.gate_bias, stem_op=params["stem_temporal_op"],
                                 stages=_stage_choices(params, len(preset.stages)))
        except (SpecError, ValueError):
            continue
        if replayed == expected:
            return params
    raise SpecError("preset", name, "is not a point of this space (its skeleton is not among "
                    f"backbones {bounds.backbone_choices()}, or it changes form inside a stage)")


def _stage_choices(params: dict[str, Any], n: int) -> list[dict[str, Any]]:
    keys = ("temporal_op", "temporal_kernel", "big_view", *STAGE_CHOICE_BOUNDS)
    out = []
    for i in range(1, n + 1):
        choice = {k: params[stage_param(i, k)] for k in keys if stage_param(i, k) in params}
        choice.setdefault("temporal_kernel", 1)
        out.append(choice)
    return out


def _uniform(name: str, what: str, values: set[Any]) -> Any:
    if len(values) != 1:
        raise SpecError("preset", name, f"mixes {what} {sorted(values)} within one stage; the search space "
                        "chooses one per stage")
    return next(iter(values))


def _check_in_bounds(name: str, params: dict[str, Any], bounds: SpaceBounds) -> None:
    plural = {"frames": "frames", "width": "widths", "depth": "depths", "bottleneck": "bottlenecks", "gate": "gates",
              "temporal_op": "temporal_ops", "temporal_kernel": "temporal_kernels", "big_view": "big_views", **STAGE_CHOICE_BOUNDS}
    for key, value in params.items():
        field = stage_param_name(key) or ("temporal_op" if key == "stem_temporal_op" else key)
        if field in plural and value not in getattr(bounds, plural[field]):
            raise SpecError("preset", name, f"needs {key}={value!r}, outside space.{plural[field]} "
                            f"{list(getattr(bounds, plural[field]))}")


class ArchSpace:
    """The define-by-run space for Ray Tune's `OptunaSearch`: a picklable callable returning only
    constants, `{"arch": spec JSON}` (Tune pickles the searcher with it at every checkpoint)."""

    def __init__(self, bounds: SpaceBounds) -> None:
        self.bounds = bounds

    def __call__(self, trial: optuna.trial.BaseTrial) -> dict[str, str]:
        return {"arch": sample_arch(trial, self.bounds).to_json()}
