"""A benchmark's finite sub-space of the unified space, as a plain define-by-run function over
the papers' design choices (per backbone): where the temporal convs are (`layout`), their form,
the width, S3D-G gating, SmallBig's big view, and VoV3D's T-OSA depth. No two points build the
same network: `temporal` gating (which gates temporal convs only) is not offered to the `2d` layout.

Layouts name which *levels* (the stem, then each stage) carry a temporal conv, counted from the
top or the bottom of the network: `2d` none, `3d` all, `top<k>` the top k levels (S3D's
"top-heavy": 2D at the bottom), `bottom<k>` the bottom k. Big views: `off`, `top` (the top half of
the stages), `all`.

Every point maps to the search space's own parameters (`point_params`) and so to an ArchSpec by
`spaces.sample.sample_arch`: a table point is a point of the space a real search samples.

Example:
    >>> axes = {"inception_v1": Axes(layouts=("2d", "top1", "3d"), temporal_ops=("3d", "separable"))}
    >>> [p["layout"] + "/" + str(p.get("temporal_op")) for p in enumerate_points(axes)]
    ['2d/None', 'top1/3d', 'top1/separable', '3d/3d', '3d/separable']
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import optuna

from spaces import families
from spaces.bounds import BACKBONES, SpaceBounds
from spaces.sample import sample_arch
from spaces.spec import ArchSpec, BigView, Gate, SpecError, TemporalOp, stage_param

BIG_VIEW_PLACES = ("off", "top", "all")
_LAYOUT = re.compile(r"^(2d|3d|top[1-9]|bottom[1-9])$")


@dataclass(frozen=True)
class Axes:
    """The choices a benchmark offers for one backbone (each a tuple of values; one value = fixed)."""

    layouts: tuple[str, ...] = ("2d", "3d")
    temporal_ops: tuple[str, ...] = ("separable",)
    widths: tuple[float, ...] = (0.125,)
    gates: tuple[str, ...] = ("off",)
    big_views: tuple[str, ...] = ("off",)
    tosa_depths: tuple[int, ...] = (1,)  # VoV backbones only

    def check(self, backbone: str) -> None:
        if backbone not in BACKBONES:
            raise SpecError("backbones", backbone, f"unknown backbone; valid: {', '.join(BACKBONES)}")
        levels = 1 + len(BACKBONES[backbone].stages)
        where = f"backbones.{backbone}"
        for layout in self.layouts:
            if not _LAYOUT.match(layout) or (layout[0] in "tb" and int(layout.lstrip("topbm")) >= levels):
                raise SpecError(f"{where}.layouts", layout, f"must be 2d, 3d, top<k> or bottom<k> with 1 <= k < "
                                f"{levels} (the stem and {levels - 1} stages)")
        ops = [op.value for op in TemporalOp if op is not TemporalOp.TWO_D]
        for name, values, valid in (("temporal_ops", self.temporal_ops, ops),
                                    ("gates", self.gates, [g.value for g in Gate]),
                                    ("big_views", self.big_views, list(BIG_VIEW_PLACES))):
            if not values:
                raise SpecError(f"{where}.{name}", [], "must list at least one choice")
            for v in values:
                if v not in valid:
                    raise SpecError(f"{where}.{name}", v, f"unknown choice; valid: {', '.join(valid)}")
        for name, values, kind in (("widths", self.widths, (int, float)), ("tosa_depths", self.tosa_depths, int)):
            if not values or any(isinstance(v, bool) or not isinstance(v, kind) or v <= 0 for v in values):
                raise SpecError(f"{where}.{name}", list(values), "must list positive numbers")
        if not _has_tosa(backbone) and self.tosa_depths != (1,):
            raise SpecError(f"{where}.tosa_depths", list(self.tosa_depths), "T-OSA depth is a VoV choice only")


def suggest_point(trial: optuna.trial.BaseTrial, axes: dict[str, Axes]) -> dict[str, Any]:
    """One point of the benchmark space (define-by-run). Parameter names carry the backbone
    (`inception_v1.layout`): each backbone's choices are their own distributions."""
    backbone = trial.suggest_categorical("backbone", list(axes))
    a = axes[backbone]
    pick: Callable[[str, tuple], Any] = lambda name, values: (  # noqa: E731
        values[0] if len(values) == 1 else trial.suggest_categorical(f"{backbone}.{name}", list(values)))
    point: dict[str, Any] = {"backbone": backbone, "width": pick("width", a.widths),
                             "layout": pick("layout", a.layouts)}
    point["temporal_op"] = None if point["layout"] == "2d" else pick("temporal_op", a.temporal_ops)
    if point["layout"] == "2d":  # `temporal` gates only temporal convs: on an all-2D net it is `off`
        point["gate"] = pick("gate_2d", tuple(g for g in a.gates if g != Gate.TEMPORAL.value) or (Gate.OFF.value,))
    else:
        point["gate"] = pick("gate", a.gates)
    point["big_view"] = pick("big_view", a.big_views)
    point["tosa_depth"] = pick("tosa_depth", a.tosa_depths) if _has_tosa(backbone) else None
    return point


class _Path(optuna.trial.FixedTrial):
    """Walks one branch of a define-by-run space: the i-th categorical takes choice path[i] (0 past
    the path's end) and records how many choices it had."""

    def __init__(self, path: list[int]) -> None:
        super().__init__({})
        self.path, self.widths = path, []

    def suggest_categorical(self, name: str, choices: Any) -> Any:  # type: ignore[override]
        i = len(self.widths)
        self.widths.append(len(choices))
        return list(choices)[self.path[i] if i < len(self.path) else 0]


def enumerate_points(axes: dict[str, Axes]) -> list[dict[str, Any]]:
    """Every point of the define-by-run space, in a fixed order (depth-first over its choices)."""
    return list(_walk(axes))


def _walk(axes: dict[str, Axes]) -> Iterator[dict[str, Any]]:
    path: list[int] = []
    while True:
        trial = _Path(path)
        yield suggest_point(trial, axes)
        path = path + [0] * (len(trial.widths) - len(path))
        while path and path[-1] + 1 >= trial.widths[len(path) - 1]:  # odometer over the branch
            path.pop()
        if not path:
            return
        path[-1] += 1


def point_params(point: dict[str, Any], *, frames: int, depth: float, temporal_kernel: int) -> dict[str, Any]:
    """The search space's parameters (`spaces.sample.sample_arch`) of a benchmark point."""
    skeleton = BACKBONES[point["backbone"]]
    n = len(skeleton.stages)
    levels = n + 1  # the stem, then the stages
    layout = point["layout"]
    k = 0 if layout == "2d" else levels if layout == "3d" else int(layout.lstrip("topbm"))
    temporal = set(range(levels - k, levels)) if layout.startswith("top") or layout == "3d" else set(range(k))
    op = lambda level: point["temporal_op"] if level in temporal else TemporalOp.TWO_D.value  # noqa: E731
    params: dict[str, Any] = {"backbone": point["backbone"], "frames": frames, "width": point["width"],
                              "depth": depth, "gate": point["gate"], "stem_temporal_op": op(0)}
    if point["gate"] != Gate.OFF.value:
        params["gate_bias"] = False
    for i in range(1, n + 1):
        params[stage_param(i, "temporal_op")] = op(i)
        if op(i) != TemporalOp.TWO_D.value:
            params[stage_param(i, "temporal_kernel")] = temporal_kernel
        on = point["big_view"] == "all" or (point["big_view"] == "top" and i > n // 2)
        params[stage_param(i, "big_view")] = BigView.SHARED.value if on else BigView.OFF.value
        if _has_tosa(point["backbone"]):
            params[stage_param(i, "tosa_depth")] = point["tosa_depth"]
            params[stage_param(i, "squeeze_excite")] = "off"
    return params


def point_spec(point: dict[str, Any], bounds: SpaceBounds, *, depth: float, temporal_kernel: int) -> ArchSpec:
    params = point_params(point, frames=bounds.frames[0], depth=depth, temporal_kernel=temporal_kernel)
    return sample_arch(optuna.trial.FixedTrial(params), bounds)


def point_id(point: dict[str, Any]) -> str:
    """A readable key: `inception_v1/w0.125/top2-separable/gate=temporal/bv=off/tosa=-`."""
    form = point["layout"] + (f"-{point['temporal_op']}" if point["temporal_op"] else "")
    tosa = "-" if point["tosa_depth"] is None else point["tosa_depth"]
    return f"{point['backbone']}/w{point['width']}/{form}/gate={point['gate']}/bv={point['big_view']}/tosa={tosa}"


def complete_point(point: dict[str, Any], axes: dict[str, Axes]) -> dict[str, Any]:
    """A partial point (a warm start names only what it sets) with its backbone's first choices
    filled in, as `suggest_point` would give it."""
    a = axes[point["backbone"]]
    vov = _has_tosa(point["backbone"])
    full = {"width": a.widths[0], "layout": a.layouts[0], "temporal_op": a.temporal_ops[0], "gate": a.gates[0],
            "big_view": a.big_views[0], "tosa_depth": a.tosa_depths[0] if vov else None} | point
    return full | {"temporal_op": None} if full["layout"] == "2d" else full


def point_trial_params(point: dict[str, Any], axes: dict[str, Axes]) -> dict[str, Any]:
    """The Optuna parameters under which `suggest_point` gives `point` (a warm start)."""
    backbone = point["backbone"]
    a = axes[backbone]
    params: dict[str, Any] = {"backbone": backbone}
    chosen = {"width": a.widths, "layout": a.layouts, "temporal_op": a.temporal_ops, "gate": a.gates,
              "big_view": a.big_views, "tosa_depth": a.tosa_depths}
    if point.get("layout") == "2d":
        chosen["gate_2d"] = tuple(g for g in chosen.pop("gate") if g != Gate.TEMPORAL.value)
        point = point | {"gate_2d": point.get("gate")}
    for name, values in chosen.items():
        if len(values) > 1 and point.get(name) is not None:
            params[f"{backbone}.{name}"] = point[name]
    return params


class PointSpace:
    """The define-by-run space of a benchmark for Ray Tune's `OptunaSearch` (picklable): returns
    `{"point": point id}`."""

    def __init__(self, axes: dict[str, Axes]) -> None:
        self.axes = axes

    def __call__(self, trial: optuna.trial.BaseTrial) -> dict[str, str]:
        return {"point": point_id(suggest_point(trial, self.axes))}


def _has_tosa(backbone: str) -> bool:
    """Whether the backbone's family chooses a T-OSA depth per stage (VoV)."""
    return "tosa_depth" in families.get(BACKBONES[backbone].family).stage_choices
