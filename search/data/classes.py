"""The built-in benchmark's classes: the profiles, the sizes, the class of each kind (appearance,
motion pairs, order pairs) and what each event draws. `search.data.synth` says what the
benchmark is; `search.data.draw` renders a clip of a class.
"""
from __future__ import annotations

from dataclasses import dataclass

from search.data.store import StoreError, StoreMeta

PROFILES = {
    "appearance": "appearance classes, motion and order pairs; each event has its own shape (Kinetics-like mix)",
    "temporal": "motion and order pairs only, one object look shared by every class (Something-Something-like)",
}
TEXTURES = ("solid", "stripes", "checker", "dots")
# The temporal profile's shapes, drawn for every class: none is round (a turning disc looks still).
SHARED_SHAPES = ("square", "diamond", "triangle", "cross", "tee", "bar", "hexagon", "star")

# (shape, texture) of the appearance classes, in the order sizes take them. Their shapes are
# used by no pair class, so no clip can belong to an appearance class and a pair class at once.
APPEARANCE = (("circle", "solid"), ("triangle", "stripes"), ("cross", "checker"), ("bar", "solid"),
              ("circle", "checker"), ("triangle", "dots"), ("cross", "stripes"), ("bar", "dots"),
              ("circle", "stripes"), ("triangle", "solid"))
# Sizes take pairs in this order; the appearance profile uses the first 5 and 3 at most.
MOTION_PAIRS = (("move_right", "move_left"), ("move_down", "move_up"), ("grow", "shrink"),
                ("rotate_cw", "rotate_ccw"), ("brighten", "darken"), ("orbit_cw", "orbit_ccw"), ("fall", "rise"),
                ("move_together", "move_apart"))
ORDER_PAIRS = (("red_then_blue", "blue_then_red"), ("square_then_circle", "circle_then_square"),
               ("flash_early", "flash_late"), ("appear", "disappear"))
# The appearance profile's look of each event: its own shape, and its texture where it fixes one
# (None: drawn). square_then_circle draws its own two shapes in both profiles.
EVENT_LOOK = {"move_right": ("square", None), "move_down": ("diamond", None), "grow": ("ring", None),
              "rotate_cw": ("tee", "solid"), "brighten": ("hexagon", None), "orbit_cw": ("tee", None),
              "fall": ("hexagon", None), "move_together": ("diamond", None), "red_then_blue": ("star", None),
              "square_then_circle": ("square", "solid"), "flash_early": ("star", None), "appear": ("square", None)}


@dataclass(frozen=True)
class SynthSize:
    frames: int
    size: int  # height = width, pixels
    appearance: int  # the appearance profile: appearance classes, motion pairs, order pairs
    motion_pairs: int
    order_pairs: int
    temporal: tuple[int, int]  # the temporal profile: (motion pairs, order pairs)
    train_per_class: int
    val_per_class: int  # val selects (rungs, fronts); test reports, from its own seed stream
    test_per_class: int


# The temporal profile has as many classes as the appearance one (6, 18, 24), up to the 24 pair
# classes there are (large: 24, not 26).
SIZES: dict[str, SynthSize] = {
    "tiny": SynthSize(frames=16, size=32, appearance=2, motion_pairs=1, order_pairs=1, temporal=(2, 1),
                      train_per_class=16, val_per_class=8, test_per_class=8),  # unit tests: seconds
    "demo": SynthSize(frames=16, size=32, appearance=6, motion_pairs=4, order_pairs=2, temporal=(6, 3),
                      train_per_class=160, val_per_class=40, test_per_class=80),  # a ~20-trial search on 2 cores
    "study": SynthSize(frames=16, size=32, appearance=6, motion_pairs=4, order_pairs=2, temporal=(6, 3),
                       train_per_class=100, val_per_class=40, test_per_class=80),  # the studies (make studies)
    "medium": SynthSize(frames=16, size=64, appearance=8, motion_pairs=5, order_pairs=3, temporal=(8, 4),
                        train_per_class=600, val_per_class=100, test_per_class=200),  # one GPU
    "large": SynthSize(frames=32, size=112, appearance=10, motion_pairs=5, order_pairs=3, temporal=(8, 4),
                       train_per_class=2000, val_per_class=200, test_per_class=400),  # a GPU cluster
}


@dataclass(frozen=True)
class SynthClass:
    name: str
    group: str  # appearance | motion | order
    event: str  # the appearance key "shape/texture", or the forward event of the pair
    reverse: bool = False  # the pair's second class: the first, reversed in time
    profile: str = "appearance"  # temporal: the object's look is drawn alike for every class


def class_table(size: SynthSize, profile: str = "appearance") -> list[SynthClass]:
    """The classes of a benchmark in label order: the one place that decides them, per size and profile."""
    if profile not in PROFILES:
        raise StoreError(f"unknown profile {profile!r}; available: {', '.join(PROFILES)}")
    appearance, (motion, order) = ((size.appearance, (size.motion_pairs, size.order_pairs)) if profile == "appearance"
                                   else (0, size.temporal))
    classes = [SynthClass(f"{shape}_{texture}", "appearance", f"{shape}/{texture}", profile=profile)
               for shape, texture in APPEARANCE[:appearance]]
    for group, pairs, count in (("motion", MOTION_PAIRS, motion), ("order", ORDER_PAIRS, order)):
        for forward, backward in pairs[:count]:
            classes += [SynthClass(forward, group, forward, profile=profile),
                        SynthClass(backward, group, forward, reverse=True, profile=profile)]
    return classes


def class_pairs(classes: list[SynthClass]) -> list[tuple[int, int]]:
    return [(i, i + 1) for i, c in enumerate(classes) if c.group != "appearance" and not c.reverse]


def store_profile(meta: StoreMeta) -> str:
    """The profile a built-in benchmark store was made with (stores of the default profile, and
    those made before profiles existed, do not record it)."""
    return meta.source.get("profile", "appearance")


# Sensor noise (sigma 6 grey levels), drawn once: each clip reads it at an offset of its own.
