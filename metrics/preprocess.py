"""Video layout checks and the resize/rescale that turns videos into I3D input.

The FVD value depends on how frames reach 224x224, so the method is a named, recorded choice:

* ``"bilinear-tats"`` (default): ``torch.nn.functional.interpolate(mode="bilinear", align_corners=False,
  antialias=False)`` straight to 224x224, aspect ratio not kept, no crop (TATS / cd-fvd convention).
* ``"bilinear-antialias"``: the same with ``antialias=True`` (differs only when downsampling).
* ``"videogpt-shortside-crop"``: bilinear (align_corners=False) resize of the shorter side to 224, then a
  centre crop to 224x224 (VideoGPT convention).

Every method works on whole batches ([B*T, 3, H, W] at once, never a loop over frames), after which the
values are scaled from [0, 1] to [-1, 1] (``2 * x / 255 - 1`` for uint8).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "RESIZE_METHODS",
    "DEFAULT_RESIZE_METHOD",
    "VIDEO_LAYOUTS",
    "to_bcthw",
    "to_unit_float",
    "resize_frames",
    "to_i3d_input",
]

RESIZE_METHODS = ("bilinear-tats", "bilinear-antialias", "videogpt-shortside-crop")
DEFAULT_RESIZE_METHOD = "bilinear-tats"
VideoLayout = Literal["BTCHW", "BCTHW", "BTHWC"]
VIDEO_LAYOUTS = ("BTCHW", "BCTHW", "BTHWC")
_FLOAT_TOL = 1e-3  # floats may overshoot [0, 1] by this much (decoder rounding); they are clamped


def to_bcthw(videos: Tensor | np.ndarray, layout: VideoLayout = "BTCHW") -> Tensor:
    """Return ``videos`` as a tensor [B, 3, T, H, W] (a view when possible), checking the layout.

    Args:
        videos: a batch of RGB videos, torch tensor or numpy array, uint8 or floating point, in one of
            the layouts ``"BTCHW"`` ([B, T, 3, H, W], the clip layout of this project, default),
            ``"BCTHW"`` ([B, 3, T, H, W]) or ``"BTHWC"`` ([B, T, H, W, 3], decoded-video layout).
        layout: which of the three layouts ``videos`` uses.
    """
    if layout not in VIDEO_LAYOUTS:
        raise ValueError(f"layout must be one of {VIDEO_LAYOUTS}, got {layout!r}")
    x = torch.from_numpy(np.ascontiguousarray(videos)) if isinstance(videos, np.ndarray) else videos
    if not isinstance(x, Tensor):
        raise TypeError(f"videos must be a torch.Tensor or numpy.ndarray, got {type(videos).__name__}")
    channel_dim = {"BTCHW": 2, "BCTHW": 1, "BTHWC": 4}[layout]
    if x.ndim != 5 or x.shape[channel_dim] != 3:
        hint = " A single clip [T, 3, H, W] needs a batch dimension: pass clip[None]." if x.ndim == 4 else ""
        raise ValueError(
            f"Expected RGB videos in layout {layout} (5 dims, 3 channels at dim {channel_dim}), "
            f"got shape {tuple(x.shape)}.{hint}"
        )
    if layout == "BTCHW":
        return x.permute(0, 2, 1, 3, 4)
    if layout == "BTHWC":
        return x.permute(0, 4, 1, 2, 3)
    return x


def to_unit_float(videos: Tensor) -> Tensor:
    """uint8 [0, 255] -> float32 [0, 1]; floating input must already lie in [0, 1] and is clamped.

    Raises:
        TypeError: dtype neither uint8 nor floating point.
        ValueError: floating input outside [0, 1] by more than 1e-3 (e.g. videos in [-1, 1]).
    """
    if videos.dtype == torch.uint8:
        return videos.float() / 255.0
    if not videos.is_floating_point():
        raise TypeError(f"videos must be uint8 in [0, 255] or float in [0, 1], got dtype {videos.dtype}")
    x = videos.float()
    if x.numel():
        lo, hi = float(x.min()), float(x.max())
        if not (math.isfinite(lo) and math.isfinite(hi)) or lo < -_FLOAT_TOL or hi > 1.0 + _FLOAT_TOL:
            raise ValueError(
                f"Float videos must have values in [0, 1], got range [{lo:.4g}, {hi:.4g}]. "
                "Videos in [-1, 1] need (x + 1) / 2; uint8 videos can be passed as they are."
            )
    return x.clamp(0.0, 1.0)


def resize_frames(videos: Tensor, size: int = 224, method: str = DEFAULT_RESIZE_METHOD) -> Tensor:
    """Resize every frame of float ``videos`` [B, C, T, H, W] to [B, C, T, size, size].

    The T frames are folded into the batch ([B*T, C, H, W]) and resized in one call.
    """
    if method not in RESIZE_METHODS:
        raise ValueError(f"Unknown resize method {method!r}; choose one of {RESIZE_METHODS}")
    if videos.ndim != 5 or not videos.is_floating_point():
        raise ValueError(f"resize_frames expects float [B, C, T, H, W], got {videos.dtype} {tuple(videos.shape)}")
    b, c, t, h, w = videos.shape
    frames = videos.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w)  # [B*T, C, H, W]
    if method == "videogpt-shortside-crop":
        scale = size / min(h, w)
        target = (size, math.ceil(w * scale)) if h < w else (math.ceil(h * scale), size)
        if target != (h, w):
            frames = F.interpolate(frames, size=target, mode="bilinear", align_corners=False)
        top, left = (frames.shape[2] - size) // 2, (frames.shape[3] - size) // 2
        frames = frames[:, :, top:top + size, left:left + size]
    elif (h, w) != (size, size):
        frames = F.interpolate(frames, size=(size, size), mode="bilinear", align_corners=False,
                               antialias=(method == "bilinear-antialias"))
    return frames.reshape(b, t, c, size, size).permute(0, 2, 1, 3, 4)  # [B, C, T, size, size]


def to_i3d_input(videos: Tensor, method: str = DEFAULT_RESIZE_METHOD, size: int = 224) -> Tensor:
    """Videos [B, 3, T, H, W] (uint8 [0, 255] or float [0, 1]) -> float32 [B, 3, T, 224, 224] in [-1, 1]."""
    if videos.ndim != 5 or videos.shape[1] != 3:
        raise ValueError(f"to_i3d_input expects [B, 3, T, H, W], got {tuple(videos.shape)}; "
                         "convert other layouts with to_bcthw(videos, layout)")
    x = resize_frames(to_unit_float(videos), size=size, method=method)
    return x * 2.0 - 1.0
