"""Kernel Video Distance (KVD) as reported by TATS: unbiased MMD^2 with a cubic polynomial kernel.

k(x, y) = (gamma * <x, y> + coef0) ** degree with degree 3, gamma = 1 / D, coef0 = 1 (the KID kernel of
Binkowski et al. 2018), on I3D features. The unbiased estimator for X [m, D], Y [n, D]::

    MMD^2 = sum_{i != j} k(x_i, x_j) / (m (m - 1)) + sum_{i != j} k(y_i, y_j) / (n (n - 1))
            - 2 * sum_{i, j} k(x_i, y_j) / (m n)

It can be negative for close distributions (it is unbiased, not clamped). Optionally it is averaged over
random subsets, as in the KID reference code (``subset_size`` draws without replacement inside a subset).
Values are raw MMD^2 (some papers report them multiplied by 1000; say which when comparing).
"""

from __future__ import annotations

import numpy as np

__all__ = ["polynomial_kernel", "mmd2_unbiased", "kvd_subsets", "kvd_from_features"]


def polynomial_kernel(
    x: np.ndarray, y: np.ndarray, degree: int = 3, gamma: float | None = None, coef0: float = 1.0
) -> np.ndarray:
    """Kernel matrix [m, n] of (gamma <x_i, y_j> + coef0) ** degree, float64; gamma defaults to 1 / D."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if gamma is None:
        gamma = 1.0 / x.shape[1]
    return (gamma * (x @ y.T) + coef0) ** degree


def mmd2_unbiased(k_xx: np.ndarray, k_yy: np.ndarray, k_xy: np.ndarray) -> float:
    """Unbiased MMD^2 from kernel matrices K_XX [m, m], K_YY [n, n], K_XY [m, n] (needs m, n >= 2)."""
    m, n = k_xx.shape[0], k_yy.shape[0]
    if m < 2 or n < 2:
        raise ValueError(f"unbiased MMD^2 needs at least 2 samples per set, got {m} and {n}")
    sum_xx = k_xx.sum() - np.trace(k_xx)
    sum_yy = k_yy.sum() - np.trace(k_yy)
    return float(sum_xx / (m * (m - 1)) + sum_yy / (n * (n - 1)) - 2.0 * k_xy.sum() / (m * n))


def _check(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"expected features [N_a, D] and [N_b, D], got {a.shape} and {b.shape}")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("features contain NaN or inf")
    return a, b


def _mmd2(a: np.ndarray, b: np.ndarray, degree: int, gamma: float | None, coef0: float) -> float:
    kw = dict(degree=degree, gamma=gamma, coef0=coef0)
    return mmd2_unbiased(polynomial_kernel(a, a, **kw), polynomial_kernel(b, b, **kw), polynomial_kernel(a, b, **kw))


def kvd_subsets(
    feats_a: np.ndarray,
    feats_b: np.ndarray,
    subset_size: int,
    n_subsets: int = 100,
    seed: int = 0,
    degree: int = 3,
    gamma: float | None = None,
    coef0: float = 1.0,
) -> np.ndarray:
    """Unbiased MMD^2 on ``n_subsets`` random subsets of ``subset_size`` rows from each set: float64 [n_subsets].

    Subset rows are drawn without replacement (``numpy.random.RandomState(seed)``), subsets independently.
    """
    a, b = _check(feats_a, feats_b)
    if subset_size < 2 or subset_size > min(len(a), len(b)):
        raise ValueError(f"subset_size must be in [2, min(N_a, N_b) = {min(len(a), len(b))}], got {subset_size}")
    if n_subsets < 1:
        raise ValueError(f"n_subsets must be >= 1, got {n_subsets}")
    rng = np.random.RandomState(seed)
    out = np.empty(n_subsets, dtype=np.float64)
    for i in range(n_subsets):
        ia = rng.choice(len(a), subset_size, replace=False)
        ib = rng.choice(len(b), subset_size, replace=False)
        out[i] = _mmd2(a[ia], b[ib], degree, gamma, coef0)
    return out


def kvd_from_features(
    feats_a: np.ndarray,
    feats_b: np.ndarray,
    *,
    subset_size: int | None = None,
    n_subsets: int = 100,
    seed: int = 0,
    degree: int = 3,
    gamma: float | None = None,
    coef0: float = 1.0,
) -> float:
    """KVD between features [N_a, D] and [N_b, D]: unbiased polynomial-kernel MMD^2.

    With ``subset_size=None`` (default) the estimator uses all samples of both sets; otherwise it is the
    mean of :func:`kvd_subsets` (use that function for the spread).
    """
    a, b = _check(feats_a, feats_b)
    if subset_size is None:
        return _mmd2(a, b, degree, gamma, coef0)
    return float(kvd_subsets(a, b, subset_size, n_subsets, seed, degree, gamma, coef0).mean())
