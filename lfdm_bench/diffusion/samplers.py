"""One entry point over all samplers: :func:`sample` (denoiser-agnostic; guidance lives in the denoise callable).

Sampler names:

* ``ddpm`` - our ancestral DDPM, all T steps (:mod:`lfdm_bench.diffusion.ddpm`).
* ``ddim`` - our DDIM over explicit timestep pairs, any step count and eta (:mod:`lfdm_bench.diffusion.ddim`);
  default spacing ``lfdm`` = the official LFDM sampler.
* ``diffusers-ddim``, ``diffusers-ddpm``, ``diffusers-dpmsolver++``, ``diffusers-euler``, ``diffusers-unipc`` -
  diffusers' schedulers built from our betas (:mod:`lfdm_bench.diffusion.diffusers_samplers`); ``dpmsolver++``,
  ``euler`` and ``unipc`` are accepted as short names.

NFE (number of network evaluations) = denoise calls x ``denoise_fn.nfe_per_call`` (1 when the callable has no
such attribute; a classifier-free-guided denoiser counts 2 per call since it evaluates the conditional and the null
branch, even though it does so in one batched forward).
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import torch

from lfdm_bench.diffusion.ddim import SPACINGS, Denoise, ddim_sample_loop, timestep_pairs
from lfdm_bench.diffusion.ddpm import ddpm_sample_loop
from lfdm_bench.diffusion.diffusers_samplers import DIFFUSERS_SCHEDULERS, diffusers_sample_loop, make_scheduler

SAMPLERS = ("ddpm", "ddim") + tuple(f"diffusers-{n}" for n in DIFFUSERS_SCHEDULERS)
_ALIASES = {"dpmsolver++": "diffusers-dpmsolver++", "euler": "diffusers-euler", "unipc": "diffusers-unipc"}


class SampleOutput(NamedTuple):
    """``sample``: x_0 ``[B, ...]``; ``nfe``: network evaluations per sample (guided steps count 2)."""

    sample: torch.Tensor
    nfe: int


def resolve_sampler(name: str) -> str:
    """Canonical sampler name; raises ValueError listing the valid names."""
    name = _ALIASES.get(name, name)
    if name not in SAMPLERS:
        valid = ", ".join(SAMPLERS + tuple(_ALIASES))
        raise ValueError(f"unknown sampler {name!r}; valid samplers: {valid}")
    return name


def sample(
    denoise_fn: Denoise,
    shape: Sequence[int],
    *,
    betas: torch.Tensor,
    prediction: str = "eps",
    sampler: str = "ddim",
    steps: int = 10,
    eta: float = 1.0,
    spacing: str | None = None,
    steps_offset: int = 0,
    pairs: Sequence[tuple[int, int]] | None = None,
    dynamic_threshold: float | None = None,
    generator: torch.Generator | None = None,
    noise: torch.Tensor | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> SampleOutput:
    """Draw x_0 of ``shape`` (e.g. ``[B, C, T, H, W]``) by reversing the diffusion with ``betas`` ``[T_train]``.

    denoise_fn: ``(x_t [B, ...], t [B]) -> model output`` (eps or v per ``prediction``).
    sampler: see the module docstring. steps: sampling steps (ignored by ``ddpm``, which runs all T).
    eta: DDIM stochasticity (1 = LFDM's default; ``ddim`` and ``diffusers-ddim`` only).
    spacing: timestep spacing; ``ddim``: one of leading, trailing, linspace, lfdm (default), lucidrains;
    diffusers samplers: leading, trailing, linspace (default: the scheduler's). pairs: explicit DDIM
    ``(t, t_next)`` pairs, overriding ``steps``/``spacing`` (``ddim`` only).
    noise: x_T (standard normal); drawn from ``generator`` on its device when None.
    """
    sampler = resolve_sampler(sampler)
    if noise is None:
        gen_device = generator.device if generator is not None else device
        noise = torch.randn(tuple(shape), generator=generator, device=gen_device, dtype=dtype)
        noise = noise.to(device if device is not None else noise.device)
    elif tuple(noise.shape) != tuple(shape):
        raise ValueError(f"noise has shape {tuple(noise.shape)}, expected {tuple(shape)}")
    per_call = int(getattr(denoise_fn, "nfe_per_call", 1))
    T = int(betas.shape[0])

    if sampler == "ddpm":
        x, calls = ddpm_sample_loop(
            denoise_fn, noise, betas, prediction=prediction, dynamic_threshold=dynamic_threshold, generator=generator
        )
    elif sampler == "ddim":
        if pairs is None:  # explicit pairs use the standard alpha lookup unless spacing='lfdm' is also given
            spacing = spacing or "lfdm"
            if spacing not in SPACINGS:
                raise ValueError(f"unknown DDIM timestep spacing {spacing!r}; expected one of {', '.join(SPACINGS)}")
            pairs = timestep_pairs(spacing, T, steps, steps_offset)
        abar = torch.cumprod(1.0 - betas.double(), dim=0)
        x, calls = ddim_sample_loop(
            denoise_fn,
            noise,
            abar,
            pairs,
            eta=eta,
            prediction=prediction,
            dynamic_threshold=dynamic_threshold,
            generator=generator,
            lfdm_alpha_shift=(spacing == "lfdm"),
        )
    else:
        if pairs is not None:
            raise ValueError("explicit DDIM pairs are only supported by sampler 'ddim'")
        name = sampler.removeprefix("diffusers-")
        scheduler = make_scheduler(
            name,
            betas,
            prediction,
            timestep_spacing=spacing,
            steps_offset=steps_offset,
            dynamic_threshold=dynamic_threshold,
        )
        x, calls = diffusers_sample_loop(
            denoise_fn,
            noise,
            scheduler,
            steps,
            eta=eta,
            prediction=prediction,
            dynamic_threshold=dynamic_threshold,
            generator=generator,
        )
    return SampleOutput(x, calls * per_call)
