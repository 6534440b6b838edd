"""Schedules, forward process, parameterisation round-trips, dynamic thresholding, training loss, guidance/NFE."""

from __future__ import annotations

import math

import pytest
import torch

from lfdm_bench.diffusion.gaussian import GaussianDiffusion, GuidedDenoiser
from lfdm_bench.diffusion.schedule import DiffusionConfig, cosine_betas, dynamic_threshold, linear_betas
from lfdm_bench.models.unet3d import UNet3D, UNet3DConfig


pytestmark = pytest.mark.usefixtures("one_thread_per_module")


def tiny_unet(seed: int = 0, **kw) -> UNet3D:
    base = dict(in_channels=2, out_channels=2, cond_channels=2, dim=16, dim_mults=(1, 2), groups=4, attn_heads=2,
                attn_dim_head=8, text_dim=4, init_kernel_size=3)
    base.update(kw)
    torch.manual_seed(seed)
    return UNet3D(UNet3DConfig(**base))


# -- schedules --------------------------------------------------------------------------------------------------


def test_cosine_schedule_matches_closed_form_and_is_monotone():
    T, s = 1000, 0.008
    betas = cosine_betas(T, s=s, max_beta=0.999)
    abar = torch.cumprod(1 - betas, 0)
    f = lambda t: math.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2  # noqa: E731
    for t in [0, 1, 10, 250, 500, 900, 990]:  # abar index t is the paper's step t+1
        assert abar[t].item() == pytest.approx(f(t + 1) / f(0), rel=1e-9)
    assert (abar[1:] < abar[:-1]).all() and (betas > 0).all()
    assert betas.max().item() == pytest.approx(0.999)  # the last beta is clipped (1 - 0 / abar)
    assert cosine_betas(T, max_beta=0.9999).max().item() == pytest.approx(0.9999)


def test_linear_schedule():
    betas = linear_betas(1000)
    assert betas[0].item() == pytest.approx(1e-4) and betas[-1].item() == pytest.approx(0.02)
    abar = torch.cumprod(1 - betas, 0)
    assert (abar[1:] < abar[:-1]).all()
    gd = GaussianDiffusion(DiffusionConfig(schedule="linear", num_timesteps=100))
    assert gd.betas[-1].item() == pytest.approx(0.2)  # rescaled by 1000 / T


def test_config_validation():
    with pytest.raises(ValueError, match="prediction must be"):
        DiffusionConfig(prediction="x0")
    with pytest.raises(ValueError, match="dynamic_threshold"):
        DiffusionConfig(dynamic_threshold=1.5)
    with pytest.raises(ValueError, match="cfg_drop_prob"):
        DiffusionConfig(cfg_drop_prob=-0.1)


def test_buffers_follow_module_device_and_are_float32():
    gd = GaussianDiffusion(DiffusionConfig(num_timesteps=50))
    assert gd.alphas_cumprod.dtype == torch.float32 and gd.alphas_cumprod.shape == (50,)
    assert gd.betas_float64().dtype == torch.float64
    assert "alphas_cumprod" not in gd.state_dict()  # rebuilt from the config, never stale in checkpoints


# -- forward process and conversions ---------------------------------------------------------------------------


def test_q_sample_statistics():
    gd = GaussianDiffusion(DiffusionConfig())
    g = torch.Generator().manual_seed(0)
    x0 = torch.full((4096, 64), 0.7)
    for step in [10, 500, 900]:
        t = torch.full((4096,), step)
        xt = gd.q_sample(x0, t, torch.randn(x0.shape, generator=g))
        a = gd.alphas_cumprod[step].item()
        assert xt.mean().item() == pytest.approx(math.sqrt(a) * 0.7, abs=3e-3)
        assert xt.std().item() == pytest.approx(math.sqrt(1 - a), rel=3e-3)


@pytest.mark.parametrize("prediction", ["eps", "v"])
def test_conversions_round_trip(prediction):
    gd = GaussianDiffusion(DiffusionConfig(prediction=prediction))
    g = torch.Generator().manual_seed(1)
    x0, eps = torch.randn(3, 2, 4, 8, 8, generator=g), torch.randn(3, 2, 4, 8, 8, generator=g)
    t = torch.tensor([0, 400, 990])
    xt = gd.q_sample(x0, t, eps)
    torch.testing.assert_close(gd.predict_x0_from_eps(xt, t, eps), x0, rtol=1e-3, atol=1e-3)
    torch.testing.assert_close(gd.predict_eps_from_x0(xt, t, x0), eps, rtol=1e-3, atol=2e-3)
    v = gd.get_v(x0, eps, t)
    torch.testing.assert_close(gd.predict_x0_from_v(xt, t, v), x0, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(gd.predict_eps_from_v(xt, t, v), eps, rtol=1e-4, atol=1e-4)
    out = eps if prediction == "eps" else v
    x0_hat, eps_hat = gd.x0_eps_from_output(out, xt, t)
    torch.testing.assert_close(eps_hat, eps, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(x0_hat[:2], x0[:2], rtol=1e-3, atol=1e-3)


def test_q_posterior_matches_ddpm_eq7():
    gd = GaussianDiffusion(DiffusionConfig(num_timesteps=100))
    x0, xt, t = torch.randn(2, 3), torch.randn(2, 3), torch.tensor([0, 50])
    mean, var, _ = gd.q_posterior(x0, xt, t)
    b, a, ap = gd.betas[50], gd.alphas_cumprod[50], gd.alphas_cumprod[49]
    torch.testing.assert_close(mean[1], ap.sqrt() * b / (1 - a) * x0[1] + (1 - b).sqrt() * (1 - ap) / (1 - a) * xt[1])
    assert var[0].item() == 0.0 and var[1].item() == pytest.approx(((1 - ap) / (1 - a) * b).item())
    torch.testing.assert_close(mean[0], x0[0])  # at t = 0 the posterior mean is x0 itself


def test_dynamic_thresholding():
    x = torch.tensor([[0.1, -0.5, 0.3, 0.2], [3.0, -4.0, 2.0, 0.5]]).reshape(2, 1, 2, 2)
    out = dynamic_threshold(x, 0.5)
    # sample 0: percentile |x| < 1 -> static clip to [-1, 1] (no change); sample 1: s = quantile(.5) = 2.5
    torch.testing.assert_close(out[0], x[0])
    torch.testing.assert_close(out[1].flatten(), torch.tensor([1.0, -1.0, 0.8, 0.2]))
    assert dynamic_threshold(x, None) is x
    big = torch.tensor([5.0, -2.0, 0.0, 0.0]).reshape(1, 4)
    s = torch.quantile(big.abs(), 0.9).item()  # 4.1 by linear interpolation
    torch.testing.assert_close(dynamic_threshold(big, 0.9), big.clamp(-s, s) / s)


# -- training loss -----------------------------------------------------------------------------------------------


class Recorder:
    def __init__(self):
        self.calls = []

    def __call__(self, x, t, cond_image=None, text_emb=None, null_text_mask=None):
        self.calls.append(dict(x=x, t=t, cond_image=cond_image, text_emb=text_emb, mask=null_text_mask))
        return torch.zeros_like(x)


def test_training_loss_targets_and_condition_dropout():
    x0 = torch.randn(64, 2, 2, 4, 4)
    text = torch.randn(64, 4)
    for prediction in ["eps", "v"]:
        gd = GaussianDiffusion(DiffusionConfig(prediction=prediction, cfg_drop_prob=0.25))
        rec = Recorder()
        t, noise = torch.randint(0, 1000, (64,)), torch.randn_like(x0)
        loss = gd.training_loss(rec, x0, text_emb=text, t=t, noise=noise, generator=torch.Generator().manual_seed(0))
        target = noise if prediction == "eps" else gd.get_v(x0, noise, t)
        assert loss.item() == pytest.approx(target.pow(2).mean().item(), rel=1e-5)  # model outputs zeros
        mask = rec.calls[0]["mask"]
        assert mask.dtype == torch.bool and 5 <= mask.sum().item() <= 28  # ~ 0.25 * 64
    # user mask is OR-ed in; no dropout when p = 0; no mask at all without text
    gd = GaussianDiffusion(DiffusionConfig(cfg_drop_prob=0.0))
    rec = Recorder()
    user = torch.zeros(64, dtype=torch.bool)
    user[:3] = True
    gd.training_loss(rec, x0, text_emb=text, null_text_mask=user)
    assert rec.calls[0]["mask"].tolist() == user.tolist()
    gd.training_loss(rec, x0)
    assert rec.calls[1]["mask"] is None
    l1 = GaussianDiffusion(DiffusionConfig(loss="l1")).training_loss(Recorder(), x0, t=t, noise=noise)
    assert l1.item() == pytest.approx(noise.abs().mean().item(), rel=1e-5)


def test_training_loss_is_reproducible_with_generator():
    gd = GaussianDiffusion(DiffusionConfig())
    model = tiny_unet().eval()
    x0, cond, text = torch.randn(2, 2, 2, 8, 8), torch.randn(2, 2, 8, 8), torch.randn(2, 4)
    a = gd.training_loss(model, x0, cond_image=cond, text_emb=text, generator=torch.Generator().manual_seed(3))
    b = gd.training_loss(model, x0, cond_image=cond, text_emb=text, generator=torch.Generator().manual_seed(3))
    assert a.item() == b.item()


@pytest.mark.e2e
def test_tiny_unet_training_reduces_loss():
    torch.manual_seed(0)
    gd = GaussianDiffusion(DiffusionConfig())
    model = tiny_unet(seed=0).train()
    g = torch.Generator().manual_seed(0)
    data = torch.tanh(torch.randn(4, 2, 2, 8, 8, generator=g))  # a fixed tiny "dataset" of 4 two-frame clips
    cond, text = torch.randn(4, 2, 8, 8, generator=g), torch.randn(4, 4, generator=g)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    losses = []
    for _ in range(40):
        loss = gd.training_loss(model, data, cond_image=cond, text_emb=text, generator=g)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    assert last < 0.7 * first, (first, last)


# -- guidance and NFE --------------------------------------------------------------------------------------------


def test_guidance_scale_one_is_the_conditional_output_with_one_nfe():
    model = tiny_unet().eval()
    x, cond, text, t = torch.randn(2, 2, 3, 8, 8), torch.randn(2, 2, 8, 8), torch.randn(2, 4), torch.tensor([5, 6])
    den = GuidedDenoiser(model, cond_image=cond, text_emb=text, guidance_scale=1.0)
    with torch.no_grad():
        torch.testing.assert_close(den(x, t), model(x, t, cond_image=cond, text_emb=text))
    assert den.nfe == 1 and den.forward_calls == 1 and den.nfe_per_call == 1


def test_guidance_uses_one_batched_forward_and_counts_two_nfe():
    model = tiny_unet().eval()
    batches = []
    model.register_forward_pre_hook(lambda m, args: batches.append(args[0].shape[0]))
    x, cond, text, t = torch.randn(2, 2, 3, 8, 8), torch.randn(2, 2, 8, 8), torch.randn(2, 4), torch.tensor([5, 6])
    den = GuidedDenoiser(model, cond_image=cond, text_emb=text, guidance_scale=1.5)
    with torch.no_grad():
        out = den(x, t)
        assert batches == [4] and den.forward_calls == 1 and den.nfe == 2
        c = model(x, t, cond_image=cond, text_emb=text)
        n = model(x, t, cond_image=cond, text_emb=None)
    torch.testing.assert_close(out, n + 1.5 * (c - n), rtol=1e-4, atol=1e-5)
    null_only = GuidedDenoiser(model, cond_image=cond, text_emb=text, guidance_scale=0.0)
    with torch.no_grad():
        torch.testing.assert_close(null_only(x, t), n, rtol=1e-5, atol=1e-6)
    assert null_only.nfe == 1


@pytest.mark.parametrize("scale,nfe", [(1.0, 10), (1.5, 20)])
def test_sample_end_to_end_reports_nfe(scale, nfe):
    gd = GaussianDiffusion(DiffusionConfig())
    model = tiny_unet().eval()
    calls = []
    model.register_forward_pre_hook(lambda m, args: calls.append(args[0].shape[0]))
    out = gd.sample(model, (2, 2, 3, 8, 8), cond_image=torch.randn(2, 2, 8, 8), text_emb=torch.randn(2, 4),
                    guidance_scale=scale, sampler="ddim", steps=10, generator=torch.Generator().manual_seed(0))
    assert out.sample.shape == (2, 2, 3, 8, 8) and torch.isfinite(out.sample).all()
    assert out.nfe == nfe and len(calls) == 10 and set(calls) == {2 if scale == 1.0 else 4}
    assert out.sample.abs().max() <= 1.0 + 1e-5  # the last step returns a thresholded x0
