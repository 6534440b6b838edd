"""PSNR / SSIM (and the motion statistics of :mod:`metrics.motion_stats`) of generated videos against the
ground-truth clips of their source videos, batch by batch.

The ground truth of a generated video is the clip of the real video named by its ``params["source"]`` (whose frame 0
was the source image) and, for a segment of a longer file (NATOPS' raw repetitions), ``params["source_segment"]``,
read under the protocol's real clip settings; see :mod:`metrics.protocol`. Ground truths are looked up by
(file, segment), never by path alone: several repetitions share one NATOPS file.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from lfdm_bench.data.records import VideoRecord
from lfdm_bench.data.video_io import BadVideoError
from metrics.clip_select import source_id
from metrics.psnr_ssim import frame_metrics
from metrics.motion_stats import MotionStatsAccumulator
from metrics.video_features import ClipSpec


GT_CACHE_BYTES = 512 * 2**20
"""Decoded ground-truth clips kept in memory across :class:`FrameScores` of one process (the benchmark scores ~10
sample sets against the same real clips): least recently used first out beyond this many bytes."""
_gt_clips: OrderedDict[tuple, torch.Tensor] = OrderedDict()


def ground_truth_clip(spec: ClipSpec, rec: VideoRecord) -> torch.Tensor:
    """``spec``'s clip of the real video ``rec`` (``[T, 3, H, W]``), decoded once per process while the file is
    unchanged (its size and modification time are part of the key)."""
    st = Path(rec.path).stat()
    key = (repr(spec), repr(rec), st.st_size, st.st_mtime_ns)
    clip = _gt_clips.get(key)
    if clip is None:
        clip = spec.clip(spec.dataset([rec]), 0)
        _gt_clips[key] = clip
        total = sum(c.numel() * c.element_size() for c in _gt_clips.values())
        while total > GT_CACHE_BYTES and len(_gt_clips) > 1:
            _, old = _gt_clips.popitem(last=False)
            total -= old.numel() * old.element_size()
    else:
        _gt_clips.move_to_end(key)
    return clip


class FrameScores:
    """PSNR / SSIM of generated batches against the ground-truth clips of their source videos, and (``motion``)
    the motion statistics of :mod:`metrics.motion_stats` per split: amplitude against the same real
    takes, frame 0 against the source image (frame 0 of the real take), motion in the opening frames."""

    def __init__(self, gen: list[VideoRecord], real_index: dict[str, VideoRecord], spec: ClipSpec, cap_db: float,
                 motion: bool = False):
        """``real_index``: :func:`~metrics.video_features.record_id` -> real record (the dataset's videos)."""
        self.gen, self.real_index, self.spec, self.cap_db = gen, real_index, spec, cap_db
        self.psnr: dict[int, np.ndarray] = {}  # generated row -> [T]
        self.ssim: dict[int, np.ndarray] = {}
        self.motion: dict[str, MotionStatsAccumulator] | None = {} if motion else None  # split -> accumulator
        self.missing: list[str] = []

    def _gt_record(self, r: VideoRecord) -> VideoRecord | None:
        key = source_id(r)
        if key is None:
            return None
        if key in self.real_index:
            return self.real_index[key]
        src, seg = r.params["source"], r.params.get("source_segment")
        if Path(src).exists():
            return VideoRecord(path=str(src), subject=r.subject, class_index=r.class_index, class_name=r.class_name,
                               text=r.text, split=r.split, params={} if seg is None else {"segment": list(seg)})
        return None

    def __call__(self, idx: Sequence[int], videos) -> None:
        rows, gts = [], []
        for j, i in enumerate(idx):
            rec = self._gt_record(self.gen[i])
            if rec is None:
                self.missing.append(self.gen[i].path)
                continue
            try:
                gts.append(ground_truth_clip(self.spec, rec))
                rows.append(j)
            except BadVideoError as e:
                self.missing.append(f"{self.gen[i].path} ({e})")
        if rows:
            gt = torch.stack(gts)  # [N, T, 3, H, W]
            fm = frame_metrics(videos[rows], gt, psnr_cap_db=self.cap_db)
            for k, j in enumerate(rows):
                self.psnr[idx[j]], self.ssim[idx[j]] = fm.psnr[k], fm.ssim[k]
            if self.motion is not None:
                n = min(videos.shape[1], gt.shape[1])
                for k, j in enumerate(rows):
                    split = self.gen[idx[j]].split
                    acc = self.motion.setdefault(split, MotionStatsAccumulator(cap_db=self.cap_db))
                    acc.add_generated(videos[j:j + 1, :n], gt[k:k + 1, 0])
                    acc.add_real(gt[k:k + 1, :n])

    def motion_summary(self, split: str) -> dict[str, Any] | None:
        """:func:`metrics.motion_stats.motion_stats` of ``split``'s generated videos and their real takes
        (None when none was scored)."""
        if self.motion is None or split not in self.motion:
            return None
        return self.motion[split].summary()

    def summary(self, rows: Sequence[int], which: str) -> dict[str, Any]:
        store = self.psnr if which == "psnr" else self.ssim
        have = [store[i] for i in rows if i in store]
        if not have:
            return {"mean": None, "std": None, "n_videos": 0, "per_frame": []}
        per_video = np.stack(have)  # [N, T]
        return {"mean": float(per_video.mean()), "std": float(per_video.mean(axis=1).std()),
                "n_videos": len(have), "per_frame": [float(v) for v in per_video.mean(axis=0)]}
