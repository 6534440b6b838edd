"""The LDM's latent layout for its U-Net: p x p latent cells folded into channels, exactly invertible, used the same
way by training (targets) and sampling (condition, noise, decoding)."""

from types import SimpleNamespace

import pytest
import torch

from lfdm_bench.diffusion.patches import from_patches, to_patches


def test_patches_round_trip_and_layout():
    z = torch.randn(2, 3, 5, 8, 8)  # [B, c, T, h, w]
    x = to_patches(z, 2)
    assert x.shape == (2, 12, 5, 4, 4)
    torch.testing.assert_close(from_patches(x, 2), z, rtol=0, atol=0)
    # channel (ci, dy, dx) of cell (i, j) holds latent cell (2i + dy, 2j + dx) of channel ci
    assert torch.equal(x[:, 1 * 4 + 1 * 2 + 0, :, 3, 2], z[:, 1, :, 7, 4])
    img = z[:, :, 0]
    torch.testing.assert_close(to_patches(img, 2), x[:, :, 0], rtol=0, atol=0)  # 4-D = a frame of the 5-D layout
    assert to_patches(z, 1) is z and from_patches(z, 1) is z
    with pytest.raises(ValueError, match="not divisible"):
        to_patches(torch.randn(1, 3, 6, 6), 4)
    with pytest.raises(ValueError, match="patch area"):
        from_patches(torch.randn(1, 6, 2, 2), 2)


@pytest.mark.usefixtures("one_thread")
def test_ldm_with_f2_autoencoder_and_patches():
    """A KL-f2 autoencoder (16x16 latents for 32x32 frames) with diffusion_patch 2: the U-Net sees 4c channels on an
    8x8 grid, the generator returns full-size videos, and a patch size that does not divide the grid is refused."""
    from baselines.ldm.autoencoder import KLAutoencoder
    from baselines.ldm.config import load_ldm_config
    from lfdm_bench.diffusion.target import DiffusionTarget
    from baselines.ldm.sample import ldm_generator
    from baselines.ldm.train import build_ldm_dm
    from lfdm_bench.config import ConfigError

    cfg = load_ldm_config("ldm-tiny", ["ae.model.channel_mult=[1,2]", "ae.diffusion_patch=2"])
    torch.manual_seed(0)
    ae = KLAutoencoder(cfg.ae.model).eval()
    dm = build_ldm_dm(cfg, [f"class {i}" for i in range(7)], cfg.ae.model).eval()
    c = cfg.ae.model.latent_channels
    u = dm.cfg.unet
    assert (u.in_channels, u.out_channels, u.cond_channels) == (4 * c, 4 * c, 4 * c)
    images = torch.rand(2, 3, 32, 32)
    sources = [SimpleNamespace(seed=s, class_index=s % 7) for s in (3, 4)]
    stats: dict = {}
    with torch.no_grad():
        video = ldm_generator(ae, dm, 4, steps=2, target=DiffusionTarget(patch=2), stats=stats)(images, sources)
    assert video.shape == (2, 4, 3, 32, 32) and stats["nfe"] >= 2
    assert torch.isfinite(video).all() and video.min() >= 0 and video.max() <= 1
    with pytest.raises((ValueError, ConfigError), match="diffusion_patch"):
        load_ldm_config("ldm-tiny", ["ae.model.channel_mult=[1,2]", "ae.diffusion_patch=3"])
