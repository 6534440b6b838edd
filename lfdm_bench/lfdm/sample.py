"""LFDM generation: sample latent flows + occlusions with the DM, render them by warping z0 with the LFAE decoder.

:func:`lfdm_generator` is the generation function of :func:`~lfdm_bench.sampling.generate.generate_eval_samples`;
:func:`sample_lfdm_run` samples a trained run's evaluation set with everything read from its checkpoints.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch

from lfdm_bench.lfdm.load import flow_codec, lfdm_config
from lfdm_bench.models.flow_target import FlowTargetCodec
from lfdm_bench.models.lfae.lfae import LFAE
from lfdm_bench.models.video_diffusion import VideoDiffusion
from lfdm_bench.runs import Run
from lfdm_bench.sampling.eval_set import EvalSource
from lfdm_bench.sampling.generate import GenerateFn, sample_dm
from lfdm_bench.sampling.run import sample_run
from lfdm_bench.training.trained_models import load_dm, load_lfae
from lfdm_bench.utils.device import autocast, autocast_dtype


def lfdm_generator(lfae: LFAE, dm: VideoDiffusion, n_frames: int, *, codec: FlowTargetCodec, sampler: str = "ddim",
                   steps: int = 10, eta: float = 1.0, guidance: float = 1.0, unconditional: bool = False,
                   stats: dict | None = None, precision: str = "fp32") -> GenerateFn:
    """``generate_fn(images [B, 3, H, W], sources) -> videos [B, T, 3, H, W]`` for :func:`generate_eval_samples`.

    ``codec`` maps the DM's output back to the LFAE's representation: the ``dm.flow_target`` the DM was trained
    with (:func:`~lfdm_bench.lfdm.load.flow_codec` of the run's checkpointed config); there is no default, since
    decoding a displacement-trained DM's output as absolute grids would silently give wrong motion.
    ``stats`` (optional dict) receives the number of network evaluations (``nfe``) per video.
    ``precision``: ``fp32`` | ``bf16`` | ``auto`` (bf16 on CUDA): autocast of the U-Net and of the LFAE's encoder
    and decoder (the sampler's update and the LFAE's warps stay float32).
    """
    device = next(dm.parameters()).device
    dtype = autocast_dtype(precision, device, "sample.precision")

    def generate(images: torch.Tensor, sources: Sequence[EvalSource]) -> torch.Tensor:
        images = images.to(device)
        with autocast(device, dtype):
            features = lfae.encode(images)  # z0 [B, C_z, h, w], encoded once per source
        h = lfae.config.latent_size
        frames = codec.dm_frames(n_frames)  # n_frames - 1 when frame 0 is not diffused (first_frame=identity)
        x = sample_dm(dm, features.z.float(), sources, (3, frames, h, h), unconditional=unconditional, stats=stats,
                      sampler=sampler, steps=steps, eta=eta, guidance=guidance, precision=precision)
        with autocast(device, dtype):
            video = lfae.generate_from_dm(features, codec.decode(x))  # [B, 3, T, H, W] (occlusion clamped)
        return video.float().transpose(1, 2)  # [B, T, 3, H, W]

    return generate


def sample_lfdm_run(run: Run, split: str = "test", **kwargs: Any) -> Path:
    """LFDM: sample latent flows with the run's DM, render them with its LFAE (arguments of
    :func:`~lfdm_bench.sampling.run.sample_run`); the config, sizes and flow codec come from the checkpoints."""
    cfg = lfdm_config(run)

    def make(device: torch.device, **kw: Any) -> GenerateFn:
        return lfdm_generator(load_lfae(run, device), load_dm(run, device), cfg.data.n_frames, codec=flow_codec(cfg),
                              **kw)

    return sample_run(run, cfg, "lfdm", make, split, **kwargs)
