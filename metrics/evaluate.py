"""``evaluate``: FVD, cFVD, sFVD, KVD, PSNR / SSIM, class accuracy, motion and expression change of generated videos
under an :class:`~metrics.protocol.EvalProtocol` (what is compared with what: see that module).

Each video is decoded and passed through the detector ONCE; all groups index the per-video features. Real features
are cached (:mod:`metrics.feature_cache`).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from lfdm_bench.data.dataset import ClipDataset
from lfdm_bench.data.records import VideoRecord
from lfdm_bench.data.registry import get_dataset
from metrics.clip_select import choose_videos, select_clips, source_id, span_check
from metrics.detector import FeatureExtractor
from metrics.ground_truth_scores import FrameScores
from metrics.groups import group_fvd, summarise_groups
from metrics.kvd import kvd_from_features
from metrics.expression import expression_change, expression_source
from metrics.probe import motion_source, probe_accuracy
from metrics.protocol import FEATURE_METRICS, EvalProtocol, EvalResult, parse_metrics
from metrics.feature_cache import FeatureCache, cached_features
from metrics.video_features import FeatureSource, compute_features, iter_clip_batches, record_id
from metrics.sample_checks import (actual_frame_counts, check_classes, check_dataset, check_frame_sizes,
                                              check_generated_size, frame_size, read_samples, sample_settings,
                                              training_notes)

__all__ = ["evaluate", "load_samples", "infer_resolution", "build_detector", "check_detector_domain", "with_fp32_twin",
           "reference_notes"]

log = logging.getLogger(__name__)
LogFn = Callable[[str], None]


def load_samples(samples: str | Path | Sequence[str | Path] | Sequence[VideoRecord]) -> list[VideoRecord]:
    """Generated-video records from a sample folder (``DIR/manifest.csv``), a manifest path, a list of those, or a
    record list (see :func:`metrics.sample_checks.read_samples`)."""
    return read_samples(samples)[0]


def infer_resolution(records: Sequence[VideoRecord]) -> int:
    """The larger side of frame 0 of the first record (after its crop box, if any): the evaluation resolution."""
    if not records:
        raise ValueError("cannot infer the resolution from an empty video set; pass resolution explicitly")
    return int(max(frame_size(records[0])))


def build_detector(protocol: EvalProtocol) -> FeatureSource:
    """The feature source described by ``protocol.detector``: an embedded-domain VCNN (a shipped name such as
    ``synth-faces-vcnn-v1`` or a detector's metadata JSON, :mod:`metrics.vcnn`; native resolution, no
    224 resize), else the I3D :class:`~metrics.detector.FeatureExtractor` (weights resolved on call;
    ``i3d-random`` = random weights, a pipeline smoke test)."""
    from metrics.vcnn import is_vcnn_detector, load_detector

    if is_vcnn_detector(protocol.detector):
        return load_detector(protocol.detector, device=protocol.device)
    return FeatureExtractor(protocol.detector, bn_eps=protocol.bn_eps, resize_method=protocol.resize_method,
                            device=protocol.device, batch_size=protocol.batch_size, precision=protocol.precision,
                            torchscript_call=protocol.torchscript_call)


def check_detector_domain(source: FeatureSource, dataset: Any) -> None:
    """Refuse an embedded-domain detector whose training corpus shares a subject with ``dataset`` (no-op otherwise)."""
    check = getattr(source, "check_dataset", None)
    if check is not None:
        check(dataset)


def with_fp32_twin(sources: dict[str, FeatureSource]) -> dict[str, FeatureSource]:
    """Add ``"i3d_fp32"`` (the same detector in fp32) when ``sources["i3d"]`` runs in bf16, so the drift of every FVD
    can be measured on the same clips."""
    det = sources.get("i3d")
    if det is not None and det.info.precision == "bf16":
        twin = getattr(det, "fp32_twin", None)
        if twin is None:
            raise ValueError(f"detector {det.info.name} runs in bf16 but offers no fp32 twin to measure the drift")
        sources = dict(sources) | {"i3d_fp32": twin()}
    return sources


def reference_notes(protocol: EvalProtocol, n_real: int, n_gen: int) -> list[str]:
    """Where an evaluation departs from its preset's reference: fewer videos, one trial, unverified rules."""
    ref = protocol.to_dict()["preset_reference"]
    notes = []
    short = [f"{what} {want} (here {have})" for what, want, have in (("real", ref["n_real"], n_real),
                                                                     ("generated", ref["n_generated"], n_gen))
             if want is not None and have < want]
    if short:
        notes.append(f"the {protocol.preset} reference uses " + " and ".join(short) + " videos: FVD falls with N, so "
                     "these values are not on the reference's scale")
    if ref["n_trials"] > 1:
        notes.append(f"the {protocol.preset} reference reports mean ± std over {ref['n_trials']} trials; this is one")
    if protocol.overrides:
        notes.append(f"overrides of the {protocol.preset} preset: " + ", ".join(
            f"{k}={v['used']} (preset {v['preset']})" for k, v in protocol.overrides.items()))
    return notes


def evaluate(protocol: EvalProtocol, samples: str | Path | Sequence[str | Path] | Sequence[VideoRecord],
             metrics: Iterable[str] = ("all",), *, dataset: Any = None, detector: FeatureSource | None = None,
             cache: FeatureCache | bool | None = True, progress: bool = False,
             log_fn: LogFn | None = None) -> EvalResult:
    """Evaluate generated videos against the real videos of ``protocol.dataset``.

    Args:
        protocol: the settings (see :class:`EvalProtocol`).
        samples: a sample folder (holding ``manifest.csv``), a manifest path, a list of those, or generated
            :class:`VideoRecord` objects. Checked first (:mod:`metrics.sample_checks`): one frame size,
            one the dataset can mean (>= 16 px a side, aspect ratio near the dataset's), classes of the dataset, no
            repeated video, made from this dataset with these options; their frames are counted from the files.
        metrics: names from :data:`METRICS` or ``all``.
        dataset: a loaded :class:`~lfdm_bench.data.registry.DatasetInfo` (default: loaded from the protocol).
        detector: a feature source replacing the protocol's I3D (tests; its ``info`` is recorded).
        cache: ``True`` (default cache folder), a :class:`FeatureCache`, or ``False`` / ``None`` (no caching).
        log_fn: where progress lines go (default: this module's logger).

    Returns:
        :class:`EvalResult`; ``values`` holds ``fvd[split]`` (+ ``gap`` for ``both``), ``kvd[split]``,
        ``cfvd[split] = {mean, std, n_groups, n_skipped, per_class}``, ``sfvd[split] = {..., per_subject}``,
        ``psnr[split]`` / ``ssim[split] = {mean, std, n_videos, per_frame}``,
        ``acc[probe] = {generated: {split: {accuracy, n}}, real_test: {...}, chance, train_fit, ...}`` (probes
        ``probe-i3d``, ``probe-motion``, ``probe-expression``) and ``expr[split] = {per_class, mean, min, min_class,
        ...}`` (:func:`metrics.expression.expression_change` against the reference split's real videos).
    """
    say = log_fn or log.info
    wanted = parse_metrics(metrics)
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    if dataset is None:
        dataset = get_dataset(protocol.dataset, root=protocol.root, **protocol.dataset_options)
    store = FeatureCache() if cache is True else (cache or None)

    gen_all, origins = read_samples(samples)
    settings = sample_settings(samples)
    notes: list[str] = check_dataset(settings, protocol.dataset, protocol.dataset_options) + training_notes(settings)
    check_classes(gen_all, dataset.class_names, dataset.name, origins, subjects=dataset.records)
    gen = [r for r in gen_all if r.split in protocol.splits]
    if not gen:
        raise ValueError(f"none of the {len(gen_all)} generated videos comes from a {protocol.split!r}-split source; "
                         f"their splits are {sorted({r.split for r in gen_all})}: pass --split accordingly")
    gen = choose_videos(gen, protocol.max_generated, protocol.subset, protocol.seed)
    gen, count_notes = actual_frame_counts(gen)  # the span check and windows use the frames in the files
    notes += count_notes
    size = check_frame_sizes(gen)  # mixed sizes are refused, whatever resolution the videos are read at
    # the real reference is read at the protocol's size, by default the dataset's own: never the generated videos'
    reference = dataset.split(protocol.reference_split(protocol.splits[0])) or dataset.records
    real_size = frame_size(reference[0])
    resolution = int(protocol.resolution or max(real_size))
    where = str(Path(origins[0].rsplit(" row ", 1)[0]).parent) if origins else "the generated videos"
    check_generated_size(size, real_size, resolution, gen[0], where)
    proto = protocol.to_dict() | {"resolution": resolution}
    n = protocol.n_frames
    gen_clips = gen
    if protocol.generated_sampling == "window":
        gen_clips, short = select_clips(gen, "window", n, protocol.seed)
        if short:
            raise ValueError(f"{len(short)} generated video(s) have fewer than {n} frames, e.g. {short[0].path}")

    real: dict[str, list[VideoRecord]] = {}
    need_real = {protocol.reference_split(s) for s in protocol.splits} \
        if set(wanted) & {"fvd", "cfvd", "sfvd", "kvd", "expr"} else set()
    if "acc" in wanted:  # probes fitted on real train videos, their reference scored on real held-out ones
        need_real |= {"train", _probe_heldout(protocol)}
    for s in sorted(need_real):
        real[s], short = select_clips(dataset.split(s), protocol.real_sampling, n, protocol.seed, protocol.max_real,
                                      protocol.subset)
        if short:
            notes.append(f"real {s}: {len(short)} video(s) shorter than {n} frames have no {protocol.real_sampling} "
                         "clip and were left out")
        if not real[s]:
            raise ValueError(f"dataset {dataset.name!r} has no real {s!r}-split clips to compare with "
                             f"({protocol.real_sampling}, {n} frames)")

    lengths = ClipDataset([], n_frames=1, size=None)
    by_id = {record_id(r): r for r in dataset.records}
    span = span_check([r for s in sorted({protocol.reference_split(x) for x in protocol.splits}) if s in real
                       for r in real[s]], gen_clips, protocol.real_sampling, protocol.generated_sampling, n,
                      lengths.frame_count,
                      lambda g: lengths.frame_count(by_id[sid]) if (sid := source_id(g)) in by_id else None)
    proto["time_span"] = span.to_dict()
    if span.matches is False:
        if not protocol.allow_span_mismatch:
            raise ValueError(f"{span.statement}. FVD would compare motion over different time scales. Fix: "
                             f"{_span_fixes(protocol, gen)}")
        notes.append(span.statement + " (allowed by allow_span_mismatch)")
    elif span.matches is None:
        notes.append(span.statement)

    sources: dict[str, FeatureSource] = {}
    if set(wanted) & set(FEATURE_METRICS):
        sources["i3d"] = detector if detector is not None else build_detector(protocol)
        check_detector_domain(sources["i3d"], dataset)
    if "acc" in wanted:
        sources["motion"] = motion_source()
    if {"acc", "expr"} & set(wanted):
        sources["expression"] = expression_source()
    sources = with_fp32_twin(sources)
    det_info = sources["i3d"].info.to_dict() if "i3d" in sources else None
    if det_info is not None:
        det_info["device"] = str(getattr(sources["i3d"], "device", "cpu"))
        proto["detector_info"] = det_info
    if det_info is not None and not det_info.get("comparable_with_published"):
        notes.append(f"detector {det_info['name']}: {det_info.get('weights_label') or 'values are not comparable'}"
                     " (not comparable with published numbers)")
    ref_real = {s: len(real.get(protocol.reference_split(s), [])) for s in protocol.splits}
    notes += reference_notes(protocol, min(ref_real.values(), default=0),
                             min((sum(r.split == s for r in gen) for s in protocol.splits), default=0))

    frame_scores = None
    if {"psnr", "ssim", "motion"} & set(wanted):
        gt_spec = dataclasses.replace(protocol.clip_spec(resolution, real=True), sampling=_gt_sampling(protocol, gen))
        frame_scores = FrameScores(gen, by_id, gt_spec, protocol.psnr_cap_db, motion="motion" in wanted)
        proto["psnr_ground_truth"] = f"the source video's clip read '{gt_spec.sampling}'"

    t0 = time.perf_counter()
    say(f"reading {len(gen)} generated videos ({n} frames at {resolution}px)")
    gen_spec = protocol.clip_spec(resolution, real=False)
    gen_feats = compute_features(gen_clips, gen_spec, sources, batch_size=protocol.batch_size,
                                 on_batch=frame_scores if gen_clips is gen else None, progress=progress,
                                 desc="generated")
    if frame_scores is not None and gen_clips is not gen:  # windows: PSNR / SSIM on the first frames
        for idx, videos in iter_clip_batches(gen, dataclasses.replace(gen_spec, sampling="first"),
                                             protocol.batch_size):
            frame_scores(idx, videos)
    timings["generated_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    real_feats = {s: cached_features(dataset.name, recs, protocol.clip_spec(resolution, real=True), sources,
                                     max_videos=protocol.max_real, cache=store, batch_size=protocol.batch_size,
                                     progress=progress, log_fn=say, desc="real",
                                     detail=f"{s} split, ")
                  for s, recs in real.items()} if sources else {}
    timings["real_s"] = time.perf_counter() - t0

    values: dict[str, Any] = {m: {} for m in wanted}
    counts: dict[str, Any] = {"generated": {}, "real": {s: len(real[protocol.reference_split(s)])
                                                        for s in protocol.splits if protocol.reference_split(s) in real},
                              "real_split": {s: protocol.reference_split(s) for s in protocol.splits}}
    drift: dict[str, Any] = {}
    n_small = 0
    for s in protocol.splits:
        rows = [i for i, r in enumerate(gen) if r.split == s]
        counts["generated"][s] = len(rows)
        if not rows:
            notes.append(f"no generated videos from {s!r}-split sources")
            continue
        g_recs = [gen[i] for i in rows]
        ref = protocol.reference_split(s)
        if ref in real_feats and "i3d" in gen_feats:
            gf, rf, r_recs = gen_feats["i3d"][rows], real_feats[ref]["i3d"], real[ref]
            if "fvd" in wanted:
                one, small = group_fvd(gf, [s] * len(rows), rf, [s] * len(r_recs), protocol.ddof)
                values["fvd"][s], n_small = one[s]["fvd"], n_small + small
                if "i3d_fp32" in gen_feats:
                    ref32, _ = group_fvd(gen_feats["i3d_fp32"][rows], [s] * len(rows), real_feats[ref]["i3d_fp32"],
                                         [s] * len(r_recs), protocol.ddof)
                    drift[s] = _drift(values["fvd"][s], ref32[s]["fvd"])
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
        if "motion" in wanted and frame_scores is not None:
            values["motion"][s] = frame_scores.motion_summary(s)
        if "expr" in wanted and ref in real_feats:
            values["expr"][s] = expression_change(
                gen_feats["expression"][rows], [(r.subject, r.class_index) for r in g_recs],
                real_feats[ref]["expression"], [(r.subject, r.class_index) for r in real[ref]], dataset.class_names)
            if values["expr"][s]["n_without_reference"]:
                notes.append(f"expr {s}: {values['expr'][s]['n_without_reference']} generated video(s) without a real "
                             f"video of their (subject, class) pair in the {ref} split were left out")
    if drift:
        values["precision_drift"] = {"what": "FVD under bf16 autocast minus FVD in fp32, same clips", **drift}
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
                      records={"generated": gen_clips, **{f"real_{s}": r for s, r in real.items()}},
                      features={"generated": gen_feats, **{f"real_{s}": f for s, f in real_feats.items()}})


def _span_fixes(protocol: EvalProtocol, gen: Sequence[VideoRecord]) -> str:
    """The ways out of a time-span mismatch, most specific first."""
    fixes = []
    lengths = sorted({int(r.n_frames) for r in gen if r.n_frames})
    whole = {r.params.get("clip_sampling") for r in gen} <= {"uniform", "random", "very_random"}
    n = protocol.n_frames
    if whole and protocol.real_sampling == "uniform" and lengths and lengths[-1] > n:
        fixes.append(f"evaluate all {lengths[-1]} frames of the generated videos (--frames {lengths[-1]}; "
                     f"--protocol lfdm does so for 40-frame videos), since their frames are spread over the whole "
                     f"source video like the real uniform clips")
    if whole and protocol.real_sampling != "uniform":
        fixes.append(f"read real clips over the whole video (--sampling uniform spreads {n} frames over each real "
                     "video, as generators trained on whole-video clips produce them)")
    fixes.append("generate videos whose frames are consecutive source frames (train and sample with "
                 "data.sampling=first) for window / first-frame protocols")
    fixes.append("or pass --allow-span-mismatch to compute it anyway (the difference is then stated with the result)")
    return "; ".join(fixes)


def _drift(bf16: float | None, fp32: float | None) -> dict[str, Any]:
    if bf16 is None or fp32 is None:
        return {"fvd_bf16": bf16, "fvd_fp32": fp32, "abs": None, "rel": None}
    return {"fvd_bf16": bf16, "fvd_fp32": fp32, "abs": bf16 - fp32, "rel": (bf16 - fp32) / fp32 if fp32 else None}


def _gt_sampling(protocol: EvalProtocol, gen: Sequence[VideoRecord]) -> str:
    """Frames of the PSNR / SSIM ground truth: the protocol's real frames when they are ``uniform`` / ``first``;
    under window rules the frames the generator imitates (``first`` when every video was sampled so, else
    ``uniform``), since a generated video starts at its source video's frame 0."""
    if protocol.real_sampling in ("uniform", "first"):
        return protocol.real_sampling
    bases = {r.params.get("clip_sampling") for r in gen}
    return "first" if bases == {"first"} else "uniform"


def _probe_heldout(protocol: EvalProtocol) -> str:
    """The real held-out split the class-accuracy probes are scored on: ``val`` for validation sources, else
    ``test``."""
    return "val" if protocol.split == "val" else "test"


def _class_accuracy(gen: list[VideoRecord], gen_feats: dict[str, np.ndarray], real: dict[str, list[VideoRecord]],
                    real_feats: dict[str, dict[str, np.ndarray]], n_classes: int,
                    protocol: EvalProtocol) -> dict[str, Any]:
    """The three probes (detector features, motion features, expression-change features): trained on real
    train-split features, scored on generated (per split) and real held-out videos (``real_test``; ``real_val`` when
    evaluating validation subjects, so that no test video is read)."""
    out: dict[str, Any] = {}
    held = _probe_heldout(protocol)
    for probe, src in (("probe-i3d", "i3d"), ("probe-motion", "motion"), ("probe-expression", "expression")):
        train = (real_feats["train"][src], np.array([r.class_index for r in real["train"]]))
        evals = {f"real_{held}": (real_feats[held][src], np.array([r.class_index for r in real[held]]))}
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
