"""Linear probes: fit separable classes, stay at chance on random labels, motion features, accuracy in evaluate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lfdm_bench.data.registry import get_dataset
from metrics.probe import LinearProbe, feature_scale, motion_features, motion_source, probe_accuracy
from metrics.evaluate import evaluate
from metrics.protocol import EvalProtocol
from helpers import make_tiny_dataset, tiny_detector


def blobs(n_per_class: int, k: int, d: int, sep: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.RandomState(seed)
    centres = rng.randn(k, d) * sep
    y = np.repeat(np.arange(k), n_per_class)
    return centres[y] + rng.randn(len(y), d), y


def test_probe_separates_separable_classes() -> None:
    x, y = blobs(30, 4, 20, sep=2.0, seed=0)
    xt, yt = blobs(30, 4, 20, sep=2.0, seed=0)  # same centres (same seed), fresh...
    xt = xt + np.random.RandomState(1).randn(*xt.shape) * 0.5  # ...with extra noise
    probe = LinearProbe(n_classes=4).fit(x, y)
    assert probe.accuracy(x, y) == 1.0
    assert probe.accuracy(xt, yt) > 0.9
    p = probe.predict_proba(xt)
    assert p.shape == (120, 4) and np.allclose(p.sum(1), 1.0)
    # scaling the features does not matter (standardised inside)
    assert LinearProbe(n_classes=4).fit(x * 1000 + 5, y).accuracy(xt * 1000 + 5, yt) == probe.accuracy(xt, yt)


def test_probe_at_chance_on_random_labels() -> None:
    rng = np.random.RandomState(0)
    accs = []
    for seed in range(5):
        x, y = rng.randn(200, 10), np.random.RandomState(seed).randint(0, 4, 200)
        xt, yt = rng.randn(2000, 10), np.random.RandomState(100 + seed).randint(0, 4, 2000)
        accs.append(LinearProbe(n_classes=4).fit(x, y).accuracy(xt, yt))
    assert abs(np.mean(accs) - 0.25) < 0.03


def test_probe_errors() -> None:
    with pytest.raises(ValueError, match="at least 2 classes"):
        LinearProbe(n_classes=1)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\]"):
        LinearProbe(n_classes=3).fit(np.zeros((4, 2)), np.array([0, 1, 2, 3]))
    with pytest.raises(RuntimeError, match="not fitted"):
        LinearProbe(n_classes=3).predict(np.zeros((2, 2)))
    out = probe_accuracy(blobs(10, 3, 5, 3.0, 0), {"held": blobs(10, 3, 5, 3.0, 0)}, n_classes=3)
    assert out["chance"] == pytest.approx(1 / 3) and out["held"]["n"] == 30 and out["train_fit"] == 1.0


def test_motion_features_shape_and_static_video() -> None:
    v = torch.randint(0, 256, (2, 9, 3, 16, 16), dtype=torch.uint8)
    f = motion_features(v, grid=4)
    assert f.shape == (2, 8 * 3 * 16) and f.dtype == torch.float64
    static = v[:, :1].expand(2, 9, 3, 16, 16)
    assert motion_features(static).abs().max() == 0
    assert motion_features(v).shape == (2, 8 * 3 * 64) and (motion_features(v) >= 0).all()
    assert motion_source().info.name == "motion-absdiff-grid8"
    with pytest.raises(ValueError, match=r"\[B, T, 3, H, W\]"):
        motion_features(v[0])


@pytest.mark.e2e  # a whole command / evaluation / dataset build or a subprocess: the full suite runs it
def test_accuracy_in_evaluate(tmp_path: Path) -> None:
    from metrics.distortions import Distortion
    from metrics.sanity import write_real_samples

    tiny = get_dataset(str(make_tiny_dataset(tmp_path / "data", takes=3)))
    write_real_samples(tiny, tmp_path / "real", split="test", n_frames=10)
    write_real_samples(tiny, tmp_path / "frozen", split="test", n_frames=10, distortion=Distortion("freeze", 1.0))
    protocol = EvalProtocol(dataset=tiny.name, split="test", n_frames=10)
    res = evaluate(protocol, tmp_path / "real", ["acc"], dataset=tiny, detector=tiny_detector(), cache=None)
    motion = res.values["acc"]["probe-motion"]
    assert motion["chance"] == pytest.approx(1 / 3)
    assert motion["real_test"]["accuracy"] >= 0.8  # 2 training subjects only: not always perfect
    assert motion["generated"]["test"]["accuracy"] == motion["real_test"]["accuracy"]  # samples = real clips
    assert motion["generated"]["test"]["n"] == 18 and motion["n_train"] == 18
    assert res.values["acc"]["probe-i3d"]["real_test"]["accuracy"] > 1 / 3
    frozen = evaluate(protocol, tmp_path / "frozen", ["acc"], dataset=tiny, detector=tiny_detector(), cache=None)
    # a frozen video shows no motion: the motion probe can no longer tell the requested class
    assert frozen.values["acc"]["probe-motion"]["generated"]["test"]["accuracy"] < 0.5


def test_probe_is_not_swayed_by_noise_on_features_that_never_vary():
    """Features almost constant on real videos (never-moving borders) must not be amplified into deciding the
    prediction: tiny noise there (1e-4, far below the informative features' spread) leaves predictions unchanged."""
    rng = np.random.default_rng(0)
    n, k = 140, 7
    y = np.arange(n) % k
    centres = rng.normal(size=(k, 20))
    informative = centres[y] + 0.3 * rng.normal(size=(n, 20))
    dead = 1e-7 * rng.normal(size=(n, 30))  # e.g. image borders
    x = np.concatenate([informative, dead], axis=1)
    probe = LinearProbe(n_classes=k).fit(x, y)
    test_y = np.arange(70) % k
    test = np.concatenate([centres[test_y] + 0.3 * rng.normal(size=(70, 20)), np.zeros((70, 30))], axis=1)
    clean = probe.predict(test)
    assert (clean == test_y).mean() > 0.9
    noisy = test.copy()
    noisy[:, 20:] += 1e-4 * rng.normal(size=(70, 30))
    assert (probe.predict(noisy) == clean).mean() > 0.95


def test_feature_scale_floors_at_the_rms_std():
    """No feature is divided by less than the root-mean-square std of all features; constant input gives 1."""
    x = np.stack([np.arange(10.0), 2 * np.arange(10.0), 3 * np.arange(10.0), np.full(10, 5.0)], 1)
    s = np.arange(10.0).std()
    rms = s * np.sqrt((1 + 4 + 9 + 0) / 4)
    np.testing.assert_allclose(feature_scale(x), [rms, 2 * s, 3 * s, rms])
    np.testing.assert_allclose(feature_scale(np.ones((5, 3))), [1.0, 1.0, 1.0])


def test_fitted_probe_is_fitted_once_per_data(monkeypatch):
    from metrics import probe as probe_module

    monkeypatch.setattr(probe_module, "_FITTED", type(probe_module._FITTED)())
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(60, 4)), np.repeat(np.arange(3), 20)
    fits = []
    real_fit = LinearProbe.fit
    monkeypatch.setattr(LinearProbe, "fit", lambda self, *a: fits.append(1) or real_fit(self, *a))
    first = probe_module.fitted_probe((x, y), 3)
    assert probe_module.fitted_probe((x.copy(), y.copy()), 3) is first and len(fits) == 1  # same data: reused
    fresh = LinearProbe(n_classes=3).fit(x, y)  # what a fit of its own gives
    assert np.array_equal(first.weight_, fresh.weight_) and np.array_equal(first.bias_, fresh.bias_)
    x2 = x.copy()
    x2[0, 0] += 1e-9
    assert probe_module.fitted_probe((x2, y), 3) is not first  # one value changed: fitted again
    assert probe_module.fitted_probe((x, y), 3, l2=0.1) is not first  # other settings: fitted again
    assert len(fits) == 4  # incl. the fit of its own
