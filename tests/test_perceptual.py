"""VGG perceptual loss: layer names -> torchvision indices, normalisation, the offline error."""

from __future__ import annotations

import urllib.error

import pytest
import torch
import torch.nn.functional as F
from torchvision.models import vgg

from deblurflow.perceptual import PerceptualLoss, PerceptualWeightsError, layer_index


@pytest.mark.parametrize(
    "name, index",
    [
        # vgg19.features: block 1 = 0 conv 1 relu 2 conv 3 relu 4 pool; block 2 = 5..9;
        # block 3 = 10 conv3_1 11 relu 12 conv3_2 13 relu 14 conv3_3 (DeblurGAN's 14) 15 relu.
        ("vgg19.conv3_3", 14),
        ("vgg19.relu3_3", 15),
        ("vgg19.conv1_1", 0),
        # block 4 starts after 5 + 5 + 9 = 19 modules: conv4_1 = 19; block 5 at 19 + 9 = 28,
        # conv5_4 = 28 + 6 = 34.
        ("vgg19.conv4_1", 19),
        ("vgg19.conv5_4", 34),
        # vgg16 block 3 has 3 convs: 10, 12, 14; Keras block3_conv3 includes its ReLU -> 15.
        ("vgg16.block3_conv3", 15),
        ("vgg16.conv5_3", 28),
    ],
)
def test_layer_index_by_hand(name, index):
    assert layer_index(name) == index
    arch, layer = name.split(".")
    features = vgg.make_layers(vgg.cfgs[{"vgg16": "D", "vgg19": "E"}[arch]])
    want = torch.nn.Conv2d if layer.startswith("conv") else torch.nn.ReLU
    assert isinstance(features[index], want)


@pytest.mark.parametrize("name", ["vgg16.conv3_4", "vgg19.conv6_1", "vgg11.conv1_1", "conv3_3"])
def test_unknown_layers_are_refused(name):
    with pytest.raises(ValueError):
        layer_index(name)


def test_perceptual_loss_by_hand_on_a_random_vgg():
    torch.manual_seed(0)
    loss = PerceptualLoss("vgg16.block2_conv1", pretrained=False)
    assert not any(p.requires_grad for p in loss.parameters())
    # [-1, 1] -> [0, 1] -> ImageNet normalisation: 0 (grey 0.5) -> (0.5 - mean) / std.
    grey = loss.normalize(torch.zeros(1, 3, 1, 1)).flatten()
    want = [(0.5 - m) / s for m, s in zip((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))]
    assert grey.tolist() == pytest.approx(want, rel=1e-6)
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    y = torch.rand(2, 3, 16, 16) * 2 - 1
    assert loss(x, x).item() == 0.0
    feats = loss.features  # conv1_1, relu, conv1_2, relu, pool, conv2_1, relu: 7 modules
    assert len(feats) == 7
    want = F.mse_loss(feats(loss.normalize(x)), feats(loss.normalize(y)))
    xg = x.clone().requires_grad_(True)
    got = loss(xg, y)
    assert got.item() == pytest.approx(want.item(), rel=1e-6) and got.item() > 0
    got.backward()
    assert xg.grad.abs().sum() > 0


def _offline(monkeypatch):
    """No internet: any download attempt fails as urllib fails without a network."""

    def offline(url, *args, **kwargs):
        raise urllib.error.URLError(f"no network for {url}")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)


# torchvision's file names for the IMAGENET1K_V1 weights (its VGG16_Weights / VGG19_Weights).
FILES = {"vgg19.conv3_3": "vgg19-dcbb9e9d.pth", "vgg16.block3_conv3": "vgg16-397923af.pth"}


@pytest.mark.parametrize("layer", sorted(FILES))
def test_weights_placed_in_torchs_cache_are_used_offline(monkeypatch, tmp_path, layer):
    """The VGG papers on a machine without internet: the file put under $TORCH_HOME, with
    torchvision's name, is what the loss uses (here a random state dict of the layers kept)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    _offline(monkeypatch)
    arch = layer.split(".")[0]
    torch.manual_seed(1)
    cfg = vgg.cfgs[{"vgg16": "D", "vgg19": "E"}[arch]]
    placed = vgg.make_layers(cfg)[: layer_index(layer) + 1].state_dict()
    path = tmp_path / "hub" / "checkpoints" / FILES[layer]
    path.parent.mkdir(parents=True)
    torch.save({f"features.{k}": v for k, v in placed.items()}, path)

    loss = PerceptualLoss(layer)
    got = loss.features.state_dict()
    assert sorted(got) == sorted(placed) and len(got) == 14  # 7 convs up to block 3's third
    for key, value in placed.items():
        assert torch.equal(got[key], value), key


def test_without_the_file_and_offline_the_error_says_which_file_where(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    _offline(monkeypatch)
    with pytest.raises(PerceptualWeightsError) as err:
        PerceptualLoss("vgg19.conv3_3")
    msg = str(err.value)
    where = tmp_path / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth"
    assert f"not at {where} and could not be downloaded" in msg
    assert f"to {where}, or download https://download.pytorch.org/models/vgg19-dcbb9e9d.pth" in msg
    assert "weights='IMAGENET1K_V1'" in msg and "lambda_perceptual=0" in msg
    assert "\n" not in msg


def test_a_wrong_or_truncated_file_in_the_cache_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    _offline(monkeypatch)
    path = tmp_path / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth"
    path.parent.mkdir(parents=True)
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, path)
    with pytest.raises(PerceptualWeightsError, match="lacks the vgg19 features features.0.bias"):
        PerceptualLoss("vgg19.conv3_3")
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(PerceptualWeightsError, match=f"weights at {path} \\(corrupt or truncated"):
        PerceptualLoss("vgg19.conv3_3")
