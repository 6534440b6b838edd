"""What the run configs of every method share (LFDM's :class:`~lfdm_bench.lfdm.config.LFDMConfig` and the LDM
baseline's :class:`~baselines.ldm.config.LDMConfig`): :class:`RunConfig` (name, seed, device, data) and the video
diffusion stage :class:`DMStageConfig` (U-Net, diffusion, text condition, optimisation), so the two methods are
configured and compared with the same settings. Below both methods: neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from lfdm_bench.data.config import DataConfig
from lfdm_bench.diffusion.schedule import DiffusionConfig
from lfdm_bench.models.flow_target import FlowTargetConfig
from lfdm_bench.models.unet3d import UNet3DConfig
from lfdm_bench.text import TextEncoderConfig
from lfdm_bench.training.engine import TrainConfig


@dataclass
class DMStageConfig:
    """The video diffusion stage (shared with LDM): U-Net, diffusion, text condition, optimisation."""

    unet: UNet3DConfig = field(default_factory=lambda: UNet3DConfig(dim=32, dim_mults=(1, 2, 4), out_heads=(2, 1)))
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    text: TextEncoderConfig = field(default_factory=TextEncoderConfig)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=2000, batch_size=8, lr=2e-4))
    precompute_targets: bool = True  # LFAE targets computed once (no augmentation) instead of in every step
    flow_target: FlowTargetConfig = field(default_factory=FlowTargetConfig)  # grid (paper) | displacement

    def __post_init__(self) -> None:
        # Dynamic thresholding clamps the predicted x0 to [-1, 1] (or to its percentile, divided back to [-1, 1]):
        # right for the paper's grid in [-1, 1], wrong for standardised displacements, whose moving regions lie
        # well outside [-1, 1] -- it silently shrinks every generated motion (measured: to about half).
        if self.flow_target.kind == "displacement" and self.diffusion.dynamic_threshold is not None:
            raise ValueError("dm.diffusion.dynamic_threshold must be null with dm.flow_target.kind=displacement "
                             "(thresholding clamps x0 to [-1, 1]; standardised displacements are not bounded by 1)")


@dataclass
class RunConfig:
    """What every run config shares (LFDM's, LDM's, VDM's): name, seed, device, data; the stage-1 model (named by
    ``STAGE1``; none for VDM) must work at the data's size."""

    STAGE1: ClassVar[str] = ""
    name: str = "run"
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    data: DataConfig = field(default_factory=DataConfig)

    def __post_init__(self) -> None:
        if not self.STAGE1:  # a generator without a first stage (VDM)
            return
        size = getattr(self, self.STAGE1).model.image_size
        if size != self.data.size:
            raise ValueError(f"{self.STAGE1}.model.image_size ({size}) must equal data.size ({self.data.size})")
