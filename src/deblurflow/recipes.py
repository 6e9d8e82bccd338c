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


# Settings every recipe states, so no params.yaml demo default (halfres, AdamW, cosine,
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
            "train.log_every": 5,
        },
        {**GOPRO, "prepare.size": 640, "train.crop": None, "train.epochs": 80},
        _WHOLE_SAMPLE,
        "batch 8 from §4's 1,029 pairs in 129 steps per epoch; the optimiser and learning rate "
        "are not given (§4): Adam 2e-4, betas (0.5, 0.999), pix2pix's; reflection padding where "
        "§3.4 pads with zeros (same parameters); random flips (our pipeline; §4 names no "
        "augmentation); the discriminator of §3.5 / slides §2.4 has four stride-2 convs, a "
        "padding-0 head and biases before BatchNorm (2,766,529 parameters), ours is pix2pix's "
        "70x70 PatchGAN (2,765,633); its Sigmoid before BCEWithLogits (§3.6) is a double "
        "sigmoid we do not copy.",
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
        "the generator is Listing 1 as printed (§3.2.1; models/tblock.py says how its "
        "contradictory layer names are read); PyTorch Adam's betas (0.9, 0.999) and weight "
        "decay as Adam's L2 (§3.3); val_loss = validation MSE + 0.3 (1 - SSIM) without the "
        "adversarial term (§3.3's 'validation generator loss' leaves it open); §3.3's manual "
        "lr/10 every 30 epochs is left out (it says early stopping came first); augmentation "
        "(§3.3): random flips, not its rotations of up to 10 degrees; Listing 2's "
        "discriminator has four stride-2 convs, a padding-0 head and biases before BatchNorm, "
        "ours is pix2pix's 70x70 PatchGAN, without Listing 2's Sigmoid (BCE with logits).",
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
            "train.schedule": "plateau",
            "train.plateau_metric": "val_loss",
            "train.plateau_factor": 0.316,
            "train.plateau_patience": 10,
            "train.batch_size": 1,
            "train.rotate90": True,
            "train.color_jitter": 0.2,
        },
        {**GOPRO, "prepare.size": 640, "train.crop": 256, "train.epochs": 100},
        _CROP_SAMPLE,
        "§III describes a ResNet generator with residual blocks and a 70x70 PatchGAN, but §V's "
        "model summary lists a plain 9-layer conv / transposed-conv network of 3,102,467 "
        "parameters at 224x224 and a discriminator with dense layers: we build §III's "
        "(DeblurGAN's ResNet-9, 11.4M), since §V's is not a ResNet; no block count, loss "
        "weights, learning rate, batch or epochs are given: ours are L1 x 100 + VGG19 conv3_3 "
        "x 1 (§III: 'content loss (L1/L2)', VGG19 perceptual), Adam 2e-4 (§IV names Adam "
        "only), batch 1, 100 epochs; §III's 'learning rate scheduling' is Keras' "
        "ReduceLROnPlateau as §VI's log reads (lr 3.16e-31: repeated x sqrt(0.1)), with Keras' "
        "patience 10; §III resizes to 256x256, ours crops 256 of the 640x360 frames; its "
        "'rotation' is our 90-degree rotations and its colour jitter ours at 0.2.",
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
        "§3 has a perceptual (VGG16 block3_conv3) and an adversarial term and no pixel term "
        "(lambda_pix=0), without weights: perceptual x 100 and adversarial x 1, as the Keras "
        "DeblurGAN it follows; Adam with Keras' betas (no optimiser named, §4.1 gives lr 0.005 "
        "constant, batch 16, 40 epochs, 256x256 crops); §4.1 crops the 1280x720 frames, ours "
        "crops the 640x360 ones; the up-sampling is not described (§4.2): 3x3 transposed "
        "convs, as many parameters as resize + 3x3 conv (11,388,675 for Table 2's 11.40M); "
        "Table 2's 6-conv, 3.10M discriminator is not given layer by layer: ours is pix2pix's "
        "70x70 PatchGAN (2.77M).",
        perceptual=True,
    ),
    "deblurgan": Recipe(
        "DeblurGAN: ResNet-9, WGAN-GP critic, VGG19 conv3_3 x 100",
        {
            **_COMMON,
            **_RESNET9,
            "model.dropout": 0.5,
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
        "Kupyn et al. 2018 (not one of the five texts): dropout 0.5 after the first conv of "
        "each residual block (its network section), switched off at inference where DeblurGAN "
        "keeps it on as pix2pix does; one critic update per generator step where its training "
        "details give 5; InstanceNorm critic.",
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
        "Kupyn et al. 2019 (not one of the five texts): the losses of DeblurGAN-v2 on a "
        "ResNet-9 (its FPN-Inception generator and double-scale "
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
