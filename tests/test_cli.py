import numpy as np
import pytest
import torch

from deblurflow.cli import main
from deblurflow.images import read_rgb, write_png
from deblurflow.models import build_generator, save_generator
from deblurflow.params import ModelParams


@pytest.fixture
def model_file(tmp_path):
    params = ModelParams(channels=4, res_blocks=1, d_channels=4, global_residual=True)
    path = tmp_path / "best.pt"
    save_generator(path, build_generator(params), params, epoch=1)
    return path


def test_predict_writes_one_png_per_input(tmp_path, model_file, capsys):
    rng = np.random.default_rng(0)
    photos = tmp_path / "photos"
    imgs = {n: rng.integers(0, 256, (37, 53, 3), dtype=np.uint8) for n in ("a", "b")}
    for name, img in imgs.items():
        write_png(photos / f"{name}.png", img)
    rc = main(["predict", str(photos), "-o", str(tmp_path / "out"), "-m", str(model_file)])
    assert rc == 0
    for name, img in imgs.items():
        out = read_rgb(tmp_path / "out" / f"{name}_deblurred.png")
        # The untrained global-residual generator is the identity: output == input exactly.
        np.testing.assert_array_equal(out, img)
    assert "a.png ->" in capsys.readouterr().out


def test_predict_reports_a_corrupt_photo(tmp_path, model_file, capsys):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8 not really a jpeg")
    rc = main(["predict", str(bad), "-o", str(tmp_path / "out"), "-m", str(model_file)])
    assert rc == 1
    err = capsys.readouterr().err
    assert "bad.jpg" in err and "cannot decode" in err


def test_predict_reports_a_missing_model(tmp_path, capsys):
    write_png(tmp_path / "a.png", np.zeros((8, 8, 3), np.uint8))
    rc = main(["predict", str(tmp_path / "a.png"), "-m", str(tmp_path / "nope.pt")])
    assert rc == 1
    assert "nope.pt" in capsys.readouterr().err


def test_predict_bf16_stays_close_to_fp32(tmp_path, model_file):
    import torch

    from deblurflow.inference import deblur
    from deblurflow.models import load_generator

    generator, _ = load_generator(model_file)
    with torch.no_grad():  # a trained-looking generator: non-zero last conv
        for p in generator.parameters():
            p.add_(0.05 * torch.randn_like(p))
    rgb = np.random.default_rng(1).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    fp32 = deblur(generator, rgb, "cpu").astype(int)
    bf16 = deblur(generator, rgb, "cpu", torch.bfloat16).astype(int)
    assert fp32.shape == bf16.shape == (40, 60, 3)
    assert np.abs(fp32 - bf16).mean() < 3  # bf16 rounding, not a different image
    assert not np.array_equal(fp32, rgb)  # the perturbed generator is not the identity


def test_predict_precision_flag(tmp_path, model_file):
    write_png(tmp_path / "a.png", np.full((16, 16, 3), 100, np.uint8))
    out = tmp_path / "out"
    assert main(["predict", str(tmp_path / "a.png"), "-o", str(out), "-m", str(model_file),
                 "--precision", "bf16"]) == 0  # fmt: skip
    assert read_rgb(out / "a_deblurred.png").shape == (16, 16, 3)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_predict_on_cuda_without_cuda_is_one_clear_line(tmp_path, model_file, capsys):
    write_png(tmp_path / "a.png", np.zeros((8, 8, 3), np.uint8))
    rc = main(["predict", str(tmp_path / "a.png"), "-m", str(model_file), "--device", "cuda"])
    assert rc == 1
    err = capsys.readouterr().err
    assert err.startswith("deblurflow: error: device 'cuda'") and "no CUDA device" in err
