"""`deblurflow predict photo.jpg -o out/`: deblur your own photos with models/best.pt (else the
shipped models/pretrained/deblurflow.pt); `deblurflow export`: the generator as ONNX.

Without ``-m``, the model is looked up in the pipeline's workspace: the nearest folder at or
above the current one that holds ``dvc.yaml``, else the checkout this package runs from (an
editable install, as ``make repro`` makes). There ``models/best.pt`` (the pipeline's model)
is used when it exists, else the shipped ``models/pretrained/deblurflow.pt``; one line says
which.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

from . import __version__
from .export import ExportError, export_onnx, onnx_runner, parity
from .images import ImageError
from .models import ModelFileError, load_generator
from .predict import collect_inputs, predict_files, summary
from .runtime import DeviceError, pick_runtime
from .tiling import Runner, self_ensemble, torch_runner
from .tracking.registry import URI_SCHEMES

log = logging.getLogger(__name__)

PIPELINE_MODEL = Path("models/best.pt")
SHIPPED_MODEL = Path("models/pretrained/deblurflow.pt")
CHECKOUT = Path(__file__).resolve().parents[2]  # src/deblurflow/cli.py -> the checkout


class _DefaultModel(str):
    """``-m``'s default: shown as models/best.pt in --help, told apart from a given -m."""


DEFAULT_MODEL = _DefaultModel(PIPELINE_MODEL)


def workspace(cwd: Path | None = None) -> Path | None:
    """The pipeline workspace predict takes its default model from (see the module docstring)."""
    here = (cwd or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "dvc.yaml").is_file():
            return folder
    return CHECKOUT if (CHECKOUT / "dvc.yaml").is_file() else None


def default_model(cwd: Path | None = None) -> tuple[Path, str]:
    """(path, why) of the model predict uses when no ``-m`` is given."""
    root = workspace(cwd)
    if root is None:
        raise ModelFileError(
            "no model given (-m) and no pipeline workspace (a folder with dvc.yaml) at or above "
            f"{(cwd or Path.cwd()).resolve()}: give -m PATH"
        )
    if (root / PIPELINE_MODEL).is_file():
        why = "the pipeline's model"
        if (root / SHIPPED_MODEL).is_file():  # after `make repro` the demo: say what else is here
            why += f"; -m {root / SHIPPED_MODEL} for the shipped, longer-trained one"
        return root / PIPELINE_MODEL, why
    if (root / SHIPPED_MODEL).is_file():
        card = root / SHIPPED_MODEL.with_name("MODEL_CARD.md")
        return root / SHIPPED_MODEL, f"the shipped model, {card.name} beside it; `dvc repro` " \
            "trains your own into models/best.pt"  # fmt: skip
    raise ModelFileError(
        f"no model given (-m): neither {root / PIPELINE_MODEL} (run `dvc repro`) nor the "
        f"shipped {root / SHIPPED_MODEL} exists; give -m PATH"
    )


def load_runner(args: argparse.Namespace, tmp: Path) -> Runner:
    """The model named by ``-m`` on the device/precision/backend asked for."""
    if args.model.startswith(URI_SCHEMES):  # a registered or logged MLflow model
        from .tracking.registry import fetch_generator_file

        args.model = str(fetch_generator_file(args.model, tmp / "mlflow"))
    if args.backend == "onnxruntime":
        if Path(args.model).suffix == ".onnx":
            return onnx_runner(args.model)
        generator, _ = load_generator(args.model)
        export_onnx(generator, tmp / "generator.onnx")  # `deblurflow export` saves this step
        return onnx_runner(tmp / "generator.onnx")
    # auto: bf16 on GPUs and on CPUs with native bf16 (2.2 s vs 4.5 s per 1280x720 frame on 2
    # EPYC cores, for hundredths of a dB), fp32 where bf16 would be slower (runtime.py).
    runtime = pick_runtime(args.device, args.precision)
    generator, _ = load_generator(args.model, map_location=runtime.device)
    generator = runtime.place(generator)
    return torch_runner(generator, runtime.device, runtime.amp_dtype, runtime.channels_last)


def predict(args: argparse.Namespace) -> int:
    jobs = collect_inputs(args.inputs, args.recursive)
    if isinstance(args.model, _DefaultModel):
        path, why = default_model()
        args.model = str(path)
        print(f"deblurflow: using {path} ({why})", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="deblurflow-") as tmp:
        run = load_runner(args, Path(tmp))
        if args.self_ensemble:
            run = self_ensemble(run)
        outcome = predict_files(
            run, jobs, args.output, args.suffix, args.tile, args.tile_overlap, args.overwrite,
            args.max_side,
        )  # fmt: skip
    line = summary(outcome)
    if line:
        print(f"deblurflow: {line}", file=sys.stderr)
        return 1
    return 0


def export(args: argparse.Namespace) -> int:
    if isinstance(args.model, _DefaultModel):
        path, why = default_model()
        args.model = str(path)
        print(f"deblurflow: exporting {path} ({why})", file=sys.stderr)
    generator, info = load_generator(args.model)
    meta = {"deblurflow.model": info["model"], "deblurflow.source": str(args.model)}
    multiple = export_onnx(generator, args.output, meta)
    diff = parity(generator, onnx_runner(args.output), 75, 101)
    print(
        f"wrote {args.output} ({type(generator).__name__}, dynamic H x W; predict pads them to "
        f"multiples of {multiple}). onnxruntime vs torch on a 75x101 frame: max abs diff "
        f"{diff:.1e} on the [-1, 1] scale ({diff * 127.5:.1e} of 255)"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="deblurflow", description="GAN motion deblurring.")
    ap.add_argument("--version", action="version", version=f"deblurflow {__version__}")
    sub = ap.add_subparsers(dest="command", required=True)
    _add_predict(sub)
    _add_export(sub)
    return ap


def _positive(text: str) -> int:
    """argparse type: a whole number of pixels above 0."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of pixels above 0, not {text!r}")
    return value


def _add_predict(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "predict",
        help="deblur photos with a trained generator",
        description="Deblur photos. Gray, RGB and RGBA, 8- and 16-bit inputs are written back "
        "as PNGs of the same kind (alpha passed through unchanged, 16-bit kept 16-bit).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", type=Path, help="image files or folders of images")
    p.add_argument("-o", "--output", type=Path, default=Path("out"), help="output folder")
    p.add_argument(
        "-m",
        "--model",
        default=DEFAULT_MODEL,
        help="a generator file, an exported .onnx (--backend onnxruntime) or an MLflow model: "
        "models:/deblurflow-generator/VERSION (the pipeline's tracking store, or "
        "$MLFLOW_TRACKING_URI) or runs:/RUN_ID/model. Not given: the workspace's (the nearest "
        "folder with dvc.yaml at or above this one) models/best.pt, else the shipped "
        "models/pretrained/deblurflow.pt",
    )
    p.add_argument("-r", "--recursive", action="store_true", help="also images in sub-folders")
    p.add_argument(
        "--tile",
        type=int,
        default=2048,
        help="largest tile side in pixels: bigger images are deblurred in overlapping tiles "
        "(bounded memory); 0 = whole frame in one pass",
    )
    p.add_argument(
        "--tile-overlap", type=int, default=64, help="pixels neighbouring tiles share (blended)"
    )
    p.add_argument(
        "--max-side",
        type=_positive,
        default=None,
        metavar="PX",
        help="shrink larger photos to this long side first (INTER_AREA) and write them at it: "
        "the models remove blur of about 5-13 px, so a 4000 px photo with 40 px of shake is "
        "deblurred at 1000; not given: as they are",
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument(
        "--precision",
        choices=["auto", "fp32", "bf16"],
        default="auto",
        help="auto = bf16 on CUDA and on CPUs with bf16 instructions, else fp32",
    )
    p.add_argument(
        "--suffix", default="_deblurred", help="output name: STEM + this + .png, per input"
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace outputs that already exist (default: keep them, say so, go on)",
    )
    p.add_argument(
        "--self-ensemble",
        action="store_true",
        help="average the model over the 8 flips and quarter turns of each image: about 7x "
        "the time, +0.26 dB on the real GoPro pairs with the shipped model",
    )
    p.add_argument(
        "--backend",
        choices=["torch", "onnxruntime"],
        default="torch",
        help="onnxruntime runs an exported .onnx model (-m; a .pt is exported first) on the "
        "CPU in fp32; --device and --precision are torch's",
    )
    p.set_defaults(func=predict)


def _add_export(sub: argparse._SubParsersAction) -> None:
    e = sub.add_parser(
        "export",
        help="write the generator as ONNX and check it against torch",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    e.add_argument(
        "-m",
        "--model",
        default=DEFAULT_MODEL,
        help="generator file; not given: as predict's (the workspace's models/best.pt, else "
        "the shipped models/pretrained/deblurflow.pt)",
    )
    e.add_argument("-o", "--output", type=Path, default=Path("models/generator.onnx"))
    e.set_defaults(func=export)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        return args.func(args)
    except (ImageError, ModelFileError, DeviceError, ExportError, OSError, ValueError) as exc:
        print(f"deblurflow: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
