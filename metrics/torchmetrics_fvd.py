"""FVD (and KVD) as a ``torchmetrics.Metric``: :class:`FrechetVideoDistance`, for training and validation loops
(plain PyTorch, Lightning, accelerate).

``update(videos, real=...)`` reads each video's clip by the protocol's rules, with the functions the evaluation path
uses on video files (:meth:`metrics.video_features.ClipSpec.from_frames`: frame indices, load resize, quantisation),
passes the clips through the detector and adds their features to float64 sums (count, sum of x, sum of x x^T) per
side. Those sums are the metric's states (``dist_reduce_fx="sum"``): torchmetrics adds them across processes, so the
value is the one of all videos together however they are split over batches and processes (never an average of
per-process FVDs). ``compute()`` is :func:`metrics.fvd.fvd_from_stats` on them, so the number equals
``lfdm-bench eval`` (:func:`metrics.evaluate.evaluate`) on the same videos, detector and protocol. With
``kvd=True`` the per-video features are kept as well (``dist_reduce_fx="cat"``) for KVD, which needs them all.

torchmetrics is optional: ``pip install 'lfdm-bench[torchmetrics]'``. This module imports without it; creating the
metric then raises an ImportError that says so.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import numpy as np
import torch
from torch import Tensor

from metrics.detector import FeatureExtractor
from metrics.evaluate import build_detector
from metrics.fvd import FeatureStats, SmallSampleWarning, fvd_from_stats
from metrics.groups import single_thread_blas
from metrics.kvd import kvd_from_features
from metrics.preprocess import to_unit_float
from metrics.protocol import EvalProtocol
from metrics.video_features import FeatureSource

try:
    from torchmetrics import Metric as _MetricBase
    from torchmetrics.utilities.data import dim_zero_cat
    _IMPORT_ERROR: ImportError | None = None
except ImportError as err:  # optional extra
    _MetricBase, dim_zero_cat, _IMPORT_ERROR = object, None, err  # type: ignore[assignment, misc]

__all__ = ["FrechetVideoDistance", "INSTALL_HINT", "IN_MEMORY_DATASET"]

INSTALL_HINT = "pip install 'lfdm-bench[torchmetrics]'"
IN_MEMORY_DATASET = "in-memory videos"  # EvalProtocol.dataset of a metric built from a preset name
I3D_DIM = 400


class FrechetVideoDistance(_MetricBase):  # type: ignore[misc, valid-type]
    """FVD between the videos passed with ``real=True`` and those passed with ``real=False``.

    Args:
        detector: what ``eval --detector`` takes (an I3D weight path, ``i3d-random``, a shipped VCNN name such as
            ``synth-faces-vcnn-v1``; ``None``: ``$LFDM_BENCH_I3D`` / the cache), or any feature source
            (:class:`metrics.video_features.FunctionDetector`, a built :class:`~metrics.detector.FeatureExtractor`).
        protocol: a preset name (``lfdm-bench``, ``tf``, ``videogpt``, ...: :data:`metrics.presets.PRESET_NAMES`) or an
            :class:`~metrics.protocol.EvalProtocol`; it gives the clip length, the clip rules of each side, the
            load resize, the quantisation of each side and the covariance divisor (``ddof``). Presets that read
            seeded random windows per video file are refused (their windows are tied to file names): override
            ``real_sampling`` / ``generated_sampling`` in an EvalProtocol, or evaluate files with ``lfdm-bench eval``.
        n_frames: clip length (default: the protocol's); videos must hold at least this many frames.
        resolution: frames are brought to ``resolution x resolution`` (the protocol's ``load_resize``) before the
            detector, as ``eval --size`` does; default: the protocol's, else each batch's larger side (so pass it
            when real and generated videos differ in size: ``eval`` reads both at the real videos' size).
        kvd: also keep every feature and return ``{"fvd", "kvd"}`` from :meth:`compute` (KVD: TATS's unbiased
            polynomial-kernel MMD^2).
        feature_dim: the detector's feature dimension; default: 400 for I3D, ``detector.feature_dim`` when it has
            one, else one zero clip is passed through the detector once to find it (the states need it up front
            so that every process holds states of the same shape).
        **kwargs: torchmetrics ``Metric`` options (``sync_on_compute``, ``process_group``, ...).

    ``update(videos, real)``: ``videos`` uint8 ``[B, T, H, W, 3]`` or float ``[B, T, 3, H, W]`` in ``[0, 1]`` (any
    device; clips are prepared on the CPU, as the evaluation path does, then passed to the detector).
    ``compute()``: float64 scalar tensor (or ``{"fvd", "kvd"}`` with ``kvd=True``). Calling the metric
    (``forward``) only updates: one batch has no FVD of its own.
    """

    is_differentiable = False
    higher_is_better = False
    full_state_update = False

    def __init__(self, detector: str | FeatureSource | None = None, protocol: str | EvalProtocol = "lfdm-bench", *,
                 n_frames: int | None = None, resolution: int | None = None, kvd: bool = False,
                 feature_dim: int | None = None, **kwargs: Any) -> None:
        if _IMPORT_ERROR is not None:
            raise ImportError(f"FrechetVideoDistance needs torchmetrics, which is not installed: {INSTALL_HINT}") \
                from _IMPORT_ERROR
        super().__init__(**kwargs)
        self.protocol = _resolve_protocol(protocol, detector, n_frames, resolution)
        self.source: FeatureSource = detector if (detector is not None and not isinstance(detector, str)) \
            else build_detector(self.protocol)
        self.kvd = bool(kvd)
        dim = int(feature_dim or _feature_dim(self.source, self.protocol))
        self.feature_dim = dim
        for side in ("real", "fake"):
            self.add_state(f"{side}_n", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
            self.add_state(f"{side}_sum", torch.zeros(dim, dtype=torch.float64), dist_reduce_fx="sum")
            self.add_state(f"{side}_outer", torch.zeros(dim, dim, dtype=torch.float64), dist_reduce_fx="sum")
            if self.kvd:
                self.add_state(f"{side}_features", [], dist_reduce_fx="cat")

    def clips(self, videos: Tensor | np.ndarray, real: bool) -> Tensor:
        """The uint8 clips ``[B, T, 3, size, size]`` the detector sees for ``videos`` (see :meth:`update`)."""
        frames = _as_btchw(videos)
        size = int(self.protocol.resolution or max(frames.shape[-2:]))
        spec = self.protocol.clip_spec(size, real=real)
        return torch.stack([spec.from_frames(v) for v in frames]) if len(frames) else \
            torch.zeros((0, spec.n_frames, 3, size, size), dtype=torch.uint8)

    def update(self, videos: Tensor | np.ndarray, real: bool) -> None:  # type: ignore[override]
        """Add a batch of real (``real=True``) or generated videos."""
        if not isinstance(real, bool):
            raise TypeError(f"update(videos, real=...): real must be True or False, got {real!r}")
        clips = self.clips(videos, real)
        if not len(clips):
            return
        feats = np.asarray(self.source(clips), dtype=np.float64)
        if feats.shape != (len(clips), self.feature_dim):
            raise ValueError(f"detector {self.source.info.name!r} returned features of shape {feats.shape} for "
                             f"{len(clips)} videos; expected [{len(clips)}, {self.feature_dim}] (feature_dim)")
        if not np.isfinite(feats).all():
            raise ValueError(f"detector {self.source.info.name!r} gave NaN/inf features for "
                             f"{int((~np.isfinite(feats)).any(1).sum())} of {len(feats)} videos (check its weights)")
        side = "real" if real else "fake"
        x = torch.from_numpy(feats).to(getattr(self, f"{side}_sum").device)
        setattr(self, f"{side}_n", getattr(self, f"{side}_n") + x.shape[0])
        setattr(self, f"{side}_sum", getattr(self, f"{side}_sum") + x.sum(0))
        setattr(self, f"{side}_outer", getattr(self, f"{side}_outer") + x.T @ x)
        if self.kvd:
            getattr(self, f"{side}_features").append(x)

    def forward(self, videos: Tensor | np.ndarray, real: bool) -> None:  # type: ignore[override]
        """``metric(videos, real=...)`` is :meth:`update` (FVD of one batch means nothing: there is no batch
        value; read the value with :meth:`compute`)."""
        self.update(videos, real=real)

    def stats(self, real: bool) -> FeatureStats:
        """The accumulated :class:`~metrics.fvd.FeatureStats` of one side (after a sync: of all processes)."""
        side = "real" if real else "fake"
        return FeatureStats.from_sums(int(round(float(getattr(self, f"{side}_n")))),
                                      getattr(self, f"{side}_sum").detach().cpu().numpy(),
                                      getattr(self, f"{side}_outer").detach().cpu().numpy())

    def compute(self) -> Tensor | dict[str, Tensor]:
        """FVD of the generated against the real videos (float64); ``{"fvd", "kvd"}`` with ``kvd=True``."""
        fake, real = self.stats(real=False), self.stats(real=True)
        need = self.protocol.ddof + 1
        if fake.n < need or real.n < need:
            raise ValueError(f"FVD with ddof={self.protocol.ddof} needs at least {need} real and {need} generated "
                             f"videos; have {real.n} real (update(..., real=True)) and {fake.n} generated "
                             "(update(..., real=False))")
        with warnings.catch_warnings(), single_thread_blas():
            if min(fake.n, real.n) < self.feature_dim:
                warnings.warn(f"FVD of {fake.n} generated and {real.n} real videos with {self.feature_dim}-d "
                              "features: fewer videos than feature dimensions, so the covariances are rank-deficient "
                              "and FVD is biased upwards (use hundreds of videos per set)", SmallSampleWarning)
            warnings.simplefilter("ignore", SmallSampleWarning)
            fvd = torch.tensor(fvd_from_stats(fake, real, ddof=self.protocol.ddof), dtype=torch.float64)
        if not self.kvd:
            return fvd
        gf = dim_zero_cat(self.fake_features).detach().cpu().numpy()
        rf = dim_zero_cat(self.real_features).detach().cpu().numpy()
        return {"fvd": fvd, "kvd": torch.tensor(kvd_from_features(gf, rf), dtype=torch.float64)}


def _resolve_protocol(protocol: str | EvalProtocol, detector: Any, n_frames: int | None,
                      resolution: int | None) -> EvalProtocol:
    """The EvalProtocol of a metric: a preset name or a protocol, with the detector name, clip length and resolution
    given to the metric; refuses clip rules that need video files."""
    name = detector if isinstance(detector, str) else None
    if isinstance(protocol, str):
        protocol = EvalProtocol(dataset=IN_MEMORY_DATASET, preset=protocol, detector=name, n_frames=n_frames,
                                resolution=resolution)
    elif isinstance(protocol, EvalProtocol):
        changes = {k: v for k, v in (("detector", name), ("n_frames", n_frames), ("resolution", resolution))
                   if v is not None}
        protocol = dataclasses.replace(protocol, **changes) if changes else protocol
    else:
        raise TypeError(f"protocol must be a preset name or a metrics.protocol.EvalProtocol, got "
                        f"{type(protocol).__name__}")
    for side, rule in (("real_sampling", protocol.real_sampling), ("generated_sampling", protocol.generated_sampling)):
        if rule not in ("uniform", "first"):
            raise ValueError(f"protocol {protocol.preset!r} reads {side}={rule!r}: seeded random windows tied to "
                             "video files, which in-memory videos do not have; pass an EvalProtocol with "
                             f"{side}='first' or 'uniform', or evaluate video files with `lfdm-bench eval`")
    return protocol


def _feature_dim(source: FeatureSource, protocol: EvalProtocol) -> int:
    """The feature dimension of ``source`` (400 for I3D; its ``feature_dim``; else from one zero clip)."""
    if isinstance(source, FeatureExtractor):
        return I3D_DIM
    dim = getattr(source, "feature_dim", None)
    if dim is not None:
        return int(dim)
    size = int(protocol.resolution or 32)
    out = np.asarray(source(torch.zeros((1, protocol.n_frames, 3, size, size), dtype=torch.uint8)))
    if out.ndim != 2 or out.shape[0] != 1:
        raise ValueError(f"detector {getattr(getattr(source, 'info', None), 'name', source)!r} must return "
                         f"features [B, D]; for one clip it returned shape {out.shape}")
    return int(out.shape[1])


def _as_btchw(videos: Tensor | np.ndarray) -> Tensor:
    """uint8 ``[B, T, H, W, 3]`` or float ``[B, T, 3, H, W]`` in [0, 1] -> a CPU tensor ``[B, T, 3, H, W]`` (uint8
    kept as uint8, floats checked and clamped as :func:`metrics.preprocess.to_unit_float` does)."""
    x = torch.from_numpy(np.ascontiguousarray(videos)) if isinstance(videos, np.ndarray) else videos
    if not isinstance(x, Tensor):
        raise TypeError(f"videos must be a torch.Tensor or numpy.ndarray, got {type(videos).__name__}")
    shape = tuple(x.shape)
    if x.dtype == torch.uint8:
        if x.ndim != 5 or shape[-1] != 3:
            hint = " (this looks like [B, T, 3, H, W]: pass videos.permute(0, 1, 3, 4, 2))" \
                if x.ndim == 5 and shape[2] == 3 else " (a single video needs a batch dimension: videos[None])" \
                if x.ndim == 4 else ""
            raise ValueError(f"uint8 videos must be [B, T, H, W, 3], got shape {shape}{hint}")
        return x.detach().cpu().permute(0, 1, 4, 2, 3)
    if not x.is_floating_point():
        raise TypeError(f"videos must be uint8 [B, T, H, W, 3] or float [B, T, 3, H, W] in [0, 1], got dtype "
                        f"{x.dtype}")
    if x.ndim != 5 or shape[2] != 3:
        hint = " (this looks like [B, T, H, W, 3]: pass videos.permute(0, 1, 4, 2, 3))" \
            if x.ndim == 5 and shape[-1] == 3 else " (a single video needs a batch dimension: videos[None])" \
            if x.ndim == 4 else ""
        raise ValueError(f"float videos must be [B, T, 3, H, W] in [0, 1], got shape {shape}{hint}")
    return to_unit_float(x.detach().cpu())
