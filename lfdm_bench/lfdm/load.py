"""A trained LFDM run's models and config, rebuilt from its checkpoints alone (see :mod:`lfdm_bench.checkpoints`)."""

from __future__ import annotations

import torch

from lfdm_bench.checkpoints import load_checkpoint, run_record
from lfdm_bench.config import from_dict
from lfdm_bench.lfdm.config import LFDMConfig
from lfdm_bench.models.flow_target import FlowTargetCodec
from lfdm_bench.models.lfae.lfae import LFAE, LFAEConfig
from lfdm_bench.models.video_diffusion import VideoDiffusion, VideoDiffusionConfig
from lfdm_bench.runs import Run


def lfdm_config(run: Run) -> LFDMConfig:
    """The run's resolved config, as stored in its newest stage checkpoint; an LDM run is refused."""
    record = run_record(run)
    if record.model != "lfdm":
        raise ValueError(f"{run.root} is an {record.model.upper()} run ({record.source}), not an LFDM run")
    return from_dict(LFDMConfig, record.config)


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


def flow_codec(cfg: LFDMConfig) -> FlowTargetCodec:
    """How the run's DM output maps back to the LFAE's flow + occlusion (``dm.flow_target`` of the run's config)."""
    return FlowTargetCodec(cfg.dm.flow_target)
