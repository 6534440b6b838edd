"""Sampling a trained LDM baseline run: the same evaluation set, seeds and sample-folder layout as LFDM.

The DM samples scaled latents ``[B, c, T, h, w]`` conditioned on the source image's latent; every frame is decoded
by the autoencoder (one batch of ``B*T`` images). The initial noise of each video depends only on its source's
seed (:func:`lfdm_bench.sampling.lfdm.initial_noise`), as for LFDM.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch

from baselines.ldm.autoencoder import KLAutoencoder
from lfdm_bench.models.video_diffusion import VideoDiffusion
from lfdm_bench.runs import Run
from lfdm_bench.sampling.eval_set import EvalSource
from lfdm_bench.sampling.lfdm import initial_noise


def ldm_generator(ae: KLAutoencoder, dm: VideoDiffusion, n_frames: int, *, sampler: str = "ddim", steps: int = 10,
                  eta: float = 1.0, guidance: float = 1.0, unconditional: bool = False, stats: dict | None = None,
                  decode_chunk: int | None = 256):
    """``generate_fn(images [B, 3, H, W] in [0, 1], sources) -> videos [B, T, 3, H, W] in [0, 1]``."""
    device = next(dm.parameters()).device

    def generate(images: torch.Tensor, sources: Sequence[EvalSource]) -> torch.Tensor:
        images = images.to(device)
        cond = ae.to_diffusion(ae.encode(images).mode())  # [B, c, h, w], scaled like the training latents
        cls = None if unconditional else torch.tensor([s.class_index for s in sources], device=device)
        c, h, w = cond.shape[1:]
        noise = initial_noise(sources, (c, n_frames, h, w), device)  # [B, c, T, h, w]
        gen = torch.Generator(device=device).manual_seed(sources[0].seed)  # per-step noise of stochastic samplers
        out = dm.sample(cond, cls, n_frames, sampler=sampler, steps=steps, eta=eta, guidance=guidance,
                        generator=gen, noise=noise)
        if stats is not None:
            stats["nfe"] = out.nfe
        video = ae.decode_video(ae.from_diffusion(out.sample), chunk_size=decode_chunk)  # [B, 3, T, H, W]
        return video.transpose(1, 2)  # [B, T, 3, H, W]

    return generate


def load_ldm_dm(run: Run, device: torch.device | str = "cpu") -> VideoDiffusion:
    """The run's latent DM (EMA weights when kept); the same checkpoint format as LFDM's stage 2."""
    from lfdm_bench.training.lfdm import load_dm

    return load_dm(run, device)


def sample_ldm_run(run: Run, split: str = "test", per_pair: int | None = None, sampler: str | None = None,
                   steps: int | None = None, eta: float | None = None, guidance: float | None = None,
                   unconditional: bool = False, out: str | Path | None = None, progress: bool = True) -> Path:
    """Generate every (subject x class) pair of ``split`` with the run's autoencoder + DM; returns the manifest."""
    from baselines.ldm.config import LDMConfig
    from baselines.ldm.train import load_ae
    from lfdm_bench.config import load_config
    from lfdm_bench.sampling.eval_set import build_eval_set
    from lfdm_bench.sampling.generate import generate_eval_samples
    from lfdm_bench.sampling.run import sample_folder_name
    from lfdm_bench.training.lfdm import load_data, pick_device

    cfg = load_config(LDMConfig, run.config_path)
    s = cfg.sample
    sampler, steps = sampler or s.sampler, steps if steps is not None else s.steps
    eta = s.eta if eta is None else eta
    guidance = s.guidance if guidance is None else guidance
    per_pair = per_pair or s.per_pair
    unconditional = unconditional or s.unconditional
    device = pick_device(cfg.device)
    info = load_data(cfg.data)
    ae, dm = load_ae(run, device), load_ldm_dm(run, device)
    sources = build_eval_set(info.records, split, per_pair=per_pair, seed=s.seed)
    stats: dict = {}
    gen = ldm_generator(ae, dm, cfg.data.n_frames, sampler=sampler, steps=steps, eta=eta, guidance=guidance,
                        unconditional=unconditional, stats=stats)
    folder = Path(out) if out else run.samples / sample_folder_name(split, sampler, steps, eta, guidance, unconditional)
    settings = {"sampler": sampler, "steps": steps, "eta": eta, "guidance": guidance, "unconditional": unconditional,
                "per_pair": per_pair, "dataset": cfg.data.dataset, "size": cfg.data.size,
                "n_frames": cfg.data.n_frames, "run": str(run.root), "sample_seed": s.seed}
    manifest = generate_eval_samples(gen, sources, folder, method="ldm", size=cfg.data.size, settings=settings,
                                     batch_size=s.batch_size, progress=progress)
    if stats:
        run.write_json({**settings, "nfe_per_video": stats.get("nfe")}, "samples", folder.name + ".json")
    run.log(f"sampled {len(sources)} {split} videos -> {manifest}")
    return manifest
