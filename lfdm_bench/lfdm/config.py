"""The config of an LFDM run: data, stage 1 (LFAE), stage 2 (flow DM), sampling.

Loaded from ``configs/<name>.yaml`` with ``--set section.key=value`` overrides (see :mod:`lfdm_bench.config`);
the resolved config is stored in every stage checkpoint (see :mod:`lfdm_bench.checkpoints`) and written to
``RUN/config.yaml`` for people. What it shares with the LDM baseline's config (:mod:`baselines.ldm.config`), the
run-level fields and the diffusion stage, lives below both in :mod:`lfdm_bench.training.run_config`; the sampling
section is :class:`~lfdm_bench.sampling.config.SampleConfig`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Sequence

from lfdm_bench.config import load_config, resolve_config_path
from lfdm_bench.models.lfae.lfae import LFAEConfig
from lfdm_bench.models.lfae.losses import LFAELossConfig
from lfdm_bench.sampling.config import SampleConfig
from lfdm_bench.training.engine import TrainConfig
from lfdm_bench.training.run_config import DMStageConfig, RunConfig


@dataclass
class LFAEStageConfig:
    model: LFAEConfig = field(default_factory=LFAEConfig.tiny)
    loss: LFAELossConfig = field(default_factory=LFAELossConfig)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=2000, batch_size=16, lr=2e-4,
                                                                   betas=(0.5, 0.999), lr_decay_at=(0.6, 0.9)))


@dataclass
class LFDMConfig(RunConfig):
    STAGE1: ClassVar[str] = "lfae"
    name: str = "lfdm"
    lfae: LFAEStageConfig = field(default_factory=LFAEStageConfig)
    dm: DMStageConfig = field(default_factory=DMStageConfig)
    sample: SampleConfig = field(default_factory=SampleConfig)


def load_lfdm_config(name_or_path: str | Path, overrides: Sequence[str] = ()) -> LFDMConfig:
    """An LFDM config by shipped name (``synth-faces-cpu``) or YAML path, with ``section.key=value`` overrides."""
    return load_config(LFDMConfig, resolve_config_path(name_or_path), overrides)
