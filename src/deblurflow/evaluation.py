"""Test-split evaluation: whole frames, batch 1, PSNR/SSIM on RGB uint8 (BasicSR convention)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch import nn
from tqdm import tqdm

from . import atomic
from .images import write_png
from .inference import deblur
from .metrics import psnr, ssim
from .prepare import load_split, read_manifest
from .runtime import Runtime

log = logging.getLogger(__name__)

PER_IMAGE_COLUMNS = (
    "index", "sequence", "frame", "psnr", "ssim", "input_psnr", "input_ssim", "ms",
)  # fmt: skip


@dataclass(frozen=True)
class TestSplit:
    blur: np.ndarray  # (N, H, W, 3) uint8 RGB, memory-mapped
    sharp: np.ndarray
    names: list[tuple[str, str]]  # (sequence, frame) per row


def load_test_split(data_dir: Path, split: str = "test") -> TestSplit:
    blur, sharp = load_split(data_dir, split)
    names: list[tuple[str, str]] = [("", "")] * len(blur)
    for row in read_manifest(data_dir, split):
        names[row["index"]] = (row["sequence"], row["frame"])
    return TestSplit(blur, sharp, names)


def summarize(values: list[float], prefix: str) -> dict[str, float]:
    a = np.asarray(values, dtype=np.float64)
    return {
        prefix: float(a.mean()),
        f"{prefix}_std": float(a.std()),
        f"{prefix}_min": float(a.min()),
        f"{prefix}_max": float(a.max()),
    }


def evaluate(
    generator: nn.Module,
    split: TestSplit,
    runtime: Runtime,
    samples_dir: Path | None = None,
    samples: int = 4,
    max_images: int | None = None,
    warmup: bool = True,
) -> tuple[dict[str, float], list[dict[str, object]]]:
    """Deblur every test frame (batch 1) on ``runtime``; returns (summary, per-image rows).

    The summary has test_psnr/test_ssim (mean, std, min, max), the same for the blurred input
    (the do-nothing baseline), the gain over it and milliseconds per image. ``warmup``: one
    untimed deblur first (off when the caller has warmed up itself).
    """
    device, amp_dtype = runtime.device, runtime.amp_dtype
    n = min(len(split.blur), max_images or len(split.blur))
    if n == 0:
        raise ValueError("the test split is empty")
    generator = generator.to(device).eval()
    picks = (
        set(np.linspace(0, n - 1, min(samples, n)).round().astype(int).tolist())
        if samples
        else set()
    )
    if samples_dir is not None:
        samples_dir.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, object]] = []
    if warmup:
        deblur(generator, np.asarray(split.blur[0]), device, amp_dtype)  # not timed
    for i in tqdm(range(n), desc="evaluate", leave=False, disable=None):
        blur, sharp = np.asarray(split.blur[i]), np.asarray(split.sharp[i])
        t0 = time.perf_counter()
        out = deblur(generator, blur, device, amp_dtype)
        ms = (time.perf_counter() - t0) * 1000
        seq, frame = split.names[i]
        rows.append({
            "index": i, "sequence": seq, "frame": frame,
            "psnr": psnr(sharp, out), "ssim": ssim(sharp, out),
            "input_psnr": psnr(sharp, blur), "input_ssim": ssim(sharp, blur), "ms": ms,
        })  # fmt: skip
        if samples_dir is not None and i in picks:
            write_png(
                samples_dir / f"{i:04d}_{seq}_{frame}.png",
                np.concatenate([blur, out, sharp], axis=1),
            )
    summary: dict[str, float] = {"images": n}
    summary.update(summarize([r["psnr"] for r in rows], "test_psnr"))
    summary.update(summarize([r["ssim"] for r in rows], "test_ssim"))
    summary.update(summarize([r["input_psnr"] for r in rows], "input_psnr"))
    summary.update(summarize([r["input_ssim"] for r in rows], "input_ssim"))
    summary["gain_psnr"] = summary["test_psnr"] - summary["input_psnr"]
    summary["gain_ssim"] = summary["test_ssim"] - summary["input_ssim"]
    summary["ms_per_image"] = float(np.mean([r["ms"] for r in rows]))
    return summary, rows


def write_per_image(path: Path, rows: list[dict[str, object]]) -> None:
    def fmt(v: object) -> str:
        return f"{v:.6g}" if isinstance(v, float) else str(v)

    lines = [",".join(PER_IMAGE_COLUMNS)]
    lines += [",".join(fmt(r[c]) for c in PER_IMAGE_COLUMNS) for r in rows]
    atomic.write_text(path, "\n".join(lines) + "\n")
