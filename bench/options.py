"""Click options and parameter types shared by the commands that sample and score a trained run (``ablate`` and the
``experiment`` group): comma-separated lists, sampler names, the evaluation options and their error handling."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import click

from lfdm_bench.config import ConfigError
from lfdm_bench.diffusion.samplers import resolve_sampler
from metrics.commands import MetricNames
from lfdm_bench.sampling.generate import SampleFolderMismatch
from lfdm_bench.utils.errors import clean_errors

CONTEXT = {"show_default": True, "help_option_names": ["-h", "--help"]}
RUN_DIR = click.Path(file_okay=False, exists=True, path_type=Path)
OUT_DIR = click.Path(file_okay=False, path_type=Path)


class CommaList(click.ParamType):
    """Comma-separated values of one type (``10,25,50``)."""

    def __init__(self, cast: Callable[[str], Any], name: str) -> None:
        self.cast, self.name = cast, name

    def convert(self, value: Any, param, ctx) -> list[Any]:
        if isinstance(value, list):
            return value
        try:
            return [self.cast(v.strip()) for v in str(value).split(",") if v.strip()]
        except ValueError:
            self.fail(f"expected comma-separated {self.name} values, got {value!r}", param, ctx)


class SamplerList(click.ParamType):
    """Comma-separated sampler names, canonicalised (``dpmsolver++`` -> ``diffusers-dpmsolver++``); an unknown name
    lists the valid ones."""

    name = "samplers"

    def convert(self, value: Any, param, ctx) -> list[str]:
        names = value if isinstance(value, list) else [v.strip() for v in str(value).split(",") if v.strip()]
        try:
            return [resolve_sampler(n) for n in names]
        except ValueError as e:
            self.fail(str(e), param, ctx)


def eval_options(default_metrics: str, out_help: str, splits: tuple[str, ...] = ("test", "train")) -> Callable:
    """The options that choose the evaluation set and protocol of a command that samples and scores a run
    (``--split``: one of ``splits``, the first by default)."""
    options = [
        click.option("--split", type=click.Choice(list(splits)), default=splits[0], show_default=True,
                     help="Split of the source images" + (" (val: validation subjects, where settings are chosen)."
                                                          if "val" in splits else ".")),
        click.option("--per-pair", "per_pair", type=click.IntRange(min=1), default=1,
                     help="Videos per (subject, class) pair of the split."),
        click.option("--max-videos", type=click.IntRange(min=2), default=None, metavar="N",
                     help="Evaluate at most N generated videos per row (class-stratified) [default: all]."),
        click.option("--metric", "metric_names", type=MetricNames(), multiple=True,
                     default=default_metrics.split(","), metavar="NAME",
                     help="Metric(s): fvd, cfvd, sfvd, kvd, psnr, ssim, acc, all; repeat or comma-separate."),
        click.option("--i3d", default=None, metavar="PATH|i3d-random",
                     help="I3D weights [default: $LFDM_BENCH_I3D or the cache]; i3d-random = smoke tests only."),
        click.option("--frames", type=click.IntRange(min=9), default=None,
                     help="Frames per clip [default: the run's]."),
        click.option("--ddof", type=click.Choice(["0", "1"]), default="1", help="Covariance divides by N - ddof."),
        click.option("--batch-size", type=click.IntRange(min=1), default=8, help="Videos per detector call."),
        click.option("--device", default=None, help="Torch device of the detector [default: cuda if available]."),
        click.option("--out", type=OUT_DIR, default=None, metavar="DIR", help=out_help),
        click.option("--progress/--no-progress", default=False, help="Progress bars."),
    ]

    def deco(f: Callable) -> Callable:
        for opt in reversed(options):
            f = opt(f)
        return f

    return deco


def eval_arguments(kw: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of ``run_ablation`` / ``run_*`` experiments from the values of :func:`eval_options`:
    metric names flattened, protocol settings (``i3d``, ``ddof``, ``batch_size``, ``device``, ``n_frames``)."""
    kw = dict(kw)
    names = [n for group in kw.pop("metric_names") for n in group]
    protocol = {"i3d": kw.pop("i3d"), "ddof": int(kw.pop("ddof")), "batch_size": kw.pop("batch_size"),
                "device": kw.pop("device")}
    frames = kw.pop("frames")
    if frames is not None:
        protocol["n_frames"] = frames
    return {**kw, "metrics": names, **protocol}


def guarded(fn: Callable[[], Any]) -> Any:
    """Run ``fn``; a missing detector or file, a bad setting, an unreadable checkpoint or a folder that cannot be
    written becomes a click error naming it (no traceback; :func:`lfdm_bench.utils.errors.clean_errors`); a bad
    config or a sample folder of other settings is a usage error."""
    with clean_errors(usage=(ConfigError, SampleFolderMismatch)):
        return fn()
