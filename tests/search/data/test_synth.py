from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from search.cli.main import main
from search.data.store import ClipStore, StoreError
import search.data.draw as draw
from search.data.synth import (MOTION_PAIRS, ORDER_PAIRS, SHARED_SHAPES, SIZES, TEXTURES, class_pairs, class_table,
                               clip_rng, object_look, render_chunk, render_clip, synth_meta, write_synth)
from spaces import build, get_preset

DEMO = class_table(SIZES["demo"])
TEMPORAL = class_table(SIZES["large"], "temporal")  # every pair there is


def _clip(cls, seed: int, index: int, split: str = "train") -> np.ndarray:
    return render_clip(cls, frames=16, size=32, rng=clip_rng(seed, split, index))


def test_every_size_has_all_three_kinds_of_classes() -> None:
    for size in SIZES.values():
        classes = class_table(size)
        groups = {c.group for c in classes}
        assert groups == {"appearance", "motion", "order"}
        assert len({c.name for c in classes}) == len(classes)
        for a, b in class_pairs(classes):
            assert classes[a].event == classes[b].event and not classes[a].reverse and classes[b].reverse
    assert len(DEMO) == 18


def test_generation_is_deterministic_per_seed() -> None:
    assert np.array_equal(_clip(DEMO[6], 0, 3), _clip(DEMO[6], 0, 3))
    assert not np.array_equal(_clip(DEMO[6], 0, 3), _clip(DEMO[6], 1, 3))
    assert not np.array_equal(_clip(DEMO[6], 0, 3), _clip(DEMO[6], 0, 3, split="val"))
    clip = _clip(DEMO[0], 0, 0)
    assert clip.shape == (16, 32, 32, 3) and clip.dtype == np.uint8
    assert clip.std() > 20  # cluttered, not a flat background


def test_the_temporal_profile_has_only_pairs_and_as_many_classes() -> None:
    for name, size in SIZES.items():
        classes, appearance = class_table(size, "temporal"), class_table(size, "appearance")
        assert {c.group for c in classes} == {"motion", "order"} and {c.profile for c in classes} == {"temporal"}
        assert len({c.name for c in classes}) == len(classes) == min(len(appearance), 24), name
        assert [i for pair in class_pairs(classes) for i in pair] == list(range(len(classes)))
        for a, b in class_pairs(classes):
            assert classes[a].event == classes[b].event and not classes[a].reverse and classes[b].reverse
    assert [c.name for c in TEMPORAL] == [name for pair in MOTION_PAIRS + ORDER_PAIRS for name in pair]
    assert len(class_table(SIZES["demo"], "temporal")) == 18


def test_the_appearance_profile_is_the_default_and_unchanged() -> None:
    """Existing stores, and the tables made from them, must not change: the default profile keeps its
    classes, renders the same clips, and records no profile in meta.json (its store fingerprint)."""
    assert [c.name for c in DEMO] == [
        "circle_solid", "triangle_stripes", "cross_checker", "bar_solid", "circle_checker", "triangle_dots",
        "move_right", "move_left", "move_down", "move_up", "grow", "shrink", "rotate_cw", "rotate_ccw",
        "red_then_blue", "blue_then_red", "square_then_circle", "circle_then_square"]
    assert DEMO == class_table(SIZES["demo"], "appearance")
    default, explicit = render_chunk("tiny", 5, "val", range(6)), render_chunk("tiny", 5, "val", range(6), "appearance")
    assert np.array_equal(default[0], explicit[0]) and default[1] == explicit[1]
    assert synth_meta("s", "demo", 3).source == {"generator": "vidnas synth", "size": "demo", "seed": 3}
    assert synth_meta("s", "demo", 3, "temporal").source["profile"] == "temporal"


def test_an_unknown_profile_names_the_allowed_ones(capsys, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="unknown profile 'spatial'; available: appearance, temporal"):
        class_table(SIZES["tiny"], "spatial")
    assert main(["data", "synth", "x", "--profile", "spatial", "--out", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert err == "vidnas: error: --profile 'spatial': unknown; available: appearance, temporal\n"
    assert not (tmp_path / "s").exists()


def _spy_looks(monkeypatch: pytest.MonkeyPatch, classes: list, clips: int) -> dict[str, list[tuple]]:
    """Render `clips` clips of every class (same seeds for all): per class, the look `object_look`
    drew and the (shape, texture, colour) of the first draw after the two distractors."""
    looks, draws = [], []
    real_look, real_draw = draw.object_look, draw._draw
    monkeypatch.setattr(draw, "object_look", lambda cls, rng: looks.append(real_look(cls, rng)) or looks[-1])
    monkeypatch.setattr(draw, "_draw", lambda canvas, track, **kw: draws.append(kw) or real_draw(canvas, track, **kw))
    seen = {}
    for cls in classes:
        seen[cls.name] = []
        for i in range(clips):
            draws.clear()
            render_clip(cls, frames=16, size=32, rng=clip_rng(0, "train", i))
            shape, texture, color = looks[-1]
            drawn = draws[2]  # the object's first
            seen[cls.name].append(((shape, texture, tuple(color)),
                                   (drawn["shape"], drawn["texture"], tuple(drawn["color"]))))
    return seen


def test_the_temporal_profile_draws_one_look_for_every_class(monkeypatch: pytest.MonkeyPatch) -> None:
    """By construction: for the same clip seed every class draws the very same shape, texture and
    colour (so their frequencies cannot depend on the class), and draws its object with them, except
    what an event defines itself (red_then_blue's colours, square_then_circle's shapes)."""
    for i in range(50):
        looks = [object_look(cls, np.random.default_rng(i)) for cls in TEMPORAL]
        assert all(look[:2] == looks[0][:2] and np.array_equal(look[2], looks[0][2]) for look in looks)
    seen = _spy_looks(monkeypatch, TEMPORAL, clips=40)
    first = [look for look, _ in seen[TEMPORAL[0].name]]
    assert {shape for shape, _, _ in first} == set(SHARED_SHAPES) and {t for _, t, _ in first} == set(TEXTURES)
    for cls in TEMPORAL:
        assert [look for look, _ in seen[cls.name]] == first, cls.name
        for (shape, texture, color), drawn in seen[cls.name]:
            assert drawn[1] == texture, cls.name
            assert cls.event == "square_then_circle" or drawn[0] == shape, cls.name
            assert cls.event == "red_then_blue" or drawn[2] == color, cls.name
    # the appearance profile does differ by class: its events have shapes of their own
    seen = _spy_looks(monkeypatch, DEMO, clips=5)
    assert {drawn[0] for _, drawn in seen["move_right"]} == {"square"}
    assert {drawn[:2] for _, drawn in seen["cross_checker"]} == {("cross", "checker")}


PAIRS = [(DEMO, p) for p in class_pairs(DEMO)] + [(TEMPORAL, p) for p in class_pairs(TEMPORAL)]


@pytest.mark.parametrize("table, pair", PAIRS,
                         ids=[f"{t[0].profile}-{t[a].name}/{t[b].name}" for t, (a, b) in PAIRS])
def test_a_clip_reversed_in_time_is_a_clip_of_the_paired_class(table: list, pair: tuple[int, int]) -> None:
    """The within-pair property, in both profiles: the partner class is the same scene in reverse
    frame order, so both classes have the same frames, only their order differs."""
    a, b = (table[i] for i in pair)
    for seed in range(3):
        forward, backward = _clip(a, seed, 7), _clip(b, seed, 7)
        assert np.array_equal(backward, forward[::-1])
        frames_a = sorted(f.tobytes() for f in forward)
        frames_b = sorted(f.tobytes() for f in backward)
        assert frames_a == frames_b
        assert not np.array_equal(forward, backward)  # the order does differ


def test_order_blind_models_cannot_separate_a_pair_and_temporal_ones_can() -> None:
    """TSN (2D per frame, averaged) and SmallBig (per-frame convs + max pools that are symmetric
    in time) give identical outputs for a clip and its time-reversed partner: 50% within pairs is
    their ceiling on this benchmark. An I3D-like net is not bound by it."""
    a, b = DEMO[6], DEMO[7]  # move_right, move_left
    clips = torch.from_numpy(np.stack([_clip(a, 0, 1), _clip(b, 0, 1)])).permute(0, 4, 1, 2, 3).float() / 255
    for name, blind in (("tsn_r50", True), ("smallbig_r50", True), ("i3d", False)):
        spec = get_preset(name, frames=16, crop=32, num_classes=18).scaled(width=0.25, depth=0.5)
        torch.manual_seed(0)
        model = build(spec).eval()
        with torch.no_grad():
            for m in model.modules():  # non-trivial big-view norms (they start at zero)
                if isinstance(m, torch.nn.BatchNorm3d):
                    m.weight.uniform_(0.5, 1.5)
            out = model(clips)
        same = torch.allclose(out[0], out[1], atol=1e-5)
        assert same == blind, name


def test_write_synth_tiny(tmp_path: Path) -> None:
    meta = write_synth(tmp_path / "s", size_name="tiny", seed=3, workers=2, progress=False)
    store = ClipStore.open(tmp_path / "s")
    assert store.meta == meta and meta.flip_safe is False
    assert meta.splits == {"train": 96, "val": 48, "test": 48} and store.num_clips("train") == 96
    assert store.num_clips("test") == 48 and store.splits == ["train", "val", "test"]
    assert np.bincount(store.labels("train")).tolist() == [16] * 6
    classes = class_table(SIZES["tiny"])
    i = 13
    assert np.array_equal(store.clip("train", i), render_clip(classes[i % 6], frames=16, size=32,
                                                              rng=clip_rng(3, "train", i)))
    assert meta.pairs == ((2, 3), (4, 5)) and meta.groups[0] == "appearance"


def test_synth_and_info_of_a_temporal_store(capsys, tmp_path: Path) -> None:
    argv = ["data", "synth", "t", "--size", "tiny", "--profile", "temporal", "--out", str(tmp_path / "t"),
            "--seed", "2", "--workers", "1"]
    assert main(argv) == 0 and "6 classes, profile temporal" in capsys.readouterr().out
    store = ClipStore.open(tmp_path / "t")
    classes = class_table(SIZES["tiny"], "temporal")
    assert store.meta.source == {"generator": "vidnas synth", "size": "tiny", "seed": 2, "profile": "temporal"}
    assert store.meta.classes == ("move_right", "move_left", "move_down", "move_up", "red_then_blue", "blue_then_red")
    assert store.meta.groups == ("motion",) * 4 + ("order",) * 2 and store.meta.pairs == ((0, 1), (2, 3), (4, 5))
    assert store.meta.splits == {"train": 96, "val": 48, "test": 48}
    assert np.array_equal(store.clip("test", 9),
                          render_clip(classes[3], frames=16, size=32, rng=clip_rng(2, "test", 9)))
    assert main(["data", "info", str(tmp_path / "t")]) == 0
    out = capsys.readouterr().out
    assert "profile: temporal: motion and order pairs only" in out and "group appearance" not in out
    assert "group motion: 4 classes, train 64, val 32, test 32" in out
