"""Models built by name from small dicts, and the generator file format (``models/best.pt``).

A generator file is a plain dict loadable with ``torch.load(weights_only=True)``::

    {"format": "deblurflow-generator/1", "model": to_dict(ModelParams), "state_dict": {...}, ...}

so the architecture travels with the weights and a file from an untrusted source cannot run code.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from deblurflow.atomic import write_bytes
from deblurflow.models.discriminator import PatchGANDiscriminator
from deblurflow.models.generator import ResNetGenerator
from deblurflow.models.halfres import HalfResGenerator
from deblurflow.models.nafnet import NAFNetGenerator
from deblurflow.models.tblock import TBlockGenerator
from deblurflow.params import ModelParams, to_dict

__all__ = [
    "DISCRIMINATORS",
    "FORMAT",
    "GENERATORS",
    "HalfResGenerator",
    "ModelFileError",
    "NAFNetGenerator",
    "PatchGANDiscriminator",
    "ResNetGenerator",
    "TBlockGenerator",
    "build_discriminator",
    "build_generator",
    "clean_state_dict",
    "load_generator",
    "save_generator",
]

FORMAT = "deblurflow-generator/1"

#: name (``model.generator``) -> constructor from ModelParams
GENERATORS: dict[str, Callable[[ModelParams], nn.Module]] = {
    "resnet": ResNetGenerator.from_params,
    "nafnet": NAFNetGenerator.from_params,
    "tblock": TBlockGenerator.from_params,
    "halfres": HalfResGenerator.from_params,
}
#: name (``model.discriminator``) -> constructor from ModelParams
DISCRIMINATORS: dict[str, Callable[[ModelParams], nn.Module]] = {
    "patchgan": PatchGANDiscriminator.from_params,
}

# Wrappers whose state_dict keys carry a prefix: torch.compile (_orig_mod.) and DDP (module.).
_WRAPPER_PREFIXES = ("_orig_mod.", "module.")
_RESERVED = ("format", "model", "state_dict")


class ModelFileError(ValueError):
    """A generator file is missing, unreadable, of another format or does not fit its model."""


def _lookup(
    table: dict[str, Callable[[ModelParams], nn.Module]], kind: str, name: str
) -> Callable[[ModelParams], nn.Module]:
    try:
        return table[name]
    except KeyError:
        known = ", ".join(sorted(table))
        raise ValueError(f"unknown {kind} {name!r}; known: {known}") from None


def build_generator(model: ModelParams) -> nn.Module:
    """Build the generator named by ``model.generator`` (fresh weights)."""
    return _lookup(GENERATORS, "generator", model.generator)(model)


def build_discriminator(model: ModelParams) -> nn.Module:
    """Build the discriminator named by ``model.discriminator`` (fresh weights)."""
    return _lookup(DISCRIMINATORS, "discriminator", model.discriminator)(model)


def clean_state_dict(state_dict: dict[str, Any]) -> dict[str, torch.Tensor]:
    """Strip torch.compile / DDP key prefixes (in any nesting) and move tensors to the CPU."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        stripped = True
        while stripped:
            stripped = False
            for prefix in _WRAPPER_PREFIXES:
                if key.startswith(prefix):
                    key = key[len(prefix) :]
                    stripped = True
        out[key] = value.detach().cpu().contiguous() if torch.is_tensor(value) else value
    return out


def _check_plain(value: Any, key: str) -> None:
    """Refuse values that ``torch.load(weights_only=True)`` could not read back."""
    if value is None or isinstance(value, (bool, int, float, str, torch.Tensor)):
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_plain(item, f"{key}[{i}]")
        return
    if isinstance(value, dict):
        for k, item in value.items():
            if not isinstance(k, str):
                raise TypeError(f"save_generator: key {k!r} in {key!r} must be a str")
            _check_plain(item, f"{key}.{k}")
        return
    raise TypeError(
        f"save_generator: {key!r} is a {type(value).__name__}; only tensors, numbers, strings, "
        "None and lists/dicts of them can be saved (so weights_only loading works)"
    )


def save_generator(
    path: str | Path, generator: nn.Module, model: ModelParams, **extra: Any
) -> None:
    """Write generator weights + architecture atomically to ``path`` (extra: plain values)."""
    for key in _RESERVED:
        if key in extra:
            raise TypeError(f"save_generator: {key!r} is reserved for the file format")
    for key, value in extra.items():
        _check_plain(value, key)
    payload = {
        "format": FORMAT,
        "model": to_dict(model),
        "state_dict": clean_state_dict(generator.state_dict()),
        **extra,
    }
    # Serialised in memory first: a full disk is then a plain ENOSPC with the size needed
    # (DiskFullError), not torch's "unexpected pos" from inside its zip writer.
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    write_bytes(path, buffer.getbuffer())


def load_generator(
    path: str | Path, map_location: str | torch.device = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the generator saved at ``path``, in eval mode on ``map_location``.

    Returns ``(generator, info)``; ``info`` is the file's dict without ``state_dict``
    (``format``, ``model`` and whatever extras were saved, e.g. ``epoch``).
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such generator file")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for truncated/foreign files
        # torch's refusal spans many lines of advice on how to load the file anyway: keep the
        # line that says why.
        advice = ("Weights only load failed", "Please file an issue", "Check the documentation")
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        why = next((ln for ln in lines if not ln.startswith(advice)), lines[0] if lines else "")
        why = why.removeprefix("WeightsUnpickler error: ")
        if "global" in why.lower():
            raise ModelFileError(
                f"{path}: refused, it holds Python objects that could run code ({why})"
            ) from None
        # Truncated zips, random bytes and text each get their own library message (a long
        # line of zip-reader text for a cut file): one line says all a user can act on.
        raise ModelFileError(
            f"{path}: cannot read generator file (corrupt, truncated or not a torch file)"
        ) from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise ModelFileError(f"{path}: not a {FORMAT} file (format: {found!r})")
    try:
        model = ModelParams(**data["model"])
        generator = build_generator(model)
        generator.load_state_dict(clean_state_dict(data["state_dict"]))
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ModelFileError(f"{path}: weights do not fit the saved model config: {exc}") from exc
    info = {k: v for k, v in data.items() if k != "state_dict"}
    return generator.to(map_location).eval(), info
