"""The on-disk cache of per-video features (:mod:`metrics.video_features`), used for the real videos' features:
they are computed once per (video set, clip settings, feature source) and read back by every later evaluation.

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
import os
import time
import zipfile
import zlib
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from lfdm_bench.data.records import VideoRecord
from lfdm_bench.utils.io import atomic_save, stable_hash
from lfdm_bench.utils.paths import cache_dir
from metrics.detector import DetectorInfo
from metrics.video_features import ClipSpec, FeatureSource, Transform, compute_features, record_id

__all__ = ["CACHE_FORMAT", "FeatureCache", "cache_key", "cache_prefix", "cached_features", "file_signature"]

log = logging.getLogger(__name__)

CACHE_FORMAT = 2  # 2: rows identified by (file, segment); clip specs carry the load resize and quantisation
LogFn = Callable[[str], None]


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
