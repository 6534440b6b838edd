"""What a video DM over a per-frame signal diffuses (LDM: the autoencoder's scaled latents; VDM: the pixels in
[-1, 1]), given the signal of a video, and back.

- ``latent`` (LDM's and VDM's recipe): the signal ``z [B, c, T, h, w]`` itself, conditioned on the source frame's
  ``z[:, :, 0]``;
- ``residual``: each frame's signal minus the source frame's, ``(z - z[:, :, :1]) * r``, with ``r`` = 1 / std of
  those differences over training clips (frames 1..T-1; LDM fits it with the latent scale factor and stores it in
  the stage-1 checkpoint as ``residual_scale``, VDM in ``RUN/vdm_target.json``). Same condition. The DM then models
  only what changes in the video, as LFDM's DM models the flow from the source image, and keeping the subject's
  appearance costs it nothing: with a fine latent (KL-f2: 16x16x8 for 32x32 frames) or pixels, a DM of the
  benchmark's width does not learn to copy the condition in its training budget, and samples noise
  (``docs/ldm_autoencoder_v2.md``, ``configs/vdm-synth-faces-cpu.yaml``).

Either is seen by the U-Net in ``p x p`` patches (:mod:`lfdm_bench.diffusion.patches`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lfdm_bench.diffusion.patches import from_patches, to_patches

__all__ = ["TARGETS", "DiffusionTarget", "fit_residual_scale"]

TARGETS = ("latent", "residual")


@dataclass(frozen=True)
class DiffusionTarget:
    """``kind`` (one of :data:`TARGETS`), the U-Net's ``patch`` size and the fitted ``residual_scale``."""

    kind: str = "latent"
    patch: int = 1
    residual_scale: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in TARGETS:
            raise ValueError(f"diffusion target must be one of {', '.join(TARGETS)}, got {self.kind!r}")
        if not self.residual_scale > 0:
            raise ValueError(f"residual_scale must be > 0, got {self.residual_scale}")

    def condition(self, z0: torch.Tensor) -> torch.Tensor:
        """The source frame's signal ``[B, c, h, w]`` -> the DM's condition ``[B, c*p*p, h/p, w/p]``."""
        return to_patches(z0, self.patch)

    def encode(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The signal ``z [B, c, T, h, w]`` (frame 0 = the source) -> the DM's target
        ``x [B, c*p*p, T, h/p, w/p]`` and its condition ``[B, c*p*p, h/p, w/p]``."""
        z0 = z[:, :, 0]
        x = (z - z0.unsqueeze(2)) * self.residual_scale if self.kind == "residual" else z
        return to_patches(x, self.patch), self.condition(z0)

    def decode(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`encode`: a sample ``x`` and the condition it was drawn with -> scaled latents
        ``[B, c, T, h, w]``."""
        z = from_patches(x, self.patch)
        if self.kind == "residual":
            z = from_patches(cond, self.patch).unsqueeze(2) + z / self.residual_scale
        return z


def fit_residual_scale(z: torch.Tensor) -> float:
    """``1 / std`` of ``z[:, :, 1:] - z[:, :, :1]`` for the signal ``z [N, c, T, h, w]`` of training clips."""
    if z.dim() != 5 or z.shape[2] < 2:
        raise ValueError(f"fit_residual_scale needs latents [N, c, T >= 2, h, w], got {tuple(z.shape)}")
    std = (z[:, :, 1:] - z[:, :, :1]).float().std().item()
    if not std > 1e-8:
        raise ValueError(f"fit_residual_scale: the latents do not change within a clip (std {std})")
    return 1.0 / std
