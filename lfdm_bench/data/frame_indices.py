"""Frame index sampling: which ``T`` frames of an ``N``-frame video make a clip.

The modes are those of the official LFDM data loaders (``DM/datasets_*.py``):

``uniform``
    ``np.linspace(0, N - 1, T)`` truncated to integers (evenly spaced, first and last frame included).
``random``
    the uniform indices, each interior index ``u[i]`` jittered uniformly within the open interval between its
    neighbours' uniform positions, i.e. ``u[i] + randint(1 - (u[i] - u[i-1]), u[i+1] - u[i])``, then sorted.
    The first (0) and last (``N - 1``) indices are kept.
``very_random``
    ``T`` indices drawn uniformly *with replacement* from ``[0, N)``, sorted, the first forced to 0 (the reference
    frame). Never pads: a video shorter than ``T`` simply repeats frames.
``first``
    the first ``T`` frames ``0, 1, ..., T - 1`` (evaluation clips at the native frame rate).

When ``N < T``, ``uniform``, ``random`` and ``first`` return ``0, 1, ..., N - 1`` followed by ``T - N`` copies of
``N - 1`` (the last frame repeated, as LFDM does) and report ``n_padded = T - N``.

Randomness comes only from the generator passed in (numpy ``Generator``, ``torch.Generator`` or an integer seed):
the same seed gives the same indices.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

import numpy as np
import torch

SAMPLING_MODES: tuple[str, ...] = ("uniform", "random", "very_random", "first")

RandomSource = Union[np.random.Generator, torch.Generator, int, None]


@dataclass(frozen=True)
class FrameSample:
    """The frames chosen for one clip.

    Attributes:
        indices: int64 array ``[T]`` of frame indices in ``[0, N)``, non-decreasing.
        n_padded: how many trailing entries repeat the last frame because the video had fewer than ``T`` frames.
    """

    indices: np.ndarray
    n_padded: int

    def __len__(self) -> int:
        return int(self.indices.shape[0])


def check_mode(mode: str) -> str:
    """Return ``mode`` if it is a known sampling mode, else raise a ``ValueError`` listing the valid ones."""
    if mode not in SAMPLING_MODES:
        raise ValueError(f"unknown frame sampling mode {mode!r}; expected one of {', '.join(SAMPLING_MODES)}")
    return mode


def _as_generator(rng: RandomSource) -> np.random.Generator | torch.Generator:
    if rng is None:
        return np.random.default_rng()
    if isinstance(rng, (int, np.integer)):
        return np.random.default_rng(int(rng))
    if isinstance(rng, (np.random.Generator, torch.Generator)):
        return rng
    raise TypeError(f"rng must be a numpy Generator, a torch.Generator, an int seed or None, got {type(rng).__name__}")


def _randint(rng: np.random.Generator | torch.Generator, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Elementwise uniform integers in ``[low, high)`` (``high > low`` everywhere) -> int64 array."""
    low = np.asarray(low, dtype=np.int64)
    high = np.asarray(high, dtype=np.int64)
    if isinstance(rng, torch.Generator):
        u = torch.rand(low.shape, generator=rng, dtype=torch.float64).numpy()
        return np.minimum(low + np.floor(u * (high - low)).astype(np.int64), high - 1)
    return rng.integers(low, high, dtype=np.int64)


def uniform_indices(n_available: int, n_frames: int) -> np.ndarray:
    """LFDM's uniform indices ``np.linspace(0, N - 1, T, dtype=int)`` (requires ``N >= T``) -> int64 ``[T]``."""
    return np.linspace(0, n_available - 1, num=n_frames).astype(np.int64)


def pad_indices(n_available: int, n_frames: int) -> np.ndarray:
    """``0 .. N-1`` then the last index repeated up to ``T`` entries (``N < T``) -> int64 ``[T]``."""
    return np.minimum(np.arange(n_frames, dtype=np.int64), n_available - 1)


def sample_indices(n_available: int, n_frames: int, mode: str = "uniform", rng: RandomSource = None) -> FrameSample:
    """Choose ``n_frames`` frame indices of a video holding ``n_available`` frames.

    Args:
        n_available: number of frames ``N`` of the video (>= 1).
        n_frames: clip length ``T`` (>= 1).
        mode: one of :data:`SAMPLING_MODES` (see the module docstring for the exact definitions).
        rng: source of randomness for ``random`` / ``very_random``: a ``numpy.random.Generator``, a
            ``torch.Generator`` or an int seed (``None``: fresh OS entropy, not reproducible).

    Returns:
        :class:`FrameSample` with int64 indices ``[T]`` in ``[0, N)`` and the padding count.
    """
    check_mode(mode)
    n_available, n_frames = int(n_available), int(n_frames)
    if n_frames < 1:
        raise ValueError(f"n_frames must be >= 1, got {n_frames}")
    if n_available < 1:
        raise ValueError(f"cannot sample frames from a video with {n_available} frames")

    if mode == "very_random":
        gen = _as_generator(rng)
        idx = np.sort(_randint(gen, np.zeros(n_frames), np.full(n_frames, n_available)))
        idx[0] = 0
        return FrameSample(idx, 0)

    if n_available < n_frames:
        return FrameSample(pad_indices(n_available, n_frames), n_frames - n_available)

    if mode == "first":
        return FrameSample(np.arange(n_frames, dtype=np.int64), 0)

    idx = uniform_indices(n_available, n_frames)
    if mode == "random" and n_frames > 2:
        gen = _as_generator(rng)
        steps = np.diff(idx)  # [T - 1], each >= 1 since N >= T
        low = 1 - steps[:-1]  # jitter of interior index i in [1 - (u[i] - u[i-1]), u[i+1] - u[i])
        high = steps[1:]
        idx = idx.copy()
        idx[1:-1] += _randint(gen, low, high)
        idx = np.sort(idx)
    return FrameSample(idx, 0)
