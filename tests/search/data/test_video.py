from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from search.data.video import VideoError, decode_clips, sample_indices
from tests.search.data.videos import make_frames, write_corrupt, write_video


def test_uniform_sampling_over_equal_segments() -> None:
    assert sample_indices(16, 4, 1).tolist() == [[2, 6, 10, 14]]
    assert sample_indices(16, 4, 2).tolist() == [[1, 3, 5, 7], [9, 11, 13, 15]]
    short = sample_indices(3, 6, 1)[0].tolist()  # shorter than a clip: frames repeat, in order
    assert short == sorted(short) and set(short) == {0, 1, 2}


@pytest.mark.parametrize("suffix", [".avi", ".mp4", ".webm"])
def test_decode_resizes_the_short_side_and_center_crops(tmp_path: Path, suffix: str) -> None:
    frames = make_frames(20, 64, 96, seed=1)  # H 64, W 96: short side 64 -> 32, width 48, crop 8..40
    video = decode_clips(write_video(tmp_path / f"v{suffix}", frames), frames=5, size=32)
    assert video.clips.shape == (1, 5, 32, 32, 3) and video.frames == 20 and video.fps == 25.0
    small = frames[sample_indices(20, 5, 1)[0]].reshape(5, 32, 2, 48, 2, 3).mean(axis=(2, 4))[:, :, 8:40]
    assert np.abs(video.clips[0].astype(float) - small).mean() < 10


@pytest.mark.parametrize("kind, reason", [("empty", "unreadable"), ("garbage", "unreadable"), ("text", "unreadable")])
def test_bad_files_raise_video_error_with_a_reason(tmp_path: Path, kind: str, reason: str) -> None:
    with pytest.raises(VideoError, match=reason):
        decode_clips(write_corrupt(tmp_path / "bad.mp4", kind), frames=4, size=16)
    with pytest.raises(VideoError, match="file not found"):
        decode_clips(tmp_path / "missing.mp4", frames=4, size=16)


def test_a_truncated_video_keeps_the_frames_before_the_damage(tmp_path: Path) -> None:
    path = write_video(tmp_path / "v.avi", make_frames(40, 32, 32, seed=2))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    try:
        video = decode_clips(path, frames=4, size=32)
    except VideoError as e:  # some demuxers give up entirely: that is a clean, reported failure too
        assert "unreadable" in str(e) or "no decodable" in str(e)
    else:
        assert 0 < video.frames < 40
