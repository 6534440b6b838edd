"""The torch device of a setting: ``auto`` (CUDA when available, else CPU), ``cpu``, ``cuda`` or ``cuda:N``; and the
autocast dtype of a precision setting (``auto`` | ``fp32`` | ``bf16``)."""

from __future__ import annotations

import contextlib
import os

import torch

PRECISIONS = ("auto", "fp32", "bf16")


def pick_device(name: str | torch.device | None = "auto") -> torch.device:
    """``auto`` / ``None``: CUDA when available, else CPU; a CUDA device without CUDA is an error naming the fix.

    Under a multi-process launcher (``accelerate launch``, ``torchrun``: ``LOCAL_RANK`` is set), ``auto`` and a
    bare ``cuda`` mean this process's GPU ``cuda:LOCAL_RANK``, so that models loaded before the training engine
    starts (e.g. the frozen LFAE of stage 2) sit on the same GPU as the model the engine trains.
    """
    if name is None or str(name) == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if str(name).startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {str(name)!r} requested but CUDA is not available; use device=cpu or auto")
    if str(name) == "cuda" and os.environ.get("LOCAL_RANK", "").isdigit():
        return torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    return torch.device(name)


def autocast_dtype(precision: str, device: torch.device | str, option: str = "precision") -> torch.dtype | None:
    """The autocast dtype of ``precision`` on ``device``: ``auto`` = bf16 on CUDA and none (fp32) elsewhere,
    ``fp32`` = none, ``bf16`` = bfloat16 (also on the CPU, where it is slow but runs the same code path).
    ``option`` names the setting in the error message."""
    if precision not in PRECISIONS:
        raise ValueError(f"{option} must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "bf16" or (precision == "auto" and torch.device(device).type == "cuda"):
        return torch.bfloat16
    return None


def autocast(device: torch.device | str, dtype: torch.dtype | None):
    """``torch.autocast`` on ``device`` in ``dtype``, or no autocast when ``dtype`` is None."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=dtype)
