"""Finding the I3D weights, describing the detector, and extracting FVD features from videos.

Weights are resolved in this order (no download is ever attempted):

1. an explicit path (the CLI's ``--i3d PATH``), or the literal ``"i3d-random"``;
2. the environment variable ``LFDM_BENCH_I3D``;
3. the cache file ``<cache root>/i3d/i3d_pretrained_400.pt``, the cache root of
   :func:`lfdm_bench.utils.paths.cache_root` (``$LFDM_BENCH_CACHE``, else ``$XDG_CACHE_HOME/lfdm_bench`` or
   ``~/.cache/lfdm_bench``).

Every result must store the :class:`DetectorInfo` of the detector that produced it, including the weights' label
(:mod:`metrics.weights`: a published checkpoint only for a known sha256).

Precision: fp32 by default on every device (on CUDA with TF32 switched off while features are computed, as
StyleGAN-V's scripts do: ``allow_tf32 = False`` for matmul and cuDNN). ``precision="bf16"`` runs the network under
bf16 autocast (CUDA or CPU) only when asked; :func:`metrics.evaluate.evaluate` then also computes the fp32
features of the same clips (:meth:`FeatureExtractor.fp32_twin`) and stores the FVD drift beside the number.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from lfdm_bench.utils.device import pick_device
from lfdm_bench.utils.paths import ENV_CACHE, cache_root

from .i3d import MIN_FRAMES, RANDOM_I3D_NAME, load_i3d
from .presets import PRECISIONS, TORCHSCRIPT_CALLS
from .preprocess import DEFAULT_RESIZE_METHOD, RESIZE_METHODS, VideoLayout, to_bcthw, to_i3d_input
from .weights import WeightsLabel

__all__ = [
    "I3D_FILENAME",
    "ENV_I3D",
    "DetectorNotFoundError",
    "DetectorInfo",
    "FeatureExtractor",
    "default_i3d_path",
    "resolve_i3d_path",
]

I3D_FILENAME = "i3d_pretrained_400.pt"
ENV_I3D = "LFDM_BENCH_I3D"
Precision = Literal["fp32", "bf16"]


class DetectorNotFoundError(FileNotFoundError):
    """No I3D weights were found; the message says which file is needed and how to provide it."""


def default_i3d_path() -> Path:
    """Where the I3D weights are looked for when no path is given: ``<cache root>/i3d/i3d_pretrained_400.pt``."""
    return cache_root() / "i3d" / I3D_FILENAME


def _how_to_provide() -> str:
    return (
        f"FVD needs the Kinetics-400 I3D weights '{I3D_FILENAME}' (VideoGPT/TATS state dict) or StyleGAN-V's "
        f"'i3d_torchscript.pt'; nothing is downloaded. Provide the file with --i3d PATH, or set "
        f"{ENV_I3D}=PATH, or place it at {default_i3d_path()} (cache root from {ENV_CACHE}, default "
        f"$XDG_CACHE_HOME/lfdm_bench or ~/.cache/lfdm_bench). For a smoke test only, '--i3d {RANDOM_I3D_NAME}' is "
        "the explicit fallback (random weights; values not comparable with published numbers)."
    )


def resolve_i3d_path(path: str | os.PathLike[str] | None = None) -> str:
    """Return the I3D weight file to use (absolute path) or ``"i3d-random"``.

    Raises:
        DetectorNotFoundError: the explicit path or ``$LFDM_BENCH_I3D`` points at no file, or nothing was
            given and the cache file does not exist.
    """
    for value, origin in ((path, "the given path"), (os.environ.get(ENV_I3D) or None, f"${ENV_I3D}")):
        if value is None:
            continue
        if str(value) == RANDOM_I3D_NAME:
            return RANDOM_I3D_NAME
        file = Path(value).expanduser()
        if not file.is_file():
            raise DetectorNotFoundError(f"I3D weights not found at {file} ({origin}). " + _how_to_provide())
        return str(file.resolve())
    cached = default_i3d_path()
    if cached.is_file():
        return str(cached.resolve())
    raise DetectorNotFoundError("No I3D weights found. " + _how_to_provide())


@dataclass(frozen=True)
class DetectorInfo:
    """What produced a set of features; stored with every metric result.

    Attributes:
        name: weight file name (``i3d_pretrained_400.pt``, ``i3d_torchscript.pt``, ...) or ``"i3d-random"``.
        sha256: checksum of the weight file, or ``"i3d-random-v2"`` (the built-in fallback).
        bn_eps: BatchNorm epsilon (NaN for TorchScript graphs, which carry their own).
        resize_method: how frames were brought to 224x224 (see :mod:`metrics.preprocess`), or
            ``"torchscript-internal"`` when the TorchScript detector resized.
        precision: ``"fp32"`` (TF32 off on CUDA) or ``"bf16"`` (autocast).
        comparable_with_published: True only for weights whose sha256 is a known published checkpoint
            (:data:`metrics.weights.KNOWN_I3D_DIGESTS`); False for random, unverified or stand-in weights.
        weights_status: ``published``, ``unverified``, ``random``, ``function`` (a stand-in feature function) or
            ``embedded-domain`` (a VCNN of :mod:`metrics.vcnn`, checked against its own metadata).
        weights_label: the text printed with every result ("matches published checkpoint X", "unverified weights
            (sha256 ...)", "random weights ...").
    """

    name: str
    sha256: str
    bn_eps: float
    resize_method: str
    precision: str
    comparable_with_published: bool
    weights_status: str = "unverified"
    weights_label: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        if isinstance(d["bn_eps"], float) and math.isnan(d["bn_eps"]):
            d["bn_eps"] = None  # keep JSON valid
        return d


class FeatureExtractor:
    """Videos -> float64 I3D features [B, 400] (time-averaged Kinetics-400 logits).

    Args:
        detector: a weight path, ``"i3d-random"``, ``None`` (resolve via :func:`resolve_i3d_path`), or an
            already built ``nn.Module`` with the I3D contract (e.g. a dummy in tests).
        bn_eps: BatchNorm epsilon when loading a state dict (1e-3 TF-Hub, 1e-5 VideoGPT/TATS).
        resize_method: one of :data:`metrics.preprocess.RESIZE_METHODS`; ignored by the TorchScript
            detector called ``uint8-internal``, which resizes uint8 input itself.
        device: torch device; default CUDA when available, else CPU.
        batch_size: clips per detector call.
        precision: ``"fp32"`` (default on every device; TF32 off on CUDA) or ``"bf16"`` (autocast, CUDA or CPU;
            only when asked).
        torchscript_call: how a TorchScript detector is called: ``uint8-internal`` (StyleGAN-V: ``rescale=True,
            resize=True`` on uint8 clips) or ``float-224`` (fvd-comparison / LFDM: this extractor's resize and
            ``[-1, 1]`` scaling, then ``rescale=False, resize=False``).
        progress: show a progress bar over batches.

    Calling the extractor: ``extractor(videos, layout="BTCHW") -> np.ndarray float64 [B, 400]``, where
    ``videos`` is a torch tensor or numpy array, uint8 in [0, 255] or float in [0, 1], in layout
    ``"BTCHW"`` ([B, T, 3, H, W], default: a batch of this project's [T, 3, H, W] clips), ``"BCTHW"``
    or ``"BTHWC"``; T >= 9, any H, W. Runs under ``torch.inference_mode``.
    """

    def __init__(
        self,
        detector: str | os.PathLike[str] | nn.Module | None = None,
        *,
        bn_eps: float = 1e-3,
        resize_method: str = DEFAULT_RESIZE_METHOD,
        device: str | torch.device | None = None,
        batch_size: int = 16,
        precision: Precision = "fp32",
        torchscript_call: str = "uint8-internal",
        progress: bool = False,
    ) -> None:
        if resize_method not in RESIZE_METHODS:
            raise ValueError(f"Unknown resize method {resize_method!r}; choose one of {RESIZE_METHODS}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS} (fp32 is the default everywhere; bf16 only when "
                             f"asked), got {precision!r}")
        if torchscript_call not in TORCHSCRIPT_CALLS:
            raise ValueError(f"torchscript_call must be one of {TORCHSCRIPT_CALLS}, got {torchscript_call!r}")
        self.device = pick_device(device)
        if isinstance(detector, nn.Module):
            model = detector
        else:
            model = load_i3d(resolve_i3d_path(detector), bn_eps=bn_eps, map_location="cpu")
        is_torchscript = bool(getattr(model, "accepts_uint8", False))
        self.uint8_input = is_torchscript and torchscript_call == "uint8-internal"
        self.float_torchscript = is_torchscript and torchscript_call == "float-224"
        if precision == "bf16" and self.uint8_input:
            raise ValueError("precision='bf16' is not available for the TorchScript detector called with its own "
                             "rescale/resize (torchscript_call='uint8-internal'); use fp32")
        self.use_bf16 = precision == "bf16"
        self.model = model.to(self.device).eval()
        if not is_torchscript:
            # channels_last_3d on CPU too: oneDNN's 3D convolutions run 1.6x faster in that layout (2.49 vs 1.55
            # clips/s, 2-core x86 CPU, batch 8, scripts/bench_i3d.py), logits equal to 1e-6 relative
            self.model = self.model.to(memory_format=torch.channels_last_3d)
        self.resize_method = resize_method
        self.batch_size = int(batch_size)
        self.progress = progress
        self._settings = dict(bn_eps=bn_eps, resize_method=resize_method, device=self.device, batch_size=batch_size,
                              torchscript_call=torchscript_call, progress=progress)
        weights = getattr(model, "weights", None)
        if not isinstance(weights, WeightsLabel):
            weights = WeightsLabel("unverified", f"unverified weights ({type(model).__name__} module passed in; no "
                                                 "file digest)")
        self.info = DetectorInfo(
            name=str(getattr(model, "name", type(model).__name__)),
            sha256=str(getattr(model, "sha256", "") or "unknown"),
            bn_eps=float(getattr(model, "bn_eps", bn_eps)),
            resize_method="torchscript-internal" if self.uint8_input else resize_method,
            precision="bf16" if self.use_bf16 else "fp32",
            comparable_with_published=weights.comparable,
            weights_status=weights.status,
            weights_label=weights.label,
        )

    def fp32_twin(self) -> FeatureExtractor:
        """The same detector (shared weights) in fp32: the reference of a bf16 extractor's drift."""
        return FeatureExtractor(self.model, precision="fp32", **self._settings)._adopt(self.info)

    def _adopt(self, info: DetectorInfo) -> FeatureExtractor:
        self.info = dataclasses.replace(info, precision="fp32")
        return self

    def _numerics(self) -> contextlib.AbstractContextManager[Any]:
        """bf16 autocast when asked; otherwise fp32 with TF32 off on CUDA (restored afterwards)."""
        if self.use_bf16:
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        if self.device.type != "cuda":
            return contextlib.nullcontext()
        return _no_tf32()

    def _batches(self, videos: Tensor) -> Iterator[Tensor]:
        starts = range(0, videos.shape[0], self.batch_size)
        if self.progress:
            from lfdm_bench.utils.progress import progress_bar

            starts = progress_bar(starts, desc=f"I3D features ({self.info.name})", unit="batch")
        for s in starts:
            yield videos[s:s + self.batch_size]

    def _features(self, chunk: Tensor) -> Tensor:
        """One batch [b, 3, T, H, W] (any dtype accepted by to_i3d_input) -> float32 [b, 400] on CPU."""
        chunk = chunk.to(self.device, non_blocking=True)
        if self.uint8_input:
            if chunk.dtype != torch.uint8:  # float [0, 1] -> uint8, the TorchScript detector's input
                chunk = (chunk.float().clamp(0, 1) * 255.0).round().to(torch.uint8)
            with self._numerics():
                return self.model.forward_uint8(chunk.contiguous()).float().cpu()
        x = to_i3d_input(chunk, method=self.resize_method)  # [b, 3, T, 224, 224] in [-1, 1]
        with self._numerics():
            if self.float_torchscript:
                return self.model.forward_float(x).float().cpu()
            x = x.contiguous(memory_format=torch.channels_last_3d)
            return self.model(x).float().cpu()

    def __call__(self, videos: Tensor | np.ndarray, layout: VideoLayout = "BTCHW") -> np.ndarray:
        """Features of a batch of videos: float64 numpy [B, 400] (see the class docstring for input)."""
        x = to_bcthw(videos, layout)  # [B, 3, T, H, W]
        if x.dtype != torch.uint8 and not x.is_floating_point():
            raise TypeError(f"videos must be uint8 in [0, 255] or float in [0, 1], got dtype {x.dtype}")
        if x.shape[2] < MIN_FRAMES:
            raise ValueError(f"I3D needs at least {MIN_FRAMES} frames per clip, got T={x.shape[2]} "
                             f"(videos of shape {tuple(videos.shape)}, layout {layout}).")
        if x.shape[0] == 0:
            return np.zeros((0, 400), dtype=np.float64)
        with torch.inference_mode():
            feats = [self._features(chunk) for chunk in self._batches(x)]
        return torch.cat(feats).double().numpy()

    extract = __call__


@contextlib.contextmanager
def _no_tf32() -> Iterator[None]:
    """Full fp32 matmuls and cuDNN convolutions (PyTorch allows TF32 in cuDNN convolutions by default)."""
    old = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old
