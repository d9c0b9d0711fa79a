"""What a search may choose from (`SpaceBounds`) and the skeletons it scales (`BACKBONES`): plain
values, checked on construction; no torch, no Optuna (a config is read without either).
`spaces.sample.sample_arch(trial, bounds)` draws from it.

Example:
    >>> from spaces.bounds import SpaceBounds
    >>> SpaceBounds(families=("x3d",), backbones=("x3d_m",)).backbone_choices()
    ['x3d_m']
"""
from __future__ import annotations

from dataclasses import dataclass

from spaces import families
from spaces.forms import FORMS
from spaces.spec import ArchSpec, BigView, Gate, SpecError, SqueezeExcite

# Skeletons, from every family (`FamilyDef.backbones`): the papers' widths and blocks with every
# spatio-temporal conv carrying the temporal kernel it takes when a sampled form gives it one (1a: 7,
# VoV stem: 5, a 3D ResNet conv1: 5 as in I3D-ResNet).
BACKBONES: dict[str, ArchSpec] = {}


def backbones() -> dict[str, ArchSpec]:
    """BACKBONES, with the skeletons of families registered since the last call added."""
    return families.gather("backbones", BACKBONES)


backbones()
# The bounds that hold the values of a family's per-stage block choice (`FamilyDef.stage_choices`).
STAGE_CHOICE_BOUNDS = {"tosa_depth": "tosa_depths", "squeeze_excite": "squeeze_excites"}
# A config that names no families, backbones or forms gets these: the space before X3D and the
# channelwise form joined, so a saved search resumes with the choices it was sampled from.
DEFAULT_FAMILIES = tuple(d.name for d in families.all_definitions() if d.in_default_space)
DEFAULT_FORMS = tuple(name for name, f in FORMS.items() if f.in_default_space)


@dataclass(frozen=True)
class SpaceBounds:
    """What the search may choose from. Values are plain strings/numbers (YAML-friendly)."""

    families: tuple[str, ...] = DEFAULT_FAMILIES
    backbones: tuple[str, ...] = tuple(b for b, spec in BACKBONES.items() if spec.family in DEFAULT_FAMILIES)
    widths: tuple[float, ...] = (0.25, 0.5, 1.0)  # multipliers of the skeleton's channels
    depths: tuple[float, ...] = (0.5, 1.0)  # multipliers of the skeleton's blocks per stage
    bottlenecks: tuple[float, ...] = (1.0,)  # multipliers of the blocks' inner widths (X3D's bottleneck
    #                                          width); chosen only when more than one is given
    frames: tuple[int, ...] = (16,)
    crop: int = 224
    num_classes: int = 400
    temporal_ops: tuple[str, ...] = DEFAULT_FORMS
    temporal_kernels: tuple[int, ...] = (3, 5)
    gates: tuple[str, ...] = tuple(g.value for g in Gate)
    big_views: tuple[str, ...] = tuple(b.value for b in BigView)
    tosa_depths: tuple[int, ...] = (1, 2, 3, 4, 5)
    squeeze_excites: tuple[str, ...] = tuple(s.value for s in SqueezeExcite)
    max_gmacs: float | None = None  # feasibility constraint (Optuna `set_constraint`), GMACs per view as
    #                                  spaces.cost counts them (a clip of v views costs v times that)
    divisor: int = 8  # channel rounding of `ArchSpec.scaled`

    def __post_init__(self) -> None:
        for name, valid in (("families", families.names()), ("temporal_ops", list(FORMS)),
                            ("gates", [m.value for m in Gate]), ("big_views", [m.value for m in BigView]),
                            ("squeeze_excites", [m.value for m in SqueezeExcite])):
            _check_choices(name, getattr(self, name), valid)
        _check_choices("backbones", self.backbones, list(backbones()))
        if not self.backbone_choices():
            raise SpecError("backbones", list(self.backbones), f"none is of the families {list(self.families)}")
        for name in ("widths", "depths", "bottlenecks"):
            _check_numbers(name, getattr(self, name), low=0.0, strict=True)
        _check_numbers("frames", self.frames, low=1, integer=True)
        _check_numbers("temporal_kernels", self.temporal_kernels, low=3, integer=True)
        if any(k % 2 == 0 for k in self.temporal_kernels):
            raise SpecError("temporal_kernels", list(self.temporal_kernels), "must all be odd")
        _check_numbers("tosa_depths", self.tosa_depths, low=1, integer=True)
        for name in ("crop", "num_classes", "divisor"):
            if getattr(self, name) < 1:
                raise SpecError(name, getattr(self, name), "must be >= 1")
        if self.max_gmacs is not None and not self.max_gmacs > 0:  # NaN too
            raise SpecError("max_gmacs", self.max_gmacs, "must be > 0 (or null for no budget)")

    def backbone_choices(self) -> list[str]:
        return [b for b in self.backbones if BACKBONES[b].family.value in self.families]


def _check_choices(name: str, values: tuple[str, ...], valid: list[str]) -> None:
    if not values:
        raise SpecError(name, [], "must list at least one choice")
    for v in values:
        if v not in valid:
            raise SpecError(name, v, f"unknown choice; valid: {', '.join(valid)}")


def _check_numbers(name: str, values: tuple[float, ...], *, low: float, strict: bool = False,
                   integer: bool = False) -> None:
    if not values:
        raise SpecError(name, [], "must list at least one choice")
    kind = int if integer else (int, float)
    for v in values:
        if isinstance(v, bool) or not isinstance(v, kind) or not v == v or (v <= low if strict else v < low):
            raise SpecError(name, v, f"must be {'an integer' if integer else 'a number'} {'>' if strict else '>='} {low}")


def gmacs_over_budget(gmacs: float, max_gmacs: float | None) -> float | None:
    """The space's GMACs budget, the one rule the sampler (as Optuna's constraint), the warm starts
    and the trial (which fails an infeasible draw untrained) all apply: how far `gmacs` (per view,
    as `spaces.cost` counts) is over `max_gmacs`; <= 0 is feasible; None without a budget."""
    return None if max_gmacs is None else gmacs - max_gmacs
