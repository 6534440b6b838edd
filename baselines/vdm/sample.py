"""Sampling a trained VDM baseline run: the same evaluation set, seeds and sample-folder layout as LFDM and LDM.

The DM samples pixel patches ``[B, 3*p*p, T, H/p, W/p]`` conditioned on the source image in the same layout; the
initial noise of each video depends only on its source's seed (:func:`lfdm_bench.sampling.generate.initial_noise`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch

from baselines.vdm.config import VDMConfig
from baselines.vdm.train import from_signal, load_target, to_signal
from lfdm_bench.checkpoints import run_config
from lfdm_bench.diffusion.target import DiffusionTarget
from lfdm_bench.models.video_diffusion import VideoDiffusion
from lfdm_bench.runs import Run
from lfdm_bench.sampling.eval_set import EvalSource
from lfdm_bench.sampling.generate import GenerateFn, sample_dm
from lfdm_bench.sampling.run import sample_run
from lfdm_bench.training.trained_models import load_dm


def vdm_generator(dm: VideoDiffusion, target: DiffusionTarget, n_frames: int, *, sampler: str = "ddim",
                  steps: int = 10, eta: float = 1.0, guidance: float = 1.0, unconditional: bool = False,
                  stats: dict | None = None, precision: str = "fp32") -> GenerateFn:
    """``generate_fn(images [B, 3, H, W] in [0, 1], sources) -> videos [B, T, 3, H, W] in [0, 1]``."""
    device = next(dm.parameters()).device

    def generate(images: torch.Tensor, sources: Sequence[EvalSource]) -> torch.Tensor:
        cond = target.condition(to_signal(images.to(device).float()))  # [B, 3*p*p, H/p, W/p]
        c, h, w = cond.shape[1:]
        x = sample_dm(dm, cond, sources, (c, n_frames, h, w), unconditional=unconditional, stats=stats,
                      sampler=sampler, steps=steps, eta=eta, guidance=guidance, precision=precision)
        video = from_signal(target.decode(x.float(), cond))  # [B, 3, T, H, W]
        return video.transpose(1, 2)  # [B, T, 3, H, W]

    return generate


def vdm_config(run: Run) -> VDMConfig:
    """The run's resolved config, as stored in its checkpoint; a run of another model is refused."""
    return run_config(run, "vdm", VDMConfig, "a VDM")


def sample_vdm_run(run: Run, split: str = "test", **kwargs: Any) -> Path:
    """VDM: sample pixel videos with the run's DM (arguments of :func:`lfdm_bench.sampling.run.sample_run`)."""
    cfg = vdm_config(run)

    def make(device: torch.device, **kw: Any) -> GenerateFn:
        return vdm_generator(load_dm(run, device), load_target(run), cfg.data.n_frames, **kw)

    return sample_run(run, cfg, "vdm", make, split, **kwargs)
