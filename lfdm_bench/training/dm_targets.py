"""Stage 2's training targets of LFDM: the frozen LFAE's flow + occlusion from frame 0 to every frame (refined by
the LFAE's own settings) and z0, per training clip, computed once and kept in ``RUN/cache/`` (``dm.precompute_targets``).

Here, below both LFDM's training (:mod:`lfdm_bench.lfdm.train`, which writes them) and the calibration baselines
(:mod:`baselines.retrieval`, which reads them: a retrieved training video's refined flows are exactly its target).
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

from lfdm_bench.data.dataset import ClipDataset
from lfdm_bench.data.records import VideoRecord
from lfdm_bench.models.lfae.lfae import LFAE
from lfdm_bench.runs import Run
from lfdm_bench.training.items import cached_tensors_path

__all__ = ["DM_TARGETS", "compute_dm_targets", "dm_targets_key", "cached_dm_targets"]


def compute_dm_targets(lfae: LFAE, ds: ClipDataset, batch_size: int = 16, progress: bool = True) -> dict[str, torch.Tensor]:
    """Flow targets ``[N, 3, T, h, w]``, z0 ``[N, C_z, h, w]`` and class indices ``[N]`` of every clip of ``ds``."""
    from lfdm_bench.utils.progress import progress_bar

    device = next(lfae.parameters()).device
    targets, z0s, classes = [], [], []
    for start in progress_bar(range(0, len(ds), batch_size), desc="LFAE targets", disable=not progress,
                              dynamic_ncols=True):
        clips = [ds.get(i) for i in range(start, min(len(ds), start + batch_size))]
        video = torch.stack([c.video for c in clips]).to(device).transpose(1, 2)  # [B, 3, T, H, W]
        targets.append(lfae.dm_target_from_video(video).cpu())
        z0s.append(lfae.encode(video[:, :, 0]).z.cpu())
        classes.append(torch.tensor([c.class_index for c in clips]))
    return {"target": torch.cat(targets), "z0": torch.cat(z0s), "class_index": torch.cat(classes)}


DM_TARGETS = "dm_targets"
"""Name of stage 2's precomputed targets in ``RUN/cache/`` (:func:`~lfdm_bench.training.items.cached_tensors`)."""


def dm_targets_key(run: Run, lfae: LFAE, records: Sequence[VideoRecord], n_frames: int, size: int) -> dict[str, Any]:
    """The cache key of the precomputed targets of ``records`` (clips of ``n_frames`` uniform frames at ``size``):
    the LFAE checkpoint's identity and its flow-refinement settings."""
    return {"lfae": str((run.checkpoints / "lfae" / "last.pt").stat().st_mtime_ns),
            "records": [r.path for r in records], "n": n_frames, "size": size,
            "refine": [lfae.config.refine_steps, lfae.config.refine_lr, lfae.config.refine_render]}


def cached_dm_targets(run: Run, lfae: LFAE, records: Sequence[VideoRecord], n_frames: int,
                      size: int) -> dict[str, torch.Tensor] | None:
    """Stage 2's precomputed flow targets of the training clips ``records``, keyed by video path
    (``path -> [3, T, h, w]``), when training wrote them with this LFAE and these clip settings; else ``None``.
    They are what :meth:`LFAE.dm_target_from_video` gives these clips (refined with the LFAE's own settings, in
    batches of 16)."""
    path = cached_tensors_path(run, DM_TARGETS, dm_targets_key(run, lfae, records, n_frames, size))
    if not path.is_file():
        return None
    try:
        target = torch.load(path, weights_only=True)["target"]
    except Exception:  # unreadable: the caller computes the targets itself
        return None
    if len(target) != len(records):
        return None
    return {r.path: t for r, t in zip(records, target)}
