"""Small video clips encoded on the fly with PyAV, for the video-source tests and the dvc run.

Plain functions (no pytest), like workspace.py. Lossless clips (FFV1 in Matroska, RGB) decode
to exactly the frames that went in; H.264 clips in MP4 are what phones write (lossy YUV).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

TIME_BASE = Fraction(1, 48000)  #: MP4 stream time base: 48000 is a multiple of 120 and 240


def encode(
    path: Path,
    frames: list[np.ndarray],
    fps: int,
    times: list[float] | None = None,
    rotation: int | None = None,
    faststart: bool = False,
) -> Path:
    """Write uint8 RGB frames (H, W, 3) as a clip: .mkv lossless FFV1, .mp4 H.264.

    ``times`` (seconds) gives each frame its own timestamp (a variable frame rate);
    ``rotation`` stores a display matrix (counter-clockwise degrees, FFmpeg's convention);
    ``faststart`` puts the MP4 index (with its frame count) before the frames, as phones do.
    """
    h, w = frames[0].shape[:2]
    lossless = path.suffix == ".mkv"
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", options=options) as container:
        if lossless:
            stream = container.add_stream("ffv1", rate=fps)
            stream.pix_fmt = "bgr0"
        else:
            stream = container.add_stream("libx264", rate=fps, options={"crf": "12"})
            stream.pix_fmt = "yuv444p"
        stream.width, stream.height = w, h
        if times is not None:
            stream.time_base = TIME_BASE
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            if times is not None:
                frame.pts = round(times[i] / TIME_BASE)
                frame.time_base = TIME_BASE
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def rendered(n: int, h: int = 48, w: int = 64, seed: int = 0) -> list[np.ndarray]:
    """n frames of a textured square moving right 2 px per frame over a colour gradient."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    background = np.stack([xx * 255 // w, yy * 255 // h, np.full_like(xx, 96)], -1)
    patch = cv2.GaussianBlur(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8), (0, 0), 1.0)
    frames = []
    for i in range(n):
        frame = background.astype(np.uint8)
        x = (4 + 2 * i) % (w - 16)
        frame[16:32, x : x + 16] = patch
        frames.append(frame)
    return frames


def gray_frames(paths: list[Path]) -> list[np.ndarray]:
    """Gray PNG frames as uint8 RGB (gray replicated into R, G, B)."""
    out = []
    for path in paths:
        gray = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        out.append(np.repeat(gray[:, :, None], 3, axis=2))
    return out
