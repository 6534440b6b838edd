"""KVD (unbiased polynomial-kernel MMD^2) against a direct double loop."""

from __future__ import annotations

import numpy as np
import pytest

from metrics import kvd_from_features, kvd_subsets, mmd2_unbiased, polynomial_kernel


def direct_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Element-by-element unbiased MMD^2 with k(a, b) = (a.b / d + 1)^3."""
    d = x.shape[1]

    def k(a, b):
        return (float(np.dot(a, b)) / d + 1.0) ** 3

    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_matches_direct_computation():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 12))
    y = rng.normal(size=(30, 12)) * 1.3 + 0.2
    assert kvd_from_features(x, y) == pytest.approx(direct_mmd2(x, y), rel=1e-10)


def test_kernel_defaults_and_identity():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(5, 8))
    k = polynomial_kernel(x, x)
    assert k[1, 3] == pytest.approx((x[1] @ x[3] / 8 + 1) ** 3)
    assert polynomial_kernel(x, x, degree=1, gamma=1.0, coef0=0.0) == pytest.approx(x @ x.T)
    # identical sets: the unbiased estimator is negative (the diagonal terms are excluded from XX, YY only)
    assert kvd_from_features(x, x) < 0
    off_diagonal = k.sum() - np.trace(k)
    expected = 2 * off_diagonal / (5 * 4) - 2 * k.sum() / (5 * 5)
    assert mmd2_unbiased(k, k, k) == pytest.approx(expected)


def test_separates_distributions():
    rng = np.random.default_rng(2)
    x, x2 = rng.normal(size=(200, 16)), rng.normal(size=(200, 16))
    y = rng.normal(size=(200, 16)) + 1.0
    same, different = kvd_from_features(x, x2), kvd_from_features(x, y)
    assert abs(same) < 0.05 < different


def test_subsets():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(60, 10)), rng.normal(size=(50, 10)) + 0.5
    values = kvd_subsets(x, y, subset_size=20, n_subsets=5, seed=7)
    assert values.shape == (5,)
    r = np.random.RandomState(7)
    ia, ib = r.choice(60, 20, replace=False), r.choice(50, 20, replace=False)
    assert values[0] == pytest.approx(direct_mmd2(x[ia], y[ib]), rel=1e-10)
    assert kvd_from_features(x, y, subset_size=20, n_subsets=5, seed=7) == pytest.approx(values.mean())
    with pytest.raises(ValueError, match="subset_size"):
        kvd_subsets(x, y, subset_size=51)
    with pytest.raises(ValueError, match=r"\[N_a, D\]"):
        kvd_from_features(x, y[:, :3])
    with pytest.raises(ValueError, match="at least 2 samples"):
        kvd_from_features(x[:1], y)
