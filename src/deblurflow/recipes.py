"""The seed papers as params overrides: the one place the docs, the tests and the sweep read.

Each paper is a set of ``key=value`` overrides of params.yaml (the ``dvc exp run -S`` syntax):
``PAPERS[name].model`` is the published model and training recipe, ``.gopro`` its data setting
on GoPro and ``.sample`` its scale-down to the embedded sample (320x180 frames: crops of 256 do
not fit, so crop papers use 128; a few epochs of a few steps). Where a paper is silent, the
choice is ours and says so in ``notes`` (also printed in docs/recipes.md).

    python -m deblurflow.recipes hust gopro                # prints the dvc exp run line
    python -m deblurflow.recipes --docs docs/recipes.md    # regenerates the docs' recipe block
"""

from __future__ import annotations

import copy
import sys
from dataclasses import dataclass, field
from typing import Any

from .params import Params, ParamsError, parse_params


@dataclass(frozen=True)
class Recipe:
    title: str
    model: dict[str, Any]  #: architecture, losses, optimiser, schedule, batch
    gopro: dict[str, Any]  #: frame size, crops and epochs on GoPro
    sample: dict[str, Any]  #: the scale-down on the embedded sample
    notes: str = ""  #: where the paper is silent and what we chose
    perceptual: bool = False  #: needs the ImageNet VGG weights
    extra: dict[str, Any] = field(default_factory=dict)


# Settings every recipe states, so no params.yaml demo default (NAFNet, AdamW, cosine,
# Charbonnier...) leaks into a paper row.
_COMMON = {
    "train.lambda_fft": 0.0, "train.warmup_steps": 0, "train.weight_decay": 0.0,
    "train.optimizer": "adam", "train.rotate90": False, "train.color_jitter": 0.0,
    "train.early_stop_patience": None, "select.metric": "val_l1",
}  # fmt: skip
_RESNET9 = {
    "model.generator": "resnet", "model.channels": 64, "model.res_blocks": 9,
    "model.norm": "instance", "model.upsample": "transposed3", "model.dropout": 0.0,
    "model.global_residual": True, "model.d_channels": 64, "model.d_layers": 3,
}  # fmt: skip
_NO_EXTRA_LOSSES = {"train.lambda_ssim": 0.0, "train.lambda_perceptual": 0.0}
GOPRO = {
    "data.source": "gopro", "data.archive": "/path/to/GOPRO_Large_all.zip",
    "blur.frames": "auto", "blur.gamma": 2.2, "prepare.val_sequences": 2,
    "train.steps_per_epoch": None,
}  # fmt: skip
SAMPLE = {"train.epochs": 4, "train.steps_per_epoch": 25}
_CROP_SAMPLE = {**SAMPLE, "train.crop": 128}
_WHOLE_SAMPLE = {**SAMPLE, "train.crop": None}

PAPERS: dict[str, Recipe] = {
    "hust": Recipe(
        "HUST ResNet-6 + PatchGAN",
        {
            **_COMMON,
            **_NO_EXTRA_LOSSES,
            **_RESNET9,
            "model.res_blocks": 6,
            "model.norm": "batch",
            "model.upsample": "transposed4",
            "model.global_residual": False,
            "model.d_norm": "batch",
            "train.adversarial": "bce",
            "train.lambda_adv": 1.0,
            "lambda_pix": 100.0,
            "train.pixel_loss": "l1",
            "train.lr_g": 0.0002,
            "train.lr_d": 0.0002,
            "train.beta1": 0.5,
            "train.beta2": 0.999,
            "train.schedule": "constant",
            "train.batch_size": 8,
        },
        {**GOPRO, "prepare.size": 640, "train.crop": None, "train.epochs": 80},
        _WHOLE_SAMPLE,
        "1,029 pairs in 129 steps per epoch: batch 8 (not 1).",
    ),
    "hacettepe": Recipe(
        "Hacettepe t-block",
        {
            **_COMMON,
            "model.generator": "tblock",
            "model.channels": 64,
            "model.d_channels": 64,
            "model.d_norm": "batch",
            "model.d_layers": 3,
            "train.adversarial": "bce",
            "train.lambda_adv": 0.01,
            "lambda_pix": 1.0,
            "train.pixel_loss": "mse",
            "train.lambda_ssim": 0.3,
            "train.lambda_perceptual": 0.0,
            "train.lr_g": 0.0005,
            "train.lr_d": 0.0005,
            "train.beta1": 0.9,
            "train.beta2": 0.999,
            "train.weight_decay": 0.0005,
            "train.schedule": "plateau",
            "train.plateau_metric": "val_loss",
            "train.plateau_factor": 0.5,
            "train.plateau_patience": 5,
            "train.early_stop_patience": 10,
            "train.early_stop_metric": "val_loss",
            "train.batch_size": 4,
        },
        {**GOPRO, "prepare.size": 800, "train.crop": None, "train.epochs": 100},
        _WHOLE_SAMPLE,
        "Keras Adam betas (0.9, 0.999); weight decay as Adam's L2; the wiring of the listing's "
        "layers and its 1x1 t3 reductions are ours (models/tblock.py); val_loss = validation "
        "MSE + 0.3 (1 - SSIM), without the adversarial term.",
    ),
    "hitam": Recipe(
        "HITAM ResNet + 70x70 PatchGAN, L1 + VGG19",
        {
            **_COMMON,
            **_RESNET9,
            "model.d_norm": "batch",
            "train.adversarial": "bce",
            "train.lambda_adv": 1.0,
            "lambda_pix": 100.0,
            "train.pixel_loss": "l1",
            "train.lambda_ssim": 0.0,
            "train.lambda_perceptual": 1.0,
            "train.perceptual_layer": "vgg19.conv3_3",
            "train.lr_g": 0.0002,
            "train.lr_d": 0.0002,
            "train.beta1": 0.5,
            "train.beta2": 0.999,
            "train.schedule": "constant",
            "train.batch_size": 1,
            "train.rotate90": True,
            "train.color_jitter": 0.2,
        },
        {**GOPRO, "prepare.size": 640, "train.crop": 256, "train.epochs": 100},
        _CROP_SAMPLE,
        "The paper names no block count, loss weights, optimiser, jitter strength or epochs: "
        "ours are DeblurGAN's ResNet-9 and Adam, L1 x 100 + VGG19 conv3_3 x 1, jitter 0.2, "
        "100 epochs.",
        perceptual=True,
    ),
    "hkust": Recipe(
        "HKUST ResNet-9, BatchNorm + dropout 0.5, VGG16 perceptual",
        {
            **_COMMON,
            **_RESNET9,
            "model.norm": "batch",
            "model.dropout": 0.5,
            "model.global_residual": False,
            "model.d_norm": "batch",
            "train.adversarial": "bce",
            "train.lambda_adv": 1.0,
            "lambda_pix": 0.0,
            "train.pixel_loss": "l1",
            "train.lambda_ssim": 0.0,
            "train.lambda_perceptual": 100.0,
            "train.perceptual_layer": "vgg16.block3_conv3",
            "train.lr_g": 0.005,
            "train.lr_d": 0.005,
            "train.beta1": 0.9,
            "train.beta2": 0.999,
            "train.schedule": "constant",
            "train.batch_size": 16,
        },
        {**GOPRO, "prepare.size": 640, "train.crop": 256, "train.epochs": 40},
        _CROP_SAMPLE,
        "No pixel term (lambda_pix=0); perceptual x 100 and adversarial x 1 as the Keras "
        "DeblurGAN it follows; Keras Adam betas.",
        perceptual=True,
    ),
    "deblurgan": Recipe(
        "DeblurGAN: ResNet-9, WGAN-GP critic, VGG19 conv3_3 x 100",
        {
            **_COMMON,
            **_RESNET9,
            "model.d_norm": "instance",
            "train.adversarial": "wgan_gp",
            "train.gp_weight": 10.0,
            "train.lambda_adv": 1.0,
            "lambda_pix": 0.0,
            "train.pixel_loss": "l1",
            "train.lambda_ssim": 0.0,
            "train.lambda_perceptual": 100.0,
            "train.perceptual_layer": "vgg19.conv3_3",
            "train.lr_g": 0.0001,
            "train.lr_d": 0.0001,
            "train.beta1": 0.5,
            "train.beta2": 0.999,
            "train.schedule": "linear_decay",
            "train.decay_start": 0.5,
            "train.lr_min": 0.0,
            "train.batch_size": 1,
        },
        {**GOPRO, "prepare.size": 640, "train.crop": 256, "train.epochs": 300},
        _CROP_SAMPLE,
        "One critic update per generator step (DeblurGAN: 5); InstanceNorm critic.",
        perceptual=True,
    ),
    "deblurganv2": Recipe(
        "DeblurGAN-v2 losses on ResNet-9: RaGAN-LS, 0.5 MSE + 0.006 VGG19 + 0.01 adv",
        {
            **_COMMON,
            **_RESNET9,
            "model.d_norm": "instance",
            "train.adversarial": "ragan_ls",
            "train.lambda_adv": 0.01,
            "lambda_pix": 0.5,
            "train.pixel_loss": "mse",
            "train.lambda_ssim": 0.0,
            "train.lambda_perceptual": 0.006,
            "train.perceptual_layer": "vgg19.conv3_3",
            "train.lr_g": 0.0001,
            "train.lr_d": 0.0001,
            "train.beta1": 0.9,
            "train.beta2": 0.999,
            "train.schedule": "linear_decay",
            "train.decay_start": 0.5,
            "train.lr_min": 0.001,
            "train.batch_size": 1,
        },
        {**GOPRO, "prepare.size": 640, "train.crop": 256, "train.epochs": 300},
        _CROP_SAMPLE,
        "The losses of DeblurGAN-v2 on a ResNet-9 (its FPN-Inception generator and double-scale "
        "discriminator are not built here); lr 1e-4, linear decay to 1e-7 over the second half.",
        perceptual=True,
    ),
}


def overrides(name: str, target: str = "gopro") -> dict[str, Any]:
    """The ``key: value`` overrides of paper ``name`` on ``gopro`` or the ``sample``."""
    if name not in PAPERS:
        raise KeyError(f"unknown paper {name!r}; known: {', '.join(PAPERS)}")
    recipe = PAPERS[name]
    merged = {**recipe.model, **(recipe.gopro if target == "gopro" else recipe.sample)}
    return dict(sorted(merged.items(), key=lambda kv: (_ORDER.index(kv[0].split(".")[0]), kv[0])))


_ORDER = ("model", "lambda_pix", "train", "select", "data", "blur", "prepare")


def apply(raw: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of params.yaml's mapping with dotted-key ``changes``; a key params.yaml does
    not have is an error (as ``dvc exp run -S`` of an unknown key would be)."""
    out = copy.deepcopy(raw)
    for key, value in changes.items():
        node = out
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict) or leaf not in node:
            raise ParamsError(f"params: recipe sets unknown key '{key}'")
        node[leaf] = value
    return out


def params_for(raw: dict[str, Any], name: str, target: str = "gopro") -> Params:
    return parse_params(apply(raw, overrides(name, target)))


def yaml_value(value: Any) -> str:
    """A value as ``-S key=VALUE`` writes it (YAML)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def command(name: str, target: str = "gopro", width: int | None = None) -> str:
    """The ``dvc exp run`` line of paper ``name`` on ``target``; with ``width``, broken into
    shell continuation lines of at most about that many characters (the docs' form)."""
    words = [f"dvc exp run -n {name}-{target}"]
    words += [f"-S {k}={yaml_value(v)}" for k, v in overrides(name, target).items()]
    if width is None:
        return " ".join(words)
    lines = [words[0]]
    for word in words[1:]:
        if len(lines[-1]) + 1 + len(word) > width:
            lines[-1] += " \\"
            lines.append("  " + word)
        else:
            lines[-1] += " " + word
    return "\n".join(lines)


DOCS_START = "<!-- recipes: generated by `python -m deblurflow.recipes --docs docs/recipes.md` -->"
DOCS_END = "<!-- recipes: end of the generated block -->"


def docs() -> str:
    """The per-paper sections of docs/recipes.md, between its two marker lines."""
    out = []
    for name, recipe in PAPERS.items():
        out.append(f"### {recipe.title}\n")
        if recipe.notes:
            out.append(f"Where the paper is silent or we depart: {recipe.notes}\n")
        out.append("```bash")
        out.append(command(name, "gopro", 96))
        out.append(command(name, "sample", 96))
        out.append("```\n")
    return "\n".join(out)


def write_docs(path: str) -> None:
    """Replace the generated block of the page at ``path`` (between DOCS_START and DOCS_END)."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    head, _, rest = text.partition(DOCS_START + "\n")
    if DOCS_END not in rest:
        raise SystemExit(f"{path}: no generated block (the two marker lines of recipes.py)")
    tail = rest.partition(DOCS_END)[2]
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"{head}{DOCS_START}\n\n{docs()}\n{DOCS_END}{tail}")


if __name__ == "__main__":
    if sys.argv[1:] == ["--docs"]:
        print(docs())
    elif sys.argv[1:2] == ["--docs"]:
        write_docs(sys.argv[2])
    else:
        print(command(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "gopro"))
