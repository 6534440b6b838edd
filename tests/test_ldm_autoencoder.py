"""LDM baseline stage 1: KL autoencoder shapes, video batching, KL closed form, latent scaling, and that it learns."""

import time

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from baselines.ldm import AutoencoderLoss, DiagonalGaussian, KLAutoencoder, KLAutoencoderConfig
from lfdm_bench.config import ConfigError


def synthetic_shapes(n: int, size: int = 32, seed: int = 0) -> torch.Tensor:
    """``[n, 3, size, size]`` in [0, 1]: a dark random background with two random coloured discs / rectangles."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(size).float(), torch.arange(size).float(), indexing="ij")
    images = []
    for _ in range(n):
        img = (torch.rand(3, 1, 1, generator=g) * 0.3).expand(3, size, size).clone()
        for _ in range(2):
            colour = torch.rand(3, 1, 1, generator=g).expand(3, size, size)
            cx, cy = (torch.rand(2, generator=g) * size).tolist()
            r = size * (5 + 7 * torch.rand(1, generator=g).item()) / 32
            if torch.rand(1, generator=g).item() < 0.5:
                mask = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
            else:
                mask = ((xx - cx).abs() <= r) & ((yy - cy).abs() <= 0.7 * r)
            img = torch.where(mask, colour, img)
        images.append(img)
    return torch.stack(images)


@pytest.fixture(scope="module", autouse=True)
def single_thread():
    """One intra-op thread for this module: on the shared 2-core machine, 2 OpenMP threads competing with other
    processes made the training test ~20x slower. Restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return KLAutoencoder(KLAutoencoderConfig.tiny()).eval()


def test_shapes_tiny(tiny):
    x = torch.rand(2, 3, 32, 32)
    post = tiny.encode(x)
    assert post.mean.shape == post.logvar.shape == (2, 4, 8, 8)
    assert post.sample(torch.Generator().manual_seed(0)).shape == (2, 4, 8, 8)
    y = tiny.decode(post.mode())
    assert y.shape == (2, 3, 32, 32) and y.min() > 0 and y.max() < 1  # sigmoid output
    out = tiny(x)
    assert out["reconstruction"].shape == x.shape and isinstance(out["posterior"], DiagonalGaussian)


def test_shapes_64_no_attention():
    cfg = KLAutoencoderConfig(image_size=64, base_channels=8, channel_mult=(1, 2, 2), num_res_blocks=1,
                              latent_channels=3, mid_attention=False, norm_groups=4)
    ae = KLAutoencoder(cfg)
    post = ae.encode(torch.rand(1, 3, 64, 64))
    assert post.mean.shape == (1, 3, 16, 16)  # latent = H / 4
    assert ae.decode(post.mode()).shape == (1, 3, 64, 64)


def test_two_levels_downsample_by_two():
    """``channel_mult`` of 2 levels: one stride-2 downsampling (KL-f2), 32x32 frames -> 16x16 latents."""
    cfg = KLAutoencoderConfig(image_size=32, base_channels=8, channel_mult=(1, 2), num_res_blocks=1,
                              latent_channels=4, norm_groups=4)
    assert cfg.downsample_factor == 2 and KLAutoencoderConfig.tiny().downsample_factor == 4
    ae = KLAutoencoder(cfg)
    post = ae.encode(torch.rand(2, 3, 32, 32))
    assert post.mean.shape == (2, 4, 16, 16)
    assert ae.decode(post.mode()).shape == (2, 3, 32, 32)
    assert ae.decode_video(ae.encode_video(torch.rand(1, 3, 2, 32, 32))).shape == (1, 3, 2, 32, 32)
    for bad in ((1,), (1, 2, 2, 2)):
        with pytest.raises(ValueError, match="channel_mult"):
            KLAutoencoderConfig(image_size=32, base_channels=8, channel_mult=bad, norm_groups=4)


def test_video_equals_per_frame(tiny):
    torch.manual_seed(1)
    v = torch.rand(2, 3, 3, 32, 32)  # [B, 3, T, H, W]
    with torch.no_grad():
        z = tiny.encode_video(v)
        assert z.shape == (2, 4, 3, 8, 8)
        per_frame = torch.stack([tiny.encode(v[:, :, t]).mode() for t in range(3)], dim=2)
        torch.testing.assert_close(z, per_frame, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(tiny.encode_video(v, chunk_size=4), z, atol=1e-5, rtol=1e-4)
        rec = tiny.decode_video(z)
        assert rec.shape == v.shape
        per_frame = torch.stack([tiny.decode(z[:, :, t]) for t in range(3)], dim=2)
        torch.testing.assert_close(rec, per_frame, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(tiny.decode_video(z, chunk_size=5), rec, atol=1e-5, rtol=1e-4)
        # sampled video latents are reproducible with a seeded generator
        s1 = tiny.encode_video(v, sample=True, generator=torch.Generator().manual_seed(3))
        s2 = tiny.encode_video(v, sample=True, generator=torch.Generator().manual_seed(3))
        assert torch.equal(s1, s2) and not torch.allclose(s1, z)


def test_kl_closed_form():
    zero = DiagonalGaussian(torch.zeros(3, 4, 8, 8), torch.zeros(3, 4, 8, 8))
    assert torch.equal(zero.kl(), torch.zeros(3))
    g = torch.Generator().manual_seed(0)
    mean, logvar = torch.randn(3, 4, 8, 8, generator=g), torch.randn(3, 4, 8, 8, generator=g)
    kl = DiagonalGaussian(mean, logvar).kl()
    expected = kl_divergence(Normal(mean, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)).flatten(1).sum(1)
    assert kl.shape == (3,) and (kl > 0).all()
    torch.testing.assert_close(kl, expected, rtol=1e-5, atol=1e-4)
    # mean alone or variance alone away from N(0, I) both give a positive KL
    assert (DiagonalGaussian(mean, torch.zeros_like(mean)).kl() > 0).all()
    assert (DiagonalGaussian(torch.zeros_like(mean), logvar).kl() > 0).all()


def test_scale_factor_round_trip_and_checkpoint(tiny):
    x = synthetic_shapes(6)
    ae = KLAutoencoder(tiny.cfg)
    ae.load_state_dict(tiny.state_dict())
    assert ae.scale_factor.item() == 1.0
    s = ae.fit_scale_factor(x)
    with torch.no_grad():
        z = ae.encode(x).mode()
    assert ae.scale_factor.item() == pytest.approx(s) and s == pytest.approx(1 / z.std().item(), rel=1e-5)
    zd = ae.to_diffusion(z)
    assert zd.std().item() == pytest.approx(1.0, rel=1e-4)
    torch.testing.assert_close(ae.from_diffusion(zd), z)
    # video input gives the same factor (frames flattened into one batch)
    video = x.view(2, 3, 3, 32, 32).transpose(1, 2)  # [2, 3, T=3, 32, 32]
    assert ae.fit_scale_factor(video) == pytest.approx(s, rel=1e-4)
    # a checkpoint = config dict + state dict; the scale factor travels in the state dict
    ckpt = {"config": ae.cfg.to_dict(), "state_dict": ae.state_dict()}
    assert "scale_factor" in ckpt["state_dict"]
    restored = KLAutoencoder(KLAutoencoderConfig.from_dict(ckpt["config"]))
    restored.load_state_dict(ckpt["state_dict"])
    assert restored.cfg == ae.cfg and restored.scale_factor.item() == pytest.approx(s)
    with torch.no_grad():
        torch.testing.assert_close(restored.decode(restored.from_diffusion(zd)), ae.decode(z))


def test_config_validation():
    assert KLAutoencoderConfig.paper().image_size == 128
    with pytest.raises(ValueError, match="channel_mult: expected 3"):
        KLAutoencoderConfig(channel_mult=(1, 2, 4, 4))
    with pytest.raises(ValueError, match="image_size"):
        KLAutoencoderConfig(image_size=30)
    with pytest.raises(ValueError, match="norm_groups"):
        KLAutoencoderConfig(base_channels=12, norm_groups=8)
    with pytest.raises(ConfigError, match="unknown config key"):
        KLAutoencoderConfig.from_dict({"latent_chanels": 4})
    cfg = KLAutoencoderConfig.tiny()
    assert KLAutoencoderConfig.from_dict(cfg.to_dict()) == cfg


def test_input_checks(tiny):
    with pytest.raises(ValueError, match=r"expected values in \[0, 1\]"):
        tiny.encode(torch.rand(1, 3, 32, 32) * 2 - 1)
    with pytest.raises(ValueError, match=r"expected a float tensor \[B, 3, H, W\]"):
        tiny.encode(torch.rand(1, 1, 32, 32))
    with pytest.raises(ValueError, match="multiples of 4"):
        tiny.encode(torch.rand(1, 3, 30, 30))
    with pytest.raises(ValueError, match="c=4"):
        tiny.decode(torch.randn(1, 3, 8, 8))
    with pytest.raises(ValueError, match=r"\[B, 3, T, H, W\]"):
        tiny.encode_video(torch.rand(1, 3, 32, 32))


def test_loss_parts():
    loss = AutoencoderLoss(kl_weight=0.5)
    x = torch.rand(2, 3, 32, 32)
    total, parts = loss(x, x.clone(), DiagonalGaussian(torch.zeros(2, 4, 8, 8), torch.zeros(2, 4, 8, 8)))
    assert total.item() == 0.0 and set(parts) == {"rec", "kl", "total"}
    post = DiagonalGaussian(torch.ones(2, 4, 8, 8), torch.zeros(2, 4, 8, 8))  # KL = 0.5 per latent element
    total, parts = loss(x, x.clone(), post)
    assert parts["kl"].item() == pytest.approx(0.5 * 4 * 8 * 8 / (3 * 32 * 32))  # per pixel value
    assert total.item() == pytest.approx(0.5 * parts["kl"].item())
    assert AutoencoderLoss.from_config(KLAutoencoderConfig.tiny()).kl_weight == 1e-6
    with pytest.raises(FileNotFoundError, match="VGG19 weights"):
        AutoencoderLoss(perceptual_weights="/nonexistent/vgg19.pth")


def _train(n: int, steps: int, lr: float, seed: int = 0) -> tuple[float, float]:
    """Train the tiny AE on ``n`` fixed synthetic images; return (final L1 of the posterior-mean reconstruction,
    L1 of predicting the batch mean image)."""
    torch.manual_seed(seed)
    x = synthetic_shapes(n, seed=seed)
    baseline = (x - x.mean(0, keepdim=True)).abs().mean().item()
    cfg = KLAutoencoderConfig.tiny()
    ae, loss = KLAutoencoder(cfg), AutoencoderLoss.from_config(cfg)
    opt = torch.optim.Adam(ae.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed + 1)
    for _ in range(steps):
        out = ae(x, sample_posterior=True, generator=g)
        total, _ = loss(x, out["reconstruction"], out["posterior"])
        opt.zero_grad()
        total.backward()
        opt.step()
    with torch.no_grad():
        final = (ae(x, sample_posterior=False)["reconstruction"] - x).abs().mean().item()
    return final, baseline


@pytest.mark.e2e
def test_training_beats_mean_image():
    final, baseline = _train(n=4, steps=50, lr=2e-3)
    assert final < 0.6 * baseline, (final, baseline)


@pytest.mark.slow
def test_training_longer():
    final, baseline = _train(n=16, steps=400, lr=1e-3)
    print(f"\nfinal L1 {final:.4f} vs mean-image L1 {baseline:.4f} (ratio {final / baseline:.3f})")
    assert final < 0.25 * baseline, (final, baseline)


@pytest.mark.slow
def test_report_sizes_and_speed():
    """Parameter counts of the presets and CPU forward+backward time of the tiny AE on 32 frames (printed, -s)."""
    counts = {name: sum(p.numel() for p in KLAutoencoder(getattr(KLAutoencoderConfig, name)()).parameters())
              for name in ("tiny", "paper")}
    ae = KLAutoencoder(KLAutoencoderConfig.tiny())
    loss = AutoencoderLoss.from_config(ae.cfg)
    x = synthetic_shapes(32)
    print(f"\nparams {counts}")
    for threads in (1, 2):
        torch.set_num_threads(threads)
        times = []
        for _ in range(6):
            t0 = time.perf_counter()
            out = ae(x)
            loss(x, out["reconstruction"], out["posterior"])[0].backward()
            times.append(time.perf_counter() - t0)
        times = sorted(times[1:])
        print(f"tiny fwd+bwd, 32 frames 32x32, threads={threads}: min {times[0] * 1e3:.0f} ms, "
              f"median {times[2] * 1e3:.0f} ms")
    torch.set_num_threads(1)
    assert counts["tiny"] < 1_000_000 < counts["paper"]
