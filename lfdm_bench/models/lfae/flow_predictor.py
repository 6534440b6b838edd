"""Dense motion ("pixelwise flow") predictor of MRAA/LFDM: from the region motions to one latent flow + occlusion.

Given source and driving regions, each region k gives a sparse motion (driving -> source coordinates)
``p -> A_s,k A_d,k^-1 (p - mu_d,k) + mu_s,k``; the background gives the global affine. An hourglass over the
Gaussian heatmap differences and the source warped by each of the K = R + 1 motions predicts softmax weights over
the K motions (their weighted sum is the dense flow) and a sigmoid occlusion map (1 = keep, 0 = inpaint).

``sees_driving`` (not in MRAA/LFDM) also feeds the downscaled driving frame to the hourglass, so the occlusion map
can mark where the driving frame shows what no motion of the source explains (an opened mouth, a blush): from
region motions alone, a 1-2 pixel mouth opening at 32 px is invisible to the predictor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .blocks import AntiAliasDownsample, Hourglass
from .region_predictor import RegionParams
from .warp import affine_to_grid, apply_2x2, geometry_dtype, identity_flow, identity_grid, inverse_2x2, matmul_2x2
from .warp import positive_axis, warp_multi


@dataclass
class DenseMotion:
    """Output of :class:`DenseMotionPredictor` (h, w = latent size, K = num_regions + 1, background first).

    flow: ``[B, h, w, 2]`` sampling grid in [-1, 1] (driving -> source).
    occlusion: ``[B, 1, h, w]`` in [0, 1]; 0 = must be inpainted, 1 = keep the warped source.
    mask: ``[B, K, h, w]`` softmax weights of the K motions.
    sparse_motions: ``[B, K, h, w, 2]`` the K candidate grids.
    sparse_deformed: ``[B, C, K, h, w]`` the downscaled source warped by each candidate, or None.
    """

    flow: Tensor
    occlusion: Tensor
    mask: Tensor
    sparse_motions: Tensor
    sparse_deformed: Optional[Tensor] = None


def gaussian_heatmaps(shift: Tensor, height: int, width: int, variance: float) -> Tensor:
    """Isotropic Gaussians ``exp(-|p - mu|^2 / (2 var))`` at ``shift [B, R, 2]`` -> ``[B, R, h, w]``."""
    grid = identity_grid(height, width, device=shift.device, dtype=shift.dtype)  # [h, w, 2]
    d = grid - shift[:, :, None, None, :]  # [B, R, h, w, 2]
    return torch.exp(-0.5 * (d * d).sum(-1) / variance)


def sparse_motions(height: int, width: int, source: RegionParams, driving: RegionParams,
                   bg_theta: Optional[Tensor] = None, revert_axis_swap: bool = True) -> Tensor:
    """The K = R + 1 candidate sampling grids ``[B, K, h, w, 2]``: background (``bg_theta [B, 2, 3]`` or the
    identity) first, then one per region (translation only when the regions carry no affine)."""
    b = source.shift.shape[0]
    grid = identity_grid(height, width, device=source.shift.device, dtype=source.shift.dtype)  # [h, w, 2]
    rel = grid - driving.shift[:, :, None, None, :]  # [B, R, h, w, 2]
    if source.affine is not None and driving.affine is not None:
        a = matmul_2x2(source.affine, inverse_2x2(driving.affine))  # [B, R, 2, 2]
        if revert_axis_swap:
            a = positive_axis(a)
        rel = apply_2x2(a[:, :, None, None], rel)  # [B, R, h, w, 2]
    regions = rel + source.shift[:, :, None, None, :]  # [B, R, h, w, 2]
    if bg_theta is None:
        bg = identity_flow(b, height, width, device=grid.device, dtype=grid.dtype)
    else:
        bg = affine_to_grid(bg_theta.to(grid.dtype), height, width)  # [B, h, w, 2]
    return torch.cat([bg[:, None], regions], dim=1)  # [B, K, h, w, 2]


class DenseMotionPredictor(nn.Module):
    """``(source [B, C, H, W], source regions, driving regions, bg_theta [B, 2, 3] | None) ->`` :class:`DenseMotion`
    at ``[H*scale, W*scale]``; flow, occlusion and mask are at least fp32 whatever the feature precision."""

    def __init__(self, num_channels: int, num_regions: int, block_expansion: int, max_features: int,
                 num_blocks: int, scale_factor: float = 0.25, heatmap_variance: float = 0.01,
                 use_deformed_source: bool = True, revert_axis_swap: bool = True, norm: str = "batch",
                 sees_driving: bool = False):
        super().__init__()
        k = num_regions + 1
        self.down = AntiAliasDownsample(num_channels, scale_factor)
        in_channels = k * (1 + (num_channels if use_deformed_source else 0)) + (num_channels if sees_driving else 0)
        self.sees_driving = sees_driving
        self.hourglass = Hourglass(in_channels, block_expansion, max_features, num_blocks, norm)
        self.mask = nn.Conv2d(self.hourglass.out_channels, k, kernel_size=7, padding=3)
        self.occlusion = nn.Conv2d(self.hourglass.out_channels, 1, kernel_size=7, padding=3)
        self.heatmap_variance = heatmap_variance
        self.use_deformed_source = use_deformed_source
        self.revert_axis_swap = revert_axis_swap

    def forward(self, source: Tensor, source_regions: RegionParams, driving_regions: RegionParams,
                bg_theta: Optional[Tensor] = None, driving: Optional[Tensor] = None) -> DenseMotion:
        """``driving [B, C, H, W]`` is needed (and only used) when the predictor ``sees_driving``."""
        src = self.down(source)  # [B, C, h, w]
        b, _, h, w = src.shape
        var = self.heatmap_variance
        diff = (gaussian_heatmaps(driving_regions.shift, h, w, var)
                - gaussian_heatmaps(source_regions.shift, h, w, var))  # [B, R, h, w]
        heat = torch.cat([diff.new_zeros(b, 1, h, w), diff], dim=1)  # [B, K, h, w], background first
        motions = sparse_motions(h, w, source_regions, driving_regions, bg_theta, self.revert_axis_swap)
        parts = [heat[:, None].to(src.dtype)]  # [B, 1, K, h, w]
        deformed = None
        if self.use_deformed_source:
            deformed = warp_multi(src, motions)  # [B, C, K, h, w]
            parts.append(deformed)
        x = torch.cat(parts, dim=1).view(b, -1, h, w)  # [B, (1 + C) * K, h, w]
        if self.sees_driving:
            if driving is None:
                raise ValueError("DenseMotionPredictor(sees_driving=True) needs the driving frame")
            x = torch.cat([x, self.down(driving).to(x.dtype)], dim=1)  # [B, (1 + C) * K + C, h, w]
        feat = self.hourglass(x)
        mask = F.softmax(geometry_dtype(self.mask(feat)), dim=1)  # [B, K, h, w], >= fp32
        flow = (mask[..., None] * motions).sum(dim=1)  # [B, h, w, 2]
        occlusion = torch.sigmoid(geometry_dtype(self.occlusion(feat)))  # [B, 1, h, w]
        return DenseMotion(flow=flow, occlusion=occlusion, mask=mask, sparse_motions=motions,
                           sparse_deformed=deformed)
