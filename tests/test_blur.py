"""Blur synthesis maths (deblurflow.blur) against hand computations on tiny arrays."""

import numpy as np
import pytest

from deblurflow.blur import (
    average_frames,
    blur_from_linear,
    frames_for_exposure,
    frames_from_name,
    srgb_to_linear_lut,
    to_linear,
    windows,
)


def const(value: int, shape=(2, 3, 3)) -> np.ndarray:
    return np.full(shape, value, dtype=np.uint8)


def reference_blur(values: list[int], gamma: float) -> float:
    """((mean((v/255)^gamma))^(1/gamma)) * 255 in float64, before rounding."""
    mean = sum((v / 255) ** gamma for v in values) / len(values)
    return mean ** (1 / gamma) * 255


def test_lut_is_the_gamma_curve():
    lut = srgb_to_linear_lut(2.2)
    assert lut.shape == (256,) and lut.dtype == np.float32
    assert lut[0] == 0.0 and lut[255] == 1.0
    assert lut[128] == pytest.approx((128 / 255) ** 2.2, rel=1e-6)
    assert np.all(np.diff(lut) > 0)
    np.testing.assert_allclose(srgb_to_linear_lut(1.0), np.arange(256) / 255, rtol=1e-6)


def test_to_linear_matches_table_lookup():
    img = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    lut = srgb_to_linear_lut(2.2)
    np.testing.assert_array_equal(to_linear(img, lut), lut[img])


@pytest.mark.parametrize(
    "values, expected",
    [
        ([0, 30, 60], 30),
        ([0, 0, 1], 0),  # 0.333 rounds down
        ([0, 1, 1], 1),  # 0.667 rounds up
        ([10, 11, 11], 11),  # 10.667
        ([200, 100, 251, 0, 3], 111),  # 110.8
        ([255, 255, 255], 255),
    ],
)
def test_average_gamma_1_is_plain_rounded_mean(values, expected):
    out = average_frames([const(v) for v in values], gamma=1.0)
    assert out.dtype == np.uint8 and out.shape == (2, 3, 3)
    assert np.all(out == expected)


@pytest.mark.parametrize(
    "values",
    [[0, 30, 60], [0, 0, 255], [10, 200, 90], [255, 128, 0, 64, 32, 16, 8], [1, 2, 3]],
)
def test_average_gamma_2_2_matches_hand_computation(values):
    exact = reference_blur(values, 2.2)
    # Keep clear of x.5, where float32 and float64 could round differently.
    assert abs(exact - np.floor(exact) - 0.5) > 0.01
    out = average_frames([const(v) for v in values], gamma=2.2)
    assert np.all(out == round(exact))


def test_gamma_2_2_is_brighter_than_srgb_average():
    # Linear-light averaging of black and white gives ~186, not the sRGB midpoint 128.
    frames = [const(0), const(255)]
    assert average_frames(frames, 1.0)[0, 0, 0] == 128
    assert average_frames(frames, 2.2)[0, 0, 0] == round(reference_blur([0, 255], 2.2)) == 186


def test_average_random_frames_per_pixel_against_float64():
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 256, (9, 11, 3), dtype=np.uint8) for _ in range(7)]
    stack = np.stack(frames).astype(np.float64) / 255
    exact = (np.mean(stack**2.2, axis=0) ** (1 / 2.2)) * 255
    out = average_frames(frames, 2.2)
    clear = np.abs(exact - np.floor(exact) - 0.5) > 1e-3
    assert clear.mean() > 0.99
    np.testing.assert_array_equal(out[clear], np.floor(exact[clear] + 0.5).astype(np.uint8))


def test_average_keeps_channels_apart():
    a = np.zeros((1, 1, 3), np.uint8)
    b = np.array([[[90, 0, 30]]], np.uint8)
    np.testing.assert_array_equal(average_frames([a, b, b], 1.0), [[[60, 0, 20]]])


def test_blur_from_linear_errors():
    with pytest.raises(ValueError, match="zero frames"):
        blur_from_linear([], 2.2)
    with pytest.raises(ValueError, match="shapes differ"):
        blur_from_linear([np.zeros((2, 2, 3), np.float32), np.zeros((2, 3, 3), np.float32)], 1.0)


@pytest.mark.parametrize(
    "name, m",
    [("GOPR0372_07_00", 7), ("GOPR0871_11_00", 11), ("GOPR0384_13_00", 13), ("GOPR0372_07_01", 7)],
)
def test_frames_from_gopro_name(name, m):
    assert frames_from_name(name) == m


@pytest.mark.parametrize("name", ["sample_train_00", "GOPR0372", "seq_07_00", "GOPR0372_07_00x"])
def test_frames_from_other_names_suggests_explicit_frames(name):
    with pytest.raises(ValueError, match="blur.frames") as err:
        frames_from_name(name)
    assert name in str(err.value)


def test_frames_from_name_rejects_even_count():
    with pytest.raises(ValueError, match="odd"):
        frames_from_name("GOPR0372_08_00")


@pytest.mark.parametrize(
    "n, m, stride, expected",
    [
        (7, 3, 3, [(0, 2), (3, 5)]),  # stride = M: back to back, the 7th frame is left over
        (9, 3, 3, [(0, 2), (3, 5), (6, 8)]),
        (5, 3, 1, [(0, 2), (1, 3), (2, 4)]),  # stride < M: overlapping
        (7, 5, 2, [(0, 4), (2, 6)]),
        (10, 3, 5, [(0, 2), (5, 7)]),  # stride > M: frames in between are unused
        (3, 3, 3, [(0, 2)]),
        (2, 3, 3, []),
        (1, 1, 1, [(0, 0)]),
    ],
)
def test_windows(n, m, stride, expected):
    assert windows(n, m, stride) == expected


def test_windows_rejects_zero():
    with pytest.raises(ValueError):
        windows(5, 3, 0)


@pytest.mark.parametrize(
    "exposure_ms, fps, m",
    [(30, 240, 7), (30, 120, 3), (30, 536, 17), (1000 / 240 * 8, 240, 9), (50, 240, 13)],
)
def test_frames_for_exposure_is_the_closest_odd_count(exposure_ms, fps, m):
    # 7.2 -> 7; 3.6 -> 3; 16.08 -> 17 (not 15); exactly 8 -> 9 (ties go up); 12 -> 13
    assert frames_for_exposure(exposure_ms, fps) == m


def test_exposure_under_three_frames_is_an_error():
    with pytest.raises(ValueError, match=r"30 ms at 60 fps spans 1.80 frames"):
        frames_for_exposure(30, 60)
