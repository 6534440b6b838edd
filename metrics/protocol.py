"""The evaluation protocol: FVD, cFVD, sFVD, KVD, PSNR / SSIM, class accuracy and motion statistics of a generated
sample folder.

This module holds the metric names, :class:`EvalProtocol` (every setting that determines a number) and
:class:`EvalResult`; :func:`metrics.evaluate.evaluate` computes the numbers, with the group and subset
helpers of :mod:`metrics.groups` and the PSNR / SSIM scorer of :mod:`metrics.ground_truth_scores`.

Every number is computed under an explicit :class:`EvalProtocol` and stored beside it (``protocol.to_dict()``) with
the detector's identity (:class:`~metrics.detector.DetectorInfo`: name, weight checksum, BatchNorm epsilon,
resize
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
* **Class accuracy** (:mod:`metrics.probe`): linear probes trained on real training-split videos.
* **Motion** (:mod:`metrics.motion_stats`): against the same ground-truth clips as PSNR / SSIM, the ratio of
  the generated to the real motion amplitude (mean ``|x_t - x_0|``, total and per frame), the error of generated
  frame 0 against the source image (L1, PSNR) and the amplitude of frames 1-2 (the real takes start still).
* **Expression change** (:mod:`metrics.expression`, ``expr``): per class, how much of the real appearance change of
  the requested class (signed change of the late frames vs frame 0, pooled 8x8) a generated video shows, projected
  on the mean change of the real reference videos of the same (subject, class) pair (1 = as much as the real takes).

Protocol presets (:mod:`metrics.presets`): every setting that changes an FVD value (BatchNorm eps,
covariance divisor, real / generated clip rules, load resize, resize to 224, quantisation, precision, frames) comes
from the named preset (``preset``, default ``lfdm-bench``); a setting given explicitly overrides it and is recorded
in ``overrides``. ``to_dict()`` stores the preset by name and by value with every result.

Clips under the default preset: generated videos -> their first ``n_frames`` frames; real videos -> ``n_frames``
frames evenly spaced over the video; both resized keeping aspect and zero-padded to ``resolution`` (default: the
real reference's frame size; never the generated videos', which are brought to it and refused when no dataset size
can be meant: under 16 pixels a side, or an aspect ratio far from the dataset's), quantised to uint8 and then
brought to 224x224 by the detector's resize method. Window rules (``window``, ``windows-all``) make each real (or
generated) clip a segment record (:mod:`metrics.clip_select`). Generated and real clips must cover the
same fraction of their videos' time span, counted from the frames in the generated files (not their manifest's
``n_frames``): an evaluation where they differ is refused unless ``allow_span_mismatch`` (then the difference is
stated in the protocol line). Each video
is decoded and passed through the detector ONCE; all groups index the per-video features. Real features are cached
(:mod:`metrics.feature_cache`), keyed per (file, segment). Std over groups is the population std (ddof 0).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

import numpy as np

from lfdm_bench.data.records import VideoRecord
from metrics.preprocess import RESIZE_METHODS
from metrics.presets import (DEFAULT_PRESET, GENERATED_CLIPS, LOAD_RESIZES, PRECISIONS,
                                        QUANTIZE_MODES, REAL_CLIPS, REAL_SPLITS, SUBSETS, TORCHSCRIPT_CALLS,
                                        get_preset)
from metrics.video_features import ClipSpec
from metrics.sample_checks import MIN_RESOLUTION

__all__ = ["METRICS", "FEATURE_METRICS", "EVAL_SPLITS", "REAL_SAMPLINGS", "UnknownMetricError", "EvalProtocol",
           "EvalResult", "parse_metrics"]

METRICS = ("fvd", "cfvd", "sfvd", "kvd", "psnr", "ssim", "acc", "motion", "expr")
FEATURE_METRICS = ("fvd", "cfvd", "sfvd", "kvd", "acc")
EVAL_SPLITS = ("test", "train", "both", "val")  # val: the validation subjects of the embedded datasets
REAL_SAMPLINGS = REAL_CLIPS


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

    Settings marked (preset) are taken from the named preset when left ``None``; a value given explicitly overrides
    the preset and is listed in ``overrides`` (``{setting: {"preset": value, "used": value}}``).

    Attributes:
        dataset: registry name (``synth-faces``, ``mug``, ...) or a manifest path: the real reference set.
        root: folder of a real dataset copy (or where a synthetic one is generated); ``None``: default.
        dataset_options: extra options forwarded to :func:`lfdm_bench.data.registry.get_dataset`.
        split: ``test``, ``train``, ``both`` or ``val`` (split of the source images of the generated videos; ``val``:
            the validation subjects, where settings are chosen without reading a test video).
        preset: the FVD protocol preset (:data:`metrics.presets.PRESET_NAMES`).
        n_frames: (preset) frames per clip (I3D needs >= 9; LFDM reports 40, StyleGAN-V 16).
        resolution: side the frames are read at before the detector's resize to 224; ``None``: the real
            reference's frame size (the larger side of the first video of the reference split, after its crop
            box), never the generated videos' (they are brought to it). At least ``MIN_RESOLUTION`` (16).
        real_sampling: (preset) real clips: ``uniform``, ``first``, ``window`` or ``windows-all``.
        generated_sampling: (preset) generated clips: ``first`` or ``window``.
        real_split: (preset) ``same`` (the generated videos' source split) or ``train`` (TATS).
        subset: (preset) how ``max_real`` / ``max_generated`` pick videos: ``stratified`` or ``sorted-first``.
        max_real, max_generated: at most this many real clips / generated videos per split; ``None``: the
            preset's numbers (``n_real`` / ``n_generated``: StyleGAN-V 2048 / 2048, VideoGPT 256 / 256, TATS 2048 /
            2048, cd-fvd all / 2048, LFDM all / 10,000; all videos for ``lfdm-bench`` and ``tf``); a value given
            that differs from the preset's is recorded in ``overrides``.
        detector: I3D weight path, ``"i3d-random"`` (a pipeline smoke test; not comparable with published
            numbers), an embedded-domain VCNN (``synth-faces-vcnn-v1``, ...: :mod:`metrics.vcnn`), or
            ``None`` (``$LFDM_BENCH_I3D`` / the cache; see :func:`metrics.detector.resolve_i3d_path`).
        bn_eps: (preset) I3D BatchNorm epsilon (1e-3 TF-Hub, 1e-5 VideoGPT/TATS/cd-fvd port).
        ddof: (preset) covariance normalisation, 1 (N - 1; TF-GAN, VideoGPT, TATS, LFDM) or 0 (N; StyleGAN-V, cd-fvd).
        load_resize: (preset) frames -> ``resolution``: ``pad``, ``shortside-crop`` or ``shortside-crop-antialias``.
        resize_method: (preset) frames -> 224x224, one of :data:`metrics.preprocess.RESIZE_METHODS`.
        real_quantize, generated_quantize: (preset) float frames -> uint8 (``round``, ``truncate``,
            ``truncate-shifted``, ``round-half-up``).
        precision: (preset) ``fp32`` (TF32 off on CUDA) or ``bf16`` (the fp32 drift is then measured and stored).
        torchscript_call: (preset) how a TorchScript I3D is called (``uint8-internal`` or ``float-224``).
        allow_span_mismatch: compute FVD even when real and generated clips cover different fractions of their
            videos (the difference is stated in the protocol line); by default such an evaluation is refused.
        seed: seed of subset selection and random clip windows.
        batch_size: videos per detector call.
        device: torch device for the detector (``None``: CUDA when available).
        psnr_cap_db: PSNR of identical frames (otherwise infinite).
        probe_l2: L2 weight of the class-accuracy probes.
    """

    dataset: str
    root: str | None = None
    dataset_options: dict[str, Any] = field(default_factory=dict)
    split: str = "test"
    preset: str = DEFAULT_PRESET
    n_frames: int | None = None
    resolution: int | None = None
    real_sampling: str | None = None
    generated_sampling: str | None = None
    real_split: str | None = None
    subset: str | None = None
    max_real: int | None = None
    max_generated: int | None = None
    detector: str | None = None
    bn_eps: float | None = None
    ddof: int | None = None
    load_resize: str | None = None
    resize_method: str | None = None
    real_quantize: str | None = None
    generated_quantize: str | None = None
    precision: str | None = None
    torchscript_call: str | None = None
    allow_span_mismatch: bool = False
    seed: int = 0
    batch_size: int = 8
    device: str | None = None
    psnr_cap_db: float = 100.0
    probe_l2: float = 1e-2
    overrides: dict[str, Any] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        preset = get_preset(self.preset)
        self.overrides = {}
        for name, value in preset.settings().items():
            given = getattr(self, name)
            if given is None:
                setattr(self, name, value)
            elif given != value:
                self.overrides[name] = {"preset": value, "used": given}
        for name, value in (("max_real", preset.n_real), ("max_generated", preset.n_generated)):
            given = getattr(self, name)
            if given is None:
                setattr(self, name, value)
            elif value is not None and int(given) != value:
                self.overrides[name] = {"preset": value, "used": given}
        self.n_frames, self.ddof, self.bn_eps = int(self.n_frames), int(self.ddof), float(self.bn_eps)
        if self.split not in EVAL_SPLITS:
            raise ValueError(f"split must be one of {EVAL_SPLITS}, got {self.split!r}")
        if self.n_frames < 9:
            raise ValueError(f"n_frames must be >= 9 (I3D's last pooling needs 9 frames), got {self.n_frames}")
        if self.resolution is not None and int(self.resolution) < MIN_RESOLUTION:
            raise ValueError(f"resolution must be >= {MIN_RESOLUTION} pixels (or None for the dataset's size), got "
                             f"{self.resolution}")
        for name, allowed in (("real_sampling", REAL_CLIPS), ("generated_sampling", GENERATED_CLIPS),
                              ("real_split", REAL_SPLITS), ("subset", SUBSETS), ("load_resize", LOAD_RESIZES),
                              ("resize_method", RESIZE_METHODS), ("real_quantize", QUANTIZE_MODES),
                              ("generated_quantize", QUANTIZE_MODES), ("precision", PRECISIONS),
                              ("torchscript_call", TORCHSCRIPT_CALLS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        for name in ("max_real", "max_generated"):
            v = getattr(self, name)
            if v is not None and int(v) < 2:
                raise ValueError(f"{name} must be >= 2 or None (all videos), got {v}")
        if self.ddof not in (0, 1):
            raise ValueError(f"ddof must be 0 (divide by N) or 1 (divide by N - 1), got {self.ddof}")
        if int(self.batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")

    @property
    def splits(self) -> tuple[str, ...]:
        """The source splits evaluated: ``("test",)``, ``("train",)``, ``("val",)`` or ``("test", "train")``."""
        return ("test", "train") if self.split == "both" else (self.split,)

    def reference_split(self, split: str) -> str:
        """The split of the real videos that generated videos from ``split`` sources are compared with."""
        return "train" if self.real_split == "train" else split

    def to_dict(self) -> dict[str, Any]:
        """All settings (resolved), the preset by name and value, the overrides and the fixed conventions."""
        preset = get_preset(self.preset)
        d = asdict(self)
        d["preset_settings"] = preset.settings()
        d["preset_reference"] = {"reproduces": preset.reproduces, "n_real": preset.n_real,
                                 "n_generated": preset.n_generated, "n_trials": preset.n_trials,
                                 "fd_route": preset.fd_route, "unverified": list(preset.unverified)}
        d["generated_clips"] = {"first": "first n_frames frames of each generated video",
                                "window": "one seeded random window of n_frames consecutive frames per generated "
                                          "video"}[self.generated_sampling]
        d["frame_resize"] = {"pad": "keep aspect, zero-pad to resolution x resolution",
                             "shortside-crop": "shorter side to resolution (bilinear, no antialias), centre crop",
                             "shortside-crop-antialias": "shorter side to resolution (bilinear, antialias), centre "
                                                         "crop"}[self.load_resize] + \
            f", quantised ({self.real_quantize} real / {self.generated_quantize} generated), then the detector's " \
            "resize to 224"
        d["feature"] = "I3D Kinetics-400 logits averaged over time (400-d)"
        d["fd"] = "symmetric eigendecomposition in float64 (equal to the preset's reference route to ~1e-7)"
        from metrics.vcnn.source import is_vcnn_detector

        if is_vcnn_detector(self.detector):
            d["frame_resize"] = d["frame_resize"].replace("then the detector's resize to 224",
                                                          "then the VCNN at its native size (no resize to 224)")
            d["feature"] = "embedded-domain VCNN feature (standardised; see detector_info)"
        d["kvd"] = {"kernel": "polynomial", "degree": 3, "gamma": "1/D", "coef0": 1,
                    "estimator": "unbiased MMD^2 over all samples (not x1000)"}
        d["std_over_groups_ddof"] = 0
        return d

    def clip_spec(self, resolution: int, real: bool) -> ClipSpec:
        """How real (``real=True``) or generated clips are read under this protocol (window rules read segment
        records from their first frame)."""
        rule = self.real_sampling if real else self.generated_sampling
        return ClipSpec(n_frames=int(self.n_frames), size=int(resolution),
                        sampling=rule if rule in ("uniform", "first") else "first", seed=int(self.seed),
                        use_record_crop=real, resize=self.load_resize,
                        quantize=self.real_quantize if real else self.generated_quantize)


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
