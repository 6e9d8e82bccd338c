"""Procedural "dead leaves" scenes: occluding shapes of power-law sizes, the sample's extra content.

The bundled photos are few, so a model trained only on them learns those photos. A dead-leaves
image (Matheron's model: opaque shapes dropped one over the other, radius density ~ r^-3) has the
scale invariance and the edge statistics of natural images, and synthetic images of this kind are
a known regulariser for restoration networks (Achddou, Gousseau and Ladjal, "Synthetic images as a
regularity prior for image restoration neural networks", SSVM 2021). Here the shapes are discs,
ellipses and rotated rectangles (the straight edges of streets and buildings), each filled with a
colour picked from a real photo or, for the larger ones, with a tinted patch of a texture photo,
and the whole scene gets a camera's slight optical softness.

With ``leaf_textures`` a share of the leaves carries a procedural texture instead (a sinusoidal
grating, square-wave stripes or fine 1/f noise in two colours of the palette), the kind of
texture VibrantLeaves adds to the classic model (Achddou, Gousseau and Ladjal, "VibrantLeaves",
2025: textured leaves, depth of field): thin periodic structure that photos of a few objects
lack. ``leaf_layer`` draws a sparse cloud of leaves with an alpha channel, a depth layer that the
sample source moves in front of the background (parallax).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

R_MIN = 2.0  #: smallest shape radius, in scene pixels
R_MAX_SHARE = 0.25  #: largest shape radius as a share of the scene's shorter side
TEXTURED_RADIUS = 12.0  #: shapes at least this large may carry a texture patch
OPTICS_SIGMA = (0.3, 0.7)  #: Gaussian softness of the lens, in scene pixels
LAYER_R_MIN_SHARE = 0.04  #: a depth layer's smallest leaf radius, share of its shorter side


def _radius(rng: np.random.Generator, r_max: float, n: int, r_min: float = R_MIN) -> np.ndarray:
    """n radii with density ~ r^-3 on [r_min, r_max] (inverse transform sampling)."""
    u = rng.random(n)
    a, b = r_min**-2, r_max**-2
    return (a - u * (a - b)) ** -0.5


def _shape_mask(rng: np.random.Generator, mask: np.ndarray, x: float, y: float, r: float) -> None:
    """Draw one disc, ellipse or rotated rectangle of size about r into mask (value 255)."""
    kind = rng.integers(3)
    shift = 4  # sub-pixel coordinates: edges at every sub-pixel phase
    f = 1 << shift
    centre = (round(x * f), round(y * f))
    if kind == 0:
        cv2.circle(mask, centre, round(r * f), 255, -1, cv2.LINE_AA, shift)
    elif kind == 1:
        axes = (round(r * f), round(r * rng.uniform(0.3, 1.0) * f))
        angle = float(rng.uniform(0, 180))
        cv2.ellipse(mask, centre, axes, angle, 0, 360, 255, -1, cv2.LINE_AA, shift)
    else:
        w, h = r * 2, r * 2 * rng.uniform(0.2, 1.0)
        box = cv2.boxPoints(((x, y), (w, h), float(rng.uniform(0, 180))))
        cv2.fillPoly(mask, [np.round(box * f).astype(np.int32)], 255, cv2.LINE_AA, shift)


def dead_leaves(
    rng: np.random.Generator,
    height: int,
    width: int,
    colour_photos: list[np.ndarray],
    texture_photos: list[np.ndarray],
    coverage: float = 3.0,
    leaf_textures: float = 0.0,
) -> np.ndarray:
    """A (height, width, 3) uint8 dead-leaves scene coloured from colour_photos' pixels.

    coverage: total shape area over the scene area (about 95% of the scene is then covered);
    leaf_textures: share of the leaves filled with a procedural texture.
    """
    palettes = [p.reshape(-1, 3)[::53] for p in colour_photos]
    scene = np.empty((height, width, 3), np.float32)
    scene[:] = _colour(rng, palettes)
    _drop_leaves(rng, scene, None, palettes, texture_photos, coverage, leaf_textures)
    return lens(rng, scene)


def lens(rng: np.random.Generator, scene: np.ndarray) -> np.ndarray:
    """A float32 scene seen through a camera's slight optical softness, as uint8."""
    scene = cv2.GaussianBlur(scene, (0, 0), float(rng.uniform(*OPTICS_SIGMA)))
    return np.clip(np.rint(scene), 0, 255).astype(np.uint8)


def leaf_layer(
    rng: np.random.Generator,
    height: int,
    width: int,
    colour_photos: list[np.ndarray],
    texture_photos: list[np.ndarray],
    coverage: float,
    leaf_textures: float,
) -> tuple[np.ndarray, np.ndarray]:
    """A sparse layer of leaves: (rgb (H, W, 3) uint8, alpha (H, W) float32 in [0, 1]).

    coverage: total leaf area over the layer area (0.5 leaves about 40% of the layer covered).
    The layer gets its own optical softness (a nearer or farther focus than the background).
    """
    palettes = [p.reshape(-1, 3)[::53] for p in colour_photos]
    rgb = np.zeros((height, width, 3), np.float32)
    alpha = np.zeros((height, width, 1), np.float32)
    # Near leaves are large: no confetti in front of the scene (smallest 4% of the layer).
    r_min = max(R_MIN, LAYER_R_MIN_SHARE * min(height, width))
    _drop_leaves(rng, rgb, alpha, palettes, texture_photos, coverage, leaf_textures, r_min)
    sigma = float(rng.uniform(*OPTICS_SIGMA)) * rng.uniform(1.0, 2.0)
    # Premultiplied colour, so the soft edge does not darken toward the transparent black.
    rgb = cv2.GaussianBlur(rgb * alpha, (0, 0), sigma)
    a = cv2.GaussianBlur(alpha[:, :, 0], (0, 0), sigma)
    rgb = rgb / np.maximum(a, 1e-3)[:, :, None]
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8), np.clip(a, 0.0, 1.0)


def _drop_leaves(
    rng: np.random.Generator,
    scene: np.ndarray,
    cover: np.ndarray | None,
    palettes: list[np.ndarray],
    texture_photos: list[np.ndarray],
    coverage: float,
    leaf_textures: float,
    r_min: float = R_MIN,
) -> None:
    """Drop leaves onto scene (H, W, 3) float32 in place; cover (H, W, 1), when given, gets
    the union of their alphas (a layer with holes)."""
    height, width = scene.shape[:2]
    r_max = R_MAX_SHARE * min(height, width)
    # Mean area of one shape (pi E[r^2], with E[r^2] of the r^-3 law on [R_MIN, r_max]).
    mean_area = math.pi * 2 * r_min**2 * math.log(r_max / r_min) / (1 - (r_min / r_max) ** 2)
    radii = _radius(rng, r_max, round(coverage * height * width / mean_area), r_min)
    mask = np.zeros((height, width), np.uint8)
    for r in radii:  # in random order: each new leaf may hide any earlier one
        x, y = rng.uniform(-r, width + r), rng.uniform(-r, height + r)
        x0, x1 = max(0, int(x - 1.5 * r) - 2), min(width, int(x + 1.5 * r) + 3)
        y0, y1 = max(0, int(y - 1.5 * r) - 2), min(height, int(y + 1.5 * r) + 3)
        if x0 >= x1 or y0 >= y1:
            continue
        window = mask[y0:y1, x0:x1]
        window[:] = 0
        _shape_mask(rng, window, x - x0, y - y0, r)
        alpha = window.astype(np.float32)[:, :, None] / 255.0
        fill = _colour(rng, palettes)
        # Drawn only when on, so leaf_textures = 0 keeps the random stream (and scenes) as before.
        if leaf_textures > 0 and rng.random() < leaf_textures:
            fill = procedural_texture(rng, y1 - y0, x1 - x0, fill, _colour(rng, palettes))
        elif r >= TEXTURED_RADIUS and texture_photos and rng.random() < 0.5:
            fill = texture_patch(rng, texture_photos, y1 - y0, x1 - x0) * (fill / 128.0)
        region = scene[y0:y1, x0:x1]
        region += alpha * (fill - region)
        if cover is not None:
            below = cover[y0:y1, x0:x1]
            below += alpha * (1.0 - below)


def procedural_texture(
    rng: np.random.Generator, h: int, w: int, a: np.ndarray, b: np.ndarray
) -> np.ndarray:
    """(h, w, 3) float32 texture between colours a and b: a grating, stripes or 1/f noise."""
    kind = int(rng.integers(3))
    if kind < 2:
        period = rng.uniform(2.5, 16.0)  # pixels: down to near the Nyquist limit
        angle = rng.uniform(0.0, math.pi)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        phase = (xx * math.cos(angle) + yy * math.sin(angle)) * (2 * math.pi / period)
        wave = 0.5 + 0.5 * np.sin(phase + rng.uniform(0, 2 * math.pi))
        if kind == 1:  # square-wave stripes, anti-aliased by a slight softening
            wave = cv2.GaussianBlur((wave > 0.5).astype(np.float32), (0, 0), 0.5)
    else:
        wave = pink_noise(rng, h, w, (0.5, 1.2))
    return a + wave[:, :, None] * (b - a)


def pink_noise(
    rng: np.random.Generator, h: int, w: int, exponents: tuple[float, float]
) -> np.ndarray:
    """(h, w) float32 1/f^e noise in [0, 1], e drawn in exponents: white noise filtered in the
    Fourier domain."""
    spectrum = np.fft.rfft2(rng.standard_normal((h, w)))
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    spectrum /= np.maximum(np.hypot(fy, fx), 1.0 / max(h, w)) ** rng.uniform(*exponents)
    noise = np.fft.irfft2(spectrum, s=(h, w))
    return ((noise - noise.min()) / (np.ptp(noise) + 1e-6)).astype(np.float32)


def _colour(rng: np.random.Generator, palettes: list[np.ndarray]) -> np.ndarray:
    """A float32 RGB colour: a random pixel of a random photo (each photo equally likely)."""
    palette = palettes[rng.integers(len(palettes))]
    return palette[rng.integers(len(palette))].astype(np.float32)


def texture_patch(rng: np.random.Generator, photos: list[np.ndarray], h: int, w: int) -> np.ndarray:
    """(h, w, 3) float32 patch of a random texture photo at a random scale in [0.5, 1.5]."""
    photo = photos[rng.integers(len(photos))]
    zoom = rng.uniform(0.5, 1.5)
    zoom = max(zoom, (h + 1) / photo.shape[0], (w + 1) / photo.shape[1])
    size = (math.ceil(photo.shape[1] * zoom), math.ceil(photo.shape[0] * zoom))
    view = cv2.resize(photo, size, interpolation=cv2.INTER_AREA if zoom < 1 else cv2.INTER_LINEAR)
    y = int(rng.integers(0, view.shape[0] - h + 1))
    x = int(rng.integers(0, view.shape[1] - w + 1))
    return view[y : y + h, x : x + w].astype(np.float32)
