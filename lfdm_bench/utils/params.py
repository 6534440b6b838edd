"""Counting the parameters of a model: the one helper behind every ``params`` number the toolkit records (training
summaries, the benchmark's run facts, exported detectors and autoencoders)."""

from __future__ import annotations

from typing import Iterable

import torch
from torch import nn

__all__ = ["count_params"]


def count_params(model: nn.Module | Iterable[torch.Tensor], trainable_only: bool = False) -> int:
    """Number of scalar parameters of ``model`` (a module, or an iterable of parameters such as an optimiser's list);
    ``trainable_only``: only those with ``requires_grad``. Works on ``meta``-device modules (no memory needed)."""
    params = model.parameters() if isinstance(model, nn.Module) else model
    return int(sum(p.numel() for p in params if p.requires_grad or not trainable_only))
