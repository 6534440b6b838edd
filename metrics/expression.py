"""Expression strength: how much of the real *appearance* change of the requested class a generated video shows.

The class-accuracy probe of :mod:`metrics.probe` (``probe-motion``) and the motion amplitude ("motion x real",
:mod:`metrics.motion_stats`) look at ``|frame t - frame 0|``: *where and how much* the video moves. A small warp of
the neutral face in the right direction satisfies both, while the real takes of an expression show new content (the
mouth opens dark red, the cheeks redden). This module measures that content.

Features (:func:`expression_features`): the SIGNED change of the late frames, ``mean of the last k = max(1, T // 4)
frames - frame 0``, average-pooled to a coarse ``grid x grid`` map per colour channel (8x8 by default). Pooling a
signed change cancels the ``+`` / ``-`` edge pairs a warp leaves (a shifted edge brightens on one side and darkens on
the other), whereas new colour (a dark open mouth, a blush) survives it.

Score (:func:`expression_change`): per generated video ``r = <d, D> / <D, D>``, the projection of its change ``d`` on
the mean change ``D`` of the REAL videos of the same (subject, class) pair: 1 = as much of the real change of the
requested class as the real takes show on average for that subject, 0 = none (a static video scores exactly 0; a
warp without new colour scores near 0). Per class: the mean over its videos; classes whose real change has almost no
energy (``neutral``) have nothing to measure and get no value. Real fresh takes are the ceiling (~1 per class).

The same features also feed a third class-accuracy probe, ``probe-expression`` (:func:`metrics.evaluate.evaluate`):
a linear probe trained on the change images of real training-subject videos.
"""

from __future__ import annotations

from typing import Any, Hashable, Sequence

import numpy as np
import torch.nn.functional as F
from torch import Tensor

from metrics.probe import videos_in_unit_range
from metrics.video_features import FunctionDetector

__all__ = ["EXPRESSION_GRID", "DEFINITION", "expression_features", "expression_source", "expression_change"]

EXPRESSION_GRID = 8
DEFINITION = ("r = <d, D> / <D, D>: d = mean of the last max(1, T // 4) frames minus frame 0 (signed, per channel), "
              "average-pooled {grid}x{grid}; D = the mean d of the real videos of the same (subject, class); per "
              "class the mean r (1 = the real takes' change, 0 = none)")


def expression_features(videos: Tensor, grid: int = EXPRESSION_GRID) -> Tensor:
    """Signed late-frame change: float64 ``[B, 3 * grid * grid]``.

    ``videos`` [B, T, 3, H, W] (uint8, read as ``/ 255``, or float in [0, 1]); ``late - frame 0`` with ``late`` the
    mean of the last ``k = max(1, T // 4)`` frames, average-pooled to ``grid x grid`` per channel
    (``F.adaptive_avg_pool2d``), flattened in (channel, row, column) order. A static video gives zeros.
    """
    x = videos_in_unit_range(videos, "expression_features")
    b, t = x.shape[:2]
    k = max(1, t // 4)
    change = x[:, -k:].mean(dim=1) - x[:, 0]  # [B, 3, H, W]
    return F.adaptive_avg_pool2d(change, grid).reshape(b, -1)


def expression_source(grid: int = EXPRESSION_GRID) -> FunctionDetector:
    """:func:`expression_features` as a feature source (named ``expression-change-grid<grid>``; part of cache
    keys)."""
    return FunctionDetector(lambda v: expression_features(v, grid), name=f"expression-change-grid{grid}",
                            version="1")


def expression_change(gen_feats: np.ndarray, gen_keys: Sequence[tuple[Hashable, int]], real_feats: np.ndarray,
                      real_keys: Sequence[tuple[Hashable, int]], class_names: Sequence[str],
                      min_energy_fraction: float = 0.1, grid: int = EXPRESSION_GRID) -> dict[str, Any]:
    """Expression change of generated videos as a fraction of the real change of their (subject, class) pair.

    Args:
        gen_feats / real_feats: :func:`expression_features` of the generated [N, D] and the real [M, D] videos.
        gen_keys / real_keys: ``(subject, class_index)`` of every video.
        class_names: names of the class indices.
        min_energy_fraction: a class whose mean real per-pair energy ``<D, D>`` is below this fraction of the median
            of the class energies shows no change to measure (``neutral``): its ratio is None, with the reason.
        grid: the features' grid (recorded only).

    Per generated video ``r = <d, D> / <D, D>`` with ``D`` the mean real feature of its pair; a video whose pair has
    no real video is counted in ``n_without_reference`` and left out, one whose pair's real change is exactly zero
    has no r (counted in its class's ``n_flat_reference`` when the class is measured). Per class:
    ``ratio`` = mean r, ``se`` = the standard deviation over subjects of the subject means of r (ddof 1) divided by
    sqrt(number of subjects) (None for one subject), ``n`` videos, ``energy`` = mean ``<D, D>`` over the class's real
    pairs.

    Returns:
        ``{"per_class": {name: {"ratio", "se", "n", "energy"} or {"ratio": None, "why", ...}}, "mean": mean ratio
        over the measured classes, "min", "min_class", "n_videos" (generated videos with a reference),
        "n_without_reference", "grid", "definition"}`` (``mean`` / ``min`` / ``min_class`` None without a measured
        class).
    """
    gen = np.asarray(gen_feats, dtype=np.float64)
    real = np.asarray(real_feats, dtype=np.float64)
    if gen.ndim != 2 or real.ndim != 2 or (len(real) and len(gen) and gen.shape[1] != real.shape[1]):
        raise ValueError(f"expected features [N, D] and [M, D] of one D, got {gen.shape} and {real.shape}")
    if len(gen_keys) != len(gen) or len(real_keys) != len(real):
        raise ValueError(f"{len(gen_keys)} generated keys for {len(gen)} videos, {len(real_keys)} real keys for "
                         f"{len(real)} videos")
    pairs: dict[tuple[Hashable, int], list[int]] = {}
    for i, (subject, c) in enumerate(real_keys):
        pairs.setdefault((subject, int(c)), []).append(i)
    ref = {k: real[rows].mean(axis=0) for k, rows in pairs.items()}
    pair_energy = {k: float(d @ d) for k, d in ref.items()}
    class_energy: dict[int, float] = {}
    for c in sorted({c for _, c in ref}):
        class_energy[c] = float(np.mean([e for (_, cc), e in pair_energy.items() if cc == c]))
    median = float(np.median(list(class_energy.values()))) if class_energy else 0.0

    ratios: dict[int, dict[Hashable, list[float]]] = {}  # class -> subject -> r of its videos
    n_without = 0
    n_flat: dict[int, int] = {}  # class -> videos whose pair's real change is exactly zero (no r)
    for i, (subject, c) in enumerate(gen_keys):
        key = (subject, int(c))
        if key not in ref:
            n_without += 1
            continue
        if pair_energy[key] <= 0:
            n_flat[int(c)] = n_flat.get(int(c), 0) + 1
            continue
        ratios.setdefault(int(c), {}).setdefault(subject, []).append(float(gen[i] @ ref[key] / pair_energy[key]))

    per_class: dict[str, Any] = {}
    for c in sorted(set(class_energy) | set(ratios)):
        name = class_names[c] if 0 <= c < len(class_names) else str(c)
        energy = class_energy.get(c)
        if energy is not None and energy < min_energy_fraction * median:
            per_class[name] = {"ratio": None, "energy": energy,
                               "n": sum(len(rs) for rs in ratios.get(c, {}).values()) + n_flat.get(c, 0),
                               "why": f"no expression change to measure: the real videos' mean change energy "
                                      f"{energy:.3g} is below {min_energy_fraction:g} x the median over classes "
                                      f"({median:.3g})"}
            continue
        by_subject = ratios.get(c)
        if not by_subject:
            per_class[name] = {"ratio": None, "energy": energy,
                               "why": "no generated video of this class has real videos of its (subject, class) pair"}
            continue
        values = [r for rs in by_subject.values() for r in rs]
        means = [float(np.mean(rs)) for rs in by_subject.values()]
        se = float(np.std(means, ddof=1) / np.sqrt(len(means))) if len(means) > 1 else None
        per_class[name] = {"ratio": float(np.mean(values)), "se": se, "n": len(values), "energy": energy}
        if n_flat.get(c):
            per_class[name]["n_flat_reference"] = n_flat[c]
    measured = {k: v["ratio"] for k, v in per_class.items() if v["ratio"] is not None}
    worst = min(measured, key=measured.get) if measured else None
    return {"per_class": per_class, "mean": float(np.mean(list(measured.values()))) if measured else None,
            "min": measured[worst] if worst is not None else None, "min_class": worst,
            "n_videos": len(gen) - n_without,
            "n_without_reference": n_without, "grid": grid, "definition": DEFINITION.format(grid=grid)}
