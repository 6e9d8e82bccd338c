"""``deblurflow export``: the generator as ONNX (dynamic H and W), run with onnxruntime.

The graph takes ``blurred`` float32 (N, 3, H, W) in [-1, 1] and returns ``deblurred`` the same
shape. H and W are dynamic but must be multiples of the generator's down-sampling factor
(stored in the model's metadata as ``deblurflow.multiple``): the torch generators pad inside
``forward``, which the exporter specialises to the traced size, so :func:`onnx_runner` pads
(reflection, as :func:`deblurflow.tiling.forward` does) before the session and crops
after. onnx, onnxscript and onnxruntime are imported only here (the ``onnx`` extra).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch
from torch import nn

from deblurflow.atomic import atomic_path
from deblurflow.models.generator import MIN_SIZE, MULTIPLE
from deblurflow.tiling import Runner, forward, required_multiple

log = logging.getLogger(__name__)

INPUT, OUTPUT = "blurred", "deblurred"


class ExportError(RuntimeError):
    """ONNX export or onnxruntime is unavailable or failed."""


def export_onnx(
    generator: nn.Module, path: str | Path, metadata: dict | None = None, opset: int = 18
) -> int:
    """Write ``generator`` (fp32, CPU) to ``path`` as ONNX with dynamic H, W; returns the
    multiple H and W must have."""
    try:
        import onnx
    except ImportError as exc:
        raise ExportError(
            "ONNX export needs onnx and onnxscript: pip install 'deblurflow[onnx]'"
        ) from exc
    from torch.export import Dim

    generator = generator.float().cpu().eval()
    multiple = required_multiple(generator)
    sample = torch.zeros(1, 3, 8 * multiple, 12 * multiple)  # (1, 3, H, W): no padding inside
    path = Path(path)
    with atomic_path(path) as tmp:
        try:
            program = torch.onnx.export(
                generator, (sample,), input_names=[INPUT], output_names=[OUTPUT],
                dynamic_shapes={"x": {2: Dim.AUTO, 3: Dim.AUTO}}, opset_version=opset,
                dynamo=True, verbose=False,
            )  # fmt: skip
        except Exception as exc:  # the exporter raises many types; say which model failed
            raise ExportError(f"ONNX export of {type(generator).__name__} failed: {exc}") from exc
        program.save(str(tmp))
        model = onnx.load(str(tmp))
        props = {"deblurflow.multiple": str(multiple), **(metadata or {})}
        for key, value in props.items():
            entry = model.metadata_props.add()
            entry.key, entry.value = key, value if isinstance(value, str) else json.dumps(value)
        onnx.save(model, str(tmp))
    return multiple


def onnx_runner(path: str | Path, threads: int | None = None) -> Runner:
    """A tiling Runner over an exported generator in an onnxruntime CPU session."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise ExportError("--backend onnxruntime needs onnxruntime: pip install "
                          "'deblurflow[onnx]'") from exc  # fmt: skip
    path = Path(path)
    if not path.is_file():
        raise ExportError(f"{path}: no such ONNX file (write one with `deblurflow export`)")
    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    try:
        session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ExportError(f"{path}: onnxruntime cannot load it: {exc}") from exc
    meta = session.get_modelmeta().custom_metadata_map
    multiple = int(meta.get("deblurflow.multiple", MULTIPLE))

    def run(tile: np.ndarray) -> np.ndarray:
        h, w = tile.shape[-2:]
        th = max(h, MIN_SIZE, multiple) + -max(h, MIN_SIZE, multiple) % multiple
        tw = max(w, MIN_SIZE, multiple) + -max(w, MIN_SIZE, multiple) % multiple
        if (th, tw) != (h, w):
            mode = "reflect" if th - h < h and tw - w < w else "edge"
            tile = np.pad(tile, ((0, 0), (0, 0), (0, th - h), (0, tw - w)), mode=mode)
        out = session.run([OUTPUT], {INPUT: np.ascontiguousarray(tile, np.float32)})[0]
        return out[..., :h, :w]

    run.multiple = multiple  # type: ignore[attr-defined]  # where tiles may start
    return run


def parity(generator: nn.Module, run: Runner, h: int = 75, w: int = 101, seed: int = 0) -> float:
    """Max |onnxruntime - torch| (on the [-1, 1] scale) for one random frame of size h x w."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (1, 3, h, w)).astype(np.float32)
    generator = generator.float().cpu().eval()
    with torch.inference_mode():
        ref = forward(generator, torch.from_numpy(x)).numpy()
    return float(np.abs(run(x) - ref).max())
