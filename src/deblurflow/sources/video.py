"""The user's own slow-motion clips (.mp4/.mov/.mkv): each clip becomes one raw sequence.

Frames are decoded once, in presentation order, with PyAV (FFmpeg's libraries), turned upright
when the container carries a rotation (phones film portrait that way), and written as
NNNNNN.png. The frame rate is measured from the decoded frames' timestamps (a phone's
variable-frame-rate clip declares an average that is not its capture rate); it and the
timestamps are kept per sequence (``timestamps.txt``, seconds from the first frame) so that
synthesize can turn ``blur.exposure_ms`` into a frame count. Clips are split into train and test
by whole clip, like the folder source splits sequences.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
from tqdm import tqdm

from deblurflow.images import write_png
from deblurflow.sources.common import SPLITS, SourceError, natural_key, split_sequences

log = logging.getLogger(__name__)

SUFFIXES = (".mp4", ".mov", ".mkv")
MIN_FPS = 60.0  #: below this, the gaps between frames are longer than the frames' exposures
# A clip is variable-frame-rate when its frame intervals differ by more than this ratio.
_VFR_RATIO = 1.5


def _clips_in(folder: Path) -> list[Path]:
    """Video files directly in folder, in natural name order (hidden files skipped)."""
    return sorted(
        (
            p
            for p in folder.iterdir()
            if p.suffix.lower() in SUFFIXES and not p.name.startswith(".") and p.is_file()
        ),
        key=lambda p: natural_key(p.name),
    )


def _named(clips: list[Path]) -> dict[str, Path]:
    """{sequence name: clip}: the file name without suffix, made folder-safe."""
    named: dict[str, Path] = {}
    for clip in clips:
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", clip.stem).strip("._") or "clip"
        if name in named:
            raise SourceError(
                f"{clip}: gives the same sequence name {name!r} as {named[name]}; rename one"
            )
        named[name] = clip
    return named


def find_clips(root: Path, test_fraction: float, seed: int) -> dict[str, dict[str, Path]]:
    """{split: {sequence: clip}} of root (a folder, or {train,test}/ folders of clips)."""
    if root.is_file():
        raise SourceError(
            f"{root}: data.videos is a single clip; train and test are split by whole clips, "
            "so at least 2 are needed: put the clips in a folder and point data.videos at it"
        )
    if not root.is_dir():
        raise SourceError(f"{root}: data.videos does not exist")
    kinds = "/".join(SUFFIXES)
    if any((root / split).is_dir() for split in SPLITS):
        found = {}
        for split in SPLITS:
            clips = _clips_in(root / split) if (root / split).is_dir() else []
            if not clips:
                raise SourceError(f"{root / split}: no video clips ({kinds}) for the {split} split")
            found[split] = _named(clips)
        both = set(found["train"]) & set(found["test"])
        if both:
            raise SourceError(f"{root}: clips named {sorted(both)} are in both train and test")
        return found
    clips = _named(_clips_in(root))
    if len(clips) < 2:
        raise SourceError(
            f"{root}: found {len(clips)} video clip(s) ({kinds}); at least 2 are needed to split "
            "train and test by whole clips (or make train/ and test/ folders of clips)"
        )
    test = set(split_sequences(list(clips), test_fraction, seed))
    return {
        "train": {n: c for n, c in clips.items() if n not in test},
        "test": {n: c for n, c in clips.items() if n in test},
    }


def _video_stream(container: Any, path: Path) -> Any:
    if not container.streams.video:
        others = len(container.streams)
        raise SourceError(f"{path}: no video stream (it holds {others} other stream(s) only)")
    return container.streams.video[0]


def probe(path: Path) -> dict[str, Any]:
    """What the container declares, read from its header without decoding: the first look that
    finds an unreadable file or a clip with no video before any frame is written."""
    try:
        with av.open(str(path)) as container:
            stream = _video_stream(container, path)
            average, base = stream.average_rate, stream.guessed_rate or stream.base_rate
            return {
                "codec": stream.codec_context.name,
                "width": stream.codec_context.width,
                "height": stream.codec_context.height,
                "declared_fps": float(average) if average else None,  #: the container's average
                "base_fps": float(base) if base else None,  #: FFmpeg's guess of the base rate
                "declared_frames": int(stream.frames or 0),
                # microseconds (AV_TIME_BASE) for the container, when it records one
                "duration": container.duration / 1e6 if container.duration else None,
            }
    except av.error.FFmpegError as exc:
        raise SourceError(f"{path}: cannot read as a video ({exc.strerror or exc})") from exc


def upright(rgb: np.ndarray, rotation: int) -> np.ndarray:
    """The frame as it is meant to be shown. ``rotation`` is FFmpeg's display-matrix angle
    (counter-clockwise degrees; a phone held upright records -90 or 270)."""
    quarter_turns = round(rotation / 90) % 4
    return np.ascontiguousarray(np.rot90(rgb, quarter_turns)) if quarter_turns else rgb


def decode(path: Path) -> Iterator[tuple[float, np.ndarray, int]]:
    """(seconds, upright uint8 RGB (H, W, 3), rotation) per frame, in presentation order."""
    try:
        with av.open(str(path)) as container:
            stream = _video_stream(container, path)
            stream.thread_type = "AUTO"  # frame/slice threads inside FFmpeg's decoder
            for i, frame in enumerate(container.decode(stream)):
                t = frame.time
                if t is None:  # no timestamp at all: fall back on the declared rate
                    t = i / float(stream.guessed_rate or stream.average_rate or 1)
                rotation = int(frame.rotation or 0)
                yield t, upright(frame.to_ndarray(format="rgb24"), rotation), rotation
    except av.error.FFmpegError as exc:
        raise SourceError(f"{path}: decoding failed, corrupt or truncated ({exc})") from exc


def measured_fps(times: np.ndarray) -> float:
    """Frames per second from frame timestamps (s), 0.0 for fewer than 2 frames.

    The mean of the regular intervals: those under 1.5x the median, so a dropped frame (a double
    interval) does not lower the rate, while Matroska's millisecond ticks (4 and 5 ms at
    240 fps) average out to the true 4.17 ms.
    """
    steps = np.diff(times)
    steps = steps[steps > 0]
    if not steps.size:
        return 0.0
    return float(1.0 / steps[steps < 1.5 * np.median(steps)].mean())


def extract_clip(
    path: Path,
    seq_dir: Path,
    allow_low_fps: bool,
    bar: tqdm | None = None,
    info: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Decode path into seq_dir/NNNNNN.png + timestamps.txt; return what was found."""
    info = info or probe(path)
    times, shape, rotation = _write_frames(path, seq_dir, bar)
    declared = info["declared_frames"]
    if declared and len(times) < declared:
        raise SourceError(
            f"{path}: truncated, {len(times)} of the {declared} frames its header declares"
        )
    if len(times) < 2:
        raise SourceError(f"{path}: {len(times)} decodable frame(s); a clip needs at least 2")
    ts = np.asarray(times, dtype=np.float64) - times[0]
    if np.any(np.diff(ts) <= 0):
        raise SourceError(f"{path}: frame timestamps do not increase; cannot order the frames")
    fps = measured_fps(ts)
    # Timestamps decide the rate; the container's base rate only makes it exact when the two
    # agree (Matroska's millisecond stamps leave 240 fps measured as 239.3 on a short clip).
    if info["base_fps"] and abs(fps - info["base_fps"]) < 0.01 * info["base_fps"]:
        fps = info["base_fps"]
    _check_complete(path, info, ts[-1], fps)
    if fps < MIN_FPS and not allow_low_fps:
        raise SourceError(
            f"{path}: {fps:.1f} fps, under {MIN_FPS:g}: the gaps between such frames are longer "
            "than an exposure, so their average shows separate ghost copies, not motion blur; "
            "use a slow-motion clip (120/240 fps) or set data.allow_low_fps: true to force it"
        )
    steps = np.diff(ts)
    vfr = bool(steps.max() > _VFR_RATIO * steps.min())
    if vfr:
        log.warning("%s: variable frame rate, %.1f to %.1f fps (median %.1f)",
                    path, 1 / steps.max(), 1 / steps.min(), fps)  # fmt: skip
    (seq_dir / "timestamps.txt").write_text("".join(f"{t:.9f}\n" for t in ts))
    return {
        "file": str(path), "frames": len(ts), "fps": round(fps, 6),
        "declared_fps": info["declared_fps"], "variable_frame_rate": vfr, "rotation": rotation,
        "width": shape[1], "height": shape[0],
    }  # fmt: skip


def _write_frames(
    path: Path, seq_dir: Path, bar: tqdm | None
) -> tuple[list[float], tuple[int, ...] | None, int]:
    """Every frame of ``path`` as seq_dir/NNNNNN.png: (timestamps, frame shape, rotation)."""
    times: list[float] = []
    shape = None
    rotation = 0
    for i, (t, rgb, rot) in enumerate(decode(path)):
        rotation = rot
        if shape is None:
            shape = rgb.shape
        elif rgb.shape != shape:
            raise SourceError(f"{path}: frame {i} is {rgb.shape[1]}x{rgb.shape[0]}, not "
                              f"{shape[1]}x{shape[0]} like the first")  # fmt: skip
        write_png(seq_dir / f"{i:06d}.png", rgb)
        times.append(t)
        if bar is not None:
            bar.update()
    return times, shape, rotation


def _check_complete(path: Path, info: dict[str, Any], last: float, fps: float) -> None:
    """A truncated clip stops before the duration its header declares (a Matroska header
    counts no frames, but records the duration): refuse it."""
    duration = info["duration"]
    # The last frame lasts one interval: a complete clip covers its duration within ~2 frames.
    if duration and last + 3.0 / fps < duration:
        raise SourceError(
            f"{path}: truncated, frames stop at {last:.3f} s of the {duration:.3f} s its header "
            "declares"
        )


def extract_videos(
    root: Path, test_fraction: float, seed: int, allow_low_fps: bool, out_dir: Path
) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, Any]]]:
    """Write every clip of root as out_dir/{split}/SEQ/; return ({split: {seq: frames}},
    {"split/seq": clip info})."""
    found = find_clips(Path(root).expanduser(), test_fraction, seed)
    # Every header first: an unreadable clip or one with no video fails before any decoding.
    infos = {split: {s: probe(clip) for s, clip in seqs.items()} for split, seqs in found.items()}
    declared = [i["declared_frames"] for seqs in infos.values() for i in seqs.values()]
    total = sum(declared) if all(declared) else None  # mkv headers carry no frame count
    counts: dict[str, dict[str, int]] = {split: {} for split in SPLITS}
    clips: dict[str, dict[str, Any]] = {}
    with tqdm(total=total, unit="frame", desc="decode", disable=None) as bar:
        for split in SPLITS:
            for seq, clip in found[split].items():
                key = f"{split}/{seq}"
                info = infos[split][seq]
                clips[key] = extract_clip(clip, out_dir / key, allow_low_fps, bar, info)
                counts[split][seq] = clips[key]["frames"]
    log.info("%s: train %s, test %s", root, sorted(counts["train"]), sorted(counts["test"]))
    return counts, clips
