"""The offline sample: GoPro-like 240 fps sequences rendered from bundled photos.

Each sequence is a virtual hand-held camera looking at one photograph: a smooth random
trajectory of sub-pixel translation and small rotation, sampled with ``cv2.warpAffine`` from a
scaled copy of the photo that is always larger than the view, so there are no black borders.
On top, object(s) cut from *other* photos with a soft elliptical mask move on their own paths,
so averaging consecutive frames (the synthesize stage) gives non-uniform blur like GOPRO_Large.
Objects also come from grayscale texture photos (bricks, grass, gravel...), for more kinds of
edges, and every frame carries its own sensor noise, like a camera's. A share of the train
sequences (``data.sample.dead_leaves``) look at a procedural dead-leaves scene instead of a photo
(sources/dead_leaves.py): content no bundled photo has.

Train sequences can also have depth (``data.sample.depth_layers``): sparse layers of leaves in
front of the background, each nearer the camera and so shifted 1.4-3.5x as far as the background
by the same camera motion (parallax), and movers that deform (``data.sample.deform``: their size
and shear change over the sequence, as a walking person or a turning car do). A share of them can
have a still camera (``data.sample.still_camera``): only the movers blur and the rest of the
frame stays sharp, as in a real frame where one thing moves (GoPro's Flower pair) and a model
must leave the sharp parts alone. Parts of a background can sway on their own (``data.sample.sway``:
foliage or flowers in the wind, a smooth field of directions over a soft random region), and
the photos can be seen at a chosen scale (``data.sample.photo_zoom``) instead of the least zoom
that covers the camera's path. The test split is always rendered flat and rigid with a
moving camera, so its scores stay comparable.

The train split's photos are real GoPro street frames shipped in data/real/gopro-scenes
(``data.sample.photos: gopro``), scikit-image's photos (``scikit``) or both; the test split
always looks at scikit-image's chelsea and rocket, so its scores stay comparable.

Speeds are in pixels per frame at 320 px width and scale with the width: GoPro's 7-frame
averages smear by tens of pixels at 1280 px, i.e. about 3-15 px at 320 px.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import cv2
import numpy as np

from deblurflow.images import ImageError, read_rgb, write_png
from deblurflow.params import SampleParams
from deblurflow.processes import run_jobs
from deblurflow.repo import from_root
from deblurflow.sources.common import SourceError
from deblurflow.sources.dead_leaves import dead_leaves, leaf_layer
from deblurflow.sources.streets import street_scene

log = logging.getLogger(__name__)

#: Colour photographs that ship inside the scikit-image wheel, and the two in scikit-learn's
#: (china, flower; no network fetch needed).
#: Train and test use disjoint photos so that no test content leaks into training.
PHOTOS: dict[str, tuple[str, ...]] = {
    "train": (
        "astronaut", "coffee", "motorcycle", "motorcycle_right", "immunohistochemistry",
        "hubble_deep_field", "retina", "china", "flower",
    ),
    "test": ("chelsea", "rocket"),
}  # fmt: skip
#: Grayscale photographs with fine texture and sharp edges (bricks, grass, gravel, a camera man,
#: coins, a clock, the moon), used only for the moving objects: more kinds of edges to deblur.
TEXTURES: dict[str, tuple[str, ...]] = {
    "train": ("brick", "grass", "gravel", "camera", "coins", "clock", "moon"),
    "test": (),
}

#: Real GoPro street frames, ten frames of GOPRO scenes other than the two scored real pairs'
#: (data/real/README.md): train photos with ``data.sample.photos: gopro`` or ``both``.
SCENES_DIR = "data/real/gopro-scenes"
SCENE_PREFIX = "gopro/"  #: a scene's photo name is this + its file's stem
SKLEARN_PHOTOS = ("china", "flower")  #: PHOTOS that come from scikit-learn's sample images
REFERENCE_WIDTH = 320  #: the speeds below are in pixels per frame at this frame width
CAMERA_SPEED = (0.3, 2.0)  #: mean camera speed: 7-frame average smears ~2-12 px at 320 px
OBJECT_SPEED = (1.0, 2.5)  #: mean object speed, in frame coordinates
ROTATION_SHARE = (0.03, 0.15)  #: speed of the view's corners from rotation, relative to panning
MARGIN = 3.0  #: pixels kept inside the photo around the view (the cubic kernel reaches 2 px)
NOISE_SIGMA = (0.5, 3.0)  #: sensor noise per frame, std in 8-bit levels, drawn per sequence
PARALLAX = (1.4, 3.5)  #: a depth layer's motion over the background's, nearest layer largest
LAYER_COVERAGE = (0.1, 0.35)  #: leaf area over layer area of one depth layer
SWAY_SPEED = (0.4, 1.5)  #: peak sway speed, px/frame at 320 px: 7-frame blur of ~3-10 px
SWAY_HZ = (1.5, 5.0)  #: sway frequency (a branch or a flower in the wind)
SWAY_CELL = (32, 80)  #: px between independent sway directions (how large a swaying part is)


@dataclass(frozen=True)
class Sprite:
    """A moving object: a patch of a photo and its soft mask."""

    rgb: np.ndarray  #: (h, w, 3) uint8
    alpha: np.ndarray  #: (h, w) float32 in [0, 1], an elliptical mask with a soft edge


@dataclass(frozen=True)
class Layer:
    """A depth layer in front of the background: leaves with alpha and their own view path."""

    rgb: np.ndarray  #: (lh, lw, 3) uint8
    alpha: np.ndarray  #: (lh, lw) float32 in [0, 1]
    camera: np.ndarray  #: (T, 3): view centre x, y in layer px, rotation in rad


@dataclass(frozen=True)
class Sway:
    """Non-rigid motion of the background: each part swings back and forth on its own."""

    field: np.ndarray  #: (bh, bw, 2) float32 peak displacement per background px, in px
    omega: float  #: angular frequency, rad per frame
    phase: float

    def at(self, t: int) -> np.ndarray:
        """(bh, bw, 2) displacement in background px at frame t."""
        return self.field * np.float32(math.sin(self.omega * t + self.phase))


@dataclass(frozen=True)
class Content:
    """What the train split adds to a plain sample sequence (all off: today's flat scenes)."""

    depth_layers: int = 0
    leaf_textures: float = 0.0
    deform: float = 0.0
    still: bool = False  #: the camera stands still (at its first pose): only the movers blur
    camera_speed: tuple[float, float] = CAMERA_SPEED  #: mean speed range, px/frame at 320 px
    #: frame px per photo px the photos are seen at, drawn in [low, high] (None: as little zoom
    #: as covers the camera's path, today's); at least the path's cover zoom
    photo_zoom: tuple[float, float] | None = None
    #: photo_zoom applies to the background too (False for procedural scenes: sprites only)
    zoom_background: bool = True
    #: parts of the background sway on their own (foliage, flowers in the wind): blur whose
    #: direction and length change within the frame, as no camera motion gives
    sway: bool = False


@dataclass(frozen=True)
class SequencePlan:
    """Everything needed to render any frame of one sequence."""

    background: np.ndarray  #: (bh, bw, 3) uint8, the photo scaled so 1 photo px = 1 frame px
    camera: np.ndarray  #: (T, 3): view centre x, y in background px, rotation in rad
    sprites: tuple[Sprite, ...]
    objects: tuple[np.ndarray, ...]  #: per sprite (T, 3): centre x, y in frame px, rotation
    width: int
    height: int
    noise_sigma: float = 0.0  #: std of the per-frame sensor noise, 8-bit levels
    noise_seed: int = 0  #: frame t's noise is drawn from default_rng([noise_seed, t])
    layers: tuple[Layer, ...] = ()  #: depth layers, farthest first, drawn over the background
    sway: Sway | None = None  #: non-rigid motion of the background, or None (rigid)

    def frame_to_background(self, t: int) -> np.ndarray:
        """(2, 3) affine map from frame pixel coordinates of frame t to background pixels."""
        return _view(self.camera[t], self.width, self.height)


def _view(pose: np.ndarray, width: int, height: int) -> np.ndarray:
    """(2, 3) affine map from frame pixels to the pixels of a view centred at pose (x, y, rad)."""
    cx, cy, theta = pose
    c, s = math.cos(theta), math.sin(theta)
    ox, oy = (width - 1) / 2, (height - 1) / 2
    return np.array([[c, -s, cx - (c * ox - s * oy)], [s, c, cy - (s * ox + c * oy)]])


def scene_names() -> tuple[str, ...]:
    """The bundled GoPro scenes as photo names (``gopro/<stem>``), in file-name order."""
    folder = from_root(SCENES_DIR)
    names = tuple(SCENE_PREFIX + p.stem for p in sorted(folder.glob("*.png")))
    if not names:
        raise SourceError(
            f"data.sample.photos needs the GoPro scenes in {folder}, which holds no PNG "
            "(restore data/real/gopro-scenes from git, or set data.sample.photos: scikit)"
        )
    return names


def train_photos(choice: str) -> tuple[str, ...]:
    """The train split's photos for ``data.sample.photos``: scikit, gopro or both."""
    if choice == "scikit":
        return PHOTOS["train"]
    return scene_names() if choice == "gopro" else PHOTOS["train"] + scene_names()


def load_photo(name: str) -> np.ndarray:
    """One of PHOTOS (from the installed scikit-image/-learn) or a bundled GoPro scene
    (``gopro/<stem>``) as uint8 RGB (H, W, 3)."""
    if name.startswith(SCENE_PREFIX):
        try:
            return read_rgb(from_root(SCENES_DIR) / f"{name[len(SCENE_PREFIX) :]}.png")
        except ImageError as exc:
            raise SourceError(f"GoPro scene {name!r}: {exc}") from None
    from skimage import data  # imported here: only the sample source needs scikit-image

    if name in SKLEARN_PHOTOS:
        from sklearn.datasets import load_sample_image

        image = load_sample_image(f"{name}.jpg")
    elif name.startswith("motorcycle"):  # the left and right views of a stereo pair
        image = data.stereo_motorcycle()[1 if name.endswith("_right") else 0]
    else:
        image = getattr(data, name)()
    image = np.asarray(image, dtype=np.uint8)
    if image.ndim == 2:  # a grayscale texture: the same values in R, G and B
        image = np.repeat(image[:, :, None], 3, axis=2)
    return np.ascontiguousarray(image[..., :3])


def _smooth_path(rng: np.random.Generator, frames: int, dims: int) -> np.ndarray:
    """(frames, dims) random smooth path starting at 0 with a mean speed of 1 per frame.

    Three low-frequency sinusoids per axis (periods of 0.6-4 s at 240 fps: a slow pan that
    curves) plus a faint 5-15 Hz tremor, like a hand holding a camera.
    """
    t = np.arange(frames, dtype=np.float64)[:, None]
    path = np.zeros((frames, dims))
    for periods, weight in (((150, 900), 1.0),) * 3 + (((16, 48), 0.15),):
        period = rng.uniform(*periods, size=dims)
        phase = rng.uniform(0.0, 2 * math.pi, size=dims)
        # Amplitude in proportion to the period so each term's velocity is about `weight`.
        amp = weight * rng.uniform(0.3, 1.0, size=dims) * period / (2 * math.pi)
        path += amp * np.sin(2 * math.pi * t / period + phase)
    speed = np.linalg.norm(np.diff(path, axis=0), axis=1).mean() if frames > 1 else 1.0
    return (path - path[0]) / speed


def _resize(image: np.ndarray, zoom: float) -> np.ndarray:
    h, w = image.shape[:2]
    size = (max(1, math.ceil(w * zoom)), max(1, math.ceil(h * zoom)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if zoom < 1 else cv2.INTER_CUBIC)


def _camera(
    rng: np.random.Generator,
    photo: np.ndarray,
    frames: int,
    width: int,
    height: int,
    speeds: tuple[float, float] = CAMERA_SPEED,
    zooms: tuple[float, float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Scale the photo to cover the whole trajectory; return (background, camera (T, 3)).

    zooms: the range the scale is drawn from (frame px per photo px), at least the cover zoom;
    None: as little zoom as covers the path."""
    scale = width / REFERENCE_WIDTH
    speed = rng.uniform(*speeds) * scale  # one draw whatever the range: later draws stay put
    xy = _smooth_path(rng, frames, 2) * speed
    corner_speed = rng.uniform(*ROTATION_SHARE) * speed
    theta = _smooth_path(rng, frames, 1)[:, 0] * corner_speed / (0.5 * math.hypot(width, height))
    theta -= (theta.max() + theta.min()) / 2  # the view is upright on average

    # Half extents of the rotated view: every corner must stay inside the scaled photo.
    c, s = np.abs(np.cos(theta)), np.abs(np.sin(theta))
    half_w = 0.5 * width * c + 0.5 * height * s + MARGIN
    half_h = 0.5 * width * s + 0.5 * height * c + MARGIN
    x_lo, x_hi = (xy[:, 0] - half_w).min(), (xy[:, 0] + half_w).max()
    y_lo, y_hi = (xy[:, 1] - half_h).min(), (xy[:, 1] + half_h).max()
    ph, pw = photo.shape[:2]
    # As little zoom as covers the path: the most photo content and the least upsampling.
    cover = max((x_hi - x_lo) / pw, (y_hi - y_lo) / ph)
    if zooms is None:
        zoom = cover * rng.uniform(1.02, 1.25)
    else:  # one draw in place of the other: later draws stay put
        zoom = max(cover * 1.02, rng.uniform(*zooms))
    background = _resize(photo, zoom)
    bh, bw = background.shape[:2]
    x0 = rng.uniform(0.0, bw - (x_hi - x_lo)) - x_lo
    y0 = rng.uniform(0.0, bh - (y_hi - y_lo)) - y_lo
    if rng.random() < 0.5:  # photos reused by several sequences look different when mirrored
        background = np.ascontiguousarray(background[:, ::-1])
    camera = np.column_stack([xy[:, 0] + x0, xy[:, 1] + y0, theta])
    return background, camera


def _sprite(
    rng: np.random.Generator,
    photo: np.ndarray,
    height: int,
    zooms: tuple[float, float] | None = None,
) -> Sprite:
    """Cut a patch about 0.35-0.55 of the frame height from a photo seen at about frame scale
    (zooms: the range of frame px per photo px instead)."""
    side = rng.uniform(0.35, 0.55) * height
    aspect = rng.uniform(0.75, 1.33)
    w = max(8, round(side * math.sqrt(aspect)))
    h = max(8, round(side / math.sqrt(aspect)))
    ph, pw = photo.shape[:2]
    if zooms is None:
        zoom = rng.uniform(1.0, 2.0) * height / min(ph, pw)
    else:  # one draw in place of the other: later draws stay put
        zoom = rng.uniform(*zooms)
    zoom = max(zoom, (w + 1) / pw, (h + 1) / ph)
    view = _resize(photo, zoom)
    # The most textured of a few random cuts: a flat patch of sky would move without blurring.
    cuts = [
        (int(rng.integers(0, view.shape[0] - h + 1)), int(rng.integers(0, view.shape[1] - w + 1)))
        for _ in range(8)
    ]
    edges = np.abs(cv2.Laplacian(cv2.cvtColor(view, cv2.COLOR_RGB2GRAY), cv2.CV_32F))
    y, x = max(cuts, key=lambda c: edges[c[0] : c[0] + h, c[1] : c[1] + w].mean())
    rgb = np.ascontiguousarray(view[y : y + h, x : x + w])
    alpha = np.zeros((h, w), np.float32)
    # Sub-pixel ellipse (shift=4) blurred by a few percent of its size: a soft edge blurs like
    # a real object boundary instead of a stair-stepped cut-out.
    centre = (round((w - 1) / 2 * 16), round((h - 1) / 2 * 16))
    axes = (round(0.38 * w * 16), round(0.38 * h * 16))
    cv2.ellipse(alpha, centre, axes, 0, 0, 360, 1.0, -1, cv2.LINE_AA, 4)
    alpha = cv2.GaussianBlur(alpha, (0, 0), 0.04 * min(w, h) + 0.5)
    return Sprite(rgb=rgb, alpha=np.clip(alpha, 0.0, 1.0))


def _object_path(
    rng: np.random.Generator,
    sprite: Sprite,
    frames: int,
    width: int,
    height: int,
    deform: float = 0.0,
) -> np.ndarray:
    """(T, 3) object centre in frame px and rotation, independent of the camera; with deform,
    (T, 5) with the scale and the shear too."""
    speed = rng.uniform(*OBJECT_SPEED) * width / REFERENCE_WIDTH
    xy = _smooth_path(rng, frames, 2) * speed
    # Centre the path's range on a point in the middle of the frame so the object stays in view.
    target = np.array([rng.uniform(0.3, 0.7) * width, rng.uniform(0.3, 0.7) * height])
    xy += target - (xy.max(axis=0) + xy.min(axis=0)) / 2
    radius = 0.5 * max(sprite.alpha.shape)
    spin = rng.uniform(0.0, 0.3) * speed / radius
    phi = _smooth_path(rng, frames, 1)[:, 0] * spin + rng.uniform(-0.3, 0.3)
    if deform <= 0:
        return np.column_stack([xy, phi])
    # Size and shear drift smoothly over the sequence by up to `deform` (drawn only when on).
    change = _smooth_path(rng, frames, 2)
    change *= deform / max(float(np.abs(change).max()), 1e-6)
    return np.column_stack([xy, phi, 1.0 + change[:, 0], change[:, 1]])


def plan_sequence(
    rng: np.random.Generator,
    background_photo: np.ndarray,
    object_photos: list[np.ndarray],
    frames: int,
    width: int,
    height: int,
    content: Content = Content(),
    leaf_photos: tuple[list[np.ndarray], list[np.ndarray]] = ([], []),
) -> SequencePlan:
    """Draw a camera trajectory over one photo and one moving object per entry of object_photos.

    content adds depth layers (leaves coloured from leaf_photos = (colour, texture) photos) and
    deforming movers; the draws for them come after all of today's, so a flat plan is unchanged.
    """
    zooms = content.photo_zoom
    background, camera = _camera(
        rng, background_photo, frames, width, height, content.camera_speed,
        zooms if content.zoom_background else None,
    )  # fmt: skip
    if content.still:  # same draws as a moving camera: the other sequences stay unchanged
        camera = np.repeat(camera[:1], frames, axis=0)
    sprites = tuple(_sprite(rng, photo, height, zooms) for photo in object_photos)
    objects = tuple(_object_path(rng, sprite, frames, width, height) for sprite in sprites)
    # Every frame carries its own sensor noise, as a camera's do: averaging M of them (the
    # synthesize stage) leaves the blurred frame less noisy than the sharp one, as in GoPro.
    noise = float(rng.uniform(*NOISE_SIGMA))
    seed = int(rng.integers(2**31))
    if content.deform > 0:
        objects = tuple(
            _object_path(rng, sprite, frames, width, height, content.deform) for sprite in sprites
        )
    parallax = np.sort(rng.uniform(*PARALLAX, size=content.depth_layers))  # farthest first
    layers = tuple(
        _depth_layer(rng, camera, p, width, height, content.leaf_textures, leaf_photos)
        for p in parallax
    )
    sway = _sway(rng, background.shape[:2], width) if content.sway else None
    return SequencePlan(
        background, camera, sprites, objects, width, height, noise, seed, layers, sway
    )


def _smooth_field(
    rng: np.random.Generator, shape: tuple[int, int], cell: float, dims: int
) -> np.ndarray:
    """(h, w, dims) float32 smooth random field: independent normals every `cell` px, bicubic
    in between."""
    h, w = shape
    coarse = rng.standard_normal((math.ceil(h / cell) + 1, math.ceil(w / cell) + 1, dims))
    field = cv2.resize(coarse.astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    return field.reshape(h, w, dims)


def _sway(rng: np.random.Generator, shape: tuple[int, int], width: int) -> Sway:
    """Draw which parts of a background sway, in which directions, how fast and how often."""
    scale = width / REFERENCE_WIDTH
    cell = rng.uniform(*SWAY_CELL) * scale
    direction = _smooth_field(rng, shape, cell, 2)
    direction /= max(float(np.linalg.norm(direction, axis=2).max()), 1e-6)
    # A soft mask over a random share of the frame: the swaying parts (foliage), the rest
    # (walls, ground) stays rigid; its soft edge keeps the warp free of tears.
    region = _smooth_field(rng, shape, 2 * cell, 1)[..., 0]
    level = np.quantile(region, rng.uniform(0.2, 0.8))
    mask = 1.0 / (1.0 + np.exp(-(region - level) / (0.15 * region.std() + 1e-6)))
    omega = 2 * math.pi * rng.uniform(*SWAY_HZ) / 240.0
    # Peak speed of a sinusoid is amplitude x omega.
    amplitude = rng.uniform(*SWAY_SPEED) * scale / omega
    field = (direction * (amplitude * mask)[..., None]).astype(np.float32)
    return Sway(field, omega, float(rng.uniform(0.0, 2 * math.pi)))


def _depth_layer(
    rng: np.random.Generator,
    camera: np.ndarray,
    parallax: float,
    width: int,
    height: int,
    leaf_textures: float,
    leaf_photos: tuple[list[np.ndarray], list[np.ndarray]],
) -> Layer:
    """A layer of leaves that the camera's translation moves ``parallax`` times as far."""
    xy = (camera[:, :2] - camera[0, :2]) * parallax
    reach = 0.5 * math.hypot(width, height) + MARGIN  # a rotated view stays inside this radius
    lo, hi = xy.min(axis=0) - reach, xy.max(axis=0) + reach
    lw, lh = math.ceil(hi[0] - lo[0]) + 1, math.ceil(hi[1] - lo[1]) + 1
    coverage = rng.uniform(*LAYER_COVERAGE)
    rgb, alpha = leaf_layer(rng, lh, lw, *leaf_photos, coverage, leaf_textures)
    path = np.column_stack([xy - lo, camera[:, 2]])
    return Layer(rgb, alpha, path)


def _to_sprite(sprite: Sprite, pose: np.ndarray) -> np.ndarray:
    """(2, 3) affine map from frame px to sprite px for pose (x, y, phi[, scale, shear])."""
    x, y, phi = pose[:3]
    c, s = math.cos(phi), math.sin(phi)
    sx, sy = (sprite.alpha.shape[1] - 1) / 2, (sprite.alpha.shape[0] - 1) / 2
    # Frame -> sprite coordinates: rotate by -phi about the object's centre.
    if len(pose) == 3:
        return np.array([[c, s, sx - (c * x + s * y)], [-s, c, sy - (-s * x + c * y)]])
    # Deforming: undo the shear, then the scale (the sprite grows by `scale`).
    scale, shear = pose[3], pose[4]
    linear = np.array([[1.0, -shear], [0.0, 1.0]]) @ np.array([[c, s], [-s, c]]) / scale
    offset = np.array([sx, sy]) - linear @ np.array([x, y])
    return np.column_stack([linear, offset])


def render_frame(plan: SequencePlan, t: int) -> np.ndarray:
    """Frame t of a planned sequence as uint8 RGB (H, W, 3)."""
    size = (plan.width, plan.height)
    flags = cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP
    alpha_flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    # The plan keeps the view inside the photo; reflection only guards against rounding.
    if plan.sway is None:
        frame = cv2.warpAffine(
            plan.background,
            plan.frame_to_background(t),
            size,
            flags=flags,
            borderMode=cv2.BORDER_REFLECT_101,
        )
    else:  # frame px -> background px, then each background px's own sway: one resampling
        ys, xs = np.mgrid[0 : plan.height, 0 : plan.width].astype(np.float32)
        m = plan.frame_to_background(t).astype(np.float32)
        bx = m[0, 0] * xs + m[0, 1] * ys + m[0, 2]
        by = m[1, 0] * xs + m[1, 1] * ys + m[1, 2]
        shift = cv2.remap(
            plan.sway.at(t), bx, by, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
        )
        frame = cv2.remap(
            plan.background, bx + shift[..., 0], by + shift[..., 1], cv2.INTER_CUBIC,
            borderMode=cv2.BORDER_REFLECT_101,
        )  # fmt: skip
    out = frame.astype(np.float32)
    for layer in plan.layers:
        to_layer = _view(layer.camera[t], plan.width, plan.height)
        rgb = cv2.warpAffine(layer.rgb, to_layer, size, flags=flags)
        alpha = cv2.warpAffine(layer.alpha, to_layer, size, flags=alpha_flags)
        alpha = np.clip(alpha, 0.0, 1.0)[:, :, None]  # (H, W, 1)
        out = out * (1.0 - alpha) + rgb.astype(np.float32) * alpha
    for sprite, path in zip(plan.sprites, plan.objects):
        to_sprite = _to_sprite(sprite, path[t])
        rgb = cv2.warpAffine(sprite.rgb, to_sprite, size, flags=flags)
        alpha = cv2.warpAffine(
            sprite.alpha, to_sprite, size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        )
        alpha = np.clip(alpha, 0.0, 1.0)[:, :, None]  # (H, W, 1)
        out = out * (1.0 - alpha) + rgb.astype(np.float32) * alpha
    if plan.noise_sigma > 0:
        rng = np.random.default_rng([plan.noise_seed, t])
        out += rng.normal(0.0, plan.noise_sigma, out.shape).astype(np.float32)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _procedural(i: int, share: float) -> bool:
    """Whether train sequence i gets a dead-leaves scene: share of them, evenly spread."""
    return math.floor((i + 1) * share) > math.floor(i * share)


def load_cached(name: str, cache: dict[str, np.ndarray]) -> np.ndarray:
    """load_photo(name), each photo read once per render."""
    if name not in cache:
        cache[name] = load_photo(name)
    return cache[name]


def _train_pools(photos: dict[str, np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(colour photos, texture photos) of the train split: what procedural leaves are made of."""
    return (
        [load_cached(p, photos) for p in PHOTOS["train"]],
        [load_cached(p, photos) for p in TEXTURES["train"]],
    )


@dataclass(frozen=True)
class SequenceJob:
    """One sample sequence, drawn but not yet rendered: what a worker process needs."""

    split: str
    sequence: str
    scene: str  #: a photo's name, "dead_leaves" or "street"
    object_names: tuple[str, ...]
    content: Content
    rng: np.random.Generator  #: the sequence's stream, where plan_sequence takes it up
    scene_seed: tuple[int, ...] | None  #: the procedural scene's stream (None for a photo)
    frames: int
    width: int
    height: int


_PHOTOS: dict[str, np.ndarray] = {}  #: each process's photos, read once


def render_sequence(job: SequenceJob, out_dir: Path) -> int:
    """Render one job's frames into out_dir/SPLIT/SEQ/NNNNNN.png; return the frame count."""
    photos = _PHOTOS
    leaf_pools = _train_pools(photos)  # what every procedural leaf is coloured from
    # A procedural scene has its own stream and is 2.5 frames wide: the path fits.
    size = (round(2.5 * job.height), round(2.5 * job.width))
    if job.scene == "dead_leaves":
        scene_rng = np.random.default_rng(job.scene_seed)
        background = dead_leaves(
            scene_rng, *size, *leaf_pools, leaf_textures=job.content.leaf_textures
        )
    elif job.scene == "street":
        background = street_scene(np.random.default_rng(job.scene_seed), *size, *leaf_pools)
    else:
        background = load_cached(job.scene, photos)
    plan = plan_sequence(
        job.rng, background, [load_cached(p, photos) for p in job.object_names], job.frames,
        job.width, job.height, job.content, leaf_pools,
    )  # fmt: skip
    for t in range(job.frames):
        write_png(out_dir / job.split / job.sequence / f"{t:06d}.png", render_frame(plan, t))
    return job.frames


def plan_sample(sample: SampleParams, seed: int) -> list[SequenceJob]:
    """Every sample sequence's job, train then test, with all its draws but the plan's.

    Each sequence draws from its own streams (``[seed, split, 1 + i, ...]``): adding a test
    sequence never changes the training ones, and jobs render the same in any order.
    """
    jobs: list[SequenceJob] = []
    photos: dict[str, np.ndarray] = {}
    for split_id, (split, n_sequences) in enumerate(
        (("train", sample.train_sequences), ("test", sample.test_sequences))
    ):
        pool = train_photos(sample.photos) if split == "train" else PHOTOS[split]
        object_pool = pool + TEXTURES[split]
        order = np.random.default_rng([seed, split_id, 0]).permutation(len(pool))
        photo_sequences = 0  # train sequences not over dead leaves so far: streets take a share
        for i in range(n_sequences):
            rng = np.random.default_rng([seed, split_id, 1 + i])
            name = pool[order[i % len(pool)]]
            others = [p for p in object_pool if p != name] or [name]
            object_names = [others[int(rng.integers(len(others)))] for _ in range(sample.objects)]
            for photo in (name, *object_names):  # a missing photo stops here, before any work
                load_cached(photo, photos)
            content = Content()
            scene_seed = None
            if split == "train":  # the test split stays flat, rigid and plain: comparable
                # its own stream: a share of still cameras leaves every other draw as it was
                still = np.random.default_rng([seed, split_id, 1 + i, 2]).random()
                sway = np.random.default_rng([seed, split_id, 1 + i, 4]).random()
                content = Content(sample.depth_layers, sample.leaf_textures, sample.deform,
                                  still=bool(still < sample.still_camera),
                                  sway=bool(sway < sample.sway),
                                  camera_speed=sample.camera_speed,
                                  photo_zoom=sample.photo_zoom)  # fmt: skip
                if _procedural(i, sample.dead_leaves):
                    name, scene_seed = "dead_leaves", (seed, split_id, 1 + i, 1)
                else:
                    photo_sequences += 1
                    if sample.streets > 0 and _procedural(
                        photo_sequences - 1, sample.streets / (1.0 - sample.dead_leaves)
                    ):
                        name, scene_seed = "street", (seed, split_id, 1 + i, 3)
            if scene_seed is not None:  # drawn at their own scale: only movers zoom
                content = replace(content, zoom_background=False)
            jobs.append(
                SequenceJob(split, f"sample_{split}_{i:02d}", name, tuple(object_names), content,
                            rng, scene_seed, sample.frames, sample.width, sample.height)
            )  # fmt: skip
    return jobs


def render_sample(
    sample: SampleParams, seed: int, out_dir: Path, workers: int = 1
) -> dict[str, dict[str, int]]:
    """Render every sample sequence into out_dir/{train,test}/SEQ/NNNNNN.png.

    Sequences render in ``workers`` processes (inline when 1). Returns {split: {sequence:
    frames}}. The same seed gives byte-identical frames, whatever the worker count.
    """
    jobs = plan_sample(sample, seed)
    counts: dict[str, dict[str, int]] = {"train": {}, "test": {}}
    for job in jobs:
        counts[job.split][job.sequence] = job.frames
    for job, _ in run_jobs(partial(render_sequence, out_dir=out_dir), jobs, workers):
        log.info("%s/%s: %d frames, %s + %s", job.split, job.sequence, job.frames, job.scene,
                 ", ".join(job.object_names))  # fmt: skip
    return counts
