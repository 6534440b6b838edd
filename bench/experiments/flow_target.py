"""The flow-target experiment: the flow DM trained twice from one shared LFAE with the same budget and seeds, on the
paper's absolute sampling grid (with its dynamic thresholding of x0) and on the standardised displacement of the CPU
configs (no thresholding: it would clamp displacements to [-1, 1]), then sampled and scored, so that the CPU
configs' deviation from the paper stays documented by a measurement (see :mod:`lfdm_bench.models.flow_target`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Sequence

from bench.experiments.common import LogFn
from bench.experiments.dm_variants import Variant, run_dm_variants
from lfdm_bench.config import from_dict, to_dict
from lfdm_bench.lfdm.config import LFDMConfig

# row -> the diffused representation and the x0 thresholding that goes with it
FLOW_TARGETS = {"grid": {"kind": "grid", "dynamic_threshold": 0.9},
                "displacement": {"kind": "displacement", "dynamic_threshold": None}}
FLOW_TARGET_COLUMNS = ("row", "flow_target", "dynamic_threshold", "dm_steps", "fvd", "cfvd", "acc_motion",
                       "acc_i3d", "seconds_per_video", "n_videos")


def _target_variant(cfg: LFDMConfig, kind: str) -> LFDMConfig:
    d = to_dict(cfg)
    d["dm"]["flow_target"]["kind"] = FLOW_TARGETS[kind]["kind"]
    d["dm"]["diffusion"]["dynamic_threshold"] = FLOW_TARGETS[kind]["dynamic_threshold"]
    d["name"] = f"{d['name']}-target-{kind}"
    return from_dict(LFDMConfig, d)


def _target_overrides(kind: str) -> list[str]:
    t = FLOW_TARGETS[kind]
    thr = "null" if t["dynamic_threshold"] is None else t["dynamic_threshold"]
    return [f"dm.flow_target.kind={t['kind']}", f"dm.diffusion.dynamic_threshold={thr}"]


def _target_fields(vcfg: LFDMConfig, dm_ck: dict) -> dict[str, Any]:
    return {"flow_target": vcfg.dm.flow_target.kind, "dynamic_threshold": vcfg.dm.diffusion.dynamic_threshold,
            "target": to_dict(vcfg.dm.flow_target)}


def run_flow_target(config: str | Path | None = None, overrides: Sequence[str] = (),
                    lfae_run: str | Path | None = None,
                    split: str = "test", per_pair: int = 1, max_videos: int | None = None,
                    metrics: Iterable[str] = ("fvd", "cfvd", "acc"), out: str | Path | None = None,
                    progress: bool = False, *, detector: Any = None, cache: Any = True, log_fn: LogFn | None = None,
                    **protocol_kwargs: Any) -> dict[str, Any]:
    """The DM trained on the paper's absolute-grid target (dynamic thresholding 0.9) and on the standardised
    displacement target (``dm.flow_target``'s scales, no thresholding), from one shared LFAE, same budget and seeds.

    Arguments as for :func:`bench.experiments.text_encoder.run_text_encoder`; returns the state written to
    ``OUT/flow_target.json`` (rows ``grid`` and ``displacement``).
    """
    variants = [Variant(k, lambda c, k=k: _target_variant(c, k), _target_overrides(k), _target_fields)
                for k in FLOW_TARGETS]
    return run_dm_variants("flow_target", "Flow target: absolute grid (paper) vs displacement", FLOW_TARGET_COLUMNS,
                           variants, config, overrides, lfae_run, split, per_pair, max_videos, metrics, out, progress,
                           detector, cache, log_fn, protocol_kwargs)
