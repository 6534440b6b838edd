"""The VDM baseline's one training stage on the shared engine: the pixel-space video DM.

Mirrors LDM's stage 2 (:mod:`baselines.ldm.train`) with the frames themselves in place of latents: uniform
training clips ``[B, 3, T, H, W]`` scaled to [-1, 1] (or their change from the first frame, ``pixels.target:
residual``), in ``p x p`` pixel patches (:class:`~lfdm_bench.diffusion.target.DiffusionTarget`), conditioned on
the first frame in the same layout and on the class text, with classifier-free guidance dropout as LFDM
(``RUN/checkpoints/dm/last.pt``). The residual scale (1 / std of each frame minus its clip's first, over
``pixels.scale_clips`` training clips) is fitted once and kept in ``RUN/vdm_target.json`` with the target's kind
and patch size; sampling reads it from there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from baselines.vdm.config import VDMConfig
from lfdm_bench.checkpoints import run_info
from lfdm_bench.config import dump_yaml
from lfdm_bench.data.clip import collate
from lfdm_bench.data.loading import clip_dataset, load_data
from lfdm_bench.data.records import spread
from lfdm_bench.diffusion.target import DiffusionTarget, fit_residual_scale
from lfdm_bench.models.video_diffusion import VideoDiffusion, build_video_diffusion
from lfdm_bench.runs import Run, open_training_run
from lfdm_bench.text import class_table
from lfdm_bench.training.engine import Trainer
from lfdm_bench.training.items import training_items
from lfdm_bench.utils.device import pick_device
from lfdm_bench.utils.io import read_json
from lfdm_bench.utils.params import count_params

TARGET_FILE = "vdm_target.json"


def to_signal(video: torch.Tensor) -> torch.Tensor:
    """Frames in [0, 1] -> the DM's pixel signal in [-1, 1] (same shape)."""
    return video * 2 - 1


def from_signal(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`to_signal`, clamped to [0, 1]."""
    return ((x + 1) / 2).clamp(0, 1)


def fit_target(cfg: VDMConfig, run: Run, progress: bool = True) -> DiffusionTarget:
    """The run's diffusion target (``pixels.target``, ``pixels.patch`` and, for ``residual``, the scale fitted on
    ``pixels.scale_clips`` uniform training clips), fitted once and written to ``RUN/vdm_target.json``."""
    path = run.root / TARGET_FILE
    if path.is_file():
        return load_target(run)
    scale = 1.0
    if cfg.pixels.target == "residual":
        clips = clip_dataset(load_data(cfg.data, progress=progress), cfg.data, "train", train=False, seed=cfg.seed)
        clips.records = spread(clips.records, cfg.pixels.scale_clips)
        video = torch.stack([clips.get(i).video for i in range(len(clips))]).transpose(1, 2)  # [N, 3, T, H, W]
        scale = fit_residual_scale(to_signal(video))
        run.log(f"[dm] pixel residual scale {scale:.4f} (1 / std over {len(clips)} training clips)")
    run.write_json({"kind": cfg.pixels.target, "patch": cfg.pixels.patch, "residual_scale": scale,
                    "scale_clips": cfg.pixels.scale_clips if cfg.pixels.target == "residual" else 0}, TARGET_FILE)
    return load_target(run)


def load_target(run: Run) -> DiffusionTarget:
    """What a VDM run's DM diffuses (written by :func:`fit_target` when its training started)."""
    path = run.root / TARGET_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: train the run with `lfdm-bench train --model vdm`")
    t = read_json(path, "train the run again with `lfdm-bench train --model vdm`")
    return DiffusionTarget(t["kind"], int(t["patch"]), float(t["residual_scale"]))


def build_vdm_dm(cfg: VDMConfig, class_texts: Sequence[str]) -> VideoDiffusion:
    """The 3D U-Net diffusion over ``3*p*p``-channel pixel patches, conditioned on the source frame likewise."""
    c = cfg.channels
    table = class_table(cfg.dm.text, class_texts)
    return build_video_diffusion(cfg.dm.unet, cfg.dm.diffusion, table, class_texts, in_channels=c, out_channels=c,
                                 cond_channels=c, out_heads=())


def train_vdm_dm(cfg: VDMConfig, run: Run, progress: bool = True, stop_at: int | None = None) -> dict[str, Any]:
    """The pixel-space video DM on uniform training clips (resumes from ``RUN/checkpoints/dm/last.pt``)."""
    device = pick_device(cfg.device)
    info = load_data(cfg.data)
    target = fit_target(cfg, run, progress)
    clips = clip_dataset(info, cfg.data, "train", train=False, seed=cfg.seed)
    ds = training_items(clips, cfg.data.preload, progress)
    torch.manual_seed(cfg.seed)
    model = build_vdm_dm(cfg, info.class_texts)

    def loss_fn(m: nn.Module, batch) -> tuple[torch.Tensor, dict[str, float]]:
        video = to_signal(batch.video.to(device).transpose(1, 2))  # [B, 3, T, H, W] in [-1, 1]
        x0, cond = target.encode(video)  # [B, 3*p*p, T, H/p, W/p], [B, 3*p*p, H/p, W/p]
        return m(x0, cond, batch.class_index.to(device)), {}

    trainer = Trainer(run, "dm", model, loss_fn, ds, lambda items: collate([c for c, _ in items]), cfg.dm.train,
                      model_config=model.cfg.to_dict(), progress=progress, run_info=run_info("vdm", cfg),
                      compile_modules=[model.unet])
    out = trainer.fit(stop_at=stop_at)
    out["params"] = count_params(model.unet)
    h = cfg.data.size // cfg.pixels.patch
    try:  # FLOPs of one training step (forward + backward) of the U-Net, on the meta device
        out["train_flops_per_step"] = model.unet.flops_per_forward(
            (cfg.dm.train.batch_size, cfg.channels, cfg.data.n_frames, h, h), backward=True)
    except Exception as e:  # noqa: BLE001 -- an optional figure must never fail a finished training
        run.log(f"[dm] could not count FLOPs: {e!r}")
    return out


def open_vdm_run(cfg: VDMConfig, out: str | Path | None, config: str = "", overrides: Sequence[str] = ()) -> Run:
    """Create (or reopen, to resume) the run directory of ``cfg`` (default ``runs/<name>-vdm``); a run made with
    another config or by another model is refused (:class:`~lfdm_bench.runs.RunConfigMismatch`)."""
    return open_training_run(out or f"runs/{cfg.name}-vdm", "vdm", dump_yaml(cfg), config, overrides)


def train_vdm_run(cfg: VDMConfig, run: Run, stage: str = "all", progress: bool = True) -> dict[str, Any]:
    """Train the run's one stage (``dm``, or ``all``: the same); resumes, and is skipped once finished."""
    if stage not in ("dm", "all"):
        raise ValueError(f"VDM has one stage (dm); got {stage!r}")
    out = {"dm": train_vdm_dm(cfg, run, progress=progress)}
    r = out["dm"]
    flops = r.get("train_flops_per_step")
    run.log(f"DM: {r['steps']} steps, {r['params']:,} U-Net parameters, {r['seconds']:.0f} s"
            + (f", {flops / 1e9:.2f} GFLOP per training step" if flops else ""), echo=True)
    return out
