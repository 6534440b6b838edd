"""Motion statistics of generated videos against real ones: how much moves (amplitude, per frame), whether the
opening frame is the source image, and whether anything moves in the opening frames.

Videos are ``[B, T, 3, H, W]`` (torch or numpy; float in [0, 1], or uint8 divided by 255); everything is computed
in float64. Definitions:

* **motion amplitude** of frame t: the mean over videos, channels and pixels of ``|x_t - x_0|`` (frame 0 is 0 by
  definition). The **amplitude ratio** of a generated set to a real set is ``sum_{t>=1} A_gen(t) / sum_{t>=1}
  A_real(t)`` (1 = as much motion as real videos; the sets need not be paired), with the per-frame ratios beside it.
* **opening-frame error**: frame 0 of each generated video against the source image it was generated from (the
  frame 0 of the real take): mean absolute error, and the PSNR of the pooled squared error (dB; ``cap_db`` when the
  frames are identical). A generator that starts from the source has the error of its decoder only.
* **opening motion**: the mean amplitude of frames ``1..k`` (``k = opening_frames``), generated and real; real
  takes of the embedded datasets hold still at their start, so generated motion there is spurious.

:class:`MotionStatsAccumulator` gathers the same numbers batch by batch (the evaluation streams its videos).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = ["motion_amplitude", "amplitude_ratio", "opening_frame_error", "opening_motion", "motion_stats",
           "MotionStatsAccumulator"]


def _videos(x: Any, name: str = "videos") -> np.ndarray:
    """float64 ``[B, T, 3, H, W]`` in [0, 1] from torch / numpy, uint8 or float."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    if x.ndim != 5 or x.shape[2] != 3:
        raise ValueError(f"{name}: expected videos [B, T, 3, H, W], got shape {x.shape}")
    if x.shape[1] < 2:
        raise ValueError(f"{name}: motion needs at least 2 frames, got T={x.shape[1]}")
    return x.astype(np.float64) / 255.0 if x.dtype == np.uint8 else x.astype(np.float64)


def _amplitude_sums(v: np.ndarray) -> np.ndarray:
    """Per-video per-frame mean ``|x_t - x_0|``: ``[B, T]``."""
    return np.abs(v - v[:, :1]).mean(axis=(2, 3, 4))


def motion_amplitude(videos: Any) -> np.ndarray:
    """Mean ``|x_t - x_0|`` over videos, channels and pixels, per frame: float64 ``[T]`` (entry 0 is 0)."""
    return _amplitude_sums(_videos(videos)).mean(axis=0)


def _ratio(gen: np.ndarray, real: np.ndarray, eps: float = 1e-12) -> dict[str, Any]:
    total_real = float(real[1:].sum())
    return {
        "ratio": float(gen[1:].sum() / total_real) if total_real > eps else None,
        "per_frame_ratio": [float(g / r) if r > eps else None for g, r in zip(gen, real)],
        "generated": [float(g) for g in gen],
        "real": [float(r) for r in real],
    }


def amplitude_ratio(generated: Any, real: Any) -> dict[str, Any]:
    """``{"ratio", "per_frame_ratio" [T] (None where the real amplitude is 0), "generated" [T], "real" [T]}``.

    The two sets may differ in size (not paired) but must have the same number of frames.
    """
    g, r = motion_amplitude(generated), motion_amplitude(real)
    if g.shape != r.shape:
        raise ValueError(f"amplitude_ratio: generated videos have {g.shape[0]} frames, real ones {r.shape[0]}")
    return _ratio(g, r)


def _psnr(mse: float, cap_db: float) -> float:
    return float(cap_db) if mse <= 10 ** (-cap_db / 10) else float(10 * np.log10(1.0 / mse))


def opening_frame_error(generated: Any, sources: Any, cap_db: float = 100.0) -> dict[str, Any]:
    """Frame 0 of ``generated [B, T, 3, H, W]`` against ``sources [B, 3, H, W]`` (same value range rules):
    ``{"l1": mean |difference|, "psnr": PSNR (dB) of the pooled MSE, capped at cap_db, "n": B}``."""
    g = _videos(generated, "generated")[:, 0]
    s = sources.detach().cpu().numpy() if isinstance(sources, torch.Tensor) else np.asarray(sources)
    s = s.astype(np.float64) / 255.0 if s.dtype == np.uint8 else s.astype(np.float64)
    if s.shape != g.shape:
        raise ValueError(f"opening_frame_error: sources must be [B, 3, H, W] = {g.shape}, got {s.shape}")
    d = g - s
    return {"l1": float(np.abs(d).mean()), "psnr": _psnr(float((d * d).mean()), cap_db), "n": int(g.shape[0])}


def opening_motion(generated: Any, real: Any, opening_frames: int = 2) -> dict[str, Any]:
    """Mean amplitude over frames ``1..opening_frames`` of each set: ``{"generated", "real", "frames"}``."""
    if opening_frames < 1:
        raise ValueError(f"opening_frames must be >= 1, got {opening_frames}")
    g, r = motion_amplitude(generated), motion_amplitude(real)
    k = min(opening_frames, len(g) - 1)
    return {"generated": float(g[1:k + 1].mean()), "real": float(r[1:k + 1].mean()), "frames": k}


def motion_stats(generated: Any, real: Any, sources: Any = None, opening_frames: int = 2,
                 cap_db: float = 100.0) -> dict[str, Any]:
    """All of the above in one dict: ``amplitude`` (:func:`amplitude_ratio`), ``opening_motion`` and, when
    ``sources`` are given, ``opening_frame`` (:func:`opening_frame_error`)."""
    acc = MotionStatsAccumulator(opening_frames=opening_frames, cap_db=cap_db)
    acc.add_generated(generated, sources)
    acc.add_real(real)
    return acc.summary()


class MotionStatsAccumulator:
    """Streams :func:`motion_stats`: ``add_generated(videos, sources=None)`` and ``add_real(videos)`` per batch,
    then :meth:`summary` (identical to :func:`motion_stats` on the concatenated batches)."""

    def __init__(self, opening_frames: int = 2, cap_db: float = 100.0):
        if opening_frames < 1:
            raise ValueError(f"opening_frames must be >= 1, got {opening_frames}")
        self.opening_frames, self.cap_db = int(opening_frames), float(cap_db)
        self._sum = {"generated": None, "real": None}  # per-frame sums of per-video amplitudes [T]
        self._n = {"generated": 0, "real": 0}
        self._f0_abs = self._f0_sq = 0.0
        self._f0_values = 0
        self._f0_n = 0

    def _add(self, which: str, videos: Any) -> np.ndarray:
        v = _videos(videos, which)
        a = _amplitude_sums(v).sum(axis=0)  # [T]
        if self._sum[which] is None:
            self._sum[which] = a
        elif self._sum[which].shape != a.shape:
            raise ValueError(f"{which} videos: {a.shape[0]} frames after batches of {self._sum[which].shape[0]}")
        else:
            self._sum[which] = self._sum[which] + a
        self._n[which] += v.shape[0]
        return v

    def add_generated(self, videos: Any, sources: Any = None) -> None:
        v = self._add("generated", videos)
        if sources is not None:
            s = sources.detach().cpu().numpy() if isinstance(sources, torch.Tensor) else np.asarray(sources)
            s = s.astype(np.float64) / 255.0 if s.dtype == np.uint8 else s.astype(np.float64)
            if s.shape != v[:, 0].shape:
                raise ValueError(f"sources must be [B, 3, H, W] = {v[:, 0].shape}, got {s.shape}")
            d = v[:, 0] - s
            self._f0_abs += float(np.abs(d).sum())
            self._f0_sq += float((d * d).sum())
            self._f0_values += d.size
            self._f0_n += v.shape[0]

    def add_real(self, videos: Any) -> None:
        self._add("real", videos)

    @property
    def n_generated(self) -> int:
        return self._n["generated"]

    def summary(self) -> dict[str, Any]:
        if not self._n["generated"] or not self._n["real"]:
            raise ValueError("motion stats need generated and real videos (none added)")
        g = self._sum["generated"] / self._n["generated"]
        r = self._sum["real"] / self._n["real"]
        if g.shape != r.shape:
            raise ValueError(f"generated videos have {g.shape[0]} frames, real ones {r.shape[0]}")
        k = min(self.opening_frames, len(g) - 1)
        out: dict[str, Any] = {
            "amplitude": _ratio(g, r),
            "opening_motion": {"generated": float(g[1:k + 1].mean()), "real": float(r[1:k + 1].mean()), "frames": k},
            "n_generated": self._n["generated"], "n_real": self._n["real"],
        }
        if self._f0_n:
            out["opening_frame"] = {"l1": self._f0_abs / self._f0_values,
                                    "psnr": _psnr(self._f0_sq / self._f0_values, self.cap_db), "n": self._f0_n}
        return out
