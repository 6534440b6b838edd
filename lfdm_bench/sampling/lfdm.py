"""LFDM generation: sample latent flows + occlusions with the DM, render them by warping z0 with the LFAE decoder."""

from __future__ import annotations

from typing import Sequence

import torch

from lfdm_bench.models.flow_target import FlowTargetCodec
from lfdm_bench.models.lfae.lfae import LFAE
from lfdm_bench.models.video_diffusion import VideoDiffusion
from lfdm_bench.sampling.eval_set import EvalSource


def initial_noise(sources: Sequence[EvalSource], shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """x_T for a batch: each video's noise depends only on its own seed (so batching does not change samples)."""
    return torch.stack([torch.randn(shape, generator=torch.Generator().manual_seed(s.seed)) for s in sources]).to(device)


def lfdm_generator(lfae: LFAE, dm: VideoDiffusion, n_frames: int, *, sampler: str = "ddim", steps: int = 10,
                   eta: float = 1.0, guidance: float = 1.0, unconditional: bool = False, stats: dict | None = None,
                   codec: FlowTargetCodec | None = None):
    """``generate_fn(images [B, 3, H, W], sources) -> videos [B, T, 3, H, W]`` for :func:`generate_eval_samples`.

    ``codec`` maps the DM's output back to the LFAE's representation (``dm.flow_target`` of the run's config).
    ``stats`` (optional dict) accumulates the number of network evaluations (``nfe``) per video.
    """
    device = next(dm.parameters()).device

    def generate(images: torch.Tensor, sources: Sequence[EvalSource]) -> torch.Tensor:
        images = images.to(device)
        features = lfae.encode(images)  # z0 [B, C_z, h, w], encoded once per source
        cls = None if unconditional else torch.tensor([s.class_index for s in sources], device=device)
        h = lfae.config.latent_size
        noise = initial_noise(sources, (3, n_frames, h, h), device)
        gen = torch.Generator(device=device).manual_seed(sources[0].seed)  # per-step noise of stochastic samplers
        out = dm.sample(features.z, cls, n_frames, sampler=sampler, steps=steps, eta=eta, guidance=guidance,
                        generator=gen, noise=noise)
        if stats is not None:
            stats["nfe"] = out.nfe
        x = codec.decode(out.sample) if codec is not None else out.sample
        video = lfae.generate_from_dm(features, x)  # [B, 3, T, H, W] (dm_target_to_flow clamps the occlusion)
        return video.transpose(1, 2)  # [B, T, 3, H, W]

    return generate
