"""Learning curve and generalisation gap: gain on training frames, the test split and real pairs.

One run per prepared folder (a train set), from scratch with the same seed: the generator
(halfres by default; ``--channels``/``--blocks`` for a larger one) trains with the pipeline's
pixel loss (Charbonnier), AdamW 2e-3 (0.9, 0.9; ``--lr``), 100 warm-up steps then a CONSTANT
learning rate (``--anneal N``: cosine down to 1% over the last N steps, for a model to keep),
batches of 8 random 64x64 crops (``--batch``, ``--crop``) with flips (``--rotate90``: and
90-degree turns), bf16 autocast + channels_last where the runtime picks them. At every
``--steps`` milestone it scores a moving average of the weights (over about the last tenth of
the steps, at most ~1000), like the evaluate stage (PSNR of whole frames, with the blurred
input's score and the gain):

- ``train``: the first ``--train-frames`` frames of the training split (what it learns from);
- ``test``: the sample's test split (photos no training sequence shows);
- ``real``: the real GoPro pairs at ``--real-size`` px wide.

train - test is the generalisation gap; test - real is the gap to real blur. A constant rate
makes every milestone a point of one curve (a cosine schedule ends each run differently).
Without ``--gan`` the GAN term (weight 0.01 in the default recipe) is left out; with ``--gan``
every step is the pipeline's own GAN step (``training.step.gan_step``: the discriminator, the
losses, both optimisers and the batch and crop of ``--params``, the default recipe), still at
a constant rate after the warm-up. Steps, not seconds, are the budget, so a busy machine
changes the times and not the curve.

A long run keeps its whole state (both networks, optimisers, the weights' average, the random
stream and the rows so far) in ``--save``/LABEL.state.pt at every milestone; ``--resume`` goes
on from there, so a killed run loses at most one milestone's steps and gives the same curve.

    .venv/bin/python bench/learning_curve.py --data old=PREPARED_A new=PREPARED_B \\
        --steps 500 1000 2000 4000 8000 --json curve.json --plot docs/learning_curve.png
    .venv/bin/python bench/learning_curve.py --gan --data gan=data/prepared --save models/curve \\
        --resume --steps 6000 24000 72000 144000 --json curve-gan.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
from pathlib import Path

import common
import torch
from torch.optim.swa_utils import AveragedModel

from deblurflow.atomic import atomic_path
from deblurflow.evaluation import TestSplit, evaluate, evaluate_real, load_test_split
from deblurflow.models import HalfResGenerator, load_generator, save_generator
from deblurflow.params import ModelParams, load_params
from deblurflow.prepared import load_split
from deblurflow.runtime import pick_runtime
from deblurflow.training.pairs import PairStore

LR, WARMUP, BATCH, CROP, EMA_DECAY = 2e-3, 100, 8, 64, 0.999


def _tail_average(avg: torch.Tensor, new: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    """Exponential average whose window grows with the step count n (n/10, at most 1000)."""
    rate = max(1.0 - EMA_DECAY, 1.0 / (1.0 + float(n) / 10.0))
    return avg + (new - avg) * rate


def score(generator, splits: dict[str, TestSplit], real: Path, size: int, runtime) -> dict:
    """{name: (model PSNR, input PSNR)} for the frame splits, the real pairs together and each
    real pair (``real:NAME``)."""
    out = {}
    for name, split in splits.items():
        s, _ = evaluate(generator, split, runtime, samples=0, key=name)
        base = "" if name == "test" else f"{name}_"
        out[name] = (s[f"{name}_psnr"], s[f"{base}input_psnr"])
    if real.is_dir():
        s, rows = evaluate_real(generator, [real], size, runtime)
        out["real"] = (s["real_psnr"], s["real_input_psnr"])
        for r in rows:  # each pair too: two pairs can move apart
            out[f"real:{r['frame']}"] = (r["psnr"], r["input_psnr"])
    generator.train()
    return out


def _state_path(args, label: str) -> Path | None:
    return args.save / f"{label}.state.pt" if args.save else None


def curve(label: str, data: Path, args, runtime) -> list[dict]:
    """Train one generator on ``data`` and score it at every milestone."""
    blur, sharp = load_split(data, "train")
    store = PairStore(blur, sharp, runtime)
    n = min(args.train_frames, len(blur))
    splits = {
        "train": TestSplit(blur[:n], sharp[:n], [("", "")] * n),
        "test": load_test_split(data),
    }
    torch.manual_seed(args.seed)
    model = ModelParams(generator="halfres", channels=args.channels, res_blocks=args.blocks)
    batch, crop = args.batch, args.crop
    if args.gan:  # the recipe's networks, optimisers and losses, as the train stage builds them
        params = load_params(args.params)
        params = dataclasses.replace(params, model=dataclasses.replace(params.model, **{
            k: getattr(model, k) for k in ("generator", "channels", "res_blocks")}))  # fmt: skip
        nets, losses = common.gan_nets(params, runtime)
        batch, crop = params.train.batch_size, params.train.crop
        generator, opts = nets.G, [nets.opt_g, nets.opt_d]
    else:
        generator = runtime.place(HalfResGenerator(args.channels, args.blocks))
        opts = [torch.optim.AdamW(generator.parameters(), args.lr, betas=(0.9, 0.9))]
    base_lr = [group["lr"] for opt in opts for group in opt.param_groups]
    step = 0
    if args.init is not None:  # go on from a saved run (a fresh optimiser, warmed up again)
        saved, info = load_generator(args.init)
        generator.load_state_dict(saved.state_dict())
        step = int(info.get("steps", 0))
    # What is scored and kept: a moving average of the weights over about the last tenth of
    # the steps (at most ~1000). At a constant rate the raw weights jump by tenths of a dB from
    # one milestone to the next; the average is close to what annealing would settle on.
    ema = AveragedModel(generator, avg_fn=_tail_average)
    rng = torch.Generator().manual_seed(args.seed + step)
    rows, first, spent = [], step, 0.0
    state_path = _state_path(args, label)
    if args.resume and state_path is not None and state_path.is_file():
        state = torch.load(state_path, map_location=runtime.device, weights_only=False)
        generator.load_state_dict(state["generator"])
        ema.load_state_dict(state["ema"])
        for opt, saved_opt in zip(opts, state["optimizers"], strict=True):
            opt.load_state_dict(saved_opt)
        if args.gan:
            nets.D.load_state_dict(state["discriminator"])
        rng.set_state(state["rng"])
        torch.set_rng_state(state["torch_rng"])
        step, first, rows, spent = state["step"], state["first"], state["rows"], state["seconds"]
        print(f"{label}: resumed at step {step} from {state_path}", flush=True)
    generator.train()
    t0 = time.perf_counter() - spent
    last = max(args.steps)
    for milestone in sorted(m for m in args.steps if m > step):
        while step < milestone:
            scale = min(1.0, (step - first + 1) / WARMUP)
            if step >= last - args.anneal:  # the last --anneal steps: cosine down to 1%
                share = (step - (last - args.anneal)) / args.anneal
                scale *= 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * share))
            groups = [group for opt in opts for group in opt.param_groups]
            for group, lr in zip(groups, base_lr, strict=True):
                group["lr"] = lr * scale
            if args.gan:
                common.gan_step(nets, losses, store, rng, runtime, batch, crop)
            else:
                common.pixel_step(
                    generator, opts[0], store, rng, runtime, batch, crop, rotate90=args.rotate90
                )
            ema.update_parameters(generator)
            step += 1
        scores = score(ema.module, splits, args.real, args.real_size, runtime)
        row = {"train_set": label, "steps": step, "seconds": time.perf_counter() - t0}
        for name, (psnr, inp) in scores.items():
            row[name] = {"psnr": psnr, "input": inp, "gain": psnr - inp}
        rows.append(row)
        if args.save:  # every milestone: a stopped run keeps its latest weights and state
            recipe = {} if args.gan else {"lr": args.lr, "rotate90": args.rotate90}
            for name in [f"{label}.pt"] + ([f"{label}@{step}.pt"] if args.keep else []):
                save_generator(
                    args.save / name, ema.module, model, steps=step, batch=batch, crop=crop,
                    **recipe,
                )  # fmt: skip
            state = {
                "generator": generator.state_dict(), "ema": ema.state_dict(),
                "optimizers": [opt.state_dict() for opt in opts], "rng": rng.get_state(),
                "torch_rng": torch.get_rng_state(), "step": step, "first": first,
                "rows": rows, "seconds": row["seconds"],
                "discriminator": nets.D.state_dict() if args.gan else None,
            }  # fmt: skip
            with atomic_path(state_path) as tmp:
                torch.save(state, tmp)
        if args.json:  # the rows so far, so a stopped run keeps its curve
            args.json.write_text(json.dumps(_done + rows, indent=1))
        sets = "  ".join(
            f"{k} {row[k]['psnr']:6.2f} ({row[k]['input']:5.2f}) {row[k]['gain']:+5.2f}"
            for k in ("train", "test", "real")
            if k in row
        )
        pairs = ", ".join(f"{k[5:]} {v['gain']:+.2f}" for k, v in row.items() if k[:5] == "real:")
        print(f"{label:10} {step:7d} {row['seconds']:8.0f}  {sets}  ({pairs})", flush=True)
    return rows


_done: list[dict] = []  #: rows of the train sets already finished in this run (for --json)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4.5))
    labels = list(dict.fromkeys(r["train_set"] for r in rows))
    for colour, label in zip([f"C{i}" for i in range(10)], labels):  # up to 10 train sets
        mine = sorted((r for r in rows if r["train_set"] == label), key=lambda r: r["steps"])
        for key, style, name in (
            ("train", ":", "training frames"),
            ("test", "--", "test split"),
            ("real", "-", "real GoPro pairs"),
        ):
            if key in mine[0]:
                ax.plot(
                    [r["steps"] for r in mine],
                    [r[key]["gain"] for r in mine],
                    style,
                    color=colour,
                    marker="o",
                    markersize=4,
                    label=f"{label}: {name}",
                )
    ax.set_xscale("log")
    ax.set_xlabel("training steps (crops per step: in each curve's label, else 8 of 64x64)")
    ax.set_ylabel("PSNR gain over the blurred input (dB)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the curves
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", nargs="+", default=[], help="LABEL=PREPARED_DIR per train set")
    ap.add_argument("--steps", type=int, nargs="+", default=[500, 1000, 2000, 4000])
    ap.add_argument("--channels", type=int, default=64)
    ap.add_argument("--blocks", type=int, default=4)
    ap.add_argument("--train-frames", type=int, default=20)
    ap.add_argument("--real", type=Path, default=common.REPO / "data/real/gopro-real")
    ap.add_argument("--real-size", type=int, default=640)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--anneal", type=int, default=0, help="cosine-anneal over the last N steps (0 = none)"
    )
    ap.add_argument("--init", type=Path, help="continue from this generator file (its steps)")
    ap.add_argument("--batch", type=int, default=BATCH, help="crops per step (not with --gan)")
    ap.add_argument("--crop", type=int, default=CROP, help="crop side in px (not with --gan)")
    ap.add_argument("--lr", type=float, default=LR, help="peak learning rate (not with --gan)")
    ap.add_argument(
        "--rotate90", action="store_true", help="random 90-degree rotations too (not with --gan)"
    )
    ap.add_argument("--gan", action="store_true", help="the pipeline's GAN step (see --params)")
    ap.add_argument(
        "--params",
        type=Path,
        default=common.REPO / "params.yaml",
        help="--gan: the recipe (discriminator, losses, optimisers, batch, crop)",
    )
    ap.add_argument("--resume", action="store_true",
                    help="go on from --save/LABEL.state.pt when it exists")  # fmt: skip
    ap.add_argument("--json", type=Path, help="write every row here")
    ap.add_argument("--plot", type=Path, help="draw the curves into this PNG")
    ap.add_argument(
        "--save", type=Path, help="keep each run's latest generator file here (LABEL.pt)"
    )
    ap.add_argument(
        "--keep", action="store_true", help="--save: also keep each milestone's LABEL@STEP.pt"
    )
    ap.add_argument(
        "--replot", type=Path, nargs="+", help="only draw --plot from these --json files"
    )
    args = ap.parse_args()
    if args.gan and ((args.batch, args.crop, args.lr) != (BATCH, CROP, LR) or args.rotate90):
        ap.error(
            "--batch, --crop, --lr and --rotate90 are the pixel recipe's; with --gan, --params"
            " sets them"
        )
    if args.replot:
        plot([row for f in args.replot for row in json.loads(f.read_text())], args.plot)
        return
    runtime = pick_runtime()
    print(
        f"device: {common.describe_device(runtime.device)} ({runtime.describe()}); halfres "
        f"{args.channels}x{args.blocks}{'; GAN step of ' + str(args.params) if args.gan else ''}"
        f"{'' if args.gan else f'; batches of {args.batch} crops of {args.crop}x{args.crop}'}"
        f"{'' if args.gan else f', lr {args.lr:g}' + (', rot90' if args.rotate90 else '')}"
        "; PSNR dB (input) gain per split"
    )
    rows = _done
    for item in args.data:
        label, _, folder = item.partition("=")
        rows += curve(label, Path(folder), args, runtime)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    if args.plot:
        plot(rows, args.plot)


if __name__ == "__main__":
    main()
