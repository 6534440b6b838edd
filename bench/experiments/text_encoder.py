"""The text-encoder experiment: the flow DM trained twice from one shared LFAE with the same budget and seeds, text
encoder ``bert`` (the config's text settings) vs ``onehot``, then sampled and scored (FVD, cFVD, class accuracy)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Sequence

from lfdm_bench.bench.ablate import split_detector
from lfdm_bench.bench.experiments.common import (LogFn, check_split, experiment_protocol, experiment_state, say_to,
                                                 score, write_experiment_tables)
from lfdm_bench.checkpoints import copy_checkpoint, load_checkpoint, run_record
from lfdm_bench.config import apply_overrides, from_dict, to_dict
from lfdm_bench.lfdm.config import LFDMConfig, load_lfdm_config
from lfdm_bench.lfdm.sample import sample_lfdm_run
from lfdm_bench.lfdm.train import open_lfdm_run, train_dm, train_lfae
from lfdm_bench.metrics.protocol import parse_metrics
from lfdm_bench.models.lfae.lfae import LFAEConfig
from lfdm_bench.runs import Run

TEXT_ENCODERS = ("bert", "onehot")

TEXT_COLUMNS = ("row", "text_encoder", "text_dim", "dm_steps", "fvd", "cfvd", "acc_motion", "acc_i3d",
                "seconds_per_video", "n_videos")


def _text_variant(cfg: LFDMConfig, kind: str) -> LFDMConfig:
    d = to_dict(cfg)
    d["dm"]["text"]["kind"] = kind
    d["name"] = f"{d['name']}-text-{kind}"
    return from_dict(LFDMConfig, d)


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
            :func:`lfdm_bench.bench.experiments.unconditional.run_unconditional`.

    Returns:
        the state written to ``OUT/text_encoder.json`` (rows ``bert`` and ``onehot``).
    """
    say = say_to(log_fn)
    if config is None and lfae_run is None:
        raise ValueError("give a config (--config) or an LFAE run to reuse (--lfae-run)")
    if config is not None:
        cfg = load_lfdm_config(config, overrides)
    else:
        cfg = from_dict(LFDMConfig, apply_overrides(run_record(Run.open(lfae_run)).config, overrides))
    if lfae_run is not None:
        lrun = Run.open(lfae_run)
        lfae_ck = lrun.checkpoints / "lfae" / "last.pt"
        ck = load_checkpoint(lfae_ck)
        if not ck.get("finished", True):
            raise ValueError(f"{lfae_ck} is not finished training; finish it (`lfdm-bench train --stage lfae`)")
        if LFAEConfig.from_dict(ck["model_config"]).to_dict() != cfg.lfae.model.to_dict():
            raise ValueError(f"{lfae_run}'s LFAE has another architecture than the config's lfae.model")
        if run_record(lrun).config.get("data") != to_dict(cfg.data):
            raise ValueError(f"{lfae_run} was trained on other data settings than the config's data section")
    check_split(split, per_pair)
    wanted = parse_metrics(metrics)
    detector, protocol_kwargs = split_detector(detector, protocol_kwargs)
    protocol = experiment_protocol(cfg.data, split, max_videos, protocol_kwargs)
    out = Path(out) if out is not None else Path("experiments") / f"{cfg.name}-text-encoder"
    state = experiment_state(out, "text_encoder", {
        "config": str(config) if config is not None else None, "overrides": list(overrides),
        "resolved": to_dict(cfg), "lfae_run": str(Path(lfae_run).resolve()) if lfae_run else None, "split": split,
        "per_pair": int(per_pair), "max_videos": max_videos, "metrics": list(wanted), "protocol": protocol.to_dict(),
        "detector_override": detector.info.to_dict() if detector is not None else None})

    if lfae_run is None:
        shared = open_lfdm_run(cfg, out / "runs" / "lfae", str(config), list(overrides))
        if not state.done("train:lfae"):
            r = train_lfae(cfg, shared, progress=progress)
            state.mark("train:lfae", {"steps": r["steps"], "seconds": r["seconds"], "params": r["params"]})
        lfae_ck = shared.checkpoints / "lfae" / "last.pt"

    for kind in TEXT_ENCODERS:
        vcfg = _text_variant(cfg, kind)
        run = open_lfdm_run(vcfg, out / "runs" / kind, str(config), [*overrides, f"dm.text.kind={kind}"])
        copy_checkpoint(lfae_ck, run.checkpoints / "lfae" / "last.pt")
        part = f"train:{kind}"
        if not state.done(part):
            say(f"[text-encoder] training the DM with text encoder {kind} ({vcfg.dm.train.steps} steps)")
            r = train_dm(vcfg, run, progress=progress)
            state.mark(part, {"steps": r["steps"], "seconds": r["seconds"], "params": r["params"],
                              "lfae": str(lfae_ck), "text": to_dict(vcfg.dm.text)})
        if state.row(kind):
            say(f"[text-encoder] {kind}: done, skipped")
            continue
        folder = out / "samples" / kind
        sample_lfdm_run(run, split=split, per_pair=per_pair, out=folder, progress=progress)
        dm_cfg = load_checkpoint(run.checkpoints / "dm" / "last.pt")["model_config"]
        row = {"row": kind, "text_encoder": kind, "text_identity": dm_cfg.get("text_identity"),
               "text_dim": (dm_cfg.get("unet") or {}).get("text_dim"), "dm_steps": vcfg.dm.train.steps,
               "dm_seed": vcfg.dm.train.seed, "seed": vcfg.seed, "text": to_dict(vcfg.dm.text),
               "train_seconds": state.get(part)["seconds"],
               **score(protocol, folder, wanted, detector, cache, progress, say, state)}
        state.add_row(row)
        say(f"[text-encoder] {kind}: fvd {row['fvd']}, cfvd {row['cfvd']}, acc {row['acc_motion']}")
    write_experiment_tables(
        state, f"Text encoder: BERT vs one-hot ({cfg.name})", TEXT_COLUMNS,
        [f"Both DMs: one shared LFAE ({lfae_ck}), {cfg.dm.train.steps} steps, seed {cfg.seed}, same sampler "
         f"({cfg.sample.sampler}, {cfg.sample.steps} steps, guidance {cfg.sample.guidance:g})."])
    return state.data
