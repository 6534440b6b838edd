"""Per-frame PSNR and SSIM between generated and ground-truth videos.

Both take videos [B, T, 3, H, W] (torch or numpy; float in [0, 1], or uint8 in [0, 255] which is divided
by 255) and compare frame t of a prediction with frame t of its target; computation is in float64.

* PSNR = 10 log10(data_range^2 / MSE), MSE over the 3 x H x W values of a frame. Identical frames have
  MSE 0 and PSNR ``inf`` (then every mean containing them is ``inf`` too); pass ``psnr_cap_db`` (e.g. 100)
  to cap such values instead.
* SSIM (Wang et al. 2004): Gaussian window 11x11, sigma 1.5, K1 = 0.01, K2 = 0.03, data range 1,
  population (biased) local variances, "valid" window positions only (no padding: frames need H, W >= 11),
  computed per channel and averaged over the 3 channels, then over positions. Identical frames give 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

__all__ = ["FrameMetrics", "gaussian_window", "psnr_frames", "ssim_frames", "frame_metrics"]

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03


@dataclass(frozen=True)
class FrameMetrics:
    """Per-video per-frame scores and their means.

    Attributes:
        psnr: float64 [B, T], dB.
        ssim: float64 [B, T], in [-1, 1].
    """

    psnr: np.ndarray
    ssim: np.ndarray

    @property
    def psnr_mean(self) -> float:
        """Mean PSNR over all videos and frames (``inf`` if any frame is identical and uncapped)."""
        return float(self.psnr.mean())

    @property
    def ssim_per_frame(self) -> np.ndarray:
        """Mean over videos for each frame index: [T]."""
        return self.ssim.mean(axis=0)


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> np.ndarray:
    """Normalised 1-D Gaussian [size], float64, centred on index size // 2."""
    k = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(k**2) / (2.0 * sigma**2))
    return g / g.sum()


def _as_frames(videos: Tensor | np.ndarray, name: str) -> Tensor:
    """[B, T, 3, H, W] uint8 or float [0, 1] -> float64 tensor of the same shape (validated)."""
    x = torch.from_numpy(np.asarray(videos)) if isinstance(videos, np.ndarray) else videos
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor or numpy.ndarray, got {type(videos).__name__}")
    if x.ndim != 5 or x.shape[2] != 3:
        raise ValueError(f"{name} must be RGB videos [B, T, 3, H, W], got shape {tuple(x.shape)}")
    if x.dtype == torch.uint8:
        return x.detach().cpu().double() / 255.0
    if not x.is_floating_point():
        raise TypeError(f"{name} must be float in [0, 1] or uint8, got dtype {x.dtype}")
    x = x.detach().cpu().double()
    if x.numel() and (not torch.isfinite(x).all() or x.min() < -1e-3 or x.max() > 1.0 + 1e-3):
        raise ValueError(f"{name} must have values in [0, 1], got range [{float(x.min()):.4g}, {float(x.max()):.4g}]; "
                         "videos in [-1, 1] need (x + 1) / 2")
    return x.clamp(0.0, 1.0)


def _pair(pred: Tensor | np.ndarray, target: Tensor | np.ndarray) -> tuple[Tensor, Tensor]:
    p, t = _as_frames(pred, "pred"), _as_frames(target, "target")
    if p.shape != t.shape:
        raise ValueError(f"pred and target must have the same shape, got {tuple(p.shape)} and {tuple(t.shape)}")
    return p, t


def _psnr(p: Tensor, t: Tensor, data_range: float, cap_db: float | None) -> np.ndarray:
    mse = (p - t).pow(2).mean(dim=(2, 3, 4))  # [B, T]
    with np.errstate(divide="ignore"):
        psnr = 10.0 * np.log10(data_range**2 / mse.numpy())  # mse 0 -> inf
    if cap_db is not None:
        psnr = np.minimum(psnr, cap_db)
    return psnr


def _band(g: Tensor, n: int) -> Tensor:
    """``[n - k + 1, n]`` matrix whose row ``i`` holds the window ``g`` (length ``k``) at columns ``i..i+k-1``: its
    product with a signal of length ``n`` is the window's valid correlation."""
    k = len(g)
    band = torch.zeros(n - k + 1, n, dtype=g.dtype)
    for i in range(n - k + 1):
        band[i, i:i + k] = g
    return band


def _ssim(p: Tensor, t: Tensor, data_range: float, chunk_frames: int) -> np.ndarray:
    b, n_t, c, h, w = p.shape
    if h < SSIM_WINDOW or w < SSIM_WINDOW:
        raise ValueError(f"SSIM needs frames of at least {SSIM_WINDOW}x{SSIM_WINDOW}, got {h}x{w}")
    g = torch.from_numpy(gaussian_window())
    # the separable Gaussian window's valid positions as two banded matrices: a float64 matmul (BLAS) is ~8x faster
    # than a grouped float64 conv2d on CPU, equal to it within 1e-15
    a_h, a_w = _band(g, h), _band(g, w)  # [H-10, H], [W-10, W]
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2

    def blur(z: Tensor) -> Tensor:  # [N, C, H, W] -> [N, C, H-10, W-10], valid positions only
        return a_h @ z @ a_w.T

    pf, tf = p.reshape(b * n_t, c, h, w), t.reshape(b * n_t, c, h, w)
    scores = []
    for s in range(0, b * n_t, chunk_frames):
        x, y = pf[s:s + chunk_frames], tf[s:s + chunk_frames]
        n = x.shape[0]
        # one blur call for the five local moments: [5N, C, H, W]
        mu_x, mu_y, e_xx, e_yy, e_xy = blur(torch.cat([x, y, x * x, y * y, x * y])).split(n)
        var_x, var_y, cov_xy = e_xx - mu_x**2, e_yy - mu_y**2, e_xy - mu_x * mu_y
        ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov_xy + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
        scores.append(ssim_map.mean(dim=(2, 3)).mean(dim=1))  # per channel, then channel average: [n]
    return torch.cat(scores).reshape(b, n_t).numpy()


def psnr_frames(pred: Tensor | np.ndarray, target: Tensor | np.ndarray, data_range: float = 1.0,
                cap_db: float | None = None) -> np.ndarray:
    """PSNR of each frame: float64 [B, T] in dB (``inf`` for identical frames unless ``cap_db`` is set)."""
    p, t = _pair(pred, target)
    return _psnr(p, t, data_range, cap_db)


def ssim_frames(pred: Tensor | np.ndarray, target: Tensor | np.ndarray, data_range: float = 1.0,
                chunk_frames: int = 256) -> np.ndarray:
    """SSIM of each frame: float64 [B, T]; frames are processed ``chunk_frames`` at a time."""
    p, t = _pair(pred, target)
    return _ssim(p, t, data_range, chunk_frames)


def frame_metrics(pred: Tensor | np.ndarray, target: Tensor | np.ndarray, *, data_range: float = 1.0,
                  psnr_cap_db: float | None = None, chunk_frames: int = 256) -> FrameMetrics:
    """PSNR and SSIM of every frame of ``pred`` [B, T, 3, H, W] against ``target`` (same shape)."""
    p, t = _pair(pred, target)
    return FrameMetrics(psnr=_psnr(p, t, data_range, psnr_cap_db), ssim=_ssim(p, t, data_range, chunk_frames))
