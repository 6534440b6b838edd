"""The experiment config of an LFDM run: data, stage 1 (LFAE), stage 2 (flow DM), sampling.

Loaded from ``configs/<name>.yaml`` with ``--set section.key=value`` overrides (see :mod:`lfdm_bench.config`);
the resolved config is written to ``RUN/config.yaml``. The LDM baseline's config (``lfdm_bench.baselines.ldm.config``) reuses
the data, training and sampling sections.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from lfdm_bench.diffusion.schedule import DiffusionConfig
from lfdm_bench.models.flow_target import FlowTargetConfig
from lfdm_bench.models.lfae.lfae import LFAEConfig
from lfdm_bench.models.lfae.losses import LFAELossConfig
from lfdm_bench.models.unet3d import UNet3DConfig
from lfdm_bench.text import TextEncoderConfig
from lfdm_bench.training.engine import TrainConfig

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"


@dataclass
class DataConfig:
    """Which videos, at which size and length, sampled how."""

    dataset: str = "synth-faces"  # synth-faces | synth-actions | mug | mhad | natops | path/to/manifest.csv
    root: str | None = None  # where a real dataset lives
    options: dict[str, Any] = field(default_factory=dict)  # dataset options (synthetic: size, frames, n_subjects, ...)
    size: int = 32  # model resolution (frames resized keeping aspect and zero-padded to size x size)
    n_frames: int = 16  # frames per clip (the paper: 40)
    sampling: Literal["uniform", "random", "very_random", "first"] = "uniform"
    hflip: float = 0.0  # probability of a horizontal flip in training (the paper: 0.5 for the LFAE)
    skip_bad: bool = False  # skip unreadable videos (reported) instead of failing
    preload: bool = True  # decode deterministic (uniform) training clips once into memory instead of every step

    def __post_init__(self) -> None:
        if not 8 <= self.size <= 512:
            raise ValueError(f"data.size must be in [8, 512], got {self.size}")
        if self.n_frames < 2:
            raise ValueError(f"data.n_frames must be >= 2, got {self.n_frames}")


@dataclass
class LFAEStageConfig:
    model: LFAEConfig = field(default_factory=LFAEConfig.tiny)
    loss: LFAELossConfig = field(default_factory=LFAELossConfig)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=2000, batch_size=16, lr=2e-4,
                                                                   betas=(0.5, 0.999), lr_decay_at=(0.6, 0.9)))


@dataclass
class DMStageConfig:
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
class SampleConfig:
    sampler: str = "ddim"  # ddim | ddpm | dpmsolver++ | euler | unipc | diffusers-ddim
    steps: int = 10
    eta: float = 1.0
    guidance: float = 1.0  # 1 = no classifier-free guidance (the paper's default)
    per_pair: int = 1  # videos per (subject, class) pair of the evaluation set
    batch_size: int = 16
    seed: int = 0
    unconditional: bool = False  # generate with the null condition (the paper's unconditional experiment)


@dataclass
class LFDMConfig:
    name: str = "lfdm"
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    data: DataConfig = field(default_factory=DataConfig)
    lfae: LFAEStageConfig = field(default_factory=LFAEStageConfig)
    dm: DMStageConfig = field(default_factory=DMStageConfig)
    sample: SampleConfig = field(default_factory=SampleConfig)

    def __post_init__(self) -> None:
        if self.lfae.model.image_size != self.data.size:
            raise ValueError(f"lfae.model.image_size ({self.lfae.model.image_size}) must equal data.size "
                             f"({self.data.size})")


def resolve_config_path(name_or_path: str | Path) -> Path:
    """A YAML path, or the name of a shipped config (``synth-faces-cpu`` -> ``configs/synth-faces-cpu.yaml``)."""
    p = Path(name_or_path)
    if p.is_file():
        return p
    shipped = CONFIG_DIR / (p.name if p.suffix else f"{p.name}.yaml")
    if shipped.is_file():
        return shipped
    names = sorted(q.stem for q in CONFIG_DIR.glob("*.yaml")) if CONFIG_DIR.is_dir() else []
    raise FileNotFoundError(f"config {name_or_path!r} not found; give a YAML path or one of: {', '.join(names)}")
