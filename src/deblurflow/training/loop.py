"""The training loop: build, restore, epochs of GAN steps, validate, checkpoint.

Loss values stay on the device and are read (``.item()``) only every ``train.log_every``
steps, so no step waits for the device.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from ..distributed import mean_over_ranks
from ..losses import GanLosses, build_losses
from ..models import ModelFileError, build_discriminator, build_generator, load_generator
from ..params import Params, TrainParams, to_dict
from ..prepared import fingerprint, load_split
from ..runtime import Runtime, maybe_compile
from ..stage import check_terminated
from .checkpoint import clear_checkpoints, write_epoch
from .pairs import DEVICE_DATA_SHARE, PairStore, epoch_batches
from .resume import load_resumable, resume_key
from .schedule import lr_factor, plateau_scale, set_lr, should_stop
from .step import LOSS_NAMES, GanPair, gan_step
from .validation import validate

log = logging.getLogger(__name__)

History = list[dict[str, float]]
OnLog = Callable[[dict[str, float], int], None]


@dataclass
class TrainResult:
    history: History = field(default_factory=list)
    resumed_from: int = 0
    images_per_s: float = 0.0


def train(
    params: Params,
    data_dir: Path,
    ckpt_dir: Path,
    runtime: Runtime,
    on_log: OnLog | None = None,
    on_epoch: Callable[[History, nn.Module], None] | None = None,
    wrap: Callable[[nn.Module], nn.Module] | None = None,
    on_start: Callable[[History], None] | None = None,
    device_share: float = DEVICE_DATA_SHARE,
) -> TrainResult:
    """Train (or resume) and write checkpoints; returns the per-epoch history.

    ``on_start(history)`` runs before the first step with the resumed history (empty for a
    fresh start), ``on_log(losses, step)`` every ``train.log_every`` steps and
    ``on_epoch(history, generator)`` after each epoch's checkpoint; all on the main rank only.
    ``wrap`` turns a model into its distributed form (DDP) when training on several ranks.
    ``device_share``: the share of free GPU memory the frames may take (0 = pinned host memory).
    """
    tp = params.train
    torch.manual_seed(params.seed)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    key = resume_key(params, fingerprint(data_dir))
    train_store = PairStore(*load_split(data_dir, "train"), runtime, device_share)
    val_store = PairStore(*load_split(data_dir, "val"), runtime, device_share)
    plan = plan_epoch(tp, train_store, runtime)
    models = build_models(params, runtime)
    losses = build_losses(params, runtime)

    result = TrainResult()
    step = restore(models, ckpt_dir, key, runtime, tp, result)
    if step == 0 and tp.init_from is not None:
        warm_start(models.gen, tp.init_from, params)
    if runtime.is_main and on_start:
        on_start(result.history)
    nets = models.as_run(wrap, tp.compile)
    epochs = Epochs(params, nets, losses, train_store, val_store, plan, runtime, on_log)
    for epoch in range(result.resumed_from + 1, tp.epochs + 1):
        # Every rank holds the same history (rank 0's metrics are broadcast), so all agree
        # on the plateau factor and on stopping.
        if should_stop(tp, result.history):
            log.info("early stop after epoch %d: %d epochs without a better %s",
                     epoch - 1, tp.early_stop_patience, tp.early_stop_metric)  # fmt: skip
            break
        row, step = epochs.run(epoch, step, models.gen, plateau_scale(tp, result.history))
        result.history.append(row)
        if runtime.is_main:
            log_epoch(row)
            write_epoch(ckpt_dir, epoch, step, key, params, models.gen, models.disc,
                        models.opt_g, models.opt_d, result.history)  # fmt: skip
            if on_epoch:
                on_epoch(result.history, models.gen)
        if runtime.world_size > 1:
            torch.distributed.barrier()
    result.images_per_s = float(np.mean([r["images_per_s"] for r in result.history]))
    return result


# --- the recipe's parts -----------------------------------------------------------------------


@dataclass(frozen=True)
class EpochPlan:
    """How an epoch is cut into steps: crop size, steps, global batch, this rank's slice."""

    crop: tuple[int, int]  # (h, w)
    steps: int
    global_batch: int
    mine: slice  # this rank's share of each global batch


def plan_epoch(tp: TrainParams, store: PairStore, runtime: Runtime) -> EpochPlan:
    if store.h < 16 or store.w < 16:
        raise ValueError(f"training frames of {store.w}x{store.h} are too small")
    if tp.crop is None:
        crop = (store.h // 4 * 4, store.w // 4 * 4)
    else:
        if tp.crop > min(store.h, store.w):
            raise ValueError(
                f"train.crop={tp.crop} is larger than the prepared frames "
                f"({store.w}x{store.h}); lower it or raise prepare.size"
            )
        crop = (tp.crop, tp.crop)
    global_batch = tp.batch_size * runtime.world_size
    steps = tp.steps_per_epoch or max(1, math.ceil(len(store) / global_batch))
    mine = slice(runtime.rank * tp.batch_size, (runtime.rank + 1) * tp.batch_size)
    return EpochPlan(crop, steps, global_batch, mine)


@dataclass
class Models:
    """The plain generator and discriminator (what checkpoints hold) and their optimizers."""

    gen: nn.Module
    disc: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer

    def as_run(self, wrap: Callable[[nn.Module], nn.Module] | None, compile: bool) -> GanPair:
        """The networks as the step runs them (DDP-wrapped, compiled), in training mode."""
        G = maybe_compile(wrap(self.gen) if wrap else self.gen, compile)
        D = maybe_compile(wrap(self.disc) if wrap else self.disc, compile)
        G.train()
        D.train()
        return GanPair(G, D, self.opt_g, self.opt_d)


OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}


def build_models(params: Params, runtime: Runtime) -> Models:
    tp = params.train
    gen = runtime.place(build_generator(params.model))
    disc = runtime.place(build_discriminator(params.model))
    # Fused Adam/AdamW (CUDA and CPU): one kernel per step, no host read of the step count.
    optimizer = OPTIMIZERS[tp.optimizer]
    kw = {"betas": (tp.beta1, tp.beta2), "weight_decay": tp.weight_decay, "fused": True}
    opt_g = optimizer(gen.parameters(), lr=tp.lr_g, **kw)
    opt_d = optimizer(disc.parameters(), lr=tp.lr_d, **kw)
    return Models(gen, disc, opt_g, opt_d)


def warm_start(gen: nn.Module, path: str, params: Params) -> None:
    """Load ``train.init_from``'s generator weights into ``gen``; the architectures must match."""
    try:
        source, info = load_generator(path)
    except ModelFileError as exc:
        raise ValueError(f"train.init_from: {exc}") from exc
    theirs, ours = info.get("model", {}), to_dict(params.model)
    if theirs != ours:
        diff = ", ".join(f"{k} {theirs.get(k)!r} (model: {v!r})" for k, v in ours.items()
                         if theirs.get(k) != v)  # fmt: skip
        raise ValueError(
            f"train.init_from: {path} is another architecture than the model params ({diff}); "
            "set model to the file's architecture or pick another file"
        )
    gen.load_state_dict(source.state_dict())
    log.info("generator initialised from %s", path)


def restore(
    models: Models,
    ckpt_dir: Path,
    key: dict,
    runtime: Runtime,
    tp: TrainParams,
    result: TrainResult,
) -> int:
    """Load the last matching checkpoint into ``models`` and ``result``; returns the step count
    to continue from (0 for a fresh start, which also clears the old checkpoints).

    A finished checkpoint of the same key (params, data, code) is adopted as it is: no epoch is
    left to train (a stopped ``dvc`` whose trainer ran to the end, then ``dvc repro`` again)."""
    state = load_resumable(ckpt_dir, key, runtime.device)
    if state is not None and state["epoch"] > tp.epochs:
        log.info("%s/last.pt has trained %d epochs, more than train.epochs=%d; training again",
                 ckpt_dir, state["epoch"], tp.epochs)  # fmt: skip
        state = None
    if state is None:
        if runtime.is_main:
            clear_checkpoints(ckpt_dir)
        return 0
    models.gen.load_state_dict(state["generator"])
    models.disc.load_state_dict(state["discriminator"])
    models.opt_g.load_state_dict(state["opt_g"])
    models.opt_d.load_state_dict(state["opt_d"])
    result.history = list(state["history"])
    result.resumed_from = state["epoch"]
    if state["epoch"] == tp.epochs or should_stop(tp, result.history):
        log.info("%s/last.pt already finished (epoch %d) with these params, data and code: "
                 "adopting it, nothing to train", ckpt_dir, state["epoch"])  # fmt: skip
    else:
        log.info("resuming from %s/last.pt after epoch %d", ckpt_dir, state["epoch"])
    return state["step"]


class Epochs:
    """One epoch at a time: GAN steps over random crops, then validation (rank 0)."""

    def __init__(
        self,
        params: Params,
        nets: GanPair,
        losses: GanLosses,
        train_store: PairStore,
        val_store: PairStore,
        plan: EpochPlan,
        runtime: Runtime,
        on_log: OnLog | None,
    ) -> None:
        self.params, self.nets, self.losses, self.plan = params, nets, losses, plan
        self.train_store, self.val_store, self.runtime, self.on_log = (
            train_store, val_store, runtime, on_log,
        )  # fmt: skip
        # Validation, its input baseline and the history's metrics are rank 0's alone: every
        # rank holds the same weights, so validating on all of them would repeat the work.
        self.baseline = self.validate(None) if runtime.is_main else {}
        if runtime.is_main:
            log.info(
                "training on %s: %d train / %d val frames %dx%d, crop %s, %d steps/epoch, "
                "input val PSNR %.2f dB",
                runtime.describe(), len(train_store), len(val_store), train_store.w,
                train_store.h, plan.crop, plan.steps, self.baseline["val_psnr"],
            )  # fmt: skip

    def validate(self, generator: nn.Module | None) -> dict[str, float]:
        content = self.losses.content
        tp = self.params.train
        return validate(generator, self.val_store, self.runtime, tp.val_max_images,
                        content=lambda out, sharp: content(out, sharp)["total"])  # fmt: skip

    def run(
        self, epoch: int, step: int, gen: nn.Module, scale: float
    ) -> tuple[dict[str, float], int]:
        """Train and validate epoch ``epoch``: (history row, step count after it). ``scale``
        multiplies the learning rates for the whole epoch (the plateau schedule's)."""
        row, seconds, step = self.steps(epoch, step, scale)
        tp, runtime = self.params.train, self.runtime
        if runtime.is_main:
            row.update(self.validate(gen))
            row["val_psnr_input"] = self.baseline["val_psnr"]
        if runtime.world_size > 1 and (tp.schedule == "plateau" or tp.early_stop_patience):
            shared = [row]  # rank 0's validation decides the plateau factor and stopping
            torch.distributed.broadcast_object_list(shared, src=0)
            row = shared[0]
        row["seconds"] = seconds
        row["images_per_s"] = self.plan.steps * self.plan.global_batch / seconds
        return row, step

    def steps(self, epoch: int, step: int, scale: float) -> tuple[dict[str, float], float, int]:
        """One epoch of GAN steps: (row with epoch, step and mean losses, seconds, step count)."""
        tp, plan, store, runtime = self.params.train, self.plan, self.train_store, self.runtime
        seed = self.params.seed * 100_003 + epoch
        # Every rank draws the same global batch and takes its own slice, so N ranks see
        # distinct shards and together reproduce a single process with the global batch.
        order_gen = torch.Generator().manual_seed(seed)
        crop_gen = torch.Generator(device=store.blur.device)
        crop_gen.manual_seed(seed)
        sums, window = LossSums(runtime), LossSums(runtime)  # the whole epoch; since the last log
        t0 = time.perf_counter()
        batches = epoch_batches(len(store), plan.steps, plan.global_batch, order_gen,
                                store.blur.device)  # fmt: skip
        bar = tqdm(
            batches,
            total=plan.steps,
            desc=f"epoch {epoch}/{tp.epochs}",
            leave=False,
            disable=None if runtime.is_main else True,
        )  # None: off when not a terminal
        for i, index in enumerate(bar, start=1):
            check_terminated()  # a SIGTERM a finalizer swallowed stops here
            blur, sharp = store.crops(  # (B, 3, ch, cw) each
                index, plan.crop, crop_gen, plan.mine, tp.rotate90, tp.color_jitter
            )
            factor = lr_factor(tp, step, tp.epochs * plan.steps) * scale
            set_lr(self.nets.opt_g, tp.lr_g * factor)
            set_lr(self.nets.opt_d, tp.lr_d * factor)
            losses = gan_step(self.nets, blur, sharp, self.losses, runtime)
            step += 1
            sums.add(losses)
            window.add(losses)
            if step % tp.log_every == 0 or i == plan.steps:
                self.log_window(window, step, bar)
        if runtime.device.type == "cuda":
            torch.cuda.synchronize(runtime.device)
        seconds = time.perf_counter() - t0
        sums.reduce()
        return {"epoch": epoch, "step": step, **sums.means(plan.steps)}, seconds, step

    def log_window(self, window: LossSums, step: int, bar: tqdm) -> None:
        window.reduce()  # every rank joins, so the logged losses are the global batch's
        if self.runtime.is_main:
            logged = window.means()
            bar.set_postfix(g=f"{logged['loss_g']:.3f}", d=f"{logged['loss_d']:.3f}")
            if self.on_log:
                self.on_log(logged, step)
        window.reset()


class LossSums:
    """Running sums of the step losses, kept on the device; read only when asked for means."""

    def __init__(self, runtime: Runtime) -> None:
        self.world_size = runtime.world_size
        self.sums = {k: torch.zeros((), device=runtime.device) for k in LOSS_NAMES}
        self.count = 0

    def add(self, losses: dict[str, torch.Tensor]) -> None:
        for k, v in self.sums.items():
            v += losses[k]
        self.count += 1

    def reduce(self) -> None:
        """Replace the sums by their means over all ranks; every rank must call."""
        mean_over_ranks(self.sums, self.world_size)

    def means(self, count: int | None = None) -> dict[str, float]:
        """``loss_*`` per step over ``count`` steps (default: those added since the reset)."""
        n = count or self.count
        return {f"loss_{k}": (v / n).item() for k, v in self.sums.items()}

    def reset(self) -> None:
        for v in self.sums.values():
            v.zero_()
        self.count = 0


def log_epoch(row: dict[str, float]) -> None:
    log.info(
        "epoch %d: loss_g %.4f loss_d %.4f | val L1 %.4f PSNR %.2f dB SSIM %.4f | %.1f img/s",
        row["epoch"], row["loss_g"], row["loss_d"], row["val_l1"], row["val_psnr"],
        row["val_ssim"], row["images_per_s"],
    )  # fmt: skip
