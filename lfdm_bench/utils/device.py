"""The torch device of a setting: ``auto`` (CUDA when available, else CPU), ``cpu``, ``cuda`` or ``cuda:N``."""

from __future__ import annotations

import torch


def pick_device(name: str | torch.device | None = "auto") -> torch.device:
    """``auto`` / ``None``: CUDA when available, else CPU; a CUDA device without CUDA is an error naming the fix."""
    if name is None or str(name) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(name).startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {str(name)!r} requested but CUDA is not available; use device=cpu or auto")
    return torch.device(name)
