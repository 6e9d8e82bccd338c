"""Issue 23 item 3 and issue 21 part 4 (predict side): predict never loses a file, and without
``-m`` it takes the pipeline's model, else the shipped one, and says which."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from deblurflow.cli import main
from deblurflow.images import read_rgb, write_png
from deblurflow.models import build_generator, save_generator
from deblurflow.params import ModelParams

MODEL = ModelParams(channels=4, res_blocks=1, d_channels=4)


def generator_file(path: Path, seed: int = 0) -> Path:
    """A generator file with random weights (a non-zero last conv: not the identity)."""
    torch.manual_seed(seed)
    g = build_generator(MODEL)
    with torch.no_grad():
        for p in g.parameters():
            p.normal_(0, 0.05)
    save_generator(path, g, MODEL, epoch=seed)
    return path


@pytest.fixture
def model_file(tmp_path):
    return generator_file(tmp_path / "g.pt")


def predict(tmp_path, model_file, *inputs, extra=()):
    return main(["predict", *map(str, inputs), "-o", str(tmp_path / "out"), "-m",
                 str(model_file), *extra])  # fmt: skip


def test_an_existing_output_is_kept_unless_overwrite(tmp_path, model_file, capsys):
    photos = tmp_path / "photos"
    write_png(photos / "a.png", np.full((16, 16, 3), 10, np.uint8))
    write_png(photos / "b.png", np.full((16, 16, 3), 20, np.uint8))
    earlier = tmp_path / "out" / "a_deblurred.png"
    earlier.parent.mkdir()
    earlier.write_bytes(b"the result of an earlier run you meant to keep")

    assert predict(tmp_path, model_file, photos) == 1
    assert earlier.read_bytes() == b"the result of an earlier run you meant to keep"
    assert read_rgb(tmp_path / "out" / "b_deblurred.png").shape == (16, 16, 3)  # the rest go on
    err = capsys.readouterr().err.splitlines()
    assert f"deblurflow: {earlier} exists, kept (--overwrite replaces it)" in err
    assert err[-1] == (
        "deblurflow: 1 of 2 image(s) not written: 1 existing output(s) kept "
        "(--overwrite replaces them)"
    )

    assert predict(tmp_path, model_file, photos, extra=["--overwrite"]) == 0
    assert read_rgb(earlier).shape == (16, 16, 3)
    assert sorted(p.name for p in earlier.parent.iterdir()) == [
        "a_deblurred.png",
        "b_deblurred.png",
    ]


def test_output_names_do_not_depend_on_the_folder(tmp_path, model_file):
    import cv2

    alone, beside = tmp_path / "alone", tmp_path / "beside"
    write_png(alone / "x.png", np.full((16, 16, 3), 10, np.uint8))
    cv2.imwrite(str(tmp_path / "x.jpg"), np.full((16, 16, 3), 200, np.uint8))
    write_png(beside / "x.png", np.full((16, 16, 3), 10, np.uint8))
    write_png(beside / "z.png", np.full((16, 16, 3), 10, np.uint8))
    assert main(["predict", str(alone), "-o", str(tmp_path / "o1"), "-m", str(model_file)]) == 0
    assert main(["predict", str(beside), "-o", str(tmp_path / "o2"), "-m", str(model_file)]) == 0
    assert main(["predict", str(tmp_path / "x.jpg"), "-o", str(tmp_path / "o3"), "-m",
                 str(model_file)]) == 0  # fmt: skip
    assert [p.name for p in (tmp_path / "o1").iterdir()] == ["x_deblurred.png"]
    assert sorted(p.name for p in (tmp_path / "o2").iterdir()) == [
        "x_deblurred.png", "z_deblurred.png",
    ]  # fmt: skip
    assert [p.name for p in (tmp_path / "o3").iterdir()] == ["x_deblurred.png"]


def _can_mount() -> bool:
    if not shutil.which("unshare"):
        return False
    return subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode == 0


@pytest.mark.slow
@pytest.mark.skipif(not _can_mount(), reason="no private mount namespace here")
def test_full_disk_is_the_pipelines_line_and_leaves_no_partial_png(tmp_path, model_file):
    """The output folder is a real 64 kB tmpfs; each noise photo's PNG is about 150 kB."""
    rng = np.random.default_rng(0)
    photos = tmp_path / "photos"
    for name in ("a", "b", "c"):
        write_png(photos / f"{name}.png", rng.integers(0, 256, (200, 250, 3), dtype=np.uint8))
    disk = tmp_path / "disk"
    disk.mkdir()
    script = textwrap.dedent("""
        import sys
        from deblurflow.cli import main
        sys.exit(main(["predict", sys.argv[1], "-o", sys.argv[2], "-m", sys.argv[3]]))
    """)
    py = [sys.executable, "-c", script, str(photos), str(disk), str(model_file)]
    shell = (f"mount -t tmpfs -o size=64k none {shlex.quote(str(disk))} && "
             f"{' '.join(map(shlex.quote, py))}; rc=$?; ls -A {shlex.quote(str(disk))}; "
             "exit $rc")  # fmt: skip
    proc = subprocess.run(["unshare", "-m", "sh", "-c", shell], capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert proc.stdout == ""  # `ls -A` of the tmpfs: no truncated PNG, no 0-byte PNG, no temp
    err = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert err[0].startswith(
        f"deblurflow: error: {photos / 'a.png'}: no space left on device at "
        f"{disk / 'a_deblurred.png'}, needed ~0."
    ), err
    assert err[-1] == (
        "deblurflow: 3 of 3 image(s) not written: 1 failed, 2 not tried after the disk filled up"
    )
    assert len(err) == 2, err


@pytest.mark.slow
def test_in_a_log_file_each_message_is_its_own_line(tmp_path, model_file):
    photos = tmp_path / "photos"
    write_png(photos / "a.png", np.full((16, 16, 3), 10, np.uint8))
    (photos / "b.png").write_bytes(b"not a png")
    write_png(photos / "c.png", np.full((16, 16, 3), 20, np.uint8))
    log = tmp_path / "predict.log"
    with open(log, "w") as f:
        proc = subprocess.run(
            [sys.executable, "-m", "deblurflow.cli", "predict", str(photos), "-o",
             str(tmp_path / "out"), "-m", str(model_file)],
            stdout=f, stderr=subprocess.STDOUT, timeout=120,
        )  # fmt: skip
    assert proc.returncode == 1
    text = log.read_text()
    assert "\r" not in text  # no progress-bar redraws for the error line to run into
    lines = text.splitlines()
    assert f"deblurflow: error: {photos / 'b.png'}: cannot decode image (corrupt, truncated " \
        "or not an image)" in lines  # fmt: skip
    assert "deblurflow: 1 of 3 image(s) failed" in lines
    assert all(ln.startswith(("deblurflow: ", "deblurred 2 image(s)")) for ln in lines), lines


# --- which model without -m (issue 21 part 4) ----------------------------------------------------


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """A pipeline workspace (dvc.yaml at its root) with a photo, the cwd a folder inside it."""
    ws = tmp_path / "ws"
    (ws / "photos").mkdir(parents=True)
    (ws / "dvc.yaml").write_text("stages: {}\n")
    write_png(ws / "photos" / "a.png", np.full((16, 16, 3), 90, np.uint8))
    monkeypatch.chdir(ws / "photos")
    return ws


def test_without_m_the_shipped_model_then_the_pipelines(workspace, capsys):
    shipped = generator_file(workspace / "models" / "pretrained" / "deblurflow.pt", seed=1)
    (shipped.parent / "MODEL_CARD.md").write_text("# the shipped model\n")
    assert main(["predict", "a.png", "-o", "out1"]) == 0
    err = capsys.readouterr().err
    assert f"deblurflow: using {shipped} (the shipped model, MODEL_CARD.md beside it;" in err
    from_shipped = read_rgb(workspace / "photos" / "out1" / "a_deblurred.png")

    best = generator_file(workspace / "models" / "best.pt", seed=2)
    assert main(["predict", "a.png", "-o", "out2"]) == 0
    assert f"deblurflow: using {best} (the pipeline's model; -m {shipped} for the shipped, " \
        "longer-trained one)" in capsys.readouterr().err  # fmt: skip
    from_best = read_rgb(workspace / "photos" / "out2" / "a_deblurred.png")
    assert not np.array_equal(from_shipped, from_best)  # two models, two results

    # -m given: that model, no default looked up
    assert main(["predict", "a.png", "-o", "out3", "-m", str(shipped)]) == 0
    assert "using" not in capsys.readouterr().err
    np.testing.assert_array_equal(read_rgb(workspace / "photos" / "out3" / "a_deblurred.png"),
                                  from_shipped)  # fmt: skip


def test_without_m_and_no_shipped_model_the_line_names_only_the_pipelines(workspace, capsys):
    best = generator_file(workspace / "models" / "best.pt", seed=2)
    assert main(["predict", "a.png", "-o", "out"]) == 0
    assert f"deblurflow: using {best} (the pipeline's model)\n" in capsys.readouterr().err


def test_without_m_and_no_model_is_one_line(workspace, capsys):
    assert main(["predict", "a.png", "-o", "out"]) == 1
    err = capsys.readouterr().err
    assert err.splitlines() == [
        f"deblurflow: error: no model given (-m): neither {workspace / 'models/best.pt'} (run "
        f"`dvc repro`) nor the shipped {workspace / 'models/pretrained/deblurflow.pt'} exists; "
        "give -m PATH"
    ]
    assert not (workspace / "photos" / "out").exists()


def test_outside_a_workspace_the_packages_checkout_is_used(tmp_path, monkeypatch):
    from deblurflow import cli

    monkeypatch.chdir(tmp_path)
    expected = cli.CHECKOUT if (cli.CHECKOUT / "dvc.yaml").is_file() else None
    assert cli.workspace() == expected


def test_export_without_m_takes_the_same_model(workspace, capsys):
    pytest.importorskip("onnxruntime")
    shipped = generator_file(workspace / "models" / "pretrained" / "deblurflow.pt", seed=1)
    assert main(["export", "-o", "g.onnx"]) == 0
    assert f"deblurflow: exporting {shipped} (the shipped model" in capsys.readouterr().err
    assert (workspace / "photos" / "g.onnx").is_file()
