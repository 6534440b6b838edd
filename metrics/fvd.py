"""Fréchet distance between feature sets (FVD when the features are I3D logits).

FD = ||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1^1/2 S2 S1^1/2)^1/2), computed in float64 through
eigendecompositions of symmetric matrices (stable; ``scipy.linalg.sqrtm(S1 @ S2)`` is not and has produced
negative FVDs on identical sets).

Covariance normalisation is explicit everywhere: ``ddof=1`` divides by N - 1 (TF-GAN, VideoGPT, TATS,
torchmetrics), ``ddof=0`` by N (StyleGAN-V, cd-fvd). Results on several processes equal one process when
their :class:`FeatureStats` are merged (never average per-process FVDs).
"""

from __future__ import annotations

import os
import warnings

import numpy as np

from lfdm_bench.utils.io import atomic_save

__all__ = [
    "SmallSampleWarning",
    "FeatureStats",
    "frechet_distance",
    "fvd_from_features",
    "fvd_from_stats",
]


class SmallSampleWarning(UserWarning):
    """Fewer samples than feature dimensions: the covariance is rank-deficient and FVD is biased upwards."""


def _warn_if_small(n: int, dim: int, which: str) -> None:
    if n < dim:
        warnings.warn(
            f"{which} has N={n} samples for D={dim} feature dimensions (N < D): its covariance is "
            "rank-deficient, so FVD is biased upwards and unstable. Use at least a few hundred videos "
            "per set (the standard protocol uses 2048).",
            SmallSampleWarning,
            stacklevel=3,
        )


class FeatureStats:
    """Streaming float64 first and second moments of features [N, D].

    Keeps N, the sum [D] and the sum of outer products [D, D]; ``update`` with batches, ``merge`` results
    from other batches or processes, then read ``mean()`` and ``cov(ddof)``. Saved as ``.npz``.

    Args:
        dim: feature dimension D; inferred from the first ``update`` when None.
    """

    def __init__(self, dim: int | None = None) -> None:
        self.dim: int | None = None
        self._n = 0
        self._sum = np.zeros(0)
        self._sum_outer = np.zeros((0, 0))
        if dim is not None:
            self._allocate(int(dim))

    def _allocate(self, dim: int) -> None:
        if dim < 1:
            raise ValueError(f"feature dimension must be >= 1, got {dim}")
        self.dim = dim
        self._sum = np.zeros(dim, dtype=np.float64)
        self._sum_outer = np.zeros((dim, dim), dtype=np.float64)

    @property
    def n(self) -> int:
        """Number of samples accumulated."""
        return self._n

    def reset(self) -> None:
        """Forget all samples (keeps D)."""
        self._n = 0
        if self.dim is not None:
            self._allocate(self.dim)

    def update(self, features: np.ndarray) -> FeatureStats:
        """Add a batch of features [N, D] (any real dtype; accumulated in float64). Returns self."""
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2:
            raise ValueError(f"features must be 2-D [N, D], got shape {x.shape}")
        if self.dim is None:
            self._allocate(x.shape[1])
        if x.shape[1] != self.dim:
            raise ValueError(f"features have D={x.shape[1]}, but these statistics hold D={self.dim}")
        if not np.all(np.isfinite(x)):
            raise ValueError("features contain NaN or inf; check the detector input")
        self._n += x.shape[0]
        self._sum += x.sum(axis=0)
        self._sum_outer += x.T @ x
        return self

    def merge(self, other: FeatureStats) -> FeatureStats:
        """Add the samples of ``other`` (another batch, shard or process) into self. Returns self."""
        if other.dim is None:
            return self
        if self.dim is None:
            self._allocate(other.dim)
        if other.dim != self.dim:
            raise ValueError(f"cannot merge statistics of D={other.dim} into D={self.dim}")
        self._n += other._n
        self._sum += other._sum
        self._sum_outer += other._sum_outer
        return self

    def mean(self) -> np.ndarray:
        """Mean [D], float64."""
        if self._n < 1:
            raise ValueError("no samples accumulated; call update() first")
        return self._sum / self._n

    def cov(self, ddof: int = 1) -> np.ndarray:
        """Covariance [D, D], float64, divided by N - ddof (ddof=1: unbiased; ddof=0: StyleGAN-V)."""
        if ddof not in (0, 1):
            raise ValueError(f"ddof must be 0 (divide by N) or 1 (divide by N - 1), got {ddof}")
        if self._n - ddof < 1:
            raise ValueError(f"covariance with ddof={ddof} needs at least {ddof + 1} samples, have {self._n}")
        mu = self.mean()
        c = (self._sum_outer - self._n * np.outer(mu, mu)) / (self._n - ddof)
        return (c + c.T) / 2.0

    @classmethod
    def from_sums(cls, n: int, total: np.ndarray, outer: np.ndarray) -> FeatureStats:
        """Statistics from their parts: N, the sum of the features [D] and the sum of their outer products [D, D]
        (as kept by :meth:`update`, e.g. summed across processes by torchmetrics)."""
        total, outer = np.asarray(total, np.float64), np.asarray(outer, np.float64)
        d = total.shape[0] if total.ndim == 1 else -1
        if total.ndim != 1 or outer.shape != (d, d) or int(n) < 0:
            raise ValueError(f"expected n >= 0, a sum [D] and a sum of outer products [D, D]; got n={n}, "
                             f"{total.shape}, {outer.shape}")
        stats = cls(dim=d)
        stats._n, stats._sum, stats._sum_outer = int(n), total.copy(), outer.copy()
        return stats

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write to ``path`` (.npz) atomically (temporary file in the same folder, then rename)."""
        if self.dim is None:
            raise ValueError("cannot save empty statistics (no dimension yet)")
        def write(tmp: str) -> None:
            with open(tmp, "wb") as f:
                np.savez(f, n=np.int64(self._n), sum=self._sum, sum_outer=self._sum_outer)

        atomic_save(path, write)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> FeatureStats:
        """Read statistics written by :meth:`save`."""
        with np.load(path) as data:
            missing = {"n", "sum", "sum_outer"} - set(data.files)
            if missing:
                raise ValueError(f"{path} is not a FeatureStats file (missing {sorted(missing)})")
            stats = cls(dim=int(data["sum"].shape[0]))
            stats._n = int(data["n"])
            stats._sum = data["sum"].astype(np.float64)
            stats._sum_outer = data["sum_outer"].astype(np.float64)
        return stats

    def __repr__(self) -> str:
        return f"FeatureStats(n={self._n}, dim={self.dim})"


def _psd_sqrt(sigma: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric PSD matrix; tiny negative eigenvalues are clamped to 0."""
    w, v = np.linalg.eigh(sigma)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2), float64, clamped to >= 0.

    Args:
        mu1, mu2: means [D].
        sigma1, sigma2: symmetric PSD covariances [D, D].

    tr((S1^1/2 S2 S1^1/2)^1/2) is the sum of the square roots of the (clamped) eigenvalues of the
    symmetric matrix S1^1/2 S2 S1^1/2, which equals tr((S1 S2)^1/2).
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    d = mu1.shape[0] if mu1.ndim == 1 else -1
    if mu1.ndim != 1 or mu2.shape != (d,) or s1.shape != (d, d) or s2.shape != (d, d):
        raise ValueError(
            f"expected mu1, mu2 of shape [D] and sigma1, sigma2 of shape [D, D]; got {mu1.shape}, "
            f"{mu2.shape}, {s1.shape}, {s2.shape}"
        )
    for name, a in (("mu1", mu1), ("mu2", mu2), ("sigma1", s1), ("sigma2", s2)):
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} contains NaN or inf")
    s1, s2 = (s1 + s1.T) / 2.0, (s2 + s2.T) / 2.0
    root1 = _psd_sqrt(s1)
    m = root1 @ s2 @ root1
    w = np.linalg.eigvalsh((m + m.T) / 2.0)
    tr_covmean = float(np.sqrt(np.clip(w, 0.0, None)).sum())
    diff = mu1 - mu2
    fd = float(diff @ diff) + float(np.trace(s1)) + float(np.trace(s2)) - 2.0 * tr_covmean
    return max(fd, 0.0)


def fvd_from_stats(stats_a: FeatureStats, stats_b: FeatureStats, ddof: int = 1) -> float:
    """FD between two accumulated feature sets; warns (SmallSampleWarning) when a set has N < D."""
    if stats_a.dim != stats_b.dim:
        raise ValueError(f"feature dimensions differ: {stats_a.dim} vs {stats_b.dim}")
    for which, s in (("set A", stats_a), ("set B", stats_b)):
        if s.dim is not None:
            _warn_if_small(s.n, s.dim, which)
    return frechet_distance(stats_a.mean(), stats_a.cov(ddof), stats_b.mean(), stats_b.cov(ddof))


def fvd_from_features(feats_a: np.ndarray, feats_b: np.ndarray, ddof: int = 1) -> float:
    """FD between feature arrays [N_a, D] and [N_b, D] (float64 internally; ddof as in :meth:`FeatureStats.cov`)."""
    a, b = np.asarray(feats_a), np.asarray(feats_b)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"expected features [N_a, D] and [N_b, D], got {a.shape} and {b.shape}")
    return fvd_from_stats(FeatureStats().update(a), FeatureStats().update(b), ddof=ddof)
