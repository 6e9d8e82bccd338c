"""The offline sample source: layout, determinism, GoPro-like sub-pixel motion, moving objects."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from deblurflow.metrics import psnr
from deblurflow.params import DataParams, Params, SampleParams
from deblurflow.real_pairs import find_pairs, load_pair
from deblurflow.sources import fetch_raw
from deblurflow.sources import sample as S

SMALL = SampleParams(train_sequences=2, test_sequences=1, frames=12, width=320, height=180)


def _render(root: Path, seed: int, sample: SampleParams = SMALL) -> tuple[Path, dict]:
    out = root / "raw"
    summary = fetch_raw(Params(seed=seed, data=DataParams(sample=sample)), out, root / "dl")
    return out, summary


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> tuple[Path, dict]:
    return _render(tmp_path_factory.mktemp("sample"), seed=0)


@pytest.fixture(scope="module")
def photos() -> dict[str, np.ndarray]:
    pools = [*S.PHOTOS.values(), *S.TEXTURES.values()]
    return {name: S.load_photo(name) for pool in pools for name in pool}


def _plan(photos, seed, background, obj, frames=40, width=320, height=180) -> S.SequencePlan:
    rng = np.random.default_rng(seed)
    return S.plan_sequence(rng, photos[background], [photos[obj]], frames, width, height)


def _gray(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)


def _best_shift(f0, f1, centre, radius, search=16) -> tuple[np.ndarray, dict]:
    """Integer block matching of the disc around centre: the shift d with f1(x + d) ~ f0(x).

    Returns the best shift and the mean absolute residual of every shift tried.
    """
    h, w = f0.shape
    ys, xs = np.mgrid[0:h, 0:w]
    disc = (xs - centre[0]) ** 2 + (ys - centre[1]) ** 2 <= radius**2
    py, px = ys[disc], xs[disc]
    residual = {}
    for dy in range(-search, search + 1):
        for dx in range(-search, search + 1):
            y1, x1 = py + dy, px + dx
            if y1.min() < 0 or x1.min() < 0 or y1.max() >= h or x1.max() >= w:
                continue
            residual[(dx, dy)] = float(np.abs(f1[y1, x1] - f0[py, px]).mean())
    best = min(residual, key=residual.get)
    return np.array(best, dtype=float), residual


def _camera_shift(plan: S.SequencePlan, t0: int, t1: int, point: np.ndarray) -> np.ndarray:
    """Where the background under frame pixel `point` at t0 appears at t1, minus point."""
    a0, a1 = plan.frame_to_background(t0), plan.frame_to_background(t1)
    in_background = a0[:, :2] @ point + a0[:, 2]
    back = np.linalg.solve(a1[:, :2], in_background - a1[:, 2])
    return back - point


def test_layout_names_and_summary(rendered):
    out, summary = rendered
    assert sorted(p.name for p in out.iterdir()) == ["source.json", "test", "train"]
    assert sorted(p.name for p in (out / "train").iterdir()) == [
        "sample_train_00",
        "sample_train_01",
    ]
    assert sorted(p.name for p in (out / "test").iterdir()) == ["sample_test_00"]
    for seq in [*(out / "train").iterdir(), *(out / "test").iterdir()]:
        assert sorted(p.name for p in seq.iterdir()) == [f"{i:06d}.png" for i in range(12)]
    assert json.loads((out / "source.json").read_text()) == summary
    assert summary["source"] == "sample"
    assert summary["frames"] == {"train": 24, "test": 12}
    assert summary["sequences"]["test"] == ["sample_test_00"]
    assert not list(out.parent.glob(".raw.*")), "the temp folder was left behind"


def test_frames_are_8bit_rgb_colour(rendered):
    out, _ = rendered
    for path in sorted(out.glob("*/*/*.png")):
        img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        assert img.dtype == np.uint8 and img.shape == (180, 320, 3), path
    # Real colour photos: the channels are not copies of one another.
    img = cv2.imread(str(out / "train" / "sample_train_00" / "000000.png"))
    assert np.abs(img[:, :, 0].astype(int) - img[:, :, 2]).mean() > 5


def test_same_seed_same_bytes_other_seed_differs(rendered, tmp_path):
    out, _ = rendered
    again, _ = _render(tmp_path / "again", seed=0)
    other, _ = _render(tmp_path / "other", seed=1)
    files = sorted(p.relative_to(out) for p in out.glob("*/*/*.png"))
    assert files == sorted(p.relative_to(again) for p in again.glob("*/*/*.png"))
    for rel in files:
        assert (out / rel).read_bytes() == (again / rel).read_bytes(), rel
    differ = [rel for rel in files if (out / rel).read_bytes() != (other / rel).read_bytes()]
    assert len(differ) == len(files)


def test_no_black_borders(rendered):
    """No all-zero row or column at the edges (the photos themselves have some black pixels)."""
    out, _ = rendered
    for path in sorted(out.glob("*/*/*.png")):
        img = cv2.imread(str(path))
        edges = [img[0], img[-1], img[:, 0], img[:, -1], img[1], img[-2], img[:, 1], img[:, -2]]
        for edge in edges:
            assert edge.max() > 0, f"{path}: an all-black edge row or column"


@pytest.mark.parametrize("size", [(320, 180), (64, 256), (1280, 720), (48, 32)])
def test_view_stays_inside_the_photo(photos, size):
    """Geometry, for any frame size: every corner of every frame maps inside the background."""
    width, height = size
    for seed in range(4):
        plan = _plan(photos, seed, "rocket", "chelsea", frames=63, width=width, height=height)
        bh, bw = plan.background.shape[:2]
        corners = np.array([[0, 0], [width - 1, 0], [0, height - 1], [width - 1, height - 1]])
        for t in range(63):
            a = plan.frame_to_background(t)
            mapped = corners @ a[:, :2].T + a[:, 2]
            # The bicubic kernel reaches 2 px beyond the sampled point.
            assert mapped.min() >= 2 and mapped[:, 0].max() <= bw - 3, (seed, t, mapped)
            assert mapped[:, 1].max() <= bh - 3, (seed, t, mapped)


def test_consecutive_frames_differ_by_small_subpixel_motion(rendered, photos):
    out, _ = rendered
    frames = [_gray(cv2.imread(str(p))[:, :, ::-1]) for p in sorted(out.glob("train/*_00/*.png"))]
    diffs = [np.abs(b - a).mean() for a, b in zip(frames, frames[1:])]
    assert min(diffs) > 0.2, "consecutive frames must not be identical"
    assert max(diffs) < 20, "consecutive frames at 240 fps must be near duplicates"

    plan = _plan(photos, 3, "astronaut", "coffee")
    step = np.linalg.norm(np.diff(plan.camera[:, :2], axis=0), axis=1)
    assert 0.05 < step.min() and step.max() < 4.0
    fractions = np.modf(np.abs(np.diff(plan.camera[:, :2], axis=0)))[0]
    assert ((fractions > 0.05) & (fractions < 0.95)).mean() > 0.5, "motion should be sub-pixel"
    # Measured on the pixels: a background block moves by at most a couple of pixels per frame.
    f0, f1 = (_gray(S.render_frame(plan, t)) for t in (20, 21))
    far = _far_from_objects(plan, [20, 21])
    shift, _ = _best_shift(f0, f1, far, radius=24, search=6)
    assert np.abs(shift).max() <= 3


def test_blur_extent_resembles_gopro(photos):
    """A 7-frame average spans 6 frame steps: about 3-15 px at 320 px width, scaling with it."""
    for width, height in [(320, 180), (1280, 720)]:
        extents = []
        for seed in range(6):
            plan = _plan(photos, seed, "coffee", "astronaut", 63, width, height)
            extents.append(np.linalg.norm(plan.camera[6:, :2] - plan.camera[:-6, :2], axis=1))
        median = np.median(np.concatenate(extents)) * 320 / width
        assert 3 <= median <= 15, (width, median)


def _far_from_objects(plan: S.SequencePlan, times: list[int]) -> np.ndarray:
    """A frame point at least 40 px from the frame edge, as far as possible from every object."""
    candidates = [
        np.array([x, y])
        for y in range(40, plan.height - 39, 5)
        for x in range(40, plan.width - 39, 5)
    ]
    centres = [path[t, :2] for path in plan.objects for t in times]
    return max(candidates, key=lambda q: min(np.linalg.norm(q - c) for c in centres))


@pytest.mark.parametrize("seed", range(4))
def test_object_moves_independently_of_the_background(photos, seed):
    """Block matching on rendered pixels finds two different motions: blur is non-uniform."""
    background, obj = (("chelsea", "rocket"), ("coffee", "motorcycle"))[seed % 2]
    plan = _plan(photos, 10 + seed, background, obj)
    t0, t1 = 10, 15
    f0, f1 = _gray(S.render_frame(plan, t0)), _gray(S.render_frame(plan, t1))

    centre = plan.objects[0][t0, :2]
    object_planned = plan.objects[0][t1, :2] - centre
    camera_at_object = _camera_shift(plan, t0, t1, centre)
    assert np.linalg.norm(object_planned - camera_at_object) > 3, (
        "pick a seed with distinct motions"
    )

    # A disc well inside the soft elliptical mask holds object pixels only.
    radius = 0.25 * min(plan.sprites[0].alpha.shape)
    object_measured, residual = _best_shift(f0, f1, centre, radius)
    assert np.linalg.norm(object_measured - object_planned) <= 1.5
    # The camera's motion does not explain the object's pixels...
    camera_guess = tuple(int(v) for v in np.round(camera_at_object))
    assert residual[tuple(int(v) for v in object_measured)] < 0.5 * residual[camera_guess]

    # ...while it does explain the background far from the object.
    far = _far_from_objects(plan, [t0, t1])
    background_measured, _ = _best_shift(f0, f1, far, radius=24)
    assert np.linalg.norm(background_measured - _camera_shift(plan, t0, t1, far)) <= 1.5
    assert np.linalg.norm(background_measured - object_measured) > 2


def test_objects_param_adds_moving_objects(photos):
    rng = np.random.default_rng(0)
    plan = S.plan_sequence(rng, photos["rocket"], [photos["chelsea"]] * 3, 8, 160, 96)
    assert len(plan.sprites) == len(plan.objects) == 3
    with_objects = S.render_frame(plan, 4)
    without = S.render_frame(
        S.SequencePlan(plan.background, plan.camera, (), (), plan.width, plan.height), 4
    )
    assert with_objects.shape == without.shape == (96, 160, 3)
    covered = np.abs(with_objects.astype(int) - without).max(axis=-1) > 10
    assert covered.mean() > 0.05, "the objects must cover part of the frame"
    assert covered.mean() < 0.9, "the background must stay visible"


def test_train_and_test_photos_are_disjoint_and_bundled(photos):
    train = set(S.PHOTOS["train"]) | set(S.TEXTURES["train"])
    assert not train & (set(S.PHOTOS["test"]) | set(S.TEXTURES["test"]))
    # Every bundled photo of at least 256 px but the test ones: 12 from scikit-image, and
    # scikit-learn's two (china, flower).
    assert len(train) == 16
    for name, photo in photos.items():
        assert photo.dtype == np.uint8 and photo.ndim == 3 and photo.shape[2] == 3, name
        assert min(photo.shape[:2]) >= 256, name


def test_sprite_mask_is_soft_and_inside_the_patch():
    rng = np.random.default_rng(0)
    photo = np.random.default_rng(1).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    sprite = S._sprite(rng, photo, 180)
    h, w = sprite.alpha.shape
    assert sprite.rgb.shape == (h, w, 3)
    assert sprite.alpha[h // 2, w // 2] == pytest.approx(1.0, abs=1e-3)
    border = np.concatenate(
        [sprite.alpha[0], sprite.alpha[-1], sprite.alpha[:, 0], sprite.alpha[:, -1]]
    )
    assert border.max() < 0.02, "the mask fades out before the patch edge"
    partial = ((sprite.alpha > 0.05) & (sprite.alpha < 0.95)).sum()
    assert partial > 2 * math.pi * 0.38 * min(h, w) * 0.5, "the edge should be soft, not cut out"


def test_sensor_noise_is_per_frame_with_the_planned_sigma(photos):
    plan = _plan(photos, 3, "coffee", "brick", frames=8)
    assert S.NOISE_SIGMA[0] <= plan.noise_sigma <= S.NOISE_SIGMA[1]
    clean = dataclasses.replace(plan, noise_sigma=0.0)
    noise = [S.render_frame(plan, t).astype(float) - S.render_frame(clean, t) for t in (2, 3)]
    for n in noise:
        # Rounding and clipping aside, the difference is the planned Gaussian noise.
        assert abs(n.std() - math.hypot(plan.noise_sigma, 0.29)) < 0.15, n.std()
    # Independent from frame to frame: averaging M frames lowers it (the synthesize stage).
    assert abs(np.corrcoef(noise[0].ravel(), noise[1].ravel())[0, 1]) < 0.02
    assert np.array_equal(S.render_frame(plan, 2), S.render_frame(plan, 2))  # deterministic


def test_objects_may_come_from_grayscale_textures(photos):
    texture = photos["grass"]
    assert np.array_equal(texture[:, :, 0], texture[:, :, 2])  # gray, replicated
    plan = _plan(photos, 0, "coffee", "grass")
    sprite = plan.sprites[0].rgb
    assert np.array_equal(sprite[:, :, 0], sprite[:, :, 1])


# Depth layers, textured leaves and deforming movers (train split only).
CONTENT = dataclasses.replace(
    SMALL, frames=6, width=96, height=54, dead_leaves=0.5, depth_layers=2, leaf_textures=0.5,
    deform=0.2,
)  # fmt: skip


def test_content_changes_train_frames_and_leaves_the_test_split_byte_identical(tmp_path):
    flat = dataclasses.replace(CONTENT, depth_layers=0, leaf_textures=0.0, deform=0.0)
    plain_raw, _ = _render(tmp_path / "plain", seed=0, sample=flat)
    rich_raw, _ = _render(tmp_path / "rich", seed=0, sample=CONTENT)
    for split, same in (("test", True), ("train", False)):
        for seq in sorted(p.name for p in (plain_raw / split).iterdir()):
            a = (plain_raw / split / seq / "000005.png").read_bytes()
            b = (rich_raw / split / seq / "000005.png").read_bytes()
            assert (a == b) is same, (split, seq)


def test_depth_layers_move_with_parallax(photos):
    rng = np.random.default_rng(4)
    content = S.Content(depth_layers=2, leaf_textures=0.3)
    leaves = ([photos["coffee"]], [photos["brick"]])
    plan = S.plan_sequence(
        rng, photos["astronaut"], [photos["coins"]], 30, 160, 90, content, leaves
    )
    assert len(plan.layers) == 2
    camera = plan.camera[:, :2] - plan.camera[0, :2]
    ratios = []
    for layer in plan.layers:
        moved = layer.camera[:, :2] - layer.camera[0, :2]
        ratio = np.linalg.norm(moved[-1]) / np.linalg.norm(camera[-1])
        np.testing.assert_allclose(moved, camera * ratio, atol=1e-9)  # same path, scaled
        np.testing.assert_array_equal(layer.camera[:, 2], plan.camera[:, 2])  # same roll
        assert layer.alpha.shape == layer.rgb.shape[:2]
        assert 0.02 < layer.alpha.mean() < 0.6  # sparse: the background shows through
        ratios.append(ratio)
    assert S.PARALLAX[0] <= ratios[0] <= ratios[1] <= S.PARALLAX[1]  # farthest first
    # The nearest layer's leaves, seen in the frame, move `ratio` times the background.
    frame = S.render_frame(plan, 0)
    flat = dataclasses.replace(plan, layers=())
    assert np.abs(frame.astype(int) - S.render_frame(flat, 0)).mean() > 1


def test_deforming_movers_change_size_and_shear(photos):
    rng = np.random.default_rng(2)
    plan = S.plan_sequence(
        rng, photos["astronaut"], [photos["coins"]], 40, 160, 90, S.Content(deform=0.2)
    )
    path = plan.objects[0]
    assert path.shape == (40, 5)
    assert np.abs(path[:, 3] - 1).max() == pytest.approx(0.2, abs=1e-6) or np.abs(
        path[:, 4]
    ).max() == pytest.approx(0.2, abs=1e-6)
    assert np.all(np.abs(path[:, 3] - 1) <= 0.2 + 1e-9) and np.all(np.abs(path[:, 4]) <= 0.2 + 1e-9)
    # A sprite scaled by s covers s^2 the area: the mask's footprint follows the scale.
    sprite = plan.sprites[0]
    areas = []
    for t in (int(np.argmin(path[:, 3])), int(np.argmax(path[:, 3]))):
        pose = path[t].copy()
        pose[4] = 0.0  # no shear: area depends on the scale alone
        alpha = cv2.warpAffine(
            sprite.alpha, S._to_sprite(sprite, pose), (160, 90),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        )  # fmt: skip
        areas.append((alpha.sum(), pose[3]))
    (a0, s0), (a1, s1) = areas
    assert a1 / a0 == pytest.approx((s1 / s0) ** 2, rel=0.05)


def test_textured_leaves_add_fine_periodic_detail():
    from deblurflow.sources.dead_leaves import procedural_texture

    a, b = np.array([0, 0, 0], np.float32), np.array([200, 100, 50], np.float32)
    textures = [procedural_texture(np.random.default_rng(s), 40, 50, a, b) for s in range(12)]
    for tex in textures:
        assert tex.shape == (40, 50, 3)
        assert tex.min() >= -1e-3 and tex[..., 0].max() <= 200 + 1e-3
        # Two colours mixed: every pixel lies on the segment from a to b.
        np.testing.assert_allclose(tex[..., 1] * 2, tex[..., 0], atol=1e-3)
        assert tex[..., 0].std() > 20  # not flat


# A still camera (train split only): only the movers blur.
def test_a_still_camera_keeps_the_background_and_moves_only_the_movers(photos):
    moving = S.plan_sequence(np.random.default_rng(3), photos["astronaut"], [photos["coins"]],
                             12, 160, 90)  # fmt: skip
    still = S.plan_sequence(np.random.default_rng(3), photos["astronaut"], [photos["coins"]],
                            12, 160, 90, S.Content(still=True))  # fmt: skip
    assert np.all(still.camera == moving.camera[0])  # the first pose, held
    np.testing.assert_array_equal(still.objects[0], moving.objects[0])  # the same mover
    quiet = [dataclasses.replace(p, noise_sigma=0.0) for p in (moving, still)]
    (m0, m9), (s0, s9) = ([S.render_frame(p, t).astype(int) for t in (0, 9)] for p in quiet)
    changed = np.abs(s9 - s0).max(axis=2) > 0
    assert 0.01 < changed.mean() < 0.4  # the mover's footprint, not the frame
    assert (np.abs(m9 - m0).max(axis=2) > 0).mean() > 0.9  # a moving camera shifts everything
    np.testing.assert_array_equal(s0, m0)  # frame 0 is the same picture


def test_still_camera_changes_train_sequences_only(tmp_path):
    plain = dataclasses.replace(SMALL, frames=6, width=96, height=54, train_sequences=3)
    plain_raw, _ = _render(tmp_path / "plain", seed=0, sample=plain)
    off_raw, _ = _render(
        tmp_path / "off", seed=0, sample=dataclasses.replace(plain, still_camera=0.0)
    )
    still_raw, _ = _render(tmp_path / "still", seed=0,
                           sample=dataclasses.replace(plain, still_camera=1.0))  # fmt: skip
    for split, same in (("test", True), ("train", False)):
        for seq in sorted(p.name for p in (plain_raw / split).iterdir()):
            a = (plain_raw / split / seq / "000005.png").read_bytes()
            assert (off_raw / split / seq / "000005.png").read_bytes() == a
            assert ((still_raw / split / seq / "000005.png").read_bytes() == a) is same, seq


def test_camera_speed_sets_how_far_the_train_camera_moves(photos):
    def travel(speeds):
        rng = np.random.default_rng(5)
        content = S.Content(camera_speed=speeds)
        plan = S.plan_sequence(rng, photos["astronaut"], [photos["coins"]], 30, 320, 180, content)
        return np.linalg.norm(np.diff(plan.camera[:, :2], axis=0), axis=1).mean(), plan

    # one uniform draw u in [0, 1) decides the speed: low + u (high - low), the path's mean
    # speed per frame (the background is scaled 1:1 to frame pixels)
    (slow, a), (fast, b) = travel((0.5, 0.5)), travel((3.0, 3.0))
    assert slow == pytest.approx(0.5, rel=1e-6) and fast == pytest.approx(3.0, rel=1e-6)
    np.testing.assert_array_equal(a.objects[0], b.objects[0])  # later draws are unchanged


@pytest.mark.parametrize(
    "change", [{"camera_speed": (3.0, 4.0)}, {"photo_zoom": (1.0, 1.25)}, {"sway": 1.0}]
)
def test_content_params_change_train_sequences_only(tmp_path, change):
    plain = dataclasses.replace(SMALL, frames=6, width=96, height=54)
    plain_raw, _ = _render(tmp_path / "plain", seed=0, sample=plain)
    changed_raw, _ = _render(tmp_path / "changed", seed=0,
                             sample=dataclasses.replace(plain, **change))  # fmt: skip
    for split, same in (("test", True), ("train", False)):
        for seq in sorted(p.name for p in (plain_raw / split).iterdir()):
            a = (plain_raw / split / seq / "000005.png").read_bytes()
            assert ((changed_raw / split / seq / "000005.png").read_bytes() == a) is same, seq


def test_photo_zoom_sees_the_photos_at_that_scale(photos):
    # A ramp that rises by 1 per photo px: at zoom z it rises by 1/z per frame px.
    ramp = np.repeat(np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], 256, 0), 3, 2)

    def plan(zooms):
        content = S.Content(camera_speed=(0.5, 0.5), photo_zoom=zooms)
        return S.plan_sequence(np.random.default_rng(3), ramp, [ramp], 12, 96, 54, content)

    for zoom in (1.0, 2.0):
        p = plan((zoom, zoom))
        assert p.background.shape[:2] == (256 * zoom, 256 * zoom)
        sprite = p.sprites[0].rgb[..., 0].astype(np.float64)
        # interior steps only: INTER_CUBIC rings where the ramp is clipped at 0 and 255
        assert np.median(np.diff(sprite, axis=1)) == pytest.approx(1 / zoom, abs=0.01)
    # Too little zoom to cover the path is raised to the cover zoom: no black borders.
    tight = S.plan_sequence(
        np.random.default_rng(3), photos["astronaut"], [photos["coins"]], 12, 320, 180,
        S.Content(photo_zoom=(0.1, 0.1)),
    )  # fmt: skip
    assert 320 < tight.background.shape[1] < 0.75 * photos["astronaut"].shape[1]
    assert render_is_covered(tight)
    # off: today's draw, a photo scaled just enough to cover the path
    assert plan(None).background.shape[0] < 256


def render_is_covered(plan) -> bool:
    """No frame of the plan shows a black border (rows or columns of zeros)."""
    frames = [S.render_frame(plan, t) for t in (0, plan.camera.shape[0] - 1)]
    return all(f[:, :3].max() > 0 and f[:3].max() > 0 and f[-3:].max() > 0 for f in frames)


def test_a_uniform_sway_is_a_shift_of_the_view(photos):
    """The sway's resampling against warpAffine: a sway field that is the same everywhere
    moves the whole frame as the camera moving the other way would."""
    rigid = S.plan_sequence(np.random.default_rng(0), photos["astronaut"], [], 5, 160, 90)
    rigid = dataclasses.replace(rigid, noise_sigma=0.0)
    field = np.zeros((*rigid.background.shape[:2], 2), np.float32)
    field[..., 0], field[..., 1] = 2.5, -1.25
    swayed = dataclasses.replace(rigid, sway=S.Sway(field, omega=0.0, phase=math.pi / 2))
    camera = rigid.camera.copy()
    camera[:, 0] += 2.5
    camera[:, 1] -= 1.25
    moved = dataclasses.replace(rigid, camera=camera)
    got, want = S.render_frame(swayed, 2), S.render_frame(moved, 2)
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 1
    assert np.abs(got.astype(int) - S.render_frame(rigid, 2).astype(int)).mean() > 3


def test_sway_moves_parts_of_a_still_scene(photos):
    def plan(sway):
        content = S.Content(still=True, sway=sway)
        p = S.plan_sequence(np.random.default_rng(4), photos["astronaut"], [photos["coins"]],
                            35, 320, 180, content)  # fmt: skip
        return dataclasses.replace(p, noise_sigma=0.0, sprites=(), objects=())

    rigid, swaying = plan(False), plan(True)
    assert rigid.sway is None
    np.testing.assert_array_equal(rigid.camera, swaying.camera)  # the sway draws come last
    # A still camera: frames differ only where the background sways, and not everywhere.
    a, b = (S.render_frame(swaying, t).astype(int) for t in (0, 20))
    np.testing.assert_array_equal(S.render_frame(rigid, 0), S.render_frame(rigid, 20))
    moved = np.abs(a - b).max(axis=2) > 8
    assert 0.02 < moved.mean() < 0.9
    # Its speed at the peak is in SWAY_SPEED (px per frame at 320 px).
    peak = np.linalg.norm(swaying.sway.field, axis=2).max() * swaying.sway.omega
    assert S.SWAY_SPEED[0] * 0.9 <= peak <= S.SWAY_SPEED[1]


def test_gopro_scenes_are_the_ten_bundled_street_frames():
    assert S.train_photos("scikit") == S.PHOTOS["train"]
    scenes = S.train_photos("gopro")
    assert scenes == tuple(
        f"gopro/{n}" for n in ("seq11_frame1", "seq2_frame8", "seq3_frame1", "seq5_frame2",
                               "seq6_frame8", "sharp01", "sharp02", "sharp03", "sharp04",
                               "sharp05")
    )  # fmt: skip
    assert S.train_photos("both") == S.PHOTOS["train"] + scenes
    folder = S.from_root(S.SCENES_DIR)
    for name in scenes:
        photo = S.load_photo(name)
        file = cv2.imread(str(folder / f"{name.removeprefix('gopro/')}.png"))
        assert photo.shape == (360, 640, 3) and photo.dtype == np.uint8
        np.testing.assert_array_equal(photo, file[:, :, ::-1])  # RGB of the file's BGR


def _same_scene_matches(a: np.ndarray, b: np.ndarray) -> int:
    """ORB keypoint matches between two RGB frames that one homography explains (RANSAC, 3 px):
    a view of the same scene a moment apart keeps tens to hundreds, another scene under 15."""
    orb = cv2.ORB_create(2000)
    (ka, da), (kb, db) = (orb.detectAndCompute(cv2.cvtColor(x, cv2.COLOR_RGB2GRAY), None)
                          for x in (a, b))  # fmt: skip
    matches = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True).match(da, db)
    if len(matches) < 4:
        return 0
    pa = np.float32([ka[m.queryIdx].pt for m in matches])
    pb = np.float32([kb[m.trainIdx].pt for m in matches])
    _, inliers = cv2.findHomography(pa, pb, cv2.RANSAC, 3.0)
    return 0 if inliers is None else int(inliers.sum())


@pytest.fixture(scope="module")
def scored_pairs() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{name: (blur, sharp)} of the scored real pairs at evaluate's 640x360, read once."""
    return {p.name: load_pair(p, 640) for p in find_pairs(S.from_root("data/real/gopro-real"))}


def test_gopro_scenes_are_not_the_scored_pairs_scenes(scored_pairs):
    """A scene of a scored pair would be training on the score: every scene is far from both
    frames of both pairs in pixels (the left-out Istanbul example scores 13.4 dB on its blurred
    frame) and in geometry (Istanbul's sequence 13 frames later, which scores under 13 dB,
    keeps 96 and 307 keypoint matches on Istanbul's two frames)."""
    frames = [f for pair in scored_pairs.values() for f in pair]  # both frames of both pairs
    assert len(frames) == 4
    for name in S.train_photos("gopro"):
        scene = S.load_photo(name)
        for i, frame in enumerate(frames):
            score, matches = psnr(frame, scene), _same_scene_matches(scene, frame)
            assert score < 13.0 and matches < 30, (name, i, score, matches)


def test_same_scene_matches_tell_a_moved_view_from_another_scene(scored_pairs):
    """The geometric check above, on frames whose answer is known: Istanbul's blurred frame
    against its sharp frame, and against a shifted, slightly zoomed view of that sharp frame."""
    blur, sharp = scored_pairs["Istanbul"]
    moved = cv2.warpAffine(sharp, np.float32([[1.05, 0, -40], [0, 1.05, -12]]), (640, 360))
    other = S.load_photo(S.train_photos("gopro")[0])
    assert _same_scene_matches(blur, sharp) >= 100
    assert _same_scene_matches(moved, blur) >= 30
    assert _same_scene_matches(other, blur) < 30


def test_photos_gopro_changes_train_photo_sequences_and_leaves_the_test_split(tmp_path):
    scikit_raw, scikit = _render(tmp_path / "scikit", 0, SMALL)
    gopro_raw, gopro = _render(tmp_path / "gopro", 0, dataclasses.replace(SMALL, photos="gopro"))
    assert scikit["photos"]["train"] == list(S.PHOTOS["train"])
    assert gopro["photos"]["train"] == list(S.train_photos("gopro"))
    assert gopro["photos"]["test"] == scikit["photos"]["test"] == list(S.PHOTOS["test"])
    for split, seq, same in (("test", "sample_test_00", True), ("train", "sample_train_00", False),
                             ("train", "sample_train_01", False)):  # fmt: skip
        a = (scikit_raw / split / seq / "000005.png").read_bytes()
        b = (gopro_raw / split / seq / "000005.png").read_bytes()
        assert (a == b) is same, (split, seq)


def test_missing_gopro_scenes_are_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(S, "SCENES_DIR", str(tmp_path / "gopro-scenes"))
    (tmp_path / "gopro-scenes").mkdir()
    with pytest.raises(S.SourceError, match=r"data.sample.photos needs the GoPro scenes in .*"
                                            r"gopro-scenes, which holds no PNG"):  # fmt: skip
        S.train_photos("gopro")
    (tmp_path / "gopro-scenes" / "seq1.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(S.SourceError, match=r"GoPro scene 'gopro/seq1': .*cannot decode"):
        S.load_photo(S.train_photos("gopro")[0])


def test_sequences_render_the_same_bytes_in_parallel_processes(tmp_path):
    # Every kind of sequence: photos, dead leaves, streets, depth layers, sway, a still camera.
    sample = dataclasses.replace(SMALL, train_sequences=4, test_sequences=1, frames=6,
                                 width=96, height=64, dead_leaves=0.5, streets=0.25,
                                 depth_layers=1, sway=0.5, still_camera=0.5)  # fmt: skip
    jobs = S.plan_sample(sample, seed=3)
    assert [j.scene for j in jobs] == ["china", "dead_leaves", "street", "dead_leaves", "chelsea"]
    assert [(j.content.still, j.content.sway) for j in jobs[:3]] == [
        (False, False), (True, True), (True, False)
    ]  # fmt: skip
    inline = S.render_sample(sample, 3, tmp_path / "inline", workers=1)
    parallel = S.render_sample(sample, 3, tmp_path / "parallel", workers=2)
    assert (
        inline
        == parallel
        == {
            "train": {f"sample_train_{i:02d}": 6 for i in range(4)},
            "test": {"sample_test_00": 6},
        }
    )
    files = sorted(p.relative_to(tmp_path / "inline") for p in (tmp_path / "inline").rglob("*.png"))
    assert len(files) == 5 * 6
    for rel in files:
        assert (tmp_path / "inline" / rel).read_bytes() == (
            tmp_path / "parallel" / rel
        ).read_bytes()
