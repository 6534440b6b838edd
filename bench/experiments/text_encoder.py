"""The text-encoder experiment: the flow DM trained twice from one shared LFAE with the same budget and seeds, text
encoder ``bert`` (the config's text settings) vs ``onehot``, then sampled and scored (FVD, cFVD, class accuracy)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Sequence

from bench.experiments.common import LogFn
from bench.experiments.dm_variants import Variant, run_dm_variants
from lfdm_bench.config import from_dict, to_dict
from lfdm_bench.lfdm.config import LFDMConfig

TEXT_ENCODERS = ("bert", "onehot")

TEXT_COLUMNS = ("row", "text_encoder", "text_dim", "dm_steps", "fvd", "cfvd", "acc_motion", "acc_i3d",
                "seconds_per_video", "n_videos")


def _text_variant(cfg: LFDMConfig, kind: str) -> LFDMConfig:
    d = to_dict(cfg)
    d["dm"]["text"]["kind"] = kind
    d["name"] = f"{d['name']}-text-{kind}"
    return from_dict(LFDMConfig, d)


def _text_fields(kind: str):
    def fields(vcfg: LFDMConfig, dm_ck: dict) -> dict[str, Any]:
        dm_cfg = dm_ck["model_config"]
        return {"text_encoder": kind, "text_identity": dm_cfg.get("text_identity"),
                "text_dim": (dm_cfg.get("unet") or {}).get("text_dim"), "text": to_dict(vcfg.dm.text)}

    return fields


def run_text_encoder(config: str | Path | None = None, overrides: Sequence[str] = (),
                     lfae_run: str | Path | None = None,
                     split: str = "test", per_pair: int = 1, max_videos: int | None = None,
                     metrics: Iterable[str] = ("fvd", "cfvd", "acc"), out: str | Path | None = None,
                     progress: bool = False, *, detector: Any = None, cache: Any = True, log_fn: LogFn | None = None,
                     **protocol_kwargs: Any) -> dict[str, Any]:
    """The DM trained with a BERT text encoder and with one-hot classes, from one shared LFAE, same budget and seeds.

    Args:
        config: a config name or YAML path (``--set`` ``overrides`` apply); its ``dm.text`` settings are the
            ``bert`` variant's (kind forced to ``bert``). Default with ``lfae_run``: that run's config.
        lfae_run: reuse this run's trained LFAE (its checkpoint is copied into each variant's run); else it is
            trained once into ``OUT/runs/lfae``.
        split, per_pair, max_videos, metrics, detector, cache, **protocol_kwargs: as for
            :func:`bench.experiments.unconditional.run_unconditional`.

    Returns:
        the state written to ``OUT/text_encoder.json`` (rows ``bert`` and ``onehot``).
    """
    variants = [Variant(k, lambda c, k=k: _text_variant(c, k), [f"dm.text.kind={k}"], _text_fields(k))
                for k in TEXT_ENCODERS]
    return run_dm_variants("text_encoder", "Text encoder: BERT vs one-hot", TEXT_COLUMNS, variants, config,
                           overrides, lfae_run, split, per_pair, max_videos, metrics, out, progress, detector, cache,
                           log_fn, protocol_kwargs)
