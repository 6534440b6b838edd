"""Metric core of lfdm-bench: I3D detector, FVD, KVD and per-frame PSNR/SSIM.

Typical use::

    from metrics import FeatureExtractor, FeatureStats, fvd_from_stats

    fx = FeatureExtractor("path/to/i3d_pretrained_400.pt")   # or None: $LFDM_BENCH_I3D / cache
    real, fake = FeatureStats(), FeatureStats()
    for batch in real_batches:                                # uint8 [B, T, 3, H, W], T >= 9
        real.update(fx(batch))                                # float64 [B, 400]
    ...
    value = fvd_from_stats(real, fake, ddof=1)                # store fx.info.to_dict() with it

Importing this package has no side effects (no files read, no weights loaded).
"""

from .detector import (
    ENV_I3D,
    I3D_FILENAME,
    DetectorInfo,
    DetectorNotFoundError,
    FeatureExtractor,
    default_i3d_path,
    resolve_i3d_path,
)
from .psnr_ssim import FrameMetrics, frame_metrics, psnr_frames, ssim_frames
from .fvd import FeatureStats, SmallSampleWarning, frechet_distance, fvd_from_features, fvd_from_stats
from .i3d import (
    MIN_FRAMES,
    RANDOM_I3D_NAME,
    I3DWeightsError,
    InceptionI3d,
    TorchScriptI3D,
    build_random_i3d,
    load_i3d,
)
from .kvd import kvd_from_features, kvd_subsets, mmd2_unbiased, polynomial_kernel
from .preprocess import DEFAULT_RESIZE_METHOD, RESIZE_METHODS, resize_frames, to_bcthw, to_i3d_input

__all__ = [
    "DEFAULT_RESIZE_METHOD",
    "ENV_I3D",
    "I3D_FILENAME",
    "MIN_FRAMES",
    "RANDOM_I3D_NAME",
    "RESIZE_METHODS",
    "DetectorInfo",
    "DetectorNotFoundError",
    "FeatureExtractor",
    "FeatureStats",
    "FrameMetrics",
    "I3DWeightsError",
    "InceptionI3d",
    "SmallSampleWarning",
    "TorchScriptI3D",
    "build_random_i3d",
    "default_i3d_path",
    "frame_metrics",
    "frechet_distance",
    "fvd_from_features",
    "fvd_from_stats",
    "kvd_from_features",
    "kvd_subsets",
    "load_i3d",
    "mmd2_unbiased",
    "polynomial_kernel",
    "psnr_frames",
    "resolve_i3d_path",
    "resize_frames",
    "ssim_frames",
    "to_bcthw",
    "to_i3d_input",
]
