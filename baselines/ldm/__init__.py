"""LDM baseline: a KL-regularised image autoencoder (stage 1) whose per-frame latents a video diffusion models.

The paper's LDM encodes every frame of a clip with an image autoencoder at 1/4 resolution (the same latent grid as
LFDM's 32x32 for 128x128 frames) and runs the same kind of 3D U-Net diffusion over those latents. The embedded CPU
benchmark's LDM uses a KL-f2 autoencoder pretrained on a generic synthetic corpus and lets its DM diffuse each frame's
latent minus the source frame's (:mod:`lfdm_bench.diffusion.target`), in 2x2 latent patches
(:mod:`lfdm_bench.diffusion.patches`).
"""

from baselines.ldm.autoencoder import (
    AutoencoderLoss,
    DiagonalGaussian,
    KLAutoencoder,
    KLAutoencoderConfig,
)

__all__ = ["AutoencoderLoss", "DiagonalGaussian", "KLAutoencoder", "KLAutoencoderConfig"]
