"""Rendering one clip of the built-in benchmark: a cluttered, panning, noisy background, two
distractors and the class's object, moved or changed as its event says; the second class of a
pair is the first one's clip in reverse. Every clip is a pure function of its class and its
random generator (`clip_rng(seed, split, index)`).
"""
from __future__ import annotations

import math

import numpy as np

from search.data.classes import (  # noqa: F401 (names the drawing reads)
    EVENT_LOOK, SHARED_SHAPES, TEXTURES, SynthClass,
)

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
