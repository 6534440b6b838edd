"""Conditional vs unconditional generation of one trained run (LFDM, LDM, VDM or ImaGINator): the same sources and
seeds, sampled with the class text and with the null condition, both scored under ONE protocol (FVD + class accuracy).

The accuracy of unconditional videos is measured against the class of their source video: a generator that ignores
the class scores about chance there, which is the point of the comparison.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from bench.ablate import split_detector
from bench.experiments.common import (LogFn, check_split, experiment_protocol, experiment_state, say_to,
                                                 score, write_experiment_tables)
from bench.generators import open_trained_run
from metrics.protocol import parse_metrics

UNCOND_COLUMNS = ("row", "method", "condition", "guidance", "fvd", "acc_motion", "acc_i3d", "seconds_per_video",
                  "n_videos")


def _sampler(s) -> dict:
    """A run's sampler settings (a GAN's ``sample`` section has none: one generator pass)."""
    return {"sampler": getattr(s, "sampler", "generator"), "steps": getattr(s, "steps", 1),
            "eta": getattr(s, "eta", None), "guidance": getattr(s, "guidance", None)}


def run_unconditional(run_dir: str | Path, split: str = "test", per_pair: int = 1, max_videos: int | None = None,
                      metrics: Iterable[str] = ("fvd", "acc"), out: str | Path | None = None, progress: bool = False,
                      *, detector: Any = None, cache: Any = True, log_fn: LogFn | None = None,
                      **protocol_kwargs: Any) -> dict[str, Any]:
    """Conditional vs unconditional (null class) generation of one run, same sources and seeds, one protocol.

    Args:
        run_dir: a trained LFDM, LDM, VDM or ImaGINator run (its checkpoints name the model).
        split: split of the source images (``test`` or ``train``).
        per_pair: videos per (subject, class) pair of the split.
        max_videos: evaluate at most this many generated videos (class-stratified, seeded; the same subset for both).
        metrics: metric names of :mod:`metrics.protocol` (default FVD + class accuracy).
        out: output folder (default ``RUN/experiments/unconditional``).
        detector, cache, **protocol_kwargs: as for :func:`bench.ablate.run_ablation`.

    Returns:
        the state dict written to ``OUT/unconditional.json`` (rows ``conditional`` and ``unconditional``).
    """
    say = say_to(log_fn)
    trained = open_trained_run(run_dir)
    run, method, s = trained.run, trained.model, trained.config.sample
    check_split(split, per_pair)
    wanted = parse_metrics(metrics)
    detector, protocol_kwargs = split_detector(detector, protocol_kwargs, trained.config.data.dataset)
    sampler = _sampler(s)
    protocol = experiment_protocol(trained.config.data, split, max_videos, protocol_kwargs)
    out = Path(out) if out is not None else run.root / "experiments" / "unconditional"
    state = experiment_state(out, "unconditional", {
        "run": str(run.root.resolve()), "method": method, "split": split, "per_pair": int(per_pair),
        "max_videos": max_videos, "metrics": list(wanted), "protocol": protocol.to_dict(),
        "detector_override": detector.info.to_dict() if detector is not None else None,
        "sampler": {**sampler, "seed": s.seed}})
    for name, uncond in (("conditional", False), ("unconditional", True)):
        if state.row(name):
            say(f"[unconditional] {name}: done, skipped")
            continue
        folder = out / "samples" / name
        say(f"[unconditional] {name}: sampling {split} set")
        trained.sample(split=split, per_pair=per_pair, unconditional=uncond, out=folder, progress=progress)
        row = {"row": name, "method": method, "condition": "null (class dropped)" if uncond else "class text",
               "unconditional": uncond, **sampler, "guidance": None if uncond else sampler["guidance"],
               "sample_seed": s.seed, "split": split,
               **score(protocol, folder, wanted, detector, cache, progress, say, state)}
        state.add_row(row)
        say(f"[unconditional] {name}: fvd {row['fvd']}, acc {row['acc_motion']}")
    write_experiment_tables(
        state, f"Conditional vs unconditional generation ({method}, {split} subjects)", UNCOND_COLUMNS,
        ["Same source images and per-source seeds in both rows; unconditional = the null condition (guidance none).",
         "Accuracy of unconditional videos is against their source's class: near chance means the class is ignored."])
    return state.data
