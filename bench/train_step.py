"""GAN train step: images/s and model-FLOP utilisation, our loop vs a naive seed-style loop.

Both loops run the package's own GAN step (``deblurflow.training.step.gan_step``) on the same
models (ResNet generator + PatchGAN discriminator), batch and device, side by side in one run:

- ours: the real ``deblurflow.training.loop.train`` on a prepared folder: uint8 frames moved to the
  device once, random crops/flips there (PairStore; ``--host-data``: pinned host memory and
  async copies instead), bf16 autocast and channels_last on CUDA, fused Adam, ``.item()``
  only when logging;
- naive (the seeds' way): a torch DataLoader decoding the blur/sharp PNG files every step
  (OpenCV), random crop/flip in numpy, fp32, NCHW, default Adam, ``.item()`` every step.

FLOPs of one whole ``gan_step`` (D step + G step, forward + backward) are counted with
``torch.utils.flop_counter.FlopCounterMode`` on meta tensors; utilisation is achieved FLOP/s
over the device's peak (``--peak-tflops``, or the known figure for the GPU) and over a bf16 /
fp32 matmul measured on the device in the same run.

    python bench/train_step.py                                   # GPU: seed model, 256^2 crops
    python bench/train_step.py --frames 640x360 --batch 8        # whole 640x360 frames
    python bench/train_step.py --device cpu --channels 16 --size 64 --source 160x90 --steps 10
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import tempfile
import time
from pathlib import Path

import common  # noqa: F401 - sets up the import path first
import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from torch.utils.flop_counter import FlopCounterMode

from deblurflow.losses import GanLosses
from deblurflow.models import build_discriminator, build_generator
from deblurflow.params import ModelParams, Params, TrainParams
from deblurflow.runtime import Runtime, pick_runtime
from deblurflow.training.loop import train
from deblurflow.training.pairs import DEVICE_DATA_SHARE
from deblurflow.training.step import GanPair, gan_step

# Dense bf16 tensor-core peaks (TFLOP/s) by device-name substring. H200: the figure issue 4
# plans with; NVIDIA's datasheet lists 989 dense for the SXM part. Others: pass --peak-tflops.
KNOWN_PEAKS = {"H200": 790.0}
# The seed paper's schedule: 80 epochs over GoPro's 1,029 training pairs at 640x360.
SEED_EPOCHS, SEED_PAIRS = 80, 1029


# --- FLOPs ---------------------------------------------------------------------------------------


#: the seeds' losses: BCE adversarial (weight 1) + 100 x L1
SEED_LOSSES = GanLosses(lambda_pix=100.0, pixel="l1", lambda_adv=1.0)
#: the seed papers' model (ResNet-6, 64 wide, PatchGAN 64)
SEED_MODEL = ModelParams(generator="resnet", channels=64, res_blocks=6, d_channels=64)


def gan_step_flops(model: ModelParams, batch: int, h: int, w: int) -> tuple[int, int]:
    """(FLOPs of one ``gan_step``, FLOPs of one generator forward) for a (batch, 3, h, w) batch.

    On meta tensors (nothing is computed); the optimizer updates are elementwise and count 0.
    """
    meta = Runtime(torch.device("meta"), amp_dtype=None, channels_last=False)
    with torch.device("meta"):
        gen, disc = build_generator(model), build_discriminator(model)
        blur, sharp = torch.empty(batch, 3, h, w), torch.empty(batch, 3, h, w)
    # Plain (not fused, not foreach) Adam: the implementation that runs on meta tensors.
    opt_g = torch.optim.Adam(gen.parameters(), foreach=False)
    opt_d = torch.optim.Adam(disc.parameters(), foreach=False)
    with FlopCounterMode(display=False) as fwd:
        gen(blur)
    with FlopCounterMode(display=False) as step:
        gan_step(GanPair(gen, disc, opt_g, opt_d), blur, sharp, SEED_LOSSES, meta)
    return step.get_total_flops(), fwd.get_total_flops()


def matmul_peak(device: torch.device, dtype: torch.dtype) -> float:
    """FLOP/s of a large square matmul on the device, best of 3 rounds (a measured reference,
    not a datasheet figure)."""
    n = 8192 if device.type == "cuda" else 2048
    reps = 20 if device.type == "cuda" else 4
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(2):
        a @ b
    best = float("inf")
    for _ in range(3):
        common.sync(device)
        t0 = time.perf_counter()
        for _ in range(reps):
            a @ b
        common.sync(device)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 * reps / best


# --- the naive seed-style loop ----------------------------------------------------------------


class PngPairs(Dataset):
    """Blur/sharp PNG pairs decoded on every access; random crop + flips in numpy."""

    def __init__(self, folder: Path, n: int, crop: tuple[int, int] | None) -> None:
        self.folder, self.n, self.crop = folder, n, crop

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        blur = cv2.cvtColor(cv2.imread(str(self.folder / f"blur_{i:05d}.png")), cv2.COLOR_BGR2RGB)
        sharp = cv2.cvtColor(cv2.imread(str(self.folder / f"sharp_{i:05d}.png")), cv2.COLOR_BGR2RGB)
        h, w = blur.shape[:2]
        ch, cw = self.crop or (h // 4 * 4, w // 4 * 4)
        y, x = np.random.randint(0, h - ch + 1), np.random.randint(0, w - cw + 1)
        blur, sharp = blur[y : y + ch, x : x + cw], sharp[y : y + ch, x : x + cw]
        if np.random.rand() < 0.5:
            blur, sharp = blur[:, ::-1], sharp[:, ::-1]
        if np.random.rand() < 0.5:
            blur, sharp = blur[::-1], sharp[::-1]

        def tensor(a: np.ndarray) -> torch.Tensor:  # (3, ch, cw) fp32 in [-1, 1]
            return torch.from_numpy(a.transpose(2, 0, 1).copy()).float() / 127.5 - 1.0

        return tensor(blur), tensor(sharp)


def run_naive(args, model: ModelParams, folder: Path, n: int, device: torch.device) -> float:
    """Images/s of the seed-style loop (after ``args.warmup`` steps): the same ``gan_step`` in
    fp32 NCHW with default Adam, fed by a PNG DataLoader, reading the losses every step."""
    if device.type == "cuda":  # the seeds' defaults: no autotuning, no TF32 matmuls
        torch.backends.cudnn.benchmark = False
        torch.backends.cuda.matmul.allow_tf32 = False
    torch.manual_seed(0)
    gen = build_generator(model).to(device)
    disc = build_discriminator(model).to(device)
    opt_g = torch.optim.Adam(gen.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), lr=2e-4, betas=(0.5, 0.999))
    loader = DataLoader(
        PngPairs(folder, n, args.crop),
        batch_size=args.batch,
        shuffle=True,
        drop_last=True,
        num_workers=args.naive_workers,
        persistent_workers=args.naive_workers > 0,
    )
    batches = itertools.chain.from_iterable(itertools.repeat(loader))
    fp32 = Runtime(device, amp_dtype=None, channels_last=False)
    total = args.warmup + args.steps
    running = 0.0
    t0 = 0.0
    for step, (blur, sharp) in enumerate(batches, start=1):
        if step == args.warmup + 1:
            common.sync(device)
            t0 = time.perf_counter()
        blur, sharp = blur.to(device), sharp.to(device)
        losses = gan_step(GanPair(gen, disc, opt_g, opt_d), blur, sharp, SEED_LOSSES, fp32)
        running += losses["g"].item() + losses["d"].item()  # per-step logging, as the seeds did
        if step == total:
            break
    common.sync(device)
    return args.steps * args.batch / (time.perf_counter() - t0)


# --- our loop: the real train() ----------------------------------------------------------------


def run_ours(args, model: ModelParams, data: Path, device: torch.device, work: Path) -> float:
    """Images/s of ``deblurflow.training.loop.train`` between its log at step ``warmup`` and the
    end.

    Logging reads the losses (``.item()``), which waits for the device, so the log times are
    synchronised; logging every ``warmup`` steps is the real loop's own cost.
    """
    tp = TrainParams(
        epochs=1,
        batch_size=args.batch,
        crop=None if args.frames else args.size,
        steps_per_epoch=args.warmup + args.steps,
        log_every=args.warmup,
        val_max_images=1,
        device=device.type,
        precision=args.precision,
        compile=args.compile,
    )
    params = Params(model=model, train=tp)
    runtime = pick_runtime(str(device), args.precision)  # TF32, cudnn.benchmark on CUDA
    runtime = dataclasses.replace(runtime, channels_last=args.channels_last)
    stamps: list[tuple[int, float]] = []

    def on_log(losses: dict[str, float], step: int) -> None:
        common.sync(device)
        stamps.append((step, time.perf_counter()))

    # --host-data: as if the frames did not fit on the GPU (pinned host memory, async copies).
    share = 0.0 if args.host_data else DEVICE_DATA_SHARE
    train(params, data, work / "checkpoints", runtime, on_log=on_log, device_share=share)
    (s0, t0), (s1, t1) = stamps[0], stamps[-1]
    return (s1 - s0) * args.batch / (t1 - t0)


# --- main --------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    shape = ap.add_mutually_exclusive_group()
    shape.add_argument("--size", type=int, default=256, help="square crop side (default 256)")
    shape.add_argument("--frames", help="train on whole WxH frames instead, e.g. 640x360")
    ap.add_argument("--source", default="640x360", help="frame size crops are taken from")
    ap.add_argument("--pairs", type=int, default=64, help="frame pairs in the dataset")
    ap.add_argument("--precision", choices=["fp32", "bf16"], help="ours (default: bf16 on CUDA)")
    ap.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                    help="ours (default: on for CUDA)")  # fmt: skip
    ap.add_argument("--compile", action="store_true", help="torch.compile ours")
    ap.add_argument("--host-data", action="store_true",
                    help="ours: frames in pinned host memory (the no-fit fallback)")  # fmt: skip
    ap.add_argument("--channels", type=int, default=64, help="generator width (seed: 64)")
    ap.add_argument("--d-channels", type=int, help="discriminator width (default: --channels)")
    ap.add_argument("--res-blocks", type=int, default=6)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=30, help="timed steps per loop")
    ap.add_argument("--warmup", type=int, default=5, help="untimed steps first")
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    ap.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--naive-workers", type=int, help="DataLoader workers (default: 4 CUDA, 0 CPU)")
    ap.add_argument("--peak-tflops", type=float, help="device peak for utilisation")
    ap.add_argument("--loops", default="naive,ours", help="which loops to run")
    ap.add_argument("--repeats", type=int, default=1, help="alternating repeats (median)")
    args = ap.parse_args()

    # Ours' defaults are the package's runtime policy (bf16 and channels_last on CUDA).
    runtime = pick_runtime(args.device, args.precision or "auto")
    device = runtime.device
    if args.threads:
        torch.set_num_threads(args.threads)
    cuda = device.type == "cuda"
    args.precision = "fp32" if runtime.amp_dtype is None else "bf16"
    if args.channels_last is None:
        args.channels_last = runtime.channels_last
    if args.naive_workers is None:
        args.naive_workers = 4 if cuda else 0
    loops = [name.strip() for name in args.loops.split(",")]
    model = ModelParams(
        generator="resnet",
        channels=args.channels,
        res_blocks=args.res_blocks,
        d_channels=args.d_channels or args.channels,
    )
    if args.frames:
        width, height = common.parse_size(args.frames)
        args.crop = None
        h, w = height // 4 * 4, width // 4 * 4
        what = f"whole {width}x{height} frames"
    else:
        width, height = common.parse_size(args.source)
        args.crop = (args.size, args.size)
        h = w = args.size
        what = f"{args.size}x{args.size} crops of {width}x{height} frames"

    print(f"device: {common.describe_device(device)}")
    print(
        f"model: G channels {model.channels}, {model.res_blocks} blocks; D channels "
        f"{model.d_channels} | {what}, batch {args.batch}, {args.warmup} warm-up + "
        f"{args.steps} timed steps"
    )
    # On CUDA, ours allows TF32 (pick_runtime); naive keeps torch's defaults (TF32 in cuDNN
    # convolutions, not in matmuls), as the seeds ran.
    ours_prec = f"{args.precision}{' (TF32 allowed)' if cuda and args.precision == 'fp32' else ''}"
    home = "pinned host memory" if args.host_data else "the device"
    print(
        f"ours: {ours_prec}, channels_last {args.channels_last}, compile {args.compile}, "
        f"fused Adam, frames on {home} | naive: fp32, NCHW, PNG DataLoader, "
        f"{args.naive_workers} workers"
    )
    step_flops, fwd_flops = gan_step_flops(model, args.batch, h, w)
    per_image = step_flops / args.batch
    print(
        f"FLOPs (FlopCounterMode): GAN step {per_image / 1e9:.2f} GFLOP per image "
        f"(G forward {fwd_flops / args.batch / 1e9:.2f})"
    )

    with tempfile.TemporaryDirectory(prefix="bench_train_") as tmp:
        work = Path(tmp)
        blur, sharp = common.photo_pairs(args.pairs, width, height)
        pngs = work / "png"
        pngs.mkdir()
        for i in range(args.pairs if "naive" in loops else 0):
            for kind, frames in (("blur", blur), ("sharp", sharp)):
                bgr = cv2.cvtColor(frames[i], cv2.COLOR_RGB2BGR)
                cv2.imwrite(str(pngs / f"{kind}_{i:05d}.png"), bgr)
        data = common.write_prepared(
            work / "prepared", {"train": (blur, sharp), "val": (blur[:1], sharp[:1])}
        )
        # Repeats alternate the order, so a load change on a shared machine hits both loops.
        runs: dict[str, list[float]] = {name: [] for name in loops}
        for r in range(args.repeats):
            for name in loops if r % 2 == 0 else loops[::-1]:
                if name == "naive":
                    ips = run_naive(args, model, pngs, args.pairs, device)
                else:
                    ips = run_ours(args, model, data, device, work / f"run{r}")
                runs[name].append(ips)
                print(f"  repeat {r + 1}: {name} {ips:.2f} images/s", flush=True)
        results = {name: float(np.median(v)) for name, v in runs.items()}

    peak = args.peak_tflops
    if peak is None and cuda:
        name = torch.cuda.get_device_name(device)
        peak = next((v for k, v in KNOWN_PEAKS.items() if k in name), None)
    torch.backends.cuda.matmul.allow_tf32 = False  # a true fp32 reference
    matmul = {"fp32": matmul_peak(device, torch.float32)}
    if args.precision == "bf16":
        matmul["bf16"] = matmul_peak(device, torch.bfloat16)
    unit, scale = ("TFLOP/s", 1e12) if cuda else ("GFLOP/s", 1e9)
    print("measured matmul: " + ", ".join(f"{k} {v / scale:.1f} {unit}" for k, v in matmul.items()))
    if peak is None:
        print("device peak: none known (pass --peak-tflops); utilisation vs the matmul only")
    else:
        print(f"device peak: {peak:.0f} TFLOP/s (dense bf16)")
    print()
    print(f"{'loop':<6} {'images/s':>10} {'ms/step':>9} {unit:>9} {'of peak':>8} {'of matmul':>10}")
    for name, ips in results.items():
        flops = ips * per_image
        ref = matmul["fp32" if name == "naive" else args.precision]
        of_peak = f"{flops / (peak * 1e12):.1%}" if peak else "-"
        print(
            f"{name:<6} {ips:>10.2f} {1000 * args.batch / ips:>9.1f} {flops / scale:>9.2f} "
            f"{of_peak:>8} {flops / ref:>10.1%}"
        )
    seed_setting = (width, height) == (640, 360) and model == SEED_MODEL
    if args.frames and seed_setting and "ours" in results:
        minutes = SEED_EPOCHS * SEED_PAIRS / results["ours"] / 60
        print(
            f"\nseed schedule ({SEED_EPOCHS} epochs x {SEED_PAIRS} frames) at ours' measured "
            f"rate: {minutes:.1f} min of training steps (validation and checkpoints excluded)"
        )
    if len(results) == 2:
        each = [o / n for o, n in zip(runs["ours"], runs["naive"])]
        print(
            f"\nratio ours/naive: {results['ours'] / results['naive']:.2f}x images/s "
            f"(medians; per repeat: {', '.join(f'{x:.2f}' for x in each)})"
        )


if __name__ == "__main__":
    main()
