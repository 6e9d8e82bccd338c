"""The synthesize stage: raw 240 fps frames -> GoPro-style blurred/sharp pairs.

Reads ``raw_dir/{train,test}/SEQ/NNNNNN.png`` and writes the GOPRO_Large layout,
``out_dir/{train,test}/SEQ/{blur,sharp}/NNNNNN.png`` (named after the middle frame of each
window), plus ``out_dir/manifest.json``. With ``blur.exposure_ms`` each sequence gets its own M
from its frame rate (``fps`` in ``raw_dir/source.json``), recorded in the manifest. Each frame
is decoded at most once: a sequence is walked with a sliding window of decoded linear-light
frames, so overlapping windows (stride < M) reuse them. Sequences run in parallel processes; the
whole output is written into a temp folder that replaces ``out_dir`` only when everything
succeeded.
"""

from __future__ import annotations

import json
import logging
import shutil
import zlib
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from deblurflow.atomic import atomic_dir, write_json
from deblurflow.blur import (
    CameraEffects,
    blur_from_linear,
    frames_for_exposure,
    frames_from_name,
    record,
    srgb_to_linear_lut,
    to_linear,
    windows,
)
from deblurflow.images import ImageError, read_rgb, write_png
from deblurflow.params import BlurParams
from deblurflow.processes import run_jobs

logger = logging.getLogger(__name__)

SPLITS = ("train", "test")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class SequenceJob:
    """One sequence to synthesize: where its frames are and how to window them."""

    split: str
    sequence: str
    src: Path  #: folder of the raw frames
    frames: tuple[str, ...]  #: frame file names, sorted = time order
    m: int
    stride: int
    gamma: float
    fps: float | None = None  #: frames per second, when the source recorded it
    effects: CameraEffects | None = None  #: camera effects on the blur (train split only)


def frame_rates(raw_dir: Path) -> dict[str, float]:
    """{"split/SEQ": fps} that the download stage recorded in raw_dir/source.json ({} if none)."""
    path = raw_dir / "source.json"
    if not path.is_file():
        return {}
    try:
        return {k: float(v) for k, v in json.loads(path.read_text()).get("fps", {}).items()}
    except (ValueError, AttributeError) as exc:
        raise ValueError(f"{path}: cannot read the frame rates in it ({exc})") from exc


def window_size(blur: BlurParams, sequence: str, fps: float | None) -> int:
    """M for one sequence: blur.frames, from the GoPro name ('auto'), or from the exposure."""
    if blur.exposure_ms is None:
        return frames_from_name(sequence) if blur.frames == "auto" else blur.frames
    if fps is None:
        raise ValueError(
            f"blur.exposure_ms is set but the frame rate of sequence {sequence!r} is unknown "
            "(data.source 'folder' does not record one); set blur.frames instead"
        )
    try:
        return frames_for_exposure(blur.exposure_ms, fps)
    except ValueError as exc:
        raise ValueError(f"sequence {sequence!r}: {exc}") from exc


def plan_sequences(
    raw_dir: Path, blur: BlurParams
) -> tuple[list[SequenceJob], list[dict[str, Any]]]:
    """List the sequences to synthesize and the ones skipped as too short (before any decoding).

    Raises ValueError when a split folder is missing, holds no sequence, or would get no pair.
    """
    jobs: list[SequenceJob] = []
    skipped: list[dict[str, Any]] = []
    rates = frame_rates(raw_dir) if blur.exposure_ms is not None else {}
    for split in SPLITS:
        split_dir = raw_dir / split
        if not split_dir.is_dir():
            raise ValueError(
                f"{split_dir}: no such folder; "
                f"synthesize expects {raw_dir}/{{train,test}}/SEQ/*.png"
            )
        seq_dirs = sorted(
            d for d in split_dir.iterdir() if d.is_dir() and not d.name.startswith(".")
        )
        if not seq_dirs:
            raise ValueError(f"{split_dir}: no sequence folders (expected {split_dir}/SEQ/*.png)")
        n_jobs = len(jobs)
        for seq_dir in seq_dirs:
            frames = tuple(sorted(p.name for p in seq_dir.glob("*.png") if p.is_file()))
            # M is resolved here, in the parent, so a bad name or rate fails before any work.
            fps = rates.get(f"{split}/{seq_dir.name}")
            m = window_size(blur, seq_dir.name, fps)
            if len(frames) < m:
                reason = f"{len(frames)} PNG frames, fewer than the {m} of one blur window"
                logger.warning("skipping %s/%s: %s", split, seq_dir.name, reason)
                skipped.append({"split": split, "sequence": seq_dir.name, "reason": reason})
                continue
            stride = blur.stride if blur.stride is not None else m
            effects = CameraEffects(blur.saturation, blur.noise, blur.jpeg)
            # The test split is never altered: its scores stay comparable across recipes.
            effects = effects if split == "train" and effects.active else None
            job = SequenceJob(
                split, seq_dir.name, seq_dir, frames, m, stride, blur.gamma, fps, effects
            )
            jobs.append(job)
        if len(jobs) == n_jobs:
            raise ValueError(
                f"{split_dir}: no sequence has enough frames for one blur window "
                f"({len(seq_dirs)} skipped as too short); lower blur.frames or "
                "blur.exposure_ms, or add frames"
            )
    return jobs, skipped


def _is_rgb8_png(path: Path) -> bool:
    """True when the file is an 8-bit RGB PNG (its bytes can serve as the sharp image as-is)."""
    with open(path, "rb") as f:
        head = f.read(26)
    # IHDR is the first chunk: bytes 24 and 25 are bit depth and colour type (2 = RGB).
    return (
        len(head) == 26
        and head[:8] == _PNG_SIGNATURE
        and head[12:16] == b"IHDR"
        and head[24] == 8
        and head[25] == 2
    )


def synthesize_sequence(job: SequenceJob, out_dir: Path) -> list[dict[str, Any]]:
    """Write the blur/sharp pairs of one sequence under ``out_dir``; return their manifest rows."""
    lut = srgb_to_linear_lut(job.gamma)
    seq_out = out_dir / job.split / job.sequence
    (seq_out / "blur").mkdir(parents=True, exist_ok=True)
    (seq_out / "sharp").mkdir(parents=True, exist_ok=True)
    # frame index -> (uint8 RGB, float32 linear); holds at most one window of decoded frames.
    cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    first_shape: tuple[int, ...] | None = None
    first_path: Path | None = None
    pairs: list[dict[str, Any]] = []
    for first, last in windows(len(job.frames), job.m, job.stride):
        for i in [i for i in cache if i < first]:
            del cache[i]
        for i in range(first, last + 1):
            if i in cache:
                continue
            path = job.src / job.frames[i]
            rgb = read_rgb(path)
            if first_shape is None:
                first_shape, first_path = rgb.shape, path
            elif rgb.shape != first_shape:
                raise ImageError(
                    f"{path}: frame is {rgb.shape[1]}x{rgb.shape[0]} but {first_path} of the "
                    f"same sequence is {first_shape[1]}x{first_shape[0]}; "
                    "all frames of a sequence must have one size"
                )
            cache[i] = (rgb, to_linear(rgb, lut))
        mid = (first + last) // 2
        name = job.frames[mid]
        linear = [cache[i][1] for i in range(first, last + 1)]
        _write_pair(job, seq_out, name, linear, mid - first, first, cache[mid][0])
        rel = f"{job.split}/{job.sequence}"
        pairs.append(
            {
                "split": job.split,
                "sequence": job.sequence,
                "frame": Path(name).stem,
                "first": Path(job.frames[first]).stem,
                "last": Path(job.frames[last]).stem,
                "m": job.m,
                "blur": f"{rel}/blur/{name}",
                "sharp": f"{rel}/sharp/{name}",
            }
        )
    return pairs


def _write_pair(
    job: SequenceJob,
    seq_out: Path,
    name: str,
    linear: list[np.ndarray],
    mid: int,
    first: int,
    sharp_rgb: np.ndarray,
) -> None:
    """Write one window's blur/NAME and sharp/NAME (linear: its frames, mid: the middle one)."""
    if job.effects is not None:
        # One stream per window, from the sequence's name: the same pairs on every run.
        key = zlib.crc32(f"{job.split}/{job.sequence}".encode())
        rng = np.random.default_rng([key, first])
        blurred, sharp = record(linear, mid, job.gamma, job.effects, rng)
        write_png(seq_out / "blur" / name, blurred)
        write_png(seq_out / "sharp" / name, sharp)
        return
    write_png(seq_out / "blur" / name, blur_from_linear(linear, job.gamma))
    if _is_rgb8_png(job.src / name):
        # The ground truth is the raw frame itself: copy its bytes, no re-encode.
        shutil.copyfile(job.src / name, seq_out / "sharp" / name)
    else:  # gray, 16-bit or alpha PNG: store the RGB uint8 we averaged, like the blur
        write_png(seq_out / "sharp" / name, sharp_rgb)


def _run_jobs(jobs: list[SequenceJob], out_dir: Path, workers: int) -> list[dict[str, Any]]:
    """Run all jobs (in ``workers`` processes, inline when 1); return all manifest rows."""
    pairs: list[dict[str, Any]] = []
    total = sum(len(job.frames) for job in jobs)
    # Longest sequences first, so a long one does not start last and run alone.
    ordered = sorted(jobs, key=lambda job: -len(job.frames)) if workers > 1 else jobs
    with tqdm(total=total, unit="frame", desc="synthesize", disable=None) as bar:
        for job, rows in run_jobs(partial(synthesize_sequence, out_dir=out_dir), ordered, workers):
            pairs.extend(rows)
            bar.update(len(job.frames))
    return pairs


def synthesize_tree(raw_dir: str | Path, out_dir: str | Path, blur: BlurParams) -> dict[str, Any]:
    """Synthesize every sequence of ``raw_dir`` into ``out_dir``; return the manifest written."""
    raw_dir, out_dir = Path(raw_dir), Path(out_dir)
    jobs, skipped = plan_sequences(raw_dir, blur)
    logger.info(
        "%d sequences (%d skipped), frames=%s exposure_ms=%s stride=%s gamma=%g, %d workers",
        len(jobs),
        len(skipped),
        blur.frames,
        blur.exposure_ms,
        blur.stride if blur.stride is not None else "M",
        blur.gamma,
        blur.workers,
    )
    with atomic_dir(out_dir) as tmp:
        pairs = _run_jobs(jobs, tmp, blur.workers)
        # Processes finish in any order; sort so the manifest is the same for any worker count.
        split_rank = {split: i for i, split in enumerate(SPLITS)}
        pairs.sort(key=lambda p: (split_rank[p["split"]], p["sequence"], p["first"]))
        manifest = {
            "gamma": blur.gamma,
            "frames": blur.frames,
            "exposure_ms": blur.exposure_ms,
            "stride": blur.stride,
            "camera_effects": {
                "splits": ["train"],
                "saturation": blur.saturation,
                "noise": blur.noise,
                "jpeg": blur.jpeg,
            },
            "sequences": {f"{j.split}/{j.sequence}": {"m": j.m, "fps": j.fps} for j in jobs},
            "pairs": pairs,
            "skipped": skipped,
            "counts": {
                **{split: sum(p["split"] == split for p in pairs) for split in SPLITS},
                "skipped_sequences": len(skipped),
            },
        }
        write_json(tmp / "manifest.json", manifest)
    return manifest
