"""Generator / discriminator architecture, the factory, and the generator file format."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from deblurflow.models import (
    DISCRIMINATORS,
    FORMAT,
    GENERATORS,
    HalfResGenerator,
    ModelFileError,
    NAFNetGenerator,
    PatchGANDiscriminator,
    ResNetGenerator,
    build_discriminator,
    build_generator,
    load_generator,
    save_generator,
)
from deblurflow.params import ModelParams, to_dict

SMALL = ModelParams(generator="resnet", channels=8, res_blocks=2, d_channels=8)


def _randomize_last_conv(g: ResNetGenerator) -> ResNetGenerator:
    # The zero-initialised last conv makes G the identity; give it weights so outputs differ.
    with torch.no_grad():
        g.tail[-1].weight.normal_(0, 0.05)
        g.tail[-1].bias.normal_(0, 0.05)
    return g


# --- generator ---------------------------------------------------------------------------------


@pytest.mark.parametrize("global_residual", [True, False])
def test_generator_shape_and_range(global_residual):
    torch.manual_seed(0)
    g = _randomize_last_conv(ResNetGenerator(8, 2, global_residual))
    x = torch.rand(2, 3, 64, 96) * 2 - 1  # (B, C, H, W) in [-1, 1]
    y = g(x)
    assert y.shape == x.shape
    assert torch.isfinite(y).all()
    assert y.min() >= -1 and y.max() <= 1
    assert not torch.equal(y, x)


def test_untrained_global_residual_generator_is_identity():
    torch.manual_seed(0)
    g = ResNetGenerator(8, 2, global_residual=True)
    x = torch.rand(2, 3, 32, 48) * 2 - 1
    assert torch.equal(g(x), x)
    # Zero weights must not be a dead end: the last conv still gets a gradient on step 0.
    g(x).sub(torch.zeros_like(x)).abs().mean().backward()
    assert g.tail[-1].weight.grad.abs().sum() > 0


@pytest.mark.parametrize("hw", [(62, 64), (64, 66), (30, 30), (4, 8)])
def test_generator_rejects_bad_sizes(hw):
    g = ResNetGenerator(4, 1)
    with pytest.raises(ValueError, match="multiples of 4"):
        g(torch.zeros(1, 3, *hw))


def _conv(cin: int, cout: int, k: int) -> int:
    return cin * cout * k * k + cout  # weights + bias (ConvTranspose2d counts the same)


@pytest.mark.parametrize("blocks,expected", [(6, 7_837_699), (9, 11_378_179)])
def test_generator_parameter_count_by_hand(blocks, expected):
    c = 64
    hand = (
        _conv(3, c, 7)
        + _conv(c, 2 * c, 3)
        + _conv(2 * c, 4 * c, 3)
        + blocks * 2 * _conv(4 * c, 4 * c, 3)
        + _conv(4 * c, 2 * c, 3)
        + _conv(2 * c, c, 3)
        + _conv(c, 3, 7)
    )  # InstanceNorm2d is non-affine (DeblurGAN): no parameters
    assert hand == expected  # 9 blocks = DeblurGAN's published ~11.4M
    g = ResNetGenerator(c, blocks)
    assert sum(p.numel() for p in g.parameters()) == hand


# --- discriminator -----------------------------------------------------------------------------


def _out(n: int, stride: int) -> int:
    return (n + 2 * 1 - 4) // stride + 1  # 4x4 conv, padding 1


def test_patchgan_patch_map_size_and_logits():
    torch.manual_seed(0)
    d = PatchGANDiscriminator(channels=8)
    side = 256
    for stride in (2, 2, 2, 1, 1):
        side = _out(side, stride)
    assert side == 30  # 256 -> 128 -> 64 -> 32 -> 31 -> 30
    logits = d(torch.rand(2, 3, 256, 256) * 2 - 1)
    assert logits.shape == (2, 1, 30, 30)
    # Raw logits, not probabilities: both signs occur and nothing squashes them.
    assert (logits < 0).any() and (logits > 0).any()
    assert not any(isinstance(m, nn.Sigmoid) for m in d.modules())


def test_patchgan_receptive_field_is_70():
    torch.manual_seed(0)
    d = PatchGANDiscriminator(channels=4).eval()  # eval: BatchNorm does not mix the batch
    x = torch.randn(1, 3, 256, 256, requires_grad=True)
    d(x)[0, 0, 15, 15].backward()
    rows = x.grad.abs().sum(dim=(0, 1, 3)).nonzero()
    cols = x.grad.abs().sum(dim=(0, 1, 2)).nonzero()
    assert rows.max() - rows.min() + 1 == 70
    assert cols.max() - cols.min() + 1 == 70


def test_patchgan_widths_scale_with_channels():
    d = build_discriminator(dataclasses.replace(SMALL, d_channels=32))
    widths = [m.out_channels for m in d.modules() if isinstance(m, nn.Conv2d)]
    assert widths == [32, 64, 128, 256, 1]
    norms = [m for m in d.modules() if isinstance(m, nn.BatchNorm2d)]
    assert [m.num_features for m in norms] == [64, 128, 256]
    seed = PatchGANDiscriminator()
    assert [m.out_channels for m in seed.modules() if isinstance(m, nn.Conv2d)] == [
        64,
        128,
        256,
        512,
        1,
    ]


# --- factory -----------------------------------------------------------------------------------


def test_factory_builds_by_name():
    assert set(GENERATORS) == {"resnet", "nafnet", "tblock", "halfres"}
    assert set(DISCRIMINATORS) == {"patchgan"}
    g = build_generator(SMALL)
    assert isinstance(g, ResNetGenerator)
    assert g.head[1].out_channels == 8 and len(g.blocks) == 2 and g.global_residual
    assert isinstance(build_discriminator(SMALL), PatchGANDiscriminator)
    naf = build_generator(dataclasses.replace(SMALL, generator="nafnet", enc_blocks=(1, 2)))
    assert isinstance(naf, NAFNetGenerator) and naf.intro.out_channels == 8
    half = build_generator(dataclasses.replace(SMALL, generator="halfres"))
    assert isinstance(half, HalfResGenerator)
    assert half.head.out_channels == 8 and len(half.body) == 2


def test_factory_unknown_name():
    with pytest.raises(ValueError, match="unknown generator 'unet'.*resnet"):
        build_generator(ModelParams(generator="unet"))
    with pytest.raises(ValueError, match="unknown discriminator"):
        build_discriminator(ModelParams(discriminator="nope"))


# --- save / load -------------------------------------------------------------------------------


def _trained_like(model: ModelParams = SMALL) -> nn.Module:
    torch.manual_seed(1)
    return _randomize_last_conv(build_generator(model))


def test_save_load_round_trip(tmp_path):
    g = _trained_like()
    path = tmp_path / "models" / "best.pt"
    save_generator(path, g, SMALL, epoch=3, val_l1=0.125, metric="val_l1")
    assert [p.name for p in path.parent.iterdir()] == ["best.pt"]  # no temp file left behind

    loaded, info = load_generator(path)
    assert not loaded.training
    assert info == {
        "format": FORMAT,
        "model": to_dict(SMALL),
        "epoch": 3,
        "val_l1": 0.125,
        "metric": "val_l1",
    }
    x = torch.rand(1, 3, 32, 40) * 2 - 1
    with torch.no_grad():
        assert torch.equal(loaded(x), g.eval()(x))

    raw = torch.load(path, weights_only=True)  # plain data only: safe loading works
    assert raw["format"] == FORMAT and raw["model"]["channels"] == 8


class _DDPLike(nn.Module):
    """Stand-in for DistributedDataParallel (needs a process group): keys get 'module.'."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module


def test_wrapper_prefixes_are_stripped(tmp_path):
    g = _trained_like()
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        expected = g.eval()(x)

    compiled = torch.compile(g)  # nothing compiles until called; keys carry '_orig_mod.'
    assert all(k.startswith("_orig_mod.") for k in compiled.state_dict())
    save_generator(tmp_path / "a.pt", _DDPLike(compiled), SMALL)
    assert all(
        not k.startswith(("module.", "_orig_mod."))
        for k in torch.load(tmp_path / "a.pt", weights_only=True)["state_dict"]
    )

    # A file written by someone else's loop without stripping still loads.
    state = {f"module._orig_mod.{k}": v for k, v in g.state_dict().items()}
    torch.save({"format": FORMAT, "model": to_dict(SMALL), "state_dict": state}, tmp_path / "b.pt")
    for name in ("a.pt", "b.pt"):
        loaded, _ = load_generator(tmp_path / name)
        with torch.no_grad():
            assert torch.equal(loaded(x), expected)


def test_load_errors_name_the_path(tmp_path):
    missing = tmp_path / "missing.pt"
    with pytest.raises(ModelFileError, match="missing.pt: no such"):
        load_generator(missing)

    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a torch file at all")
    with pytest.raises(ModelFileError, match="garbage.pt: cannot read"):
        load_generator(garbage)

    good = tmp_path / "good.pt"
    save_generator(good, _trained_like(), SMALL)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:1000])
    with pytest.raises(ModelFileError, match="truncated.pt: cannot read"):
        load_generator(truncated)

    other = tmp_path / "other.pt"
    torch.save({"format": "something-else/2", "state_dict": {}}, other)
    with pytest.raises(ModelFileError, match="other.pt: not a deblurflow-generator/1"):
        load_generator(other)

    mismatch = tmp_path / "mismatch.pt"
    raw = torch.load(good, weights_only=True)
    raw["model"]["channels"] = 16
    torch.save(raw, mismatch)
    with pytest.raises(ModelFileError, match="mismatch.pt: weights do not fit"):
        load_generator(mismatch)


def test_save_refuses_values_safe_loading_cannot_read(tmp_path):
    g = _trained_like()
    with pytest.raises(TypeError, match="'where'"):
        save_generator(tmp_path / "x.pt", g, SMALL, where=tmp_path)
    with pytest.raises(TypeError, match="reserved"):
        save_generator(tmp_path / "x.pt", g, SMALL, state_dict={})
    assert not list(tmp_path.iterdir())


# --- the seed papers' options (issue 10) -------------------------------------------------------


@pytest.mark.parametrize("upsample", ["transposed3", "transposed4", "bilinear"])
@pytest.mark.parametrize("norm", ["instance", "batch", "none"])
def test_resnet_options_keep_the_shape(norm, upsample):
    torch.manual_seed(0)
    model = dataclasses.replace(SMALL, norm=norm, upsample=upsample, dropout=0.5)
    g = _randomize_last_conv(build_generator(model)).eval()
    x = torch.rand(1, 3, 16, 24) * 2 - 1
    assert g(x).shape == x.shape and torch.isfinite(g(x)).all()
    assert sum(isinstance(m, nn.Dropout) for m in g.modules()) == 2
    kinds = {nn.InstanceNorm2d: "instance", nn.BatchNorm2d: "batch"}
    found = {kinds[type(m)] for m in g.modules() if type(m) in kinds}
    assert found == ({norm} if norm != "none" else set())


def test_default_resnet_is_todays_network():
    """The defaults build the same modules as before the options existed."""
    g = build_generator(ModelParams(generator="resnet", channels=8, res_blocks=1))
    names = [type(m).__name__ for m in g.modules()]
    assert "BatchNorm2d" not in names and "Dropout" not in names and "Upsample" not in names
    ups = [m for m in g.up if isinstance(m, nn.ConvTranspose2d)]
    assert [(m.kernel_size, m.output_padding) for m in ups] == [((3, 3), (1, 1))] * 2


@pytest.mark.parametrize("norm, expected", [("batch", 2_765_633), ("instance", 2_764_737)])
def test_patchgan_norm_parameter_counts(norm, expected):
    # 4x4 convs 3-64-128-256-512-1. batch: convs before BatchNorm have no bias, BatchNorm has
    # 2 per channel: 3*64*16+64 + (64*128*16 + 256) + (128*256*16 + 512) + (256*512*16 + 1024)
    # + 512*16+1 = 3136 + 131328 + 524800 + 2098176 + 8193 = 2,765,633 (pix2pix's published
    # 2.77M). instance (non-affine): BatchNorm's 2 * (128 + 256 + 512) = 1792 parameters become
    # 128 + 256 + 512 = 896 biases: 2,765,633 - 896 = 2,764,737.
    d = PatchGANDiscriminator(64, 3, norm)
    assert sum(p.numel() for p in d.parameters()) == expected


def test_patchgan_layers_option():
    d = build_discriminator(dataclasses.replace(SMALL, d_layers=2, d_norm="none"))
    assert d(torch.zeros(1, 3, 64, 64)).shape == (1, 1, 14, 14)  # 64 -> 32 -> 16 -> 15 -> 14
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d)) for m in d.modules())


def test_tblock_has_listing_1s_253155_parameters():
    # Hacettepe (seed 002) Listing 1, term by term: l1 conv 3x3 3->32 + BN, l2 conv 3x3 32->64
    # + BN, the t2 bottleneck 1x1 64->32, t2's four 3x3 32->16, t3_reduce_l6 3x3 192->64,
    # t3_reduce_l8_l9 3x3 128->64, t3_reduce_l11 3x3 96->32, final_conv 3x3 32->3.
    listing = (
        (3 * 32 * 9 + 32) + 2 * 32  # 896 + 64 = 960
        + (32 * 64 * 9 + 64) + 2 * 64  # 18,496 + 128 = 18,624
        + (64 * 32 + 32)  # 2,080
        + 4 * (32 * 16 * 9 + 16)  # 4 x 4,624 = 18,496
        + (192 * 64 * 9 + 64)  # 110,656
        + (128 * 64 * 9 + 64)  # 73,792
        + (96 * 32 * 9 + 32)  # 27,680
        + (32 * 3 * 9 + 3)  # 867
    )  # fmt: skip
    assert listing == 960 + 18_624 + 2_080 + 18_496 + 110_656 + 73_792 + 27_680 + 867 == 253_155
    g = build_generator(ModelParams(generator="tblock", channels=64))
    assert sum(p.numel() for p in g.parameters()) == 253_155


def test_tblock_follows_listing_1s_forward_pass():
    """Forward hooks: ONE t2 module runs at l4, l7 and l10, ONE reduction at l8 and l9, and
    each site gets the tensor the listing's forward gives it."""
    from deblurflow.models import TBlockGenerator

    torch.manual_seed(0)
    g = TBlockGenerator(8).eval()
    seen: dict[str, list[torch.Tensor]] = {}

    def record(name):
        return lambda _m, inputs, out: seen.setdefault(name, []).append((inputs[0], out))

    for name in ("l1", "l2", "t2", "t3_reduce_l6", "t3_reduce_l8_l9", "t3_reduce_l11",
                 "final_conv"):  # fmt: skip
        getattr(g, name).register_forward_hook(record(name))
    x = torch.rand(2, 3, 13, 17) * 2 - 1  # any size: stride 1 throughout
    y = g(x)
    assert [len(seen[n]) for n in ("t2", "t3_reduce_l8_l9", "t3_reduce_l6", "t3_reduce_l11")] == [
        3, 2, 1, 1,
    ]  # fmt: skip
    pool = lambda t: F.max_pool2d(t, 3, stride=1, padding=1)  # noqa: E731
    (_, l1), (_, l2) = seen["l1"][0], seen["l2"][0]
    l3 = l2 + pool(l2)  # t1
    (in4, l4), (in7, l7), (in10, l10) = seen["t2"]
    torch.testing.assert_close(in4, l3)
    l5 = F.relu(torch.cat([l4, pool(l4)], 1))  # t4
    in6, l6 = seen["t3_reduce_l6"][0]
    torch.testing.assert_close(in6, torch.cat([l5, l4], 1))  # 128 + 64 = 192 at c = 64
    torch.testing.assert_close(in7, l6)
    (in8, l8), (in9, l9) = seen["t3_reduce_l8_l9"]
    torch.testing.assert_close(in8, torch.cat([l7, l3], 1))
    torch.testing.assert_close(in9, torch.cat([l8, l2], 1))
    torch.testing.assert_close(in10, l9)
    in11, l11 = seen["t3_reduce_l11"][0]
    torch.testing.assert_close(in11, torch.cat([l10, l1], 1))
    in_final, final = seen["final_conv"][0]
    torch.testing.assert_close(in_final, l11 + pool(l11))  # l12 = t1(l11)
    torch.testing.assert_close(y, (torch.tanh(final) + x).clamp(-1, 1))  # eval: image range
    assert y.shape == x.shape
    seen.clear()
    y_train = g.train()(x)  # training sees the listing's tanh + x, unclamped
    torch.testing.assert_close(y_train, torch.tanh(seen["final_conv"][0][1]) + x)


def test_tblock_round_trips_through_the_generator_file(tmp_path):
    model = ModelParams(generator="tblock", channels=8)
    g = build_generator(model).eval()
    save_generator(tmp_path / "g.pt", g, model)
    loaded, info = load_generator(tmp_path / "g.pt")
    assert info["model"]["generator"] == "tblock"
    x = torch.rand(1, 3, 12, 12) * 2 - 1
    torch.testing.assert_close(loaded(x), g.eval()(x))
