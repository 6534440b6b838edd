"""The experiment config of a VDM baseline run: data, the pixel-space video DM, sampling.

Loaded like LFDM's and LDM's (``configs/vdm-<name>.yaml`` + ``--set section.key=value``), with the same run-level
fields, diffusion stage (:class:`~lfdm_bench.training.run_config.DMStageConfig`) and sampling section, so the three
generators share the U-Net, diffusion, text encoder, optimiser and samplers. The U-Net's ``in_channels`` /
``out_channels`` / ``cond_channels`` are ``3 * patch**2`` (the YAML values are ignored, as for LFDM and LDM).

Pixel space on a CPU budget: a U-Net over every pixel of a 32x32 frame costs 16x one over LFDM's 8x8 flow grid, so
the frames (scaled to [-1, 1]) are folded into ``pixels.patch`` x ``pixels.patch`` patches stacked on channels
(``[3, 32, 32] -> [48, 8, 8]`` at ``patch: 4``, a lossless reshape: Hoogeboom et al. 2023's patched pixel-space
diffusion, DiT's patch size). The DM still denoises every pixel value; only the layout changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Sequence

from lfdm_bench.config import load_config, resolve_config_path
from lfdm_bench.diffusion.schedule import DiffusionConfig
from lfdm_bench.diffusion.target import TARGETS
from lfdm_bench.models.unet3d import UNet3DConfig
from lfdm_bench.sampling.config import SampleConfig
from lfdm_bench.training.run_config import DMStageConfig, RunConfig


@dataclass
class PixelConfig:
    """What the DM diffuses: the frames in [-1, 1] (``target: latent``, i.e. the pixels themselves, VDM's recipe)
    or each frame minus the source frame (``residual``, scaled to unit std on ``scale_clips`` training clips, as
    LDM's residual target), in ``patch x patch`` pixel patches."""

    patch: int = 4
    target: str = "latent"
    scale_clips: int = 64


def _vdm_dm_stage() -> DMStageConfig:
    return DMStageConfig(unet=UNet3DConfig(dim=32, dim_mults=(1, 2, 4), out_heads=()),
                         diffusion=DiffusionConfig(dynamic_threshold=None))


@dataclass
class VDMConfig(RunConfig):
    STAGE1: ClassVar[str] = ""  # no first stage
    name: str = "vdm"
    pixels: PixelConfig = field(default_factory=PixelConfig)
    dm: DMStageConfig = field(default_factory=_vdm_dm_stage)
    sample: SampleConfig = field(default_factory=SampleConfig)

    def __post_init__(self) -> None:
        super().__post_init__()
        if tuple(self.dm.unet.out_heads):
            raise ValueError(f"dm.unet.out_heads must be empty for VDM (one pixel signal of "
                             f"{3 * self.pixels.patch ** 2} channels), got {list(self.dm.unet.out_heads)}")
        if self.pixels.target not in TARGETS:
            raise ValueError(f"pixels.target must be one of {', '.join(TARGETS)}, got {self.pixels.target!r}")
        if self.pixels.target == "residual" and self.dm.diffusion.dynamic_threshold is not None:
            raise ValueError("dm.diffusion.dynamic_threshold must be null with pixels.target=residual (the scaled "
                             "change from the source frame is not bounded by 1)")
        if self.pixels.patch < 1 or self.data.size % self.pixels.patch:
            raise ValueError(f"pixels.patch must be >= 1 and divide data.size ({self.data.size}), "
                             f"got {self.pixels.patch}")
        if self.pixels.scale_clips < 1:
            raise ValueError(f"pixels.scale_clips must be >= 1, got {self.pixels.scale_clips}")

    @property
    def channels(self) -> int:
        """Channels of the U-Net's input, output and condition: ``3 * patch**2``."""
        return 3 * self.pixels.patch ** 2


def load_vdm_config(name_or_path: str | Path, overrides: Sequence[str] = ()) -> VDMConfig:
    """A VDM config by shipped name (``vdm-tiny``) or YAML path, with ``section.key=value`` overrides."""
    return load_config(VDMConfig, resolve_config_path(name_or_path), overrides)
