"""Per-video features of any set of videos (real or generated): how clips are read (:class:`ClipSpec`), the
feature sources (a detector, or :class:`FunctionDetector` around a plain function) and :func:`compute_features`.

Features are extracted once per video and kept per video (``[N, D]`` in record order), so every grouping (FVD per
split, cFVD per class, sFVD per subject, KVD, the class-accuracy probe) is an index into the same array. Videos are
identified by :func:`record_id` (file and segment). The on-disk cache of such features (the real videos' features
are computed once per protocol) is :mod:`metrics.feature_cache`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Protocol, Sequence

import numpy as np
import torch
from torch import Tensor

from lfdm_bench.data.records import VideoRecord
from metrics.detector import DetectorInfo
from metrics.preprocess import LOAD_RESIZE_MODES, QUANTIZE, load_resize, quantize

__all__ = ["ClipSpec", "FeatureSource", "FunctionDetector", "iter_clip_batches", "compute_features", "check_finite",
           "record_id", "video_ids"]

Transform = Callable[[Tensor, Sequence[int]], Tensor]
BatchHook = Callable[[Sequence[int], Tensor], None]


class FeatureSource(Protocol):
    """What turns clips into features: :class:`metrics.detector.FeatureExtractor` or any stand-in.

    ``source(videos)`` takes uint8 ``[B, T, 3, H, W]`` (or float in ``[0, 1]``) and returns float ``[B, D]``;
    ``source.info`` (a :class:`~metrics.detector.DetectorInfo`) names it in cache keys and results.
    """

    info: DetectorInfo

    def __call__(self, videos: Tensor) -> np.ndarray: ...


class FunctionDetector:
    """Wrap a feature function into a :class:`FeatureSource` (tests, motion features, custom detectors).

    Args:
        fn: ``videos [B, T, 3, H, W] (uint8 or float [0, 1]) -> array-like [B, D]``.
        name: a name for results and cache keys.
        version: changes the cache key when the function changes (bump it when you edit ``fn``).

    Attributes:
        calls: number of calls so far; ``videos_seen``: total videos passed (tests count them).
    """

    def __init__(self, fn: Callable[[Tensor], Any], name: str, version: str = "1") -> None:
        self.fn = fn
        self.info = DetectorInfo(name=name, sha256=f"function:{name}:v{version}", bn_eps=math.nan,
                                 resize_method="none", precision="fp32", comparable_with_published=False,
                                 weights_status="function",
                                 weights_label=f"feature function {name} v{version} (not I3D weights)")
        self.calls = 0
        self.videos_seen = 0

    def __call__(self, videos: Tensor) -> np.ndarray:
        self.calls += 1
        self.videos_seen += int(videos.shape[0])
        out = self.fn(videos)
        out = out.detach().cpu().numpy() if isinstance(out, Tensor) else np.asarray(out)
        if out.ndim != 2 or out.shape[0] != videos.shape[0]:
            raise ValueError(f"feature function {self.info.name!r} must return [B, D] for B={videos.shape[0]}, "
                             f"got shape {out.shape}")
        return out.astype(np.float64)


def record_id(record: VideoRecord) -> str:
    """The identity of a record's video: its absolute path, plus ``#start:stop`` when the record is a segment of a
    longer file (``params["segment"]``: NATOPS' raw repetitions, a protocol's clip window). Two segments of one file
    are two videos (their features, cache rows and PSNR / SSIM ground truths are kept apart)."""
    path = str(Path(record.path).resolve())
    seg = record.params.get("segment")
    return path if seg is None else f"{path}#{int(seg[0])}:{int(seg[1])}"


def video_ids(records: Sequence[VideoRecord]) -> list[int]:
    """A stable 31-bit integer per record, from its :func:`record_id` (absolute path, and segment if any): the seed
    of per-video randomness (distortions, clip windows), so a video draws the same way whatever the order or batch
    it comes in."""
    import hashlib

    return [int(hashlib.sha256(record_id(r).encode()).hexdigest()[:8], 16) & 0x7FFFFFFF for r in records]


@dataclass(frozen=True)
class ClipSpec:
    """How clips are read from a set of videos.

    Attributes:
        n_frames: clip length T (I3D needs T >= 9).
        size: frames are brought to ``size x size`` (the evaluation resolution) by ``resize``.
        sampling: ``uniform`` (evenly spaced over the video), ``first`` (frames 0..T-1), or another mode of
            :mod:`lfdm_bench.data.frame_indices` (a protocol's clip windows are records with a ``segment``, read ``first``).
        seed: seed of random sampling modes (recorded even when unused).
        use_record_crop: apply each record's crop box (real datasets: LFDM's MHAD / NATOPS boxes); generated
            videos are read uncropped.
        resize: ``pad`` (keep aspect, antialiased, zero-pad: the toolkit's loader), ``shortside-crop`` or
            ``shortside-crop-antialias`` (see :func:`metrics.preprocess.load_resize`).
        quantize: float frames -> uint8 (:func:`metrics.preprocess.quantize`); frames are always read as
            float [0, 1], resized, then quantised, so ``pad`` + ``round`` is the toolkit's historical uint8 clip.
    """

    n_frames: int
    size: int
    sampling: str = "uniform"
    seed: int = 0
    use_record_crop: bool = True
    resize: str = "pad"
    quantize: str = "round"

    def __post_init__(self) -> None:
        if self.resize not in LOAD_RESIZE_MODES:
            raise ValueError(f"ClipSpec.resize must be one of {LOAD_RESIZE_MODES}, got {self.resize!r}")
        if self.quantize not in QUANTIZE:
            raise ValueError(f"ClipSpec.quantize must be one of {QUANTIZE}, got {self.quantize!r}")

    def dataset(self, records: Sequence[VideoRecord]):
        """A float ``[0, 1]`` :class:`~lfdm_bench.data.dataset.ClipDataset` over ``records`` (resized and padded to
        ``size`` for ``pad``, native size otherwise); :meth:`clip` finishes its items."""
        from lfdm_bench.data.dataset import ClipDataset

        return ClipDataset(records, n_frames=self.n_frames, size=self.size if self.resize == "pad" else None,
                           sampling=self.sampling, crop=None if self.use_record_crop else False, dtype="float",
                           seed=self.seed, min_frames=self.n_frames,
                           short_hint="evaluate clips of at most {n} frames (eval --frames {n}; a benchmark "
                           "config: eval.n_frames={n}) or drop the video")

    def finish(self, video: Tensor) -> Tensor:
        """Float frames [T, 3, h, w] from :meth:`dataset` -> uint8 [T, 3, size, size] (load resize, quantisation)."""
        if self.resize != "pad":
            video = load_resize(video, self.size, self.resize)
        return quantize(video, self.quantize)

    def clip(self, dataset: Any, index: int) -> Tensor:
        """Clip ``index`` of a :meth:`dataset`: uint8 [T, 3, size, size]."""
        return self.finish(dataset[index].video)

    def from_frames(self, frames: Tensor) -> Tensor:
        """An in-memory video -> uint8 clip [T, 3, size, size], read as :meth:`dataset` and :meth:`clip` read a file
        holding these frames (its ``uniform`` / ``first`` frame indices, the ``pad`` resize, :meth:`finish`; no
        crop box). ``frames``: uint8 or float ``[0, 1]`` ``[N, 3, H, W]`` with ``N >= n_frames``."""
        from lfdm_bench.data.frame_indices import sample_indices
        from lfdm_bench.data.transforms import resize_pad, to_float

        if self.sampling not in ("uniform", "first"):
            raise ValueError(f"from_frames reads 'uniform' or 'first' clips, not {self.sampling!r} (seeded per file)")
        if frames.ndim != 4 or frames.shape[1] != 3:
            raise ValueError(f"expected frames [N, 3, H, W], got shape {tuple(frames.shape)}")
        if frames.shape[0] < self.n_frames:
            raise ValueError(f"a video of {frames.shape[0]} frames is shorter than the clip length {self.n_frames}")
        idx = torch.from_numpy(sample_indices(frames.shape[0], self.n_frames, self.sampling).indices)
        video = frames[idx]
        video = resize_pad(video, self.size) if self.resize == "pad" else to_float(video)
        return self.finish(video)


def iter_clip_batches(records: Sequence[VideoRecord], spec: ClipSpec, batch_size: int,
                      progress: bool = False, desc: str = "videos") -> Iterator[tuple[list[int], Tensor]]:
    """Decode ``records`` into batches: yields ``(indices, uint8 [b, T, 3, size, size])`` in record order."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    ds = spec.dataset(records)
    starts: Any = range(0, len(ds), batch_size)
    if progress:
        from lfdm_bench.utils.progress import progress_bar

        starts = progress_bar(starts, desc=desc, unit="batch")
    for s in starts:
        idx = list(range(s, min(s + batch_size, len(ds))))
        yield idx, torch.stack([spec.clip(ds, i) for i in idx])


def compute_features(records: Sequence[VideoRecord], spec: ClipSpec, sources: Mapping[str, FeatureSource], *,
                     batch_size: int = 8, transform: Transform | None = None, on_batch: BatchHook | None = None,
                     progress: bool = False, desc: str = "videos") -> dict[str, np.ndarray]:
    """Features of every record under every source, decoding each video once.

    Args:
        records: the videos; row ``i`` of each output is ``records[i]``.
        spec: how clips are read.
        sources: name -> feature source; all see the same decoded (and transformed) batch.
        batch_size: videos decoded and passed to the sources at once.
        transform: optional ``(videos [b, T, 3, H, W], video ids) -> float [b, T, 3, H, W]`` applied before the
            sources (a :class:`~metrics.distortions.Distortion`); the ids are :func:`video_ids` of the batch.
        on_batch: optional ``(record indices, uint8 videos [b, T, 3, H, W])`` hook, called with every decoded batch
            (PSNR / SSIM use it, so frames are not decoded twice).

    Returns:
        name -> float64 ``[N, D_name]``.
    """
    chunks: dict[str, list[np.ndarray]] = {k: [] for k in sources}
    for idx, videos in iter_clip_batches(records, spec, batch_size, progress, desc):
        if on_batch is not None:
            on_batch(idx, videos)
        x = transform(videos, video_ids([records[i] for i in idx])) if transform is not None else videos
        for name, src in sources.items():
            feats = np.asarray(src(x), dtype=np.float64)
            check_finite(feats, name, src, [records[i] for i in idx], desc)
            chunks[name].append(feats)
    return {k: (np.concatenate(v) if v else np.zeros((0, 0))) for k, v in chunks.items()}


def check_finite(features: np.ndarray, name: str, source: Any, records: Sequence[VideoRecord], desc: str) -> None:
    """Raise ``ValueError`` when a feature source gave NaN / inf (weights holding NaN, a broken detector), naming the
    source and a video, before any such feature is used or cached."""
    bad = ~np.isfinite(features).all(axis=tuple(range(1, features.ndim))) if features.size else np.zeros(0, bool)
    if bad.any():
        info = getattr(source, "info", None)
        who = f"{getattr(info, 'name', name)} (sha256 {str(getattr(info, 'sha256', '?'))[:16]})" if info else name
        raise ValueError(f"feature source {name!r} = {who} gave NaN/inf features for {int(bad.sum())} of "
                         f"{len(bad)} {desc} video(s) in a batch, e.g. {records[int(np.argmax(bad))].path}: its "
                         "weights may hold NaN/inf (check the detector file); nothing was cached")
