"""Decoding videos with PyAV (it ships its own ffmpeg): uniform temporal sampling, resize of the
short side and center crop."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np


class VideoError(Exception):
    """A video that cannot be used: unreadable, corrupt, empty. The reason goes in the import report."""


@dataclass(frozen=True)
class DecodedVideo:
    clips: np.ndarray  # (clips, T, size, size, 3) uint8
    frames: int  # frames decoded from the source
    fps: float | None  # the stream's average frame rate


def sample_indices(num_frames: int, frames: int, clips: int) -> np.ndarray:
    """(clips, frames) indices: `frames` uniformly spaced over each of `clips` equal segments
    (TSN-style segments; indices repeat when the video is shorter than `frames`)."""
    bounds = np.linspace(0, num_frames, clips + 1)
    out = []
    for start, end in zip(bounds[:-1], bounds[1:]):
        step = (end - start) / frames
        out.append(np.minimum(np.floor(start + step * (np.arange(frames) + 0.5)), num_frames - 1))
    return np.asarray(out, dtype=np.int64)


def decode_clips(path: Path, *, frames: int, size: int, clips: int = 1) -> DecodedVideo:
    """Decode a video, resize its short side to `size`, center-crop to `size` x `size`, and
    sample `clips` clips of `frames` frames. Raises VideoError with the reason; frames decoded
    before a corrupt tail are kept, as ffmpeg does."""
    decoded: list[np.ndarray] = []
    fps = None
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoError("no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            fps = float(stream.average_rate) if stream.average_rate else None
            for frame in container.decode(stream):
                if not decoded:
                    scale = size / min(frame.width, frame.height)
                    width, height = max(size, round(frame.width * scale)), max(size, round(frame.height * scale))
                decoded.append(frame.to_ndarray(width=width, height=height, format="rgb24"))
    except VideoError:
        raise
    except FileNotFoundError:
        raise VideoError("file not found") from None
    except (av.error.FFmpegError, OSError, ValueError, IndexError) as e:
        if not decoded:
            raise VideoError(f"unreadable: {type(e).__name__}: {e}") from None
    if not decoded:
        raise VideoError("no decodable frames")
    video = np.stack(decoded)  # (N, H', W', 3)
    top, left = (video.shape[1] - size) // 2, (video.shape[2] - size) // 2
    video = video[:, top:top + size, left:left + size]
    return DecodedVideo(clips=video[sample_indices(len(video), frames, clips)], frames=len(video), fps=fps)
