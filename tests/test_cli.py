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
    assert f"deblurred 2 image(s) into {tmp_path / 'out'}" in capsys.readouterr().out


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


def _args(tmp_path, model_file, *inputs, extra=()):
    return ["predict", *map(str, inputs), "-o", str(tmp_path / "out"), "-m", str(model_file),
            *extra]  # fmt: skip


def test_one_bad_file_is_reported_and_the_rest_processed(tmp_path, model_file, capsys):
    photos = tmp_path / "photos"
    write_png(photos / "a.png", np.full((16, 16, 3), 10, np.uint8))
    (photos / "b.png").write_bytes(b"not a png")
    write_png(photos / "c.png", np.full((16, 16, 3), 20, np.uint8))
    assert main(_args(tmp_path, model_file, photos)) == 1
    assert read_rgb(tmp_path / "out" / "a_deblurred.png")[0, 0, 0] == 10
    assert read_rgb(tmp_path / "out" / "c_deblurred.png")[0, 0, 0] == 20
    err = capsys.readouterr().err
    assert f"deblurflow: error: {photos / 'b.png'}: cannot decode" in err
    assert "1 of 3 image(s) failed" in err


def test_same_stem_inputs_are_reported_not_renamed(tmp_path, model_file, capsys):
    """Output names come from the input's own name: x.png and x.jpg side by side would share
    x_deblurred.png, so both are reported and neither written (no name that changes with the
    folder's contents, no output replacing another)."""
    import cv2

    photos = tmp_path / "photos"
    write_png(photos / "x.png", np.full((16, 16, 3), 10, np.uint8))
    cv2.imwrite(str(photos / "x.jpg"), np.full((16, 16, 3), 200, np.uint8))
    write_png(photos / "y.png", np.full((16, 16, 3), 50, np.uint8))
    assert main(_args(tmp_path, model_file, photos)) == 1
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["y_deblurred.png"]
    err = capsys.readouterr().err
    for name, other in (("x.jpg", "x.png"), ("x.png", "x.jpg")):
        assert (f"deblurflow: error: {photos / name}: not written: {photos / other} has the same "
                "output name x_deblurred.png") in err  # fmt: skip
    assert "deblurflow: 2 of 3 image(s) failed" in err
    (photos / "x.jpg").unlink()  # alone, x.png gets the name it always gets
    assert main(_args(tmp_path, model_file, photos, extra=["--overwrite"])) == 0
    assert read_rgb(out / "x_deblurred.png")[0, 0, 0] == 10


def test_recursive_mirrors_sub_folders(tmp_path, model_file, capsys):
    photos = tmp_path / "photos"
    write_png(photos / "trip" / "day1" / "a.png", np.zeros((16, 16, 3), np.uint8))
    assert main(_args(tmp_path, model_file, photos)) == 1  # nothing directly inside
    assert "--recursive" in capsys.readouterr().err
    assert main(_args(tmp_path, model_file, photos, extra=["--recursive"])) == 0
    assert (tmp_path / "out" / "trip" / "day1" / "a_deblurred.png").is_file()


@pytest.mark.parametrize("kind", ["gray", "gray16", "rgba", "rgb16", "rgba16"])
def test_photo_kinds_are_written_back_as_they_came(tmp_path, model_file, kind):
    import cv2

    rng = np.random.default_rng(3)
    depth = np.uint16 if kind.endswith("16") else np.uint8
    top = np.iinfo(depth).max
    channels = {"gray": 1, "gray16": 1, "rgba": 4, "rgb16": 3, "rgba16": 4}[kind]
    shape = (20, 30) if channels == 1 else (20, 30, channels)
    img = rng.integers(0, top + 1, shape, dtype=np.int64).astype(depth)
    cv2.imwrite(str(tmp_path / "p.png"), img)
    # --tile 16: also through the tiled path; the untrained generator is the identity.
    extra = ["--tile", "16", "--tile-overlap", "4"]
    assert main(_args(tmp_path, model_file, tmp_path / "p.png", extra=extra)) == 0
    out = cv2.imread(str(tmp_path / "out" / "p_deblurred.png"), cv2.IMREAD_UNCHANGED)
    assert out.dtype == depth and out.shape == img.shape
    np.testing.assert_array_equal(out, img)  # alpha and 16-bit values pass through exactly


def test_help_shows_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for expected in ("(default: 2048)", "(default: 64)", "(default: models/best.pt)",
                     "--recursive", "16-bit"):  # fmt: skip
        assert expected in text


@pytest.mark.parametrize("orientation", range(1, 9))
def test_a_phone_photo_comes_back_upright_as_its_exif_says(tmp_path, model_file, orientation):
    # Phones store portrait photos as landscape pixels plus an EXIF Orientation tag that
    # viewers apply. The output PNG has no EXIF, so predict must turn the pixels upright.
    import io

    import cv2
    from PIL import Image, ImageOps

    rng = np.random.default_rng(orientation)
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (24, 40, 3), dtype=np.uint8)).save(
        buf, "JPEG", exif=exif, quality=95
    )
    (tmp_path / "p.jpg").write_bytes(buf.getvalue())
    # Two references: OpenCV's own EXIF handling (IMREAD_COLOR) and Pillow's exif_transpose.
    bgr = cv2.imdecode(np.frombuffer(buf.getvalue(), np.uint8), cv2.IMREAD_COLOR)
    upright = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(upright, np.asarray(ImageOps.exif_transpose(Image.open(buf))))
    assert upright.shape[:2] == ((40, 24) if orientation >= 5 else (24, 40))
    assert main(_args(tmp_path, model_file, tmp_path / "p.jpg")) == 0
    np.testing.assert_array_equal(read_rgb(tmp_path / "out" / "p_deblurred.png"), upright)


def test_exif_orientation_is_read_past_pillows_pixel_limit(tmp_path, monkeypatch):
    # A 200 MP phone photo is over Pillow's decompression-bomb limit; only the header is read,
    # so the limit must not hide its orientation (here the limit is lowered to 100 px).
    import io
    import warnings

    from PIL import Image

    from deblurflow.photos import exif_orientation

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    Image.new("RGB", (64, 48)).save(buf, "JPEG", exif=exif)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no DecompressionBombWarning either
        assert exif_orientation(np.frombuffer(buf.getvalue(), np.uint8)) == 6
    assert Image.MAX_IMAGE_PIXELS == 100  # the limit is the caller's again
    assert exif_orientation(np.frombuffer(b"not an image", np.uint8)) == 1


@pytest.mark.parametrize("kind", ["jpeg", "png16"])
def test_a_photos_colour_profile_is_written_into_its_output(tmp_path, model_file, kind):
    # A phone photo in Display P3 carries an ICC profile; without it in the output, viewers
    # take the values as sRGB and the deblurred photo looks duller than the input.
    import io

    import cv2
    from PIL import Image, ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    rng = np.random.default_rng(5)
    if kind == "jpeg":
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (24, 40, 3), dtype=np.uint8)).save(
            buf, "JPEG", icc_profile=icc
        )
        data = buf.getvalue()
    else:
        img = rng.integers(0, 65536, (24, 40, 3), dtype=np.int64).astype(np.uint16)
        ok, out = cv2.imencodeWithMetadata(
            ".png", img, [cv2.IMAGE_METADATA_ICCP], [np.frombuffer(icc, np.uint8)]
        )
        data = out.tobytes()
    (tmp_path / "p.img").write_bytes(data)
    (tmp_path / "plain.png").write_bytes(cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))[1])
    assert main(_args(tmp_path, model_file, tmp_path / "p.img", tmp_path / "plain.png")) == 0
    with Image.open(tmp_path / "out" / "p_deblurred.png") as out:
        assert out.info.get("icc_profile") == icc
    with Image.open(tmp_path / "out" / "plain_deblurred.png") as out:
        assert "icc_profile" not in out.info  # no profile in, none out
    stored = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    written = cv2.imread(str(tmp_path / "out" / "p_deblurred.png"), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(written, stored)  # the identity model: pixels unchanged


def test_an_iphone_heic_in_a_folder_is_reported_with_what_to_do(tmp_path, model_file, capsys):
    # OpenCV does not read HEIC: the file is named with the fix, not skipped without a word.
    photos = tmp_path / "photos"
    write_png(photos / "a.png", np.full((16, 16, 3), 10, np.uint8))
    (photos / "IMG_0001.HEIC").write_bytes(b"\x00\x00\x00\x18ftypheic" + bytes(64))
    (photos / "notes.txt").write_text("not a photo")
    assert main(_args(tmp_path, model_file, photos)) == 1
    err = capsys.readouterr().err
    assert "IMG_0001.HEIC: HEIC (an iPhone photo) is not a format OpenCV reads" in err
    assert "convert it to JPEG or PNG" in err and "1 of 2 image(s) failed" in err
    assert "notes.txt" not in err
    assert (tmp_path / "out" / "a_deblurred.png").is_file()


def test_max_side_shrinks_larger_photos_and_their_alpha_first(tmp_path, model_file):
    import cv2

    rng = np.random.default_rng(7)
    big = rng.integers(0, 65536, (40, 60, 4), dtype=np.int64).astype(np.uint16)  # RGBA 16-bit
    small = rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "big.png"), big)
    cv2.imwrite(str(tmp_path / "small.png"), small)
    args = _args(tmp_path, model_file, tmp_path / "big.png", tmp_path / "small.png",
                 extra=["--max-side", "30"])  # fmt: skip
    assert main(args) == 0
    out = cv2.imread(str(tmp_path / "out" / "big_deblurred.png"), cv2.IMREAD_UNCHANGED)
    assert out.shape == (20, 30, 4) and out.dtype == np.uint16
    # The identity model: the output is OpenCV's INTER_AREA shrink of every channel.
    expected = cv2.resize(big, (30, 20), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(out, expected)
    kept = cv2.imread(str(tmp_path / "out" / "small_deblurred.png"), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(kept, small)  # no larger than 30 px: as it came


@pytest.mark.parametrize("value", ["0", "-5", "half"])
def test_max_side_must_be_pixels_above_zero(tmp_path, model_file, capsys, value):
    with pytest.raises(SystemExit):
        main(_args(tmp_path, model_file, tmp_path / "p.png", extra=["--max-side", value]))
    assert f"expected a whole number of pixels above 0, not '{value}'" in capsys.readouterr().err
