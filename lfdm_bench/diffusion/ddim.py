"""DDIM sampling (Song et al. 2021, "Denoising Diffusion Implicit Models") over an explicit list of timestep pairs.

The sampler is kept apart from the network: it takes ``denoise(x_t [B, ...], t [B] int64) -> model output`` and a
list of ``(t, t_next)`` pairs built by :func:`timestep_pairs`. ``t_next = -1`` means the clean end of the chain,
``abar_{-1} = 1`` (diffusers' ``set_alpha_to_one=True``).

Timestep spacings (``S`` sampling steps out of ``T`` training steps):

* ``leading``  - ``t_i = i * (T // S) + steps_offset`` (diffusers' DDIM default), pairs are consecutive.
* ``trailing`` - ``t_i = round(T - i T/S) - 1``, i.e. starts at T-1 (Lin et al. 2024, table 2).
* ``linspace`` - ``t_i = round(linspace(0, T-1, S))``. We pair *consecutive* timesteps; diffusers' DDIMScheduler
  instead always steps to ``t - T//S`` (its open stride issue #12633), so the two only agree for ``leading`` and
  for ``trailing`` when S divides T (see :func:`diffusers_ddim_pairs` for diffusers' exact pairs).
* ``lfdm``     - the official LFDM sampler: ``times = int(linspace(0, T, S + 2))[:-1]`` reversed, pairs
  ``(times[i], times[i+1])``; for T = 1000, S = 10: (909, 818), (818, 727), ..., (90, 0). The official code reads
  both alphas from ``alphas_cumprod_prev`` (``abar_prev[t] = abar[t-1]``, ``abar_prev[0] = 1``) while its x0 is
  predicted with ``abar[t]``; :func:`ddim_sample_loop` reproduces this with ``lfdm_alpha_shift=True``.
* ``lucidrains`` - ``times = int(linspace(-1, T-1, S+1))`` reversed, pairs consecutive (denoising-diffusion-pytorch,
  imagen-pytorch): (999, 899), ..., (99, -1) for T = 1000, S = 10.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch

from lfdm_bench.diffusion.schedule import dynamic_threshold as _dynamic_threshold
from lfdm_bench.diffusion.schedule import split_prediction

Denoise = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

SPACINGS = ("leading", "trailing", "linspace", "lfdm", "lucidrains")


def _check_steps(num_train_timesteps: int, num_steps: int) -> None:
    if not 1 <= num_steps <= num_train_timesteps:
        raise ValueError(f"number of sampling steps must be in [1, {num_train_timesteps}], got {num_steps}")


def timestep_pairs(
    spacing: str, num_train_timesteps: int, num_steps: int, steps_offset: int = 0
) -> list[tuple[int, int]]:
    """``num_steps`` pairs ``(t, t_next)`` from noisy to clean; see the module docstring for each spacing."""
    T, S = num_train_timesteps, num_steps
    _check_steps(T, S)
    if spacing == "leading":
        ts = (np.arange(S) * (T // S) + steps_offset)[::-1]
    elif spacing == "trailing":
        ts = np.round(np.arange(T, 0, -T / S)).astype(np.int64) - 1
    elif spacing == "linspace":
        ts = np.linspace(0, T - 1, S).round().astype(np.int64)[::-1]
    elif spacing == "lfdm":
        # official: torch.linspace(0., T, steps=S + 2)[:-1], .int() truncates, reversed, zipped with its shift by one
        times = torch.linspace(0.0, T, steps=S + 2)[:-1].int().tolist()[::-1]  # [S+1], ends at 0
        return _check_pairs(spacing, list(zip(times[:-1], times[1:])))
    elif spacing == "lucidrains":
        times = torch.linspace(-1.0, T - 1, steps=S + 1).int().tolist()[::-1]  # [S+1], ends at -1
        return _check_pairs(spacing, list(zip(times[:-1], times[1:])))
    else:
        raise ValueError(f"unknown timestep spacing {spacing!r}; expected one of {', '.join(SPACINGS)}")
    ts = [int(t) for t in ts]
    return _check_pairs(spacing, list(zip(ts, ts[1:] + [-1])))


def _check_pairs(spacing: str, pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    if any(t_next >= t for t, t_next in pairs):
        raise ValueError(f"{spacing!r} spacing repeats a timestep at this step count ({len(pairs)}); use fewer steps")
    return pairs


def diffusers_ddim_pairs(
    spacing: str, num_train_timesteps: int, num_steps: int, steps_offset: int = 0
) -> list[tuple[int, int]]:
    """The pairs diffusers' ``DDIMScheduler`` actually uses: its timesteps with ``t_next = t - T // S`` (any
    negative ``t_next`` means ``abar = 1`` with ``set_alpha_to_one=True``, written here as -1)."""
    if spacing not in ("leading", "trailing", "linspace"):
        raise ValueError(f"diffusers' DDIMScheduler has no {spacing!r} spacing; use leading, trailing or linspace")
    T, S = num_train_timesteps, num_steps
    _check_steps(T, S)
    if spacing == "leading":
        ts = (np.arange(S) * (T // S)).round()[::-1].astype(np.int64) + steps_offset
    elif spacing == "trailing":
        ts = np.round(np.arange(T, 0, -T / S)).astype(np.int64) - 1
    else:
        ts = np.linspace(0, T - 1, S).round()[::-1].astype(np.int64)
    return [(int(t), max(int(t) - T // S, -1)) for t in ts]


def _randn_like(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Standard normal noise shaped like x, drawn on the generator's device (as diffusers' ``randn_tensor``)."""
    device = generator.device if generator is not None else x.device
    return torch.randn(x.shape, generator=generator, device=device, dtype=x.dtype).to(x.device)


@torch.no_grad()
def ddim_sample_loop(
    denoise: Denoise,
    x: torch.Tensor,
    alphas_cumprod: torch.Tensor,
    pairs: Sequence[tuple[int, int]],
    *,
    eta: float = 0.0,
    prediction: str = "eps",
    dynamic_threshold: float | None = None,
    generator: torch.Generator | None = None,
    lfdm_alpha_shift: bool = False,
) -> tuple[torch.Tensor, int]:
    """Run DDIM from ``x`` (= x_T, ``[B, ...]``) over ``pairs``; returns (x_0, number of ``denoise`` calls).

    Each step is DDIM eq. 12 with the variance of eq. 16::

        x0   = predicted from the model output at abar_t (then dynamically thresholded)
        sigma = eta * sqrt((1 - abar_next) / (1 - abar_t)) * sqrt(1 - abar_t / abar_next)
        x_next = sqrt(abar_next) x0 + sqrt(1 - abar_next - sigma^2) eps + sigma z

    ``eps`` is the model's (unthresholded) noise prediction, as in diffusers (``use_clipped_model_output=False``)
    and the official LFDM code. eta = 0 is deterministic DDIM, eta = 1 the DDPM-like ancestral sampler (LFDM's
    default). ``lfdm_alpha_shift``: as the official LFDM sampler (use with the ``lfdm`` spacing), read both alphas of
    the update from ``abar_prev`` (``abar_prev[t] = abar[t-1]``, ``abar_prev[0] = 1``): ``abar_prev[t]`` replaces
    ``abar_t`` in sigma and ``abar_next = abar_prev[t_next]``; x0 and eps are still predicted at ``abar_t``.
    The loop reads no tensor back to the host (the schedule is Python floats, the timesteps are filled on the
    device), so on CUDA the steps are queued without waiting for the GPU.
    """
    abar = alphas_cumprod.double().cpu().tolist()  # Python floats: the loop reads no tensor back to the host
    T = len(abar)
    B = x.shape[0]

    def abar_at(t: int) -> float:  # abar_{-1} = 1 (the clean end)
        return 1.0 if t < 0 else abar[t]

    calls = 0
    for t, t_next in pairs:
        if not (0 <= t < T and -1 <= t_next < t):
            raise ValueError(f"bad DDIM pair ({t}, {t_next}): need 0 <= t < {T} and -1 <= t_next < t")
        a_t = abar_at(t)
        a_sig, a_next = (abar_at(t - 1), abar_at(t_next - 1)) if lfdm_alpha_shift else (a_t, abar_at(t_next))
        out = denoise(x, torch.full((B,), t, device=x.device, dtype=torch.long))
        calls += 1
        x0, eps = split_prediction(out, x, a_t, prediction)
        x0 = _dynamic_threshold(x0, dynamic_threshold)
        sigma = 0.0
        if eta > 0 and a_sig < 1.0:
            sigma = eta * ((1 - a_next) / (1 - a_sig) * (1 - a_sig / a_next)) ** 0.5  # eq. 16
        c = max(1 - a_next - sigma**2, 0.0) ** 0.5
        x = a_next**0.5 * x0 + c * eps  # eq. 12 without the noise term
        if sigma > 0:
            x = x + sigma * _randn_like(x, generator)
    return x, calls
