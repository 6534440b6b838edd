"""The LFAE's reconstruction scores (stage 1 of LFDM in the paper's autoencoder comparison), scored with
:func:`metrics.reconstruction.reconstruction_scores`.

Every frame t of a clip is reconstructed from frame 0 (flow from frame 0 to frame t, warp z0, decode), as LFDM
generates, with two kinds of flow, in two labelled rows: ``LFAE (predicted flows)``, the flow predictor's flows from
(frame 0, frame t) as they come, and ``LFAE (flows fitted to the target)``, those flows refined by Adam steps against
frame t itself (:meth:`LFAE.refine_flow`, :func:`~lfdm_bench.training.trained_models.fit_steps` steps): an oracle
that sees the frame it reconstructs. ``copy-frame-0`` predicts frame 0 for every frame; ``warp-only (...)`` is
frame 0 warped by either flow (no decoder).
"""

from __future__ import annotations

import torch

from lfdm_bench.data.loading import clip_dataset, load_data
from lfdm_bench.data.records import spread
from lfdm_bench.training.trained_models import fit_steps, load_lfae
from lfdm_bench.utils.device import pick_device
from metrics.reconstruction import ReconstructFn, format_table, reconstruction_scores

LFAE_PREDICTED, LFAE_FITTED = "LFAE (predicted flows)", "LFAE (flows fitted to the target)"


def lfae_reconstructor(lfae) -> ReconstructFn:
    """LFAE reconstruction of every frame from frame 0 with the predicted and with the fitted flows
    (:func:`~lfdm_bench.training.trained_models.fit_steps`), plus the copy-frame-0 and warp-only baselines."""
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
