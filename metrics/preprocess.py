"""Video layout checks, the resize/rescale that turns videos into I3D input, and the load-time resize and
quantisation of the FVD protocol presets (:mod:`metrics.presets`).

The FVD value depends on how frames reach 224x224, so the method is a named, recorded choice. Each method follows
its reference's arithmetic order (so a preset's features equal the reference's bit for bit where the same torch
call is used):

* ``"bilinear-tats"`` (default): ``torch.nn.functional.interpolate(mode="bilinear", align_corners=False,
  antialias=False)`` on 0-255 values straight to 224x224, aspect ratio not kept, no crop, then
  ``2 * x / 255 - 1`` (TATS / cd-fvd ``fvd.py`` / ``third_party/i3d/utils.py``).
* ``"bilinear-antialias"``: the same with ``antialias=True`` (differs only when downsampling).
* ``"videogpt-shortside-crop"``: ``x / 255``, bilinear (align_corners=False) resize of the shorter side to 224
  (``ceil`` on the longer side), a centre crop to 224x224, then ``(x - 0.5) * 2`` (VideoGPT ``data.py`` + ``fvd.py``).
* ``"tf-legacy-bilinear"``: TensorFlow 1's ``tf.image.resize_bilinear(align_corners=False,
  half_pixel_centers=False)`` on 0-255 values: source coordinate ``dst * in / out`` (no half-pixel offset), the two
  neighbours ``floor`` and ``min(ceil, in - 1)``, ``top + (bottom - top) * lerp`` in float32; then
  ``2 * x / 255 - 1`` (the original TF FVD).

Every method works on whole batches ([B*T, 3, H, W] at once, never a loop over frames).

Load-time steps (frames -> the evaluation resolution, before the detector; :func:`load_resize`, :func:`quantize`):
``shortside-crop`` / ``shortside-crop-antialias`` resize float ``[0, 1]`` frames as TATS / VideoGPT / cd-fvd
``data.py`` do, and the quantisation modes turn them into uint8 as each reference does (see
:mod:`metrics.presets`).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from lfdm_bench.data.transforms import to_uint8_tensor
from metrics.presets import LOAD_RESIZES, QUANTIZE_MODES

__all__ = [
    "RESIZE_METHODS",
    "DEFAULT_RESIZE_METHOD",
    "VIDEO_LAYOUTS",
    "to_bcthw",
    "to_unit_float",
    "resize_frames",
    "to_i3d_input",
    "tf_legacy_bilinear",
    "shortside_crop",
    "load_resize",
    "quantize",
]

RESIZE_METHODS = ("bilinear-tats", "bilinear-antialias", "videogpt-shortside-crop", "tf-legacy-bilinear")
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


def shortside_crop(frames: Tensor, size: int, antialias: bool = False) -> Tensor:
    """Frames [N, C, H, W] (float) -> [N, C, size, size]: the shorter side bilinearly to ``size`` (the longer one to
    ``ceil(side * size / shorter)``, ``align_corners=False``), then the centre ``size x size`` crop (top-left offset
    ``(side - size) // 2``), as VideoGPT / TATS / cd-fvd ``preprocess`` do (interpolate is called even at scale 1,
    where it is the identity)."""
    h, w = frames.shape[-2:]
    scale = size / min(h, w)
    target = (size, math.ceil(w * scale)) if h < w else (math.ceil(h * scale), size)
    frames = F.interpolate(frames, size=target, mode="bilinear", align_corners=False, antialias=antialias)
    top, left = (frames.shape[-2] - size) // 2, (frames.shape[-1] - size) // 2
    return frames[..., top:top + size, left:left + size]


def _legacy_grid(n_in: int, n_out: int) -> tuple[Tensor, Tensor, Tensor]:
    """TF1 legacy bilinear sampling of one axis: (lower index, upper index, float32 lerp) per output position."""
    scale = np.float32(n_in) / np.float32(n_out)
    src = np.arange(n_out, dtype=np.float32) * scale  # legacy scaler: dst * in / out in float32
    lower = np.floor(src)
    upper = np.minimum(np.ceil(src), n_in - 1)
    lerp = (src - lower).astype(np.float32)
    return (torch.from_numpy(np.maximum(lower, 0).astype(np.int64)), torch.from_numpy(upper.astype(np.int64)),
            torch.from_numpy(lerp))


def tf_legacy_bilinear(frames: Tensor, size: int = 224) -> Tensor:
    """TensorFlow 1 ``tf.image.resize_bilinear(frames, (size, size))`` (``align_corners=False``,
    ``half_pixel_centers=False``) of float frames [N, C, H, W]: float32 ``top + (bottom - top) * y_lerp`` with
    ``top = tl + (tr - tl) * x_lerp`` on the legacy grid (source ``dst * in / out``, no antialias)."""
    h, w = frames.shape[-2:]
    y0, y1, ly = (t.to(frames.device) for t in _legacy_grid(h, size))
    x0, x1, lx = (t.to(frames.device) for t in _legacy_grid(w, size))
    x = frames.float()
    top_rows, bottom_rows = x[..., y0, :], x[..., y1, :]  # [N, C, size, W]
    tl, tr = top_rows[..., x0], top_rows[..., x1]
    bl, br = bottom_rows[..., x0], bottom_rows[..., x1]
    top = tl + (tr - tl) * lx
    bottom = bl + (br - bl) * lx
    return top + (bottom - top) * ly[:, None]


def resize_frames(videos: Tensor, size: int = 224, method: str = DEFAULT_RESIZE_METHOD) -> Tensor:
    """Resize every frame of float ``videos`` [B, C, T, H, W] to [B, C, T, size, size] (values unchanged in scale).

    The T frames are folded into the batch ([B*T, C, H, W]) and resized in one call.
    """
    if method not in RESIZE_METHODS:
        raise ValueError(f"Unknown resize method {method!r}; choose one of {RESIZE_METHODS}")
    if videos.ndim != 5 or not videos.is_floating_point():
        raise ValueError(f"resize_frames expects float [B, C, T, H, W], got {videos.dtype} {tuple(videos.shape)}")
    b, c, t, h, w = videos.shape
    frames = videos.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w)  # [B*T, C, H, W]
    if method == "videogpt-shortside-crop":
        frames = shortside_crop(frames, size)
    elif method == "tf-legacy-bilinear":
        frames = tf_legacy_bilinear(frames, size)
    elif (h, w) != (size, size):
        frames = F.interpolate(frames, size=(size, size), mode="bilinear", align_corners=False,
                               antialias=(method == "bilinear-antialias"))
    return frames.reshape(b, t, c, size, size).permute(0, 2, 1, 3, 4)  # [B, C, T, size, size]


def to_i3d_input(videos: Tensor, method: str = DEFAULT_RESIZE_METHOD, size: int = 224) -> Tensor:
    """Videos [B, 3, T, H, W] (uint8 [0, 255] or float [0, 1]) -> float32 [B, 3, T, 224, 224] in [-1, 1].

    The value order follows the method's reference: ``videogpt-shortside-crop`` scales to [0, 1] first and maps
    ``(x - 0.5) * 2`` after the crop; the other methods resize 0-255 values and map ``2 * x / 255 - 1`` after.
    """
    if videos.ndim != 5 or videos.shape[1] != 3:
        raise ValueError(f"to_i3d_input expects [B, 3, T, H, W], got {tuple(videos.shape)}; "
                         "convert other layouts with to_bcthw(videos, layout)")
    if method not in RESIZE_METHODS:
        raise ValueError(f"Unknown resize method {method!r}; choose one of {RESIZE_METHODS}")
    unit = to_unit_float(videos)
    if method == "videogpt-shortside-crop":
        return (resize_frames(unit, size=size, method=method) - 0.5) * 2.0
    x255 = videos.float() if videos.dtype == torch.uint8 else unit * 255.0
    return 2.0 * resize_frames(x255, size=size, method=method) / 255.0 - 1.0


LOAD_RESIZE_MODES = LOAD_RESIZES
QUANTIZE = QUANTIZE_MODES


def load_resize(video: Tensor, size: int, mode: str) -> Tensor:
    """Float frames [T, 3, H, W] in [0, 1] -> [T, 3, size, size] by ``shortside-crop`` (TATS / VideoGPT
    ``data.py``: no antialias) or ``shortside-crop-antialias`` (cd-fvd ``data_utils.py``). ``pad`` (the toolkit's
    keep-aspect loader) is done by :class:`~lfdm_bench.data.dataset.ClipDataset` itself and is refused here."""
    if mode not in LOAD_RESIZE_MODES[1:]:
        raise ValueError(f"load_resize handles {LOAD_RESIZE_MODES[1:]}, got {mode!r} ('pad' is the ClipDataset's)")
    if video.ndim != 4 or not video.is_floating_point():
        raise ValueError(f"load_resize expects float frames [T, 3, H, W], got {video.dtype} {tuple(video.shape)}")
    return shortside_crop(video, size, antialias=mode.endswith("antialias"))


def quantize(video: Tensor, mode: str = "round") -> Tensor:
    """Float frames in [0, 1] -> uint8, as a reference does it.

    * ``round``: ``round(255 x)`` (half to even), the toolkit's :func:`~lfdm_bench.data.transforms.to_uint8_tensor`;
    * ``truncate``: ``(x * 255).byte()`` (cd-fvd; TATS / VideoGPT generated samples);
    * ``truncate-shifted``: ``(((x - 0.5) + 0.5) * 255).byte()``: TATS / VideoGPT real clips, which ``data.py``
      centres at 0 and the FVD script shifts back before truncating (63 of the 256 exact levels drop by one);
    * ``round-half-up``: ``floor(255 x + 0.5)`` (StyleGAN-V's ``(x * 127.5 + 128).clamp(0, 255).to(uint8)`` on
      ``[-1, 1]`` output).

    Values are clamped to [0, 255] before the cast (in-range values are unaffected).
    """
    if mode not in QUANTIZE:
        raise ValueError(f"quantize mode must be one of {QUANTIZE}, got {mode!r}")
    if video.dtype == torch.uint8:
        raise ValueError("quantize expects float frames in [0, 1]; uint8 frames are quantised already")
    x = video.float()
    if mode == "round":
        return to_uint8_tensor(x)
    if mode == "truncate":
        return (x * 255.0).clamp_(0, 255).to(torch.uint8)
    if mode == "truncate-shifted":
        return (((x - 0.5) + 0.5) * 255.0).clamp_(0, 255).to(torch.uint8)
    return (x * 255.0 + 0.5).floor_().clamp_(0, 255).to(torch.uint8)
