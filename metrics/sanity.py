"""Sanity mode: does the FVD pipeline rank real videos above distorted ones? Works before any generator exists.

The real set (one split, or both) is cut into two disjoint halves A and B, by video, dealt per (subject, class) pair
(:func:`metrics.uncertainty.pair_halves`). The baseline is FVD(A, B): the distance between two samples of
the same distribution (not 0 for finite sets, and large when the halves hold fewer videos than the feature
dimensions). Then half B is distorted (:mod:`metrics.distortions`: Gaussian noise, Gaussian blur, temporal
shuffling, frozen first frame, colour shift) at increasing strengths and FVD(A, distorted B) is computed. With one
split (``test`` or ``train``) the set-level rows of :mod:`metrics.set_distortions` follow: another
subject's appearance (videos of a fraction of B's subjects replaced by subjects of the other split: sFVD, its FVD
reported), another class's motion (class-collapse: FVD and cFVD), subject-swap (sFVD) and class-swap (cFVD). A
working pipeline shows every row's target metric rising with every strength. A row passes only when the rise is a detection: its target
metric exceeds the previous strength's (the halves' baseline for the first) by more than :data:`RISE_SE` (2) times
the metric's SE at that setting, from the subject-cluster bootstrap of
:func:`metrics.uncertainty.resampled_scores` (half A and the distorted half B resampled by subject,
together); every row that does not is flagged. ``beside`` runs the same table with a second detector (e.g.
``i3d-random`` on a few subjects).

Real features of the whole set are shared with :func:`metrics.evaluate.evaluate` through the cache, and the
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
from metrics.distortions import DISTORTIONS, Distortion
from metrics.fvd import FeatureStats, SmallSampleWarning, fvd_from_stats
from metrics.kvd import kvd_from_features
from metrics.clip_select import select_clips
from metrics.evaluate import (build_detector, check_detector_domain, infer_resolution, reference_notes,
                                         with_fp32_twin)
from metrics.groups import group_fvd, single_thread_blas, summarise_groups
from metrics.protocol import EvalProtocol
from metrics.feature_cache import FeatureCache, cached_features
from metrics.video_features import ClipSpec, FeatureSource, iter_clip_batches, video_ids
from metrics.set_distortions import (SET_INFO, SET_ROWS, collapse_classes, flatten, pair_index, replace_subjects,
                                                swap_classes)
from metrics.uncertainty import pair_halves, resampled_scores

__all__ = ["DEFAULT_STRENGTHS", "SET_STRENGTHS", "SANITY_MAX_REAL", "SanityResult", "split_halves", "run_sanity",
           "write_real_samples"]

log = logging.getLogger(__name__)
LogFn = Callable[[str], None]

DEFAULT_STRENGTHS: dict[str, tuple[float, ...]] = {
    "noise": (0.05, 0.1, 0.2),     # std of additive noise, frames in [0, 1]
    "blur": (1.0, 2.0, 4.0),       # Gaussian sigma in pixels at the evaluation resolution
    "shuffle": (0.25, 0.5, 1.0),   # fraction of frames permuted
    "freeze": (0.5, 0.75, 1.0),    # slow-down towards frame 0 (0.5: half speed; 1: a still image)
    "colour": (0.2, 0.3, 0.5),     # hue rotation by strength * 180 degrees (36, 54, 90: monotone up to 90)
}
SET_STRENGTHS: tuple[float, ...] = (0.25, 0.5, 1.0)
"""Fractions of the subjects / pairs replaced by the set-level rows (:data:`SET_ROWS` names the metric each must
raise)."""
RISE_SE = 2.0
"""A row passes when each target metric rises over the previous strength by more than this many SEs of the metric at
the row's setting (a detectable rise, not resampling noise)."""
SANITY_BOOT = 200
"""Subject-cluster bootstrap resamples behind each row's SE."""
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
        baseline: ``{"fvd", "kvd", "cfvd", "sfvd", "n_a", "n_b"}`` of half A vs untouched half B.
        rows: one dict per (distortion, strength): ``distortion, strength, fvd, kvd, cfvd, sfvd, targets, rises``
            (every target metric above the previous strength's, the baseline's for the first, by more than
            :data:`RISE_SE` x its SE), ``rise`` and ``se`` (per target metric, and per reported metric of ``info``:
            :data:`metrics.set_distortions.SET_INFO`, shown but deciding nothing).
        non_monotone: labels (``"blur@2"``) of the rows that do not rise by more than 2 SE.
        beside: the same table with a second detector, or ``None``.
    """

    protocol: dict[str, Any]
    detector: dict[str, Any]
    baseline: dict[str, Any]
    rows: list[dict[str, Any]]
    non_monotone: list[str]
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    beside: "SanityResult | None" = None
    command: str | None = None

    @property
    def monotone(self) -> bool:
        return not self.non_monotone

    def table_rows(self) -> list[dict[str, Any]]:
        """Rows for printing: the halves baseline first, then every distortion and strength."""
        base = {"distortion": "none (halves A vs B)", "strength": 0.0, "fvd": self.baseline["fvd"],
                "kvd": self.baseline["kvd"], "cfvd": self.baseline.get("cfvd"), "sfvd": self.baseline.get("sfvd"),
                "targets": "", "rises": ""}
        return [base] + [r | {"targets": "+".join(r.get("targets", ["fvd"])), "rise / SE": _rise_text(r),
                              "rises": "yes" if r["rises"] else "NO (rise <= 2 SE)"} for r in self.rows]

    def to_dict(self) -> dict[str, Any]:
        return {"command": self.command, "rule": RULE, "protocol": self.protocol, "detector": self.detector,
                "baseline": self.baseline, "rows": self.rows,
                "non_monotone": self.non_monotone, "monotone": self.monotone, "notes": self.notes,
                "timings": self.timings,
                "comparable_with_published": bool(self.detector.get("comparable_with_published")),
                "beside": None if self.beside is None else self.beside.to_dict()}


def _fvd(a: np.ndarray, b: np.ndarray, ddof: int) -> float:
    import warnings

    with warnings.catch_warnings(), single_thread_blas():
        warnings.simplefilter("ignore", SmallSampleWarning)
        return fvd_from_stats(FeatureStats().update(a), FeatureStats().update(b), ddof=ddof)


def _group_mean(fb: np.ndarray, labels_b: Sequence[Any], fa: np.ndarray, labels_a: Sequence[Any],
                ddof: int) -> float | None:
    """Mean over groups of FVD(A's group, B's group) (cFVD / sFVD of the sanity rows)."""
    groups, _ = group_fvd(fb, labels_b, fa, labels_a, ddof)
    return summarise_groups(groups)["mean"]


RULE = (f"a row passes when each target metric rises over the previous strength (the halves' baseline for the first) "
        f"by more than {RISE_SE:g} SE of the metric at the row's setting; SE over {SANITY_BOOT} subject-cluster "
        "bootstrap resamples (half A and the distorted half B drawn by subject, together)")


def _rise_text(row: dict[str, Any]) -> str:
    """``fvd +0.34 / 0.052 (0.01)`` per target: the rise over the previous strength, the SE at this setting (the
    rule's) and, in brackets, the SE of the rise itself (paired: the same resampled subjects at both strengths)."""
    def one(t: str, info: bool = False) -> str:
        rise, se, paired = (row.get(k, {}).get(t) for k in ("rise", "se", "se_rise"))
        name = f"[{t}, reported]" if info else t
        if rise is None or se is None:
            return f"{name} -"
        return f"{name} {rise:+.3g} / {se:.2g}" + (f" ({paired:.2g})" if paired is not None else "")

    return ", ".join([one(t) for t in row.get("targets", ["fvd"])] + [one(t, True) for t in row.get("info", [])])


def _std(v: np.ndarray) -> float | None:
    v = v[np.isfinite(v)]
    return float(v.std(ddof=1)) if v.size > 1 else None


def _score_rise(row: dict[str, Any], previous: dict[str, Any], scores: dict[str, np.ndarray],
                prev_scores: dict[str, np.ndarray]) -> bool:
    """Fill ``row["rise"]``, ``row["se"]`` (the metric's SE at this setting) and ``row["se_rise"]`` (the paired SE of
    the rise, for information) for the row's targets and its reported metrics (``row["info"]``); True when every
    target rises by more than 2 SE (the reported metrics decide nothing)."""
    row["rise"], row["se"], row["se_rise"] = {}, {}, {}
    ok = True
    for t in [*row["targets"], *row.get("info", [])]:
        se = _std(scores[t])
        rise = None if row.get(t) is None or previous.get(t) is None else float(row[t] - previous[t])
        row["rise"][t], row["se"][t] = rise, se
        row["se_rise"][t] = _std(scores[t] - prev_scores[t]) if t in prev_scores else None
        if t in row["targets"]:
            ok = ok and rise is not None and se is not None and rise > RISE_SE * se
    return ok


def _first_subjects(records: Sequence[VideoRecord], k: int | None) -> list[VideoRecord]:
    if k is None:
        return list(records)
    keep = sorted({r.subject for r in records})[:k]
    return [r for r in records if r.subject in keep]


def run_sanity(protocol: EvalProtocol, strengths: Mapping[str, Sequence[float]] | None = None, *,
               set_strengths: Sequence[float] | None = SET_STRENGTHS, max_subjects: int | None = None,
               dataset: Any = None, detector: FeatureSource | None = None, cache: FeatureCache | bool | None = True,
               progress: bool = False, log_fn: LogFn | None = None) -> SanityResult:
    """FVD of real half A vs real half B, and vs distorted half B at each strength.

    Args:
        protocol: the real set is ``protocol.split`` of ``protocol.dataset`` (``both``: all videos), limited to
            ``protocol.max_real`` videos; clips follow ``protocol.real_sampling`` at ``protocol.resolution``
            (``None``: the first real video's size).
        strengths: distortion name -> increasing strengths (default :data:`DEFAULT_STRENGTHS`).
        set_strengths: fractions of the set-level rows (``None`` or empty: none; they need one split, ``test`` or
            ``train``, and take their outside subjects from the other split).
        max_subjects: only the first N subjects (sorted) of each split (a cheaper table for a slow detector).
        dataset, detector, cache, progress, log_fn: as in :func:`metrics.evaluate.evaluate`.
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
    records, short = select_clips(_first_subjects(dataset.split(protocol.split), max_subjects),
                                  protocol.real_sampling, protocol.n_frames, protocol.seed, protocol.max_real,
                                  protocol.subset)
    if len(records) < 4:
        raise ValueError(f"sanity mode needs at least 4 real videos ({protocol.split!r} split of {dataset.name!r} "
                         f"gives {len(records)}); use --split both or a larger dataset")
    resolution = int(protocol.resolution or infer_resolution(records))
    spec = protocol.clip_spec(resolution, real=True)
    sources = with_fp32_twin({"i3d": detector if detector is not None else build_detector(protocol)})
    source = sources["i3d"]
    check_detector_domain(source, dataset)
    info = source.info.to_dict() | {"device": str(getattr(source, "device", "cpu"))}

    all_feats = cached_features(dataset.name, records, spec, sources, max_videos=protocol.max_real, cache=store,
                                batch_size=protocol.batch_size, progress=progress, log_fn=say, desc="real")
    feats = all_feats["i3d"]
    ia, ib = pair_halves(records, protocol.seed)
    fa, fb = feats[ia], feats[ib]
    half_a, half_b = [records[i] for i in ia], [records[i] for i in ib]
    cls_a, subj_a = [r.class_name for r in half_a], [r.subject for r in half_a]
    baseline = {"fvd": _fvd(fa, fb, protocol.ddof), "kvd": kvd_from_features(fa, fb),
                "cfvd": _group_mean(fb, [r.class_name for r in half_b], fa, cls_a, protocol.ddof),
                "sfvd": _group_mean(fb, [r.subject for r in half_b], fa, subj_a, protocol.ddof),
                "n_a": len(ia), "n_b": len(ib)}
    f32 = all_feats.get("i3d_fp32")
    if f32 is not None:  # bf16 asked for: the same comparison in fp32
        baseline["fvd_fp32"] = _fvd(f32[ia], f32[ib], protocol.ddof)
    # the same subject draws at every row (same subjects, same seed): the rise of a row has a paired SE too
    base_scores = resampled_scores(fb, [r.subject for r in half_b], fa, subj_a,
                                   gen_classes=[r.class_name for r in half_b], real_classes=cls_a,
                                   n_boot=SANITY_BOOT, seed=protocol.seed, ddof=protocol.ddof)
    baseline["se"] = {m: _std(v) for m, v in base_scores.items()}
    say(f"halves A ({len(ia)}) vs B ({len(ib)}): FVD {baseline['fvd']:.4g}")

    subj_b = [r.subject for r in half_b]
    rows: list[dict[str, Any]] = []
    non_monotone: list[str] = []
    for name, values in strengths.items():
        previous, prev_scores = {"fvd": baseline["fvd"]}, base_scores
        for strength in values:
            d = Distortion(name, float(strength), protocol.seed)
            dist = cached_features(dataset.name, half_b, spec, sources, max_videos=protocol.max_real,
                                   cache=store, batch_size=protocol.batch_size, transform=d,
                                   transform_key=d.to_dict() | {"half": "B"}, progress=progress, log_fn=say,
                                   desc=f"distorted real ({d.label})")
            fd = dist["i3d"]
            value = _fvd(fa, fd, protocol.ddof)
            row = {"distortion": name, "strength": float(strength), "fvd": value, "kvd": kvd_from_features(fa, fd),
                   "cfvd": None, "sfvd": None, "targets": ["fvd"]}
            scores = resampled_scores(fd, subj_b, fa, subj_a, n_boot=SANITY_BOOT, seed=protocol.seed,
                                      ddof=protocol.ddof)
            rises = _score_rise(row, previous, scores, prev_scores)
            rows.append(row | {"rises": bool(rises)})
            if f32 is not None:
                rows[-1]["fvd_fp32"] = _fvd(f32[ia], dist["i3d_fp32"], protocol.ddof)
            if not rises:
                non_monotone.append(d.label)
            say(f"{d.label}: FVD {value:.4g} ({_rise_text(row)}){'' if rises else '  <- rise <= 2 SE'}")
            previous, prev_scores = {"fvd": value}, scores
    notes = reference_notes(protocol, len(records), 0)[1:] if protocol.overrides else []
    if short:
        notes.append(f"{len(short)} real video(s) shorter than {protocol.n_frames} frames have no "
                     f"{protocol.real_sampling} clip and were left out")
    if protocol.real_sampling == "windows-all":
        notes.append("windows-all: the halves are disjoint by clip; one video can give clips to both halves")
    if f32 is not None:
        notes.append("bf16 features: each row's fvd_fp32 is the same comparison in fp32 (the drift)")
    if set_strengths and protocol.split in ("test", "train") and protocol.real_sampling != "windows-all":
        other = "train" if protocol.split == "test" else "test"
        donor_recs, _ = select_clips(_first_subjects(dataset.split(other), max_subjects), protocol.real_sampling,
                                     protocol.n_frames, protocol.seed, None, protocol.subset)
        donor_feats = cached_features(dataset.name, donor_recs, spec, {"i3d": source}, cache=store,
                                      batch_size=protocol.batch_size, progress=progress, log_fn=say,
                                      desc=f"real ({other} split: other subjects)")["i3d"]
        try:
            rows += _set_rows(feats, records, ib, donor_feats, donor_recs, fa, cls_a, subj_a, baseline, base_scores,
                              set_strengths, protocol, non_monotone, say)
        except (KeyError, ValueError) as e:  # e.g. a subset without every (subject, class) pair in half B
            notes.append(f"set-level rows skipped: {e}")
    elif set_strengths:
        notes.append("set-level rows (other subject, class collapse, subject / class swap) need one split (run with "
                     "--split test or --split train) and whole videos as clips")
    if not info.get("comparable_with_published"):
        notes.append(f"detector {info['name']}: {info.get('weights_label') or 'values'} (not comparable with "
                     "published numbers)")
    if min(len(ia), len(ib)) < (source_dim := feats.shape[1]):
        notes.append(f"each half holds fewer videos than the feature dimension ({source_dim}): FVD is biased upwards; "
                     "only the ordering of rows is meaningful")
    notes.append(f"rule: {RULE}. In brackets after each SE: the SE of the rise itself (paired: the same resampled "
                 "subjects at both strengths), for information; the rule uses the SE at the setting")
    if non_monotone:
        notes.append(f"rows without a rise of more than {RISE_SE:g} SE: {', '.join(non_monotone)}")
    proto = protocol.to_dict() | {"resolution": resolution, "mode": "sanity", "detector_info": info,
                                  "strengths": {k: list(v) for k, v in strengths.items()},
                                  "set_strengths": list(set_strengths or []), "max_subjects": max_subjects,
                                  "halves": "disjoint, by video, dealt per (subject, class) pair (seeded)"}
    return SanityResult(protocol=proto, detector=info, baseline=baseline, rows=rows, non_monotone=non_monotone,
                        notes=notes, timings={"total_s": time.perf_counter() - t_start})


def _set_rows(feats: np.ndarray, records: Sequence[VideoRecord], ib: Sequence[int], donor_feats: np.ndarray,
              donor_recs: Sequence[VideoRecord], fa: np.ndarray, cls_a: list[str], subj_a: list[str],
              baseline: dict[str, Any], base_scores: dict[str, np.ndarray], set_strengths: Sequence[float],
              protocol: EvalProtocol, non_monotone: list[str], say: LogFn) -> list[dict[str, Any]]:
    """The set-level rows: half B's (subject, class) pairs re-pointed at other rows (same split or the donors)."""
    allf = np.concatenate([feats, donor_feats])
    off = len(records)
    alt = pair_index([records[i].subject for i in ib], [records[i].class_index for i in ib],
                     [records[i].take for i in ib])
    alt = {key: [int(ib[j]) for j in rows] for key, rows in alt.items()}
    donors = pair_index([r.subject for r in donor_recs], [r.class_index for r in donor_recs],
                        [r.take for r in donor_recs])
    donors = {key: [off + j for j in rows] for key, rows in donors.items()}
    class_name = {r.class_index: r.class_name for r in records}
    make = {"other-subject": lambda f: replace_subjects(alt, donors, f, protocol.seed),
            "class-collapse": lambda f: collapse_classes(alt, f, protocol.seed),
            "subject-swap": lambda f: replace_subjects(alt, alt, f, protocol.seed),
            "class-swap": lambda f: swap_classes(alt, f, protocol.seed)}
    out = []
    for name, targets in SET_ROWS.items():
        previous, prev_scores = dict(baseline), base_scores
        for strength in set_strengths:
            rows, subj, cls = flatten(make[name](float(strength)))
            fd = allf[rows]
            row = {"distortion": name, "strength": float(strength), "fvd": _fvd(fa, fd, protocol.ddof),
                   "kvd": kvd_from_features(fa, fd),
                   "cfvd": _group_mean(fd, [class_name[c] for c in cls], fa, cls_a, protocol.ddof),
                   "sfvd": _group_mean(fd, list(subj), fa, subj_a, protocol.ddof), "targets": list(targets),
                   "info": list(SET_INFO.get(name, ()))}
            scores = resampled_scores(fd, list(subj), fa, subj_a, gen_classes=[class_name[c] for c in cls],
                                      real_classes=cls_a, n_boot=SANITY_BOOT, seed=protocol.seed, ddof=protocol.ddof)
            row["rises"] = _score_rise(row, previous, scores, prev_scores)
            label = f"{name}@{strength:g}"
            if not row["rises"]:
                non_monotone.append(label)
            say(f"{label}: " + ", ".join(f"{t} {row[t]:.4g}" for t in targets) + f" ({_rise_text(row)})"
                + ("" if row["rises"] else "  <- rise <= 2 SE"))
            out.append(row)
            previous, prev_scores = row, scores
    return out


def write_real_samples(dataset: Any, out_dir: str | Path, *, split: str = "test", n_frames: int = 16,
                       resolution: int | None = None, sampling: str = "uniform", distortion: Distortion | None = None,
                       max_videos: int | None = None, seed: int = 0, batch_size: int = 8, crf: int = 0) -> Path:
    """Write real clips of ``dataset`` (optionally distorted) as a generated-sample folder; returns its manifest.

    One mp4 per real video of ``split`` (``both``: all; at most ``max_videos``, class-stratified): its ``n_frames``
    clip under ``sampling`` (``uniform``, ``first``, or a window rule of :mod:`metrics.clip_select`) at
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
