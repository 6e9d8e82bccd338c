"""The shipped model: it loads, its card's real-pair scores reproduce, predict falls back to it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from deblurflow.evaluation import evaluate_real
from deblurflow.models import load_generator
from deblurflow.runtime import pick_runtime

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "models" / "pretrained"


def test_the_shipped_model_loads_and_its_card_states_its_scores():
    generator, info = load_generator(SHIPPED / "deblurflow.pt")
    assert info["model"]["generator"] == "halfres"
    assert info["steps"] > 0
    card = (SHIPPED / "MODEL_CARD.md").read_text()
    scores = json.loads((SHIPPED / "scores.json").read_text())
    # The card's table repeats scores.json: input, output and the gain, never one alone.
    for key in ("real_input_psnr", "real_psnr"):
        assert f"{scores[key]:.2f}" in card
    assert f"**{scores['real_gain_psnr']:+.2f} dB**" in card
    assert re.search(r"\*\*Commit\*\*: [0-9a-f]{7}", card)


def test_the_real_pair_scores_reproduce_in_fp32():
    generator, _ = load_generator(SHIPPED / "deblurflow.pt")
    scores = json.loads((SHIPPED / "scores.json").read_text())
    got, _ = evaluate_real(
        generator, [REPO / "data/real/gopro-real"], 640, pick_runtime("cpu", "fp32")
    )
    assert got["real_input_psnr"] == pytest.approx(scores["real_input_psnr"], abs=1e-3)
    assert got["real_psnr"] == pytest.approx(scores["real_psnr"], abs=0.02)
    assert got["real_gain_psnr"] > 0  # it deblurs real photos, measured beside the input
