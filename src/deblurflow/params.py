"""params.yaml -> typed, frozen dataclasses, validated before any work starts.

Every section of params.yaml has a dataclass here. A misspelled key, a wrong type or an
out-of-range value raises one ``ParamsError`` naming the full key (``train.lr_g``), so
``dvc exp run -S trian.lr_g=1e-3`` fails at once instead of training with the default.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from .typed_config import ParamsError, build, flatten, to_dict
from .typed_config import check as _check

__all__ = [
    "BlurParams", "DataParams", "EvaluateParams", "ModelParams", "Params", "ParamsError",
    "PrepareParams", "SampleParams", "SelectParams", "TrainParams",
    "flatten", "load_params", "parse_params", "to_dict",
]  # fmt: skip


@dataclass(frozen=True)
class SampleParams:
    """The offline sample: GoPro-like 240 fps sequences rendered from scikit-image's photos."""

    train_sequences: int = 4
    test_sequences: int = 2
    frames: int = 63  #: frames per sequence, at 240 fps
    width: int = 320
    height: int = 180
    objects: int = 1  #: independently moving objects per sequence (at least one)
    dead_leaves: float = 0.0  #: share of train sequences over a procedural dead-leaves scene
    #: share of train sequences over a procedural street scene (facades, signs, paving, people);
    #: dead_leaves + streets <= 1, the rest look at the bundled photos
    streets: float = 0.0
    #: train sequences: depth layers in front of the background (0 = a flat scene). Each layer
    #: is a sparse cloud of leaves nearer the camera, so it moves faster than the background
    #: (parallax), as a hand-held camera sees a street.
    depth_layers: int = 0
    #: share of the dead-leaves shapes filled with a procedural texture (gratings, fine noise,
    #: stripes) instead of a flat colour or a photo patch; 0 keeps today's leaves
    leaf_textures: float = 0.0
    #: train sequences: movers change their size and shear over time (deforming, turning
    #: objects) by up to this share (0 = rigid movers)
    deform: float = 0.0
    #: share of train sequences whose camera stands still: only the movers blur, the rest of
    #: the frame stays sharp (0 = every camera moves)
    still_camera: float = 0.0
    #: train sequences: the range the mean camera speed is drawn from, in px per 240 fps frame
    #: at 320 px width (scaled with the width); a 7-frame average smears about 6x that
    camera_speed: tuple[float, float] = (0.3, 2.0)
    #: what the train split's photo sequences look at: scikit (scikit-image's photos), gopro
    #: (real GoPro street frames in data/real/gopro-scenes) or both; the test split keeps its own
    photos: Literal["scikit", "gopro", "both"] = "scikit"
    #: train sequences: the scale the photos are seen at, frame px per photo px, drawn in
    #: [low, high] (at least what covers the camera's path); null = as little zoom as covers
    #: the path (a 640 px photo is seen at about 0.5-0.7 in a 320 px frame)
    photo_zoom: tuple[float, float] | None = None
    #: share of train sequences whose background sways in parts (foliage, flowers in the
    #: wind): non-rigid blur that changes direction and length within the frame (0 = rigid)
    sway: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "camera_speed", tuple(self.camera_speed))
        if self.photo_zoom is not None:
            object.__setattr__(self, "photo_zoom", tuple(self.photo_zoom))
        _check(
            self.train_sequences >= 2,
            "data.sample.train_sequences",
            "must be >= 2 (one is kept for validation)",
        )
        _check(self.test_sequences >= 1, "data.sample.test_sequences", "must be >= 1")
        _check(self.frames >= 3, "data.sample.frames", "must be >= 3")
        _check(32 <= self.width <= 4096, "data.sample.width", "must be in [32, 4096]")
        _check(32 <= self.height <= 4096, "data.sample.height", "must be in [32, 4096]")
        _check(self.objects >= 1, "data.sample.objects", "must be >= 1")
        _check(0.0 <= self.dead_leaves <= 1.0, "data.sample.dead_leaves", "must be in [0, 1]")
        _check(0.0 <= self.streets <= 1.0, "data.sample.streets", "must be in [0, 1]")
        _check(
            self.dead_leaves + self.streets <= 1.0,
            "data.sample.streets",
            f"plus data.sample.dead_leaves ({self.dead_leaves}) must be <= 1",
        )
        _check(0 <= self.depth_layers <= 4, "data.sample.depth_layers", "must be in [0, 4]")
        _check(0.0 <= self.leaf_textures <= 1.0, "data.sample.leaf_textures", "must be in [0, 1]")
        _check(0.0 <= self.deform <= 0.5, "data.sample.deform", "must be in [0, 0.5]")
        _check(0.0 <= self.still_camera <= 1.0, "data.sample.still_camera", "must be in [0, 1]")
        _check(0.0 <= self.sway <= 1.0, "data.sample.sway", "must be in [0, 1]")
        lo_hi = self.camera_speed
        _check(
            len(lo_hi) == 2 and 0.0 <= lo_hi[0] <= lo_hi[1] <= 10.0,
            "data.sample.camera_speed",
            "must be [low, high] with 0 <= low <= high <= 10 (px per frame at 320 px)",
        )
        zooms = self.photo_zoom
        _check(
            zooms is None or (len(zooms) == 2 and 0.1 <= zooms[0] <= zooms[1] <= 4.0),
            "data.sample.photo_zoom",
            "must be null or [low, high] with 0.1 <= low <= high <= 4 (frame px per photo px)",
        )


@dataclass(frozen=True)
class DataParams:
    """Where raw high-frame-rate frames come from (download stage)."""

    source: Literal["sample", "gopro", "folder", "video"] = "sample"
    url: str | None = None  #: direct http(s)/file URL of GOPRO_Large_all.zip (source 'gopro')
    archive: str | None = None  #: a local GOPRO_Large_all.zip; used instead of downloading
    folder: str | None = None  #: source 'folder': PATH/{train,test}/SEQ/*.png or PATH/SEQ/*.png
    sha256: str | None = None  #: expected sha256 of the archive (checked when set)
    #: source 'video': a folder of .mp4/.mov/.mkv clips (or {train,test}/ of them); one clip =
    #: one sequence. The download stage lists it in its deps, so adding a clip reruns it.
    videos: str = "data/videos"
    allow_low_fps: bool = False  #: source 'video': accept clips under 60 fps (not GoPro-like)
    test_fraction: float = 0.3  #: folder or videos without train/test: share of sequences for test
    sample: SampleParams = field(default_factory=SampleParams)

    def __post_init__(self) -> None:
        if self.url is not None:
            _check(
                self.url.split("://", 1)[0] in ("http", "https", "file"),
                "data.url",
                f"must be an http, https or file URL, got {self.url!r}",
            )
        _check(
            self.source != "gopro" or bool(self.url or self.archive),
            "data.url",
            "or data.archive must be set when data.source is 'gopro'",
        )
        if self.sha256 is not None:
            ok = len(self.sha256) == 64 and all(c in "0123456789abcdefABCDEF" for c in self.sha256)
            _check(ok, "data.sha256", "must be 64 hex digits")
        _check(
            self.source != "folder" or bool(self.folder),
            "data.folder",
            "must be set when data.source is 'folder'",
        )
        _check(bool(self.videos), "data.videos", "must name a file or folder of videos")
        _check(0.0 < self.test_fraction < 1.0, "data.test_fraction", "must be in (0, 1)")


@dataclass(frozen=True)
class BlurParams:
    """GoPro blur synthesis by averaging M consecutive frames (Nah et al. 2017)."""

    #: M, odd; 'auto' reads it from GoPro names (GOPR0372_07_00 -> 7); null = from exposure_ms
    frames: int | Literal["auto"] | None = 7
    #: exposure time in ms: M = the odd frame count closest to exposure x fps, per sequence
    #: (240 fps x 30 ms -> 7), so clips of different frame rates get the same physical blur
    exposure_ms: float | None = None
    stride: int | None = None  #: first frame of the next window; None = frames (no overlap)
    gamma: float = 2.2  #: 2.2 = average in linear light (GoPro blur_gamma); 1.0 = sRGB average
    workers: int = 2  #: sequences synthesized in parallel
    # Camera effects on the train split's blurred frames (the test split stays as rendered, so
    # its scores stay comparable): what makes synthetic blur transfer to real photos (Rim et
    # al., RSBlur, ECCV 2022). Drawn per blur window from the sequence name: reproducible.
    #: highest exposure gain: linear light x U(1, saturation) before clipping at white, so
    #: highlights clip and smear at full brightness as a real sensor's do (1.0 = off)
    saturation: float = 1.0
    #: highest read-noise std in linear light, plus shot noise, added to the blurred frame
    #: before the tone curve (0 = off); the sharp ground truth stays clean
    noise: float = 0.0
    #: lowest JPEG quality of the blurred frame, drawn in [jpeg, 95]; null = no JPEG
    jpeg: int | None = None

    def __post_init__(self) -> None:
        _check(1.0 <= self.saturation <= 4.0, "blur.saturation", "must be in [1, 4]")
        _check(0.0 <= self.noise <= 0.1, "blur.noise", "must be in [0, 0.1]")
        _check(
            self.jpeg is None or 10 <= self.jpeg <= 95, "blur.jpeg", "must be in [10, 95] or null"
        )
        _check(
            (self.frames is None) != (self.exposure_ms is None),
            "blur.frames",
            "and blur.exposure_ms are exclusive: set exactly one (the other null)"
            if self.frames is not None
            else "is null, so blur.exposure_ms must be set (or set blur.frames)",
        )
        _check(
            self.exposure_ms is None or 0 < self.exposure_ms <= 10_000,
            "blur.exposure_ms",
            "must be in (0, 10000] or null",
        )
        if self.frames not in ("auto", None):
            _check(
                self.frames >= 1 and self.frames % 2 == 1,
                "blur.frames",
                "must be an odd int >= 1 or 'auto'",
            )
        _check(self.stride is None or self.stride >= 1, "blur.stride", "must be >= 1 or null")
        _check(0.1 <= self.gamma <= 5.0, "blur.gamma", "must be in [0.1, 5]")
        _check(self.workers >= 1, "blur.workers", "must be >= 1")


@dataclass(frozen=True)
class PrepareParams:
    """Resize and split into train/val/test arrays."""

    size: int | None = 320  #: long side in pixels after resize (aspect kept); None = keep
    val_sequences: int = 1  #: training sequences held out for validation, chosen with the seed

    def __post_init__(self) -> None:
        _check(
            self.size is None or 16 <= self.size <= 8192,
            "prepare.size",
            "must be in [16, 8192] or null",
        )
        _check(self.val_sequences >= 1, "prepare.val_sequences", "must be >= 1")


@dataclass(frozen=True)
class ModelParams:
    """Generator and discriminator architecture (built by name)."""

    #: halfres (the default: most PSNR per CPU minute here) | nafnet | resnet (the seed
    #: papers') | tblock (Hacettepe)
    generator: Literal["resnet", "nafnet", "tblock", "halfres"] = "halfres"
    #: width of the generator's first conv (seed: 64; nafnet: its width; tblock: the width
    #: of l2 and of the t-blocks, published 64; halfres: 40, as good as 64 at the demo's
    #: budget for 0.55x the fp32 time, BENCHMARKS "The demo's width")
    channels: int = 40
    res_blocks: int = 4  #: resnet: residual blocks at 1/4 resolution (seed: 6); halfres: at 1/2
    global_residual: bool = True  #: resnet: output = input + G(input) (seed 002)
    norm: Literal["instance", "batch", "none"] = "instance"  #: resnet: normalisation layers
    #: resnet up-sampling: 3x3 (DeblurGAN) or 4x4 (HUST) stride-2 transposed convs, or
    #: bilinear x2 followed by a 3x3 conv
    upsample: Literal["transposed3", "transposed4", "bilinear"] = "transposed3"
    dropout: float = 0.0  #: resnet: dropout between the two convs of a residual block
    enc_blocks: tuple[int, ...] = (1, 1, 1)  #: nafnet: blocks per encoder level (width doubles)
    middle_blocks: int = 1  #: nafnet: blocks at the lowest resolution
    dec_blocks: tuple[int, ...] | None = None  #: nafnet: per level, top first; null = enc
    discriminator: Literal["patchgan"] = "patchgan"
    d_channels: int = 16  #: width of the discriminator's first conv (seed: 64)
    d_norm: Literal["batch", "instance", "none"] = "batch"  #: none/instance for WGAN-GP
    d_layers: int = 3  #: stride-2 convs of the PatchGAN: 3 = 70x70 patches

    def __post_init__(self) -> None:
        _check(1 <= self.channels <= 1024, "model.channels", "must be in [1, 1024]")
        _check(0 <= self.dropout < 1, "model.dropout", "must be in [0, 1)")
        _check(1 <= self.d_layers <= 6, "model.d_layers", "must be in [1, 6]")
        _check(
            self.generator != "tblock" or self.channels % 4 == 0,
            "model.channels",
            "must be a multiple of 4 for the tblock generator (four parallel branches)",
        )
        _check(0 <= self.res_blocks <= 64, "model.res_blocks", "must be in [0, 64]")
        _check(1 <= self.d_channels <= 1024, "model.d_channels", "must be in [1, 1024]")
        # Saved generator files and torch.load give lists back: keep one type for comparisons.
        object.__setattr__(self, "enc_blocks", tuple(self.enc_blocks))
        _check(
            1 <= len(self.enc_blocks) <= 5 and all(0 <= n <= 64 for n in self.enc_blocks),
            "model.enc_blocks",
            "must list 1 to 5 levels of 0 to 64 blocks",
        )
        _check(0 <= self.middle_blocks <= 64, "model.middle_blocks", "must be in [0, 64]")
        if self.dec_blocks is not None:
            object.__setattr__(self, "dec_blocks", tuple(self.dec_blocks))
            _check(
                len(self.dec_blocks) == len(self.enc_blocks)
                and all(0 <= n <= 64 for n in self.dec_blocks),
                "model.dec_blocks",
                "must list as many levels as model.enc_blocks, each 0 to 64 blocks, or be null",
            )


@dataclass(frozen=True)
class TrainParams:
    """GAN training schedule and machinery."""

    epochs: int = 25
    batch_size: int = 8
    crop: int | None = 64  #: random square crop side; None = whole frames (seed setting)
    steps_per_epoch: int | None = 240  #: None = one pass over the training pairs
    lr_g: float = 2e-3  #: seed: 2e-4 (Adam, constant)
    lr_d: float = 2e-4
    beta1: float = 0.9  #: seed: 0.5
    beta2: float = 0.9  #: seed: 0.999 (NAFNet's AdamW uses 0.9, 0.9)
    #: weight of the adversarial term in the generator loss (seed: 1.0; at 1.0 a few CPU
    #: minutes lose PSNR to the GAN term)
    lambda_adv: float = 0.01
    #: bce (seeds) | lsgan | wgan_gp (DeblurGAN) | ragan_ls (DeblurGAN-v2)
    adversarial: Literal["bce", "lsgan", "wgan_gp", "ragan_ls"] = "bce"
    gp_weight: float = 10.0  #: wgan_gp: weight of the gradient penalty in the critic loss
    #: the lambda_pix term: l1 (seeds) | mse | charbonnier | psnr
    pixel_loss: Literal["l1", "mse", "charbonnier", "psnr"] = "charbonnier"
    lambda_fft: float = 0.0  #: weight of the FFT (frequency) L1 term; 0 = off
    lambda_ssim: float = 0.0  #: weight of the 1 - SSIM term (Hacettepe: 0.3); 0 = off
    lambda_perceptual: float = 0.0  #: weight of the VGG feature MSE term; 0 = off
    #: VGG layer of the perceptual term: vgg19.conv3_3 (DeblurGAN), vgg16.block3_conv3 (Keras
    #: name, after its ReLU), vgg19.relu3_3...
    perceptual_layer: str = "vgg19.conv3_3"
    #: imagenet = torchvision's IMAGENET1K_V1; random = untrained VGG (offline tests only)
    perceptual_weights: Literal["imagenet", "random"] = "imagenet"
    optimizer: Literal["adam", "adamw"] = "adamw"  #: for both networks (seeds: adam)
    weight_decay: float = 0.0  #: decoupled (AdamW) or L2 (Adam) weight decay, both networks
    #: constant (seeds) | cosine (per step) | linear_decay (constant, then linear, DeblurGAN)
    #: | plateau (x plateau_factor after plateau_patience epochs without a better plateau_metric)
    schedule: Literal["constant", "cosine", "linear_decay", "plateau"] = "cosine"
    warmup_steps: int = 100  #: linear warm-up from lr/warmup_steps to lr
    lr_min: float = 0.01  #: cosine, linear_decay: the lr at the last step, as a share of lr
    decay_start: float = 0.5  #: linear_decay: share of the steps at constant lr
    plateau_metric: Literal["val_loss", "val_l1", "val_psnr", "val_ssim"] = "val_loss"
    plateau_factor: float = 0.5  #: plateau: lr multiplier at each plateau
    plateau_patience: int = 5  #: plateau: epochs without improvement before lowering lr
    #: stop after this many epochs without a better early_stop_metric; null = never
    early_stop_patience: int | None = None
    early_stop_metric: Literal["val_loss", "val_l1", "val_psnr", "val_ssim"] = "val_loss"
    rotate90: bool = False  #: augmentation: random 90-degree rotations (square crops only)
    color_jitter: float = 0.0  #: augmentation: brightness/contrast/saturation within 1 +- this
    log_every: int = 10  #: steps between loss logs
    val_max_images: int | None = None  #: cap on validation images per epoch; None = all
    device: Literal["auto", "cpu", "cuda"] = "auto"
    #: auto = bf16 on CUDA and on CPUs with native bf16 (AMX/AVX512-BF16), else fp32
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    compile: bool = False  #: torch.compile the models (falls back cleanly when unavailable)
    devices: int = 1  #: GPUs on this node; > 1 runs under torchrun (DDP)
    #: a generator file (models/best.pt, models/pretrained/deblurflow.pt) whose weights start
    #: a fresh training (same architecture as model); null = random initialisation
    init_from: str | None = None

    def __post_init__(self) -> None:
        _check(self.epochs >= 1, "train.epochs", "must be >= 1")
        _check(self.batch_size >= 1, "train.batch_size", "must be >= 1")
        _check(
            self.crop is None or (self.crop >= 32 and self.crop % 4 == 0),
            "train.crop",
            "must be a multiple of 4 >= 32 (the PatchGAN needs 32), or null",
        )
        _check(
            self.steps_per_epoch is None or self.steps_per_epoch >= 1,
            "train.steps_per_epoch",
            "must be >= 1 or null",
        )
        for key in ("lr_g", "lr_d"):
            _check(0 < getattr(self, key) < 1, f"train.{key}", "must be in (0, 1)")
        for key in ("beta1", "beta2"):
            _check(0 <= getattr(self, key) < 1, f"train.{key}", "must be in [0, 1)")
        _check(self.lambda_adv >= 0, "train.lambda_adv", "must be >= 0")
        for key in ("lambda_fft", "lambda_ssim", "lambda_perceptual", "gp_weight"):
            _check(getattr(self, key) >= 0, f"train.{key}", "must be >= 0")
        _check(
            re.fullmatch(r"vgg(16|19)\.((conv|relu)\d_\d|block\d_conv\d)", self.perceptual_layer)
            is not None,
            "train.perceptual_layer",
            "must name a VGG layer: vgg19.conv3_3, vgg19.relu3_3 or vgg16.block3_conv3 style",
        )
        _check(0 <= self.decay_start <= 1, "train.decay_start", "must be in [0, 1]")
        _check(0 < self.plateau_factor < 1, "train.plateau_factor", "must be in (0, 1)")
        _check(self.plateau_patience >= 1, "train.plateau_patience", "must be >= 1")
        _check(
            self.early_stop_patience is None or self.early_stop_patience >= 1,
            "train.early_stop_patience",
            "must be >= 1 or null",
        )
        _check(0 <= self.color_jitter < 1, "train.color_jitter", "must be in [0, 1)")
        _check(
            not self.rotate90 or self.crop is not None,
            "train.rotate90",
            "needs square crops (set train.crop): whole frames are not square",
        )
        _check(0 <= self.weight_decay < 1, "train.weight_decay", "must be in [0, 1)")
        _check(self.warmup_steps >= 0, "train.warmup_steps", "must be >= 0")
        _check(0 <= self.lr_min <= 1, "train.lr_min", "must be in [0, 1] (a share of lr)")
        _check(self.log_every >= 1, "train.log_every", "must be >= 1")
        _check(
            self.val_max_images is None or self.val_max_images >= 1,
            "train.val_max_images",
            "must be >= 1 or null",
        )
        _check(self.devices >= 1, "train.devices", "must be >= 1")


@dataclass(frozen=True)
class SelectParams:
    """Which checkpoint becomes models/best.pt."""

    metric: Literal["val_l1", "val_psnr", "val_ssim"] = "val_l1"  #: see LOWER_IS_BETTER


@dataclass(frozen=True)
class EvaluateParams:
    """Test-split evaluation, and real blur/sharp photo pairs."""

    samples: int = 4  #: blur | output | sharp panels written to metrics/samples/
    max_images: int | None = None  #: cap on test images; None = the whole test split
    device: Literal["auto", "cpu", "cuda"] = "auto"  #: auto = CUDA when available, else CPU
    precision: Literal["auto", "fp32", "bf16"] = "auto"  #: auto: as train.precision
    #: folders of real blur/sharp pairs (GoPro test set, HIDE, RealBlur, your own); relative
    #: paths are from the repo root. A folder that does not exist is skipped with a warning.
    real_pairs: tuple[str, ...] = ()
    real_size: int | None = 640  #: long side the real pairs are resized to; None = prepare.size

    def __post_init__(self) -> None:
        _check(self.samples >= 0, "evaluate.samples", "must be >= 0")
        object.__setattr__(self, "real_pairs", tuple(self.real_pairs))
        _check(
            self.real_size is None or 16 <= self.real_size <= 8192,
            "evaluate.real_size",
            "must be in [16, 8192] or null",
        )
        _check(
            self.max_images is None or self.max_images >= 1,
            "evaluate.max_images",
            "must be >= 1 or null",
        )


@dataclass(frozen=True)
class Params:
    """The whole params.yaml."""

    seed: int = 0
    #: weight of the pixel term (train.pixel_loss) in the generator loss; top level for
    #: `dvc exp run -S lambda_pix=50`
    lambda_pix: float = 100.0
    data: DataParams = field(default_factory=DataParams)
    blur: BlurParams = field(default_factory=BlurParams)
    prepare: PrepareParams = field(default_factory=PrepareParams)
    model: ModelParams = field(default_factory=ModelParams)
    train: TrainParams = field(default_factory=TrainParams)
    select: SelectParams = field(default_factory=SelectParams)
    evaluate: EvaluateParams = field(default_factory=EvaluateParams)

    def __post_init__(self) -> None:
        _check(self.seed >= 0, "seed", "must be >= 0")
        _check(self.lambda_pix >= 0, "lambda_pix", "must be >= 0")
        refuse_ignored(self)


#: validation metric -> whether lower is better (select, plateau and early stopping read it)
LOWER_IS_BETTER = {"val_loss": True, "val_l1": True, "val_psnr": False, "val_ssim": False}

#: model option -> the generators that use it (the others ignore it)
MODEL_OPTION_USERS = {
    "res_blocks": ("resnet", "halfres"),
    "global_residual": ("resnet",),
    "norm": ("resnet",),
    "upsample": ("resnet",),
    "dropout": ("resnet",),
    "enc_blocks": ("nafnet",),
    "middle_blocks": ("nafnet",),
    "dec_blocks": ("nafnet",),
}
#: train option -> (the setting that uses it, whether a TrainParams uses it)
TRAIN_OPTION_USERS = {
    "gp_weight": ("train.adversarial: wgan_gp", lambda t: t.adversarial == "wgan_gp"),
    "perceptual_layer": ("train.lambda_perceptual > 0", lambda t: t.lambda_perceptual > 0),
    "decay_start": ("train.schedule: linear_decay", lambda t: t.schedule == "linear_decay"),
    "plateau_metric": ("train.schedule: plateau", lambda t: t.schedule == "plateau"),
    "plateau_factor": ("train.schedule: plateau", lambda t: t.schedule == "plateau"),
    "plateau_patience": ("train.schedule: plateau", lambda t: t.schedule == "plateau"),
}


def refuse_ignored(params: Params) -> None:
    """Refuse an option set away from its default where the chosen model or loss ignores it.

    params.yaml lists every key (DVC tracks and ``-S`` sets only listed keys), so "set" means
    "not the default": ``-S model.norm=batch`` under the halfres generator would otherwise
    train the same network as before and show up in MLflow as a different run.
    """
    model, train = params.model, params.train
    for key, users in MODEL_OPTION_USERS.items():
        value, default = getattr(model, key), getattr(ModelParams, key)
        _check(
            model.generator in users or value == default,
            f"model.{key}",
            f"is {value!r}, but the {model.generator} generator ignores it (only "
            f"{', '.join(users)} use it): set it back to {default!r} or change model.generator",
        )
    for key, (setting, uses) in TRAIN_OPTION_USERS.items():
        value, default = getattr(train, key), getattr(TrainParams, key)
        _check(
            uses(train) or value == default,
            f"train.{key}",
            f"is {value!r}, but it is used only with {setting}: set it back to {default!r} "
            "or change that setting",
        )


# --- loading ---------------------------------------------------------------------------------


def parse_params(raw: Any) -> Params:
    """Build Params from an already-parsed YAML mapping."""
    return build(Params, raw, "")


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate params.yaml."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ParamsError(f"params: cannot read {path}: {exc.strerror}") from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ParamsError(f"params: {path} is not valid YAML: {exc}") from exc
    return parse_params(raw)
