"""Score a generator file in fp32 and write its model card and scores beside it.

Scores (PSNR/SSIM, each with the blurred input's score and the gain) on the real GoPro pairs at
640 px wide and on a prepared test split, in fp32 on the CPU so that any machine reproduces
them to the hundredth of a dB (tests/test_shipped_model.py recomputes the real-pair scores).

    .venv/bin/python bench/model_card.py models/pretrained/deblurflow.pt --data data/prepared \\
        --hours 1.2 --trained-on "the sample with depth layers" --command "bench/..."
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
from datetime import date
from pathlib import Path

import common
import torch

from deblurflow.evaluation import evaluate, evaluate_real, load_test_split
from deblurflow.models import load_generator
from deblurflow.runtime import pick_runtime


def scores(generator, data: Path | None, real: Path, size: int) -> dict[str, float]:
    runtime = pick_runtime("cpu", "fp32")
    out, _ = evaluate_real(generator, [real], size, runtime)
    if data is not None:
        test, _ = evaluate(generator, load_test_split(data), runtime, samples=0)
        out.update(test)
    keep = ("psnr", "ssim", "test_", "input_psnr", "input_ssim", "gain_psnr", "gain_ssim", "images")
    return {k: round(v, 4) for k, v in out.items() if k.removeprefix("real_").startswith(keep)}


def card(generator, info: dict, s: dict, args) -> str:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=common.REPO
    ).stdout.strip()
    model = info["model"]
    n_params = sum(p.numel() for p in generator.parameters())
    rows = [
        f"| real GoPro pairs (`data/real/gopro-real`), {args.real_size} px wide | "
        f"{s['real_input_psnr']:.2f} / {s['real_input_ssim']:.4f} | "
        f"{s['real_psnr']:.2f} / {s['real_ssim']:.4f} | **{s['real_gain_psnr']:+.2f} dB** |"
    ]
    if "test_psnr" in s:
        rows.append(
            f"| the sample's test split ({s['images']} frames, 320x180) | "
            f"{s['input_psnr']:.2f} / {s['input_ssim']:.4f} | "
            f"{s['test_psnr']:.2f} / {s['test_ssim']:.4f} | **{s['gain_psnr']:+.2f} dB** |"
        )
    return "\n".join(
        [
            "# Model card: `deblurflow.pt`",
            "",
            "The generator `deblurflow predict` uses when no `-m` is given and the workspace has",
            "no `models/best.pt`; `train.init_from: models/pretrained/deblurflow.pt` fine-tunes",
            f"from it, with `model.channels: {model['channels']}` and `model.res_blocks: "
            f"{model['res_blocks']}` (its architecture).",
            "",
            f"- **Architecture**: `{model['generator']}`, width {model['channels']}, "
            f"{model['res_blocks']} residual blocks ({n_params:,} parameters); input and output"
            " RGB in [-1, 1].",
            f"- **Trained on**: {args.trained_on}.",
            f"- **Recipe**: {args.recipe.rstrip('.')}.",
            f"- **Steps**: {info.get('steps', 'n/a')} (batches of {info.get('batch', 8)} crops of "
            f"{info.get('crop', 64)}x{info.get('crop', 64)}); "
            f"**CPU time**: {args.hours:.2f} h on {common.describe_device(torch.device('cpu'))}"
            f" ({platform.machine()}), which the other work on the machine slowed: read the "
            "steps, not the hours.",
            f"- **Commit**: {commit}; written {date.today().isoformat()} by",
            f"  `{args.command}`.",
            "",
            "## Scores (fp32, whole frames, batch 1; PSNR dB / SSIM)",
            "",
            "| pairs | blurred input | deblurred | gain |",
            "|---|---:|---:|---:|",
            *rows,
            "",
            "`scores.json` beside this card holds the same numbers; `tests/test_shipped_model.py`",
            "recomputes the real-pair scores from the file.",
            "",
        ]
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("model", type=Path)
    ap.add_argument("--data", type=Path, help="a prepared folder whose test split to score")
    ap.add_argument("--real", type=Path, default=common.REPO / "data/real/gopro-real")
    ap.add_argument("--real-size", type=int, default=640)
    ap.add_argument("--hours", type=float, required=True)
    ap.add_argument("--trained-on", required=True)
    ap.add_argument("--recipe", required=True)
    ap.add_argument("--command", required=True, help="the command that trained it")
    args = ap.parse_args()
    generator, info = load_generator(args.model)  # read once: scored, then described
    s = scores(generator, args.data, args.real, args.real_size)
    (args.model.parent / "scores.json").write_text(json.dumps(s, indent=1, sort_keys=True) + "\n")
    (args.model.parent / "MODEL_CARD.md").write_text(card(generator, info, s, args))
    print(json.dumps(s, indent=1))


if __name__ == "__main__":
    main()
