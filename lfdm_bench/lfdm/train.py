"""LFDM's two training stages on the shared engine: the LFAE (stage 1) and the flow diffusion model (stage 2).

Checkpoints: ``RUN/checkpoints/lfae/last.pt`` and ``RUN/checkpoints/dm/last.pt`` (each holds its model config and
the run's kind and config, so :mod:`lfdm_bench.training.trained_models` and :mod:`lfdm_bench.lfdm.load`
rebuild and sample the models without the YAML).
Stage 2's targets (flow + occlusion from frame 0 to every frame, and z0) come from the frozen LFAE; with
``dm.precompute_targets`` they are computed once per training clip and cached in ``RUN/cache/`` (valid because
the clips are then sampled deterministically, without augmentation), else on the fly from random clips.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from lfdm_bench.checkpoints import run_info
from lfdm_bench.config import dump_yaml
from lfdm_bench.data.clip import collate
from lfdm_bench.data.loading import clip_dataset, load_data
from lfdm_bench.lfdm.config import LFDMConfig
from lfdm_bench.lfdm.previews import dm_preview, lfae_preview
from lfdm_bench.models.flow_target import FlowTargetCodec
from lfdm_bench.models.lfae.lfae import LFAE, LFAEConfig
from lfdm_bench.models.lfae.losses import LFAELoss
from lfdm_bench.models.video_diffusion import VideoDiffusion, build_video_diffusion
from lfdm_bench.runs import Run, open_training_run
from lfdm_bench.text import ClassEmbeddingTable, class_table
from lfdm_bench.training.dm_targets import DM_TARGETS, compute_dm_targets, dm_targets_key
from lfdm_bench.training.engine import Trainer
from lfdm_bench.training.items import TensorItems, cached_tensors, stack_collate, training_items
from lfdm_bench.training.trained_models import load_lfae
from lfdm_bench.utils.device import pick_device
from lfdm_bench.utils.params import count_params


# ------------------------------------------------------------------------------------------------ stage 1: LFAE
def pair_collate(items):
    """Source and driving frames: two random frames of each clip -> ``([B, 3, H, W], [B, 3, H, W])``."""
    src, drv = [], []
    for clip, seed in items:
        g = np.random.default_rng(seed + 1)
        a, b = g.integers(0, clip.n_frames, size=2)
        src.append(clip.video[a])
        drv.append(clip.video[b])
    return torch.stack(src), torch.stack(drv)


def lfae_loss_fn(cfg: LFDMConfig):
    """The engine's ``loss_fn(model, (source, driving)) -> (loss, logs)`` for LFAE training (and fine-tuning)."""
    loss_mod = LFAELoss(cfg.lfae.loss, num_channels=cfg.lfae.model.num_channels)

    def loss_fn(m: nn.Module, batch) -> tuple[torch.Tensor, dict[str, float]]:
        source, driving = (t.to(next(m.parameters()).device) for t in batch)
        loss_mod.to(source.device)
        total, terms, _ = loss_mod(m, source, driving)
        return total, {k: v.detach() for k, v in terms.items()}  # read back by the engine at log steps only

    return loss_fn


def train_lfae(cfg: LFDMConfig, run: Run, progress: bool = True, stop_at: int | None = None) -> dict[str, Any]:
    """Stage 1: the latent flow autoencoder, trained to reconstruct a driving frame from a source frame."""
    info = load_data(cfg.data)
    ds = training_items(clip_dataset(info, cfg.data, "train", seed=cfg.seed), cfg.data.preload, progress)
    torch.manual_seed(cfg.seed)
    model = LFAE(cfg.lfae.model)
    loss_fn = lfae_loss_fn(cfg)
    preview = lfae_preview(run, clip_dataset(info, cfg.data, "test", train=False))
    trainer = Trainer(run, "lfae", model, loss_fn, ds, pair_collate, cfg.lfae.train,
                      model_config=asdict(cfg.lfae.model), on_sample=preview, progress=progress,
                      run_info=run_info("lfdm", cfg))
    out = trainer.fit(stop_at=stop_at)
    out["params"] = count_params(model)
    return out


# ------------------------------------------------------------------------------------------- stage 2: flow DM
@torch.no_grad()
def build_dm(cfg: LFDMConfig, class_texts: Sequence[str], lfae_cfg: LFAEConfig,
             table: ClassEmbeddingTable | None = None) -> VideoDiffusion:
    """Stage 2's model: ``cfg.dm``'s U-Net over flow + occlusion (3 channels), conditioned on z0 and the class text
    (``table``: the class-text embeddings; default those of ``cfg.dm.text``'s encoder)."""
    table = class_table(cfg.dm.text, class_texts) if table is None else table
    return build_video_diffusion(cfg.dm.unet, cfg.dm.diffusion, table, class_texts, in_channels=3, out_channels=3,
                                 cond_channels=lfae_cfg.latent_channels)


def train_dm(cfg: LFDMConfig, run: Run, progress: bool = True, stop_at: int | None = None) -> dict[str, Any]:
    """Stage 2: the flow diffusion model over the frozen LFAE's latent flows, conditioned on z0 and class text."""
    device = pick_device(cfg.device)
    info = load_data(cfg.data)
    lfae = load_lfae(run, device)
    clips = clip_dataset(info, cfg.data, "train", train=not cfg.dm.precompute_targets, seed=cfg.seed)
    codec = FlowTargetCodec(cfg.dm.flow_target)
    if cfg.dm.precompute_targets:
        key = dm_targets_key(run, lfae, clips.records, cfg.data.n_frames, cfg.data.size)
        tensors = cached_tensors(run, DM_TARGETS, key, lambda: compute_dm_targets(lfae, clips, progress=progress),
                                 "LFAE targets")
        ds, collate_fn = TensorItems(tensors), stack_collate

        def get_batch(batch):
            return codec.encode(batch["target"]), batch["z0"], batch["class_index"]
    else:
        ds, collate_fn = training_items(clips, cfg.data.preload, progress), lambda items: collate([c for c, _ in items])

        def get_batch(batch):
            video = batch.video.to(device).transpose(1, 2)  # [B, 3, T, H, W]
            with torch.no_grad():
                return codec.encode(lfae.dm_target_from_video(video)), lfae.encode(video[:, :, 0]).z, batch.class_index

    torch.manual_seed(cfg.seed)
    model = build_dm(cfg, info.class_texts, lfae.config)

    def loss_fn(m: nn.Module, batch) -> tuple[torch.Tensor, dict[str, float]]:
        target, z0, cls = (t.to(device) for t in get_batch(batch))
        return m(target, z0, cls), {}  # forward = the diffusion loss (through DDP when several processes)

    test = clip_dataset(info, cfg.data, "test", train=False)
    preview = dm_preview(run, lfae, test.first_frame(0), len(info.class_texts), cfg.data.n_frames, codec=codec)
    trainer = Trainer(run, "dm", model, loss_fn, ds, collate_fn, cfg.dm.train,
                      model_config=model.cfg.to_dict(), on_sample=preview, progress=progress,
                      run_info=run_info("lfdm", cfg), compile_modules=[model.unet])
    out = trainer.fit(stop_at=stop_at)
    out["params"] = count_params(model.unet)
    return out


def open_lfdm_run(cfg: LFDMConfig, out: str | Path | None, config: str = "", overrides: Sequence[str] = ()) -> Run:
    """Create (or reopen, to resume) the run directory of ``cfg`` (default ``runs/<name>-lfdm``); a run made with
    another config is refused (:class:`~lfdm_bench.runs.RunConfigMismatch`)."""
    return open_training_run(out or f"runs/{cfg.name}-lfdm", "lfdm", dump_yaml(cfg), config, overrides)


def train_lfdm_run(cfg: LFDMConfig, run: Run, stage: str = "all", progress: bool = True) -> dict[str, Any]:
    """Train stage ``lfae``, ``dm`` or ``all`` of an LFDM run (each resumes, and is skipped once finished)."""
    out: dict[str, Any] = {}
    if stage in ("lfae", "all"):
        out["lfae"] = r = train_lfae(cfg, run, progress=progress)
        run.log(f"LFAE: {r['steps']} steps, {r['params']:,} parameters, {r['seconds']:.0f} s", echo=True)
    if stage in ("dm", "all"):
        out["dm"] = r = train_dm(cfg, run, progress=progress)
        run.log(f"DM: {r['steps']} steps, {r['params']:,} U-Net parameters, {r['seconds']:.0f} s", echo=True)
    return out
