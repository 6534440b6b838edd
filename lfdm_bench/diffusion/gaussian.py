"""Gaussian diffusion (Ho et al. 2020) around a denoiser: forward noising, training loss, guided sampling.

``GaussianDiffusion`` holds the schedule as buffers and never owns the network: every method that needs the model
takes ``model_fn(x_t [B, C, T, H, W], t [B], cond_image=..., text_emb=..., null_text_mask=...) -> [B, C, T, H, W]``
(the signature of :class:`lfdm_bench.models.unet3d.UNet3D`). Timesteps are 0-based (index ``t`` = paper step t+1).

Classifier-free guidance (Ho & Salimans 2022): training replaces the text condition by the null condition with
probability ``cfg_drop_prob`` per sample; sampling uses ``out = out_null + scale * (out_cond - out_null)`` computed
in ONE forward over the batch ``[cond; null]`` (2 NFE per step) when ``scale != 1``, and a single conditional
forward (1 NFE) when ``scale == 1``.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from lfdm_bench.diffusion.samplers import SampleOutput
from lfdm_bench.diffusion.samplers import sample as _sample
from lfdm_bench.diffusion.schedule import (
    DiffusionConfig,
    alphas_cumprod_from_betas,
    dynamic_threshold,
    eps_from_v,
    eps_from_x0,
    expand_to,
    make_betas,
    split_prediction,
    v_from_eps_x0,
    x0_from_eps,
    x0_from_v,
)

ModelFn = Callable[..., torch.Tensor]


def _draw(kind: str, shape, generator: torch.Generator | None, device, dtype=torch.float32, high: int = 0):
    """Random numbers drawn on the generator's device (CPU generators work for CUDA tensors), moved to ``device``."""
    gen_device = generator.device if generator is not None else device
    if kind == "randn":
        out = torch.randn(shape, generator=generator, device=gen_device, dtype=dtype)
    elif kind == "rand":
        out = torch.rand(shape, generator=generator, device=gen_device, dtype=dtype)
    else:
        out = torch.randint(0, high, shape, generator=generator, device=gen_device)
    return out.to(device)


class GuidedDenoiser:
    """``denoise(x_t, t) -> model output`` with the conditions bound and classifier-free guidance applied.

    guidance_scale: 1 = conditional output (1 forward, 1 NFE); 0 = null-condition output (1 forward, 1 NFE);
    otherwise ``null + scale * (cond - null)`` from one forward over ``[cond; null]`` stacked on the batch (2 NFE).
    Without a text condition there is nothing to guide and every call is 1 plain forward.
    Counters: ``forward_calls`` (network forwards) and ``nfe`` (network evaluations per sample).
    """

    def __init__(
        self,
        model_fn: ModelFn,
        *,
        cond_image: torch.Tensor | None = None,
        text_emb: torch.Tensor | None = None,
        guidance_scale: float = 1.0,
    ) -> None:
        self.model_fn = model_fn
        self.cond_image = cond_image
        self.text_emb = text_emb
        self.guidance_scale = float(guidance_scale)
        self.forward_calls = 0
        self.nfe = 0

    @property
    def guided(self) -> bool:
        return self.text_emb is not None and self.guidance_scale not in (0.0, 1.0)

    @property
    def nfe_per_call(self) -> int:
        return 2 if self.guided else 1

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.forward_calls += 1
        self.nfe += self.nfe_per_call
        B = x.shape[0]
        if not self.guided:
            null = None
            if self.text_emb is not None and self.guidance_scale == 0.0:
                null = torch.ones(B, dtype=torch.bool, device=x.device)
            return self.model_fn(x, t, cond_image=self.cond_image, text_emb=self.text_emb, null_text_mask=null)
        # one batched forward: rows [0, B) conditional, rows [B, 2B) null condition
        x2 = torch.cat([x, x])  # [2B, C, T, H, W]
        t2 = torch.cat([t, t])  # [2B]
        ci2 = None if self.cond_image is None else torch.cat([self.cond_image, self.cond_image])
        te2 = torch.cat([self.text_emb, self.text_emb])  # [2B, D]
        null = torch.arange(2 * B, device=x.device) >= B  # [2B] bool
        out_cond, out_null = self.model_fn(x2, t2, cond_image=ci2, text_emb=te2, null_text_mask=null).chunk(2)
        return out_null + self.guidance_scale * (out_cond - out_null)


class GaussianDiffusion(nn.Module):
    """The diffusion process of :class:`DiffusionConfig`; schedule tensors are float32 buffers ``[T]``."""

    def __init__(self, cfg: DiffusionConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or DiffusionConfig()
        betas = make_betas(cfg.schedule, cfg.num_timesteps, cfg.max_beta)  # float64 [T]
        abar = alphas_cumprod_from_betas(betas)
        abar_prev = torch.cat([abar.new_ones(1), abar[:-1]])
        reg = lambda name, val: self.register_buffer(name, val.float(), persistent=False)  # noqa: E731
        reg("betas", betas)
        reg("alphas_cumprod", abar)
        reg("alphas_cumprod_prev", abar_prev)
        reg("sqrt_alphas_cumprod", abar.sqrt())
        reg("sqrt_one_minus_alphas_cumprod", (1 - abar).sqrt())
        var = betas * (1 - abar_prev) / (1 - abar)  # DDPM eq. 7, beta~_t
        reg("posterior_variance", var)
        reg("posterior_log_variance_clipped", var.clamp(min=1e-20).log())
        reg("posterior_mean_coef1", betas * abar_prev.sqrt() / (1 - abar))
        reg("posterior_mean_coef2", (1 - abar_prev) * (1 - betas).sqrt() / (1 - abar))

    @property
    def num_timesteps(self) -> int:
        return self.cfg.num_timesteps

    def betas_float64(self) -> torch.Tensor:
        """The exact schedule (float64, CPU), rebuilt from the config; samplers use this, not the float32 buffer."""
        return make_betas(self.cfg.schedule, self.cfg.num_timesteps, self.cfg.max_beta)

    def _abar(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return expand_to(self.alphas_cumprod.to(t.device)[t.long()], x)  # [B, 1, ..., 1]

    # -- forward process and conversions ---------------------------------------------------------------------

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """DDPM eq. 4: ``x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) noise``; x0, noise ``[B, ...]``, t ``[B]`` int."""
        a = self._abar(t, x0)
        return a.sqrt() * x0 + (1 - a).sqrt() * noise

    def predict_x0_from_eps(self, x_t: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        return x0_from_eps(x_t, eps, self._abar(t, x_t))

    def predict_eps_from_x0(self, x_t: torch.Tensor, t: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
        return eps_from_x0(x_t, x0, self._abar(t, x_t))

    def get_v(self, x0: torch.Tensor, eps: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The v-prediction target ``sqrt(abar_t) eps - sqrt(1 - abar_t) x0``."""
        return v_from_eps_x0(eps, x0, self._abar(t, x0))

    def predict_x0_from_v(self, x_t: torch.Tensor, t: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return x0_from_v(x_t, v, self._abar(t, x_t))

    def predict_eps_from_v(self, x_t: torch.Tensor, t: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return eps_from_v(x_t, v, self._abar(t, x_t))

    def x0_eps_from_output(self, out: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor):
        """Model output (per ``cfg.prediction``) -> (x0, eps), x0 not thresholded."""
        return split_prediction(out, x_t, self._abar(t, x_t), self.cfg.prediction)

    def threshold(self, x0: torch.Tensor) -> torch.Tensor:
        """Dynamic thresholding of x0 with ``cfg.dynamic_threshold`` (identity when None)."""
        return dynamic_threshold(x0, self.cfg.dynamic_threshold)

    def q_posterior(self, x0: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor):
        """DDPM eq. 6-7: mean, variance and clipped log-variance of q(x_{t-1} | x_t, x0)."""
        c1 = expand_to(self.posterior_mean_coef1.to(t.device)[t], x_t)
        c2 = expand_to(self.posterior_mean_coef2.to(t.device)[t], x_t)
        var = expand_to(self.posterior_variance.to(t.device)[t], x_t)
        logvar = expand_to(self.posterior_log_variance_clipped.to(t.device)[t], x_t)
        return c1 * x0 + c2 * x_t, var, logvar

    # -- training ------------------------------------------------------------------------------------------------

    def training_loss(
        self,
        model_fn: ModelFn,
        x0: torch.Tensor,
        *,
        cond_image: torch.Tensor | None = None,
        text_emb: torch.Tensor | None = None,
        null_text_mask: torch.Tensor | None = None,
        t: torch.Tensor | None = None,
        noise: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Simple loss (DDPM eq. 14) ``|| target - model(x_t, t, cond) ||`` averaged over all elements (float32).

        x0: ``[B, C, T, H, W]`` target in about [-1, 1]. t: ``[B]`` (uniform over ``[0, T)`` when None); noise like
        x0 (standard normal when None); both drawn from ``generator``. The target is eps or v per
        ``cfg.prediction``. With a text condition, each sample's text is replaced by the null condition with
        probability ``cfg_drop_prob`` (OR-ed with ``null_text_mask`` [B] bool, e.g. for unlabelled samples).
        """
        B, device = x0.shape[0], x0.device
        if t is None:
            t = _draw("randint", (B,), generator, device, high=self.num_timesteps)
        if noise is None:
            noise = _draw("randn", tuple(x0.shape), generator, device, dtype=x0.dtype)
        if text_emb is not None:
            drop = _draw("rand", (B,), generator, device) < self.cfg.cfg_drop_prob  # [B] bool
            if null_text_mask is not None:
                drop = drop | null_text_mask.to(device=device, dtype=torch.bool)
            null_text_mask = drop
        x_t = self.q_sample(x0, t, noise)
        out = model_fn(x_t, t, cond_image=cond_image, text_emb=text_emb, null_text_mask=null_text_mask)
        target = noise if self.cfg.prediction == "eps" else self.get_v(x0, noise, t)
        if out.shape != target.shape:
            raise ValueError(f"model output has shape {tuple(out.shape)}, expected {tuple(target.shape)} like x0")
        if self.cfg.loss == "mse":
            return F.mse_loss(out.float(), target.float())
        return F.l1_loss(out.float(), target.float())

    # -- sampling --------------------------------------------------------------------------------------------------

    def guided_denoiser(
        self,
        model_fn: ModelFn,
        *,
        cond_image: torch.Tensor | None = None,
        text_emb: torch.Tensor | None = None,
        guidance_scale: float = 1.0,
    ) -> GuidedDenoiser:
        return GuidedDenoiser(model_fn, cond_image=cond_image, text_emb=text_emb, guidance_scale=guidance_scale)

    @torch.no_grad()
    def sample(
        self,
        model_fn: ModelFn,
        shape,
        *,
        cond_image: torch.Tensor | None = None,
        text_emb: torch.Tensor | None = None,
        guidance_scale: float = 1.0,
        sampler: str = "ddim",
        steps: int = 10,
        eta: float = 1.0,
        spacing: str | None = None,
        generator: torch.Generator | None = None,
        noise: torch.Tensor | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> SampleOutput:
        """Generate x_0 ``shape`` = ``[B, C, T, H, W]`` with ``model_fn`` conditioned on ``cond_image``
        ``[B, C_cond, H, W]`` and ``text_emb`` ``[B, D]``. Defaults = LFDM's test setting: DDIM, 10 steps, eta 1,
        the ``lfdm`` timestep pairs, guidance scale 1, dynamic thresholding per config. Returns (sample, NFE)."""
        denoise = self.guided_denoiser(
            model_fn, cond_image=cond_image, text_emb=text_emb, guidance_scale=guidance_scale
        )
        if device is None:
            device = noise.device if noise is not None else self.betas.device
        return _sample(
            denoise,
            shape,
            betas=self.betas_float64(),
            prediction=self.cfg.prediction,
            sampler=sampler,
            steps=steps,
            eta=eta,
            spacing=spacing,
            dynamic_threshold=self.cfg.dynamic_threshold,
            generator=generator,
            noise=noise,
            device=device,
            dtype=dtype,
        )
