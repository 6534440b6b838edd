"""Sanity mode: does the FVD pipeline rank real videos above distorted ones? Works before any generator exists.

The real set (one split, or both) is cut into two disjoint halves A and B, by video and stratified by class. The
baseline is FVD(A, B): the distance between two samples of the same distribution (not 0 for finite sets, and large
when the halves hold fewer videos than the 400 feature dimensions). Then half B is distorted
(:mod:`lfdm_bench.metrics.distortions`: Gaussian noise, Gaussian blur, temporal shuffling, frozen first frame) at
increasing
strengths and FVD(A, distorted B) is computed. A working pipeline shows FVD rising with every strength; every
row that does not rise above the previous one is flagged.

Real features of the whole set are shared with :func:`lfdm_bench.metrics.evaluate.evaluate` through the cache, and the
features of each distorted half are cached too (the distortion is part of the key), so a repeated sanity run
computes nothing.

:func:`write_real_samples` writes real (optionally distorted) clips of a dataset as a generated-sample folder, so the
whole ``lfdm-bench eval`` path can be exercised on real-vs-real and real-vs-distorted sets.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from lfdm_bench.data.records import VideoRecord
from lfdm_bench.metrics.distortions import DISTORTIONS, Distortion
from lfdm_bench.metrics.fvd import FeatureStats, SmallSampleWarning, fvd_from_stats
from lfdm_bench.metrics.kvd import kvd_from_features
from lfdm_bench.metrics.clip_select import select_clips
from lfdm_bench.metrics.evaluate import build_detector, infer_resolution, reference_notes, with_fp32_twin
from lfdm_bench.metrics.groups import single_thread_blas
from lfdm_bench.metrics.protocol import EvalProtocol
from lfdm_bench.metrics.real_cache import (ClipSpec, FeatureCache, FeatureSource, cached_features, iter_clip_batches,
                                           video_ids)

__all__ = ["DEFAULT_STRENGTHS", "SANITY_MAX_REAL", "SanityResult", "split_halves", "run_sanity",
           "write_real_samples"]

log = logging.getLogger(__name__)
LogFn = Callable[[str], None]

DEFAULT_STRENGTHS: dict[str, tuple[float, ...]] = {
    "noise": (0.05, 0.1, 0.2),     # std of additive noise, frames in [0, 1]
    "blur": (1.0, 2.0, 4.0),       # Gaussian sigma in pixels at the evaluation resolution
    "shuffle": (0.25, 0.5, 1.0),   # fraction of frames permuted
    "freeze": (0.5, 0.75, 1.0),    # slow-down towards frame 0 (0.5: half speed; 1: a still image)
}
RISE_RTOL = 1e-6
"""A row "rises" when its FVD exceeds the previous one by more than this relative amount (not float noise)."""
SANITY_MAX_REAL = 64
"""Default number of real videos of the CLI's sanity mode (32 per half): a few minutes of CPU with I3D."""


def split_halves(records: Sequence[VideoRecord], seed: int = 0) -> tuple[list[int], list[int]]:
    """Disjoint halves (A, B) of ``records`` by video, stratified by class: within each class the videos are shuffled
    (seeded) and dealt alternately, the dealing continuing across classes so the halves differ by at most one.

    Returns:
        sorted row indices of half A and half B.
    """
    rng = np.random.default_rng(seed)
    by_class: dict[int, list[int]] = {}
    for i, r in enumerate(records):
        by_class.setdefault(r.class_index, []).append(i)
    a: list[int] = []
    b: list[int] = []
    turn = 0
    for c in sorted(by_class):
        for i in rng.permutation(by_class[c]):
            (a if turn % 2 == 0 else b).append(int(i))
            turn += 1
    return sorted(a), sorted(b)


@dataclass
class SanityResult:
    """The sanity table and what produced it.

    Attributes:
        protocol: the protocol (``to_dict()``, resolution resolved).
        detector: the detector's ``DetectorInfo.to_dict()``.
        baseline: ``{"fvd", "kvd", "n_a", "n_b"}`` of half A vs untouched half B.
        rows: one dict per (distortion, strength): ``distortion, strength, fvd, kvd, rises`` (FVD above the previous
            strength, the baseline for the first).
        non_monotone: labels (``"blur@2"``) of the rows that do not rise.
    """

    protocol: dict[str, Any]
    detector: dict[str, Any]
    baseline: dict[str, Any]
    rows: list[dict[str, Any]]
    non_monotone: list[str]
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def monotone(self) -> bool:
        return not self.non_monotone

    def table_rows(self) -> list[dict[str, Any]]:
        """Rows for printing: the halves baseline first, then every distortion and strength."""
        base = {"distortion": "none (halves A vs B)", "strength": 0.0, "fvd": self.baseline["fvd"],
                "kvd": self.baseline["kvd"], "rises": ""}
        return [base] + [r | {"rises": "yes" if r["rises"] else "NO (non-monotone)"} for r in self.rows]

    def to_dict(self) -> dict[str, Any]:
        return {"protocol": self.protocol, "detector": self.detector, "baseline": self.baseline, "rows": self.rows,
                "non_monotone": self.non_monotone, "monotone": self.monotone, "notes": self.notes,
                "timings": self.timings,
                "comparable_with_published": bool(self.detector.get("comparable_with_published"))}


def _fvd(a: np.ndarray, b: np.ndarray, ddof: int) -> float:
    import warnings

    with warnings.catch_warnings(), single_thread_blas():
        warnings.simplefilter("ignore", SmallSampleWarning)
        return fvd_from_stats(FeatureStats().update(a), FeatureStats().update(b), ddof=ddof)


def run_sanity(protocol: EvalProtocol, strengths: Mapping[str, Sequence[float]] | None = None, *,
               dataset: Any = None, detector: FeatureSource | None = None, cache: FeatureCache | bool | None = True,
               progress: bool = False, log_fn: LogFn | None = None) -> SanityResult:
    """FVD of real half A vs real half B, and vs distorted half B at each strength.

    Args:
        protocol: the real set is ``protocol.split`` of ``protocol.dataset`` (``both``: all videos), limited to
            ``protocol.max_real`` videos; clips follow ``protocol.real_sampling`` at ``protocol.resolution``
            (``None``: the first real video's size).
        strengths: distortion name -> increasing strengths (default :data:`DEFAULT_STRENGTHS`).
        dataset, detector, cache, progress, log_fn: as in :func:`lfdm_bench.metrics.evaluate.evaluate`.
    """
    say = log_fn or log.info
    strengths = dict(DEFAULT_STRENGTHS if strengths is None else strengths)
    for name, values in strengths.items():
        if name not in DISTORTIONS:
            raise ValueError(f"unknown distortion {name!r}; valid names: {', '.join(DISTORTIONS)}")
        if list(values) != sorted(values) or len(set(values)) != len(values):
            raise ValueError(f"strengths of {name!r} must be strictly increasing, got {list(values)}")
    t_start = time.perf_counter()
    if dataset is None:
        from lfdm_bench.data.registry import get_dataset

        dataset = get_dataset(protocol.dataset, root=protocol.root, **protocol.dataset_options)
    store = FeatureCache() if cache is True else (cache or None)
    records, short = select_clips(dataset.split(protocol.split), protocol.real_sampling, protocol.n_frames,
                                  protocol.seed, protocol.max_real, protocol.subset)
    if len(records) < 4:
        raise ValueError(f"sanity mode needs at least 4 real videos ({protocol.split!r} split of {dataset.name!r} "
                         f"gives {len(records)}); use --split both or a larger dataset")
    resolution = int(protocol.resolution or infer_resolution(records))
    spec = protocol.clip_spec(resolution, real=True)
    sources = with_fp32_twin({"i3d": detector if detector is not None else build_detector(protocol)})
    source = sources["i3d"]
    info = source.info.to_dict() | {"device": str(getattr(source, "device", "cpu"))}

    all_feats = cached_features(dataset.name, records, spec, sources, max_videos=protocol.max_real, cache=store,
                                batch_size=protocol.batch_size, progress=progress, log_fn=say, desc="real")
    feats = all_feats["i3d"]
    ia, ib = split_halves(records, protocol.seed)
    fa, fb = feats[ia], feats[ib]
    half_b = [records[i] for i in ib]
    baseline = {"fvd": _fvd(fa, fb, protocol.ddof), "kvd": kvd_from_features(fa, fb), "n_a": len(ia), "n_b": len(ib)}
    f32 = all_feats.get("i3d_fp32")
    if f32 is not None:  # bf16 asked for: the same comparison in fp32
        baseline["fvd_fp32"] = _fvd(f32[ia], f32[ib], protocol.ddof)
    say(f"halves A ({len(ia)}) vs B ({len(ib)}): FVD {baseline['fvd']:.2f}")

    rows: list[dict[str, Any]] = []
    non_monotone: list[str] = []
    for name, values in strengths.items():
        previous = baseline["fvd"]
        for strength in values:
            d = Distortion(name, float(strength), protocol.seed)
            dist = cached_features(dataset.name, half_b, spec, sources, max_videos=protocol.max_real,
                                   cache=store, batch_size=protocol.batch_size, transform=d,
                                   transform_key=d.to_dict() | {"half": "B"}, progress=progress, log_fn=say,
                                   desc=f"distorted real ({d.label})")
            fd = dist["i3d"]
            value = _fvd(fa, fd, protocol.ddof)
            rises = value > previous + RISE_RTOL * abs(previous) + 1e-12
            rows.append({"distortion": name, "strength": float(strength), "fvd": value,
                         "kvd": kvd_from_features(fa, fd), "rises": bool(rises)})
            if f32 is not None:
                rows[-1]["fvd_fp32"] = _fvd(f32[ia], dist["i3d_fp32"], protocol.ddof)
            if not rises:
                non_monotone.append(d.label)
            say(f"{d.label}: FVD {value:.2f}{'' if rises else '  <- NOT above the previous strength'}")
            previous = value
    notes = reference_notes(protocol, len(records), 0)[1:] if protocol.overrides else []
    if short:
        notes.append(f"{len(short)} real video(s) shorter than {protocol.n_frames} frames have no "
                     f"{protocol.real_sampling} clip and were left out")
    if protocol.real_sampling == "windows-all":
        notes.append("windows-all: the halves are disjoint by clip; one video can give clips to both halves")
    if f32 is not None:
        notes.append("bf16 features: each row's fvd_fp32 is the same comparison in fp32 (the drift)")
    if not info.get("comparable_with_published"):
        notes.append(f"detector {info['name']}: {info.get('weights_label') or 'values'} (not comparable with "
                     "published numbers)")
    if min(len(ia), len(ib)) < (source_dim := feats.shape[1]):
        notes.append(f"each half holds fewer videos than the feature dimension ({source_dim}): FVD is biased upwards; "
                     "only the ordering of rows is meaningful")
    if non_monotone:
        notes.append(f"non-monotone rows: {', '.join(non_monotone)}")
    proto = protocol.to_dict() | {"resolution": resolution, "mode": "sanity", "detector_info": info,
                                  "strengths": {k: list(v) for k, v in strengths.items()},
                                  "halves": "disjoint, by video, class-stratified (seeded)"}
    return SanityResult(protocol=proto, detector=info, baseline=baseline, rows=rows, non_monotone=non_monotone,
                        notes=notes, timings={"total_s": time.perf_counter() - t_start})


def write_real_samples(dataset: Any, out_dir: str | Path, *, split: str = "test", n_frames: int = 16,
                       resolution: int | None = None, sampling: str = "uniform", distortion: Distortion | None = None,
                       max_videos: int | None = None, seed: int = 0, batch_size: int = 8, crf: int = 0) -> Path:
    """Write real clips of ``dataset`` (optionally distorted) as a generated-sample folder; returns its manifest.

    One mp4 per real video of ``split`` (``both``: all; at most ``max_videos``, class-stratified): its ``n_frames``
    clip under ``sampling`` (``uniform``, ``first``, or a window rule of :mod:`lfdm_bench.metrics.clip_select`) at
    ``resolution`` (default: the first video's size), distorted if asked. Each manifest row keeps the real video's
    subject / split / class and ``params = {"source": real path, "seed", "sampler": "none", "steps": 0,
    "guidance": None, "seconds": 0.0, "method": "real" or "real+<distortion>@<strength>", "clip_sampling"}`` (+
    ``source_segment`` for a segment of a longer file or a window, and ``source_frames`` for a window), so PSNR / SSIM
    compare each clip with its own source and the time-span check knows what the clip covers. ``crf=0`` encodes
    losslessly (up to the RGB -> YUV conversion).
    """
    from lfdm_bench.data.records import write_manifest
    from lfdm_bench.data.video_io import write_mp4

    records = select_clips(dataset.split(split), sampling, n_frames, seed, max_videos)[0]
    if not records:
        raise ValueError(f"dataset {dataset.name!r} has no {split!r}-split videos to write")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    resolution = int(resolution or infer_resolution(records))
    windows = sampling not in ("uniform", "first")
    spec = ClipSpec(n_frames=n_frames, size=resolution, sampling="first" if windows else sampling, seed=seed,
                    use_record_crop=True)
    method = "real" if distortion is None else f"real+{distortion.label}"
    written: list[VideoRecord] = []
    for idx, videos in iter_clip_batches(records, spec, batch_size):
        ids = video_ids([records[i] for i in idx])  # the same per-video draws as the sanity mode's
        clips = distortion(videos, ids) if distortion is not None else videos  # [b, T, 3, H, W]
        for j, i in enumerate(idx):
            r = records[i]
            subject = "".join(c if c.isalnum() or c in "-_" else "_" for c in r.subject)
            path = out / f"{i:05d}_{subject}_{r.class_index:03d}.mp4"
            write_mp4(path, clips[j], crf=crf)
            extra = {"source_segment": list(r.params["segment"])} if r.params.get("segment") else {}
            if windows:  # consecutive source frames from the window's start
                extra["source_frames"] = int(r.params["window"]["of"])
            written.append(VideoRecord(
                path=str(path), subject=r.subject, class_index=r.class_index, class_name=r.class_name, text=r.text,
                split=r.split, take=r.take, n_frames=n_frames,
                params={"source": str(Path(r.path).resolve()), "seed": seed, "sampler": "none", "steps": 0,
                        "guidance": None, "seconds": 0.0, "method": method,
                        "clip_sampling": "first" if windows else sampling, **extra}))
    manifest = out / "manifest.csv"
    write_manifest(written, manifest, relative_to=out)
    return manifest
