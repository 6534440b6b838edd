"""The paper's new-domain (FaceForensics) experiment on the synthetic data: the LFAE of an LFDM run moved to another
appearance (``DataConfig.options.style``: the same subjects and motions rendered ``shaded`` or ``sketch``).

The LFAE is fine-tuned on the new domain's train split, (a) decoder only (``generator.decoder_modules()``:
bottleneck, up blocks, final conv; everything else frozen, BatchNorm statistics of the frozen modules included) and
(b) whole; then (1) reconstruction of new-domain test clips by the source LFAE, (a) and (b), and (2) new-domain
generation with the SOURCE run's DM (not retrained) over each LFAE. Every variant is a run folder
``OUT/runs/<variant>`` (``source``: the source LFAE as is) holding the new-domain config, its LFAE and a copy of the
source DM checkpoint (``finetune.json`` says so).
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterable

import torch
from torch import nn

from bench.ablate import split_detector
from bench.experiments.common import (LogFn, check_split, experiment_protocol, experiment_state, say_to,
                                                 score, write_experiment_tables)
from lfdm_bench.checkpoints import copy_checkpoint, load_checkpoint, run_info
from lfdm_bench.config import from_dict, to_dict
from lfdm_bench.data.loading import clip_dataset, load_data
from lfdm_bench.data.records import spread
from lfdm_bench.lfdm.config import LFDMConfig
from lfdm_bench.lfdm.load import lfdm_config
from lfdm_bench.lfdm.reconstruction import LFAE_FITTED, LFAE_PREDICTED, lfae_reconstructor
from lfdm_bench.lfdm.sample import sample_lfdm_run
from lfdm_bench.lfdm.train import lfae_loss_fn, open_lfdm_run, pair_collate
from metrics.protocol import parse_metrics
from metrics.reconstruction import reconstruction_scores
from lfdm_bench.models.lfae.lfae import LFAE, LFAEConfig
from lfdm_bench.runs import Run
from lfdm_bench.training.engine import Trainer
from lfdm_bench.training.items import SeededClipItems
from lfdm_bench.training.trained_models import load_lfae
from lfdm_bench.utils.device import pick_device
from lfdm_bench.utils.params import count_params

STYLES = ("flat", "shaded", "sketch")
FINETUNE_VARIANTS = ("decoder", "whole")


def new_domain_config(cfg, style: str, steps: int | None = None):
    """A copy of an :class:`LFDMConfig` whose data render ``style`` (and whose LFAE trains ``steps`` steps)."""
    if style not in STYLES:
        raise ValueError(f"style must be one of {STYLES}, got {style!r}")
    d = to_dict(cfg)
    d["data"]["options"] = {**(d["data"].get("options") or {}), "style": style}
    d["name"] = f"{d['name']}-{style}"
    if steps is not None:
        if int(steps) < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        d["lfae"]["train"]["steps"] = int(steps)
    return from_dict(LFDMConfig, d)


def decoder_modules(lfae: LFAE) -> list[nn.Module]:
    """The LFAE generator's decoder: bottleneck residual blocks, up blocks, final conv."""
    return lfae.generator.decoder_modules()


def finetune_lfae(cfg: LFDMConfig, run: Run, init_checkpoint: str | Path, variant: str, progress: bool = True,
                  stop_at: int | None = None) -> dict[str, Any]:
    """Fine-tune an LFAE on ``cfg.data`` from ``init_checkpoint``: ``decoder`` (generator decoder only; every other
    parameter frozen, and the frozen modules kept in eval mode by the engine's ``train_only``) or ``whole``.

    The checkpoint goes to ``RUN/checkpoints/lfae/last.pt`` like a normal stage 1 (so :func:`load_lfae` and
    sampling work on the run); a rerun resumes it, and a finished one is not retrained.
    """
    if variant not in FINETUNE_VARIANTS:
        raise ValueError(f"variant must be one of {FINETUNE_VARIANTS}, got {variant!r}")
    ck = load_checkpoint(init_checkpoint)
    if LFAEConfig.from_dict(ck["model_config"]).to_dict() != cfg.lfae.model.to_dict():
        raise ValueError(f"{init_checkpoint} holds an LFAE with another architecture than the config's lfae.model")
    info = load_data(cfg.data)
    ds = SeededClipItems(clip_dataset(info, cfg.data, "train", seed=cfg.seed))
    torch.manual_seed(cfg.seed)
    model = LFAE(cfg.lfae.model)
    model.load_state_dict(ck["model"])
    train_only = decoder_modules(model) if variant == "decoder" else None
    if train_only is not None:
        model.requires_grad_(False)
        for m in train_only:
            m.requires_grad_(True)
    params = [p for p in model.parameters() if p.requires_grad]
    trainer = Trainer(run, "lfae", model, lfae_loss_fn(cfg), ds, pair_collate, cfg.lfae.train,
                      model_config=asdict(cfg.lfae.model), params=params, progress=progress,
                      run_info=run_info("lfdm", cfg), train_only=train_only)
    out = trainer.fit(stop_at=stop_at)
    out.pop("losses", None)
    out["trainable_params"] = count_params(params)
    out["params"] = count_params(model)
    return out


NEW_DOMAIN_COLUMNS = ("row", "part", "lfae", "trained", "z0", "l1", "psnr", "ssim", "fvd", "acc_motion", "acc_i3d",
                      "n_videos")
Z0_NOTE = {"source": "source encoder (unchanged)", "decoder": "source encoder (unchanged)",
           "whole": "fine-tuned encoder (changed: the DM was trained on the source encoder's z0)"}


def run_new_domain(run_dir: str | Path, style: str, steps: int | None = None, split: str = "test",
                   per_pair: int = 1, max_videos: int | None = None, max_recon: int | None = 128,
                   metrics: Iterable[str] = ("fvd", "acc"), out: str | Path | None = None, progress: bool = False,
                   *, detector: Any = None, cache: Any = True, log_fn: LogFn | None = None,
                   sampler: dict[str, Any] | None = None, features: bool = False,
                   **protocol_kwargs: Any) -> dict[str, Any]:
    """The LFAE of an LFDM run moved to a new appearance domain (the paper's FaceForensics experiment).

    Args:
        run_dir: a trained LFDM run (LFAE + DM) on a synthetic dataset.
        style: the new domain: ``shaded`` or ``sketch`` (``flat`` is the default domain).
        steps: fine-tuning steps of each variant (default: the run's ``lfae.train.steps``).
        split: test subjects of the new domain for reconstruction and generation (``test`` or ``train``).
        max_recon: reconstruction scored on at most this many clips (an even cover of subjects and classes).
        per_pair, max_videos, metrics, detector, cache, **protocol_kwargs: as for
            :func:`bench.experiments.unconditional.run_unconditional`.
        sampler: sampler settings of the generation rows (``sampler``, ``steps``, ``guidance``, ``eta``; default:
            the run's ``sample`` section).
        features: also write each generation row's per-video features to ``OUT/features/<variant>_<split>
            .features.npz`` (paired differences between the variants: :func:`bench.results.fvd_differences`).

    Returns:
        the state written to ``OUT/new_domain.json``: rows ``recon:<variant>`` (predicted flows),
        ``recon:<variant>:fit`` (flows fitted to the target), ``recon:copy-frame-0`` and ``gen:<variant>`` for
        variants ``source`` (no fine-tuning), ``decoder``, ``whole``.
    """
    say = say_to(log_fn)
    src = Run.open(run_dir)
    check_split(split, per_pair)
    for stage in ("lfae", "dm"):
        if not (src.checkpoints / stage / "last.pt").is_file():
            raise FileNotFoundError(f"{src.root} has no {stage} checkpoint; train the run first (`lfdm-bench train`)")
    src_cfg = lfdm_config(src)  # an LDM run is refused: new-domain fine-tuning needs an LFAE
    if style == (src_cfg.data.options or {}).get("style", "flat"):
        raise ValueError(f"the run was trained on style {style!r} already; pick another style of {STYLES}")
    cfg = new_domain_config(src_cfg, style, steps)
    wanted = parse_metrics(metrics)
    detector, protocol_kwargs = split_detector(detector, protocol_kwargs, cfg.data.dataset)
    protocol = experiment_protocol(cfg.data, split, max_videos, protocol_kwargs)
    out = Path(out) if out is not None else src.root / "experiments" / f"new_domain_{style}"
    state = experiment_state(out, "new_domain", {
        "run": str(src.root.resolve()), "style": style, "finetune_steps": cfg.lfae.train.steps, "split": split,
        "per_pair": int(per_pair), "max_videos": max_videos, "max_recon": max_recon, "metrics": list(wanted),
        "sampler": dict(sampler or {}),
        "protocol": protocol.to_dict(), "data": to_dict(cfg.data),
        "detector_override": detector.info.to_dict() if detector is not None else None})
    device = pick_device(cfg.device)
    src_lfae_ck, src_dm_ck = src.checkpoints / "lfae" / "last.pt", src.checkpoints / "dm" / "last.pt"

    # 1. variant run folders: new-domain config, (fine-tuned) LFAE, the source DM copied (naming the variant run, so
    #    that sampling it reads the new domain's data)
    runs: dict[str, Run] = {}
    for variant in ("source", *FINETUNE_VARIANTS):
        vcfg = cfg if variant != "source" else new_domain_config(src_cfg, style, None)
        run = open_lfdm_run(vcfg, out / "runs" / variant, str(src.root / "config.yaml"),
                            [f"data.options.style={style}"])
        runs[variant] = run
        part = f"train:{variant}"
        if state.done(part):
            say(f"[new-domain] {part}: done, skipped")
            continue
        t0 = time.time()
        if variant == "source":
            copy_checkpoint(src_lfae_ck, run.checkpoints / "lfae" / "last.pt")
            info = {"steps": 0, "trainable_params": 0}
        else:
            say(f"[new-domain] fine-tuning the LFAE ({variant}) on style {style} for {cfg.lfae.train.steps} steps")
            info = finetune_lfae(vcfg, run, src_lfae_ck, variant, progress=progress)
        copy_checkpoint(src_dm_ck, run.checkpoints / "dm" / "last.pt", run=run_info("lfdm", vcfg))
        info = {**info, "variant": variant, "init": str(src_lfae_ck), "dm": f"copied from {src_dm_ck} (not retrained)",
                "z0": Z0_NOTE[variant], "wall_seconds": round(time.time() - t0, 2)}
        run.write_json(info, "finetune.json")
        state.mark(part, info)

    # 2. reconstruction of new-domain clips
    if not state.done("recon"):
        clips = clip_dataset(load_data(cfg.data), cfg.data, split, train=False)
        clips.records = spread(clips.records, max_recon)
        settings = {"dataset": cfg.data.dataset, "options": dict(cfg.data.options), "split": split,
                    "videos": len(clips), "size": cfg.data.size, "n_frames": cfg.data.n_frames,
                    "sampling": "uniform", "frames_scored": "1..T-1 reconstructed from frame 0"}
        for variant, run in runs.items():
            scores = reconstruction_scores(lfae_reconstructor(load_lfae(run, device)), clips)
            trained = state.get(f"train:{variant}")
            for label, flows in ((LFAE_PREDICTED, "predicted"), (LFAE_FITTED, "fitted to the target (oracle)")):
                state.data["rows"].append({"row": f"recon:{variant}" + ("" if label == LFAE_PREDICTED else ":fit"),
                                           "part": "reconstruction", "lfae": variant, "flows": flows,
                                           "trained": trained["steps"], **scores[label], "settings": settings})
            if variant == "source":
                state.data["rows"].append({"row": "recon:copy-frame-0", "part": "reconstruction",
                                           "lfae": "copy-frame-0", **scores["copy-frame-0"], "settings": settings})
            say(f"[new-domain] reconstruction {variant}: psnr {scores[LFAE_PREDICTED]['psnr']:.2f} (predicted flows), "
                f"{scores[LFAE_FITTED]['psnr']:.2f} (fitted)")
        state.mark("recon", settings)

    # 3. generation with the source DM over each LFAE
    for variant, run in runs.items():
        name = f"gen:{variant}"
        if state.row(name):
            say(f"[new-domain] {name}: done, skipped")
            continue
        folder = out / "samples" / variant
        say(f"[new-domain] {name}: sampling {split} set of style {style}")
        sample_lfdm_run(run, split=split, per_pair=per_pair, out=folder, progress=progress, **(sampler or {}))
        feats = out / "features" / f"{variant}_{split}.features.npz" if features else None
        row = {"row": name, "part": "generation", "lfae": variant, "trained": state.get(f"train:{variant}")["steps"],
               "z0": Z0_NOTE[variant], "dm": "source run's DM (not retrained)", "sampler": dict(sampler or {}),
               **score(protocol, folder, wanted, detector, cache, progress, say, state, features=feats)}
        state.add_row(row)
        say(f"[new-domain] {name}: fvd {row['fvd']}, acc {row['acc_motion']}")
    write_experiment_tables(
        state, f"New domain: style {style!r} (LFAE of {src.root.name})", NEW_DOMAIN_COLUMNS,
        [f"source = the run's LFAE, no fine-tuning; decoder = generator decoder only fine-tuned "
         f"({cfg.lfae.train.steps} steps, encoder + flow predictor frozen); whole = every LFAE parameter fine-tuned.",
         "Reconstruction: frames 1..T-1 of new-domain clips rebuilt from frame 0 (L1, PSNR, SSIM).",
         "Generation: the source run's DM, NOT retrained; for 'whole', z0 comes from a changed encoder, so the DM's "
         "conditioning space has moved (decoder-only keeps the encoder and flow predictor, so it is unchanged)."])
    return state.data
