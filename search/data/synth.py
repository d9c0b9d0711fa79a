"""The built-in benchmark: procedural video clips where time really matters.

One object on a cluttered textured background seen through a panning camera, with moving
distractor shapes and pixel noise. Three kinds of classes:

- **appearance** classes: the object's shape and texture decide; one frame suffices (Kinetics-like);
- **motion pairs**: the same object moving one way or the opposite way (right/left, down/up,
  grow/shrink, rotate cw/ccw, brighten/darken, orbit cw/ccw, fall/rise, together/apart);
- **order pairs**: event A then B, or B then A (red then blue, square then circle, a flash early or
  late, appear/disappear).

Two profiles (`PROFILES`; `class_table` decides the classes of each, per size):

- `appearance` (the default): appearance classes plus motion and order pairs; each pair's event
  draws its object with a shape of its own, so one frame may tell the pair (never the class in it).
- `temporal` (Something-Something-like): motion and order pairs only; the object's shape, texture
  and colour come from one distribution shared by every class (`object_look`: the same code and
  random draws for all), so a frame tells only what an event defines itself (red_then_blue's
  colours, square_then_circle's shapes, a size, a brightness), never what the look could carry.

The within-pair property: the second class of a pair is *defined* as the time reversal of the first
(the same random scene, frames in reverse order). Both classes therefore have exactly the same
distribution of frame sets, and any model that ignores frame order (e.g. averages per-frame
features, as TSN does) is at chance between the two classes of a pair: its within-pair accuracy
is 50%. Only temporal modelling can beat that. `tests/search/data/test_synth.py` checks it.

Every clip is a pure function of (seed, split, index, profile): generation is deterministic, and
parallel. The appearance profile renders exactly what it did before profiles existed.

    vidnas data synth t --size demo --profile temporal --out data/demo-temporal
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa

from search.data.pool import worker_pool
from search.data.store import BATCH_ROWS, StoreError, StoreMeta, clips_to_batch, write_meta, write_split

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
_NOISE = np.random.default_rng(0).standard_normal(1 << 22, dtype=np.float32) * 6.0


def clip_rng(seed: int, split: str, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, {"train": 0, "val": 1, "test": 2}[split], index])


def render_clip(cls: SynthClass, *, frames: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """One clip of class `cls` (of its profile): (frames, size, size, 3) uint8."""
    canvas = _background(rng, frames, size)
    for _ in range(2):  # distractors: small blobs on random straight paths, behind the object
        track = _random_track(rng, frames, size, radius=(0.06, 0.09), speed=1.5)
        _draw(canvas, track, shape=("circle", "square")[rng.integers(2)], texture="solid", color=_random_color(rng))
    _draw_event(canvas, cls, rng, frames, size)
    margin = (canvas.shape[1] - size) // 2
    canvas = canvas[:, margin:margin + size, margin:margin + size]
    start = rng.integers(0, _NOISE.size - canvas.size)
    canvas += _NOISE[start:start + canvas.size].reshape(canvas.shape)  # sensor noise
    clip = np.clip(canvas, 0, 255, out=canvas).astype(np.uint8)
    return clip[::-1].copy() if cls.reverse else clip


# ---------------------------------------------------------------------------------------------
# The object: how it looks, and what each class does.


def object_look(cls: SynthClass, rng: np.random.Generator) -> tuple[str, str, np.ndarray]:
    """The object's (shape, texture, colour). The temporal profile draws all three alike for every
    class, from one distribution; the appearance profile draws the colour and, where the class does
    not fix it, the texture, and takes the shape of the appearance class or of the event."""
    color, texture = _random_color(rng), TEXTURES[rng.integers(len(TEXTURES))]
    if cls.profile == "temporal":
        return SHARED_SHAPES[rng.integers(len(SHARED_SHAPES))], texture, color
    if cls.group == "appearance":
        shape, texture = cls.event.split("/")
        return shape, texture, color
    shape, own_texture = EVENT_LOOK[cls.event]
    return shape, own_texture or texture, color


def _draw_event(canvas: np.ndarray, cls: SynthClass, rng: np.random.Generator, frames: int, size: int) -> None:
    t = np.arange(frames, dtype=np.float32)
    track = _random_track(rng, frames, size, radius=(0.24, 0.3), speed=0.6)
    shape, texture, color = object_look(cls, rng)
    if cls.group == "appearance" or _move(track, cls.event, rng, t, size):
        _draw(canvas, track, shape=shape, texture=texture, color=color)
    else:
        _draw_sequence(canvas, track, cls.event, rng, t, size, shape=shape, texture=texture, color=color)


def _move(track: dict[str, np.ndarray], event: str, rng: np.random.Generator, t: np.ndarray, size: int) -> bool:
    """Animate `track` for a motion event of one object; False for the other events."""
    if event in ("move_right", "move_down"):
        start, speed = rng.uniform(0.25, 0.4) * size, rng.uniform(0.6, 1.0)
        along, across = start + speed * t, rng.uniform(0.3, 0.7) * size + rng.uniform(-0.15, 0.15) * t
        track["x"], track["y"] = (along, across) if event == "move_right" else (across, along)
    elif event == "grow":
        track["r"] = np.linspace(rng.uniform(0.12, 0.16), rng.uniform(0.3, 0.36), len(t), dtype=np.float32) * size
    elif event == "rotate_cw":
        track["angle"] = rng.uniform(0, 2 * math.pi) + math.radians(rng.uniform(6, 12)) * t
    elif event == "brighten":
        track["intensity"] = np.linspace(rng.uniform(0.25, 0.4), rng.uniform(0.9, 1.0), len(t), dtype=np.float32)
    elif event == "orbit_cw":  # a circle around the drifting centre, clockwise on screen (y points down)
        radius, turns = rng.uniform(0.12, 0.2) * size, rng.uniform(0.6, 1.0)
        angle = rng.uniform(0, 2 * math.pi) + turns * 2 * math.pi / len(t) * t
        track["x"], track["y"] = track["x"] + radius * np.cos(angle), track["y"] + radius * np.sin(angle)
    elif event == "fall":  # from rest, accelerating down (rise: up, slowing to rest)
        top, drop = rng.uniform(0.25, 0.35) * size, rng.uniform(0.3, 0.4) * size
        track["y"] = top + drop * (t / t[-1]) ** 2
    else:
        return False
    return True


def _draw_sequence(canvas: np.ndarray, track: dict[str, np.ndarray], event: str, rng: np.random.Generator,
                   t: np.ndarray, size: int, *, shape: str, texture: str, color: np.ndarray) -> None:
    """The events that draw the object in parts: two copies, or two states one after the other."""
    frames = len(t)
    if event == "move_together":  # two smaller copies closing in until they nearly touch
        heading = rng.uniform(0, math.pi)
        gap = np.linspace(rng.uniform(0.24, 0.3), rng.uniform(0.13, 0.16), frames, dtype=np.float32) * size
        for sign in (-1, 1):
            copy = track | {"x": track["x"] + sign * gap * math.cos(heading),
                            "y": track["y"] + sign * gap * math.sin(heading), "r": track["r"] * 0.6}
            _draw(canvas, copy, shape=shape, texture=texture, color=color)
    elif event == "appear":
        shown = t >= rng.integers(frames // 4, 3 * frames // 4 + 1)
        _draw(canvas, track, shape=shape, texture=texture, color=color, when=shown)
    elif event in ("red_then_blue", "square_then_circle"):
        switch = rng.integers(frames // 3, 2 * frames // 3 + 1)
        before, after = t < switch, t >= switch
        if event == "red_then_blue":
            red, blue = _jitter(rng, (220, 40, 40)), _jitter(rng, (40, 70, 230))
            _draw(canvas, track, shape=shape, texture=texture, color=red, when=before)
            _draw(canvas, track, shape=shape, texture=texture, color=blue, when=after)
        else:
            _draw(canvas, track, shape="square", texture=texture, color=color, when=before)
            _draw(canvas, track, shape="circle", texture=texture, color=color, when=after)
    elif event == "flash_early":
        flash = rng.integers(1, max(2, frames // 3 - 1))
        lit = (t >= flash) & (t < flash + 2)
        _draw(canvas, track, shape=shape, texture=texture, color=color, when=~lit)
        _draw(canvas, track, shape=shape, texture="solid", color=np.full(3, 255.0, np.float32), when=lit)
    else:  # a bug: class_table only names the events above
        raise ValueError(f"unknown event {event!r}")


# ---------------------------------------------------------------------------------------------
# Drawing.


def _random_track(rng: np.random.Generator, frames: int, size: int, *, radius: tuple[float, float],
                  speed: float) -> dict[str, np.ndarray]:
    """A straight path with a direction drawn uniformly: symmetric under time reversal."""
    t = np.arange(frames, dtype=np.float32) - (frames - 1) / 2
    heading, v = rng.uniform(0, 2 * math.pi), rng.uniform(0, speed)
    centre = rng.uniform(0.3, 0.7, 2) * size
    return {
        "x": centre[0] + v * math.cos(heading) * t,
        "y": centre[1] + v * math.sin(heading) * t,
        "r": np.full(frames, rng.uniform(*radius) * size, np.float32),
        "angle": np.full(frames, math.radians(rng.uniform(-15, 15)), np.float32),
        "intensity": np.ones(frames, np.float32),
    }


def _shape_mask(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    au, av = np.abs(u), np.abs(v)
    if shape == "circle":
        return u * u + v * v <= 1.0
    if shape == "square":
        return np.maximum(au, av) <= 0.8
    if shape == "diamond":
        return au + av <= 1.0
    if shape == "triangle":
        return (v >= -0.6) & (au <= (0.9 - v) * 0.6)
    if shape == "cross":
        return ((au < 0.3) & (av < 0.95)) | ((av < 0.3) & (au < 0.95))
    if shape == "ring":
        d = u * u + v * v
        return (d <= 1.0) & (d >= 0.45)
    if shape == "tee":  # no rotational symmetry: rotation is visible
        return ((au < 0.95) & (v > -0.95) & (v < -0.5)) | ((au < 0.25) & (v > -0.95) & (v < 0.95))
    if shape == "bar":
        return (au < 0.95) & (av < 0.35)
    if shape == "hexagon":
        return np.maximum(au * 0.866 + av * 0.5, av) <= 0.9
    if shape == "star":  # four points
        return (au * av < 0.08) & (au + av < 1.1) | (u * u + v * v < 0.2)
    raise ValueError(f"unknown shape {shape!r}")


def _texture(texture: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    if texture == "solid":
        return np.ones_like(u)
    if texture == "stripes":
        return (np.sin(u * 2.5 * math.pi) > 0).astype(np.float32) * 0.6 + 0.4
    if texture == "checker":
        return ((np.floor(u * 2.2) + np.floor(v * 2.2)) % 2).astype(np.float32) * 0.6 + 0.4
    if texture == "dots":
        return (((u * 2.5) % 1 - 0.5) ** 2 + ((v * 2.5) % 1 - 0.5) ** 2 > 0.09).astype(np.float32) * 0.6 + 0.4
    raise ValueError(f"unknown texture {texture!r}")


def _draw(canvas: np.ndarray, track: dict[str, np.ndarray], *, shape: str, texture: str, color: np.ndarray,
          when: np.ndarray | None = None) -> None:
    """Paint a textured shape into `canvas` (T, S + 2M, S + 2M, 3) along `track`, on frames `when`.

    Only a box around the shape is computed: the canvas has a margin M (`MARGIN` x size) so
    boxes never leave it; `render_clip` crops the margin away.
    """
    frames = np.arange(canvas.shape[0]) if when is None else np.flatnonzero(when)
    if len(frames) == 0:
        return
    margin = (canvas.shape[1] - _inner(canvas.shape[1])) // 2
    x, y, r = track["x"][frames] + margin, track["y"][frames] + margin, track["r"][frames]
    half = int(math.ceil(1.2 * r.max())) + 1
    offsets = np.arange(-half, half + 1)
    cx, cy = np.rint(x).astype(int), np.rint(y).astype(int)
    rows, cols = cy[:, None] + offsets, cx[:, None] + offsets  # (F, B)
    dx = (cols - x[:, None])[:, None, :]  # (F, 1, B)
    dy = (rows - y[:, None])[:, :, None]  # (F, B, 1)
    a, rr = track["angle"][frames, None, None], r[:, None, None]
    cos, sin = np.cos(a), np.sin(a)
    u, v = (dx * cos + dy * sin) / rr, (dy * cos - dx * sin) / rr  # object coordinates, (F, B, B)
    mask = _shape_mask(shape, u, v)
    shade = _texture(texture, u, v) * track["intensity"][frames, None, None]
    index = (frames[:, None, None], rows[:, :, None], cols[:, None, :])
    region = canvas[index]  # (F, B, B, 3)
    canvas[index] = np.where(mask[..., None], shade[..., None] * color, region)


MARGIN = 0.5  # canvas margin, as a fraction of the clip size, for shapes near or past the border


def _inner(padded: int) -> int:
    return int(round(padded / (1 + 2 * MARGIN)))


def _background(rng: np.random.Generator, frames: int, size: int) -> np.ndarray:
    """Cluttered texture: random gratings and rectangles, seen through a camera that may pan."""
    pan = rng.uniform(-0.6, 0.6, 2) if rng.random() < 0.5 else np.zeros(2)
    pad = int(math.ceil(0.6 * frames / 2)) + 1
    big = size + 2 * pad
    yy, xx = np.mgrid[0:big, 0:big].astype(np.float32)
    field = np.zeros((big, big), np.float32)
    for _ in range(3):
        angle, freq = rng.uniform(0, math.pi), rng.uniform(0.08, 0.35)
        field += np.sin((xx * math.cos(angle) + yy * math.sin(angle)) * freq * 2 * math.pi + rng.uniform(0, 6.3))
    base, tint = _random_color(rng) * 0.5, _random_color(rng) * 0.25
    image = base + (field[..., None] / 6 + 0.5) * tint  # (big, big, 3)
    for _ in range(rng.integers(3, 7)):  # clutter: small, muted patches
        x0, y0 = rng.integers(0, big, 2)
        w, h = rng.integers(2, max(3, size // 6), 2)
        image[y0:y0 + h, x0:x0 + w] = 0.5 * image[y0:y0 + h, x0:x0 + w] + 0.5 * _random_color(rng) * 0.7
    t = np.arange(frames) - (frames - 1) / 2
    offsets = np.rint(pad + np.outer(t, pan)).astype(int)  # (T, 2)
    margin = int(round(MARGIN * size))
    canvas = np.zeros((frames, size + 2 * margin, size + 2 * margin, 3), np.float32)
    for frame, (ox, oy) in zip(canvas, offsets):
        frame[margin:margin + size, margin:margin + size] = image[oy:oy + size, ox:ox + size]
    return canvas


def _random_color(rng: np.random.Generator) -> np.ndarray:
    hue, sat, val = rng.uniform(0, 1), rng.uniform(0.4, 1.0), rng.uniform(0.5, 1.0)
    k = (np.array([5.0, 3.0, 1.0]) + hue * 6) % 6
    rgb = val - val * sat * np.clip(np.minimum(k, 4 - k), 0, 1)
    return (rgb * 255).astype(np.float32)


def _jitter(rng: np.random.Generator, rgb: tuple[int, int, int]) -> np.ndarray:
    return np.clip(np.array(rgb, np.float32) + rng.normal(0, 12, 3), 0, 255).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Writing a store.


def render_chunk(size_name: str, seed: int, split: str, indices: range,
                 profile: str = "appearance") -> tuple[np.ndarray, list[int]]:
    """Clips `indices` of a split (label = index mod classes): a unit of parallel work."""
    size = SIZES[size_name]
    classes = class_table(size, profile)
    labels = [i % len(classes) for i in indices]
    clips = np.stack([render_clip(classes[label], frames=size.frames, size=size.size, rng=clip_rng(seed, split, i))
                      for i, label in zip(indices, labels)])
    return clips, labels


def synth_meta(name: str, size_name: str, seed: int, profile: str = "appearance") -> StoreMeta:
    size = SIZES[size_name]
    classes = class_table(size, profile)
    # The default profile is not recorded: its meta.json, and so a store's fingerprint in searches
    # and bench tables, stay what they were before profiles existed (`store_profile` reads it back).
    source = {"generator": "vidnas synth", "size": size_name, "seed": seed}
    return StoreMeta(
        name=name, frames=size.frames, height=size.size, width=size.size,
        classes=tuple(c.name for c in classes), groups=tuple(c.group for c in classes),
        pairs=tuple(class_pairs(classes)), flip_safe=False,  # a flip turns move_right into move_left
        fps=None, source=source if profile == "appearance" else source | {"profile": profile},
        splits={"train": size.train_per_class * len(classes), "val": size.val_per_class * len(classes),
                "test": size.test_per_class * len(classes)})


def write_synth(out: Path, *, size_name: str, seed: int = 0, name: str | None = None, workers: int | None = None,
                progress: bool = True, only: tuple[str, ...] | None = None, profile: str = "appearance") -> StoreMeta:
    """Generate the benchmark into a new clip store at `out` (train, val and test splits, each
    from its own seed stream; `only` writes just those splits, e.g. a test split for an old store).

    >>> write_synth(Path("data/demo-temporal"), size_name="demo", profile="temporal")  # doctest: +SKIP
    """
    if size_name not in SIZES:
        raise StoreError(f"unknown size {size_name!r}; available: {', '.join(SIZES)}")
    if profile not in PROFILES:
        raise StoreError(f"unknown profile {profile!r}; available: {', '.join(PROFILES)}")
    default_name = f"synth-{size_name}" + ("" if profile == "appearance" else f"-{profile}")
    meta = synth_meta(name or default_name, size_name, seed, profile)
    out.mkdir(parents=True, exist_ok=True)
    todo = {split: count for split, count in meta.splits.items() if only is None or split in only}
    if progress:
        from tqdm import tqdm  # here: the GPU machine's benchmark writes a store without it

        bar = tqdm(total=sum(todo.values()), unit="clip", desc=f"synth {size_name} {profile}")
    else:
        bar = _NoBar()
    with worker_pool(workers) as pool, bar:
        for split, count in todo.items():
            chunks = [range(start, min(start + BATCH_ROWS, count)) for start in range(0, count, BATCH_ROWS)]
            results = pool.map(render_chunk, *zip(*[(size_name, seed, split, c, profile) for c in chunks]))

            def batches() -> Iterator[pa.RecordBatch]:
                for chunk, (clips, labels) in zip(chunks, results):
                    bar.update(len(chunk))
                    yield clips_to_batch(meta, clips, labels, [f"{split}-{i:07d}" for i in chunk], [0] * len(chunk))

            write_split(out / f"{split}.arrow", meta, batches())
    write_meta(out, meta)
    return meta


class _NoBar(contextlib.nullcontext):
    def update(self, n: int) -> None:
        pass
