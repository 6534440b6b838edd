"""Fréchet distance: against scipy's sqrtm formula, analytic values, pinned values and streaming."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.linalg

from metrics import FeatureStats, SmallSampleWarning, frechet_distance, fvd_from_features, fvd_from_stats


def scipy_fd(x: np.ndarray, y: np.ndarray, ddof: int = 1) -> float:
    """The textbook formula with scipy.linalg.sqrtm(S1 @ S2), written from scratch."""
    mu1, mu2 = x.mean(0), y.mean(0)
    s1, s2 = np.cov(x, rowvar=False, ddof=ddof), np.cov(y, rowvar=False, ddof=ddof)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


@pytest.fixture(scope="module")
def pinned_sets() -> tuple[np.ndarray, np.ndarray]:
    rs = np.random.RandomState(0)
    x = rs.randn(2048, 400)
    y = rs.randn(2048, 400) * 1.5 + 0.1
    return x, y


@pytest.mark.parametrize("ddof", [0, 1])
def test_matches_scipy_sqrtm(ddof):
    rng = np.random.default_rng(3)
    mix = rng.normal(size=(32, 32))
    x = rng.normal(size=(500, 32)) @ mix
    y = rng.normal(size=(400, 32)) @ (mix + 0.3 * rng.normal(size=(32, 32))) + 0.5
    expected = scipy_fd(x, y, ddof)
    assert fvd_from_features(x, y, ddof=ddof) == pytest.approx(expected, rel=1e-6)


def test_pinned_values(pinned_sets):
    x, y = pinned_sets
    assert fvd_from_features(x, y, ddof=1) == pytest.approx(162.461427, rel=1e-5)
    assert fvd_from_features(x, y, ddof=0) == pytest.approx(162.384221, rel=1e-5)


def test_identical_sets_give_zero(pinned_sets):
    x, _ = pinned_sets
    value = fvd_from_features(x, x)
    assert 0.0 <= value < 1e-8
    # a rank-deficient covariance (N < D) does not produce a negative value either
    with pytest.warns(SmallSampleWarning):
        small = fvd_from_features(x[:50], x[:50])
    assert 0.0 <= small < 1e-8


def test_analytic_gaussians():
    d = 400
    assert frechet_distance(np.zeros(d), np.eye(d), np.ones(d), 4 * np.eye(d)) == pytest.approx(800.0, rel=1e-12)
    # diagonal covariances: sum (m1 - m2)^2 + sum (sqrt(a) - sqrt(b))^2
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0.1, 3, d), rng.uniform(0.1, 3, d)
    m1, m2 = rng.normal(size=d), rng.normal(size=d)
    expected = ((m1 - m2) ** 2).sum() + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    assert frechet_distance(m1, np.diag(a), m2, np.diag(b)) == pytest.approx(expected, rel=1e-10)


def test_symmetric_and_shape_checks():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(300, 16)), rng.normal(size=(200, 16)) * 2
    assert fvd_from_features(x, y) == pytest.approx(fvd_from_features(y, x), rel=1e-10)
    with pytest.raises(ValueError, match=r"\[N_a, D\] and \[N_b, D\]"):
        fvd_from_features(x, y[:, :8])
    with pytest.raises(ValueError, match="sigma1"):
        frechet_distance(np.zeros(3), np.eye(4), np.zeros(3), np.eye(3))
    with pytest.raises(ValueError, match="NaN"):
        frechet_distance(np.zeros(2), np.array([[1.0, np.nan], [np.nan, 1.0]]), np.zeros(2), np.eye(2))


@pytest.mark.parametrize("ddof", [0, 1])
def test_streaming_and_merge_equal_one_shot(ddof, tmp_path):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(700, 24)) * 3 + 5
    y = rng.normal(size=(650, 24))
    one_shot = FeatureStats().update(x)
    assert np.allclose(one_shot.mean(), x.mean(0), rtol=1e-12, atol=1e-12)
    assert np.allclose(one_shot.cov(ddof), np.cov(x, rowvar=False, ddof=ddof), rtol=1e-9, atol=1e-10)
    # batches of uneven size, split across two "processes", merged, saved and reloaded
    shard1, shard2 = FeatureStats(dim=24), FeatureStats()
    for start, stop in [(0, 1), (1, 100), (100, 333)]:
        shard1.update(x[start:stop])
    shard2.update(x[333:]).update(x[:0])
    merged = FeatureStats().merge(shard1).merge(shard2)
    assert merged.n == 700
    merged.save(tmp_path / "stats.npz")
    loaded = FeatureStats.load(tmp_path / "stats.npz")
    assert loaded.n == 700 and loaded.dim == 24
    stats_y = FeatureStats().update(y)
    expected = fvd_from_features(x, y, ddof=ddof)
    assert fvd_from_stats(loaded, stats_y, ddof=ddof) == pytest.approx(expected, rel=1e-10)
    assert fvd_from_stats(merged, stats_y, ddof=ddof) == pytest.approx(expected, rel=1e-10)


def test_feature_stats_errors(tmp_path):
    stats = FeatureStats()
    with pytest.raises(ValueError, match="no samples"):
        stats.mean()
    stats.update(np.ones((1, 4)))
    with pytest.raises(ValueError, match="at least 2 samples"):
        stats.cov(ddof=1)
    assert np.array_equal(stats.cov(ddof=0), np.zeros((4, 4)))
    with pytest.raises(ValueError, match="D=5"):
        stats.update(np.ones((2, 5)))
    with pytest.raises(ValueError, match="2-D"):
        stats.update(np.ones(4))
    with pytest.raises(ValueError, match="NaN"):
        stats.update(np.full((1, 4), np.nan))
    stats.reset()
    assert stats.n == 0 and stats.dim == 4
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match="not a FeatureStats file"):
        FeatureStats.load(tmp_path / "other.npz")


def test_warning_when_fewer_samples_than_dims():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(30, 40)), rng.normal(size=(60, 40))
    with pytest.warns(SmallSampleWarning, match="N=30 samples for D=40"):
        fvd_from_features(x, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fvd_from_features(rng.normal(size=(41, 40)), rng.normal(size=(41, 40)))
