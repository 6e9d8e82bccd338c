"""``deblurflow predict`` on real-photo sizes: ms per frame and peak memory, side by side.

One run measures, on the same CPU (or GPU for the torch rows) and the same photo-like frame:

- torch fp32, torch bf16 autocast and onnxruntime (fp32, the exported graph) on a whole
  1280x720 frame;
- tiled (``--tile``, ``--tile-overlap``) vs whole-frame at 1280x720 and 3840x2160 (4K), torch
  at the runtime's auto precision;
- how far tiled output is from whole-frame output (the generators' image-wide statistics).

Each configuration runs in its own process so that its peak resident memory (ru_maxrss, minus
the process's peak after loading the model and a small warm-up frame) is its own.
The model is the params.yaml generator (default NAFNet-16) with random weights unless
``--model`` names a trained file: speed and memory do not depend on the weights.

    python bench/predict.py                          # 1280x720 + 4K, 3 reps
    python bench/predict.py --reps 1 --no-4k         # quicker
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import common
import numpy as np
import torch

from deblurflow.models import build_generator, load_generator
from deblurflow.params import load_params
from deblurflow.runtime import pick_runtime
from deblurflow.tiling import deblur_tiled, torch_runner

HD, UHD = (1280, 720), (3840, 2160)


def rss_mb() -> float:
    """Resident memory of this process now (Linux /proc), MB."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / 2**20


class PeakRSS:
    """Highest resident memory while inside, sampled every 2 ms by a thread (ru_maxrss would
    also count whatever came before, e.g. building the test frame)."""

    def __enter__(self) -> PeakRSS:
        self.start = self.peak = rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def _poll(self) -> None:
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, rss_mb())

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb())


def load_model(args: argparse.Namespace) -> torch.nn.Module:
    if args.model:
        return load_generator(args.model)[0]
    torch.manual_seed(0)
    g = build_generator(load_params(common.REPO / "params.yaml").model)
    with torch.no_grad():  # a trained-looking generator (the untrained one is the identity)
        for p in g.parameters():
            p.add_(0.02 * torch.randn_like(p))
    return g.eval()


def child(cfg: dict, args: argparse.Namespace) -> dict:
    """One configuration in this process: ms per frame (median of reps) and peak MB."""
    w, h = cfg["size"]
    frame = common.photo_pairs(1, w, h)[0][0]  # blurred, uint8 (H, W, 3)
    g = load_model(args)
    if cfg["backend"] == "onnxruntime":
        from deblurflow.export import onnx_runner

        run = onnx_runner(cfg["onnx"])
        prec = "fp32"
    else:
        rt = pick_runtime(args.device, cfg["precision"])
        run = torch_runner(rt.place(g), rt.device, rt.amp_dtype, rt.channels_last)
        prec = "fp32" if rt.amp_dtype is None else "bf16"
    deblur_tiled(run, frame[:256, :256])  # warm-up: allocator, oneDNN / ORT kernels
    times = []
    with PeakRSS() as mem:
        for _ in range(args.reps):
            t0 = time.perf_counter()
            out = deblur_tiled(run, frame, cfg["tile"], args.overlap)
            times.append((time.perf_counter() - t0) * 1000)
    result = {
        "ms": float(np.median(times)), "ms_all": times, "peak_mb": mem.peak - mem.start,
        "precision": prec,
    }  # fmt: skip
    if cfg.get("save"):
        np.save(cfg["save"], out)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--device", default="cpu", help="torch rows: cpu | cuda (onnxruntime: CPU)")
    ap.add_argument("--model", type=Path, help="a generator file (default: random weights)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--tile", type=int, default=512)
    ap.add_argument("--overlap", type=int, default=64)
    ap.add_argument("--no-4k", action="store_true", help="skip the 3840x2160 rows")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child), args)))
        return

    g = load_model(args)
    rt = pick_runtime(args.device)
    n_params = sum(p.numel() for p in g.parameters())
    print(f"device: {common.describe_device(rt.device)}; auto precision here: "
          f"{'bf16' if rt.amp_dtype else 'fp32'}")  # fmt: skip
    print(f"model: {type(g).__name__} ({n_params / 1e6:.2f} M params); reps {args.reps}, "
          f"tile {args.tile}, overlap {args.overlap}; peak = RSS growth during the runs, "
          "sampled every 2 ms; ms/frame = median, each rep in brackets")  # fmt: skip
    tmp = Path(tempfile.mkdtemp(prefix="bench-predict-"))
    onnx = tmp / "g.onnx"
    try:
        from deblurflow.export import export_onnx

        t0 = time.perf_counter()
        export_onnx(g, onnx)
        print(f"onnx export: {time.perf_counter() - t0:.1f} s")
    except Exception as exc:  # noqa: BLE001 - report and measure the torch rows anyway
        print(f"onnxruntime rows skipped: {exc}")
        onnx = None

    rows = [
        ("torch fp32, whole", HD, "torch", "fp32", 0),
        ("torch bf16, whole", HD, "torch", "bf16", 0),
        ("onnxruntime, whole", HD, "onnxruntime", "fp32", 0),
        ("torch auto, whole", HD, "torch", "auto", 0),
        ("torch auto, tiled", HD, "torch", "auto", args.tile),
        ("torch auto, whole", UHD, "torch", "auto", 0),
        ("torch auto, tiled", UHD, "torch", "auto", args.tile),
    ]
    results = {}
    print(f"\n{'configuration':<22} {'frame':>10} {'ms/frame':>10} {'peak MB':>9}")
    for name, size, backend, prec, tile in rows:
        if (backend == "onnxruntime" and onnx is None) or (size == UHD and args.no_4k):
            continue
        key = (name, size)
        cfg = {"size": size, "backend": backend, "precision": prec, "tile": tile,
               "onnx": str(onnx), "save": str(tmp / f"{len(results)}.npy")}  # fmt: skip
        cmd = [sys.executable, __file__, "--child", json.dumps(cfg), "--reps", str(args.reps),
               "--overlap", str(args.overlap), "--device", args.device]  # fmt: skip
        if args.model:
            cmd += ["--model", str(args.model)]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode:
            print(f"{name:<22} failed: {out.stderr.strip().splitlines()[-1:]}")
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        r["save"] = cfg["save"]
        results[key] = r
        label = name.replace("auto", r["precision"])
        reps = ", ".join(f"{t:.0f}" for t in r["ms_all"])
        print(f"{label:<22} {size[0]}x{size[1]:>4} {r['ms']:>10.0f} {r['peak_mb']:>9.0f}  [{reps}]")

    def ratio(a, b, what="ms"):
        if a in results and b in results:
            return results[a][what] / max(results[b][what], 1e-9)
        return float("nan")

    print("\nratios (same run):")
    fp32, bf16 = ("torch fp32, whole", HD), ("torch bf16, whole", HD)
    print(f"  1280x720 torch fp32 / bf16 time: {ratio(fp32, bf16):.2f}x")
    print(
        f"  1280x720 torch fp32 / onnxruntime time: {ratio(fp32, ('onnxruntime, whole', HD)):.2f}x"
    )
    for size in (HD, UHD):
        whole, tiled = ("torch auto, whole", size), ("torch auto, tiled", size)
        if whole in results and tiled in results:
            a, b = (np.load(results[k]["save"]).astype(np.float64) for k in (whole, tiled))
            mse = float(np.mean((a - b) ** 2))
            psnr = 10 * np.log10(255**2 / mse) if mse else float("inf")
            print(f"  {size[0]}x{size[1]} tiled / whole: time {ratio(tiled, whole):.2f}x, "
                  f"peak memory {ratio(tiled, whole, 'peak_mb'):.2f}x; tiled vs whole output: "
                  f"max |diff| {np.abs(a - b).max():.0f} of 255, PSNR {psnr:.1f} dB")  # fmt: skip
    onnx_diff = [k for k in results if k[0] == "onnxruntime, whole"]
    if onnx_diff and fp32 in results:
        a, b = (np.load(results[k]["save"]).astype(int) for k in (fp32, onnx_diff[0]))
        print(f"  1280x720 onnxruntime vs torch fp32 output: max |diff| {np.abs(a - b).max()} "
              "of 255")  # fmt: skip
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
