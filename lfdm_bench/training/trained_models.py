"""A run's trained stage models, rebuilt from their checkpoints alone (see :mod:`lfdm_bench.checkpoints`): the
diffusion model (LFDM's flow DM or LDM's latent DM) and the LFAE, frozen, in eval mode.

Below the methods that read them: LFDM (training stage 2, sampling, its reconstruction scores), the LDM baseline
(sampling) and the calibration baselines (retrieval and the LFAE rows, which render real motion with a run's LFAE).
"""

from __future__ import annotations

import torch

from lfdm_bench.checkpoints import load_checkpoint
from lfdm_bench.models.lfae.lfae import LFAE, LFAEConfig
from lfdm_bench.models.video_diffusion import VideoDiffusion, VideoDiffusionConfig
from lfdm_bench.runs import Run

FIT_STEPS = 20  # refinement steps of flows fitted to the target when the LFAE's own refine_steps is 0


def load_lfae(run: Run, device: torch.device | str = "cpu") -> LFAE:
    """The trained LFAE of a run, frozen, in eval mode."""
    ck = load_checkpoint(run.checkpoints / "lfae" / "last.pt")
    model = LFAE(LFAEConfig.from_dict(ck["model_config"]))
    model.load_state_dict(ck["model"])
    return model.to(device).eval().requires_grad_(False)


def load_dm(run: Run, device: torch.device | str = "cpu") -> VideoDiffusion:
    """The trained diffusion model of a run (EMA weights when kept; LFDM's flow DM or LDM's latent DM), frozen."""
    ck = load_checkpoint(run.checkpoints / "dm" / "last.pt")
    model = VideoDiffusion(VideoDiffusionConfig.from_dict(ck["model_config"]))
    model.load_state_dict(ck["ema"] if ck.get("ema") else ck["model"])
    return model.to(device).eval().requires_grad_(False)


def fit_steps(lfae: LFAE) -> int:
    """Adam steps of the flows fitted to the target frames (the oracle rows ``LFAE (flows fitted to the target)``
    and ``lfae_fit``): the LFAE's ``refine_steps``, else :data:`FIT_STEPS`."""
    return lfae.config.refine_steps or FIT_STEPS
