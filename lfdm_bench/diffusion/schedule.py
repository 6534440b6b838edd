"""Noise schedules and the parameterisation algebra of Gaussian diffusion (pure functions, no state).

Notation follows Ho et al. 2020 (DDPM): ``beta_t`` the per-step noise variance, ``alpha_t = 1 - beta_t`` and
``abar_t = prod_{s<=t} alpha_s`` (``alphas_cumprod``). Timesteps are 0-based: index ``t`` in ``[0, T-1]`` is the
paper's step ``t + 1``. The forward process (DDPM eq. 4) is ``x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps``.

A network predicts one of
  * ``eps`` - the noise (DDPM eq. 11-14),
  * ``v``   - ``v = sqrt(abar_t) eps - sqrt(1 - abar_t) x0`` (Salimans & Ho 2022, "progressive distillation", sec. 4),
and the functions here convert between eps, x0 and v given ``abar_t`` broadcast to the sample's shape.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch

Prediction = Literal["eps", "v"]


# ----------------------------------------------------------------------------------------------------------------
# schedules


def cosine_betas(num_timesteps: int, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """Cosine schedule (Nichol & Dhariwal 2021, eq. 17):
    ``abar(t) = f(t)/f(0)``, ``f(t) = cos((t/T + s)/(1 + s) pi/2)^2``.

    ``beta_t = 1 - abar(t+1)/abar(t)`` clipped to ``max_beta`` (0.999 in the improved-DDPM paper; the official LFDM
    code clips at 0.9999). Returns float64 ``[T]``.
    """
    if num_timesteps < 1:
        raise ValueError(f"num_timesteps must be >= 1, got {num_timesteps}")
    t = torch.arange(num_timesteps + 1, dtype=torch.float64)  # [T+1]
    f = torch.cos((t / num_timesteps + s) / (1 + s) * math.pi * 0.5) ** 2
    abar = f / f[0]
    betas = 1.0 - abar[1:] / abar[:-1]
    return betas.clamp(0.0, max_beta)


def linear_betas(num_timesteps: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    """Linear schedule of DDPM (sec. 4: beta from 1e-4 to 0.02 at T = 1000), rescaled by 1000/T so that other T keep
    the same total noise (as improved-DDPM does). Returns float64 ``[T]``."""
    if num_timesteps < 1:
        raise ValueError(f"num_timesteps must be >= 1, got {num_timesteps}")
    scale = 1000.0 / num_timesteps
    return torch.linspace(beta_start * scale, beta_end * scale, num_timesteps, dtype=torch.float64)


def make_betas(schedule: str, num_timesteps: int, max_beta: float = 0.999) -> torch.Tensor:
    """Betas by schedule name (``cosine`` | ``linear``), float64 ``[T]``."""
    if schedule == "cosine":
        return cosine_betas(num_timesteps, max_beta=max_beta)
    if schedule == "linear":
        return linear_betas(num_timesteps)
    raise ValueError(f"unknown noise schedule {schedule!r}; expected 'cosine' or 'linear'")


def alphas_cumprod_from_betas(betas: torch.Tensor) -> torch.Tensor:
    """``abar_t = prod_{s<=t} (1 - beta_s)``, computed in float64."""
    return torch.cumprod(1.0 - betas.double(), dim=0)


# ----------------------------------------------------------------------------------------------------------------
# config


@dataclass
class DiffusionConfig:
    """The diffusion process of a denoiser (stored with its checkpoint).

    num_timesteps: training steps T. schedule: ``cosine`` (LFDM) | ``linear``. max_beta: clip of the cosine betas.
    prediction: what the network outputs, ``eps`` (LFDM) | ``v``. loss: ``mse`` (LFDM) | ``l1``.
    cfg_drop_prob: probability of replacing the text condition by the null condition in training
    (classifier-free guidance, 0.1 in LFDM). dynamic_threshold: Imagen's percentile for clamping predicted x0 while
    sampling (0.9 in LFDM), None = no thresholding.
    """

    num_timesteps: int = 1000
    schedule: Literal["cosine", "linear"] = "cosine"
    max_beta: float = 0.999
    prediction: Literal["eps", "v"] = "eps"
    loss: Literal["mse", "l1"] = "mse"
    cfg_drop_prob: float = 0.1
    dynamic_threshold: float | None = 0.9

    def __post_init__(self) -> None:
        if self.num_timesteps < 1:
            raise ValueError(f"num_timesteps must be >= 1, got {self.num_timesteps}")
        if self.schedule not in ("cosine", "linear"):
            raise ValueError(f"schedule must be 'cosine' or 'linear', got {self.schedule!r}")
        if self.prediction not in ("eps", "v"):
            raise ValueError(f"prediction must be 'eps' or 'v', got {self.prediction!r}")
        if self.loss not in ("mse", "l1"):
            raise ValueError(f"loss must be 'mse' or 'l1', got {self.loss!r}")
        if not 0.0 <= self.cfg_drop_prob <= 1.0:
            raise ValueError(f"cfg_drop_prob must be in [0, 1], got {self.cfg_drop_prob}")
        if self.dynamic_threshold is not None and not 0.0 < self.dynamic_threshold <= 1.0:
            raise ValueError(f"dynamic_threshold must be a percentile in (0, 1] or None, got {self.dynamic_threshold}")
        if not 0.0 < self.max_beta < 1.0:
            raise ValueError(f"max_beta must be in (0, 1), got {self.max_beta}")


# ----------------------------------------------------------------------------------------------------------------
# parameterisation algebra; `abar` is a tensor broadcastable to the sample (e.g. [B, 1, 1, 1, 1]) or a float


def expand_to(a: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``a`` [B] -> [B, 1, ..., 1] with x's number of dims, on x's device and dtype."""
    return a.to(device=x.device, dtype=x.dtype).reshape(a.shape[0], *([1] * (x.ndim - 1)))


def x0_from_eps(x_t: torch.Tensor, eps: torch.Tensor, abar) -> torch.Tensor:
    """DDPM eq. 4 solved for x0 (the "predicted x0" of DDIM eq. 12): ``(x_t - sqrt(1-abar) eps) / sqrt(abar)``."""
    return (x_t - (1 - abar) ** 0.5 * eps) / abar**0.5


def eps_from_x0(x_t: torch.Tensor, x0: torch.Tensor, abar) -> torch.Tensor:
    """DDPM eq. 4 solved for eps: ``(x_t - sqrt(abar) x0) / sqrt(1-abar)``."""
    return (x_t - abar**0.5 * x0) / (1 - abar) ** 0.5


def v_from_eps_x0(eps: torch.Tensor, x0: torch.Tensor, abar) -> torch.Tensor:
    """``v = sqrt(abar) eps - sqrt(1-abar) x0`` (Salimans & Ho 2022)."""
    return abar**0.5 * eps - (1 - abar) ** 0.5 * x0


def x0_from_v(x_t: torch.Tensor, v: torch.Tensor, abar) -> torch.Tensor:
    """``x0 = sqrt(abar) x_t - sqrt(1-abar) v``."""
    return abar**0.5 * x_t - (1 - abar) ** 0.5 * v


def eps_from_v(x_t: torch.Tensor, v: torch.Tensor, abar) -> torch.Tensor:
    """``eps = sqrt(1-abar) x_t + sqrt(abar) v``."""
    return (1 - abar) ** 0.5 * x_t + abar**0.5 * v


def split_prediction(
    model_out: torch.Tensor, x_t: torch.Tensor, abar, prediction: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Model output -> (x0, eps) for ``prediction`` in {'eps', 'v'}."""
    if prediction == "eps":
        return x0_from_eps(x_t, model_out, abar), model_out
    if prediction == "v":
        return x0_from_v(x_t, model_out, abar), eps_from_v(x_t, model_out, abar)
    raise ValueError(f"unknown prediction {prediction!r}; expected 'eps' or 'v'")


def output_from_x0(x_t: torch.Tensor, x0: torch.Tensor, abar, prediction: str) -> torch.Tensor:
    """The model output ('eps' or 'v') that corresponds to a given x0 at ``x_t``."""
    eps = eps_from_x0(x_t, x0, abar)
    if prediction == "eps":
        return eps
    if prediction == "v":
        return v_from_eps_x0(eps, x0, abar)
    raise ValueError(f"unknown prediction {prediction!r}; expected 'eps' or 'v'")


def dynamic_threshold(x0: torch.Tensor, percentile: float | None) -> torch.Tensor:
    """Imagen's dynamic thresholding (Saharia et al. 2022, sec. 2.3) of a predicted x0 ``[B, ...]``.

    Per sample, ``s`` = the ``percentile`` quantile of ``|x0|``; where ``s > 1`` the sample is clamped to
    ``[-s, s]`` and divided by ``s``, otherwise it is clamped to ``[-1, 1]`` (s = 1: static clipping).
    ``percentile=None`` returns x0 unchanged.
    """
    if percentile is None:
        return x0
    flat = x0.reshape(x0.shape[0], -1).abs().float()  # [B, N]; quantile needs float32/64
    s = torch.quantile(flat, percentile, dim=1).clamp(min=1.0).to(x0.dtype)  # [B]
    s = s.reshape(-1, *([1] * (x0.ndim - 1)))
    return x0.clamp(-s, s) / s
