"""GAN training: ResNet generator vs PatchGAN discriminator, adversarial + lambda_pix * L1.

Device, precision and the data-to-device move are chosen once (``Runtime``, ``PairStore``).
The prepared uint8 arrays go to the GPU once when they fit; crops and flips happen there, so a
step never decodes a PNG or copies a batch from the host. Loss values stay on the device and
are read (``.item()``) only every ``train.log_every`` steps.

Checkpoints (``models/checkpoints``):
- ``last.pt``: everything needed to resume (G, D, both optimizers, epoch, step, params,
  history), rewritten atomically after every epoch;
- ``epoch_NNNN.pt``: generator snapshots of the epochs the select stage may pick (the best so
  far under each selectable metric, and the last), so disk use stays bounded;
- ``history.json``: per-epoch losses and validation metrics.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from . import atomic
from .distributed import mean_over_ranks
from .inference import pad_to_multiple
from .losses import discriminator_loss, generator_loss
from .metrics import psnr_torch, ssim_torch
from .models import build_discriminator, build_generator, save_generator
from .params import Params, TrainParams, to_dict
from .prepare import load_split

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "deblurflow-checkpoint/1"
SELECTABLE = {"val_l1": min, "val_psnr": max, "val_ssim": max}
# Keys that may change between a killed run and its resume without changing what is learned.
RESUMABLE_CHANGES = ("epochs", "log_every", "compile", "val_max_images")


class CheckpointError(RuntimeError):
    """A checkpoint is unreadable or belongs to a different configuration."""


# --- device and precision, decided once ------------------------------------------------------


@dataclass(frozen=True)
class Runtime:
    """Where and how training runs: device, autocast dtype, memory format, process group."""

    device: torch.device
    amp_dtype: torch.dtype | None  # None = plain fp32
    channels_last: bool
    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def describe(self) -> str:
        prec = "fp32" if self.amp_dtype is None else str(self.amp_dtype).removeprefix("torch.")
        name = torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else "CPU"
        return f"{self.device} ({name}), {prec}, world size {self.world_size}"


def pick_runtime(train: TrainParams, rank: int = 0, world_size: int = 1) -> Runtime:
    """CUDA with bf16 autocast and channels_last when available, else CPU fp32."""
    want = train.device
    if want == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("train.device is 'cuda' but no CUDA device is available")
    use_cuda = want == "cuda" or (want == "auto" and torch.cuda.is_available())
    if use_cuda:
        local = int(os.environ.get("LOCAL_RANK", 0))
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    else:
        device = torch.device("cpu")
    if train.precision == "bf16" or (train.precision == "auto" and use_cuda):
        amp = torch.bfloat16
    else:
        amp = None
    return Runtime(device, amp, channels_last=use_cuda, rank=rank, world_size=world_size)


# --- data: uint8 arrays on the device, crops and flips there --------------------------------


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """uint8 (B, H, W, 3) -> float (B, 3, H, W) in [-1, 1]."""
    return x.permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)


# Share of the free GPU memory the uint8 frames may take; the rest is kept for activations.
DEVICE_DATA_SHARE = 0.5


def data_home(device: torch.device, nbytes: int, free_bytes: int | None) -> torch.device:
    """Where a split's uint8 frames live: on the GPU when they take at most
    ``DEVICE_DATA_SHARE`` of its free memory, else in (pinned) host memory."""
    if device.type != "cuda" or free_bytes is None:
        return device
    return device if nbytes <= DEVICE_DATA_SHARE * free_bytes else torch.device("cpu")


class PairStore:
    """One split's blur/sharp pairs as uint8 (N, H, W, 3) tensors, on the device when they fit."""

    def __init__(self, blur: np.ndarray, sharp: np.ndarray, runtime: Runtime) -> None:
        if blur.shape != sharp.shape or blur.dtype != np.uint8 or blur.ndim != 4:
            raise ValueError(f"blur/sharp arrays disagree: {blur.shape} {sharp.shape} {blur.dtype}")
        self.device = runtime.device
        free = torch.cuda.mem_get_info(self.device)[0] if self.device.type == "cuda" else None
        home = data_home(self.device, 2 * blur.nbytes, free)
        self.on_device = home == self.device
        # Host-resident data feeding a GPU is pinned, and so is every crop before its copy,
        # so copies run asynchronously with the step.
        self.pinned = self.device.type == "cuda" and not self.on_device
        self.blur = self._load(blur, home)
        self.sharp = self._load(sharp, home)
        self.n, self.h, self.w, _ = blur.shape

    def _load(self, a: np.ndarray, home: torch.device) -> torch.Tensor:
        t = torch.from_numpy(np.array(a))  # one read of the (memory-mapped) array
        if home.type == "cuda":
            return t.to(home)
        return t.pin_memory() if self.pinned else t

    def __len__(self) -> int:
        return self.n

    def crops(
        self,
        index: torch.Tensor,
        crop: tuple[int, int],
        generator: torch.Generator,
        part: slice = slice(None),
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Random paired crops + flips of the items ``index[part]``: two (b, 3, ch, cw) in [-1, 1].

        The random positions and flips are drawn for the whole ``index`` (the global batch), so
        a rank that takes only its ``part`` gets the same crops a single process would.
        """
        ch, cw = crop
        dev = self.blur.device
        rand = torch.rand(index.numel(), 4, device=dev, generator=generator)[part]
        index = index[part]
        ys = (rand[:, 0] * (self.h - ch + 1)).long()
        xs = (rand[:, 1] * (self.w - cw + 1)).long()
        rows = ys[:, None] + torch.arange(ch, device=dev)  # (B, ch)
        cols = xs[:, None] + torch.arange(cw, device=dev)  # (B, cw)
        idx = index.to(dev)[:, None, None]

        def take(a: torch.Tensor) -> torch.Tensor:  # one gather kernel: (B, ch, cw, 3)
            return a[idx, rows[:, :, None], cols[:, None, :]]

        out = []
        for a in (self.blur, self.sharp):
            x = take(a)
            x = torch.where((rand[:, 2] < 0.5)[:, None, None, None], x.flip(2), x)  # horizontal
            x = torch.where((rand[:, 3] < 0.5)[:, None, None, None], x.flip(1), x)  # vertical
            if self.pinned:
                x = x.pin_memory()  # torch's caching host allocator: reused, copy-safe
            x = x.to(self.device, non_blocking=True)
            out.append(to_unit(x))
        return out[0], out[1]


def data_fingerprint(data_dir: Path) -> str:
    """Identifies the prepared data (its info and manifest), for safe resuming."""
    h = hashlib.sha256()
    for name in ("info.json", "manifest.csv"):
        p = data_dir / name
        h.update(p.read_bytes() if p.exists() else b"")
    return h.hexdigest()[:16]


# --- validation -------------------------------------------------------------------------------


@torch.no_grad()
def validate(
    generator: nn.Module | None,
    store: PairStore,
    runtime: Runtime,
    max_images: int | None = None,
    batch: int = 4,
) -> dict[str, float]:
    """Mean L1 (on [-1, 1]), PSNR and SSIM (on uint8-rounded RGB) over whole val frames.

    ``generator=None`` measures the blurred input itself (the do-nothing baseline).
    """
    n = min(len(store), max_images or len(store))
    was_training = generator.training if generator is not None else False
    if generator is not None:
        generator.eval()
    l1 = torch.zeros((), device=runtime.device, dtype=torch.float64)
    psnr = torch.zeros_like(l1)
    ssim = torch.zeros_like(l1)
    for start in range(0, n, batch):
        sl = slice(start, min(n, start + batch))
        blur = to_unit(store.blur[sl].to(runtime.device, non_blocking=True))  # (b, 3, H, W)
        sharp = to_unit(store.sharp[sl].to(runtime.device, non_blocking=True))
        if generator is None:
            out = blur
        else:
            x, h, w = pad_to_multiple(blur)
            if runtime.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with runtime.autocast():
                out = generator(x)
            out = out[..., :h, :w].float()
        l1 += (out - sharp).abs().mean(dim=(1, 2, 3)).sum().double()
        out255 = ((out + 1) * 127.5).round().clamp(0, 255)
        gt255 = ((sharp + 1) * 127.5).round()
        psnr += psnr_torch(gt255, out255).double().clamp(max=100.0).sum()
        ssim += ssim_torch(gt255, out255).double().sum()
    if generator is not None and was_training:
        generator.train()
    return {"val_l1": (l1 / n).item(), "val_psnr": (psnr / n).item(), "val_ssim": (ssim / n).item()}


# --- checkpoints ------------------------------------------------------------------------------


def code_fingerprint() -> str:
    """Hash of the code that decides what is learned (this loop, the losses, the models)."""
    here = Path(__file__).parent
    h = hashlib.sha256()
    for path in [here / "training.py", here / "losses.py", *sorted((here / "models").glob("*.py"))]:
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def resume_key(params: Params, fingerprint: str) -> dict[str, Any]:
    """What must be identical for a checkpoint to be resumed: params, data and code."""
    train = {k: v for k, v in to_dict(params.train).items() if k not in RESUMABLE_CHANGES}
    return {
        "seed": params.seed,
        "lambda_pix": params.lambda_pix,
        "model": to_dict(params.model),
        "train": train,
        "data": fingerprint,
        "code": code_fingerprint(),
    }


def load_resumable(ckpt_dir: Path, key: dict[str, Any], device: torch.device) -> dict | None:
    """The last complete checkpoint when it matches ``key``; None (start fresh) otherwise."""
    path = ckpt_dir / "last.pt"
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - an unreadable file is reported, then ignored
        log.warning("%s is unreadable (%s); starting training from scratch", path, exc)
        return None
    if state.get("format") != CHECKPOINT_FORMAT or state.get("key") != key:
        old = state.get("key") or {}
        diff = sorted(k for k in set(key) | set(old) if key.get(k) != old.get(k))
        log.warning(
            "%s was trained with different %s; not resuming from it (starting fresh)",
            path,
            ", ".join(diff) or "format",
        )
        return None
    return state


def clear_checkpoints(ckpt_dir: Path) -> None:
    names = ("last.pt", "history.json", "mlflow_run.json")
    for p in list(ckpt_dir.glob("epoch_*.pt")) + [ckpt_dir / n for n in names]:
        p.unlink(missing_ok=True)


def keep_epochs(history: list[dict[str, float]]) -> set[int]:
    """Epochs whose generator snapshot the select stage may need, whatever its metric."""
    keep = {history[-1]["epoch"]}
    for metric, best in SELECTABLE.items():
        keep.add(best(history, key=lambda row, m=metric: row[m])["epoch"])
    return keep


def snapshot_path(ckpt_dir: Path, epoch: int) -> Path:
    return ckpt_dir / f"epoch_{epoch:04d}.pt"


# --- the loop ---------------------------------------------------------------------------------


@dataclass
class TrainResult:
    history: list[dict[str, float]] = field(default_factory=list)
    resumed_from: int = 0
    images_per_s: float = 0.0


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module under DDP and torch.compile wrappers."""
    model = getattr(model, "module", model)
    return getattr(model, "_orig_mod", model)


def maybe_compile(model: nn.Module, enabled: bool) -> nn.Module:
    """torch.compile when asked; eager (with one warning) wherever compiling is unavailable."""
    if not enabled:
        return model
    # Compilation really happens at the first forward (e.g. no C++ compiler for inductor on
    # CPU); suppress_errors makes dynamo log that and run the model eagerly instead of failing.
    torch._dynamo.config.suppress_errors = True
    try:
        return torch.compile(model)
    except Exception as exc:  # noqa: BLE001 - fall back cleanly where compile is unavailable
        log.warning("torch.compile unavailable (%s); training uncompiled", exc)
        return model


def epoch_batches(
    n: int,
    steps: int,
    global_batch: int,
    generator: torch.Generator,
    device: torch.device | None = None,
) -> Iterator[torch.Tensor]:
    """Indices of each step's global batch: passes over fresh permutations.

    Drawn on the CPU (reproducible on any device) and moved to ``device`` once per epoch, so a
    step never copies indices from the host.
    """
    reps = math.ceil(steps * global_batch / n)
    order = torch.cat([torch.randperm(n, generator=generator) for _ in range(reps)])
    order = order.to(device) if device is not None else order
    for s in range(steps):
        yield order[s * global_batch : (s + 1) * global_batch]


def train(
    params: Params,
    data_dir: Path,
    ckpt_dir: Path,
    runtime: Runtime,
    on_log: Callable[[dict[str, float], int], None] | None = None,
    on_epoch: Callable[[list[dict[str, float]], nn.Module], None] | None = None,
    wrap: Callable[[nn.Module], nn.Module] | None = None,
    on_start: Callable[[list[dict[str, float]]], None] | None = None,
) -> TrainResult:
    """Train (or resume) and write checkpoints; returns the per-epoch history.

    ``on_log(losses, step)`` and ``on_epoch(history, generator)`` are called on the main rank
    only.
    ``wrap`` turns a model into its distributed form (DDP) when training on several ranks.
    ``on_start(history)`` (main rank) runs before the first step with the resumed history
    (empty for a fresh start).
    """
    tp = params.train
    torch.manual_seed(params.seed)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    fingerprint = data_fingerprint(data_dir)
    key = resume_key(params, fingerprint)

    train_store = PairStore(*load_split(data_dir, "train"), runtime)
    val_store = PairStore(*load_split(data_dir, "val"), runtime)
    if train_store.h < 16 or train_store.w < 16:
        raise ValueError(f"training frames of {train_store.w}x{train_store.h} are too small")
    if tp.crop is None:
        crop = (train_store.h // 4 * 4, train_store.w // 4 * 4)
    else:
        if tp.crop > min(train_store.h, train_store.w):
            raise ValueError(
                f"train.crop={tp.crop} is larger than the prepared frames "
                f"({train_store.w}x{train_store.h}); lower it or raise prepare.size"
            )
        crop = (tp.crop, tp.crop)

    gen_model = build_generator(params.model).to(runtime.device)
    disc_model = build_discriminator(params.model).to(runtime.device)
    if runtime.channels_last:
        gen_model = gen_model.to(memory_format=torch.channels_last)
        disc_model = disc_model.to(memory_format=torch.channels_last)
    # Fused Adam (CUDA and CPU): one kernel per step, no host read of the step count.
    opt_g = torch.optim.Adam(
        gen_model.parameters(), lr=tp.lr_g, betas=(tp.beta1, tp.beta2), fused=True
    )
    opt_d = torch.optim.Adam(
        disc_model.parameters(), lr=tp.lr_d, betas=(tp.beta1, tp.beta2), fused=True
    )

    result = TrainResult()
    start_epoch, step = 1, 0
    state = load_resumable(ckpt_dir, key, runtime.device)
    if state is not None and state["epoch"] >= tp.epochs:
        # DVC reruns a finished train stage only when asked to (`dvc repro -f`, lost outputs):
        # that is a request to train again, not to return the old weights.
        log.info("%s/last.pt already finished %d epochs; training again", ckpt_dir, tp.epochs)
        state = None
    if state is not None:
        gen_model.load_state_dict(state["generator"])
        disc_model.load_state_dict(state["discriminator"])
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        start_epoch, step = state["epoch"] + 1, state["step"]
        result.history = list(state["history"])
        result.resumed_from = state["epoch"]
        log.info("resuming from %s/last.pt after epoch %d", ckpt_dir, state["epoch"])
    elif runtime.is_main:
        clear_checkpoints(ckpt_dir)
    if runtime.is_main and on_start:
        on_start(result.history)

    G = maybe_compile(wrap(gen_model) if wrap else gen_model, tp.compile)
    D = maybe_compile(wrap(disc_model) if wrap else disc_model, tp.compile)
    G.train()
    D.train()

    global_batch = tp.batch_size * runtime.world_size
    steps = tp.steps_per_epoch or max(1, math.ceil(len(train_store) / global_batch))
    mine = slice(runtime.rank * tp.batch_size, (runtime.rank + 1) * tp.batch_size)
    # Validation, its input baseline and the history's metrics are rank 0's alone: every
    # rank holds the same weights, so validating on all of them would repeat the same work.
    baseline = validate(None, val_store, runtime, tp.val_max_images) if runtime.is_main else {}
    if runtime.is_main:
        log.info(
            "training on %s: %d train / %d val frames %dx%d, crop %s, %d steps/epoch, "
            "input val PSNR %.2f dB",
            runtime.describe(), len(train_store), len(val_store), train_store.w, train_store.h,
            crop, steps, baseline["val_psnr"],
        )  # fmt: skip

    for epoch in range(start_epoch, tp.epochs + 1):
        # Every rank draws the same global batch and takes its own slice, so N ranks see
        # distinct shards and together reproduce a single process with the global batch.
        order_gen = torch.Generator().manual_seed(params.seed * 100_003 + epoch)
        crop_gen = torch.Generator(device=train_store.blur.device)
        crop_gen.manual_seed(params.seed * 100_003 + epoch)
        sums = {k: torch.zeros((), device=runtime.device) for k in ("g", "d", "adv", "pix")}
        window = {k: torch.zeros((), device=runtime.device) for k in sums}
        in_window = 0  # steps summed in `window` since the last log
        t0 = time.perf_counter()
        bar = tqdm(
            epoch_batches(
                len(train_store), steps, global_batch, order_gen, train_store.blur.device
            ),
            total=steps,
            desc=f"epoch {epoch}/{tp.epochs}",
            disable=None if runtime.is_main else True,  # None: off when not a terminal
            leave=False,
        )
        for i, index in enumerate(bar, start=1):
            blur, sharp = train_store.crops(index, crop, crop_gen, mine)  # (B, 3, ch, cw) each
            if runtime.channels_last:
                blur = blur.contiguous(memory_format=torch.channels_last)
                sharp = sharp.contiguous(memory_format=torch.channels_last)

            # D step: real -> 1, fake (detached, no G gradient) -> 0.
            with runtime.autocast():
                fake = G(blur)
                d_real = D(sharp)
                d_fake = D(fake.detach())
            loss_d = discriminator_loss(d_real.float(), d_fake.float())
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()

            # G step with D frozen: fool D, stay close to the sharp frame in L1.
            disc_model.requires_grad_(False)
            with runtime.autocast():
                g_logits = D(fake)
            losses = generator_loss(
                g_logits.float(), fake.float(), sharp, tp.lambda_adv, params.lambda_pix
            )
            opt_g.zero_grad(set_to_none=True)
            losses["total"].backward()
            opt_g.step()
            disc_model.requires_grad_(True)
            step += 1

            for acc in (sums, window):
                acc["g"] += losses["total"].detach()
                acc["d"] += loss_d.detach()
                acc["adv"] += losses["adv"].detach()
                acc["pix"] += losses["pix"].detach()
            in_window += 1
            if step % tp.log_every == 0 or i == steps:
                # Every rank joins the mean, so the logged losses are the global batch's.
                mean_over_ranks(window, runtime.world_size)
                if runtime.is_main:
                    logged = {f"loss_{k}": (v / in_window).item() for k, v in window.items()}
                    bar.set_postfix(g=f"{logged['loss_g']:.3f}", d=f"{logged['loss_d']:.3f}")
                    if on_log:
                        on_log(logged, step)
                for v in window.values():
                    v.zero_()
                in_window = 0

        if runtime.device.type == "cuda":
            torch.cuda.synchronize(runtime.device)
        seconds = time.perf_counter() - t0
        mean_over_ranks(sums, runtime.world_size)
        row: dict[str, float] = {"epoch": epoch, "step": step}
        row.update({f"loss_{k}": (v / steps).item() for k, v in sums.items()})
        if runtime.is_main:
            row.update(validate(gen_model, val_store, runtime, tp.val_max_images))
            row["val_psnr_input"] = baseline["val_psnr"]
        row["seconds"] = seconds
        row["images_per_s"] = steps * global_batch / seconds
        result.history.append(row)
        if runtime.is_main:
            log.info(
                "epoch %d: loss_g %.4f loss_d %.4f | val L1 %.4f PSNR %.2f dB SSIM %.4f | "
                "%.1f img/s",
                epoch, row["loss_g"], row["loss_d"], row["val_l1"], row["val_psnr"],
                row["val_ssim"], row["images_per_s"],
            )  # fmt: skip
            write_epoch(ckpt_dir, epoch, step, key, params, gen_model, disc_model, opt_g, opt_d,
                        result.history)  # fmt: skip
            if on_epoch:
                on_epoch(result.history, gen_model)
        if runtime.world_size > 1:
            torch.distributed.barrier()
    result.images_per_s = float(np.mean([r["images_per_s"] for r in result.history]))
    return result


def write_epoch(
    ckpt_dir: Path,
    epoch: int,
    step: int,
    key: dict[str, Any],
    params: Params,
    gen_model: nn.Module,
    disc_model: nn.Module,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    history: list[dict[str, float]],
) -> None:
    """Snapshot G, rewrite last.pt and history.json atomically, prune unneeded snapshots."""
    row = history[-1]
    save_generator(
        snapshot_path(ckpt_dir, epoch),
        gen_model,
        params.model,
        epoch=epoch,
        metrics={k: float(row[k]) for k in SELECTABLE},
    )
    state = {
        "format": CHECKPOINT_FORMAT,
        "epoch": epoch,
        "step": step,
        "key": key,
        "params": to_dict(params),
        "generator": gen_model.state_dict(),
        "discriminator": disc_model.state_dict(),
        "opt_g": opt_g.state_dict(),
        "opt_d": opt_d.state_dict(),
        "history": history,
    }
    with atomic.atomic_path(ckpt_dir / "last.pt") as tmp:
        torch.save(state, tmp)
    atomic.write_json(ckpt_dir / "history.json", history)
    keep = keep_epochs(history)
    for p in ckpt_dir.glob("epoch_*.pt"):
        if int(p.stem.split("_")[1]) not in keep:
            p.unlink()


def read_history(ckpt_dir: Path) -> list[dict[str, float]]:
    path = ckpt_dir / "history.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: missing or unreadable training history ({exc})") from exc


HISTORY_COLUMNS = (
    "epoch", "step", "loss_g", "loss_d", "loss_adv", "loss_pix",
    "val_l1", "val_psnr", "val_ssim", "val_psnr_input", "seconds", "images_per_s",
)  # fmt: skip


def write_history_csv(path: Path, history: list[dict[str, float]]) -> None:
    """Per-epoch losses and val metrics as CSV, for `dvc plots`."""
    lines = [",".join(HISTORY_COLUMNS)]
    for row in history:
        lines.append(",".join(_fmt(row.get(c, "")) for c in HISTORY_COLUMNS))
    atomic.write_text(path, "\n".join(lines) + "\n")


def _fmt(v: Any) -> str:
    return str(v) if isinstance(v, int) else f"{v:.6g}" if isinstance(v, float) else str(v)
