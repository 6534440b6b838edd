"""Autoencoder reconstruction scores (the paper's autoencoder comparison): L1 / PSNR / SSIM of frames of
test-subject clips, and their Markdown table, for any method's reconstructions.

A method hands :func:`reconstruction_scores` a :data:`ReconstructFn` (a batch of clips -> one reconstruction per
labelled row): the LFAE's (every frame from frame 0, next to the copy-frame-0 and warp-only rows) is
:func:`lfdm_bench.lfdm.reconstruction.lfae_reconstructor`, the LDM autoencoder's (each frame encoded and decoded)
:func:`baselines.ldm.pretrained.ae_reconstructor`. Frame 0 is excluded from the averages (every method reproduces
it trivially but the autoencoders).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from metrics.format import digits_of, format_value, to_markdown
from metrics.psnr_ssim import frame_metrics

# reconstruct(video [B, T, 3, H, W] in [0, 1]) -> {method name: [B, T, 3, H, W]}
ReconstructFn = Callable[[torch.Tensor], dict[str, torch.Tensor]]


def reconstruction_scores(reconstruct: ReconstructFn, clips, batch_size: int = 16) -> dict[str, dict[str, float]]:
    """Mean L1, PSNR (dB) and SSIM over frames 1..T-1 of every clip of ``clips`` (a ClipDataset), and
    ``psnr_pooled``: the PSNR of the mean squared error over all those frames.

    Both PSNRs are reported because they rank differently here: the per-frame mean caps identical frames at 100 dB,
    so a method that copies frame 0 collects 100 dB on every frame before the motion starts (synth-faces clips hold
    still for a frame or two), which outweighs its errors elsewhere; the pooled PSNR is the error of all frames
    together and has no such cap. ``per_subject_psnr``: the pooled PSNR of each subject's frames (the PSNR of their
    mean squared error: the subject-level values that a paired comparison of two autoencoders on the same clips
    resamples; pooled for the same reason, else a copy of frame 0 would outscore any lossy reconstruction).
    """
    sums: dict[str, dict[str, list]] = {}
    records = getattr(clips, "records", None)  # clip collections without records get no per-subject values
    subjects = [str(r.subject) for r in records] if records is not None else []
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
        means = {k: float(np.concatenate(v).mean()) for k, v in d.items() if k != "mse"}
        frame_mse = np.concatenate([x.reshape(-1) for x in d["mse"]]).reshape(len(clips), -1)  # [clips, T - 1]
        per_subject = {s: _pooled_psnr(frame_mse[[i for i, x in enumerate(subjects) if x == s]])
                       for s in sorted(set(subjects))}
        out[name] = means | {"psnr_pooled": _pooled_psnr(frame_mse),
                             "frames": int(sum(len(x) for x in d["l1"]))}
        if per_subject:
            out[name]["per_subject_psnr"] = per_subject
    return out


def _pooled_psnr(mse: np.ndarray) -> float:
    """PSNR (dB, signal range 1) of the mean of squared errors ``mse`` (any shape); inf for an exact copy."""
    m = float(np.mean(mse))
    return float(10 * np.log10(1.0 / m)) if m > 0 else float("inf")


RECON_COLUMNS = (("l1", "L1 (lower)"), ("psnr", "PSNR dB (mean of frames)"), ("psnr_pooled", "PSNR dB (pooled MSE)"),
                 ("ssim", "SSIM"))


def format_table(scores: dict[str, dict[str, float]], caption: str = "") -> str:
    """A Markdown table of :func:`reconstruction_scores` (one row per method), under ``caption``."""
    rows = [[k, *(format_value(v.get(key), digits_of(key), missing="-") for key, _ in RECON_COLUMNS), v["frames"]]
            for k, v in scores.items()]
    table = to_markdown(rows, ["method", *(label for _, label in RECON_COLUMNS), "frames"])
    return (caption + "\n\n" if caption else "") + table
