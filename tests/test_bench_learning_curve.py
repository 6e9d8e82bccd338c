"""bench/learning_curve.py end to end on a tiny prepared folder: rows, scores, saved model, plot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from deblurflow.models import load_generator

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_learning_curve_rows_model_and_plot(make_prepared, tmp_path):
    data = make_prepared(h=72, w=96)
    script = str(REPO / "bench" / "learning_curve.py")
    out = tmp_path / "rows.json"
    cmd = [sys.executable, script, "--data", f"tiny={data}", "--steps", "2", "4",
           "--train-frames", "2", "--json", str(out), "--save", str(tmp_path / "m")]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=600)
    rows = json.loads(out.read_text())
    assert [r["steps"] for r in rows] == [2, 4]
    for row in rows:
        for key in ("train", "test", "real"):  # real: the pairs shipped in data/real
            assert row[key]["gain"] == pytest.approx(row[key]["psnr"] - row[key]["input"])
    assert rows[0]["real"]["input"] == pytest.approx(25.438, abs=0.01)  # both pairs at 640 px
    # and each pair apart: their inputs average to the pairs' together
    pairs = [rows[0][f"real:{n}"]["input"] for n in ("Flower", "Istanbul")]
    assert sum(pairs) / 2 == pytest.approx(rows[0]["real"]["input"], abs=1e-6)
    _, info = load_generator(tmp_path / "m" / "tiny.pt")
    assert info["steps"] == 4 and info["model"]["generator"] == "halfres"
    assert (info["batch"], info["crop"]) == (8, 64)  # the model card reads them
    # Going on from the saved file starts at its step count.
    more = tmp_path / "more.json"
    cmd = [sys.executable, script, "--data", f"tiny={data}", "--steps", "6", "--train-frames",
           "2", "--init", str(tmp_path / "m" / "tiny.pt"), "--json", str(more)]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=600)
    assert [r["steps"] for r in json.loads(more.read_text())] == [6]
    png = tmp_path / "curve.png"
    cmd = [sys.executable, script, "--replot", str(out), str(more), "--plot", str(png)]
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=600)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_gan_curve_resumes_to_the_same_rows(make_prepared, tmp_path):
    """--gan runs the pipeline's GAN step; a run stopped after a milestone and --resume'd
    gives the rows an uninterrupted run gives."""
    data = make_prepared(h=72, w=96)
    script = [sys.executable, str(REPO / "bench" / "learning_curve.py"), "--gan",
              "--data", f"tiny={data}", "--train-frames", "2"]  # fmt: skip

    def run(*extra: str) -> list[dict]:
        out = tmp_path / "rows.json"
        subprocess.run([*script, *extra, "--json", str(out)], check=True, capture_output=True,
                       text=True, timeout=600)  # fmt: skip
        return json.loads(out.read_text())

    whole = run("--steps", "2", "4", "6")
    first = run("--steps", "2", "4", "--save", str(tmp_path / "m"))
    assert (tmp_path / "m" / "tiny.state.pt").is_file() and [r["steps"] for r in first] == [2, 4]
    resumed = run("--steps", "2", "4", "6", "--save", str(tmp_path / "m"), "--resume")
    assert [r["steps"] for r in resumed] == [2, 4, 6]
    for a, b in zip(whole, resumed, strict=True):
        for key in ("train", "test", "real"):
            assert a[key]["psnr"] == pytest.approx(b[key]["psnr"], abs=0.01)  # threads reorder sums
    assert whole[-1]["train"]["psnr"] != whole[0]["train"]["psnr"]  # the steps did train
    # Without --gan the same steps give another curve (the check can tell the two apart).
    plain = [sys.executable, str(REPO / "bench" / "learning_curve.py"), "--data", f"tiny={data}",
             "--train-frames", "2", "--steps", "6", "--json", str(tmp_path / "p.json")]  # fmt: skip
    subprocess.run(plain, check=True, capture_output=True, text=True, timeout=600)
    other = json.loads((tmp_path / "p.json").read_text())[0]
    assert other["train"]["psnr"] != pytest.approx(whole[-1]["train"]["psnr"], abs=1e-6)


@pytest.mark.slow
def test_batch_and_crop_set_the_pixel_recipe_steps(make_prepared, tmp_path):
    data = make_prepared(h=72, w=96)
    script = [sys.executable, str(REPO / "bench" / "learning_curve.py"), "--data", f"tiny={data}",
              "--train-frames", "2", "--steps", "4"]  # fmt: skip

    def run(*extra: str) -> tuple[str, dict]:
        out = tmp_path / "rows.json"
        done = subprocess.run([*script, *extra, "--json", str(out)], check=True,
                              capture_output=True, text=True, timeout=600)  # fmt: skip
        return done.stdout, json.loads(out.read_text())[0]

    said, default = run()
    assert "batches of 8 crops of 64x64" in said
    said, small = run("--batch", "2", "--crop", "32")
    assert "batches of 2 crops of 32x32" in said
    assert small["train"]["psnr"] != pytest.approx(default["train"]["psnr"], abs=1e-6)
    # The peak rate and 90-degree turns: said, recorded in the saved file, and they train.
    said, fast = run("--lr", "0.004", "--rotate90", "--save", str(tmp_path / "m"), "--keep")
    assert "lr 0.004, rot90" in said
    _, info = load_generator(tmp_path / "m" / "tiny.pt")
    assert (info["lr"], info["rotate90"], info["batch"]) == (0.004, True, 8)
    _, kept = load_generator(tmp_path / "m" / "tiny@4.pt")  # --keep: the milestone's own file
    assert kept["steps"] == 4 and kept["lr"] == 0.004
    assert fast["train"]["psnr"] != pytest.approx(default["train"]["psnr"], abs=1e-6)
    refused = subprocess.run([*script, "--gan", "--lr", "0.001"], capture_output=True, text=True,
                             timeout=600)  # fmt: skip
    assert refused.returncode == 2 and "--params sets them" in refused.stderr
    refused = subprocess.run([*script, "--gan", "--crop", "32"], capture_output=True, text=True,
                             timeout=600)  # fmt: skip
    assert refused.returncode == 2 and "--params sets them" in refused.stderr
