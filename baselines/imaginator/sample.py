"""Sampling a trained ImaGINator run: the same evaluation set, per-source seeds and sample-folder layout as the
diffusion generators; each video is one forward pass of the generator from the source image, the class (or the null
class) and a noise vector drawn from the source's seed."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch

from baselines.imaginator.config import ImaGINatorRunConfig
from baselines.imaginator.model import ImaGINator
from baselines.imaginator.train import load_imaginator
from lfdm_bench.checkpoints import run_config
from lfdm_bench.data.loading import load_data
from lfdm_bench.runs import Run
from lfdm_bench.sampling.eval_set import EvalSource, build_eval_set
from lfdm_bench.sampling.generate import GenerateFn, generate_eval_samples, initial_noise
from lfdm_bench.sampling.run import training_state
from lfdm_bench.utils.device import pick_device

SAMPLER = "generator"  # what the sample folder's settings say instead of a diffusion sampler


def imaginator_generator(model: ImaGINator, unconditional: bool = False) -> GenerateFn:
    """``generate_fn(images [B, 3, H, W] in [0, 1], sources) -> videos [B, T, 3, H, W] in [0, 1]``."""
    device = next(model.parameters()).device

    def generate(images: torch.Tensor, sources: Sequence[EvalSource]) -> torch.Tensor:
        z = initial_noise(sources, (model.cfg.z_dim,), device)  # [B, z_dim], from each source's seed
        y = None if unconditional else torch.tensor([s.class_index for s in sources], device=device)
        return model.generate(images.to(device).float(), z, y).transpose(1, 2)

    return generate


def imaginator_config(run: Run) -> ImaGINatorRunConfig:
    """The run's resolved config, as stored in its checkpoint; a run of another model is refused."""
    return run_config(run, "imaginator", ImaGINatorRunConfig, "an ImaGINator")


def sample_imaginator_run(run: Run, split: str = "test", per_pair: int | None = None, unconditional: bool = False,
                          out: str | Path | None = None, progress: bool = True, max_subjects: int | None = None,
                          under: str | Path | None = None, **sampler: Any) -> Path:
    """Generate every (subject x class) pair of ``split`` (arguments as
    :func:`lfdm_bench.sampling.run.sample_run`); diffusion sampler settings (``sampler``, ``steps``, ``eta``,
    ``guidance``) do not apply to a GAN and are refused when given."""
    given = {k: v for k, v in sampler.items() if v is not None}
    if given:
        raise ValueError(f"{run.root} is an ImaGINator (GAN) run: it has no sampler settings ({', '.join(given)})")
    cfg = imaginator_config(run)
    s = cfg.sample
    per_pair = per_pair or s.per_pair
    unconditional = unconditional or s.unconditional
    training, unfinished = training_state(run)
    info = load_data(cfg.data)
    subjects = sorted({r.subject for r in info.split(split)})[: int(max_subjects)] if max_subjects else None
    sources = build_eval_set(info.records, split, per_pair=per_pair, seed=s.seed, subjects=subjects)
    model = load_imaginator(run, pick_device(cfg.device))
    suffix = "_uncond" if unconditional else ""
    folder = Path(out) if out else Path(under if under is not None else run.samples) / f"{split}_{SAMPLER}{suffix}"
    settings = {"sampler": SAMPLER, "steps": 1, "eta": None, "guidance": None, "unconditional": unconditional,
                "per_pair": per_pair, "dataset": cfg.data.dataset, "dataset_options": dict(cfg.data.options),
                "dataset_root": cfg.data.root, "size": cfg.data.size, "n_frames": cfg.data.n_frames,
                "run": str(run.root.resolve()), "sample_seed": s.seed, "max_subjects": max_subjects,
                "precision": "fp32", "clip_sampling": cfg.data.sampling, "training": training,
                "training_unfinished": unfinished}
    manifest = generate_eval_samples(imaginator_generator(model, unconditional), sources, folder,
                                     method="imaginator", size=cfg.data.size, settings=settings,
                                     batch_size=s.batch_size, progress=progress)
    run.log(f"sampled {len(sources)} {split} videos -> {manifest}")
    return manifest
