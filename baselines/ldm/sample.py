"""Sampling a trained LDM baseline run: the same evaluation set, seeds and sample-folder layout as LFDM.

The DM samples scaled latents ``[B, c, T, h, w]`` conditioned on the source image's latent; every frame is decoded
by the autoencoder (one batch of ``B*T`` images). The initial noise of each video depends only on its source's
seed (:func:`lfdm_bench.sampling.generate.sample_dm`), as for LFDM. Everything is read from the run's
checkpoints (:mod:`lfdm_bench.checkpoints`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch

from baselines.ldm.autoencoder import KLAutoencoder
from baselines.ldm.config import LDMConfig
from baselines.ldm.train import load_ae, load_target
from lfdm_bench.checkpoints import run_config
from lfdm_bench.diffusion.target import DiffusionTarget
from lfdm_bench.models.video_diffusion import VideoDiffusion
from lfdm_bench.runs import Run
from lfdm_bench.sampling.eval_set import EvalSource
from lfdm_bench.sampling.generate import GenerateFn, sample_dm
from lfdm_bench.sampling.run import sample_run
from lfdm_bench.training.trained_models import load_dm
from lfdm_bench.utils.device import autocast, autocast_dtype


def ldm_generator(ae: KLAutoencoder, dm: VideoDiffusion, n_frames: int, *, sampler: str = "ddim", steps: int = 10,
                  eta: float = 1.0, guidance: float = 1.0, unconditional: bool = False, stats: dict | None = None,
                  decode_chunk: int | None = 256, precision: str = "fp32",
                  target: DiffusionTarget = DiffusionTarget()) -> GenerateFn:
    """``generate_fn(images [B, 3, H, W] in [0, 1], sources) -> videos [B, T, 3, H, W] in [0, 1]``.
    ``target``: what the run's DM diffuses and in which layout (:func:`baselines.ldm.train.load_target`).
    ``precision``: ``fp32`` | ``bf16`` | ``auto`` (bf16 on CUDA): autocast of the U-Net and the autoencoder (the
    sampler's update stays float32)."""
    device = next(dm.parameters()).device
    dtype = autocast_dtype(precision, device, "sample.precision")

    def generate(images: torch.Tensor, sources: Sequence[EvalSource]) -> torch.Tensor:
        images = images.to(device)
        with autocast(device, dtype):
            z0 = ae.to_diffusion(ae.encode(images).mode()).float()  # [B, c, h, w], scaled like training latents
        cond = target.condition(z0)  # [B, c*p*p, h/p, w/p]
        c, h, w = cond.shape[1:]
        x = sample_dm(dm, cond, sources, (c, n_frames, h, w), unconditional=unconditional, stats=stats,
                      sampler=sampler, steps=steps, eta=eta, guidance=guidance, precision=precision)
        with autocast(device, dtype):
            z = ae.from_diffusion(target.decode(x, cond))  # [B, c, T, h, w]
            video = ae.decode_video(z, chunk_size=decode_chunk)  # [B, 3, T, H, W]
        return video.float().transpose(1, 2)  # [B, T, 3, H, W]

    return generate


def ldm_config(run: Run) -> LDMConfig:
    """The run's resolved config, as stored in its newest stage checkpoint; another model's run is refused."""
    return run_config(run, "ldm", LDMConfig, "an LDM")


def sample_ldm_run(run: Run, split: str = "test", **kwargs: Any) -> Path:
    """LDM: sample latent videos with the run's DM (the checkpoint format of LFDM's stage 2), decode every frame with
    its autoencoder (arguments of :func:`lfdm_bench.sampling.run.sample_run`)."""
    cfg = ldm_config(run)

    def make(device: torch.device, **kw: Any) -> GenerateFn:
        return ldm_generator(load_ae(run, device), load_dm(run, device), cfg.data.n_frames,
                             target=load_target(run, cfg), **kw)

    return sample_run(run, cfg, "ldm", make, split, **kwargs)
