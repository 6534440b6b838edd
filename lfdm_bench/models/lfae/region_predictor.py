"""Region predictor (MRAA): an hourglass on the x``scale`` image predicts ``R`` soft region heatmaps; each region is
summarised by its mean (shift) and, PCA-based, an affine ``U diag(sqrt(lambda))`` from the heatmap covariance.

The eigendecomposition of the 2x2 covariances is closed-form and batched on the input's device (the official code
calls ``torch.svd`` on the CPU for every frame of every step)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .blocks import AntiAliasDownsample, Hourglass
from .warp import geometry_dtype, identity_grid

EIG_EPS = 1e-8  # added under the square root of the eigenvalue gap: keeps gradients finite for isotropic regions
MIN_VARIANCE = 1e-5  # floor on the eigenvalues before sqrt: keeps region affines invertible


@dataclass
class RegionParams:
    """Regions of a batch of frames (coordinates are normalised (x, y) in [-1, 1]).

    heatmap: ``[B, R, h, w]`` softmax over space (sums to 1 per region).
    shift: ``[B, R, 2]`` heatmap mean.
    covar: ``[B, R, 2, 2]`` heatmap covariance.
    affine: ``[B, R, 2, 2]`` ``U diag(sqrt(lambda))`` with U a rotation (``U[0, 0] >= 0``) whose first column is the
        principal axis, or None when affines are not estimated (translation-only regions).
    """

    heatmap: Tensor
    shift: Tensor
    covar: Tensor
    affine: Optional[Tensor] = None

    def map(self, fn: Callable[[Tensor], Tensor]) -> "RegionParams":
        """Apply ``fn`` to every tensor (all are batch-first), e.g. ``p.map(lambda t: t[:n])``."""
        return RegionParams(**{f.name: (None if getattr(self, f.name) is None else fn(getattr(self, f.name)))
                               for f in dataclasses.fields(self)})


def sym_eig_2x2(a: Tensor, b: Tensor, c: Tensor, eps: float = EIG_EPS) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Closed-form eigendecomposition of symmetric ``[[a, b], [b, c]]`` (elementwise over any shape).

    Returns ``(lambda1, lambda2, cos, sin)``: eigenvalues ``lambda1 >= lambda2`` and the principal axis
    ``(cos, sin)`` with ``cos >= 0`` (angle in (-pi/2, pi/2]); the second eigenvector is ``(-sin, cos)``.
    """
    m = (a + c) / 2
    h = (a - c) / 2
    r = torch.sqrt(h * h + b * b + eps)  # half the eigenvalue gap
    l1, l2 = m + r, m - r
    # Eigenvectors of lambda1: (r + h, b) and (b, r - h) are both exact; take the one with norm >= r.
    first = h >= 0
    vx = torch.where(first, r + h, b)
    vy = torch.where(first, b, r - h)
    flip = torch.where(vx < 0, -1.0, 1.0).to(vx.dtype)  # canonical sign: cos >= 0
    vx, vy = vx * flip, vy * flip
    norm = torch.sqrt(vx * vx + vy * vy)
    return l1, l2, vx / norm, vy / norm


def heatmap_to_regions(heatmap: Tensor, estimate_affine: bool = True) -> RegionParams:
    """``heatmap [B, R, h, w]`` (sums to 1 over space) -> :class:`RegionParams` (all batched, no loops)."""
    _, _, h, w = heatmap.shape
    grid = identity_grid(h, w, device=heatmap.device, dtype=heatmap.dtype)  # [h, w, 2]
    gx, gy = grid[..., 0], grid[..., 1]  # [h, w]
    mx = (heatmap * gx).sum(dim=(2, 3))  # [B, R]
    my = (heatmap * gy).sum(dim=(2, 3))
    shift = torch.stack([mx, my], dim=-1)  # [B, R, 2]
    dx = gx - mx[..., None, None]  # [B, R, h, w]
    dy = gy - my[..., None, None]
    cxx = (heatmap * dx * dx).sum(dim=(2, 3))  # [B, R]
    cxy = (heatmap * dx * dy).sum(dim=(2, 3))
    cyy = (heatmap * dy * dy).sum(dim=(2, 3))
    covar = torch.stack([torch.stack([cxx, cxy], -1), torch.stack([cxy, cyy], -1)], -2)  # [B, R, 2, 2]
    affine = None
    if estimate_affine:
        l1, l2, cos, sin = sym_eig_2x2(cxx, cxy, cyy)
        s1 = torch.sqrt(l1.clamp(min=MIN_VARIANCE))
        s2 = torch.sqrt(l2.clamp(min=MIN_VARIANCE))
        # U diag(s) with U = [[cos, -sin], [sin, cos]]
        affine = torch.stack([torch.stack([cos * s1, -sin * s2], -1),
                              torch.stack([sin * s1, cos * s2], -1)], -2)  # [B, R, 2, 2]
    return RegionParams(heatmap=heatmap, shift=shift, covar=covar, affine=affine)


class RegionPredictor(nn.Module):
    """``[B, C, H, W]`` frames in [0, 1] -> :class:`RegionParams` with heatmaps at ``[H*scale, W*scale]`` (>= fp32).

    Hourglass on the anti-aliased x``scale`` image, a 7x7 conv to ``num_regions`` logits ("same" padding, so heatmap
    pixels line up with image pixels), spatial softmax at ``temperature``.
    """

    def __init__(self, num_channels: int, num_regions: int, block_expansion: int, max_features: int,
                 num_blocks: int, temperature: float = 0.1, scale_factor: float = 0.25,
                 estimate_affine: bool = True, norm: str = "batch"):
        super().__init__()
        self.down = AntiAliasDownsample(num_channels, scale_factor)
        self.hourglass = Hourglass(num_channels, block_expansion, max_features, num_blocks, norm)
        self.regions = nn.Conv2d(self.hourglass.out_channels, num_regions, kernel_size=7, padding=3)
        self.temperature = temperature
        self.estimate_affine = estimate_affine

    def forward(self, x: Tensor) -> RegionParams:
        logits = geometry_dtype(self.regions(self.hourglass(self.down(x))))  # [B, R, h, w], >= fp32
        b, r, h, w = logits.shape
        heatmap = F.softmax(logits.flatten(2) / self.temperature, dim=2).view(b, r, h, w)
        return heatmap_to_regions(heatmap, self.estimate_affine)
