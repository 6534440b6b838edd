"""The experiment config of an ImaGINator baseline run: data, the GAN (model, loss weights, optimisation), sampling.

Loaded like the other generators' (``configs/imaginator-<name>.yaml`` + ``--set section.key=value``), with the same
run-level fields (name, seed, device, data). ``gan.model.n_frames`` / ``n_classes`` are filled from the data when
the model is built (the YAML values are ignored). A GAN has no sampler: a video is one forward pass of the generator
from the source image, the class and a noise vector drawn from the source's seed, so ``sample`` holds only the
evaluation set's size and seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Sequence

from baselines.imaginator.model import ImaGINatorConfig
from lfdm_bench.config import load_config, resolve_config_path
from lfdm_bench.training.engine import TrainConfig
from lfdm_bench.training.run_config import RunConfig


@dataclass
class GANStageConfig:
    """The one training stage: generator and both discriminators, one simultaneous step per batch."""

    model: ImaGINatorConfig = field(default_factory=ImaGINatorConfig)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=800, batch_size=8, lr=2e-4,
                                                                   betas=(0.5, 0.999), grad_clip=None))


@dataclass
class GANSampleConfig:
    """The evaluation set of ``lfdm-bench sample`` (as the diffusion generators' ``sample`` section, minus the
    sampler): videos per (subject, class) pair, batch, seed of the sources' noise, null class."""

    per_pair: int = 1
    batch_size: int = 32
    seed: int = 0
    unconditional: bool = False

    def __post_init__(self) -> None:
        for key in ("per_pair", "batch_size"):
            if int(getattr(self, key)) < 1:
                raise ValueError(f"sample.{key} must be >= 1, got {getattr(self, key)}")


@dataclass
class ImaGINatorRunConfig(RunConfig):
    STAGE1: ClassVar[str] = ""  # one stage
    name: str = "imaginator"
    gan: GANStageConfig = field(default_factory=GANStageConfig)
    sample: GANSampleConfig = field(default_factory=GANSampleConfig)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.gan.model.image_size != self.data.size:
            raise ValueError(f"gan.model.image_size ({self.gan.model.image_size}) must equal data.size "
                             f"({self.data.size})")
        if self.gan.model.rec_weight < 0 or not 0 <= self.gan.model.class_drop < 1:
            raise ValueError("gan.model.rec_weight must be >= 0 and gan.model.class_drop in [0, 1), got "
                             f"{self.gan.model.rec_weight} / {self.gan.model.class_drop}")


def load_imaginator_config(name_or_path: str | Path, overrides: Sequence[str] = ()) -> ImaGINatorRunConfig:
    """An ImaGINator config by shipped name (``imaginator-tiny``) or YAML path, with ``section.key=value``
    overrides."""
    return load_config(ImaGINatorRunConfig, resolve_config_path(name_or_path), overrides)
