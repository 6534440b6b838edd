"""Frame transforms on whole clips: crops (by a :class:`~lfdm_bench.data.records.CropBox`), aspect-preserving resize
with zero padding, flips, dtype changes.

Every function works on a batch of frames at once (``[T, 3, H, W]``, or any leading dimensions before ``H, W``):
no Python loop runs over frames or pixels. Resizing uses ``torch.nn.functional.interpolate`` (bilinear with
antialiasing when shrinking), never torchvision.

Geometry of :func:`resize_pad` follows LFDM's ``misc.resize``: the longer side becomes ``size``, the shorter one
``floor(side * size / longer)``; the image is centred, with ``(size - new) // 2`` zero rows/columns before it and the
rest after it.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from lfdm_bench.data.records import CropBox


def frames_to_tensor(frames: np.ndarray) -> torch.Tensor:
    """uint8 numpy ``[T, H, W, 3]`` -> uint8 tensor ``[T, 3, H, W]`` (a view-free contiguous copy)."""
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"expected frames [T, H, W, 3], got shape {frames.shape}")
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).contiguous()


def to_float(video: torch.Tensor) -> torch.Tensor:
    """uint8 ``[0, 255]`` -> float32 ``[0, 1]``; float tensors are returned as float32 unchanged."""
    if video.dtype == torch.uint8:
        return video.to(torch.float32).div_(255.0)
    return video.to(torch.float32)


def to_uint8_tensor(video: torch.Tensor) -> torch.Tensor:
    """float ``[0, 1]`` -> uint8 ``[0, 255]`` (rounded half to even, clamped), a torch tensor of the same layout and
    device; uint8 tensors are returned unchanged. For frames to write or show (numpy ``[T, H, W, 3]``) see
    :func:`lfdm_bench.data.video_io.to_uint8_frames`."""
    if video.dtype == torch.uint8:
        return video
    return video.mul(255.0).round_().clamp_(0, 255).to(torch.uint8)


def crop(video: torch.Tensor, box: CropBox | Sequence[int], path: str | os.PathLike | None = None) -> torch.Tensor:
    """Crop ``[..., H, W]`` to ``box``; the box must lie inside the frame.

    Raises:
        ValueError: the box exceeds the frame (naming ``path`` when given, and how to turn the crop off).
    """
    box = CropBox.parse(box)
    h, w = video.shape[-2:]
    if box.bottom > h or box.right > w:
        where = f"{path}: " if path is not None else ""
        raise ValueError(
            f"{where}crop box rows {box.top}:{box.bottom}, cols {box.left}:{box.right} does not fit in a {h}x{w} frame; "
            "the crop is meant for the dataset's native resolution: turn it off with the dataset option crop=false "
            "(`data info` and `eval`: --no-crop; a run config: --set data.options.crop=false)"
        )
    return video[..., box.top:box.bottom, box.left:box.right]


def resize_pad_geometry(height: int, width: int, size: int) -> tuple[int, int, int, int]:
    """Where a ``height x width`` frame lands in a ``size x size`` square: ``(new_h, new_w, top, left)``."""
    if height < 1 or width < 1 or size < 1:
        raise ValueError(f"sizes must be positive, got frame {height}x{width}, target {size}")
    longer = max(height, width)
    new_h = max(1, height * size // longer)
    new_w = max(1, width * size // longer)
    return new_h, new_w, (size - new_h) // 2, (size - new_w) // 2


def resize_pad(video: torch.Tensor, size: int, antialias: bool = True) -> torch.Tensor:
    """Aspect-preserving resize so the longer side is ``size``, then centred zero padding to ``size x size``.

    Args:
        video: ``[T, C, H, W]`` uint8 ``[0, 255]`` or float ``[0, 1]``.
        size: side of the square output.
        antialias: antialiased bilinear when shrinking (as ``cv2.INTER_AREA`` does for LFDM); no effect on enlarging.

    Returns:
        float32 ``[T, C, size, size]`` in ``[0, 1]``; padding is exactly 0.
    """
    if video.ndim != 4:
        raise ValueError(f"expected a video [T, C, H, W], got shape {tuple(video.shape)}")
    t, c, h, w = video.shape
    x = to_float(video)
    new_h, new_w, top, left = resize_pad_geometry(h, w, size)
    if (new_h, new_w) != (h, w):
        x = F.interpolate(x, size=(new_h, new_w), mode="bilinear", align_corners=False,
                          antialias=antialias and (new_h < h or new_w < w)).clamp_(0.0, 1.0)
    if (new_h, new_w) == (size, size):
        return x.contiguous()
    out = x.new_zeros((t, c, size, size))
    out[:, :, top:top + new_h, left:left + new_w] = x
    return out


def hflip(video: torch.Tensor) -> torch.Tensor:
    """Mirror left-right: ``[..., H, W]`` flipped along W."""
    return video.flip(-1)


def time_flip(video: torch.Tensor) -> torch.Tensor:
    """Play backwards: ``[T, ...]`` flipped along T."""
    return video.flip(0)
