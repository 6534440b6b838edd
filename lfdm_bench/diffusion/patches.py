"""A per-frame signal's grid as a 3D U-Net sees it: ``p x p`` cells stacked on channels (DiT's patch size).

A KL-f2 autoencoder keeps the detail of small frames (32x32 frames -> 16x16 latents) that a 4x-downsampled grid
loses, but a U-Net over a 16x16 grid costs about 4x one over 8x8. Folding each 2x2 block of latent cells into
channels (``[c, h, w] -> [4c, h/2, w/2]``, a lossless reshape) gives the U-Net LFDM's 8x8 grid again (LDM); 4x4
pixel patches do the same for 32x32 frames (VDM: ``[3, 32, 32] -> [48, 8, 8]``). The DM then denoises every value,
only in another layout. ``p = 1`` is the identity.
"""

from __future__ import annotations

import torch
from einops import rearrange

__all__ = ["to_patches", "from_patches"]


def to_patches(z: torch.Tensor, p: int) -> torch.Tensor:
    """Latents ``[B, c, h, w]`` or ``[B, c, T, h, w]`` -> ``[B, c*p*p, h/p, w/p]`` / ``[B, c*p*p, T, h/p, w/p]``."""
    if p == 1:
        return z
    if z.shape[-1] % p or z.shape[-2] % p:
        raise ValueError(f"latent grid {tuple(z.shape[-2:])} is not divisible by the patch size {p}")
    if z.dim() == 4:
        return rearrange(z, "b c (h p) (w q) -> b (c p q) h w", p=p, q=p)
    return rearrange(z, "b c t (h p) (w q) -> b (c p q) t h w", p=p, q=p)


def from_patches(x: torch.Tensor, p: int) -> torch.Tensor:
    """Inverse of :func:`to_patches`: ``[B, c*p*p, (T,) h, w]`` -> ``[B, c, (T,) h*p, w*p]``."""
    if p == 1:
        return x
    if x.shape[1] % (p * p):
        raise ValueError(f"{x.shape[1]} channels are not a multiple of the patch area {p * p}")
    if x.dim() == 4:
        return rearrange(x, "b (c p q) h w -> b c (h p) (w q)", p=p, q=p)
    return rearrange(x, "b (c p q) t h w -> b c t (h p) (w q)", p=p, q=p)
