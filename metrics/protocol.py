"""The evaluation protocol: FVD, cFVD, sFVD, KVD, PSNR / SSIM and class accuracy of a generated sample folder.

Every number is computed under an explicit :class:`EvalProtocol` and stored beside it (``protocol.to_dict()``) with
the detector's identity (:class:`~lfdm_bench.metrics.detector.DetectorInfo`: name, weight checksum, BatchNorm epsilon, resize
method, precision). What is compared with what:

* **FVD** (per split ``s`` of the *source* images): generated videos whose source image came from split ``s`` vs the
  real videos of split ``s``. ``split="both"`` reports ``test``, ``train`` and ``gap = test - train`` (LFDM compares
  generation from unseen test subjects with generation from training subjects).
* **cFVD**: for each class, generated videos of that requested class vs real videos of that class (same split);
  mean and std over classes plus the per-class table.
* **sFVD**: for each subject, videos generated from that subject's image vs that subject's real videos; mean, std and
  the per-subject table.
* **KVD**: TATS's unbiased polynomial-kernel MMD^2 between the same two sets as FVD.
* **PSNR / SSIM**: generated frame t vs frame t of the ground-truth clip, i.e. the clip of the real video named by
  ``params["source"]`` (whose frame 0 was the source image), read at the same resolution with the protocol's real clip
  sampling (the clips the generator was trained to produce).
* **Class accuracy** (:mod:`lfdm_bench.metrics.probe`): linear probes trained on real training-split videos.

Clips: generated videos -> their first ``n_frames`` frames; real videos -> ``n_frames`` frames under
``real_sampling`` (``uniform`` default, or ``first``); both resized keeping aspect and zero-padded to ``resolution``
(default: the generated videos' resolution) and then brought to 224x224 by the detector's resize method. Each video is
decoded and passed through the detector ONCE; all groups index the per-video features. Real features are cached
(:mod:`lfdm_bench.metrics.real_cache`). Std over groups is the population std (ddof 0).
"""

from __future__ import annotations

import contextlib
import logging
import time
import warnings
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Hashable, Iterable, Sequence

import numpy as np

from lfdm_bench.data.records import VideoRecord, read_manifest
from lfdm_bench.metrics.fvd import FeatureStats, SmallSampleWarning, fvd_from_stats
from lfdm_bench.metrics.kvd import kvd_from_features
from lfdm_bench.metrics.preprocess import DEFAULT_RESIZE_METHOD, RESIZE_METHODS
from lfdm_bench.metrics.real_cache import ClipSpec, FeatureCache, FeatureSource, cached_features, compute_features

__all__ = [
    "METRICS",
    "EVAL_SPLITS",
    "REAL_SAMPLINGS",
    "UnknownMetricError",
    "EvalProtocol",
    "EvalResult",
    "parse_metrics",
    "select_subset",
    "load_samples",
    "infer_resolution",
    "build_detector",
    "single_thread_blas",
    "group_fvd",
    "summarise_groups",
    "evaluate",
]

log = logging.getLogger(__name__)

METRICS = ("fvd", "cfvd", "sfvd", "kvd", "psnr", "ssim", "acc")
FEATURE_METRICS = ("fvd", "cfvd", "sfvd", "kvd", "acc")
EVAL_SPLITS = ("test", "train", "both")
REAL_SAMPLINGS = ("uniform", "first")
LogFn = Callable[[str], None]


class UnknownMetricError(ValueError):
    """A metric name that is not one of :data:`METRICS` (the message lists them)."""


def parse_metrics(names: Iterable[str]) -> tuple[str, ...]:
    """Normalise metric names (``all`` expands; order of :data:`METRICS`); unknown names raise, listing valid ones."""
    wanted = set()
    for n in names:
        n = n.strip().lower()
        if n == "all":
            wanted.update(METRICS)
        elif n in METRICS:
            wanted.add(n)
        else:
            raise UnknownMetricError(f"unknown metric {n!r}; valid names: {', '.join(METRICS)}, all")
    if not wanted:
        raise UnknownMetricError(f"no metric given; valid names: {', '.join(METRICS)}, all")
    return tuple(m for m in METRICS if m in wanted)


@dataclass
class EvalProtocol:
    """Everything that determines an evaluation number (stored with every result).

    Attributes:
        dataset: registry name (``synth-faces``, ``mug``, ...) or a manifest path: the real reference set.
        root: folder of a real dataset copy (or where a synthetic one is generated); ``None``: default.
        dataset_options: extra options forwarded to :func:`lfdm_bench.data.registry.get_dataset`.
        split: ``test``, ``train`` or ``both`` (split of the source images of the generated videos).
        n_frames: frames per clip (I3D needs >= 9; LFDM reports 40, StyleGAN-V 16).
        resolution: side the frames are read at before the detector's resize to 224; ``None``: the generated
            videos' resolution (sanity mode: the first real video's).
        real_sampling: frames of real videos: ``uniform`` (evenly spaced over the video) or ``first``.
        max_real, max_generated: at most this many videos per split (class-stratified, seeded); ``None``: all.
        detector: I3D weight path, ``"i3d-random"`` (smoke tests; not comparable with published numbers), or
            ``None`` (``$LFDM_BENCH_I3D`` / the cache; see :func:`lfdm_bench.metrics.detector.resolve_i3d_path`).
        bn_eps: I3D BatchNorm epsilon (1e-3 TF-Hub, 1e-5 VideoGPT/TATS port).
        resize_method: frames -> 224x224, one of :data:`lfdm_bench.metrics.preprocess.RESIZE_METHODS`.
        ddof: covariance normalisation, 1 (N - 1; TF-GAN, TATS) or 0 (N; StyleGAN-V).
        seed: seed of subset selection and random clip sampling.
        batch_size: videos per detector call.
        device: torch device for the detector (``None``: CUDA when available).
        psnr_cap_db: PSNR of identical frames (otherwise infinite).
        probe_l2: L2 weight of the class-accuracy probes.
    """

    dataset: str
    root: str | None = None
    dataset_options: dict[str, Any] = field(default_factory=dict)
    split: str = "test"
    n_frames: int = 16
    resolution: int | None = None
    real_sampling: str = "uniform"
    max_real: int | None = None
    max_generated: int | None = None
    detector: str | None = None
    bn_eps: float = 1e-3
    resize_method: str = DEFAULT_RESIZE_METHOD
    ddof: int = 1
    seed: int = 0
    batch_size: int = 8
    device: str | None = None
    psnr_cap_db: float = 100.0
    probe_l2: float = 1e-2

    def __post_init__(self) -> None:
        if self.split not in EVAL_SPLITS:
            raise ValueError(f"split must be one of {EVAL_SPLITS}, got {self.split!r}")
        if int(self.n_frames) < 9:
            raise ValueError(f"n_frames must be >= 9 (I3D's last pooling needs 9 frames), got {self.n_frames}")
        if self.resolution is not None and int(self.resolution) < 16:
            raise ValueError(f"resolution must be >= 16 pixels (or None for the generated size), got {self.resolution}")
        if self.real_sampling not in REAL_SAMPLINGS:
            raise ValueError(f"real_sampling must be one of {REAL_SAMPLINGS}, got {self.real_sampling!r}")
        for name in ("max_real", "max_generated"):
            v = getattr(self, name)
            if v is not None and int(v) < 2:
                raise ValueError(f"{name} must be >= 2 or None (all videos), got {v}")
        if self.ddof not in (0, 1):
            raise ValueError(f"ddof must be 0 (divide by N) or 1 (divide by N - 1), got {self.ddof}")
        if self.resize_method not in RESIZE_METHODS:
            raise ValueError(f"resize_method must be one of {RESIZE_METHODS}, got {self.resize_method!r}")
        if int(self.batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")

    @property
    def splits(self) -> tuple[str, ...]:
        """The source splits evaluated: ``("test",)``, ``("train",)`` or ``("test", "train")``."""
        return ("test", "train") if self.split == "both" else (self.split,)

    def to_dict(self) -> dict[str, Any]:
        """All settings plus the fixed conventions (clip rules, KVD kernel, std over groups)."""
        d = asdict(self)
        d["generated_clips"] = "first n_frames frames of each generated video"
        d["frame_resize"] = "keep aspect, zero-pad to resolution x resolution, then the detector's resize to 224"
        d["feature"] = "I3D Kinetics-400 logits averaged over time (400-d)"
        d["kvd"] = {"kernel": "polynomial", "degree": 3, "gamma": "1/D", "coef0": 1,
                    "estimator": "unbiased MMD^2 over all samples (not x1000)"}
        d["std_over_groups_ddof"] = 0
        return d

    def clip_spec(self, resolution: int, real: bool) -> ClipSpec:
        """How real (``real=True``) or generated clips are read under this protocol."""
        return ClipSpec(n_frames=int(self.n_frames), size=int(resolution),
                        sampling=self.real_sampling if real else "first", seed=int(self.seed), use_record_crop=real)


@dataclass
class EvalResult:
    """Values of one evaluation with the protocol and detector that produced them.

    Attributes:
        protocol: ``EvalProtocol.to_dict()`` with the resolved ``resolution``.
        detector: ``DetectorInfo.to_dict()`` (``None`` when only PSNR / SSIM were asked for).
        values: metric -> split -> value or ``{"mean", "std", "per_class" / "per_subject", ...}`` (see
            :func:`evaluate`).
        counts: numbers of generated / real videos per split.
        notes: warnings worth printing once (small groups, skipped groups, non-comparable detector).
        timings: seconds spent per stage.
        records / features: the videos and per-video features used (not serialised).
    """

    protocol: dict[str, Any]
    detector: dict[str, Any] | None
    values: dict[str, Any]
    counts: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    records: dict[str, list[VideoRecord]] = field(default_factory=dict, repr=False)
    features: dict[str, dict[str, np.ndarray]] = field(default_factory=dict, repr=False)

    @property
    def comparable_with_published(self) -> bool:
        return bool(self.detector and self.detector.get("comparable_with_published"))

    def to_dict(self) -> dict[str, Any]:
        return {"protocol": self.protocol, "detector": self.detector, "values": self.values, "counts": self.counts,
                "notes": self.notes, "timings": self.timings,
                "comparable_with_published": self.comparable_with_published}


def select_subset(records: Sequence[VideoRecord], max_n: int | None, seed: int) -> list[VideoRecord]:
    """At most ``max_n`` records, class-stratified (round robin over classes, seeded shuffle within each class),
    returned in their original order. ``None`` or a larger limit keeps all."""
    if max_n is None or len(records) <= max_n:
        return list(records)
    rng = np.random.default_rng(seed)
    by_class: dict[int, list[int]] = defaultdict(list)
    for i, r in enumerate(records):
        by_class[r.class_index].append(i)
    queues = [list(rng.permutation(by_class[c])) for c in sorted(by_class)]
    chosen: list[int] = []
    while len(chosen) < max_n:
        for q in queues:
            if q and len(chosen) < max_n:
                chosen.append(int(q.pop(0)))
    keep = set(chosen)
    return [r for i, r in enumerate(records) if i in keep]


def load_samples(samples: str | Path | Sequence[VideoRecord]) -> list[VideoRecord]:
    """Generated-video records from a sample folder (``DIR/manifest.csv``), a manifest path, or a record list."""
    if not isinstance(samples, (str, Path)):
        return list(samples)
    p = Path(samples)
    manifest = p / "manifest.csv" if p.is_dir() else p
    if not manifest.is_file():
        raise FileNotFoundError(
            f"no generated samples at {p}: expected a folder holding manifest.csv (written by `lfdm-bench sample`, or "
            "by lfdm_bench.metrics.sanity.write_real_samples for real / distorted-real stand-ins)")
    records = read_manifest(manifest)
    if not records:
        raise ValueError(f"{manifest} lists no videos")
    return records


def infer_resolution(records: Sequence[VideoRecord]) -> int:
    """The larger side of frame 0 of the first record (after its crop box, if any): the evaluation resolution."""
    from lfdm_bench.data.dataset import record_crop
    from lfdm_bench.data.video_io import read_video

    if not records:
        raise ValueError("cannot infer the resolution from an empty video set; pass resolution explicitly")
    frame = read_video(records[0].path, [0])[0]  # [H, W, 3]
    h, w = frame.shape[:2]
    box = record_crop(records[0])
    if box is not None:
        h, w = min(box.height, h), min(box.width, w)
    return int(max(h, w))


def single_thread_blas() -> contextlib.AbstractContextManager[Any]:
    """Limit BLAS / LAPACK to one thread (``threadpoolctl``, when installed) for FD's 400x400 eigendecompositions.

    On a busy machine multi-threaded OpenBLAS ``eigh`` was measured 100x slower (2.5 s instead of 0.02 s per call);
    single-threaded it is fast everywhere. Without ``threadpoolctl`` this is a no-op.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional: only a speed-up
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def build_detector(protocol: EvalProtocol) -> FeatureSource:
    """The I3D :class:`~lfdm_bench.metrics.detector.FeatureExtractor` described by ``protocol`` (weights resolved on call)."""
    from lfdm_bench.metrics.detector import FeatureExtractor

    return FeatureExtractor(protocol.detector, bn_eps=protocol.bn_eps, resize_method=protocol.resize_method,
                            device=protocol.device, batch_size=protocol.batch_size)


def group_fvd(gen_feats: np.ndarray, gen_groups: Sequence[Hashable], real_feats: np.ndarray,
              real_groups: Sequence[Hashable], ddof: int = 1) -> tuple[dict[Hashable, dict[str, Any]], int]:
    """FVD of every group: generated rows of group g vs real rows of group g.

    Args:
        gen_feats, real_feats: per-video features [N_gen, D] and [N_real, D].
        gen_groups, real_groups: the group of each row (class name, subject, ...).

    Returns:
        ``(per_group, n_small)``: group -> ``{"fvd": value or None, "n_generated", "n_real", "skipped": reason or
        None}`` for every group present on either side (sorted), and how many computed groups had N < D on a side.
    """
    gen_groups, real_groups = list(gen_groups), list(real_groups)
    if len(gen_groups) != len(gen_feats) or len(real_groups) != len(real_feats):
        raise ValueError("one group label per feature row is required")
    out: dict[Hashable, dict[str, Any]] = {}
    n_small = 0
    for g in sorted(set(gen_groups) | set(real_groups), key=str):
        gi = [i for i, x in enumerate(gen_groups) if x == g]
        ri = [i for i, x in enumerate(real_groups) if x == g]
        row: dict[str, Any] = {"fvd": None, "n_generated": len(gi), "n_real": len(ri), "skipped": None}
        need = ddof + 1
        if len(gi) < need or len(ri) < need:
            row["skipped"] = f"needs >= {need} generated and real videos"
        else:
            a, b = FeatureStats().update(gen_feats[gi]), FeatureStats().update(real_feats[ri])
            n_small += int(min(a.n, b.n) < (a.dim or 0))
            with warnings.catch_warnings(), single_thread_blas():
                warnings.simplefilter("ignore", SmallSampleWarning)
                row["fvd"] = fvd_from_stats(a, b, ddof=ddof)
        out[g] = row
    return out, n_small


def summarise_groups(per_group: dict[Hashable, dict[str, Any]], key: str = "fvd") -> dict[str, Any]:
    """Mean and population std (ddof 0) of the computed groups' ``key`` values, and their count."""
    vals = np.array([r[key] for r in per_group.values() if r.get(key) is not None], dtype=np.float64)
    return {"mean": float(vals.mean()) if vals.size else None, "std": float(vals.std()) if vals.size else None,
            "n_groups": int(vals.size), "n_skipped": int(sum(r.get(key) is None for r in per_group.values()))}


class _FrameScores:
    """PSNR / SSIM of generated batches against the ground-truth clips of their source videos."""

    def __init__(self, gen: list[VideoRecord], real_index: dict[str, VideoRecord], spec: ClipSpec, cap_db: float):
        self.gen, self.real_index, self.spec, self.cap_db = gen, real_index, spec, cap_db
        self.psnr: dict[int, np.ndarray] = {}  # generated row -> [T]
        self.ssim: dict[int, np.ndarray] = {}
        self.missing: list[str] = []

    def _gt_record(self, r: VideoRecord) -> VideoRecord | None:
        src = r.params.get("source")
        if not src:
            return None
        key = str(Path(src).resolve())
        if key in self.real_index:
            return self.real_index[key]
        if Path(src).exists():
            return VideoRecord(path=str(src), subject=r.subject, class_index=r.class_index, class_name=r.class_name,
                               text=r.text, split=r.split)
        return None

    def __call__(self, idx: Sequence[int], videos) -> None:
        import torch

        from lfdm_bench.data.video_io import BadVideoError
        from lfdm_bench.metrics.frame_metrics import frame_metrics

        rows, gts = [], []
        for j, i in enumerate(idx):
            rec = self._gt_record(self.gen[i])
            if rec is None:
                self.missing.append(self.gen[i].path)
                continue
            try:
                gts.append(self.spec.dataset([rec])[0].video)
                rows.append(j)
            except BadVideoError as e:
                self.missing.append(f"{self.gen[i].path} ({e})")
        if rows:
            fm = frame_metrics(videos[rows], torch.stack(gts), psnr_cap_db=self.cap_db)
            for k, j in enumerate(rows):
                self.psnr[idx[j]], self.ssim[idx[j]] = fm.psnr[k], fm.ssim[k]

    def summary(self, rows: Sequence[int], which: str) -> dict[str, Any]:
        store = self.psnr if which == "psnr" else self.ssim
        have = [store[i] for i in rows if i in store]
        if not have:
            return {"mean": None, "std": None, "n_videos": 0, "per_frame": []}
        per_video = np.stack(have)  # [N, T]
        return {"mean": float(per_video.mean()), "std": float(per_video.mean(axis=1).std()),
                "n_videos": len(have), "per_frame": [float(v) for v in per_video.mean(axis=0)]}


def evaluate(protocol: EvalProtocol, samples: str | Path | Sequence[VideoRecord],
             metrics: Iterable[str] = ("all",), *, dataset: Any = None, detector: FeatureSource | None = None,
             cache: FeatureCache | bool | None = True, progress: bool = False,
             log_fn: LogFn | None = None) -> EvalResult:
    """Evaluate generated videos against the real videos of ``protocol.dataset``.

    Args:
        protocol: the settings (see :class:`EvalProtocol`).
        samples: a sample folder (holding ``manifest.csv``), a manifest path, or generated :class:`VideoRecord`s.
        metrics: names from :data:`METRICS` or ``all``.
        dataset: a loaded :class:`~lfdm_bench.data.registry.DatasetInfo` (default: loaded from the protocol).
        detector: a feature source replacing the protocol's I3D (tests; its ``info`` is recorded).
        cache: ``True`` (default cache folder), a :class:`FeatureCache`, or ``False`` / ``None`` (no caching).
        log_fn: where progress lines go (default: this module's logger).

    Returns:
        :class:`EvalResult`; ``values`` holds ``fvd[split]`` (+ ``gap`` for ``both``), ``kvd[split]``,
        ``cfvd[split] = {mean, std, n_groups, n_skipped, per_class}``, ``sfvd[split] = {..., per_subject}``,
        ``psnr[split]`` / ``ssim[split] = {mean, std, n_videos, per_frame}`` and
        ``acc[probe] = {generated: {split: {accuracy, n}}, real_test: {...}, chance, train_fit, ...}``.
    """
    say = log_fn or log.info
    wanted = parse_metrics(metrics)
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    if dataset is None:
        from lfdm_bench.data.registry import get_dataset

        dataset = get_dataset(protocol.dataset, root=protocol.root, **protocol.dataset_options)
    store = FeatureCache() if cache is True else (cache or None)

    gen_all = load_samples(samples)
    gen = [r for r in gen_all if r.split in protocol.splits]
    if not gen:
        raise ValueError(f"none of the {len(gen_all)} generated videos comes from a {protocol.split!r}-split source; "
                         f"their splits are {sorted({r.split for r in gen_all})}: pass --split accordingly")
    gen = select_subset(gen, protocol.max_generated, protocol.seed)
    resolution = int(protocol.resolution or infer_resolution(gen))
    proto = protocol.to_dict() | {"resolution": resolution}
    notes: list[str] = []

    real: dict[str, list[VideoRecord]] = {}
    need_real = set(protocol.splits) if set(wanted) & {"fvd", "cfvd", "sfvd", "kvd"} else set()
    if "acc" in wanted:
        need_real |= {"train", "test"}
    for s in sorted(need_real):
        real[s] = select_subset(dataset.split(s), protocol.max_real, protocol.seed)
        if not real[s]:
            raise ValueError(f"dataset {dataset.name!r} has no real {s!r}-split videos to compare with")

    sources: dict[str, FeatureSource] = {}
    if set(wanted) & set(FEATURE_METRICS):
        sources["i3d"] = detector if detector is not None else build_detector(protocol)
    if "acc" in wanted:
        from lfdm_bench.metrics.probe import motion_source

        sources["motion"] = motion_source()
    det_info = sources["i3d"].info.to_dict() if "i3d" in sources else None
    if det_info is not None:
        det_info["device"] = str(getattr(sources["i3d"], "device", "cpu"))
        proto["detector_info"] = det_info
    if det_info is not None and not det_info.get("comparable_with_published"):
        notes.append(f"detector {det_info['name']}: values are not comparable with published numbers")

    frame_scores = None
    if {"psnr", "ssim"} & set(wanted):
        index = {str(Path(r.path).resolve()): r for r in dataset.records}
        frame_scores = _FrameScores(gen, index, protocol.clip_spec(resolution, real=True), protocol.psnr_cap_db)

    t0 = time.perf_counter()
    say(f"reading {len(gen)} generated videos ({protocol.n_frames} frames at {resolution}px)")
    gen_feats = compute_features(gen, protocol.clip_spec(resolution, real=False), sources,
                                 batch_size=protocol.batch_size, on_batch=frame_scores, progress=progress,
                                 desc="generated")
    timings["generated_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    real_feats = {s: cached_features(dataset.name, recs, protocol.clip_spec(resolution, real=True), sources,
                                     max_videos=protocol.max_real, cache=store, batch_size=protocol.batch_size,
                                     progress=progress, log_fn=say, desc="real",
                                     detail=f"{s} split, ")
                  for s, recs in real.items()} if sources else {}
    timings["real_s"] = time.perf_counter() - t0

    values: dict[str, Any] = {m: {} for m in wanted}
    counts: dict[str, Any] = {"generated": {}, "real": {s: len(r) for s, r in real.items()}}
    n_small = 0
    for s in protocol.splits:
        rows = [i for i, r in enumerate(gen) if r.split == s]
        counts["generated"][s] = len(rows)
        if not rows:
            notes.append(f"no generated videos from {s!r}-split sources")
            continue
        g_recs = [gen[i] for i in rows]
        if s in real_feats:
            gf, rf, r_recs = gen_feats["i3d"][rows], real_feats[s]["i3d"], real[s]
            if "fvd" in wanted:
                one, small = group_fvd(gf, [s] * len(rows), rf, [s] * len(r_recs), protocol.ddof)
                values["fvd"][s], n_small = one[s]["fvd"], n_small + small
            if "kvd" in wanted:
                values["kvd"][s] = kvd_from_features(gf, rf) if min(len(gf), len(rf)) >= 2 else None
            for metric, attr, label in (("cfvd", "class_name", "per_class"), ("sfvd", "subject", "per_subject")):
                if metric in wanted:
                    groups, small = group_fvd(gf, [getattr(r, attr) for r in g_recs], rf,
                                              [getattr(r, attr) for r in r_recs], protocol.ddof)
                    n_small += small
                    values[metric][s] = summarise_groups(groups) | {label: {str(k): v for k, v in groups.items()}}
                    if values[metric][s]["n_skipped"]:
                        notes.append(f"{metric} {s}: {values[metric][s]['n_skipped']} group(s) skipped "
                                     f"(fewer than {protocol.ddof + 1} generated or real videos)")
        for m in ("psnr", "ssim"):
            if m in wanted and frame_scores is not None:
                values[m][s] = frame_scores.summary(rows, m)
    both = (values.get("fvd", {}).get("test"), values.get("fvd", {}).get("train"))
    if protocol.split == "both" and None not in both:
        values["fvd"]["gap"] = values["fvd"]["test"] - values["fvd"]["train"]
    if frame_scores is not None and frame_scores.missing:
        notes.append(f"psnr/ssim: {len(frame_scores.missing)} generated video(s) without a readable ground truth "
                     f"(params['source']), e.g. {frame_scores.missing[0]}")
    if "acc" in wanted:
        values["acc"] = _class_accuracy(gen, gen_feats, real, real_feats, dataset.n_classes, protocol)
    counts["comparisons_below_feature_dim"] = n_small
    if n_small:
        dim = gen_feats["i3d"].shape[1]
        notes.append(f"{n_small} FVD comparison(s) had fewer videos than the feature dimension ({dim}): covariances "
                     "are rank-deficient and FVD is biased upwards (expected for small sets; use hundreds of videos "
                     "per group for meaningful values)")
    timings["total_s"] = time.perf_counter() - t_start
    return EvalResult(protocol=proto, detector=det_info, values=values, counts=counts, notes=notes, timings=timings,
                      records={"generated": gen, **{f"real_{s}": r for s, r in real.items()}},
                      features={"generated": gen_feats, **{f"real_{s}": f for s, f in real_feats.items()}})


def _class_accuracy(gen: list[VideoRecord], gen_feats: dict[str, np.ndarray], real: dict[str, list[VideoRecord]],
                    real_feats: dict[str, dict[str, np.ndarray]], n_classes: int,
                    protocol: EvalProtocol) -> dict[str, Any]:
    """Both probes: trained on real train-split features, scored on generated (per split) and real test videos."""
    from lfdm_bench.metrics.probe import probe_accuracy

    out: dict[str, Any] = {}
    for probe, src in (("probe-i3d", "i3d"), ("probe-motion", "motion")):
        train = (real_feats["train"][src], np.array([r.class_index for r in real["train"]]))
        evals = {"real_test": (real_feats["test"][src], np.array([r.class_index for r in real["test"]]))}
        for s in protocol.splits:
            rows = [i for i, r in enumerate(gen) if r.split == s]
            evals[f"generated_{s}"] = (gen_feats[src][rows], np.array([gen[i].class_index for i in rows]))
        if len(set(train[1].tolist())) < 2:
            out[probe] = {"skipped": "the real training split holds fewer than 2 classes"}
            continue
        res = probe_accuracy(train, evals, n_classes, l2=protocol.probe_l2)
        generated = {s: res.pop(f"generated_{s}") for s in protocol.splits}
        out[probe] = {**res, "generated": generated}
    return out

