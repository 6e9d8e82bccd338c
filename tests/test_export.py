"""ONNX export: dynamic H/W, parity with torch in onnxruntime, predict --backend onnxruntime."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
import torch

from deblurflow.cli import main
from deblurflow.export import export_onnx, onnx_runner, parity
from deblurflow.images import read_rgb, write_png
from deblurflow.models import build_generator, load_generator, save_generator
from deblurflow.params import ModelParams

pytest.importorskip("onnxruntime", reason="the onnx extra: pip install -e '.[onnx]'")
pytest.importorskip("onnxscript", reason="the onnx extra: pip install -e '.[onnx]'")


def _perturbed(generator, seed=0):
    """Random non-zero weights: the untrained generators are the identity."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in generator.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return generator.eval()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A perturbed small ResNet as best.pt, exported once by `deblurflow export` (slow-ish)."""
    params = ModelParams(generator="resnet", channels=4, res_blocks=1, d_channels=4)
    folder = tmp_path_factory.mktemp("model")
    save_generator(folder / "best.pt", _perturbed(build_generator(params)), params, epoch=1)
    with contextlib.redirect_stdout(io.StringIO()) as text:
        rc = main(["export", "-m", str(folder / "best.pt"), "-o", str(folder / "g.onnx")])
    assert rc == 0
    return folder / "best.pt", folder / "g.onnx", text.getvalue()


def test_export_states_the_difference_and_matches_at_other_sizes(exported):
    pt, onnx, text = exported
    diff = float(text.split("max abs diff ")[1].split()[0])
    assert 0 <= diff < 1e-4  # measured ~2e-6: float reassociation only
    g, _ = load_generator(pt)
    run = onnx_runner(onnx)
    for h, w in [(64, 96), (5, 7), (37, 203)]:  # dynamic H, W; odd sizes padded to 4
        assert parity(g, run, h, w) < 1e-4
    assert run(np.zeros((1, 3, 37, 53), np.float32)).shape == (1, 3, 37, 53)


@pytest.mark.slow
def test_nafnet_onnx_matches_torch(tmp_path):
    params = ModelParams(generator="nafnet", channels=4, d_channels=4)
    g = _perturbed(build_generator(params))
    assert export_onnx(g, tmp_path / "g.onnx") == 8  # 3 levels: H, W padded to 8
    run = onnx_runner(tmp_path / "g.onnx")
    for h, w in [(75, 101), (64, 96), (5, 7)]:
        assert parity(g, run, h, w) < 1e-4


def test_predict_with_onnxruntime_equals_torch(tmp_path, exported):
    pt, onnx, _ = exported
    img = np.random.default_rng(0).integers(0, 256, (45, 70, 3), dtype=np.uint8)
    write_png(tmp_path / "a.png", img)
    base = ["predict", str(tmp_path / "a.png"), "--tile", "32", "--tile-overlap", "8"]
    assert main([*base, "-m", str(pt), "-o", str(tmp_path / "t"), "--precision", "fp32"]) == 0
    assert main([*base, "-m", str(onnx), "-o", str(tmp_path / "o"), "--backend",
                 "onnxruntime"]) == 0  # fmt: skip
    torch_out = read_rgb(tmp_path / "t" / "a_deblurred.png").astype(int)
    onnx_out = read_rgb(tmp_path / "o" / "a_deblurred.png").astype(int)
    assert not np.array_equal(torch_out, img)
    assert np.abs(torch_out - onnx_out).max() <= 1  # a rounding flip at most


def test_missing_onnx_file_is_one_line(tmp_path, capsys):
    write_png(tmp_path / "a.png", np.zeros((8, 8, 3), np.uint8))
    rc = main(["predict", str(tmp_path / "a.png"), "-m", str(tmp_path / "nope.onnx"),
               "--backend", "onnxruntime"])  # fmt: skip
    assert rc == 1
    assert "nope.onnx: no such ONNX file" in capsys.readouterr().err
