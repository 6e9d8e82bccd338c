"""Evaluation on the test split and on real photo pairs: whole frames, batch 1, PSNR/SSIM on
RGB uint8 (BasicSR convention), always beside the blurred input's scores and the gain."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch import nn
from tqdm import tqdm

from . import atomic
from .images import write_png
from .inference import deblur
from .metrics import psnr, ssim
from .models import load_generator
from .params import Params
from .prepared import load_split, read_manifest
from .real_pairs import find_pairs, load_pair
from .repo import from_root
from .runtime import Runtime, pick_runtime
from .tracking import Run
from .tracking.registry import log_generator

log = logging.getLogger(__name__)

PER_IMAGE_COLUMNS = (
    "index", "sequence", "frame", "psnr", "ssim", "input_psnr", "input_ssim", "ms",
)  # fmt: skip


@dataclass(frozen=True)
class TestSplit:
    """Pairs to score: the prepared test split (memory-mapped arrays) or real photo pairs."""

    blur: Sequence[np.ndarray]  # (H, W, 3) uint8 RGB per item; sizes may differ between items
    sharp: Sequence[np.ndarray]
    names: list[tuple[str, str]]  # (sequence, frame) per item


def load_test_split(data_dir: Path, split: str = "test") -> TestSplit:
    blur, sharp = load_split(data_dir, split)
    names: list[tuple[str, str]] = [("", "")] * len(blur)
    for row in read_manifest(data_dir, split):
        names[row["index"]] = (row["sequence"], row["frame"])
    return TestSplit(blur, sharp, names)


def load_real_pairs(folder: Path, size: int | None) -> TestSplit:
    """Every pair of a real-pairs folder, resized to long side ``size``; names are
    (``real:FOLDER``, pair name)."""
    blur, sharp, names = [], [], []
    for pair in find_pairs(folder):
        b, s = load_pair(pair, size)
        blur.append(b)
        sharp.append(s)
        names.append((f"real:{folder.name}", pair.name))
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
    key: str = "test",
) -> tuple[dict[str, float], list[dict[str, object]]]:
    """Deblur every frame of ``split`` (batch 1) on ``runtime``; returns (summary, rows).

    The summary has ``{key}_psnr``/``{key}_ssim`` (mean, std, min, max), the same for the
    blurred input (the do-nothing baseline) and the gain over it, and milliseconds per image.
    For ``key="test"`` the input and gain keys are ``input_psnr``, ``gain_psnr``...; for any
    other key they are ``{key}_input_psnr``, ``{key}_gain_psnr``... ``warmup``: one untimed
    deblur first (off when the caller has warmed up itself).
    """
    run = {"device": runtime.device, "amp_dtype": runtime.amp_dtype,
           "channels_last": runtime.channels_last}  # fmt: skip
    n = min(len(split.blur), max_images or len(split.blur))
    if n == 0:
        raise ValueError(f"the {key} set is empty")
    generator = runtime.place(generator).eval()
    picks = (
        set(np.linspace(0, n - 1, min(samples, n)).round().astype(int).tolist())
        if samples
        else set()
    )
    if samples_dir is not None:
        samples_dir.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, object]] = []
    if warmup:
        deblur(generator, np.asarray(split.blur[0]), **run)  # not timed
    for i in tqdm(range(n), desc=f"evaluate {key}", leave=False, disable=None):
        blur, sharp = np.asarray(split.blur[i]), np.asarray(split.sharp[i])
        t0 = time.perf_counter()
        out = deblur(generator, blur, **run)
        ms = (time.perf_counter() - t0) * 1000
        seq, frame = split.names[i]
        rows.append({
            "index": i, "sequence": seq, "frame": frame,
            "psnr": psnr(sharp, out), "ssim": ssim(sharp, out),
            "input_psnr": psnr(sharp, blur), "input_ssim": ssim(sharp, blur), "ms": ms,
        })  # fmt: skip
        if samples_dir is not None and i in picks:
            name = f"{i:04d}_{seq}_{frame}".replace(":", "_").replace("/", "_")
            write_png(samples_dir / f"{name}.png", np.concatenate([blur, out, sharp], axis=1))
    return summary_of(rows, key), rows


def summary_of(rows: list[dict[str, object]], key: str = "test") -> dict[str, float]:
    """The summary of per-image rows under ``key`` (see ``evaluate``)."""
    base = "" if key == "test" else f"{key}_"
    summary: dict[str, float] = {"images" if key == "test" else f"{key}_images": len(rows)}
    summary.update(summarize([r["psnr"] for r in rows], f"{key}_psnr"))
    summary.update(summarize([r["ssim"] for r in rows], f"{key}_ssim"))
    summary.update(summarize([r["input_psnr"] for r in rows], f"{base}input_psnr"))
    summary.update(summarize([r["input_ssim"] for r in rows], f"{base}input_ssim"))
    summary[f"{base}gain_psnr"] = summary[f"{key}_psnr"] - summary[f"{base}input_psnr"]
    summary[f"{base}gain_ssim"] = summary[f"{key}_ssim"] - summary[f"{base}input_ssim"]
    summary[f"{base}ms_per_image"] = float(np.mean([r["ms"] for r in rows]))
    return summary


def evaluate_real(
    generator: nn.Module,
    folders: Sequence[str | Path],
    size: int | None,
    runtime: Runtime,
    samples_dir: Path | None = None,
) -> tuple[dict[str, float], list[dict[str, object]]]:
    """Score real blur/sharp folders: ``real_*`` keys over all their pairs together, and
    ``real_FOLDER_*`` per folder when there are several. A folder that does not exist is
    skipped with a warning (the default points at data that is not in every checkout)."""
    present = []
    for folder in map(Path, folders):
        if folder.is_dir():
            present.append(folder)
        else:
            log.warning("real pairs %s: no such folder; skipped", folder)
    if not present:
        return {}, []
    sets = [load_real_pairs(folder, size) for folder in present]
    together = TestSplit(
        [b for p in sets for b in p.blur],
        [s for p in sets for s in p.sharp],
        [n for p in sets for n in p.names],
    )
    summary, rows = evaluate(
        generator, together, runtime, samples_dir, samples=len(together.blur), key="real"
    )
    if len(present) > 1:
        for folder in present:
            key = "real_" + "".join(c if c.isalnum() else "_" for c in folder.name)
            mine = [r for r in rows if r["sequence"] == f"real:{folder.name}"]
            summary.update(summary_of(mine, key))
    return summary, rows


def write_per_image(path: Path, rows: list[dict[str, object]]) -> None:
    def fmt(v: object) -> str:
        return f"{v:.6g}" if isinstance(v, float) else str(v)

    lines = [",".join(PER_IMAGE_COLUMNS)]
    lines += [",".join(fmt(r[c]) for c in PER_IMAGE_COLUMNS) for r in rows]
    atomic.write_text(path, "\n".join(lines) + "\n")


@dataclass(frozen=True)
class EvalPaths:
    """Where the evaluate stage reads and writes (dvc.yaml's ``cmd`` names them)."""

    model: Path  #: models/best.pt
    data: Path  #: data/prepared
    metrics: Path  #: metrics/eval.json
    per_image: Path  #: metrics/eval_per_image.csv
    samples: Path  #: metrics/samples/


def run(params: Params, paths: EvalPaths, tracker: Run) -> dict[str, float]:
    """The evaluate stage: the test split and the real pairs -> eval.json, the per-image CSV,
    sample panels, and the pipeline's MLflow run (metrics, files, the registered model)."""
    ep = params.evaluate
    runtime = pick_runtime(ep.device, ep.precision)
    generator, info = load_generator(paths.model)
    split = load_test_split(paths.data)
    # Relative real-pair folders are from the main workspace, also inside `dvc exp run --temp`.
    real_folders = [from_root(f) for f in ep.real_pairs]
    real_size = ep.real_size or params.prepare.size
    with atomic.atomic_dir(paths.samples) as samples_dir:
        summary, rows = evaluate(generator, split, runtime, samples_dir, ep.samples, ep.max_images)
        real, real_rows = evaluate_real(generator, real_folders, real_size, runtime, samples_dir)
    summary.update(real)
    # Which blur the numbers are about: GoPro's blur_gamma (2.2) or plain sRGB average (1.0).
    summary["blur_gamma"] = params.blur.gamma
    summary["best_epoch"] = info.get("epoch")
    write_per_image(paths.per_image, rows + real_rows)
    atomic.write_json(paths.metrics, summary)
    log_summary(summary, real_size, runtime)
    numbers = {k: v for k, v in summary.items() if isinstance(v, (int, float))}
    tracker.log_metrics(numbers)
    tracker.log_artifact(paths.metrics)
    tracker.log_artifact(paths.per_image)
    tracker.log_artifacts(paths.samples, "samples")
    tracker.log_artifact(paths.model, "model")  # best.pt itself, beside the run's files
    tags = {k: v for k, v in numbers.items() if k.endswith(("psnr", "ssim"))}
    log_generator(tracker, paths.model, tags)  # an MLflow Model, registered
    return summary


def log_summary(summary: dict[str, float], real_size: int | None, runtime: Runtime) -> None:
    log.info(
        "test PSNR %.2f dB (input %.2f, gain %+.2f), SSIM %.4f (input %.4f), %.1f ms/image on %s",
        summary["test_psnr"], summary["input_psnr"], summary["gain_psnr"], summary["test_ssim"],
        summary["input_ssim"], summary["ms_per_image"], runtime.describe(),
    )  # fmt: skip
    if "real_psnr" in summary:
        log.info(
            "real pairs (%d at long side %s): PSNR %.2f dB (input %.2f, gain %+.2f), "
            "SSIM %.4f (input %.4f)",
            summary["real_images"], real_size, summary["real_psnr"], summary["real_input_psnr"],
            summary["real_gain_psnr"], summary["real_ssim"], summary["real_input_ssim"],
        )  # fmt: skip
