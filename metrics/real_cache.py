"""Per-video features of a set of videos, and the on-disk cache of real-video features.

Features are extracted once per video and kept per video (``[N, D]`` in record order), so every grouping (FVD per
split, cFVD per class, sFVD per subject, KVD, the class-accuracy probe) is an index into the same array.

Cache: one ``.npz`` file per (video set, clip settings, feature source) under ``cache_dir('fvd_stats')``
(``$LFDM_BENCH_CACHE/fvd_stats``), named by a hash of everything that changes the features:

* the dataset name and the **sorted list of (path, size, mtime)** of the videos used, with each record's crop box;
* ``n_frames``, the resolution the frames are read at, the clip sampling, the seed and the ``max videos`` limit;
* the feature source: detector name, weight checksum, BatchNorm epsilon, resize method, precision;
* an optional transform (the sanity mode's distortions) and a format version.

The file holds ``features`` (float64 ``[N, D]``), ``paths`` (the videos' :func:`record_id`, row order) and ``meta`` (a JSON string with
the full key, so a hash collision or a stale file is detected on load). Writes go through a temporary file and
``os.replace``: a run killed mid-write leaves no cache file. Any change of the key gives another file name.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
import zipfile
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Protocol, Sequence

import numpy as np
import torch
from torch import Tensor

from lfdm_bench.data.records import VideoRecord
from lfdm_bench.utils.io import atomic_save, stable_hash
from lfdm_bench.utils.paths import cache_dir
from metrics.detector import DetectorInfo
from metrics.preprocess import LOAD_RESIZE_MODES, QUANTIZE, load_resize, quantize

__all__ = [
    "CACHE_FORMAT",
    "ClipSpec",
    "FeatureSource",
    "FunctionDetector",
    "FeatureCache",
    "iter_clip_batches",
    "compute_features",
    "cached_features",
    "file_signature",
    "record_id",
    "video_ids",
]

log = logging.getLogger(__name__)

CACHE_FORMAT = 2  # 2: rows identified by (file, segment); clip specs carry the load resize and quantisation
LogFn = Callable[[str], None]
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
            :mod:`lfdm_bench.data.sampling` (a protocol's clip windows are records with a ``segment``, read ``first``).
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


def file_signature(path: str | os.PathLike[str]) -> tuple[str, int, int]:
    """``(absolute path, size in bytes, mtime in ns)`` of a video file; a frame folder sums its files' sizes and
    takes their latest mtime. A missing path raises ``FileNotFoundError`` naming it."""
    p = Path(path)
    if p.is_dir():
        files = [f.stat() for f in sorted(p.iterdir()) if f.is_file()]
        return str(p.resolve()), sum(s.st_size for s in files), max((s.st_mtime_ns for s in files), default=0)
    if not p.is_file():
        raise FileNotFoundError(f"video {p} does not exist; the dataset's records point at a missing file")
    st = p.stat()
    return str(p.resolve()), int(st.st_size), int(st.st_mtime_ns)


def _set_key(records: Sequence[VideoRecord]) -> list[list[Any]]:
    """The sorted (path, size, mtime, crop, segment) list that identifies a video set."""
    rows = []
    for r in records:
        path, size, mtime = file_signature(r.path)
        rows.append([path, size, mtime, r.params.get("crop"), r.params.get("segment")])
    return sorted(rows, key=lambda row: row[0] + json.dumps(row[3:], default=str))


def cache_prefix(dataset: Any, max_len: int = 40) -> str:
    """A readable file-name prefix for a dataset: its registry name, or for a manifest path its folder and file stem
    (``.../synth-faces-65b4/manifest.csv`` -> ``synth-faces-65b4-manifest``); kept from its start when too long (the
    hash that follows the prefix identifies the file)."""
    name = str(dataset)
    if "/" in name or "\\" in name or name.lower().endswith(".csv"):
        p = Path(name)
        name = f"{p.parent.name}-{p.stem}" if p.parent.name else p.stem
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
    return safe[:max_len].rstrip("-_") or "set"


class FeatureCache:
    """Per-video feature files under ``root`` (default ``cache_dir('fvd_stats')``).

    ``cache.load(key)`` returns ``(features [N, D], paths)`` or ``None``; ``cache.save(key, features, paths)`` writes
    atomically. ``key`` is a JSON-serialisable dict; the file name is ``<prefix>-<hash>.npz``.
    """

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self._root = Path(root) if root is not None else None

    @property
    def root(self) -> Path:
        if self._root is None:
            return cache_dir("fvd_stats")
        self._root.mkdir(parents=True, exist_ok=True)
        return self._root

    def path(self, key: Mapping[str, Any]) -> Path:
        return self.root / f"{cache_prefix(key.get('dataset', 'set'))}-{stable_hash(dict(key), n=24)}.npz"

    def load(self, key: Mapping[str, Any], say: LogFn | None = None) -> tuple[np.ndarray, list[str]] | None:
        """The cached features of ``key`` or ``None`` (missing, unreadable, or stored for another key); a file that
        is there but cannot be used is reported in one line through ``say`` (default: a logged warning), and the
        caller's next :meth:`save` replaces it."""
        say = say or log.warning
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                features = data["features"].astype(np.float64)
                paths = [str(p) for p in data["paths"]]
            if features.ndim != 2 or len(paths) != features.shape[0]:
                raise ValueError(f"features {features.shape} for {len(paths)} videos")
        # a truncated (BadZipFile), bit-flipped (Bad CRC-32, zlib), empty (EOFError) or foreign file
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as e:
            reason = (str(e).splitlines() or [""])[0] or type(e).__name__
            say(f"warning: ignoring unreadable feature cache {path} ({type(e).__name__}: {reason}); computing the "
                "features again (the file is replaced)")
            return None
        if not isinstance(meta, dict) or meta.get("key") != json.loads(json.dumps(dict(key), sort_keys=True,
                                                                                   default=str)):
            say(f"warning: ignoring feature cache {path}: its stored key differs (hash collision or stale file); "
                "computing the features again (the file is replaced)")
            return None
        return features, paths

    def save(self, key: Mapping[str, Any], features: np.ndarray, paths: Sequence[str]) -> Path:
        """Write ``features`` [N, D] of the videos ``paths`` (row order) under ``key``, atomically."""
        features = np.asarray(features, dtype=np.float64)
        if features.ndim != 2 or features.shape[0] != len(paths):
            raise ValueError(f"features must be [N, D] with N = {len(paths)} paths, got {features.shape}")
        if not np.isfinite(features).all():
            raise ValueError(f"refusing to cache NaN/inf features under {self.path(key)}")
        meta = {"key": json.loads(json.dumps(dict(key), sort_keys=True, default=str)), "format": CACHE_FORMAT,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S"), "n": int(features.shape[0]),
                "dim": int(features.shape[1])}
        path = self.path(key)

        def write(tmp: str) -> None:
            with open(tmp, "wb") as f:
                np.savez(f, features=features, paths=np.asarray(list(paths), dtype=str),
                         meta=np.asarray(json.dumps(meta, sort_keys=True)))

        atomic_save(path, write)
        return path


def cache_key(dataset: str, records: Sequence[VideoRecord], spec: ClipSpec, source: DetectorInfo,
              max_videos: int | None, transform: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Everything that determines the cached features of ``records`` (see the module docstring)."""
    return {
        "format": CACHE_FORMAT,
        "dataset": dataset,
        "videos": _set_key(records),
        "clips": asdict(spec),
        "detector": source.to_dict(),
        "max_videos": max_videos,
        "transform": dict(transform) if transform is not None else None,
    }


def cached_features(dataset: str, records: Sequence[VideoRecord], spec: ClipSpec,
                    sources: Mapping[str, FeatureSource], *, max_videos: int | None = None,
                    cache: FeatureCache | None = None, batch_size: int = 8, transform: Transform | None = None,
                    transform_key: Mapping[str, Any] | None = None, progress: bool = False,
                    log_fn: LogFn | None = None, desc: str = "real", detail: str = "") -> dict[str, np.ndarray]:
    """Features of ``records`` under each source, read from the cache when present, else computed and stored.

    Only the sources missing from the cache are run (videos are decoded once for all of them). With
    ``cache=None`` nothing is read or written. ``transform`` must come with a ``transform_key`` describing it.
    Log lines read ``reusing cached <desc> features <path> (<detail><source>, <N> videos)``.

    Returns:
        name -> float64 ``[N, D]`` in ``records`` order.
    """
    say = log_fn or log.info
    if transform is not None and transform_key is None:
        raise ValueError("a transform needs a transform_key describing it (it is part of the cache key)")
    out: dict[str, np.ndarray] = {}
    keys: dict[str, dict[str, Any]] = {}
    if cache is not None:
        try:
            cache.root  # created on demand
        except OSError as e:  # a read-only cache: warn and go on without it
            say(f"warning: the feature cache cannot be used ({e}); computing {desc} features without caching "
                f"(set $LFDM_BENCH_CACHE to a writable folder to cache them)")
            cache = None
    if cache is not None and records:
        for r in records:
            file_signature(r.path)  # a missing file is an error naming it
        order = {record_id(r): i for i, r in enumerate(records)}
        if len(order) != len(records):
            raise ValueError(f"the {desc} video set lists the same video (file and segment) more than once; "
                             "records must be unique")
        for name, src in sources.items():
            keys[name] = cache_key(dataset, records, spec, src.info, max_videos, transform_key)
            hit = cache.load(keys[name], say)
            if hit is None:
                continue
            feats, paths = hit
            if sorted(paths) != sorted(order) or len(paths) != len(records):
                continue
            rows = np.empty(len(records), dtype=np.int64)
            for j, p in enumerate(paths):
                rows[order[p]] = j
            out[name] = feats[rows]
            say(f"reusing cached {desc} features {cache.path(keys[name])} ({detail}{name}, {len(records)} videos)")
    missing = {k: v for k, v in sources.items() if k not in out}
    if missing:
        if records:
            say(f"computing {desc} features ({detail}{', '.join(missing)}) for {len(records)} videos")
        computed = compute_features(records, spec, missing, batch_size=batch_size, transform=transform,
                                    progress=progress, desc=desc)
        for name, feats in computed.items():
            out[name] = feats
            if cache is not None and records:
                try:
                    where = cache.save(keys[name], feats, [record_id(r) for r in records])
                except OSError as e:  # a read-only or full cache: the features are still used
                    say(f"warning: could not write the feature cache {cache.path(keys[name])} ({e.strerror or e}); "
                        f"going on without caching these {desc} features")
                    continue
                say(f"cached {desc} features {where} ({detail}{name})")
    return out
