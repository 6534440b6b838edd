"""Sampler ablation: FVD, class accuracy, time and NFE over a grid of samplers x steps x guidance x eta.

LFDM's paper compares DDPM with DDIM, the number of steps and the guidance scale, with sampling time (and finds,
oddly, that more DDIM steps did not help). :func:`run_ablation` reproduces that study on a trained run:

* every grid point samples the SAME evaluation set (same source images, same per-source seeds: the run's
  ``sample.seed``) with :func:`~lfdm_bench.sampling.run.sample_lfdm_run` or
  :func:`~lfdm_bench.baselines.ldm.sample.sample_ldm_run` (chosen by ``RUN/run.json``) into ``OUT/samples/<point>/``;
* each sample folder is scored with :func:`lfdm_bench.metrics.protocol.evaluate` under ONE :class:`EvalProtocol` (real
  features are cached, so only the generated videos go through the detector at each point);
* eta only matters for ``ddim`` / ``diffusers-ddim``: other samplers are not multiplied by the eta values (their
  rows have ``eta = None``); ``ddpm`` ignores steps: it runs once per guidance value with all ``T`` steps and its
  rows say ``steps = T``;
* NFE per video: read from the settings the sampler writes (``RUN/samples/<point>.json``, ``nfe_per_video``), else
  ``steps x (2 if guidance not in (0, 1) else 1)``: guided sampling evaluates the conditional and the null branch
  (one batched forward over ``[cond; null]``, counted as 2).

Outputs in ``OUT``: ``ablation.json`` (rows + the protocol + the environment; rewritten atomically after every point,
so a rerun skips finished points), ``ablation.md`` / ``ablation.csv`` and the plots of :mod:`lfdm_bench.bench.plots`.

Example::

    lfdm-bench ablate --run runs/tiny-lfdm --sampler ddim,dpmsolver++ --steps 10,25,50,100 --guidance 1,1.5,3 \\
        --i3d i3d-random --out ablations/tiny
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import click

__all__ = ["ETA_SAMPLERS", "GridPoint", "build_grid", "nfe_per_video", "run_ablation", "ablation_table",
           "write_tables", "ablate"]

ETA_SAMPLERS = ("ddim", "diffusers-ddim")
TABLE_COLUMNS = ("point", "method", "sampler", "steps", "guidance", "eta", "fvd", "cfvd", "sfvd", "kvd",
                 "acc_motion", "acc_i3d", "seconds_per_video", "nfe_per_video", "n_videos")
LogFn = Callable[[str], None]


@dataclass(frozen=True)
class GridPoint:
    """One ablation setting; ``eta`` is ``None`` for samplers that ignore it."""

    sampler: str
    steps: int
    guidance: float
    eta: float | None

    @property
    def label(self) -> str:
        """Folder-safe name, e.g. ``ddim_s10_g1.5_eta1`` or ``ddpm_s1000_g1``."""
        eta = "" if self.eta is None else f"_eta{self.eta:g}"
        return f"{self.sampler}_s{self.steps}_g{self.guidance:g}{eta}"


def build_grid(samplers: Sequence[str], steps: Sequence[int], guidance: Sequence[float],
               etas: Sequence[float] = (1.0,), num_timesteps: int = 1000) -> list[GridPoint]:
    """The grid points in order (sampler, steps, guidance, eta), without duplicates.

    Sampler names are canonicalised (``dpmsolver++`` -> ``diffusers-dpmsolver++``); an unknown name raises
    ``ValueError`` listing the valid ones. ``ddpm`` gets one point per guidance value with ``steps = num_timesteps``.
    """
    from lfdm_bench.diffusion.samplers import resolve_sampler

    if not samplers or not steps or not guidance:
        raise ValueError("give at least one sampler, one step count and one guidance scale")
    for s in steps:
        if int(s) < 1:
            raise ValueError(f"steps must be >= 1, got {s}")
    for e in etas:
        if float(e) < 0:
            raise ValueError(f"eta must be >= 0, got {e}")
    out: list[GridPoint] = []
    for name in samplers:
        sampler = resolve_sampler(name.strip())
        for n in ([num_timesteps] if sampler == "ddpm" else steps):
            for g in guidance:
                for e in (etas if sampler in ETA_SAMPLERS else [None]):
                    p = GridPoint(sampler, int(n), float(g), None if e is None else float(e))
                    if p not in out:
                        out.append(p)
    return out


def nfe_per_video(steps: int, guidance: float) -> int:
    """Network evaluations per video: guided sampling (scale not 0 or 1) counts 2 per step (cond + null branch)."""
    return int(steps) * (1 if float(guidance) in (0.0, 1.0) else 2)


def _run_config(run_dir: Path) -> dict[str, Any]:
    import yaml

    return yaml.safe_load((run_dir / "config.yaml").read_text()) or {}


def num_or_none(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def row_from_result(split: str, result: Any) -> dict[str, Any]:
    """The metric columns of one evaluated point."""
    v = result.values
    row: dict[str, Any] = {"fvd": num_or_none(v.get("fvd", {}).get(split)), "kvd": num_or_none(v.get("kvd", {}).get(split))}
    for m in ("cfvd", "sfvd"):
        s = v.get(m, {}).get(split) or {}
        row[m], row[f"{m}_std"] = num_or_none(s.get("mean")), num_or_none(s.get("std"))
    for key, probe in (("acc_motion", "probe-motion"), ("acc_i3d", "probe-i3d")):
        p = v.get("acc", {}).get(probe) or {}
        row[key] = num_or_none(((p.get("generated") or {}).get(split) or {}).get("accuracy"))
        row[f"{key}_real"] = num_or_none((p.get("real_test") or {}).get("accuracy"))
    row["n_videos"] = result.counts.get("generated", {}).get(split)
    row["n_real"] = result.counts.get("real", {}).get(split)
    return row


def _nfe(run_dir: Path, point: GridPoint) -> tuple[int, str]:
    """NFE per video from the sampler's settings json when it matches this point, else computed."""
    from lfdm_bench.runs import Run

    settings = Run(run_dir).read_json("samples", point.label + ".json") or {}
    same = (settings.get("sampler") in (point.sampler, point.sampler.removeprefix("diffusers-"))
            and int(settings.get("steps", -1)) == point.steps
            and float(settings.get("guidance", math.nan)) == point.guidance)
    if same and settings.get("nfe_per_video") is not None:
        return int(settings["nfe_per_video"]), "sampler"
    return nfe_per_video(point.steps, point.guidance), "computed"


def run_ablation(run_dir: str | Path, samplers: Sequence[str] = ("ddim",), steps: Sequence[int] = (10,),
                 guidance: Sequence[float] = (1.0,), etas: Sequence[float] = (1.0,), split: str = "test",
                 per_pair: int = 1, max_videos: int | None = None, metrics: Iterable[str] = ("fvd", "acc"),
                 out: str | Path | None = None, progress: bool = False, *, detector: Any = None,
                 cache: Any = True, log_fn: LogFn | None = None, plots: bool = True,
                 max_subjects: int | None = None, **protocol_kwargs: Any) -> list[dict[str, Any]]:
    """Sample and evaluate every grid point of a trained run; returns the rows (finished points are not redone).

    Args:
        run_dir: a run directory trained by ``lfdm-bench train`` (``run.json`` names the model: lfdm or ldm).
        samplers, steps, guidance, etas: the grid (see :func:`build_grid`).
        split: split of the source images (``test`` or ``train``).
        per_pair: videos per (subject, class) pair of the split.
        max_videos: evaluate at most this many generated videos (class-stratified, seeded, so the same subset at
            every point); the whole evaluation set of the split is still sampled.
        metrics: names from :data:`lfdm_bench.metrics.protocol.METRICS` (``fvd``, ``cfvd``, ``sfvd``, ``kvd``, ``acc``, ...).
        max_subjects: sample only the first N subjects of the split (every class of each): a cheaper,
            class-balanced grid; ``max_videos`` then subsamples what was sampled.
        out: output folder (default ``RUN/ablation``).
        detector: I3D weight path or ``"i3d-random"`` (protocol setting), or a
            :class:`~lfdm_bench.metrics.real_cache.FeatureSource` replacing the protocol's I3D (tests; its ``info`` is recorded).
        cache: real-feature cache (``True``: default folder; see :func:`lfdm_bench.metrics.protocol.evaluate`).
        plots: write the PNG plots of :mod:`lfdm_bench.bench.plots`.
        **protocol_kwargs: :class:`~lfdm_bench.metrics.protocol.EvalProtocol` fields (``detector`` name via
            ``i3d="i3d-random"`` or a path, ``n_frames``, ``resolution``, ``ddof``, ``bn_eps``, ``resize_method``,
            ``real_sampling``, ``max_real``, ``seed``, ``batch_size``, ``device``). ``n_frames`` defaults to the
            run's clip length.

    Raises:
        ValueError: unknown sampler / metric, a protocol setting out of range, or ``out`` holding an ablation made
            with different settings (pass another ``out``).
    """
    from lfdm_bench.data.registry import get_dataset
    from lfdm_bench.runs import Run, environment, hardware_summary
    from lfdm_bench.sampling.generate import seconds_per_video
    from lfdm_bench.utils.io import atomic_write_json
    from lfdm_bench.metrics.protocol import EvalProtocol, evaluate, parse_metrics
    from lfdm_bench.metrics.tables import jsonable

    say = log_fn or (lambda m: print(m, file=sys.stderr, flush=True))
    run = Run.open(run_dir)
    if split not in ("test", "train"):
        raise ValueError(f"split must be 'test' or 'train', got {split!r}")
    if int(per_pair) < 1:
        raise ValueError(f"per_pair must be >= 1, got {per_pair}")
    wanted = parse_metrics(metrics)
    info = run.read_json("run.json") or {}
    method = info.get("model", "lfdm")
    if method == "lfdm":
        from lfdm_bench.sampling.run import sample_lfdm_run as sample_run
    elif method == "ldm":
        from lfdm_bench.baselines.ldm.sample import sample_ldm_run as sample_run
    else:
        raise ValueError(f"{run.root}/run.json names model {method!r}; expected 'lfdm' or 'ldm'")

    cfg = _run_config(run.root)
    data = cfg.get("data", {})
    num_timesteps = int(cfg.get("dm", {}).get("diffusion", {}).get("num_timesteps", 1000))
    grid = build_grid(samplers, steps, guidance, etas, num_timesteps)
    protocol_kwargs = dict(protocol_kwargs)
    if "i3d" in protocol_kwargs:
        protocol_kwargs["detector"] = protocol_kwargs.pop("i3d")
    if detector is None or isinstance(detector, (str, Path)):  # a weight path / "i3d-random": part of the protocol
        if detector is not None:
            protocol_kwargs["detector"] = str(detector)
        detector = None
    protocol_kwargs.setdefault("n_frames", int(data.get("n_frames", 16)))
    protocol = EvalProtocol(dataset=data["dataset"], root=data.get("root"), dataset_options=dict(data.get("options") or {}),
                            split=split, max_generated=max_videos, **protocol_kwargs)
    request = jsonable({"run": str(run.root.resolve()), "method": method, "split": split, "per_pair": int(per_pair),
                        "max_videos": max_videos, "max_subjects": max_subjects, "metrics": list(wanted), "protocol": protocol.to_dict(),
                        "detector_override": detector.info.to_dict() if detector is not None else None})

    out = Path(out) if out is not None else run.root / "ablation"
    out.mkdir(parents=True, exist_ok=True)
    state_path = out / "ablation.json"
    rows: list[dict[str, Any]] = []
    evaluated_protocol, detector_info = None, None
    if state_path.is_file():
        import json

        old = json.loads(state_path.read_text())
        differ = sorted(k for k in set(request) | set(old.get("request", {}))
                        if k != "run" and request.get(k) != old.get("request", {}).get(k))
        if differ:
            raise ValueError(f"{out} holds an ablation made with different settings ({', '.join(differ)}); "
                             "rerun with the same settings to resume it, or pass another --out")
        rows = list(old.get("rows", []))
        evaluated_protocol, detector_info = old.get("protocol"), old.get("detector")
    done = {r["point"] for r in rows}
    dataset = get_dataset(protocol.dataset, root=protocol.root, **protocol.dataset_options)

    def save() -> None:
        atomic_write_json(state_path, jsonable({
            "request": request, "protocol": evaluated_protocol, "detector": detector_info,
            "environment": environment(), "hardware": hardware_summary(), "rows": rows}))

    for i, point in enumerate(grid, 1):
        if point.label in done:
            say(f"[{i}/{len(grid)}] {point.label}: done, skipped")
            continue
        say(f"[{i}/{len(grid)}] {point.label}: sampling {split} set")
        folder = out / "samples" / point.label
        manifest = sample_run(run, split=split, per_pair=per_pair, sampler=point.sampler, steps=point.steps,
                              eta=point.eta, guidance=point.guidance, out=folder, progress=progress,
                              max_subjects=max_subjects)
        result = evaluate(protocol, folder, wanted, dataset=dataset, detector=detector, cache=cache,
                          progress=progress, log_fn=say)
        nfe, nfe_from = _nfe(run.root, point)
        row = {"point": point.label, "method": method, "sampler": point.sampler, "steps": point.steps,
               "guidance": point.guidance, "eta": point.eta, "split": split,
               **row_from_result(split, result),
               "seconds_per_video": num_or_none(seconds_per_video(manifest)), "nfe_per_video": nfe,
               "nfe_source": nfe_from, "samples": str(folder)}
        rows.append(row)
        evaluated_protocol, detector_info = result.protocol, result.detector
        save()
        say(f"[{i}/{len(grid)}] {point.label}: fvd {row['fvd']}, acc {row['acc_motion']}, "
            f"{row['seconds_per_video']} s/video, NFE {nfe}")
    if not state_path.is_file():
        save()
    order = {p.label: k for k, p in enumerate(grid)}
    rows.sort(key=lambda r: order.get(r["point"], len(order)))
    write_tables(rows, out, evaluated_protocol, detector_info)
    if plots:
        from lfdm_bench.bench.plots import plot_all

        plot_all(rows, out / "plots")
    return rows


def display_rows(rows: Sequence[dict[str, Any]], columns: Sequence[str], digits: dict[str, int],
                 g_columns: Sequence[str] = ("guidance", "eta")) -> list[dict[str, str]]:
    """Display strings of result ``rows`` (ablation and experiment tables): the ``columns`` that hold a value in
    some row; cFVD / sFVD as mean ± std; ``g_columns`` in ``%g``; floats to ``digits[column]`` (default 2) decimals
    by :func:`lfdm_bench.metrics.tables.format_value`; other values as ``str``; missing values ``-``."""
    from lfdm_bench.metrics.tables import format_mean_std, format_value

    cols = [c for c in columns if any(r.get(c) is not None for r in rows)]
    table = []
    for r in rows:
        d = {}
        for c in cols:
            x = r.get(c)
            if c in ("cfvd", "sfvd"):
                d[c] = format_mean_std(x, r.get(f"{c}_std"), 2)
            elif x is None:
                d[c] = "-"
            elif c in g_columns:
                d[c] = f"{float(x):g}"
            elif isinstance(x, float):
                d[c] = format_value(x, digits.get(c, 2))
            else:
                d[c] = str(x)
        table.append(d)
    return table


def ablation_table(rows: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
    """Display rows: columns of :data:`TABLE_COLUMNS` that hold a value somewhere; cFVD / sFVD as mean ± std."""
    return display_rows(rows, TABLE_COLUMNS, {"fvd": 2, "cfvd": 2, "sfvd": 2, "kvd": 4, "acc_motion": 3,
                                              "acc_i3d": 3, "seconds_per_video": 3})


def write_tables(rows: Sequence[dict[str, Any]], out: str | Path, protocol: dict | None = None,
                 detector: dict | None = None) -> dict[str, Path]:
    """``ablation.md`` (protocol line + table) and ``ablation.csv`` (raw values) in ``out``."""
    import pandas as pd

    from lfdm_bench.utils.io import atomic_write_text
    from lfdm_bench.metrics.tables import NOT_COMPARABLE, to_markdown

    out = Path(out)
    lines = ["# Sampler ablation", ""]
    if protocol:
        lines.append(f"Protocol: dataset {protocol.get('dataset')}, split {protocol.get('split')}, "
                     f"{protocol.get('n_frames')} frames at {protocol.get('resolution')}px, ddof {protocol.get('ddof')}, "
                     f"detector {(detector or {}).get('name')} (sha256 {str((detector or {}).get('sha256'))[:16]})")
        if detector and not detector.get("comparable_with_published"):
            lines.append(f"WARNING: {NOT_COMPARABLE}")
        lines.append("")
    lines += [to_markdown(ablation_table(rows)), "",
              "NFE = network evaluations per video (a guided step counts 2: conditional + null branch).", ""]
    md = out / "ablation.md"
    atomic_write_text(md, "\n".join(lines))
    csv = out / "ablation.csv"
    atomic_write_text(csv, pd.DataFrame(list(rows)).to_csv(index=False))
    return {"md": md, "csv": csv}


# ------------------------------------------------------------------------------------------------ CLI
class _CommaList(click.ParamType):
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


class _SamplerList(click.ParamType):
    name = "samplers"

    def convert(self, value: Any, param, ctx) -> list[str]:
        from lfdm_bench.diffusion.samplers import resolve_sampler

        names = value if isinstance(value, list) else [v.strip() for v in str(value).split(",") if v.strip()]
        try:
            return [resolve_sampler(n) for n in names]
        except ValueError as e:
            self.fail(str(e), param, ctx)


def metric_type() -> click.ParamType:
    from lfdm_bench.metrics.commands import MetricNames

    return MetricNames()


@click.command("ablate", context_settings={"show_default": True, "help_option_names": ["-h", "--help"]})
@click.option("--run", "run_dir", required=True, type=click.Path(file_okay=False, exists=True, path_type=Path),
              metavar="DIR", help="A trained run directory (LFDM or LDM).")
@click.option("--sampler", "samplers", type=_SamplerList(), default="ddim", metavar="NAME[,NAME...]",
              help="Samplers: ddpm, ddim, dpmsolver++, euler, unipc, diffusers-ddim, ...")
@click.option("--steps", type=_CommaList(int, "integer"), default="10", metavar="N[,N...]",
              help="Sampling steps (ddpm always runs all T steps).")
@click.option("--guidance", type=_CommaList(float, "number"), default="1", metavar="G[,G...]",
              help="Classifier-free guidance scales (1 = no guidance).")
@click.option("--eta", "etas", type=_CommaList(float, "number"), default="1", metavar="E[,E...]",
              help="DDIM eta values (ddim / diffusers-ddim only).")
@click.option("--split", type=click.Choice(["test", "train"]), default="test", help="Split of the source images.")
@click.option("--per-class", "per_pair", type=click.IntRange(min=1), default=1,
              help="Videos per (subject, class) pair of the split.")
@click.option("--max-subjects", type=click.IntRange(min=1), default=None, metavar="N",
              help="Sample only the first N subjects of the split (every class) [default: all].")
@click.option("--max-videos", type=click.IntRange(min=2), default=None, metavar="N",
              help="Evaluate at most N generated videos per point (class-stratified) [default: all].")
@click.option("--metric", "metric_names", type=metric_type(), multiple=True, default=["fvd", "acc"],
              metavar="NAME", help="Metric(s): fvd, cfvd, sfvd, kvd, psnr, ssim, acc, all; repeat or comma-separate.")
@click.option("--i3d", "i3d", default=None, metavar="PATH|i3d-random",
              help="I3D weights [default: $LFDM_BENCH_I3D or the cache]; i3d-random = smoke tests only.")
@click.option("--frames", type=click.IntRange(min=9), default=None, help="Frames per clip [default: the run's].")
@click.option("--ddof", type=click.Choice(["0", "1"]), default="1", help="Covariance divides by N - ddof.")
@click.option("--batch-size", type=click.IntRange(min=1), default=8, help="Videos per detector call.")
@click.option("--device", default=None, help="Torch device of the detector [default: cuda if available].")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None, metavar="DIR",
              help="Output folder [default: RUN/ablation]; an existing one is resumed.")
@click.option("--progress/--no-progress", default=False, help="Progress bars.")
def ablate(run_dir: Path, samplers: list[str], steps: list[int], guidance: list[float], etas: list[float],
           split: str, per_pair: int, max_subjects: int | None, max_videos: int | None, metric_names: tuple[list[str], ...], i3d: str | None,
           frames: int | None, ddof: str, batch_size: int, device: str | None, out: Path | None,
           progress: bool) -> None:
    """Sampler ablation of a trained run: FVD, class accuracy, seconds and NFE per video over
    samplers x steps x guidance (x eta for DDIM), all on the same evaluation set. Resumable."""
    from lfdm_bench.metrics.detector import DetectorNotFoundError
    from lfdm_bench.metrics.tables import to_markdown

    names = [n for group in metric_names for n in group]
    kwargs: dict[str, Any] = {"i3d": i3d, "ddof": int(ddof), "batch_size": batch_size, "device": device}
    if frames is not None:
        kwargs["n_frames"] = frames
    try:
        rows = run_ablation(run_dir, samplers, steps, guidance, etas, split=split, per_pair=per_pair,
                            max_videos=max_videos, metrics=names, out=out, progress=progress,
                            max_subjects=max_subjects, **kwargs)
    except (DetectorNotFoundError, FileNotFoundError, ValueError) as e:
        raise click.ClickException(str(e)) from e
    target = out or run_dir / "ablation"
    click.echo(to_markdown(ablation_table(rows)))
    click.echo(f"\nablation.json: {target / 'ablation.json'}  (tables: ablation.md, ablation.csv; plots: plots/)")
