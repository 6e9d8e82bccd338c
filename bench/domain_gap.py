"""Where the real-photo gain is lost: the capacity, the content or the blurred frame itself.

Per real pair (at ``--real-size`` px wide), in one run:

1. **real blur**: the model on the real blurred frame, the gain the evaluate stage reports;
2. **sharp x real kernels**: the model on the pair's own sharp frame blurred by the pair's own
   kernels, estimated from the pair (``common.estimate_kernel`` on tiles of about 128 px, in the
   light the pair was averaged in: Istanbul in linear light, Flower in sRGB values, as
   ``data/real/README.md`` says). Same content, same lengths and directions of blur, but a
   clean convolution: what real blur adds beyond its kernels is gone. ``resid`` is that frame's
   PSNR against the real blurred frame (what the kernels do not explain: movers, noise, the
   camera's processing);
3. **tuned on sharp x kernels**: the model fine-tuned (``--steps`` steps from its weights) on
   those re-blurred frames, the most favourable synthetic blur there is for these photos (their
   own content, their own kernels), scored on the real blurred frames;
4. **tuned on real blur**: the same fine-tuning on the real pairs themselves: what this
   architecture can reach on them at all (it memorises two frames; a ceiling, not a result).

3 and 4 train on the pairs they score: diagnostics, never a model to ship. Training is the
pipeline's pixel step (Charbonnier, AdamW 1e-3 (0.9, 0.9), batches of 8 crops of 64x64 with
flips, bf16 where the CPU has it); scoring is fp32 on whole frames.

    .venv/bin/python bench/domain_gap.py                    # the shipped model
    .venv/bin/python bench/domain_gap.py --model models/best.pt --steps 1000
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

import common
import cv2
import numpy as np
import torch

from deblurflow.blur import blur_from_linear, srgb_to_linear_lut, to_linear
from deblurflow.metrics import psnr
from deblurflow.models import load_generator
from deblurflow.real_pairs import find_pairs, load_pair
from deblurflow.runtime import pick_runtime
from deblurflow.tiling import deblur_tiled, torch_runner
from deblurflow.training.pairs import PairStore

#: How each pair's blurred frame was averaged (data/real/README.md); other names: linear light.
GAMMAS = {"Flower": 1.0, "Istanbul": 2.2}
TILE = 128  #: kernels are estimated on tiles of about this size (a grid that covers the frame)


def reblur(sharp: np.ndarray, blurred: np.ndarray, gamma: float, tile: int = TILE) -> np.ndarray:
    """``sharp`` (uint8 RGB) blurred tile by tile by the kernels estimated from (sharp, blurred)
    in the light given by ``gamma``, encoded back as the synthesize stage encodes."""
    lut = srgb_to_linear_lut(gamma)
    s_lin, b_lin = to_linear(sharp, lut), to_linear(blurred, lut)
    s_grey, b_grey = s_lin.mean(2), b_lin.mean(2)
    h, w = s_grey.shape
    out = np.empty_like(s_lin)
    ys = np.linspace(0, h, max(1, round(h / tile)) + 1).astype(int)
    xs = np.linspace(0, w, max(1, round(w / tile)) + 1).astype(int)
    for y0, y1 in zip(ys[:-1], ys[1:]):
        for x0, x1 in zip(xs[:-1], xs[1:]):
            k = common.estimate_kernel(s_grey[y0:y1, x0:x1], b_grey[y0:y1, x0:x1])
            conv = cv2.filter2D(s_lin, -1, k[::-1, ::-1], borderType=cv2.BORDER_REFLECT)
            out[y0:y1, x0:x1] = conv[y0:y1, x0:x1]
    np.clip(out, 0.0, 1.0, out=out)  # float rounding at black pixels can dip below 0
    return blur_from_linear([out], gamma)


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=common.REPO / "models/pretrained/deblurflow.pt")
    ap.add_argument("--real", type=Path, default=common.REPO / "data/real/gopro-real")
    ap.add_argument("--real-size", type=int, default=640)
    ap.add_argument("--steps", type=int, default=2000, help="fine-tuning steps of rows 3 and 4")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    generator, _ = load_generator(args.model)
    real, synthetic = [], []
    for pair in find_pairs(args.real):
        blurred, sharp = load_pair(pair, args.real_size)
        real.append((pair.name, blurred, sharp))
        synthetic.append((pair.name, reblur(sharp, blurred, GAMMAS.get(pair.name, 2.2)), sharp))
    resid = {name: psnr(b, s) for (name, b, _), (_, s, _) in zip(real, synthetic)}
    stack = lambda rows, i: np.stack([r[i] for r in rows])  # noqa: E731
    rows = {
        "real blur": gains(generator, real),
        "sharp x real kernels": gains(generator, synthetic),
        "tuned on sharp x kernels": gains(
            fine_tune(generator, stack(synthetic, 1), stack(synthetic, 2), args.steps, args.seed),
            real,
        ),
        "tuned on real blur": gains(
            fine_tune(generator, stack(real, 1), stack(real, 2), args.steps, args.seed), real
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
    print("resid (sharp x real kernels against the real blurred frame): "
          + ", ".join(f"{n} {resid[n]:.2f} dB" for n in names))  # fmt: skip


if __name__ == "__main__":
    main()
