"""The evaluation options of the commands that sample and score a trained run (``ablate`` and the ``experiment``
group), built from the shared declarations of :mod:`lfdm_bench.options` (``--ddof``, ``--device``,
``--batch-size``, ``--progress``), with the metric type of :mod:`metrics.commands`: the same defaults as ``eval``."""

from __future__ import annotations

from typing import Any, Callable

import click

from lfdm_bench.options import (OUT_DIR, batch_size_option, config_errors, ddof_option, device_option,
                                      progress_option)
from metrics.commands import MetricNames


def eval_options(default_metrics: str, out_help: str, splits: tuple[str, ...] = ("test", "train")) -> Callable:
    """The options that choose the evaluation set and protocol of a command that samples and scores a run
    (``--split``: one of ``splits``, the first by default)."""
    options = [
        click.option("--split", type=click.Choice(list(splits)), default=splits[0],
                     help="Split of the source images" + (" (val: validation subjects, where settings are chosen)."
                                                          if "val" in splits else ".")),
        click.option("--per-pair", "per_pair", type=click.IntRange(min=1), default=1,
                     help="Videos per (subject, class) pair of the split."),
        click.option("--max-videos", type=click.IntRange(min=2), default=None, metavar="N",
                     help="Evaluate at most N generated videos per row (class-stratified) [default: all]."),
        click.option("--metric", "metric_names", type=MetricNames(), multiple=True,
                     default=default_metrics.split(","), metavar="NAME",
                     help="Metric(s): fvd, cfvd, sfvd, kvd, psnr, ssim, acc, motion, expr, all; repeat or "
                          "comma-separate."),
        click.option("--i3d", default=None, metavar="PATH|i3d-random",
                     help="I3D weights [default: an embedded dataset's shipped VCNN, else $LFDM_BENCH_I3D or the "
                          "cache]; i3d-random = smoke tests only."),
        click.option("--frames", type=click.IntRange(min=9), default=None,
                     help="Frames per clip [default: the run's]."),
        ddof_option,
        batch_size_option,
        device_option(),
        click.option("--out", type=OUT_DIR, default=None, metavar="DIR", help=out_help),
        progress_option,
    ]

    def deco(f: Callable) -> Callable:
        for opt in reversed(options):
            f = opt(f)
        return f

    return deco


def eval_arguments(kw: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of ``run_ablation`` / ``run_*`` experiments from the values of :func:`eval_options`:
    metric names flattened, protocol settings (``i3d``, ``ddof``, ``batch_size``, ``device``, ``n_frames``); an unset
    ``--ddof`` leaves the protocol preset's."""
    kw = dict(kw)
    names = [n for group in kw.pop("metric_names") for n in group]
    ddof = kw.pop("ddof")
    protocol = {"i3d": kw.pop("i3d"), "ddof": None if ddof is None else int(ddof), "batch_size": kw.pop("batch_size"),
                "device": kw.pop("device")}
    frames = kw.pop("frames")
    if frames is not None:
        protocol["n_frames"] = frames
    return {**kw, "metrics": names, **protocol}


def run_errors() -> tuple[type[BaseException], ...]:
    """The usage-error kinds of a command that samples and scores a run: a bad config, or a sample folder of other
    settings (the rest of its bad input: plain errors, by :func:`lfdm_bench.options.cli_errors`)."""
    from lfdm_bench.sampling.generate import SampleFolderMismatch

    return (*config_errors(), SampleFolderMismatch)
