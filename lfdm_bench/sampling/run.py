"""Sampling a trained LFDM run: the evaluation set of a split, written as a sample folder under ``RUN/samples/``."""

from __future__ import annotations

from pathlib import Path

from lfdm_bench.config import load_config
from lfdm_bench.experiment import LFDMConfig
from lfdm_bench.runs import Run
from lfdm_bench.sampling.eval_set import build_eval_set
from lfdm_bench.sampling.generate import generate_eval_samples
from lfdm_bench.sampling.lfdm import lfdm_generator


def sample_folder_name(split: str, sampler: str, steps: int, eta: float, guidance: float, unconditional: bool) -> str:
    cond = "uncond" if unconditional else f"g{guidance:g}"
    return f"{split}_{sampler}{steps}_eta{eta:g}_{cond}"


def sample_lfdm_run(run: Run, split: str = "test", per_pair: int | None = None, sampler: str | None = None,
                    steps: int | None = None, eta: float | None = None, guidance: float | None = None,
                    unconditional: bool = False, out: str | Path | None = None, progress: bool = True) -> Path:
    """Generate every (subject x class) pair of ``split`` with the run's LFAE + DM; returns the manifest path."""
    from lfdm_bench.training.lfdm import load_data, load_dm, load_lfae, pick_device

    cfg = load_config(LFDMConfig, run.config_path)
    s = cfg.sample
    sampler, steps = sampler or s.sampler, steps if steps is not None else s.steps
    eta = s.eta if eta is None else eta
    guidance = s.guidance if guidance is None else guidance
    per_pair = per_pair or s.per_pair
    unconditional = unconditional or s.unconditional
    device = pick_device(cfg.device)
    info = load_data(cfg.data)
    lfae, dm = load_lfae(run, device), load_dm(run, device)
    sources = build_eval_set(info.records, split, per_pair=per_pair, seed=s.seed)
    stats: dict = {}
    gen = lfdm_generator(lfae, dm, cfg.data.n_frames, sampler=sampler, steps=steps, eta=eta, guidance=guidance,
                         unconditional=unconditional, stats=stats)
    folder = Path(out) if out else run.samples / sample_folder_name(split, sampler, steps, eta, guidance, unconditional)
    settings = {"sampler": sampler, "steps": steps, "eta": eta, "guidance": guidance, "unconditional": unconditional,
                "per_pair": per_pair, "dataset": cfg.data.dataset, "size": cfg.data.size,
                "n_frames": cfg.data.n_frames, "run": str(run.root), "sample_seed": s.seed}
    manifest = generate_eval_samples(gen, sources, folder, method="lfdm", size=cfg.data.size, settings=settings,
                                     batch_size=s.batch_size, progress=progress)
    if stats:
        run.write_json({**settings, "nfe_per_video": stats.get("nfe")}, "samples", folder.name + ".json")
    run.log(f"sampled {len(sources)} {split} videos -> {manifest}")
    return manifest
