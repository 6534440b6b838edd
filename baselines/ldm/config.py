"""The experiment config of an LDM baseline run: data, stage 1 (image autoencoder), stage 2 (latent video DM), sampling.

Loaded like LFDM's (``configs/ldm-<name>.yaml`` + ``--set section.key=value``); the run-level fields (name, seed,
device, data), the diffusion stage (:mod:`lfdm_bench.training.run_config`) and the sampling section
(:class:`~lfdm_bench.sampling.config.SampleConfig`) are the dataclasses LFDM's config uses too, so the two methods
are configured and compared with the same U-Net, diffusion, text encoder, optimiser and sampler settings. The U-Net's
``in_channels`` / ``out_channels`` / ``cond_channels`` are filled from the autoencoder's latent channels when the
model is built (the YAML values are ignored, as for LFDM).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pathlib import Path
from typing import ClassVar, Sequence

from baselines.ldm.autoencoder import KLAutoencoderConfig
from lfdm_bench.config import load_config, resolve_config_path
from lfdm_bench.diffusion.schedule import DiffusionConfig
from lfdm_bench.diffusion.target import TARGETS
from lfdm_bench.models.unet3d import UNet3DConfig
from lfdm_bench.sampling.config import SampleConfig
from lfdm_bench.training.engine import TrainConfig
from lfdm_bench.training.run_config import DMStageConfig, RunConfig


@dataclass
class AEStageConfig:
    """Stage 1: the KL image autoencoder, trained on single random frames of training-subject clips, or
    ``pretrained``: the name of shipped weights (``synth-faces-klae-v2``, :mod:`baselines.ldm.pretrained`)
    or the path of a metadata JSON written by ``lfdm-bench ldm-ae train``; then stage 1 is not trained (``train`` is
    unused), the weights are sha256-checked and copied into the run, and ``model`` must equal their architecture."""

    model: KLAutoencoderConfig = field(default_factory=KLAutoencoderConfig.tiny)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=2000, batch_size=16, lr=2e-4,
                                                                   betas=(0.5, 0.9)))
    scale_clips: int = 64  # training clips (all their frames) whose latent std sets the scale factor
    pretrained: str | None = None
    # the DM sees the latent grid in p x p patches stacked on channels ([c, h, w] -> [c*p*p, h/p, w/p], DiT's
    # "patch size"): a KL-f2 latent (16x16 for 32x32 frames) then costs the U-Net what an 8x8 grid does
    diffusion_patch: int = 1
    # what the DM diffuses (lfdm_bench.diffusion.target): "latent" (the frames' latents, LDM's recipe) or
    # "residual" (each frame's latent minus the source frame's, scaled to unit std on training clips)
    diffusion_target: str = "latent"


def _ldm_dm_stage() -> DMStageConfig:
    # no output heads (the latent is one signal) and no dynamic thresholding (latents are unit-variance, not [-1, 1])
    return DMStageConfig(unet=UNet3DConfig(dim=32, dim_mults=(1, 2, 4), out_heads=()),
                         diffusion=DiffusionConfig(dynamic_threshold=None))


@dataclass
class LDMConfig(RunConfig):
    STAGE1: ClassVar[str] = "ae"
    name: str = "ldm"
    ae: AEStageConfig = field(default_factory=AEStageConfig)
    dm: DMStageConfig = field(default_factory=_ldm_dm_stage)
    sample: SampleConfig = field(default_factory=SampleConfig)

    def __post_init__(self) -> None:
        super().__post_init__()
        if tuple(self.dm.unet.out_heads):
            raise ValueError(f"dm.unet.out_heads must be empty for LDM (one latent signal of "
                             f"{self.ae.model.latent_channels} channels), got {list(self.dm.unet.out_heads)}")
        if self.dm.diffusion.dynamic_threshold is not None:
            raise ValueError("dm.diffusion.dynamic_threshold must be null for LDM: its latents are scaled to unit "
                             "variance, not to [-1, 1], so Imagen's thresholding would shrink them")
        if self.ae.scale_clips < 1:
            raise ValueError(f"ae.scale_clips must be >= 1, got {self.ae.scale_clips}")
        if self.ae.diffusion_target not in TARGETS:
            raise ValueError(f"ae.diffusion_target must be one of {', '.join(TARGETS)}, "
                             f"got {self.ae.diffusion_target!r}")
        grid = self.data.size // self.ae.model.downsample_factor
        if self.ae.diffusion_patch < 1 or grid % self.ae.diffusion_patch:
            raise ValueError(f"ae.diffusion_patch must be >= 1 and divide the latent grid ({grid} = data.size "
                             f"{self.data.size} / {self.ae.model.downsample_factor}), got {self.ae.diffusion_patch}")


def load_ldm_config(name_or_path: str | Path, overrides: Sequence[str] = ()) -> LDMConfig:
    """An LDM config by shipped name (``ldm-tiny``) or YAML path, with ``section.key=value`` overrides."""
    return load_config(LDMConfig, resolve_config_path(name_or_path), overrides)
