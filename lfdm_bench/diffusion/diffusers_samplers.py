"""Samplers from diffusers' schedulers, built from OUR betas so that they sample the process the model was trained on.

A fresh scheduler is built for every call (diffusers' schedulers keep a step index and multistep history).
The scheduler is given ``trained_betas`` (float32, as diffusers stores them), ``clip_sample=False`` and our
prediction type mapped to its names (``eps`` -> ``epsilon``, ``v`` -> ``v_prediction``). Dynamic thresholding of
the predicted x0 uses the scheduler's own ``thresholding`` where it has one (DDIM, DDPM, DPM-Solver++, UniPC;
``sample_max_value`` unbounded, so it is exactly Imagen's rule); for Euler the model output is rewritten to the
eps/v of the thresholded x0 before the step.

The denoiser always receives the variance-preserving ``x_t`` (Euler's ``scale_model_input`` is applied) and the
scheduler's timestep (float for Euler) broadcast to ``[B]``.
"""

from __future__ import annotations

import inspect

import torch

from lfdm_bench.diffusion.ddim import Denoise
from lfdm_bench.diffusion.schedule import dynamic_threshold as _dynamic_threshold
from lfdm_bench.diffusion.schedule import output_from_x0, split_prediction

DIFFUSERS_SCHEDULERS = ("ddim", "ddpm", "dpmsolver++", "euler", "unipc")
PREDICTION_TYPES = {"eps": "epsilon", "v": "v_prediction"}


def _scheduler_class(name: str):
    import diffusers  # imported on use: keeps `import lfdm_bench.diffusion` light

    classes = {
        "ddim": diffusers.DDIMScheduler,
        "ddpm": diffusers.DDPMScheduler,
        "dpmsolver++": diffusers.DPMSolverMultistepScheduler,
        "euler": diffusers.EulerDiscreteScheduler,
        "unipc": diffusers.UniPCMultistepScheduler,
    }
    if name not in classes:
        raise ValueError(f"unknown diffusers sampler {name!r}; expected one of {', '.join(DIFFUSERS_SCHEDULERS)}")
    return classes[name]


def make_scheduler(
    name: str,
    betas: torch.Tensor,
    prediction: str = "eps",
    *,
    timestep_spacing: str | None = None,
    steps_offset: int = 0,
    dynamic_threshold: float | None = None,
    **overrides,
):
    """A new diffusers scheduler ``name`` over ``betas`` ``[T]``.

    timestep_spacing: ``leading`` | ``trailing`` | ``linspace`` (None keeps the scheduler's default: leading for
    DDIM/DDPM, linspace for the others). overrides: any other constructor argument of the scheduler class
    (e.g. ``solver_order=3``); unknown names raise a TypeError from diffusers.
    """
    if prediction not in PREDICTION_TYPES:
        raise ValueError(f"unknown prediction {prediction!r}; expected 'eps' or 'v'")
    cls = _scheduler_class(name)
    params = inspect.signature(cls.__init__).parameters
    kwargs: dict = dict(
        num_train_timesteps=int(betas.shape[0]),
        trained_betas=betas.detach().double().cpu().numpy(),
        prediction_type=PREDICTION_TYPES[prediction],
    )
    if "clip_sample" in params:
        kwargs["clip_sample"] = False
    if "set_alpha_to_one" in params:
        kwargs["set_alpha_to_one"] = True
    if "steps_offset" in params:
        kwargs["steps_offset"] = steps_offset
    if name == "dpmsolver++":
        kwargs["algorithm_type"] = "dpmsolver++"
    if timestep_spacing is not None:
        if timestep_spacing not in ("leading", "trailing", "linspace"):
            raise ValueError(
                f"diffusers schedulers take timestep_spacing leading, trailing or linspace, got {timestep_spacing!r}"
            )
        kwargs["timestep_spacing"] = timestep_spacing
    if dynamic_threshold is not None and "thresholding" in params:
        kwargs.update(thresholding=True, dynamic_thresholding_ratio=dynamic_threshold, sample_max_value=float("inf"))
    kwargs.update(overrides)
    return cls(**kwargs)


@torch.no_grad()
def diffusers_sample_loop(
    denoise: Denoise,
    noise: torch.Tensor,
    scheduler,
    num_steps: int,
    *,
    eta: float = 0.0,
    prediction: str = "eps",
    dynamic_threshold: float | None = None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, int]:
    """Sample with ``scheduler`` (from :func:`make_scheduler`) in ``num_steps`` steps from standard normal ``noise``
    ``[B, ...]``; returns (x_0, number of ``denoise`` calls). ``eta`` is used by DDIM only."""
    scheduler.set_timesteps(num_steps, device=noise.device)
    step_params = inspect.signature(scheduler.step).parameters
    step_kwargs: dict = {}
    if "generator" in step_params:
        step_kwargs["generator"] = generator
    if "eta" in step_params:
        step_kwargs["eta"] = eta
    rewrite_threshold = dynamic_threshold is not None and not getattr(scheduler.config, "thresholding", False)

    x = noise * scheduler.init_noise_sigma
    B, calls = x.shape[0], 0
    for i, t in enumerate(scheduler.timesteps):
        x_in = scheduler.scale_model_input(x, t)  # VP x_t (a no-op except for the sigma-space Euler)
        out = denoise(x_in, t.reshape(1).expand(B).to(x.device))
        calls += 1
        if rewrite_threshold:
            # abar of the VP process at this step: abar = 1 / (1 + sigma^2) for sigma-space schedulers
            if hasattr(scheduler, "sigmas"):
                abar = float(1.0 / (1.0 + scheduler.sigmas[i].double() ** 2))
            else:
                abar = float(scheduler.alphas_cumprod[int(t)])
            x0, _ = split_prediction(out, x_in, abar, prediction)
            out = output_from_x0(x_in, _dynamic_threshold(x0, dynamic_threshold), abar, prediction)
        x = scheduler.step(out, t, x, **step_kwargs).prev_sample
    return x, calls
