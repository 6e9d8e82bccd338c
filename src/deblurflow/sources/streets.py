"""Procedural street scenes: facades with window grids, signs with lettering, paving in
perspective, poles and people, the sample's content for photos of towns.

The bundled photos show objects, faces and nature; real GoPro footage is mostly streets (the
GOPRO_Large scenes, the Istanbul pair): straight edges in two directions, repeated windows, text,
a ground plane whose texture shrinks toward the horizon, and many small upright people. Nothing
here is a photo of a street: every element is drawn from its geometry (cv2's anti-aliased
primitives at sub-pixel positions) and coloured from the bundled photos' pixels, so the content
is unlimited and needs no download, in the spirit of procedural training scenes (Achddou,
Gousseau and Ladjal, "VibrantLeaves", 2025; Carbajal et al., "Assessing the Role of Datasets in
the Generalization of Motion Deblurring Methods to Real Images", 2022).
"""

from __future__ import annotations

import math
import string

import cv2
import numpy as np

from deblurflow.sources.dead_leaves import lens, pink_noise, texture_patch

HORIZON = (0.3, 0.6)  #: the ground line's height as a share of the scene height
SHIFT = 4  #: sub-pixel bits of cv2's drawing coordinates
FONTS = (
    cv2.FONT_HERSHEY_SIMPLEX,
    cv2.FONT_HERSHEY_DUPLEX,
    cv2.FONT_HERSHEY_COMPLEX,
    cv2.FONT_HERSHEY_TRIPLEX,
    cv2.FONT_HERSHEY_PLAIN,
)
LETTERS = string.ascii_uppercase + string.digits


def street_scene(
    rng: np.random.Generator,
    height: int,
    width: int,
    colour_photos: list[np.ndarray],
    texture_photos: list[np.ndarray],
) -> np.ndarray:
    """A (height, width, 3) uint8 street scene coloured from colour_photos' pixels.

    Back to front: sky, a row of facades (window grids, ledges, shop signs with lettering,
    some clad in a tinted texture photo), the paved ground in perspective, then poles and
    people standing on the ground, smaller toward the horizon.
    """
    palette = np.concatenate([p.reshape(-1, 3)[::53] for p in colour_photos]).astype(np.float32)
    # Mid-tones only: the bundled photos' black skies and backgrounds would make black walls.
    palette = palette[(palette.mean(axis=1) > 50) & (palette.mean(axis=1) < 220)]
    scene = np.empty((height, width, 3), np.float32)
    horizon = rng.uniform(*HORIZON) * height
    _sky(rng, scene, palette)
    _facades(rng, scene, palette, texture_photos, horizon)
    _ground(rng, scene, palette, horizon)
    uprights = [(rng.uniform(horizon, 1.1 * height), _pole) for _ in range(rng.integers(8))]
    # Feet drawn with a skew toward the horizon (u^1.5): many small far people, few near ones.
    uprights += [
        (horizon + (height - horizon) * rng.random() ** 1.5 + 2, _person)
        for _ in range(rng.integers(4, 30))
    ]
    for foot, draw in sorted(uprights, key=lambda u: u[0]):  # far to near: nearer ones occlude
        draw(rng, scene, palette, horizon, foot)
    # Weathering, stains and fabric: a faint 1/f texture over every surface, so no region is
    # the flat colour of a drawing.
    grain = pink_noise(rng, height, width, (0.6, 1.1)) - 0.5
    scene *= 1.0 + rng.uniform(0.1, 0.35) * grain[:, :, None]
    return lens(rng, scene)


def _colour(rng: np.random.Generator, palette: np.ndarray, light: float = 1.0) -> np.ndarray:
    """A random palette colour, partly greyed (streets are mostly stone, glass and asphalt) and
    scaled by light (clipped to 8 bits), as float32 RGB."""
    colour = palette[rng.integers(len(palette))]
    grey = colour.mean()
    return np.clip((grey + rng.uniform(0.2, 1.0) * (colour - grey)) * light, 0, 255)


def _pt(x: float, y: float) -> tuple[int, int]:
    """A sub-pixel point for cv2's drawing functions (shift=SHIFT)."""
    return round(x * (1 << SHIFT)), round(y * (1 << SHIFT))


def _box(img: np.ndarray, x0: float, y0: float, x1: float, y1: float, colour) -> None:
    """An anti-aliased filled axis-aligned rectangle at sub-pixel corners."""
    quad = np.array([_pt(x0, y0), _pt(x1, y0), _pt(x1, y1), _pt(x0, y1)], np.int32)
    cv2.fillPoly(img, [quad], tuple(float(c) for c in colour), cv2.LINE_AA, SHIFT)


def _sky(rng: np.random.Generator, scene: np.ndarray, palette: np.ndarray) -> None:
    """A vertical gradient between two light colours over the whole scene."""
    top, bottom = _colour(rng, palette, 1.4), _colour(rng, palette, 1.6)
    ramp = np.linspace(0.0, 1.0, scene.shape[0], dtype=np.float32)[:, None, None]
    scene[:] = top + ramp * (bottom - top)


def _facades(
    rng: np.random.Generator,
    scene: np.ndarray,
    palette: np.ndarray,
    texture_photos: list[np.ndarray],
    horizon: float,
) -> None:
    """Buildings side by side along the ground line, each with its own window grid."""
    height, width = scene.shape[:2]
    x = rng.uniform(-0.3, 0.0) * width
    while x < width:
        w = rng.uniform(0.12, 0.45) * width
        top = rng.uniform(-0.2, 0.75) * horizon
        x0, x1, y1 = x, x + w, horizon + 1
        wall = _colour(rng, palette, rng.uniform(0.7, 1.3))
        _box(scene, x0, top, x1, y1, wall)
        ix0, ix1 = max(0, int(x0)), min(width, math.ceil(x1))
        iy0, iy1 = max(0, int(top)), min(height, math.ceil(y1))
        if texture_photos and ix1 > ix0 and iy1 > iy0 and rng.random() < 0.6:
            patch = texture_patch(rng, texture_photos, iy1 - iy0, ix1 - ix0)
            strength = rng.uniform(0.2, 0.6)  # stone or brick cladding, tinted by the wall
            region = scene[iy0:iy1, ix0:ix1]
            region *= 1.0 + strength * (patch / 128.0 - 1.0)
        _windows(rng, scene, palette, x0, top, x1, y1)
        if rng.random() < 0.6:
            _sign(rng, scene, palette, x0, x1, y1)
        x = x1 + rng.uniform(-0.02, 0.03) * width


def _windows(
    rng: np.random.Generator,
    scene: np.ndarray,
    palette: np.ndarray,
    x0: float,
    y0: float,
    x1: float,
    y1: float,
) -> None:
    """A regular grid of framed windows with a ledge under every storey."""
    storey = rng.uniform(14.0, 45.0)
    bay = rng.uniform(0.5, 1.2) * storey
    fill_w, fill_h = rng.uniform(0.35, 0.7), rng.uniform(0.4, 0.7)
    glass = _colour(rng, palette, rng.uniform(0.2, 0.6))
    frame = _colour(rng, palette, rng.uniform(1.1, 1.6))
    ledge = _colour(rng, palette, rng.uniform(0.6, 1.4))
    ground_floor = y1 - rng.uniform(1.0, 1.6) * storey  # the shop floor has no windows
    y = y0 + rng.uniform(0.3, 0.8) * storey
    while y + storey < ground_floor:
        _box(scene, x0, y + storey - 2.0, x1, y + storey, ledge)
        x = x0 + rng.uniform(0.2, 0.6) * bay
        while x + bay * fill_w < x1:
            wx1, wy1 = x + bay * fill_w, y + storey * fill_h
            _box(scene, x - 1.2, y - 1.2, wx1 + 1.2, wy1 + 1.2, frame)
            lit = rng.random() < 0.15  # some panes reflect the sky or show a lit room
            _box(scene, x, y, wx1, wy1, glass * (2.2 if lit else rng.uniform(0.8, 1.2)))
            x += bay
        y += storey


def _sign(
    rng: np.random.Generator,
    scene: np.ndarray,
    palette: np.ndarray,
    x0: float,
    x1: float,
    y1: float,
) -> None:
    """A shop sign over the ground floor: a coloured band with a line of lettering."""
    band_h = rng.uniform(8.0, 26.0)
    sx0 = x0 + rng.uniform(0.0, 0.3) * (x1 - x0)
    sx1 = x1 - rng.uniform(0.0, 0.3) * (x1 - x0)
    sy0 = y1 - rng.uniform(1.2, 2.2) * band_h - band_h
    back = _colour(rng, palette, rng.uniform(0.3, 1.5))
    _box(scene, sx0, sy0, sx1, sy0 + band_h, back)
    font = FONTS[rng.integers(len(FONTS))]
    thickness = int(rng.integers(1, 3))
    (cw, ch), _ = cv2.getTextSize("M", font, 1.0, thickness)
    scale = 0.7 * band_h / ch
    n = max(1, int((sx1 - sx0) / (0.9 * cw * scale)))
    text = "".join(LETTERS[i] for i in rng.integers(len(LETTERS), size=n))
    ink = 255.0 - back if rng.random() < 0.7 else _colour(rng, palette)  # mostly high contrast
    # cv2 writes text into 8-bit images only: draw it as a mask, then blend the ink through it.
    ix0, iy0 = max(0, int(sx0)), max(0, int(sy0))
    ix1 = min(scene.shape[1], math.ceil(sx1))
    iy1 = min(scene.shape[0], math.ceil(sy0 + band_h))
    if ix1 <= ix0 or iy1 <= iy0:
        return
    mask = np.zeros((iy1 - iy0, ix1 - ix0), np.uint8)
    origin = (round(sx0 - ix0 + 0.05 * band_h), round(sy0 - iy0 + 0.85 * band_h))
    cv2.putText(mask, text, origin, font, scale, 255, thickness, cv2.LINE_AA)
    alpha = mask.astype(np.float32)[:, :, None] / 255.0
    region = scene[iy0:iy1, ix0:ix1]
    region += alpha * (ink - region)


def _ground(
    rng: np.random.Generator, scene: np.ndarray, palette: np.ndarray, horizon: float
) -> None:
    """Paving stones (a brick or square pattern with mortar joints) in perspective below the
    horizon: the near stones are large, the far ones shrink toward the ground line."""
    height, width = scene.shape[:2]
    tile = rng.uniform(8.0, 20.0)
    rows, cols = 64, 160
    th, tw = round(rows * tile), round(cols * tile)
    stone = _colour(rng, palette, rng.uniform(0.6, 1.2))
    mortar = stone * rng.uniform(0.55, 0.8)
    shade = rng.uniform(0.85, 1.15, size=(rows + 1, cols + 2)).astype(np.float32)
    joint = max(1.0, 0.08 * tile) / tile  # the joint's width as a share of a stone
    stagger = 0.5 if rng.random() < 0.6 else 0.0  # running bond (bricks) or a square grid
    v = np.arange(th, dtype=np.float32)[:, None] / tile
    row = np.floor(v).astype(np.int64)
    u = np.arange(tw, dtype=np.float32)[None, :] / tile + stagger * (row % 2)
    col = np.floor(u).astype(np.int64)
    inside = (np.abs(v - row - 0.5) < 0.5 - joint) & (np.abs(u - col - 0.5) < 0.5 - joint)
    tint = shade[row, col][:, :, None]  # each stone its own tint
    flat = np.where(inside[:, :, None], stone * tint, mortar).astype(np.float32)
    # The rectangle of paving maps onto a trapezoid: its far edge (top) on the horizon, spread
    # over the view's width, its near edge several times wider, so the stones shrink with depth.
    spread = rng.uniform(2.5, 6.0)
    cx = width * rng.uniform(0.3, 0.7)
    half_far = 0.7 * width
    src = np.float32([[0, 0], [tw, 0], [tw, th], [0, th]])
    dst = np.float32(
        [
            [cx - half_far, horizon],
            [cx + half_far, horizon],
            [cx + spread * half_far, height],
            [cx - spread * half_far, height],
        ]
    )
    # Drawn at twice the size, then area-averaged: far stones blend instead of aliasing.
    warp = np.diag([2.0, 2.0, 1.0]) @ cv2.getPerspectiveTransform(src, dst)
    size = (2 * width, 2 * height)
    ground = cv2.warpPerspective(flat, warp, size, flags=cv2.INTER_LINEAR)
    cover = cv2.warpPerspective(np.ones((th, tw), np.float32), warp, size)
    ground = cv2.resize(ground, (width, height), interpolation=cv2.INTER_AREA)
    cover = cv2.resize(cover, (width, height), interpolation=cv2.INTER_AREA)
    below = np.arange(height, dtype=np.float32)[:, None] >= horizon
    cover = np.where(below, cover, 0.0)[:, :, None]
    scene *= 1.0 - cover
    scene += cover * ground


def _pole(
    rng: np.random.Generator, scene: np.ndarray, palette: np.ndarray, horizon: float, foot: float
) -> None:
    """A bollard or lamp post: a shaded cylinder standing on the ground at foot."""
    depth = max(foot - horizon, 1.0)  # nearer the camera, lower in the frame, larger
    w = depth * rng.uniform(0.04, 0.09)
    h = depth * rng.uniform(0.3, 1.5)
    x = rng.uniform(-0.1, 1.1) * scene.shape[1]
    colour = _colour(rng, palette, rng.uniform(0.5, 1.5))
    strips = 6  # a cylinder's shading across its width: dark rims, a bright ridge
    for k in range(strips):
        light = 0.6 + 0.6 * math.sin(math.pi * (k + 0.5) / strips)
        xa = x - w / 2 + k * w / strips
        _box(scene, xa, foot - h, xa + w / strips + 0.3, foot, colour * light)


def _person(
    rng: np.random.Generator, scene: np.ndarray, palette: np.ndarray, horizon: float, foot: float
) -> None:
    """A standing or walking figure: legs, torso, arms and head, its size set by its depth."""
    depth = max(foot - horizon, 1.0)
    h = depth * rng.uniform(0.5, 0.8)  # a person's height in proportion to the foot's depth
    x = rng.uniform(-0.05, 1.05) * scene.shape[1]
    skin = np.array([rng.uniform(90, 240), rng.uniform(60, 190), rng.uniform(40, 160)])
    skin = np.sort(skin)[::-1].astype(np.float32)  # R >= G >= B, the order of skin tones
    top = _colour(rng, palette, rng.uniform(0.4, 1.3))
    legs = _colour(rng, palette, rng.uniform(0.2, 0.8))
    hair = _colour(rng, palette, rng.uniform(0.1, 0.5))
    stride = rng.uniform(-0.18, 0.18) * h  # feet apart when walking
    hip, shoulder = foot - 0.48 * h, foot - 0.8 * h
    limb = max(1, round(0.07 * h))
    for dx in (-stride / 2, stride / 2):
        cv2.line(
            scene, _pt(x, hip), _pt(x + dx, foot), tuple(map(float, legs)), limb, cv2.LINE_AA, SHIFT
        )
    torso_w = 0.13 * h
    quad = np.array(
        [
            _pt(x - torso_w, shoulder),
            _pt(x + torso_w, shoulder),
            _pt(x + 0.8 * torso_w, hip + 0.04 * h),
            _pt(x - 0.8 * torso_w, hip + 0.04 * h),
        ],
        np.int32,
    )
    cv2.fillPoly(scene, [quad], tuple(map(float, top)), cv2.LINE_AA, SHIFT)
    for side in (-1, 1):
        swing = rng.uniform(-0.12, 0.12) * h
        cv2.line(
            scene,
            _pt(x + side * torso_w, shoulder + 0.02 * h),
            _pt(x + side * (torso_w + 0.03 * h) + swing, hip + 0.02 * h),
            tuple(map(float, top * 0.9)),
            max(1, round(0.05 * h)),
            cv2.LINE_AA,
            SHIFT,
        )
    head = 0.065 * h
    cy = shoulder - 1.1 * head
    cv2.circle(
        scene,
        _pt(x, cy),
        round(head * (1 << SHIFT)),
        tuple(map(float, skin)),
        -1,
        cv2.LINE_AA,
        SHIFT,
    )
    cv2.ellipse(
        scene,
        _pt(x, cy - 0.3 * head),
        (round(head * 16), round(0.75 * head * 16)),
        0,
        180,
        360,
        tuple(map(float, hair)),
        -1,
        cv2.LINE_AA,
        SHIFT,
    )
