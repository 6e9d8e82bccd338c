"""Average the weights of generator files of one architecture and score the average in fp32.

    .venv/bin/python bench/weight_average.py --data data/prepared \\
        "models/curve96x8/RUN@12000.pt" "models/curve96x8/RUN@16000.pt" \\
        "models/curve96x8/RUN@20000.pt"

The files are milestones of one run (``bench/learning_curve.py --keep``: stochastic weight
averaging over its constant-rate stretch, Izmailov et al. 2018) or runs of their own ("model
soups", Wortsman et al. 2022, which work only when the runs share one basin). Prints the real
GoPro pairs at 640 px and the test split of ``--data``: each file alone, then their plain mean;
PSNR dB, blurred input -> model (gain), like bench/model_card.py. ``--out`` saves the mean as a
generator file.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import common
import torch
from model_card import scores

from deblurflow.models import load_generator, save_generator
from deblurflow.params import ModelParams


def mean_generator(paths: list[Path]):
    """The first file's generator holding the plain mean of every file's weights, and its info."""
    generator, info = load_generator(paths[0])
    states = [load_generator(p)[0].state_dict() for p in paths]
    generator.load_state_dict(
        {k: torch.stack([s[k].float() for s in states]).mean(0) for k in states[0]}
    )
    return generator, info


def line(label: str, s: dict) -> str:
    real = f"{s['real_input_psnr']:.2f} -> {s['real_psnr']:.2f} ({s['real_gain_psnr']:+.2f})"
    test = (
        f"{s['input_psnr']:.2f} -> {s['test_psnr']:.2f} ({s['gain_psnr']:+.2f})"
        if "test_psnr" in s
        else ""
    )
    return f"| {label} | {real} | {test} |"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("models", type=Path, nargs="+")
    ap.add_argument("--data", type=Path, default=None, help="a prepared folder: its test split")
    ap.add_argument("--real", type=Path, default=common.REPO / "data/real/gopro-real")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    print(f"CPU {common.cpu_name()}; fp32; PSNR dB, blurred input -> model (gain)")
    print("| generator | real pairs, 640 px | test split |\n|---|---|---|")
    for path in args.models:
        print(
            line(path.name, scores(load_generator(path)[0], args.data, args.real, 640)), flush=True
        )
    generator, info = mean_generator(args.models)
    print(line(f"mean of the {len(args.models)}", scores(generator, args.data, args.real, 640)))
    if args.out:
        model = ModelParams(**info["model"])
        save_generator(args.out, generator, model, averaged=[str(p) for p in args.models])


if __name__ == "__main__":
    main()
