"""Per-frame PSNR/SSIM against an independent per-image numpy + scipy.ndimage computation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from metrics import frame_metrics, psnr_frames, ssim_frames


def ssim_image(x: np.ndarray, y: np.ndarray) -> float:
    """SSIM of one RGB image [3, H, W] in [0, 1]: scipy Gaussian (sigma 1.5, radius 5), border cropped."""
    c1, c2 = 0.01**2, 0.03**2
    scores = []
    for a, b in zip(x.astype(np.float64), y.astype(np.float64)):
        def blur(z):
            return gaussian_filter(z, sigma=1.5, truncate=3.5)[5:-5, 5:-5]  # radius int(3.5*1.5+0.5)=5

        ma, mb = blur(a), blur(b)
        va, vb, cab = blur(a * a) - ma**2, blur(b * b) - mb**2, blur(a * b) - ma * mb
        s = ((2 * ma * mb + c1) * (2 * cab + c2)) / ((ma**2 + mb**2 + c1) * (va + vb + c2))
        scores.append(s.mean())
    return float(np.mean(scores))


def psnr_image(x: np.ndarray, y: np.ndarray) -> float:
    mse = np.mean((x.astype(np.float64) - y.astype(np.float64)) ** 2)
    return float(10 * np.log10(1.0 / mse))


@pytest.fixture(scope="module")
def videos() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    target = rng.uniform(size=(2, 3, 3, 24, 20)).astype(np.float32)  # [B, T, 3, H, W]
    pred = np.clip(target + rng.normal(scale=0.1, size=target.shape), 0, 1).astype(np.float32)
    return pred, target


def test_against_per_image_reference(videos):
    pred, target = videos
    result = frame_metrics(torch.from_numpy(pred), torch.from_numpy(target), chunk_frames=4)
    assert result.psnr.shape == result.ssim.shape == (2, 3)
    for b in range(2):
        for t in range(3):
            assert result.psnr[b, t] == pytest.approx(psnr_image(pred[b, t], target[b, t]), rel=1e-9)
            assert result.ssim[b, t] == pytest.approx(ssim_image(pred[b, t], target[b, t]), rel=1e-9)
    assert result.psnr_mean == pytest.approx(result.psnr.mean())
    assert result.ssim_per_frame.shape == (3,)
    assert np.array_equal(psnr_frames(pred, target), result.psnr)  # numpy input, same values
    assert np.allclose(ssim_frames(pred, target), result.ssim, rtol=1e-12)


def test_identical_inputs(videos):
    _, target = videos
    result = frame_metrics(target, target)
    assert np.all(np.isinf(result.psnr)) and result.psnr_mean == np.inf
    assert np.allclose(result.ssim, 1.0, atol=1e-12)
    assert np.all(psnr_frames(target, target, cap_db=100.0) == 100.0)


def test_uint8_and_input_checks(videos):
    pred, target = videos
    p8, t8 = (pred * 255).round().astype(np.uint8), (target * 255).round().astype(np.uint8)
    assert np.allclose(psnr_frames(p8, t8), psnr_frames(p8 / 255.0, t8 / 255.0), rtol=1e-12)
    with pytest.raises(ValueError, match="same shape"):
        frame_metrics(pred, target[:, :2])
    with pytest.raises(ValueError, match=r"\[B, T, 3, H, W\]"):
        frame_metrics(pred[0], target[0])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        frame_metrics(pred * 2 - 1, target)
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim_frames(pred[..., :8, :8], target[..., :8, :8])
