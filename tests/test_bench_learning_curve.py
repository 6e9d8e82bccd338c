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
    _, info = load_generator(tmp_path / "m" / "tiny.pt")
    assert info["steps"] == 4 and info["model"]["generator"] == "halfres"
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
