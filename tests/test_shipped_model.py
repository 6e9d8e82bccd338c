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


def test_init_from_the_shipped_model_with_the_width_its_card_names():
    """The docs' fine-tuning command: the repo's params with the card's architecture load the
    shipped weights; the demo's own width is refused in one line naming the key."""
    import dataclasses

    import torch

    from deblurflow.models import build_generator
    from deblurflow.params import load_params
    from deblurflow.training.loop import warm_start

    params = load_params(REPO / "params.yaml")
    shipped = str(SHIPPED / "deblurflow.pt")
    source, info = load_generator(shipped)
    card = (SHIPPED / "MODEL_CARD.md").read_text()
    width, blocks = info["model"]["channels"], info["model"]["res_blocks"]
    assert f"`model.channels: {width}` and `model.res_blocks: {blocks}`" in card
    model = dataclasses.replace(params.model, channels=width, res_blocks=blocks)
    tuned = dataclasses.replace(params, model=model)
    gen = build_generator(tuned.model)
    warm_start(gen, shipped, tuned)
    for ours, theirs in zip(gen.state_dict().values(), source.state_dict().values()):
        assert torch.equal(ours, theirs)
    if params.model.channels != width:
        with pytest.raises(
            ValueError, match=rf"channels {width} \(model: {params.model.channels}\)"
        ):
            warm_start(build_generator(params.model), shipped, params)


def test_the_docs_fine_tuning_command_names_the_shipped_architecture():
    """The init_from command in the docs sets the width and depth the shipped file has."""
    _, info = load_generator(SHIPPED / "deblurflow.pt")
    text = (REPO / "docs" / "pipeline-and-params.md").read_text()
    found = re.search(
        r"-S train\.init_from=models/pretrained/deblurflow\.pt -S model\.channels=(\d+)"
        r" -S model\.res_blocks=(\d+)",
        text,
    )
    assert found, "docs/pipeline-and-params.md lost its fine-tuning command"
    assert (int(found[1]), int(found[2])) == (
        info["model"]["channels"],
        info["model"]["res_blocks"],
    )
