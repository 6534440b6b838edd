"""Samplers: pinned timestep pairs, our DDIM/DDPM vs diffusers, oracle recovery of x0, NFE, errors."""

from __future__ import annotations

import pytest
import torch

from lfdm_bench.diffusion.ddim import ddim_sample_loop, diffusers_ddim_pairs, timestep_pairs
from lfdm_bench.diffusion.diffusers_samplers import make_scheduler
from lfdm_bench.diffusion.samplers import SAMPLERS, sample
from lfdm_bench.diffusion.schedule import cosine_betas, dynamic_threshold


# diffusers' schedulers build numpy arrays from tensors in a way numpy 2 deprecates; not ours to fix
pytestmark = [pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword"),
              pytest.mark.usefixtures("one_thread_per_module")]




BETAS = cosine_betas(1000)
ABAR = torch.cumprod(1 - BETAS, 0)
SHAPE = (2, 3, 4, 8, 8)


def analytic_denoiser(x, t):
    """A fixed deterministic 'network' (depends on x and t)."""
    return 0.5 * torch.tanh(x) + 1e-3 * t.float().reshape(-1, 1, 1, 1, 1)


def noise(seed=0, shape=SHAPE):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


# -- timestep pairs ------------------------------------------------------------------------------------------------


def test_lfdm_pairs_are_pinned():
    # official LFDM: times = int(linspace(0, T, S + 2))[:-1], reversed, consecutive pairs
    assert timestep_pairs("lfdm", 1000, 10) == [
        (909, 818), (818, 727), (727, 636), (636, 545), (545, 454),
        (454, 363), (363, 272), (272, 181), (181, 90), (90, 0),
    ]


def test_lucidrains_pairs_are_pinned():
    # denoising-diffusion-pytorch / imagen: times = int(linspace(-1, T - 1, S + 1)), reversed
    assert timestep_pairs("lucidrains", 1000, 10) == [
        (999, 899), (899, 799), (799, 699), (699, 599), (599, 499),
        (499, 399), (399, 299), (299, 199), (199, 99), (99, -1),
    ]


def test_diffusers_style_spacings():
    assert timestep_pairs("leading", 1000, 4) == [(750, 500), (500, 250), (250, 0), (0, -1)]
    assert timestep_pairs("leading", 1000, 4, steps_offset=1) == [(751, 501), (501, 251), (251, 1), (1, -1)]
    assert timestep_pairs("trailing", 1000, 4) == [(999, 749), (749, 499), (499, 249), (249, -1)]
    assert timestep_pairs("linspace", 1000, 4) == [(999, 666), (666, 333), (333, 0), (0, -1)]
    # diffusers' DDIMScheduler steps to t - T // S whatever the spacing (its stride issue #12633)
    assert diffusers_ddim_pairs("linspace", 1000, 4) == [(999, 749), (666, 416), (333, 83), (0, -1)]
    for spacing in ["leading", "trailing"]:
        assert timestep_pairs(spacing, 1000, 10) == diffusers_ddim_pairs(spacing, 1000, 10)
    sch = make_scheduler("ddim", BETAS, timestep_spacing="linspace")
    sch.set_timesteps(4)
    assert [p[0] for p in diffusers_ddim_pairs("linspace", 1000, 4)] == sch.timesteps.tolist()
    with pytest.raises(ValueError, match="unknown timestep spacing"):
        timestep_pairs("quadratic", 1000, 10)
    with pytest.raises(ValueError, match="sampling steps"):
        timestep_pairs("lfdm", 1000, 0)
    with pytest.raises(ValueError, match="repeats a timestep"):
        timestep_pairs("lfdm", 1000, 1000)


# -- our samplers against diffusers -------------------------------------------------------------------------------


@pytest.mark.parametrize("spacing", ["leading", "trailing"])
@pytest.mark.parametrize("eta", [0.0, 1.0])
@pytest.mark.parametrize("prediction,threshold", [("eps", 0.9), ("v", None), ("eps", None)])
def test_our_ddim_matches_diffusers_ddim(spacing, eta, prediction, threshold):
    kw = dict(betas=BETAS, steps=10, eta=eta, spacing=spacing, noise=noise(), prediction=prediction,
              dynamic_threshold=threshold)
    ours = sample(analytic_denoiser, SHAPE, sampler="ddim", generator=torch.Generator().manual_seed(1), **kw)
    ref = sample(analytic_denoiser, SHAPE, sampler="diffusers-ddim", generator=torch.Generator().manual_seed(1), **kw)
    assert ours.nfe == ref.nfe == 10
    scale = max(1.0, ref.sample.abs().max().item())  # eps without thresholding at t=999 gives |x0| ~ 1e4
    torch.testing.assert_close(ours.sample / scale, ref.sample / scale, rtol=0, atol=2e-5)


@pytest.mark.parametrize("prediction", ["eps", "v"])
def test_our_ddpm_matches_diffusers_ddpm(prediction):
    betas = cosine_betas(50)
    kw = dict(betas=betas, steps=50, noise=noise(), prediction=prediction, dynamic_threshold=0.9)
    ours = sample(analytic_denoiser, SHAPE, sampler="ddpm", generator=torch.Generator().manual_seed(2), **kw)
    ref = sample(analytic_denoiser, SHAPE, sampler="diffusers-ddpm", generator=torch.Generator().manual_seed(2), **kw)
    assert ours.nfe == ref.nfe == 50
    torch.testing.assert_close(ours.sample, ref.sample, rtol=0, atol=2e-5)


def test_lfdm_alpha_shift_reproduces_the_official_update():
    """The official loop, written out: alphas from alphas_cumprod_prev, x0 from alphas_cumprod, raw eps."""
    abar = ABAR.double()
    abar_prev = torch.cat([abar.new_ones(1), abar[:-1]])
    x = noise().double()
    g = torch.Generator().manual_seed(5)
    for time, time_next in timestep_pairs("lfdm", 1000, 10):
        alpha, alpha_next = abar_prev[time], abar_prev[time_next]
        eps = analytic_denoiser(x, torch.full((2,), time))
        x0 = dynamic_threshold((x - (1 - abar[time]).sqrt() * eps) / abar[time].sqrt(), 0.9)
        sigma = 1.0 * ((1 - alpha / alpha_next) * (1 - alpha_next) / (1 - alpha)).sqrt()
        c = (1 - alpha_next - sigma**2).sqrt()
        z = torch.randn(x.shape, generator=g, dtype=x.dtype) if time_next > 0 else 0.0
        x = x0 * alpha_next.sqrt() + c * eps + sigma * z
    ours = sample(analytic_denoiser, SHAPE, betas=BETAS, sampler="ddim", steps=10, eta=1.0, spacing="lfdm",
                  noise=noise().double(), dynamic_threshold=0.9, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(ours.sample, x, rtol=0, atol=1e-9)


# -- oracle denoiser: data is one fixed tensor, so eps is known exactly -------------------------------------------

X0 = torch.rand(SHAPE, generator=torch.Generator().manual_seed(3)) * 1.6 - 0.8


def oracle_eps(x, t):
    a = ABAR[t.round().long()].float().reshape(-1, 1, 1, 1, 1)
    return (x - a.sqrt() * X0) / (1 - a).sqrt()


def oracle_v(x, t):
    a = ABAR[t.round().long()].float().reshape(-1, 1, 1, 1, 1)
    return a.sqrt() * oracle_eps(x, t) - (1 - a).sqrt() * X0


@pytest.mark.parametrize("sampler", SAMPLERS)
@pytest.mark.parametrize("prediction", ["eps", "v"])
def test_oracle_denoiser_recovers_x0(sampler, prediction):
    fn = oracle_eps if prediction == "eps" else oracle_v
    out = sample(fn, SHAPE, betas=BETAS, sampler=sampler, steps=10, eta=1.0, prediction=prediction,
                 dynamic_threshold=0.9, generator=torch.Generator().manual_seed(4))
    assert out.nfe == (1000 if sampler == "ddpm" else 10)
    torch.testing.assert_close(out.sample, X0, rtol=0, atol=2e-3)


@pytest.mark.parametrize("spacing", ["lfdm", "lucidrains", "leading", "trailing", "linspace"])
def test_oracle_ddim_every_spacing(spacing):
    out = sample(oracle_eps, SHAPE, betas=BETAS, sampler="ddim", steps=7, eta=0.5, spacing=spacing,
                 generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(out.sample, X0, rtol=0, atol=1e-4)


# -- entry point behaviour ---------------------------------------------------------------------------------------


def test_nfe_counts_guided_calls_twice():
    class Guided:
        nfe_per_call = 2

        def __call__(self, x, t):
            return analytic_denoiser(x, t)

    assert sample(Guided(), SHAPE, betas=BETAS, steps=7, generator=torch.Generator()).nfe == 14
    assert sample(Guided(), SHAPE, betas=BETAS, sampler="dpmsolver++", steps=7).nfe == 14


def test_eta_zero_ddim_is_deterministic_given_noise():
    kw = dict(betas=BETAS, eta=0.0, noise=noise())
    a = sample(analytic_denoiser, SHAPE, generator=torch.Generator().manual_seed(1), **kw)
    b = sample(analytic_denoiser, SHAPE, generator=torch.Generator().manual_seed(2), **kw)
    torch.testing.assert_close(a.sample, b.sample, rtol=0, atol=0)


def test_explicit_pairs_and_errors():
    x, calls = ddim_sample_loop(analytic_denoiser, noise(), ABAR, [(999, 500), (500, -1)])
    assert calls == 2 and x.shape == SHAPE
    with pytest.raises(ValueError, match="valid samplers: ddpm, ddim"):
        sample(analytic_denoiser, SHAPE, betas=BETAS, sampler="plms")
    with pytest.raises(ValueError, match="bad DDIM pair"):
        ddim_sample_loop(analytic_denoiser, noise(), ABAR, [(500, 600)])
    with pytest.raises(ValueError, match="noise has shape"):
        sample(analytic_denoiser, SHAPE, betas=BETAS, noise=torch.zeros(1))
    with pytest.raises(ValueError, match="timestep_spacing"):
        sample(analytic_denoiser, SHAPE, betas=BETAS, sampler="euler", spacing="lfdm")
