"""Where the real-photo gain is lost: the capacity, the content or the blurred frame itself.

Per real pair (at ``--real-size`` px wide), in one run:

1. **real blur**: the model on the real blurred frame, the gain the evaluate stage reports;
2. **sharp x real kernels**: the model on the pair's own sharp frame blurred by the pair's own
   kernels, estimated from the pair (``common.estimate_kernel`` on tiles of about 128 px, in
   whichever of sRGB values (gamma 1.0) and linear light (gamma 2.2) explains the pair better:
   ``best_gamma``). Same content, same lengths and directions of blur, but a clean convolution:
   what real blur adds beyond its kernels is gone. ``resid`` is that frame's PSNR against the
   real blurred frame (what the kernels do not explain: movers, noise, the camera's
   processing), printed for both kinds of averaging;
3. **tuned on sharp x kernels**: the model fine-tuned (``--steps`` steps from its weights) on
   those re-blurred frames, the most favourable synthetic blur there is for these photos (their
   own content, their own kernels), scored on the real blurred frames;
4. **tuned on the sample x real kernels**: the same fine-tuning on the sample's training frames
   (``--data``), each blurred by one of the real pairs' estimated kernels drawn at random: the
   real blur's kernels, the sample's content. Two controls for it: **tuned on the sample**, the
   same fine-tuning on the sample's own pairs (what more steps alone do), and **tuned on the
   sample x lines**, its frames blurred by straight lines of 3-15 px in any direction (blur of
   the real pairs' lengths that knows nothing of their kernels);
5. **tuned on real blur**: the same fine-tuning on the real pairs themselves: what this
   architecture can reach on them at all (it memorises two frames; a ceiling, not a result);
6. **adapted to each photo, told its kernels**: a model that is told the blur and adapts to the
   photo's own content, as test-time adaptation would with a perfect kernel estimate. Per pair,
   a copy of the model is fine-tuned on its own output for the blurred frame (the best sharp
   guess there is without the sharp frame), blurred by the pair's real kernels, and scored on
   that blurred frame;
7. **adapted to each photo, blind**: the same, with the kernels estimated from the model's
   output against the blurred frame instead (no sharp frame needed: what a user could run).

After the table, per pair: the gains of row 1 and row 2 on the half of the 32 px tiles that the
kernels explain best (where the real frame is its kernels' convolution), and the share of the
extra error of the real frame over the re-blurred one in the worst-explained tenth (movers).

3 and 5 train on the pairs they score, 4 and 6 on their kernels: diagnostics, never a model to
ship.
Training is the pipeline's pixel step (Charbonnier, AdamW 1e-3 (0.9, 0.9), batches of 8 crops of
64x64 with flips, bf16 where the CPU has it); scoring is fp32 on whole frames.

    .venv/bin/python bench/domain_gap.py                    # the shipped model
    .venv/bin/python bench/domain_gap.py --model models/best.pt --steps 1000
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

import common
import numpy as np
import torch

from deblurflow.blur import srgb_to_linear_lut, to_linear
from deblurflow.metrics import psnr
from deblurflow.models import load_generator
from deblurflow.prepared import load_split
from deblurflow.real_pairs import find_pairs, load_pair
from deblurflow.runtime import pick_runtime
from deblurflow.tiling import deblur_tiled, torch_runner
from deblurflow.training.pairs import PairStore

#: The averagings a pair is tried in: sRGB values (GoPro's ``blur``), linear light (``blur_gamma``)
GAMMAS = (1.0, 2.2)
TILE = 128  #: kernels are estimated on tiles of about this size (a grid that covers the frame)


def tile_kernels(
    sharp: np.ndarray, blurred: np.ndarray, gamma: float, tile: int = TILE
) -> list[tuple[slice, slice, np.ndarray]]:
    """(rows, cols, kernel) for a grid of tiles of about ``tile`` px covering the frame: each
    tile's kernel estimated from (sharp, blurred) uint8 RGB in the light given by ``gamma``."""
    lut = srgb_to_linear_lut(gamma)
    s_grey, b_grey = to_linear(sharp, lut).mean(2), to_linear(blurred, lut).mean(2)
    h, w = s_grey.shape
    ys = np.linspace(0, h, max(1, round(h / tile)) + 1).astype(int)
    xs = np.linspace(0, w, max(1, round(w / tile)) + 1).astype(int)
    out = []
    for y0, y1 in zip(ys[:-1], ys[1:]):
        for x0, x1 in zip(xs[:-1], xs[1:]):
            rows, cols = slice(y0, y1), slice(x0, x1)
            out.append((rows, cols, common.estimate_kernel(s_grey[rows, cols], b_grey[rows, cols])))
    return out


def blur_by(frame: np.ndarray, kernels: list, gamma: float) -> np.ndarray:
    """``frame`` (uint8 RGB) blurred tile by tile by ``kernels`` (``tile_kernels``' list) in the
    light given by ``gamma``, encoded back as the synthesize stage encodes."""
    out = np.empty_like(frame)
    for rows, cols, k in kernels:
        out[rows, cols] = common.convolve(frame, k, gamma)[rows, cols]
    return out


def reblur(sharp: np.ndarray, blurred: np.ndarray, gamma: float, tile: int = TILE) -> np.ndarray:
    """``sharp`` (uint8 RGB) blurred tile by tile by the kernels estimated from (sharp, blurred)
    in the light given by ``gamma``."""
    return blur_by(sharp, tile_kernels(sharp, blurred, gamma, tile), gamma)


def best_gamma(
    sharp: np.ndarray, blurred: np.ndarray
) -> tuple[float, dict[float, float], np.ndarray]:
    """The gamma of ``GAMMAS`` whose re-blur explains ``blurred`` best, each one's PSNR, and
    that best re-blurred frame."""
    frames = {g: reblur(sharp, blurred, g) for g in GAMMAS}
    resid = {g: psnr(blurred, frame) for g, frame in frames.items()}
    best = max(resid, key=resid.get)
    return best, resid, frames[best]


def fine_tune(generator, blur: np.ndarray, sharp: np.ndarray, steps: int, seed: int):
    """A copy of ``generator`` trained ``steps`` pixel steps on (blur, sharp) uint8 stacks."""
    runtime = pick_runtime()
    model = runtime.place(copy.deepcopy(generator))
    model.train()
    store = PairStore(blur, sharp, runtime)
    opt = torch.optim.AdamW(model.parameters(), 1e-3, betas=(0.9, 0.9))
    torch.manual_seed(seed)
    rng = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        common.pixel_step(model, opt, store, rng, runtime, 8, 64)
    return model.float().cpu()


def gains(generator, pairs: list[tuple[str, np.ndarray, np.ndarray]]) -> dict[str, tuple]:
    """{name: (input PSNR, model PSNR)} of ``generator`` (fp32, whole frames) on the pairs."""
    run = torch_runner(generator, "cpu")
    return {name: (psnr(s, b), psnr(s, deblur_tiled(run, b))) for name, b, s in pairs}


def adapted(generator, real, guesses: dict, gammas: dict, told: bool, steps: int, seed: int):
    """{name: (input PSNR, PSNR)} per pair of a copy of ``generator`` fine-tuned ``steps`` steps
    on its own output for the pair's blurred frame (``guesses[name]``), blurred by kernels
    estimated from (sharp, blurred) when ``told``, else from (output, blurred); scored on that
    blurred frame."""
    scores = {}
    for name, blurred, sharp in real:
        guess = guesses[name]
        kernels = tile_kernels(sharp if told else guess, blurred, gammas[name])
        model = fine_tune(generator, blur_by(guess, kernels, gammas[name])[None], guess[None],
                          steps, seed)  # fmt: skip
        scores[name] = (
            psnr(sharp, blurred),
            psnr(sharp, deblur_tiled(torch_runner(model, "cpu"), blurred)),
        )
    return scores


def tile_split(sharp, real, synthetic, out_real, out_synthetic, tile: int = 32) -> tuple:
    """(resid dB, real gain, re-blurred gain) on the half of the ``tile`` px tiles where the
    re-blurred frame is closest to the real one, and the share of the real output's extra
    squared error (over the re-blurred output's) in the tenth of the tiles where it is farthest."""
    h, w = sharp.shape[0] // tile * tile, sharp.shape[1] // tile * tile

    def mse(a, b):  # per tile
        d = (a[:h, :w].astype(np.float64) - b[:h, :w].astype(np.float64)) ** 2
        return d.mean(2).reshape(h // tile, tile, w // tile, tile).mean((1, 3)).ravel()

    order = np.argsort(mse(real, synthetic))
    best = order[: len(order) // 2]

    def gain(blurred, out):
        return 10 * np.log10(mse(blurred, sharp)[best].mean() / mse(out, sharp)[best].mean())

    extra = mse(out_real, sharp) - mse(out_synthetic, sharp)
    worst = order[-max(1, len(order) // 10) :]
    resid = 10 * np.log10(255.0**2 / mse(real, synthetic)[best].mean())
    return (
        resid,
        gain(real, out_real),
        gain(synthetic, out_synthetic),
        extra[worst].sum() / extra.sum(),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=common.REPO / "models/pretrained/deblurflow.pt")
    ap.add_argument("--real", type=Path, default=common.REPO / "data/real/gopro-real")
    ap.add_argument("--real-size", type=int, default=640)
    ap.add_argument("--data", type=Path, default=common.REPO / "data/prepared",
                    help="prepared folder whose training frames row 4 blurs")  # fmt: skip
    ap.add_argument("--steps", type=int, default=2000, help="fine-tuning steps of rows 3 and 4")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    generator, _ = load_generator(args.model)
    real, synthetic, kernels, fits, gammas = [], [], [], {}, {}
    for pair in find_pairs(args.real):
        blurred, sharp = load_pair(pair, args.real_size)
        gamma, fits[pair.name], reblurred = best_gamma(sharp, blurred)
        gammas[pair.name] = gamma
        real.append((pair.name, blurred, sharp))
        synthetic.append((pair.name, reblurred, sharp))
        kernels += [(k, gamma) for _, _, k in tile_kernels(sharp, blurred, gamma)]
    own_blur, sample = load_split(args.data, "train")
    rng = np.random.default_rng(args.seed)
    draw = rng.integers(len(kernels), size=len(sample))
    sample_blur = np.stack([common.convolve(f, *kernels[i]) for f, i in zip(sample, draw)])
    lengths, angles = rng.integers(3, 16, len(sample)), rng.uniform(0, np.pi, len(sample))
    line_blur = np.stack([common.convolve(f, common.line_kernel(int(n), a), 2.2)
                          for f, n, a in zip(sample, lengths, angles)])  # fmt: skip
    stack = lambda rows, i: np.stack([r[i] for r in rows])  # noqa: E731
    run = torch_runner(generator, "cpu")
    guesses = {name: deblur_tiled(run, b) for name, b, _ in real}  # the model's own outputs
    rows = {
        "real blur": gains(generator, real),
        "sharp x real kernels": gains(generator, synthetic),
        "tuned on sharp x kernels": gains(
            fine_tune(generator, stack(synthetic, 1), stack(synthetic, 2), args.steps, args.seed),
            real,
        ),
        "tuned on the sample": gains(
            fine_tune(generator, own_blur, sample, args.steps, args.seed), real
        ),
        "tuned on the sample x lines": gains(
            fine_tune(generator, line_blur, sample, args.steps, args.seed), real
        ),
        "tuned on the sample x real kernels": gains(
            fine_tune(generator, sample_blur, sample, args.steps, args.seed), real
        ),
        "tuned on real blur": gains(
            fine_tune(generator, stack(real, 1), stack(real, 2), args.steps, args.seed), real
        ),
        "adapted to each photo, told its kernels": adapted(
            generator, real, guesses, gammas, True, args.steps, args.seed
        ),
        "adapted to each photo, blind": adapted(
            generator, real, guesses, gammas, False, args.steps, args.seed
        ),
    }
    names = [name for name, _, _ in real]
    print(
        f"model {args.model.name}; {args.steps} fine-tuning steps; CPU {common.cpu_name()}; "
        f"torch {torch.__version__}; PSNR dB at {args.real_size} px: input -> model (gain)"
    )
    print("| row | " + " | ".join(names) + " | mean gain |")
    print("|---|" + "---|" * len(names) + "---:|")
    for label, scores in rows.items():
        cells = [f"{b:.2f} -> {m:.2f} (**{m - b:+.2f}**)" for b, m in (scores[n] for n in names)]
        mean = np.mean([scores[n][1] - scores[n][0] for n in names])
        print(f"| {label} | " + " | ".join(cells) + f" | **{mean:+.2f}** |", flush=True)
    print("resid (sharp x real kernels against the real blurred frame), averaged in sRGB values "
          "(gamma 1.0) / in linear light (gamma 2.2): "
          + ", ".join(f"{n} {fits[n][1.0]:.2f} / {fits[n][2.2]:.2f} dB"
                      for n in names))  # fmt: skip
    for (name, b, s), (_, r, _) in zip(real, synthetic):
        split = tile_split(s, b, r, guesses[name], deblur_tiled(run, r))
        print(f"{name}: on the best-explained half of the 32 px tiles (resid {split[0]:.1f} dB) "
              f"real blur {split[1]:+.2f}, sharp x real kernels {split[2]:+.2f}; the worst-"
              f"explained tenth holds {split[3]:.0%} of the real frame's extra error")  # fmt: skip


if __name__ == "__main__":
    main()
