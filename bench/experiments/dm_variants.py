"""What the text-encoder and flow-target experiments share: flow DMs trained from one shared LFAE with the same
budget and seeds, one per variant of the config, then sampled and scored under one protocol.

A variant is a name, a function ``config -> variant config`` and the ``--set`` overrides that say the same in the
variant run's ``config.yaml``; the state is ``OUT/<name>.json`` (rows = variants, resumable, see
:mod:`bench.experiments.common`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from bench.ablate import split_detector
from bench.experiments.common import (LogFn, check_split, experiment_protocol, experiment_state, say_to,
                                                 score, write_experiment_tables)
from lfdm_bench.checkpoints import copy_checkpoint, load_checkpoint, run_record
from lfdm_bench.config import apply_overrides, from_dict, to_dict
from lfdm_bench.lfdm.config import LFDMConfig, load_lfdm_config
from lfdm_bench.lfdm.sample import sample_lfdm_run
from lfdm_bench.lfdm.train import open_lfdm_run, train_dm, train_lfae
from metrics.protocol import parse_metrics
from lfdm_bench.models.lfae.lfae import LFAEConfig
from lfdm_bench.runs import Run


@dataclass(frozen=True)
class Variant:
    """One row of a DM-variant experiment: ``make(cfg)`` is its config, ``overrides`` the same as ``--set`` lines,
    ``fields(vcfg, dm_checkpoint)`` its descriptive columns."""

    name: str
    make: Callable[[LFDMConfig], LFDMConfig]
    overrides: Sequence[str]
    fields: Callable[[LFDMConfig, dict], dict[str, Any]]


def resolve_lfae(config: str | Path | None, overrides: Sequence[str],
                 lfae_run: str | Path | None) -> tuple[LFDMConfig, Path | None]:
    """The experiment's config (``config`` + ``overrides``, default: ``lfae_run``'s) and, when ``lfae_run`` is
    given, its finished LFAE checkpoint, checked against the config's ``lfae.model`` and ``data``."""
    if config is None and lfae_run is None:
        raise ValueError("give a config (--config) or an LFAE run to reuse (--lfae-run)")
    if config is not None:
        cfg = load_lfdm_config(config, overrides)
    else:
        cfg = from_dict(LFDMConfig, apply_overrides(run_record(Run.open(lfae_run)).config, overrides))
    if lfae_run is None:
        return cfg, None
    lrun = Run.open(lfae_run)
    lfae_ck = lrun.checkpoints / "lfae" / "last.pt"
    ck = load_checkpoint(lfae_ck)
    if not ck.get("finished", True):
        raise ValueError(f"{lfae_ck} is not finished training; finish it (`lfdm-bench train --stage lfae`)")
    if LFAEConfig.from_dict(ck["model_config"]).to_dict() != cfg.lfae.model.to_dict():
        raise ValueError(f"{lfae_run}'s LFAE has another architecture than the config's lfae.model")
    if run_record(lrun).config.get("data") != to_dict(cfg.data):
        raise ValueError(f"{lfae_run} was trained on other data settings than the config's data section")
    return cfg, lfae_ck


def run_dm_variants(name: str, title: str, columns: Sequence[str], variants: Sequence[Variant],
                    config: str | Path | None, overrides: Sequence[str], lfae_run: str | Path | None, split: str,
                    per_pair: int, max_videos: int | None, metrics: Iterable[str], out: str | Path | None,
                    progress: bool, detector: Any, cache: Any, log_fn: LogFn | None,
                    protocol_kwargs: dict[str, Any]) -> dict[str, Any]:
    """Train one DM per variant from one shared LFAE (``lfae_run``'s, else trained once into ``OUT/runs/lfae``),
    sample and score each; the state written to ``OUT/<name>.json`` (default OUT:
    ``experiments/<config name>-<name with dashes>``)."""
    say = say_to(log_fn)
    tag = name.replace("_", "-")
    cfg, lfae_ck = resolve_lfae(config, overrides, lfae_run)
    check_split(split, per_pair)
    wanted = parse_metrics(metrics)
    detector, protocol_kwargs = split_detector(detector, protocol_kwargs, cfg.data.dataset)
    protocol = experiment_protocol(cfg.data, split, max_videos, protocol_kwargs)
    out = Path(out) if out is not None else Path("experiments") / f"{cfg.name}-{tag}"
    state = experiment_state(out, name, {
        "config": str(config) if config is not None else None, "overrides": list(overrides),
        "resolved": to_dict(cfg), "lfae_run": str(Path(lfae_run).resolve()) if lfae_run else None, "split": split,
        "per_pair": int(per_pair), "max_videos": max_videos, "metrics": list(wanted), "protocol": protocol.to_dict(),
        "detector_override": detector.info.to_dict() if detector is not None else None})

    if lfae_ck is None:
        shared = open_lfdm_run(cfg, out / "runs" / "lfae", str(config), list(overrides))
        if not state.done("train:lfae"):
            r = train_lfae(cfg, shared, progress=progress)
            state.mark("train:lfae", {"steps": r["steps"], "seconds": r["seconds"], "params": r["params"]})
        lfae_ck = shared.checkpoints / "lfae" / "last.pt"

    for v in variants:
        vcfg = v.make(cfg)
        run = open_lfdm_run(vcfg, out / "runs" / v.name, str(config), [*overrides, *v.overrides])
        copy_checkpoint(lfae_ck, run.checkpoints / "lfae" / "last.pt")
        part = f"train:{v.name}"
        if not state.done(part):
            say(f"[{tag}] training the DM of variant {v.name} ({vcfg.dm.train.steps} steps)")
            r = train_dm(vcfg, run, progress=progress)
            state.mark(part, {"steps": r["steps"], "seconds": r["seconds"], "params": r["params"],
                              "lfae": str(lfae_ck), "overrides": list(v.overrides)})
        if state.row(v.name):
            say(f"[{tag}] {v.name}: done, skipped")
            continue
        folder = out / "samples" / v.name
        sample_lfdm_run(run, split=split, per_pair=per_pair, out=folder, progress=progress)
        row = {"row": v.name, **v.fields(vcfg, load_checkpoint(run.checkpoints / "dm" / "last.pt")),
               "dm_steps": vcfg.dm.train.steps, "dm_seed": vcfg.dm.train.seed, "seed": vcfg.seed,
               "train_seconds": state.get(part)["seconds"],
               **score(protocol, folder, wanted, detector, cache, progress, say, state)}
        state.add_row(row)
        say(f"[{tag}] {v.name}: fvd {row.get('fvd')}, cfvd {row.get('cfvd')}, acc {row.get('acc_motion')}")
    write_experiment_tables(
        state, f"{title} ({cfg.name})", columns,
        [f"All DMs: one shared LFAE ({lfae_ck}), {cfg.dm.train.steps} steps, seed {cfg.seed}, same sampler "
         f"({cfg.sample.sampler}, {cfg.sample.steps} steps, guidance {cfg.sample.guidance:g})."])
    return state.data
