"""What the LDM's DM diffuses (lfdm_bench.diffusion.target): the residual to the source frame, scaled, in patches;
its exact inverse; the fitted scale against a direct computation; and the config's validation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lfdm_bench.diffusion.target import DiffusionTarget, fit_residual_scale
from lfdm_bench.diffusion.patches import to_patches


def test_residual_target_is_the_scaled_change_from_the_source_frame():
    torch.manual_seed(0)
    z = torch.randn(2, 8, 5, 16, 16, dtype=torch.float64)  # [B, c, T, h, w]
    t = DiffusionTarget("residual", patch=2, residual_scale=3.0)
    x, cond = t.encode(z)
    assert x.shape == (2, 32, 5, 8, 8) and cond.shape == (2, 32, 8, 8)
    for f in range(5):  # frame by frame, against the definition
        torch.testing.assert_close(x[:, :, f], to_patches((z[:, :, f] - z[:, :, 0]) * 3.0, 2), rtol=0, atol=1e-12)
    assert x[:, :, 0].abs().max() == 0  # the source frame's residual is exactly 0
    torch.testing.assert_close(cond, to_patches(z[:, :, 0], 2), rtol=0, atol=0)
    torch.testing.assert_close(t.decode(x, cond), z, rtol=0, atol=1e-12)  # exact inverse
    torch.testing.assert_close(t.condition(z[:, :, 0]), cond, rtol=0, atol=0)  # sampling's condition = training's


def test_latent_target_is_the_latents_themselves():
    z = torch.randn(1, 4, 3, 8, 8)
    for p in (1, 2):
        t = DiffusionTarget("latent", patch=p, residual_scale=7.0)  # the scale is unused
        x, cond = t.encode(z)
        torch.testing.assert_close(x, to_patches(z, p), rtol=0, atol=0)
        torch.testing.assert_close(t.decode(x, cond), z, rtol=0, atol=0)


def test_fit_residual_scale_matches_numpy():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(6, 3, 4, 5, 5)) + rng.normal(size=(6, 3, 1, 5, 5)) * 4  # a large per-clip constant
    diffs = np.concatenate([z[:, :, f] - z[:, :, 0] for f in range(1, 4)])
    assert fit_residual_scale(torch.from_numpy(z)) == pytest.approx(1 / diffs.std(ddof=1), rel=1e-6)
    with pytest.raises(ValueError, match="do not change"):
        fit_residual_scale(torch.ones(2, 3, 4, 5, 5))
    with pytest.raises(ValueError, match="T >= 2"):
        fit_residual_scale(torch.randn(2, 3, 1, 5, 5))


def test_invalid_targets_are_refused():
    from baselines.ldm.config import load_ldm_config
    from lfdm_bench.config import ConfigError

    with pytest.raises(ValueError, match="one of latent, residual"):
        DiffusionTarget("flow")
    with pytest.raises(ValueError, match="residual_scale"):
        DiffusionTarget("residual", residual_scale=0.0)
    with pytest.raises((ValueError, ConfigError), match="ae.diffusion_target"):
        load_ldm_config("ldm-tiny", ["ae.diffusion_target=pixels"])
