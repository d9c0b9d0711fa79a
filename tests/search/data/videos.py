"""Writing small real video files for the importer tests (PyAV encodes; no fixtures on disk)."""
from __future__ import annotations

from pathlib import Path

import av
import numpy as np

CODECS = {".avi": ("mpeg4", {"qscale": "1"}), ".mp4": ("libx264", {"crf": "4", "preset": "ultrafast"}),
          ".webm": ("libvpx-vp9", {"crf": "4", "b": "0", "deadline": "realtime", "cpu-used": "8"})}


def make_frames(num: int, height: int, width: int, seed: int) -> np.ndarray:
    """Smooth, codec-friendly frames whose index is readable: a left band of brightness 8 + 12 i."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = rng.uniform(40, 200, 3)
    frames = np.empty((num, height, width, 3), np.uint8)
    for i in range(num):
        img = base + 40 * np.sin(xx / width * 3 + i / 5)[..., None] * np.array([1.0, 0.5, -0.5])
        img += 20 * np.cos(yy / height * 2)[..., None]
        img[:, : width // 3] = 8 + 12 * (i % 20)
        frames[i] = np.clip(img, 0, 255).astype(np.uint8)
    return frames


def write_video(path: Path, frames: np.ndarray, fps: int = 25) -> Path:
    codec, options = CODECS[path.suffix]
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps, options=options)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_corrupt(path: Path, kind: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "garbage":
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    elif kind == "text":
        path.write_text("this is not a video\n")
    return path
