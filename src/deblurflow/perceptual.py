"""Perceptual loss: MSE between VGG features of G(blur) and sharp (Johnson et al. 2016).

Layers are named as in the papers: ``vgg19.conv3_3`` is the third conv of block 3 before its
ReLU (DeblurGAN's ``conv_3_3_layer = 14``), ``vgg19.relu3_3`` the same after its ReLU, and the
Keras name ``vgg16.block3_conv3`` (HKUST) is after the ReLU, since Keras convs carry their
activation. The network is torchvision's VGG ``features`` cut after that layer, frozen.

The ImageNet weights are torchvision's file in torch's cache (``weights_file``: e.g.
``$TORCH_HOME/hub/checkpoints/vgg19-dcbb9e9d.pth``), downloaded there on first use; a machine
without internet gets one error naming the file and where to put it.

Images arrive in [-1, 1] (this project's convention) and are mapped to [0, 1], then normalised
with the ImageNet mean and std the torchvision weights were trained with.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

# Convs per block, torchvision's VGG configurations "D" (vgg16) and "E" (vgg19).
BLOCKS = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class PerceptualWeightsError(RuntimeError):
    """The ImageNet VGG weights are not on this machine and could not be downloaded."""


def layer_index(name: str) -> int:
    """Index in torchvision's ``vgg*.features`` of the last module to keep for ``name``.

    ``features`` holds, per block, (Conv2d, ReLU) per conv and then one MaxPool2d.
    """
    m = re.fullmatch(r"(vgg16|vgg19)\.(?:(conv|relu)(\d)_(\d)|block(\d)_conv(\d))", name)
    if m is None:
        raise ValueError(f"unknown VGG layer {name!r} (e.g. vgg19.conv3_3, vgg16.block3_conv3)")
    arch, kind, b, k, kb, kk = m.groups()
    block, conv = (int(b), int(k)) if kind else (int(kb), int(kk))
    after_relu = kind != "conv"  # reluB_K and Keras blockB_convK include the activation
    convs = BLOCKS[arch]
    if not (1 <= block <= len(convs) and 1 <= conv <= convs[block - 1]):
        raise ValueError(f"{name!r}: {arch} has no conv {conv} in block {block}")
    index = sum(2 * n + 1 for n in convs[: block - 1]) + 2 * (conv - 1)
    return index + 1 if after_relu else index


def weights_file(arch: str) -> tuple[Path, str]:
    """(where torch's cache keeps ``arch``'s ImageNet weights, the URL torchvision gets them
    from): ``$TORCH_HOME/hub/checkpoints/vgg19-dcbb9e9d.pth`` (default ~/.cache/torch)."""
    import torchvision

    weights = torchvision.models.get_weight(f"{arch.upper()}_Weights.IMAGENET1K_V1")
    name = weights.url.rsplit("/", 1)[-1]
    return Path(torch.hub.get_dir()) / "checkpoints" / name, weights.url


def _vgg_features(arch: str, pretrained: bool, upto: int) -> nn.Sequential:
    """torchvision's ``vgg16/vgg19().features[: upto + 1]``, ImageNet weights or random ones.

    The weights come from torch's cache as torchvision keeps them (downloaded there on first
    use). Only the ``features.*`` tensors of the kept layers are read: the 100M-parameter
    classifier is never built, and a file holding just those tensors also works.
    """
    from torchvision.models import vgg

    layers = vgg.make_layers(vgg.cfgs[{"vgg16": "D", "vgg19": "E"}[arch]])[: upto + 1]
    if not pretrained:
        return layers
    path, url = weights_file(arch)
    how = (
        f'On a machine with internet run `python -c "import torchvision; '
        f"torchvision.models.{arch}(weights='IMAGENET1K_V1')\"` and copy {path.name} from its "
        f"torch cache (~/.cache/torch/hub/checkpoints/) to {path}, or download {url} there "
        "($TORCH_HOME moves the cache); or set train.lambda_perceptual=0"
    )
    try:
        state = torch.hub.load_state_dict_from_url(
            url, map_location="cpu", check_hash=True, weights_only=True
        )
    except Exception as exc:  # URLError, OSError, hash mismatch, unreadable file
        if path.is_file():
            raise PerceptualWeightsError(
                f"the perceptual loss cannot read torchvision's {arch} ImageNet weights at "
                f"{path} (corrupt or truncated: {exc}). Replace the file. {how}"
            ) from exc
        raise PerceptualWeightsError(
            f"the perceptual loss needs torchvision's {arch} ImageNet weights, which are not "
            f"at {path} and could not be downloaded ({exc}). {how}"
        ) from exc
    found = {k.removeprefix("features."): v for k, v in state.items()}
    wanted = layers.state_dict()
    missing = sorted(set(wanted) - set(found))
    if missing:
        raise PerceptualWeightsError(
            f"{path} lacks the {arch} features {', '.join('features.' + k for k in missing)}: "
            f"not torchvision's {arch} ImageNet weights. {how}"
        )
    layers.load_state_dict({k: found[k] for k in wanted})
    return layers


class PerceptualLoss(nn.Module):
    """MSE of frozen VGG features at ``layer`` of two (N, 3, H, W) batches in [-1, 1]."""

    def __init__(self, layer: str = "vgg19.conv3_3", pretrained: bool = True) -> None:
        super().__init__()
        features = _vgg_features(layer.split(".")[0], pretrained, layer_index(layer))
        self.features = features.eval().requires_grad_(False)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def train(self, mode: bool = True) -> PerceptualLoss:
        return super().train(False)  # frozen: always in eval mode

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """[-1, 1] -> ImageNet-normalised [0, 1]."""
        return ((x + 1) / 2 - self.mean) / self.std

    def forward(self, fake: torch.Tensor, sharp: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            target = self.features(self.normalize(sharp))
        return F.mse_loss(self.features(self.normalize(fake)), target)
