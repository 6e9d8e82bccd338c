"""Helpers shared by the benchmarks: import path, device names, photo-like frames, data folders.

The device is chosen by the package's runtime (``pick_runtime``) and prepared folders are written
by the prepare stage's own writer, so the benchmarks measure the format and settings the
pipeline uses.

The benchmarks must run where only torch, torchvision, OpenCV, scikit-image, numpy and pyyaml
are installed (a GPU machine without DVC, MLflow or even the package installed): this module
puts ``src/`` on the import path and silences tqdm, or stands in for it where it is missing
(the training and evaluation loops use it only for progress bars).
"""

from __future__ import annotations

import os
import platform
import sys
import types
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]

if str(REPO / "src") not in sys.path:
    sys.path.insert(0, str(REPO / "src"))

try:  # no progress bars in benchmark output; a bare machine may lack tqdm altogether
    import tqdm

    class _QuietBar(tqdm.tqdm):
        def __init__(self, *args, **kwargs):
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)

    tqdm.tqdm = _QuietBar
except ImportError:

    class _NoBar:
        def __init__(self, iterable=None, *args, **kwargs):
            self.iterable = iterable

        def __iter__(self):
            return iter(self.iterable)

        def set_postfix(self, *args, **kwargs):
            pass

        def update(self, *args, **kwargs):
            pass

        def close(self):
            pass

    sys.modules["tqdm"] = types.SimpleNamespace(tqdm=_NoBar)

import cv2  # noqa: E402
import torch  # noqa: E402

from deblurflow.blur import blur_from_linear, srgb_to_linear_lut, to_linear  # noqa: E402
from deblurflow.prepared import write_prepared  # noqa: E402, F401 - the benchmarks' data folders
from deblurflow.runtime import DeviceError, pick_runtime  # noqa: E402


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe_device(device: torch.device) -> str:
    """Human name of the device, e.g. 'NVIDIA H200' or 'CPU AMD EPYC (2 cores, 2 threads)'."""
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (torch {torch.__version__})"
    cores = os.cpu_count()
    return (
        f"CPU {cpu_name()} ({cores} cores, {torch.get_num_threads()} torch threads, "
        f"torch {torch.__version__})"
    )


def pick_device(name: str) -> torch.device:
    """The device ``--device NAME`` (auto, cpu, cuda, cuda:N) means, as training picks it."""
    try:
        return pick_runtime(name).device
    except (DeviceError, ValueError) as exc:
        raise SystemExit(f"error: --device {name}: {exc}") from None


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def parse_size(text: str) -> tuple[int, int]:
    """'640x360' -> (width, height)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise SystemExit(f"error: expected WIDTHxHEIGHT, got {text!r}") from None
    return w, h


def _photos() -> list[np.ndarray]:
    """Real photographs bundled with scikit-image (RGB uint8), so PNGs compress like photos."""
    from skimage import data

    out = []
    for name in ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry"):
        try:
            img = getattr(data, name)()
        except Exception:  # noqa: BLE001 - some versions fetch a few images; skip those
            continue
        if img.ndim == 3 and img.shape[2] == 3:
            out.append(np.ascontiguousarray(img[..., :3]))
    if not out:  # never expected; keeps the benchmark running without the bundled data
        rng = np.random.default_rng(0)
        small = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
        out.append(cv2.resize(small, (512, 384), interpolation=cv2.INTER_CUBIC))
    return out


def photo_pairs(n: int, width: int, height: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n (blur, sharp) uint8 RGB pairs (n, H, W, 3): shifted crops of real photos, blurred
    along a random direction. Content only matters for PNG size and decode time."""
    rng = np.random.default_rng(seed)
    photos = _photos()
    blur = np.empty((n, height, width, 3), np.uint8)
    sharp = np.empty_like(blur)
    for i in range(n):
        src = photos[i % len(photos)]
        scale = 1.25 * max(width / src.shape[1], height / src.shape[0])
        big = cv2.resize(src, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        y = rng.integers(0, big.shape[0] - height + 1)
        x = rng.integers(0, big.shape[1] - width + 1)
        sharp[i] = big[y : y + height, x : x + width]
        k = int(rng.integers(5, 15))
        kernel = np.zeros((k, k), np.float32)
        kernel[k // 2] = 1.0 / k
        rot = cv2.getRotationMatrix2D((k / 2 - 0.5, k / 2 - 0.5), float(rng.uniform(0, 180)), 1)
        kernel = cv2.warpAffine(kernel, rot, (k, k))
        kernel /= kernel.sum()
        blur[i] = cv2.filter2D(sharp[i], -1, kernel, borderType=cv2.BORDER_REFLECT)
    return blur, sharp


def pixel_step(generator, opt, store, rng, runtime, batch=8, crop=64, rotate90=False, jitter=0.0):
    """One generator-only training step on random crops of ``store`` (a PairStore): the
    pipeline's pixel loss (Charbonnier) on ``batch`` crops of ``crop`` x ``crop`` with flips."""
    import torch

    from deblurflow.losses import charbonnier_loss

    index = torch.randint(len(store), (batch,), generator=rng)
    blur, sharp = store.crops(index, (crop, crop), rng, rotate90=rotate90, jitter=jitter)
    if runtime.channels_last:
        blur = blur.contiguous(memory_format=torch.channels_last)
    with runtime.autocast():
        out = generator(blur)
    loss = charbonnier_loss(out.float(), sharp)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss


def gan_nets(params, runtime):
    """The recipe's networks, optimisers and losses as the train stage builds them:
    (GanPair, GanLosses)."""
    from deblurflow.losses import build_losses
    from deblurflow.training.loop import build_models
    from deblurflow.training.step import GanPair

    models = build_models(params, runtime)
    nets = GanPair(models.gen, models.disc, models.opt_g, models.opt_d)
    return nets, build_losses(params, runtime)


def gan_step(nets, losses, store, rng, runtime, batch=8, crop=64):
    """One step of the pipeline's own GAN step (``training.step.gan_step``) on ``batch`` random
    crops of ``store`` (a PairStore) with flips."""
    import torch

    from deblurflow.training.step import gan_step as pipeline_step

    index = torch.randint(len(store), (batch,), generator=rng)
    return pipeline_step(nets, *store.crops(index, (crop, crop), rng), losses, runtime)


def line_kernel(length: int, angle: float) -> np.ndarray:
    """A normalised straight line of ``length`` px at ``angle`` radians (bilinear splats)."""
    size = length + 2
    k = np.zeros((size, size), np.float32)
    c = (size - 1) / 2
    for t in np.linspace(-(length - 1) / 2, (length - 1) / 2, 4 * length):
        x, y = c + t * np.cos(angle), c + t * np.sin(angle)
        x0, y0 = int(np.floor(x)), int(np.floor(y))
        fx, fy = x - x0, y - y0
        for xx, yy, w in ((x0, y0, (1 - fx) * (1 - fy)), (x0 + 1, y0, fx * (1 - fy)),
                          (x0, y0 + 1, (1 - fx) * fy), (x0 + 1, y0 + 1, fx * fy)):  # fmt: skip
            if 0 <= xx < size and 0 <= yy < size:
                k[yy, xx] += w
    return k / k.sum()


def estimate_kernel(sharp: np.ndarray, blurred: np.ndarray, size: int = 31, lam: float = 1e-2):
    """The blur kernel k (size x size, >= 0, sum 1) with ``blurred ~ sharp * k``, from a pair
    of float grey images in linear light: regularised least squares on both image gradients
    (Fourier domain, a Hann window against edge effects, ``lam`` times the mean gradient power
    as the Tikhonov weight), then negative and faint (< 15% of the peak: noise) taps dropped.
    Apply it with ``cv2.filter2D(sharp, -1, k[::-1, ::-1])`` (filter2D correlates)."""
    h, w = sharp.shape
    num = np.zeros((2 * h, 2 * w), np.complex128)
    den = np.zeros((2 * h, 2 * w))
    window = np.outer(np.hanning(h - 1), np.hanning(w - 1))
    for axis in (0, 1):
        ds = np.diff(sharp, axis=axis)[: h - 1, : w - 1] * window
        db = np.diff(blurred, axis=axis)[: h - 1, : w - 1] * window
        fs, fb = np.fft.fft2(ds, (2 * h, 2 * w)), np.fft.fft2(db, (2 * h, 2 * w))
        num += np.conj(fs) * fb
        den += np.abs(fs) ** 2
    k = np.fft.fftshift(np.real(np.fft.ifft2(num / (den + lam * den.mean()))))
    r = size // 2
    k = k[h - r : h + r + 1, w - r : w + r + 1]
    k = np.clip(k, 0.0, None)
    k[k < 0.15 * k.max()] = 0.0
    return (k / k.sum()).astype(np.float32)


def convolve(sharp: np.ndarray, kernel: np.ndarray, gamma: float) -> np.ndarray:
    """uint8 RGB ``sharp`` blurred by ``kernel`` in the light given by ``gamma``."""
    flipped = np.ascontiguousarray(kernel[::-1, ::-1])  # filter2D correlates
    light = to_linear(sharp, srgb_to_linear_lut(gamma))
    light = cv2.filter2D(light, -1, flipped, borderType=cv2.BORDER_REFLECT)
    np.clip(light, 0.0, 1.0, out=light)  # float rounding at black pixels can dip below 0
    return blur_from_linear([light], gamma)
