"""Benchmark: synthesize vs plain PNG decode + encode of the same frames, side by side.

Builds (or takes with --raw) a raw tree of GoPro-like sequences, then times, in one run and with
the same number of worker processes:

  (a) ``synthesize_tree`` (decode every frame once, linear-light averaging, write blur + sharp);
  (b) the floor any PNG-to-PNG stage pays: ``cv2.imdecode`` of every frame and ``cv2.imencode``
      of every frame at the blur outputs' PNG compression (kept in memory, not written).

and prints both times and the ratio (a) / (b). Target: <= 1.5. Run:

    .venv/bin/python bench/synthesize.py                  # 4 x 70 frames at 640x360, 2 workers
    .venv/bin/python bench/synthesize.py --raw data/raw   # your own raw tree
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import common  # bench helpers (import path, device names)
import cv2
import numpy as np
import skimage.data

from deblurflow.images import write_png
from deblurflow.params import BlurParams
from deblurflow.synthesize import synthesize_tree

PNG_LEVEL = 1  # the compression write_png uses for the blur outputs
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "cat")


def build_raw(root: Path, sequences: int, frames: int, width: int, height: int) -> None:
    """Real photos panned by a smooth random hand-held path, with sensor noise, as PNG frames."""
    rng = np.random.default_rng(0)
    margin = max(width, height) // 8
    for s in range(sequences):
        split = "test" if s == sequences - 1 else "train"  # synthesize needs both splits
        photo = getattr(skimage.data, PHOTOS[s % len(PHOTOS)])()
        canvas = cv2.resize(photo, (width + 2 * margin, height + 2 * margin), cv2.INTER_CUBIC)
        velocity = rng.normal(0, 1.5, 2)
        pos = np.zeros(2)
        for i in range(frames):
            velocity = 0.9 * velocity + rng.normal(0, 0.5, 2)  # smooth camera shake, px/frame
            pos = np.clip(pos + velocity, -margin + 1, margin - 1)
            shift = np.float32([[1, 0, -(margin + pos[0])], [0, 1, -(margin + pos[1])]])
            frame = cv2.warpAffine(canvas, shift, (width, height), flags=cv2.INTER_LINEAR)
            noisy = frame.astype(np.float32) + rng.normal(0, 2.0, frame.shape).astype(np.float32)
            write_png(
                root / split / f"seq_{s:02d}" / f"{i:06d}.png",
                np.clip(noisy + 0.5, 0, 255).astype(np.uint8),
            )


def _init_worker() -> None:
    cv2.setNumThreads(1)  # as synthesize's workers: parallelism across processes only


def decode_encode(paths: list[Path]) -> int:
    """Decode every frame and re-encode it as PNG (in memory); return the bytes produced."""
    produced = 0
    for path in paths:
        img = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
        ok, buf = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, PNG_LEVEL])
        assert ok, path
        produced += buf.size
    return produced


def time_baseline(raw: Path, workers: int) -> float:
    """Decode + encode all frames, one job per sequence, in ``workers`` spawned processes."""
    jobs = [sorted(d.glob("*.png")) for d in sorted(raw.glob("*/*")) if d.is_dir()]
    start = time.perf_counter()
    if workers == 1:
        for job in jobs:
            decode_encode(job)
    else:
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker) as pool:
            list(pool.map(decode_encode, jobs))
    return time.perf_counter() - start


def time_synthesize(raw: Path, out: Path, blur: BlurParams) -> tuple[float, dict]:
    start = time.perf_counter()
    manifest = synthesize_tree(raw, out, blur)
    return time.perf_counter() - start, manifest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--raw", type=Path, help="an existing raw tree (default: build one)")
    ap.add_argument("--sequences", type=int, default=4)
    ap.add_argument("--frames", type=int, default=70, help="frames per sequence")
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=360)
    ap.add_argument("--m", type=int, default=7, help="blur.frames")
    ap.add_argument("--gamma", type=float, default=2.2)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3, help="interleaved runs; medians reported")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench_synth_") as tmp:
        tmp = Path(tmp)
        raw = args.raw
        if raw is None:
            raw = tmp / "raw"
            t0 = time.perf_counter()
            build_raw(raw, args.sequences, args.frames, args.width, args.height)
            print(f"built raw tree in {time.perf_counter() - t0:.1f}s")
        paths = sorted(raw.glob("*/*/*.png"))
        shape = cv2.imdecode(np.fromfile(paths[0], np.uint8), cv2.IMREAD_UNCHANGED).shape
        n_seq = len({p.parent for p in paths})
        mib = sum(p.stat().st_size for p in paths) / 2**20
        for p in paths:  # warm the page cache so neither side pays cold-disk reads
            p.read_bytes()

        blur = BlurParams(frames=args.m, gamma=args.gamma, workers=args.workers)
        t_syn, t_base = [], []
        for r in range(args.repeats):
            t_base.append(time_baseline(raw, args.workers))
            seconds, manifest = time_synthesize(raw, tmp / f"pairs{r}", blur)
            t_syn.append(seconds)
        syn, base = statistics.median(t_syn), statistics.median(t_base)

    n = len(paths)
    pairs = manifest["counts"]["train"] + manifest["counts"]["test"]
    usable = len(os.sched_getaffinity(0))
    print(f"cpu: {common.cpu_name()}, {os.cpu_count()} cores ({usable} usable)")
    print(
        f"data: {n_seq} sequences, {n} frames of {shape[1]}x{shape[0]} ({mib:.0f} MiB PNG), "
        f"M={args.m}, gamma={args.gamma}, {pairs} pairs, {args.workers} workers"
    )
    print(
        f"synthesize:      {syn:6.2f} s  ({n / syn:6.1f} frames/s)  runs: "
        + ", ".join(f"{t:.2f}" for t in t_syn)
    )
    print(
        f"decode+encode:   {base:6.2f} s  ({n / base:6.1f} frames/s)  runs: "
        + ", ".join(f"{t:.2f}" for t in t_base)
    )
    print(f"ratio synthesize / (decode+encode) = {syn / base:.2f}  (target <= 1.5)")


if __name__ == "__main__":
    main()
