"""Issue 23 items 4 and 5: files the pipeline writes follow the user's umask, and a truncated
generator file is the same one line as any other unreadable one."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from deblurflow import atomic
from deblurflow.models import ModelFileError, build_generator, load_generator, save_generator
from deblurflow.params import ModelParams


@pytest.fixture(params=[0o022, 0o002, 0o077])
def mask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_atomic_files_and_folders_get_open_and_mkdirs_modes(tmp_path, mask):
    plain = tmp_path / "plain.txt"
    plain.write_text("x")  # what open() makes under this umask
    (tmp_path / "plain_dir").mkdir()
    assert mode(plain) == 0o666 & ~mask

    atomic.write_json(tmp_path / "history.json", {"epoch": 1})
    atomic.write_bytes(tmp_path / "last.pt", b"\0" * 10)
    with atomic.atomic_path(tmp_path / "plot.png") as tmp:
        tmp.write_bytes(b"png")
    for name in ("history.json", "last.pt", "plot.png"):
        assert mode(tmp_path / name) == mode(plain), name  # was 0600 whatever the umask

    with atomic.atomic_dir(tmp_path / "prepared") as folder:
        np.save(folder / "train_blur.npy", np.zeros(3, np.uint8))
        atomic.write_json(folder / "info.json", {})
    assert mode(tmp_path / "prepared") == mode(tmp_path / "plain_dir") == 0o777 & ~mask
    assert mode(tmp_path / "prepared" / "info.json") == mode(plain)


def test_a_generator_file_gets_the_umasks_mode(tmp_path, mask):
    model = ModelParams(channels=4, res_blocks=1, d_channels=4)
    save_generator(tmp_path / "best.pt", build_generator(model), model)
    assert mode(tmp_path / "best.pt") == 0o666 & ~mask


def test_truncated_and_random_generator_files_are_the_same_one_line(tmp_path):
    model = ModelParams(channels=4, res_blocks=1, d_channels=4)
    good = tmp_path / "good.pt"
    save_generator(good, build_generator(model), model, epoch=3)
    data = good.read_bytes()
    rng = np.random.default_rng(0)
    cases = {
        "random.pt": rng.integers(0, 256, 5000, dtype=np.uint8).tobytes(),
        "text.pt": b"not a torch file at all",
        "empty.pt": b"",
        "truncated_head.pt": data[:1000],
        "truncated_half.pt": data[: len(data) // 2],
        "truncated_tail.pt": data[:-100],  # the zip's central directory is cut
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ModelFileError) as info:
            load_generator(tmp_path / name)
        assert str(info.value) == (
            f"{tmp_path / name}: cannot read generator file "
            "(corrupt, truncated or not a torch file)"
        ), name
