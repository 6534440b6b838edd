"""Optional experiment trackers of the training engine: TensorBoard and Weights & Biases, through accelerate's tracker
classes (:class:`accelerate.tracking.TensorBoardTracker`, :class:`accelerate.tracking.WandBTracker`).

A stage's ``train.log_with`` names them (``tensorboard``, ``wandb`` or ``tensorboard,wandb``; default none: the CSV
log ``RUN/logs/<stage>.csv`` alone, which is always written). What they receive:

- every row of the CSV log, at its step: ``loss``, ``lr``, ``it_s`` (throughput, steps per second), ``grad_norm``
  and the stage's loss terms, under the CSV's column names (``NaN``, i.e. not measured, is left out);
- each training preview (the GIF grid of :mod:`lfdm_bench.lfdm.previews`) as one image, tag ``preview``: up to 8
  frames of the grid side by side (below each other when the grid is wider than tall), time running right / down.

TensorBoard writes to ``RUN/logs/tensorboard/<stage>/`` (``tensorboard --logdir RUN/logs/tensorboard``); a resumed
stage purges the events written after its checkpoint, like the CSV log is truncated. W&B logs to project
``lfdm-bench``, run ``<run folder>/<stage>`` (a resumed stage continues the same W&B run).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from lfdm_bench.config import ConfigError
from lfdm_bench.utils.io import stable_hash

__all__ = ["TRACKERS", "parse_log_with", "check_available", "frame_strip", "StageTrackers"]

# tracker name -> (package that provides it, how to install it)
TRACKERS = {"tensorboard": ("tensorboard", "pip install -e '.[tensorboard]' (or pip install tensorboard)"),
            "wandb": ("wandb", "pip install wandb, then wandb login")}
WANDB_PROJECT = "lfdm-bench"


def parse_log_with(value: str | None) -> tuple[str, ...]:
    """``"tensorboard,wandb"`` -> ``("tensorboard", "wandb")``; ``None`` / ``""`` / ``"csv"`` -> ``()``.
    Raises ``ValueError`` naming the valid trackers for any other name."""
    names = tuple(dict.fromkeys(n.strip().lower() for n in (value or "").split(",") if n.strip()))
    names = tuple(n for n in names if n != "csv")
    bad = [n for n in names if n not in TRACKERS]
    if bad:
        raise ValueError(f"log_with: unknown tracker(s) {bad}; valid: {', '.join(TRACKERS)} (comma-separated; "
                         "the CSV log is always written)")
    return names


def check_available(names: tuple[str, ...], stage: str) -> None:
    """Raise :class:`~lfdm_bench.config.ConfigError` when a tracker's package is not installed (accelerate itself
    would drop such a tracker silently)."""
    from accelerate.utils import is_tensorboard_available, is_wandb_available

    have = {"tensorboard": is_tensorboard_available, "wandb": is_wandb_available}
    for n in names:
        if not have[n]():
            pkg, how = TRACKERS[n]
            raise ConfigError(f"{stage}: train.log_with={n} needs the '{pkg}' package, which is not installed; "
                              f"install it ({how}) or leave log_with unset for the CSV log alone")


def frame_strip(video: np.ndarray, max_frames: int = 8, pad: int = 2) -> np.ndarray:
    """uint8 video ``[T, H, W, 3]`` -> one image ``[H', W', 3]``: up to ``max_frames`` evenly spaced frames side by
    side (stacked vertically when a frame is wider than tall), separated by ``pad`` white pixels."""
    video = np.asarray(video)
    if video.ndim != 4 or video.shape[-1] != 3:
        raise ValueError(f"expected a video [T, H, W, 3], got shape {video.shape}")
    t, h, w, _ = video.shape
    keep = np.unique(np.linspace(0, t - 1, min(max_frames, t)).round().astype(int))
    axis = 0 if w > h else 1
    gap_shape = (pad, w, 3) if axis == 0 else (h, pad, 3)
    gap = np.full(gap_shape, 255, dtype=np.uint8)
    parts: list[np.ndarray] = []
    for i, k in enumerate(keep):
        if i:
            parts.append(gap)
        parts.append(video[k].astype(np.uint8))
    return np.concatenate(parts, axis=axis)


class StageTrackers:
    """The trackers of one training stage, started at ``step`` (0, or the step a resumed stage starts from).

    Args:
        names: tracker names (:func:`parse_log_with`).
        run_root: the run folder (TensorBoard writes to ``run_root/logs/tensorboard/<stage>``).
        stage: the stage's name (``lfae``, ``dm``, ``ae``).
        step: the first step this process trains; events of later steps left by an interrupted process are purged.
        config: the stage's settings, stored as the W&B run config.
    """

    def __init__(self, names: tuple[str, ...], run_root: Path, stage: str, step: int,
                 config: dict[str, Any] | None = None):
        from accelerate.tracking import TensorBoardTracker, WandBTracker

        check_available(names, stage)
        self.trackers: list[Any] = []
        self.log_dir = Path(run_root) / "logs" / "tensorboard"
        if "tensorboard" in names:
            kwargs = {"purge_step": step + 1} if step > 0 else {}
            self.trackers.append(TensorBoardTracker(stage, self.log_dir, **kwargs))
        if "wandb" in names:
            run_root = Path(run_root).resolve()
            self.trackers.append(WandBTracker(
                WANDB_PROJECT, name=f"{run_root.name}/{stage}", id=stable_hash([str(run_root), stage]),
                resume="allow", config=config or {}, dir=str(run_root / "logs")))
        for t in self.trackers:
            t.start()

    def log(self, row: dict[str, Any], step: int) -> None:
        """One CSV row (its ``step`` column is the step) as scalars."""
        values = {k: float(v) for k, v in row.items()
                  if k != "step" and isinstance(v, (int, float)) and not math.isnan(float(v))}
        for t in self.trackers:
            t.log(values, step=step)

    def log_preview(self, video: np.ndarray, step: int, tag: str = "preview") -> None:
        """A preview video ``[T, H, W, 3]`` uint8 as a frame strip (:func:`frame_strip`)."""
        strip = frame_strip(video)
        for t in self.trackers:
            if t.name == "tensorboard":
                t.log_images({tag: strip[None]}, step=step, dataformats="NHWC")
            else:
                t.log_images({tag: [strip]}, step=step)

    def close(self) -> None:
        for t in self.trackers:
            t.finish()
        self.trackers = []
