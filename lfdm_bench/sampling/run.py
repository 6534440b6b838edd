"""Sampling a trained run: the evaluation set of a split, written as a sample folder under ``RUN/samples/``.

:func:`sample_run` holds what every generator shares (sampler settings from the config or the call, the evaluation
set, the folder, the recorded settings and NFE); :func:`lfdm_bench.lfdm.sample.sample_lfdm_run` plugs in LFDM's
generator and :func:`baselines.ldm.sample.sample_ldm_run` the LDM's.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable

from lfdm_bench.checkpoints import training_progress, unfinished_training
from lfdm_bench.data.loading import load_data
from lfdm_bench.runs import Run
from lfdm_bench.sampling.eval_set import build_eval_set
from lfdm_bench.sampling.generate import GenerateFn, generate_eval_samples
from lfdm_bench.utils.device import autocast_dtype, pick_device

# make_generator(device, sampler=, steps=, eta=, guidance=, unconditional=, stats=, precision=) -> generate_fn
MakeGenerator = Callable[..., GenerateFn]


def sample_folder_name(split: str, sampler: str, steps: int, eta: float, guidance: float, unconditional: bool) -> str:
    cond = "uncond" if unconditional else f"g{guidance:g}"
    return f"{split}_{sampler}{steps}_eta{eta:g}_{cond}"


def training_state(run: Run) -> tuple[dict, str | None]:
    """The run's training progress per stage and what did not finish (``None``: all did); an unfinished run is
    sampled anyway, with a warning on stderr and in the run's log (the sample folder's ``settings.json`` records
    both)."""
    training = training_progress(run)
    unfinished = unfinished_training(training)
    if unfinished:
        print(f"warning: the training of {run.root} did not finish ({unfinished}); sampling it anyway, and "
              "settings.json of the sample folder says so", file=sys.stderr, flush=True)
        run.log(f"warning: sampling a run whose training did not finish ({unfinished})")
    return training, unfinished


def sample_run(run: Run, cfg: Any, method: str, make_generator: MakeGenerator, split: str = "test",
               per_pair: int | None = None, sampler: str | None = None, steps: int | None = None,
               eta: float | None = None, guidance: float | None = None, unconditional: bool = False,
               out: str | Path | None = None, progress: bool = True, max_subjects: int | None = None,
               under: str | Path | None = None) -> Path:
    """Generate every (subject x class) pair of ``split`` (of its first ``max_subjects`` subjects in sorted order,
    when given: a smaller, still class-balanced set); unset sampler settings come from ``cfg.sample``.

    ``cfg``: the run's config (LFDM's or LDM's: its ``data``, ``sample`` and ``device`` sections are read).
    The sample folder is ``out``, else ``under/<split>_<sampler settings>`` (``under`` defaults to ``RUN/samples``).
    A run whose training did not finish is sampled with a warning on stderr, recorded in ``settings.json``
    (``training``: steps done / planned per stage; ``training_unfinished``)."""
    s = cfg.sample
    sampler, steps = sampler or s.sampler, steps if steps is not None else s.steps
    eta = s.eta if eta is None else eta
    guidance = s.guidance if guidance is None else guidance
    if per_pair is not None and int(per_pair) < 1:
        raise ValueError(f"per_pair must be >= 1 (videos per subject x class pair), got {per_pair}")
    if int(steps) < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    per_pair = per_pair or s.per_pair
    unconditional = unconditional or s.unconditional
    training, unfinished = training_state(run)
    device = pick_device(cfg.device)
    info = load_data(cfg.data)
    subjects = None
    if max_subjects is not None:
        if int(max_subjects) < 1:
            raise ValueError(f"max_subjects must be >= 1, got {max_subjects}")
        subjects = sorted({r.subject for r in info.split(split)})[: int(max_subjects)]
    sources = build_eval_set(info.records, split, per_pair=per_pair, seed=s.seed, subjects=subjects)
    stats: dict = {}
    precision = "bf16" if autocast_dtype(s.precision, device, "sample.precision") is not None else "fp32"
    gen = make_generator(device, sampler=sampler, steps=steps, eta=eta, guidance=guidance,
                         unconditional=unconditional, stats=stats, precision=precision)
    name = sample_folder_name(split, sampler, steps, eta, guidance, unconditional)
    folder = Path(out) if out else Path(under if under is not None else run.samples) / name
    settings = {"sampler": sampler, "steps": steps, "eta": eta, "guidance": guidance, "unconditional": unconditional,
                "per_pair": per_pair, "dataset": cfg.data.dataset, "dataset_options": dict(cfg.data.options),
                "dataset_root": cfg.data.root, "size": cfg.data.size, "n_frames": cfg.data.n_frames,
                "run": str(run.root.resolve()), "sample_seed": s.seed, "max_subjects": max_subjects,
                "precision": precision, "clip_sampling": cfg.data.sampling, "training": training,
                "training_unfinished": unfinished}
    manifest = generate_eval_samples(gen, sources, folder, method=method, size=cfg.data.size, settings=settings,
                                     batch_size=s.batch_size, progress=progress)
    if stats:
        run.write_json({**settings, "nfe_per_video": stats.get("nfe")}, "samples", folder.name + ".json")
    run.log(f"sampled {len(sources)} {split} videos -> {manifest}")
    return manifest
