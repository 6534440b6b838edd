"""Detector features computed by several processes (``accelerate launch``, ``torchrun``), gathered so that every
statistic equals the one a single process computes on the same videos.

Each process takes a contiguous shard of the videos (:func:`shard`), extracts their features, then either

* :func:`gather_features`: every process receives all features ``[N, D]`` in the original video order, the exact
  array one process would hold (the features of a video do not depend on which process computed them); or
* :func:`gather_stats`: the processes' :class:`~metrics.fvd.FeatureStats` merged in rank order (only the
  sums travel: ``D + D*D`` float64 numbers per process; equal to the single-process statistics up to the order of
  float64 additions, ~1e-15 relative).

Never average per-process FVDs: FD is not linear in the statistics. With a single process (no process group)
every function returns its input.
"""

from __future__ import annotations

import numpy as np

from metrics.fvd import FeatureStats
from lfdm_bench.utils import dist

__all__ = ["shard", "gather_features", "gather_stats"]


def shard(n: int, rank: int | None = None, world: int | None = None) -> range:
    """Indices of the ``rank``-th of ``world`` contiguous shards of ``range(n)`` (sizes differ by at most one;
    the first ``n % world`` shards hold one more). Defaults: this process and the job's size."""
    rank = dist.rank() if rank is None else rank
    world = dist.world_size() if world is None else world
    if not 0 <= rank < world:
        raise ValueError(f"rank {rank} is outside a job of {world} processes")
    size, extra = divmod(n, world)
    start = rank * size + min(rank, extra)
    return range(start, start + size + (rank < extra))


def _all_gather(obj) -> list:
    """``obj`` of every process, in rank order (a pickled exchange: float64 arrays travel bit-exactly)."""
    if dist.world_size() < 2:
        return [obj]
    dist.ensure_process_group()
    import torch.distributed as tdist

    out: list = [None] * tdist.get_world_size()
    tdist.all_gather_object(out, obj)
    return out


def gather_features(local: np.ndarray) -> np.ndarray:
    """This process's features ``[n_r, D]`` (of the videos of :func:`shard`) -> all features ``[N, D]`` in video
    order, on every process."""
    local = np.asarray(local)
    if local.ndim != 2:
        raise ValueError(f"features must be [N, D], got shape {local.shape}")
    parts = _all_gather(local)
    dims = {p.shape[1] for p in parts}
    if len(dims) != 1:
        raise ValueError(f"processes hold features of different dimensions: {sorted(dims)}")
    return np.concatenate(parts, axis=0)


def gather_stats(local: FeatureStats) -> FeatureStats:
    """The statistics of all processes' features merged in rank order (a new object, the same on every process)."""
    state = None if local.dim is None else (local.n, local._sum, local._sum_outer)
    merged = FeatureStats()
    for part in _all_gather(state):
        if part is None:
            continue
        stats = FeatureStats(dim=part[1].shape[0])
        stats._n, stats._sum, stats._sum_outer = int(part[0]), part[1].copy(), part[2].copy()
        merged.merge(stats)
    return merged
