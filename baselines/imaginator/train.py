"""The ImaGINator baseline's one training stage (``gan``) on the shared engine: uniform training clips ``[B, 3, T, H,
W]`` and their classes; the generator, from each clip's first frame, its class and noise, against an image and a
video discriminator plus an L1 reconstruction term (:meth:`~baselines.imaginator.model.ImaGINator.loss`). Checkpoints,
resume, logs and EMA (``gan.train.ema_decay``, of the generator's weights used for sampling) as every stage."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from baselines.imaginator.config import ImaGINatorRunConfig
from baselines.imaginator.model import ImaGINator, ImaGINatorConfig
from lfdm_bench.checkpoints import load_checkpoint, run_info
from lfdm_bench.config import dump_yaml
from lfdm_bench.data.clip import collate
from lfdm_bench.data.loading import clip_dataset, load_data
from lfdm_bench.runs import Run, open_training_run
from lfdm_bench.training.engine import Trainer
from lfdm_bench.training.items import training_items
from lfdm_bench.utils.device import pick_device
from lfdm_bench.utils.params import count_params

STAGE = "gan"


def build_imaginator(cfg: ImaGINatorRunConfig, n_classes: int) -> ImaGINator:
    """The GAN of ``cfg`` with the data's frame count and number of classes."""
    return ImaGINator(replace(cfg.gan.model, n_frames=cfg.data.n_frames, n_classes=n_classes))


def load_imaginator(run: Run, device: torch.device | str = "cpu") -> ImaGINator:
    """The trained GAN of a run (EMA weights when kept), frozen, in eval mode."""
    ck = load_checkpoint(run.checkpoints / STAGE / "last.pt")
    model = ImaGINator(ImaGINatorConfig.from_dict(ck["model_config"]))
    model.load_state_dict(ck["ema"] if ck.get("ema") else ck["model"])
    return model.to(device).eval().requires_grad_(False)


def train_imaginator(cfg: ImaGINatorRunConfig, run: Run, progress: bool = True,
                     stop_at: int | None = None) -> dict[str, Any]:
    """Train the GAN (resumes from ``RUN/checkpoints/gan/last.pt``)."""
    device = pick_device(cfg.device)
    info = load_data(cfg.data)
    clips = clip_dataset(info, cfg.data, "train", train=False, seed=cfg.seed)
    ds = training_items(clips, cfg.data.preload, progress)
    torch.manual_seed(cfg.seed)
    model = build_imaginator(cfg, info.n_classes)

    def loss_fn(m: nn.Module, batch) -> tuple[torch.Tensor, dict[str, Any]]:
        video = batch.video.to(device).transpose(1, 2)  # [B, 3, T, H, W] in [0, 1]
        return m(video, batch.class_index.to(device))

    trainer = Trainer(run, STAGE, model, loss_fn, ds, lambda items: collate([c for c, _ in items]), cfg.gan.train,
                      model_config=model.cfg.to_dict(), progress=progress, run_info=run_info("imaginator", cfg))
    out = trainer.fit(stop_at=stop_at)
    out["params"] = count_params(model.generator)
    out["params_discriminators"] = count_params(model.image_d) + count_params(model.video_d)
    return out


def open_imaginator_run(cfg: ImaGINatorRunConfig, out: str | Path | None, config: str = "",
                        overrides: Sequence[str] = ()) -> Run:
    """Create (or reopen, to resume) the run directory of ``cfg`` (default ``runs/<name>-imaginator``)."""
    return open_training_run(out or f"runs/{cfg.name}-imaginator", "imaginator", dump_yaml(cfg), config, overrides)


def train_imaginator_run(cfg: ImaGINatorRunConfig, run: Run, stage: str = "all",
                         progress: bool = True) -> dict[str, Any]:
    """Train the run's one stage (``gan``, or ``all``: the same); resumes, and is skipped once finished."""
    if stage not in (STAGE, "all"):
        raise ValueError(f"ImaGINator has one stage ({STAGE}); got {stage!r}")
    r = train_imaginator(cfg, run, progress=progress)
    run.log(f"GAN: {r['steps']} steps, {r['params']:,} generator and {r['params_discriminators']:,} discriminator "
            f"parameters, {r['seconds']:.0f} s", echo=True)
    return {STAGE: r}
