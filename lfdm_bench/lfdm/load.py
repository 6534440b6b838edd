"""A trained LFDM run's config and flow codec, rebuilt from its checkpoints alone (see :mod:`lfdm_bench.checkpoints`);
its models load with :func:`~lfdm_bench.training.trained_models.load_lfae` and
:func:`~lfdm_bench.training.trained_models.load_dm` (shared with the LDM baseline and the calibration baselines)."""

from __future__ import annotations

from lfdm_bench.checkpoints import run_config
from lfdm_bench.lfdm.config import LFDMConfig
from lfdm_bench.models.flow_target import FlowTargetCodec
from lfdm_bench.runs import Run


def lfdm_config(run: Run) -> LFDMConfig:
    """The run's resolved config, as stored in its newest stage checkpoint; another model's run is refused."""
    return run_config(run, "lfdm", LFDMConfig, "an LFDM")


def flow_codec(cfg: LFDMConfig) -> FlowTargetCodec:
    """How the run's DM output maps back to the LFAE's flow + occlusion (``dm.flow_target`` of the run's config)."""
    return FlowTargetCodec(cfg.dm.flow_target)
