"""Controlled video distortions for FVD sanity checks: noise, blur, temporal shuffling, frozen frames, colour shift.

Every distortion maps a batch of videos ``[B, T, 3, H, W]`` (float in ``[0, 1]``, or uint8 which is converted)
to float32 ``[B, T, 3, H, W]`` in ``[0, 1]`` with batched tensor operations (no loop over frames or pixels).
``strength`` is the single knob; 0 returns the input unchanged (as float), larger values destroy more.

========  =====================================================  =====================
name      what ``strength`` means                                range
========  =====================================================  =====================
noise     standard deviation of additive Gaussian noise           >= 0 (0.1 is strong)
          (values clamped back to ``[0, 1]``)
blur      sigma in pixels of a separable Gaussian blur (kernel      >= 0
          ``2 * ceil(3 sigma) + 1``, reflect padding), per frame
shuffle   fraction of frame positions permuted among themselves     [0, 1]
          (a cyclic shift in random order: every chosen frame
          moves; frame sets are nested as strength grows)
freeze    motion slowed towards the first frame: frame t shows     [0, 1]
          the clip at time ``(1 - s) t`` (linear interpolation
          between neighbouring frames); 0.5 = half speed, 1 = a
          still image of frame 0 (deterministic, no jumps)
colour    hue rotation about the grey axis by ``strength * 180``    [0, 1]
          degrees (direction drawn per video; appearance only)
========  =====================================================  =====================

Randomness is per video: video ``i`` of a call draws from a generator seeded with ``(seed, video_ids[i])``, so the
result of a video does not depend on the batch it was processed in (the feature cache relies on this).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "DISTORTIONS",
    "DEFINITIONS",
    "Distortion",
    "apply_distortion",
    "gaussian_noise",
    "gaussian_blur",
    "shuffle_frames",
    "freeze_frames",
    "colour_shift",
    "parse_distortion",
]


def _as_float_videos(videos: Tensor) -> Tensor:
    """Check ``[B, T, 3, H, W]`` and return float32 in ``[0, 1]``."""
    if not isinstance(videos, Tensor) or videos.ndim != 5 or videos.shape[2] != 3:
        shape = tuple(videos.shape) if isinstance(videos, Tensor) else type(videos).__name__
        raise ValueError(f"distortions expect a tensor of videos [B, T, 3, H, W], got {shape}")
    if videos.dtype == torch.uint8:
        return videos.float() / 255.0
    if not videos.is_floating_point():
        raise TypeError(f"videos must be uint8 or float in [0, 1], got dtype {videos.dtype}")
    return videos.float()


def _generators(seed: int, video_ids: Sequence[int] | None, batch: int) -> list[torch.Generator]:
    """One torch generator per video, seeded from ``(seed, video id)`` (ids default to ``0..B-1``)."""
    ids = list(range(batch)) if video_ids is None else [int(i) for i in video_ids]
    if len(ids) != batch:
        raise ValueError(f"video_ids has {len(ids)} entries for a batch of {batch} videos")
    out = []
    for i in ids:
        s = int(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, i & 0xFFFFFFFF]).generate_state(1)[0])
        out.append(torch.Generator().manual_seed(s))
    return out


def _check_fraction(strength: float, name: str) -> float:
    if not 0.0 <= float(strength) <= 1.0:
        raise ValueError(f"{name} strength is a fraction of frames in [0, 1], got {strength}")
    return float(strength)


def gaussian_noise(videos: Tensor, strength: float, seed: int = 0, video_ids: Sequence[int] | None = None) -> Tensor:
    """Add N(0, strength^2) noise to every value, then clamp to ``[0, 1]``: ``[B, T, 3, H, W]`` -> same shape."""
    x = _as_float_videos(videos)
    if strength < 0:
        raise ValueError(f"noise strength is a standard deviation >= 0, got {strength}")
    if strength == 0:
        return x
    gens = _generators(seed, video_ids, x.shape[0])
    noise = torch.stack([torch.randn(x.shape[1:], generator=g) for g in gens])  # [B, T, 3, H, W]
    return (x + float(strength) * noise).clamp_(0.0, 1.0)


def _gaussian_kernel(sigma: float) -> Tensor:
    radius = max(1, math.ceil(3.0 * sigma))
    k = torch.arange(-radius, radius + 1, dtype=torch.float32)
    g = torch.exp(-(k**2) / (2.0 * sigma**2))
    return g / g.sum()  # [2r + 1]


def gaussian_blur(videos: Tensor, strength: float, seed: int = 0, video_ids: Sequence[int] | None = None) -> Tensor:
    """Blur every frame with a separable Gaussian of sigma ``strength`` pixels (reflect padding).

    The kernel radius is ``ceil(3 sigma)``, capped at ``min(H, W) - 1`` (reflect padding needs it). Deterministic:
    ``seed`` and ``video_ids`` are accepted for a uniform signature and ignored.
    """
    x = _as_float_videos(videos)
    if strength < 0:
        raise ValueError(f"blur strength is a sigma in pixels >= 0, got {strength}")
    if strength == 0:
        return x
    b, t, c, h, w = x.shape
    g = _gaussian_kernel(float(strength))
    r = min((g.numel() - 1) // 2, h - 1, w - 1)
    if r < 1:
        return x
    centre = (g.numel() - 1) // 2
    g = g[centre - r:centre + r + 1]
    g = g / g.sum()
    frames = x.reshape(b * t * c, 1, h, w)  # every channel of every frame is one image
    frames = F.conv2d(F.pad(frames, (r, r, 0, 0), mode="reflect"), g.view(1, 1, 1, -1))  # horizontal pass
    frames = F.conv2d(F.pad(frames, (0, 0, r, r), mode="reflect"), g.view(1, 1, -1, 1))  # vertical pass
    return frames.reshape(b, t, c, h, w).clamp_(0.0, 1.0)


def _nested_positions(gens: list[torch.Generator], candidates: int, count: int) -> Tensor:
    """For each video a random order of ``candidates`` positions, truncated to ``count``: long [B, count]."""
    return torch.stack([torch.randperm(candidates, generator=g)[:count] for g in gens])


def _gather_frames(x: Tensor, index: Tensor) -> Tensor:
    """``x`` [B, T, 3, H, W], ``index`` long [B, T] -> frames ``x[b, index[b, t]]`` [B, T, 3, H, W]."""
    b, t = index.shape
    flat = index + torch.arange(b).unsqueeze(1) * x.shape[1]  # [B, T] indices into the [B*T] frames
    return x.reshape(b * x.shape[1], *x.shape[2:])[flat.reshape(-1)].reshape(b, t, *x.shape[2:])


def shuffle_frames(videos: Tensor, strength: float, seed: int = 0, video_ids: Sequence[int] | None = None) -> Tensor:
    """Permute a fraction ``strength`` of the T frame positions among themselves.

    ``k = round(strength * T)`` positions are chosen (the first ``k`` of a per-video random order, so the chosen sets
    are nested across strengths); the frames at those positions are cycled by one place along that order, so every
    chosen frame leaves its position (k = 1 changes nothing).
    """
    x = _as_float_videos(videos)
    frac = _check_fraction(strength, "shuffle")
    b, t = x.shape[:2]
    k = int(round(frac * t))
    if k < 2:
        return x
    pos = _nested_positions(_generators(seed, video_ids, b), t, k)  # [B, k]
    index = torch.arange(t).repeat(b, 1)  # [B, T], identity
    index.scatter_(1, pos, pos.roll(shifts=1, dims=1))  # position pos[j] now shows frame pos[j-1]
    return _gather_frames(x, index)


def freeze_frames(videos: Tensor, strength: float, seed: int = 0, video_ids: Sequence[int] | None = None) -> Tensor:
    """Progressively freeze the clip on its first frame: frame ``t`` becomes the clip at time ``(1 - strength) t``,
    linearly interpolated between the two neighbouring frames, so the motion plays slower and stops short; at
    ``strength = 1`` every frame is frame 0 (a still image). Deterministic: ``seed`` and ``video_ids`` are accepted
    for a uniform signature and ignored.

    Earlier versions held frame 0 for the first ``k`` frames and then jumped to frame ``k + 1``: that mixes "less
    motion" with a sudden jump, which a motion-sensitive detector rightly scores as worse than a still image, so the
    FVD of that row could not be monotone in the strength.
    """
    x = _as_float_videos(videos)
    frac = _check_fraction(strength, "freeze")
    b, t = x.shape[:2]
    if frac == 0.0:
        return x
    pos = torch.arange(t, dtype=torch.float64) * (1.0 - frac)  # [T] source times, 0 <= pos <= t - 1
    lo = pos.floor().long().clamp(max=t - 1)
    hi = (lo + 1).clamp(max=t - 1)
    w = (pos - lo.double()).float().view(1, t, 1, 1, 1)
    return torch.lerp(_gather_frames(x, lo.repeat(b, 1)), _gather_frames(x, hi.repeat(b, 1)), w)


def _rotation(angle: float) -> Tensor:
    """3x3 rotation about the unit grey axis (1, 1, 1) / sqrt(3) by ``angle`` radians (Rodrigues)."""
    k = torch.full((3,), 1.0 / math.sqrt(3.0), dtype=torch.float64)
    kx = torch.tensor([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]], dtype=torch.float64)
    return torch.eye(3, dtype=torch.float64) + math.sin(angle) * kx + (1 - math.cos(angle)) * (kx @ kx)


def colour_shift(videos: Tensor, strength: float, seed: int = 0, video_ids: Sequence[int] | None = None) -> Tensor:
    """Hue-rotate every video by ``strength * 180`` degrees (sign drawn per video): ``[B, T, 3, H, W]`` -> float32
    in ``[0, 1]``. Grey pixels are unchanged; 0 returns the input as float."""
    x = _as_float_videos(videos)
    if strength < 0:
        raise ValueError(f"colour shift strength is a fraction of a half turn >= 0, got {strength}")
    if strength == 0:
        return x
    out = torch.empty_like(x)
    for i, g in enumerate(_generators(seed, video_ids, x.shape[0])):
        sign = 1.0 if torch.rand(1, generator=g).item() < 0.5 else -1.0
        r = _rotation(sign * float(strength) * math.pi).float()  # [3, 3]
        out[i] = torch.einsum("ij,tjhw->tihw", r, x[i])
    return out.clamp_(0.0, 1.0)


DistortionFn = Callable[..., Tensor]
DISTORTIONS: dict[str, DistortionFn] = {
    "noise": gaussian_noise,
    "blur": gaussian_blur,
    "shuffle": shuffle_frames,
    "freeze": freeze_frames,
    "colour": colour_shift,
}
"""Name -> function ``(videos [B, T, 3, H, W], strength, seed=0, video_ids=None) -> float [B, T, 3, H, W]``."""
DEFINITIONS: dict[str, str] = {
    "noise": "x + strength * N(0, 1) per value, clamped to [0, 1]; per-video generators",
    "blur": "separable Gaussian, sigma = strength px, radius ceil(3 sigma) capped at min(H, W) - 1, reflect padding",
    "shuffle": "k = round(strength T) positions (nested random order per video) cycled by one place",
    "freeze": "frame t = clip at time (1 - strength) t, linear interpolation between neighbouring frames",
    "colour": ("per video, every pixel's RGB rotated about the grey axis (a hue rotation preserving grey levels) "
               "by strength * 180 degrees, direction drawn per video; clamped to [0, 1]"),
}
"""One-line definition of each distortion (stored in cache keys and results)."""


@dataclass(frozen=True)
class Distortion:
    """A named distortion at one strength, usable as a batch transform.

    Calling it with ``(videos [B, T, 3, H, W], video_ids)`` returns the distorted float videos in ``[0, 1]``.
    """

    name: str
    strength: float
    seed: int = 0

    def __post_init__(self) -> None:
        if self.name not in DISTORTIONS:
            raise ValueError(f"unknown distortion {self.name!r}; valid names: {', '.join(DISTORTIONS)}")

    def __call__(self, videos: Tensor, video_ids: Sequence[int] | None = None) -> Tensor:
        return DISTORTIONS[self.name](videos, self.strength, seed=self.seed, video_ids=video_ids)

    def to_dict(self) -> dict[str, object]:
        """Name, strength, seed and the definition (part of cache keys: a changed definition changes the key)."""
        return {"name": self.name, "strength": float(self.strength), "seed": int(self.seed),
                "definition": DEFINITIONS[self.name]}

    @property
    def label(self) -> str:
        return f"{self.name}@{self.strength:g}"


def apply_distortion(videos: Tensor, name: str, strength: float, seed: int = 0,
                     video_ids: Sequence[int] | None = None) -> Tensor:
    """Apply distortion ``name`` (one of :data:`DISTORTIONS`) at ``strength`` to ``videos`` [B, T, 3, H, W]."""
    return Distortion(name, float(strength), int(seed))(videos, video_ids)


def parse_distortion(text: str, seed: int = 0) -> Distortion:
    """``"noise:0.1"`` -> ``Distortion("noise", 0.1)``; the error lists valid names and the expected form."""
    name, sep, value = text.partition(":")
    if not sep:
        raise ValueError(f"expected NAME:STRENGTH (e.g. noise:0.1), got {text!r}; names: {', '.join(DISTORTIONS)}")
    try:
        strength = float(value)
    except ValueError as e:
        raise ValueError(f"strength in {text!r} is not a number; expected NAME:STRENGTH, e.g. blur:2") from e
    return Distortion(name.strip(), strength, seed)
