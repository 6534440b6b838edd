"""The LDM baseline's two training stages on the shared engine: the image autoencoder and the latent video DM.

Mirrors :mod:`lfdm_bench.lfdm.train` (same data helpers, class table, device choice and run folders):

- stage 1 (``--stage ae``): :class:`KLAutoencoder` on one random frame of each training clip
  (``RUN/checkpoints/ae/last.pt``); then the latent scale factor (``1 / std`` of the latents of
  ``ae.scale_clips`` training clips, LDM's recipe) is stored in that checkpoint as ``scale_factor`` (with the
  ``residual_scale`` of :mod:`lfdm_bench.diffusion.target`, fitted on the same clips), and the
  autoencoder is scored on the test-subject frames that ``evaluate_lfae_run`` scores
  (``RUN/metrics/ae_reconstruction.json`` + ``.md``). With ``ae.pretrained`` (the CPU benchmark's default) the
  autoencoder is not trained: the shipped weights (:mod:`baselines.ldm.pretrained`, pretrained on a
  generic corpus as the paper's LDM) are sha256-checked and written into the run as its finished stage-1
  checkpoint, which records their name and sha256 (``pretrained``); the scale factor and scores follow as above;
- stage 2 (``--stage dm``): :class:`VideoDiffusion` over scaled latents ``[B, c, T, h, w]`` of uniform training
  clips (or their change from the first frame: ``ae.diffusion_target``, :mod:`lfdm_bench.diffusion.target`),
  conditioned on the first frame's latent ``[B, c, h, w]`` and the class text, with classifier-free
  guidance dropout as LFDM (``RUN/checkpoints/dm/last.pt``). With ``dm.precompute_targets`` the latents are
  computed once and cached in ``RUN/cache/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from baselines.ldm.autoencoder import AutoencoderLoss, KLAutoencoder, KLAutoencoderConfig
from baselines.ldm.config import LDMConfig
from baselines.ldm.pretrained import ae_reconstructor, load_pretrained, resolve_metadata
from lfdm_bench.checkpoints import load_checkpoint, run_info
from lfdm_bench.config import dump_yaml
from lfdm_bench.data.clip import collate
from lfdm_bench.data.dataset import ClipDataset
from lfdm_bench.data.loading import clip_dataset, load_data
from lfdm_bench.data.records import spread
from lfdm_bench.diffusion.target import DiffusionTarget, fit_residual_scale
from lfdm_bench.kinds import MODEL_STAGES, train_stages
from lfdm_bench.models.video_diffusion import VideoDiffusion, build_video_diffusion
from lfdm_bench.runs import Run, open_training_run
from lfdm_bench.text import class_table
from lfdm_bench.training.engine import Trainer
from lfdm_bench.training.items import TensorItems, cached_tensors, stack_collate, training_items
from lfdm_bench.utils.device import pick_device
from lfdm_bench.utils.io import atomic_torch_save
from lfdm_bench.utils.params import count_params
from metrics.reconstruction import format_table, reconstruction_scores

AE_STAGE = MODEL_STAGES["ldm"][0]
STAGES = train_stages("ldm")


# ------------------------------------------------------------------------------------------- stage 1: autoencoder
def _frame_collate(items) -> torch.Tensor:
    """One random frame of each clip (depends only on the item seed) -> ``[B, 3, H, W]`` in [0, 1]."""
    frames = []
    for clip, seed in items:
        g = np.random.default_rng(seed + 1)
        frames.append(clip.video[int(g.integers(0, clip.n_frames))])
    return torch.stack(frames)


def install_pretrained(cfg: LDMConfig, run: Run) -> dict[str, Any]:
    """Stage 1 with ``ae.pretrained``: the shipped (or given) weights, sha256-checked, written into the run as its
    finished stage-1 checkpoint (float32, ``pretrained``: name, sha256, file, corpus seed), once."""
    import time

    path = _ae_checkpoint(run)
    if path.is_file() and load_checkpoint(path).get("finished"):
        run.log(f"[{AE_STAGE}] already installed ({cfg.ae.pretrained}); nothing to do")
        return {"steps": 0, "resumed": True, "seconds": 0.0}
    t0 = time.perf_counter()
    model, meta = load_pretrained(cfg.ae.pretrained)
    if model.cfg != cfg.ae.model:
        diff = {k: v for k, v in model.cfg.to_dict().items() if cfg.ae.model.to_dict()[k] != v}
        raise ValueError(f"ae.model differs from the architecture of ae.pretrained={cfg.ae.pretrained} in {diff}; "
                         "set ae.model to it (or ae.pretrained=null to train stage 1 on the run's data)")
    record = {"name": meta["name"], "sha256": meta["weights"]["sha256"], "file": str(resolve_metadata(
        cfg.ae.pretrained).parent / meta["weights"]["file"]), "corpus_seed": meta["corpus"]["seed"],
        "corpus_subjects": meta["corpus"]["n_subjects"], "training_steps": meta["training"]["steps"]}
    ck = {"stage": AE_STAGE, "model": model.state_dict(), "model_config": model.cfg.to_dict(),
          "run": run_info("ldm", cfg), "ema": None, "step": 0, "train_config": {"steps": 0}, "finished": True,
          "pretrained": record}
    atomic_torch_save(ck, path)
    run.log(f"[{AE_STAGE}] pretrained {record['name']} (sha256 {record['sha256'][:16]}..., verified) installed in "
            f"{path}; stage 1 is not trained on the run's data", echo=True)
    return {"steps": 0, "seconds": time.perf_counter() - t0, "pretrained": record}


def train_ae(cfg: LDMConfig, run: Run, progress: bool = True, stop_at: int | None = None) -> dict[str, Any]:
    """Stage 1: the KL autoencoder, reconstructing single frames (multi-scale L1 + ``kl_weight`` * KL), or the
    pretrained one of ``ae.pretrained`` (:func:`install_pretrained`)."""
    if cfg.ae.pretrained:
        out = install_pretrained(cfg, run)
        out["params"] = count_params(KLAutoencoder(cfg.ae.model))
        return out
    info = load_data(cfg.data)
    ds = training_items(clip_dataset(info, cfg.data, "train", seed=cfg.seed), cfg.data.preload, progress)
    torch.manual_seed(cfg.seed)
    model = KLAutoencoder(cfg.ae.model)
    loss_mod = AutoencoderLoss.from_config(cfg.ae.model)

    def loss_fn(m: nn.Module, batch: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        x = batch.to(next(m.parameters()).device)  # [B, 3, H, W]
        loss_mod.to(x.device)
        out = m(x)  # decodes a posterior sample (global RNG, checkpointed by the engine)
        total, parts = loss_mod(x, out["reconstruction"], out["posterior"])
        return total, {k: v.detach() for k, v in parts.items() if k != "total"}  # read by the engine at log steps

    trainer = Trainer(run, AE_STAGE, model, loss_fn, ds, _frame_collate, cfg.ae.train,
                      model_config=cfg.ae.model.to_dict(), progress=progress, run_info=run_info("ldm", cfg))
    out = trainer.fit(stop_at=stop_at)
    out["params"] = count_params(model)
    return out


def _ae_checkpoint(run: Run) -> Path:
    return run.checkpoints / AE_STAGE / "last.pt"


def load_ae(run: Run, device: torch.device | str = "cpu", require_scale: bool = True) -> KLAutoencoder:
    """The trained autoencoder of a run (EMA weights when kept), frozen, with its fitted latent scale factor."""
    ck = load_checkpoint(_ae_checkpoint(run))
    model = KLAutoencoder(KLAutoencoderConfig.from_dict(ck["model_config"]))
    model.load_state_dict(ck["ema"] if ck.get("ema") else ck["model"])
    if "scale_factor" in ck:
        model.scale_factor.fill_(float(ck["scale_factor"]))
    elif require_scale:
        raise ValueError(f"{_ae_checkpoint(run)} has no fitted scale factor; finish stage 1 with "
                         f"`lfdm-bench train --model ldm --stage ae`")
    return model.to(device).eval().requires_grad_(False)


def fit_scale(cfg: LDMConfig, run: Run, progress: bool = True) -> float:
    """Fit ``scale_factor`` (1 / std of the latents) and ``residual_scale`` (1 / std of each frame's scaled latent
    minus its clip's first, :mod:`lfdm_bench.diffusion.target`) on uniform training clips, once, and store both
    in the stage-1 checkpoint."""
    path = _ae_checkpoint(run)
    ck = load_checkpoint(path)
    if "scale_factor" in ck and "residual_scale" in ck:
        return float(ck["scale_factor"])
    if not ck.get("finished"):
        raise RuntimeError(f"{path} is not finished training; run stage 1 to the end before fitting the scale")
    device = pick_device(cfg.device)
    ae = load_ae(run, device, require_scale=False)
    clips = clip_dataset(load_data(cfg.data), cfg.data, "train", train=False, seed=cfg.seed)
    clips.records = spread(clips.records, cfg.ae.scale_clips)
    video = torch.stack([clips.get(i).video for i in range(len(clips))]).transpose(1, 2).to(device)  # [N, 3, T, H, W]
    with torch.no_grad():
        z = ae.encode_video(video, chunk_size=256)  # [N, c, T, h, w], encoded once for both scales
    if "scale_factor" not in ck:
        ck["scale_factor"] = ae.scale_from_latents(z)
    ae.scale_factor.fill_(float(ck["scale_factor"]))
    ck["residual_scale"] = fit_residual_scale(ae.to_diffusion(z))
    atomic_torch_save(ck, path)
    run.log(f"[ae] latent scale factor {ck['scale_factor']:.4f}, residual scale {ck['residual_scale']:.4f} "
            f"(1 / std over {len(clips)} training clips)")
    return float(ck["scale_factor"])


def load_target(run: Run, cfg: LDMConfig) -> DiffusionTarget:
    """What the run's DM diffuses (``ae.diffusion_target``, ``ae.diffusion_patch``, the fitted residual scale)."""
    ck = load_checkpoint(_ae_checkpoint(run))
    if cfg.ae.diffusion_target == "residual" and "residual_scale" not in ck:
        raise ValueError(f"{_ae_checkpoint(run)} has no fitted residual scale; finish stage 1 with "
                         f"`lfdm-bench train --model ldm --stage ae`")
    return DiffusionTarget(cfg.ae.diffusion_target, cfg.ae.diffusion_patch, float(ck.get("residual_scale", 1.0)))


def evaluate_ae_run(run: Run, cfg: LDMConfig, split: str = "test", max_videos: int | None = 128) -> str:
    """Score the run's autoencoder on the clips and frames ``evaluate_lfae_run`` scores (frames 1..T-1 of uniform
    ``split`` clips, the same even spread of at most ``max_videos``); writes ``RUN/metrics/ae_reconstruction.*``."""
    info = load_data(cfg.data)
    clips = clip_dataset(info, cfg.data, split, train=False)
    if max_videos is not None:
        clips.records = spread(clips.records, max_videos)  # the selection of evaluate_lfae_run
    ae = load_ae(run, pick_device(cfg.device))
    scores = reconstruction_scores(ae_reconstructor(ae), clips)
    pretrained = load_checkpoint(_ae_checkpoint(run)).get("pretrained")
    settings = {"dataset": cfg.data.dataset, "split": split, "videos": len(clips), "size": cfg.data.size,
                "n_frames": cfg.data.n_frames, "sampling": "uniform",
                "frames_scored": "1..T-1, each frame encoded and decoded by itself",
                "autoencoder": pretrained or "trained on the run's training subjects"}
    run.write_json({"scores": scores, "settings": settings}, "metrics", "ae_reconstruction.json")
    which = (f"pretrained {pretrained['name']} (sha256 {pretrained['sha256'][:12]}, corpus seed "
             f"{pretrained['corpus_seed']}, {pretrained['corpus_subjects']} subjects)" if pretrained
             else "trained on the run's training subjects")
    table = format_table(scores, f"LDM autoencoder ({which}) reconstruction on {split} subjects ({len(clips)} "
                                 f"videos, {cfg.data.size}px, {cfg.data.n_frames} frames; frames 1..T-1)")
    (run.metrics / "ae_reconstruction.md").write_text(table + "\n")
    return table


# ---------------------------------------------------------------------------------------- stage 2: latent video DM
@torch.no_grad()
def compute_dm_latents(ae: KLAutoencoder, ds: ClipDataset, batch_size: int = 16,
                       progress: bool = True) -> dict[str, torch.Tensor]:
    """Scaled latents ``x0 [N, c, T, h, w]`` and class indices ``[N]`` of every clip of ``ds`` (the condition is
    ``x0[:, :, 0]``, the first frame's latent)."""
    from lfdm_bench.utils.progress import progress_bar

    device = next(ae.parameters()).device
    xs, classes = [], []
    for start in progress_bar(range(0, len(ds), batch_size), desc="AE latents", disable=not progress,
                              dynamic_ncols=True):
        clips = [ds.get(i) for i in range(start, min(len(ds), start + batch_size))]
        video = torch.stack([c.video for c in clips]).to(device).transpose(1, 2)  # [B, 3, T, H, W]
        xs.append(ae.to_diffusion(ae.encode_video(video, chunk_size=256)).cpu())  # [B, c, T, h, w]
        classes.append(torch.tensor([c.class_index for c in clips]))
    return {"target": torch.cat(xs), "class_index": torch.cat(classes)}


def build_ldm_dm(cfg: LDMConfig, class_texts: Sequence[str], ae_cfg: KLAutoencoderConfig) -> VideoDiffusion:
    """The 3D U-Net diffusion over ``c*p*p``-channel latents (``p = cfg.ae.diffusion_patch``,
    :mod:`lfdm_bench.diffusion.patches`), conditioned on the first frame's latent in the same layout."""
    c = ae_cfg.latent_channels * cfg.ae.diffusion_patch ** 2
    table = class_table(cfg.dm.text, class_texts)
    return build_video_diffusion(cfg.dm.unet, cfg.dm.diffusion, table, class_texts, in_channels=c, out_channels=c,
                                 cond_channels=c, out_heads=())


def train_ldm_dm(cfg: LDMConfig, run: Run, progress: bool = True, stop_at: int | None = None) -> dict[str, Any]:
    """Stage 2: the latent video DM over the frozen autoencoder's scaled per-frame latents."""
    device = pick_device(cfg.device)
    info = load_data(cfg.data)
    ae = load_ae(run, device)
    clips = clip_dataset(info, cfg.data, "train", train=not cfg.dm.precompute_targets, seed=cfg.seed)
    if cfg.dm.precompute_targets:
        key = {"ae": str(_ae_checkpoint(run).stat().st_mtime_ns), "scale": float(ae.scale_factor),
               "records": [r.path for r in clips.records], "n": cfg.data.n_frames, "size": cfg.data.size}
        tensors = cached_tensors(run, "ldm_latents", key, lambda: compute_dm_latents(ae, clips, progress=progress),
                                 "AE latents")
        ds, collate_fn = TensorItems(tensors), stack_collate

        def get_batch(batch):
            return batch["target"], batch["class_index"]
    else:
        ds, collate_fn = training_items(clips, cfg.data.preload, progress), lambda items: collate([c for c, _ in items])

        def get_batch(batch):
            video = batch.video.to(device).transpose(1, 2)  # [B, 3, T, H, W]
            with torch.no_grad():
                return ae.to_diffusion(ae.encode_video(video, chunk_size=256)), batch.class_index

    torch.manual_seed(cfg.seed)
    model = build_ldm_dm(cfg, info.class_texts, ae.cfg)
    target = load_target(run, cfg)

    def loss_fn(m: nn.Module, batch) -> tuple[torch.Tensor, dict[str, float]]:
        z, cls = (t.to(device) for t in get_batch(batch))  # [B, c, T, h, w], [B]
        x0, cond = target.encode(z)  # [B, c*p*p, T, h/p, w/p], [B, c*p*p, h/p, w/p]
        return m(x0, cond, cls), {}  # forward = the diffusion loss (through DDP when several processes)

    trainer = Trainer(run, "dm", model, loss_fn, ds, collate_fn, cfg.dm.train,
                      model_config=model.cfg.to_dict(), progress=progress, run_info=run_info("ldm", cfg),
                      compile_modules=[model.unet])
    out = trainer.fit(stop_at=stop_at)
    out["params"] = count_params(model.unet)
    p = cfg.ae.diffusion_patch
    h = cfg.data.size // ae.cfg.downsample_factor // p
    try:  # FLOPs of one training step (forward + backward) of the U-Net, on the meta device
        out["train_flops_per_step"] = model.unet.flops_per_forward(
            (cfg.dm.train.batch_size, ae.cfg.latent_channels * p * p, cfg.data.n_frames, h, h), backward=True)
    except Exception as e:  # noqa: BLE001 -- an optional figure must never fail a finished training
        run.log(f"[dm] could not count FLOPs: {e!r}")
    return out


# ---------------------------------------------------------------------------------------------------- entry point
def open_ldm_run(cfg: LDMConfig, out: str | Path | None, config: str = "", overrides: Sequence[str] = ()) -> Run:
    """Create (or reopen, to resume) the run directory of ``cfg`` (default ``runs/<name>-ldm``); a run made with
    another config or by another model is refused (:class:`~lfdm_bench.runs.RunConfigMismatch`)."""
    return open_training_run(out or f"runs/{cfg.name}-ldm", "ldm", dump_yaml(cfg), config, overrides)


def train_ldm_run(cfg: LDMConfig, run: Run, stage: str = "all", progress: bool = True) -> dict[str, Any]:
    """Train stage ``ae`` (the autoencoder, then its latent scale and its reconstruction scores), ``dm`` or ``all``
    of an LDM run (each resumes, and is skipped once finished). ``out["ae"]["table"]``: the scores as a table."""
    if stage not in STAGES:
        raise ValueError(f"LDM stage must be one of {', '.join(STAGES)}, got {stage!r}")
    out: dict[str, Any] = {}
    if stage in (AE_STAGE, "all"):
        out[AE_STAGE] = r = train_ae(cfg, run, progress=progress)
        run.log(f"AE: {'pretrained ' + cfg.ae.pretrained if cfg.ae.pretrained else str(r['steps']) + ' steps'}, "
                f"{r['params']:,} parameters, {r['seconds']:.0f} s", echo=True)
        r["scale_factor"] = scale = fit_scale(cfg, run, progress=progress)
        run.log(f"AE latent scale factor: {scale:.4f}", echo=True)
        r["table"] = evaluate_ae_run(run, cfg)
    if stage in ("dm", "all"):
        out["dm"] = r = train_ldm_dm(cfg, run, progress=progress)
        flops = r.get("train_flops_per_step")
        run.log(f"DM: {r['steps']} steps, {r['params']:,} U-Net parameters, {r['seconds']:.0f} s"
                + (f", {flops / 1e9:.2f} GFLOP per training step" if flops else ""), echo=True)
    return out
