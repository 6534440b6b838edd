"""Ancestral DDPM sampling (Ho et al. 2020, algorithm 2) with the posterior q(x_{t-1} | x_t, x0) of eq. 6-7.

Every training timestep is visited (T network evaluations). The model's x0 prediction is dynamically thresholded
and plugged into the posterior mean (eq. 7), and the posterior variance ``beta~_t`` (the "fixed small" choice,
LFDM's and diffusers' default) is used as the step variance; no noise is added at the last step (t = 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lfdm_bench.diffusion.ddim import Denoise, _randn_like
from lfdm_bench.diffusion.schedule import dynamic_threshold as _dynamic_threshold
from lfdm_bench.diffusion.schedule import split_prediction


@dataclass(frozen=True)
class Posterior:
    """Coefficients of q(x_{t-1} | x_t, x0) = N(coef_x0 * x0 + coef_xt * x_t, variance), float64 ``[T]`` each."""

    coef_x0: torch.Tensor
    coef_xt: torch.Tensor
    variance: torch.Tensor
    log_variance_clipped: torch.Tensor


def posterior_coefficients(betas: torch.Tensor) -> Posterior:
    """DDPM eq. 7:
    ``mu~ = sqrt(abar_{t-1}) beta_t / (1 - abar_t) x0 + sqrt(alpha_t) (1 - abar_{t-1}) / (1 - abar_t) x_t``
    and ``beta~_t = (1 - abar_{t-1}) / (1 - abar_t) beta_t`` with ``abar_{-1} = 1`` (so beta~_0 = 0; its log is
    clipped at 1e-20 as in the reference implementations)."""
    betas = betas.double()
    alphas = 1.0 - betas
    abar = torch.cumprod(alphas, dim=0)
    abar_prev = torch.cat([abar.new_ones(1), abar[:-1]])
    variance = betas * (1.0 - abar_prev) / (1.0 - abar)
    return Posterior(
        coef_x0=betas * abar_prev.sqrt() / (1.0 - abar),
        coef_xt=(1.0 - abar_prev) * alphas.sqrt() / (1.0 - abar),
        variance=variance,
        log_variance_clipped=variance.clamp(min=1e-20).log(),
    )


@torch.no_grad()
def ddpm_sample_loop(
    denoise: Denoise,
    x: torch.Tensor,
    betas: torch.Tensor,
    *,
    prediction: str = "eps",
    dynamic_threshold: float | None = None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, int]:
    """Run all T reverse steps from ``x`` (= x_T, ``[B, ...]``); returns (x_0, number of ``denoise`` calls = T)."""
    post = posterior_coefficients(betas)
    abar = torch.cumprod(1.0 - betas.double(), dim=0)
    T, B = betas.shape[0], x.shape[0]
    for t in range(T - 1, -1, -1):
        out = denoise(x, torch.full((B,), t, device=x.device, dtype=torch.long))
        x0, _ = split_prediction(out, x, float(abar[t]), prediction)
        x0 = _dynamic_threshold(x0, dynamic_threshold)
        mean = float(post.coef_x0[t]) * x0 + float(post.coef_xt[t]) * x  # eq. 7
        if t > 0:
            std = float((0.5 * post.log_variance_clipped[t]).exp())
            x = mean + std * _randn_like(x, generator)  # algorithm 2, line 4
        else:
            x = mean
    return x, T
