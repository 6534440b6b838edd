"""Sampling grids, backward warping and small 2x2 geometry shared by the LFAE modules.

Conventions used everywhere in :mod:`lfdm_bench.models.lfae`:

- A *grid* (also called *flow*) is a ``[B, h, w, 2]`` tensor of normalised sampling coordinates in [-1, 1], last
  dim ordered (x, y) as :func:`torch.nn.functional.grid_sample` expects. (-1, -1) is the centre of the top-left
  pixel and (1, 1) the centre of the bottom-right one (``align_corners=True``), so the identity grid reproduces an
  image exactly and bilinear resizing of an affine grid stays affine, borders included.
- A grid maps *output* (driving-frame) positions to *input* (source-frame) positions: backward warping.
- 2x2 products are written out elementwise instead of with ``matmul``/``einsum``: under autocast these stay in the
  input precision (fp32 region geometry), and for 2x2 matrices they are as fast.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

ALIGN_CORNERS = True
_LOW_PRECISION = (torch.float16, torch.bfloat16)


def geometry_dtype(t: Tensor) -> Tensor:
    """Upcast half/bfloat16 to float32 (other dtypes unchanged): region geometry, flows and occlusion are always
    computed in at least fp32, also under autocast or in a half-precision model."""
    return t.float() if t.dtype in _LOW_PRECISION else t


def identity_grid(height: int, width: int, *, device=None, dtype=None) -> Tensor:
    """Identity sampling grid ``[height, width, 2]`` with (x, y) in [-1, 1] (pixel centres at the ends)."""
    dtype = dtype or torch.get_default_dtype()
    ys = torch.linspace(-1.0, 1.0, height, device=device, dtype=dtype)
    xs = torch.linspace(-1.0, 1.0, width, device=device, dtype=dtype)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")  # [h, w] each
    return torch.stack([gx, gy], dim=-1)  # [h, w, 2]


def identity_flow(batch: int, height: int, width: int, *, device=None, dtype=None) -> Tensor:
    """Identity flow ``[batch, height, width, 2]`` (a view of one grid expanded over the batch)."""
    return identity_grid(height, width, device=device, dtype=dtype).expand(batch, height, width, 2)


def resize_grid(grid: Tensor, size: tuple[int, int]) -> Tensor:
    """Bilinearly resize a grid ``[B, h, w, 2]`` to ``[B, *size, 2]``; the values (coordinates) are unchanged."""
    if tuple(grid.shape[1:3]) == tuple(size):
        return grid
    g = grid.permute(0, 3, 1, 2)  # [B, 2, h, w]
    g = F.interpolate(g, size=tuple(size), mode="bilinear", align_corners=ALIGN_CORNERS)
    return g.permute(0, 2, 3, 1)  # [B, H, W, 2]


def resize_map(m: Tensor, size: tuple[int, int]) -> Tensor:
    """Bilinearly resize a map ``[B, C, h, w]`` (e.g. the occlusion map) to ``[B, C, *size]``."""
    if tuple(m.shape[-2:]) == tuple(size):
        return m
    return F.interpolate(m, size=tuple(size), mode="bilinear", align_corners=ALIGN_CORNERS)


def warp(x: Tensor, grid: Tensor, padding_mode: str = "zeros") -> Tensor:
    """Backward-warp ``x [B, C, H, W]`` with ``grid [B, h, w, 2]`` -> ``[B, C, h, w]`` (bilinear, x's dtype).

    The output has the grid's size; resize the grid first (:func:`resize_grid`) to warp at the input's size.
    When the dtypes differ (fp32 grid, half features) the sampling runs in the grid's precision.
    """
    if grid.shape[0] != x.shape[0] or grid.dim() != 4 or grid.shape[-1] != 2:
        raise ValueError(f"warp expects x [B, C, H, W] and grid [B, h, w, 2], got {tuple(x.shape)} and "
                         f"{tuple(grid.shape)}")
    out = F.grid_sample(x.to(grid.dtype), grid, mode="bilinear", padding_mode=padding_mode,
                        align_corners=ALIGN_CORNERS)
    return out.to(x.dtype)


def warp_multi(x: Tensor, grids: Tensor, padding_mode: str = "zeros") -> Tensor:
    """Warp each image by K grids: ``x [B, C, H, W]``, ``grids [B, K, h, w, 2]`` -> ``[B, C, K, h, w]``.

    The K grids are stacked along the height so one ``grid_sample`` call does all of them without copying ``x``
    K times.
    """
    b, k, h, w, _ = grids.shape
    out = warp(x, grids.reshape(b, k * h, w, 2), padding_mode)  # [B, C, K*h, w]
    return out.view(b, x.shape[1], k, h, w)


def affine_to_grid(theta: Tensor, height: int, width: int) -> Tensor:
    """Grid ``[B, h, w, 2]`` of the affine map ``p -> theta[:, :, :2] @ p + theta[:, :, 2]`` (theta ``[B, 2, 3]``)."""
    grid = identity_grid(height, width, device=theta.device, dtype=theta.dtype)  # [h, w, 2]
    return apply_affine(theta[:, None, None], grid)  # [B, h, w, 2]


def apply_affine(theta: Tensor, points: Tensor) -> Tensor:
    """``theta [..., 2, 3]`` applied to ``points [..., 2]`` (broadcasting) -> ``[..., 2]``."""
    return apply_2x2(theta[..., :2], points) + theta[..., 2]


def apply_2x2(m: Tensor, v: Tensor) -> Tensor:
    """Matrix-vector product ``m [..., 2, 2] @ v [..., 2]`` (broadcasting) -> ``[..., 2]``."""
    return (m * v.unsqueeze(-2)).sum(-1)


def matmul_2x2(a: Tensor, b: Tensor) -> Tensor:
    """Matrix product of ``[..., 2, 2]`` stacks (broadcasting)."""
    return (a.unsqueeze(-1) * b.unsqueeze(-3)).sum(-2)


def inverse_2x2(m: Tensor) -> Tensor:
    """Closed-form inverse of a ``[..., 2, 2]`` stack (no LAPACK call, works on any device and in autograd)."""
    a, b, c, d = m[..., 0, 0], m[..., 0, 1], m[..., 1, 0], m[..., 1, 1]
    det = a * d - b * c
    row0 = torch.stack([d, -b], dim=-1)
    row1 = torch.stack([-c, a], dim=-1)
    return torch.stack([row0, row1], dim=-2) / det[..., None, None]


def positive_axis(m: Tensor) -> Tensor:
    """Flip the sign of each ``[..., 2, 2]`` matrix whose [0, 0] entry is negative (MRAA's ``revert_axis_swap``).

    PCA eigenvectors are defined up to sign; a region whose principal axis crosses the vertical between two frames
    gives a relative affine close to minus a rotation, which this maps back to the near-identity solution.
    """
    sign = torch.where(m[..., :1, :1] < 0, -1.0, 1.0).to(m.dtype)
    return m * sign
