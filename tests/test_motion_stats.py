"""Motion statistics: values against explicit loops, streaming = one shot, edge cases."""

import numpy as np
import pytest
import torch

from metrics.motion_stats import (MotionStatsAccumulator, amplitude_ratio, motion_amplitude, motion_stats,
                                  opening_frame_error, opening_motion)


def _loop_amplitude(v: np.ndarray) -> np.ndarray:
    b, t = v.shape[:2]
    out = np.zeros(t)
    for i in range(b):
        for k in range(t):
            out[k] += np.mean(np.abs(v[i, k] - v[i, 0])) / b
    return out


def _videos(seed: int, b: int = 3, t: int = 5, scale: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.random((b, 1, 3, 8, 8))
    motion = scale * 0.1 * rng.standard_normal((b, t, 3, 8, 8)) * np.arange(t)[None, :, None, None, None]
    return np.clip(base + motion, 0, 1)


def test_amplitude_matches_loops_and_is_zero_for_still_videos():
    v = _videos(0)
    np.testing.assert_allclose(motion_amplitude(v), _loop_amplitude(v), rtol=1e-12)
    assert motion_amplitude(v)[0] == 0
    still = np.repeat(v[:, :1], 5, axis=1)
    assert np.all(motion_amplitude(still) == 0)


def test_uint8_and_torch_inputs_agree_with_float():
    v = _videos(1)
    q = np.round(v * 255).astype(np.uint8)
    np.testing.assert_allclose(motion_amplitude(q), _loop_amplitude(q / 255.0), rtol=1e-12)
    np.testing.assert_allclose(motion_amplitude(torch.from_numpy(v).float()), motion_amplitude(v), rtol=1e-6)


def test_ratio_of_a_set_with_itself_is_one_and_doubling_motion_doubles_it():
    v = _videos(2, scale=0.5)
    assert amplitude_ratio(v, v)["ratio"] == pytest.approx(1.0)
    # twice the displacement from frame 0 without clipping: exactly twice the amplitude
    base = np.full((2, 4, 3, 6, 6), 0.5)
    small = base + 0.01 * np.arange(4)[None, :, None, None, None]
    large = base + 0.02 * np.arange(4)[None, :, None, None, None]
    r = amplitude_ratio(large, small)
    assert r["ratio"] == pytest.approx(2.0)
    assert r["per_frame_ratio"][0] is None and r["per_frame_ratio"][1] == pytest.approx(2.0)


def test_opening_frame_error_values():
    v = np.full((2, 3, 3, 4, 4), 0.5)
    src = v[:, 0].copy()
    assert opening_frame_error(v, src) == {"l1": 0.0, "psnr": 100.0, "n": 2}
    src = src + 0.1  # every value off by 0.1: L1 0.1, MSE 0.01 -> 20 dB
    out = opening_frame_error(v, src)
    assert out["l1"] == pytest.approx(0.1) and out["psnr"] == pytest.approx(20.0)
    with pytest.raises(ValueError, match="sources"):
        opening_frame_error(v, src[:1])


def test_opening_motion_sees_early_motion_only():
    real = np.full((2, 6, 3, 4, 4), 0.5)
    real[:, 3:] += 0.2  # real motion starts at frame 3
    gen = real.copy()
    gen[:, 1] += 0.05  # spurious motion in frame 1
    out = opening_motion(gen, real, opening_frames=2)
    assert out["real"] == 0.0 and out["generated"] == pytest.approx(0.05 / 2)


def test_streaming_equals_one_shot():
    gen, real = _videos(3, b=5), _videos(4, b=4)
    src = gen[:, 0] + 0.01
    one = motion_stats(gen, real, src)
    acc = MotionStatsAccumulator()
    for i in range(0, 5, 2):
        acc.add_generated(gen[i:i + 2], src[i:i + 2])
    acc.add_real(real[:1])
    acc.add_real(real[1:])
    two = acc.summary()
    assert two["amplitude"]["ratio"] == pytest.approx(one["amplitude"]["ratio"], rel=1e-12)
    assert two["opening_frame"]["psnr"] == pytest.approx(one["opening_frame"]["psnr"], rel=1e-12)
    assert two["opening_frame"]["l1"] == pytest.approx(0.01, rel=1e-6)
    ratio = _loop_amplitude(gen)[1:].sum() / _loop_amplitude(real)[1:].sum()
    assert one["amplitude"]["ratio"] == pytest.approx(ratio, rel=1e-12)


def test_bad_shapes_are_errors():
    with pytest.raises(ValueError, match="B, T, 3, H, W"):
        motion_amplitude(np.zeros((2, 3, 4, 4)))
    with pytest.raises(ValueError, match="frames"):
        amplitude_ratio(np.zeros((1, 4, 3, 2, 2)), np.zeros((1, 5, 3, 2, 2)))
    with pytest.raises(ValueError, match="none added"):
        MotionStatsAccumulator().summary()
