"""The static training-curves PNG that DVC shows as an image plot."""

from __future__ import annotations

import numpy as np
import pytest

from deblurflow.images import read_rgb
from deblurflow.plots import plot_history


def _history():
    return [
        {
            "epoch": e,
            "loss_g": 7.5 - 0.1 * e,
            "loss_pix": 0.075 - 0.001 * e,
            "loss_d": 0.6,
            "loss_adv": 0.8,
            "val_psnr": 26.8 + 0.05 * e,
            "val_psnr_input": 26.4,
            "val_ssim": 0.82,
            "val_l1": 0.054,
        }  # fmt: skip
        for e in (1, 2, 3)
    ]


def test_plot_history_writes_a_png_with_six_panels(tmp_path):
    path = tmp_path / "metrics" / "training_curves.png"
    plot_history(_history(), path)
    img = read_rgb(path)
    assert img.shape == (480, 960, 3)  # 12 x 6 in at 80 dpi
    assert img.std() > 10  # curves and text, not a blank canvas
    assert sorted(p.name for p in path.parent.iterdir()) == ["training_curves.png"]  # no temp


def test_each_loss_has_its_own_scale(tmp_path):
    from deblurflow.plots import PANELS

    keys = {title: cols for title, cols in PANELS}
    assert keys["generator loss"] == ("loss_g",)  # loss_g alone: it is ~100x loss_pix
    assert "loss_g" not in keys["GAN losses"] and "loss_pix" not in keys["GAN losses"]
    assert np.all([len(cols) >= 1 for cols in keys.values()])


@pytest.mark.slow
def test_dvc_shows_the_png_as_an_image_plot_and_no_stray_plot(tmp_path):
    """This repo's dvc.yaml, in a scratch DVC repo with a history CSV and the PNG."""
    import json
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    dvc = Path(sys.executable).with_name("dvc")
    if not dvc.exists():
        import pytest

        pytest.skip("dvc is not installed beside this Python")
    repo = Path(__file__).resolve().parents[1]
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run([dvc, "init", "-q"], cwd=tmp_path, check=True)
    shutil.copy(repo / "dvc.yaml", tmp_path)
    shutil.copy(repo / "params.yaml", tmp_path)  # dvc.yaml interpolates ${data.videos}
    history = _history()
    columns = [*history[0], "images_per_s"]
    lines = [",".join(columns)] + [",".join(str(r.get(c, 48.0)) for c in columns) for r in history]
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "train_history.csv").write_text("\n".join(lines) + "\n")
    plot_history(history, tmp_path / "metrics" / "training_curves.png")
    out = subprocess.run([dvc, "plots", "show", "--json"], cwd=tmp_path, capture_output=True,
                         text=True, check=True)  # fmt: skip
    plots = json.loads(out.stdout)["data"]
    kinds = {name: {p["type"] for p in entries} for name, entries in plots.items()}
    assert kinds == {
        "val_psnr": {"vega"}, "val_ssim": {"vega"}, "generator_loss": {"vega"},
        "pixel_loss": {"vega"}, "gan_losses": {"vega"},
        "metrics/training_curves.png": {"image"},
    }  # fmt: skip
