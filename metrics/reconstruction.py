"""Autoencoder reconstruction scores (the paper's autoencoder comparison): L1 / PSNR / SSIM of frames of
test-subject clips, next to trivial baselines.

For the LFAE every frame t of a clip is reconstructed from frame 0 (flow from frame 0 to frame t, warp z0, decode),
as LFDM generates, with two kinds of flow, in two labelled rows: ``LFAE (predicted flows)``, the flow predictor's
flows from (frame 0, frame t) as they come, and ``LFAE (flows fitted to the target)``, those flows refined by Adam
steps against frame t itself (:meth:`LFAE.refine_flow`): an oracle that sees the frame it reconstructs.
``copy-frame-0`` predicts frame 0 for every frame; ``warp-only (...)`` is frame 0 warped by either flow (no
decoder). The LDM autoencoder encodes and decodes each frame itself. Frame 0 is excluded from the averages (every
method reproduces it trivially but the autoencoders).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from lfdm_bench.data.loading import clip_dataset, load_data
from lfdm_bench.data.records import spread
from lfdm_bench.lfdm.load import load_lfae
from metrics.format import digits_of, format_value, to_markdown
from metrics.psnr_ssim import frame_metrics
from lfdm_bench.utils.device import pick_device

# reconstruct(video [B, T, 3, H, W] in [0, 1]) -> {method name: [B, T, 3, H, W]}
ReconstructFn = Callable[[torch.Tensor], dict[str, torch.Tensor]]


def reconstruction_scores(reconstruct: ReconstructFn, clips, batch_size: int = 16) -> dict[str, dict[str, float]]:
    """Mean L1, PSNR (dB) and SSIM over frames 1..T-1 of every clip of ``clips`` (a ClipDataset), and
    ``psnr_pooled``: the PSNR of the mean squared error over all those frames.

    Both PSNRs are reported because they rank differently here: the per-frame mean caps identical frames at 100 dB,
    so a method that copies frame 0 collects 100 dB on every frame before the motion starts (synth-faces clips hold
    still for a frame or two), which outweighs its errors elsewhere; the pooled PSNR is the error of all frames
    together and has no such cap.
    """
    sums: dict[str, dict[str, list]] = {}
    for start in range(0, len(clips), batch_size):
        video = torch.stack([clips.get(i).video for i in range(start, min(len(clips), start + batch_size))])
        with torch.no_grad():
            preds = reconstruct(video)
        target = video[:, 1:]
        for name, pred in preds.items():
            pred = pred[:, 1:].float().clamp(0, 1).cpu()
            fm = frame_metrics(pred, target, psnr_cap_db=100.0)
            d = sums.setdefault(name, {"l1": [], "psnr": [], "ssim": [], "mse": []})
            d["l1"].append((pred - target).abs().mean(dim=(2, 3, 4)).numpy().ravel())
            d["mse"].append((pred.double() - target.double()).pow(2).mean(dim=(2, 3, 4)).numpy().ravel())
            d["psnr"].append(fm.psnr.ravel())
            d["ssim"].append(fm.ssim.ravel())
    out = {}
    for name, d in sums.items():
        means = {k: float(np.concatenate(v).mean()) for k, v in d.items()}
        mse = means.pop("mse")
        out[name] = means | {"psnr_pooled": float(10 * np.log10(1.0 / mse)) if mse > 0 else float("inf"),
                             "frames": int(sum(len(x) for x in d["l1"]))}
    return out


LFAE_PREDICTED, LFAE_FITTED = "LFAE (predicted flows)", "LFAE (flows fitted to the target)"
FIT_STEPS = 20  # refinement steps of flows fitted to the target when the LFAE's own refine_steps is 0


def fit_steps(lfae) -> int:
    """Adam steps of the flows fitted to the target frames (the oracle rows): the LFAE's ``refine_steps``, else
    :data:`FIT_STEPS`."""
    return lfae.config.refine_steps or FIT_STEPS


def lfae_reconstructor(lfae) -> ReconstructFn:
    """LFAE reconstruction of every frame from frame 0 with the predicted and with the fitted flows
    (:func:`fit_steps`), plus the copy-frame-0 and warp-only baselines."""
    from lfdm_bench.models.lfae.warp import resize_grid, warp

    device = next(lfae.parameters()).device
    steps = fit_steps(lfae)

    def reconstruct(video: torch.Tensor) -> dict[str, torch.Tensor]:
        v = video.to(device)
        b, t = v.shape[:2]
        x = v.transpose(1, 2)  # [B, 3, T, H, W]
        src = v[:, :1].expand(-1, t, -1, -1, -1).reshape(b * t, *v.shape[2:])  # frame 0 per frame: [B*T, 3, H, W]
        out = {}
        for label, n in ((LFAE_PREDICTED, 0), (LFAE_FITTED, steps)):
            target = lfae.dm_target_from_video(x, refine_steps=n)  # [B, 3, T, h, w]
            out[label] = lfae.generate_from_dm(x[:, :, 0], target).transpose(1, 2)  # [B, T, 3, H, W]
            flow, _ = lfae.dm_target_to_flow(target.transpose(1, 2).reshape(b * t, 3, *target.shape[-2:]))
            warped = warp(src, resize_grid(flow, tuple(v.shape[-2:])).to(src.dtype)).reshape(v.shape)
            out[f"warp-only ({label[6:-1]})"] = warped
        return out | {"copy-frame-0": v[:, :1].expand_as(v)}

    return reconstruct


RECON_COLUMNS = (("l1", "L1 (lower)"), ("psnr", "PSNR dB (mean of frames)"), ("psnr_pooled", "PSNR dB (pooled MSE)"),
                 ("ssim", "SSIM"))


def format_table(scores: dict[str, dict[str, float]], caption: str = "") -> str:
    """A Markdown table of :func:`reconstruction_scores` (one row per method), under ``caption``."""
    rows = [[k, *(format_value(v.get(key), digits_of(key), missing="-") for key, _ in RECON_COLUMNS), v["frames"]]
            for k, v in scores.items()]
    table = to_markdown(rows, ["method", *(label for _, label in RECON_COLUMNS), "frames"])
    return (caption + "\n\n" if caption else "") + table


def evaluate_lfae_run(run, cfg, split: str = "test", max_videos: int | None = 128) -> str:
    """Score a run's trained LFAE on ``split`` clips; writes ``RUN/metrics/lfae_reconstruction.json`` + ``.md``."""
    info = load_data(cfg.data)
    clips = clip_dataset(info, cfg.data, split, train=False)
    clips.records = spread(clips.records, max_videos)  # an even cover of subjects and classes
    lfae = load_lfae(run, pick_device(cfg.device))
    scores = reconstruction_scores(lfae_reconstructor(lfae), clips)
    settings = {"dataset": cfg.data.dataset, "split": split, "videos": len(clips), "size": cfg.data.size,
                "n_frames": cfg.data.n_frames, "sampling": "uniform", "frames_scored": "1..T-1 from frame 0",
                "fitted_flows": f"{fit_steps(lfae)} Adam steps against the target frame (an oracle)"}
    run.write_json({"scores": scores, "settings": settings}, "metrics", "lfae_reconstruction.json")
    table = format_table(scores, f"LFAE reconstruction on {split} subjects ({len(clips)} videos, {cfg.data.size}px, "
                                 f"{cfg.data.n_frames} frames; frames 1..T-1 reconstructed from frame 0; "
                                 f"fitted flows: {settings['fitted_flows']})")
    (run.metrics / "lfae_reconstruction.md").write_text(table + "\n")
    return table
