"""Group and subset helpers of the evaluation: class-stratified subsets, per-group FVD (cFVD per class, sFVD per
subject) and its summary, single-threaded BLAS around Fréchet distances."""

from __future__ import annotations

import contextlib
import warnings
from collections import defaultdict
from typing import Any, Hashable, Sequence

import numpy as np

from lfdm_bench.data.records import VideoRecord
from metrics.fvd import FeatureStats, SmallSampleWarning, fvd_from_stats

__all__ = ["select_subset", "single_thread_blas", "group_fvd", "summarise_groups"]


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
