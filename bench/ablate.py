"""Sampler ablation: FVD, class accuracy, time and NFE over a grid of samplers x steps x guidance x eta.

LFDM's paper compares DDPM with DDIM, the number of steps and the guidance scale, with sampling time (and finds,
oddly, that more DDIM steps did not help). :func:`run_ablation` reproduces that study on a trained run:

* every grid point samples the SAME evaluation set (same source images, same per-source seeds: the run's
  ``sample.seed``) with :func:`~lfdm_bench.lfdm.sample.sample_lfdm_run` or
  :func:`~baselines.ldm.sample.sample_ldm_run` (chosen by :func:`bench.generators.open_trained_run`
  from the run's checkpoints) into ``OUT/samples/<point>/``;
* each sample folder is scored with :func:`metrics.evaluate.evaluate` under ONE :class:`EvalProtocol` (real
  features are cached, so only the generated videos go through the detector at each point);
* eta only matters for ``ddim`` / ``diffusers-ddim``: other samplers are not multiplied by the eta values (their
  rows have ``eta = None``); ``ddpm`` ignores steps: it runs once per guidance value with all ``T`` steps and its
  rows say ``steps = T``;
* NFE per video: read from the settings the sampler writes (``RUN/samples/<point>.json``, ``nfe_per_video``), else
  ``steps x (2 if guidance not in (0, 1) else 1)``: guided sampling evaluates the conditional and the null branch
  (one batched forward over ``[cond; null]``, counted as 2).

Outputs in ``OUT``: ``ablation.json`` (rows + the protocol + the environment; rewritten atomically after every point,
so a rerun skips finished points), ``ablation.md`` / ``ablation.csv`` (:func:`bench.tables.write_ablation_tables`) and
the plots of :mod:`bench.plots`. The command ``lfdm-bench ablate`` is in :mod:`bench.commands`.

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


from bench.generators import open_trained_run
from bench.plots import plot_all
from bench.state import ResumeState
from bench.tables import write_ablation_tables
from lfdm_bench.data.registry import get_dataset
from lfdm_bench.diffusion.samplers import resolve_sampler
from metrics.evaluate import evaluate
from metrics.protocol import EvalProtocol, parse_metrics
from lfdm_bench.runs import Run
from lfdm_bench.sampling.generate import seconds_per_video
from lfdm_bench.utils.io import ensure_writable

__all__ = ["ETA_SAMPLERS", "GridPoint", "build_grid", "nfe_per_video", "run_ablation",
           "split_detector", "row_from_result", "num_or_none"]

ETA_SAMPLERS = ("ddim", "diffusers-ddim")
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
    held = "real_val" if split == "val" else "real_test"  # the probes' real reference: held-out real videos
    for key, probe in (("acc_motion", "probe-motion"), ("acc_i3d", "probe-i3d")):
        p = v.get("acc", {}).get(probe) or {}
        row[key] = num_or_none(((p.get("generated") or {}).get(split) or {}).get("accuracy"))
        row[f"{key}_real"] = num_or_none((p.get(held) or {}).get("accuracy"))
    motion = v.get("motion", {}).get(split) or {}
    row["motion_ratio"] = num_or_none((motion.get("amplitude") or {}).get("ratio"))
    row["open_motion"] = num_or_none((motion.get("opening_motion") or {}).get("generated"))
    expr = v.get("expr", {}).get(split) or {}
    row["expr_ratio"], row["expr_min"] = num_or_none(expr.get("mean")), num_or_none(expr.get("min"))
    row["n_videos"] = result.counts.get("generated", {}).get(split)
    row["n_real"] = result.counts.get("real", {}).get(split)
    return row


def split_detector(detector: Any, protocol_kwargs: dict[str, Any],
                   dataset: str | None = None) -> tuple[Any, dict[str, Any]]:
    """A weight path / ``"i3d-random"`` (also given as ``i3d=``) goes into the protocol's ``detector``; a
    FeatureSource (tests) replaces the protocol's I3D and is returned apart. With none named, an embedded
    ``dataset`` is scored with its shipped detector (as ``eval`` does)."""
    kw = dict(protocol_kwargs)
    if "i3d" in kw:
        kw["detector"] = kw.pop("i3d")
    if detector is None or isinstance(detector, (str, Path)):
        if detector is not None:
            kw["detector"] = str(detector)
        if not kw.get("detector") and dataset is not None:
            from metrics.vcnn.source import default_detector_for

            kw["detector"] = default_detector_for(dataset)
        return None, kw
    return detector, kw


def _nfe(run_dir: Path, point: GridPoint) -> tuple[int, str]:
    """NFE per video from the sampler's settings json when it matches this point, else computed."""
    settings = Run(run_dir).read_json("samples", point.label + ".json") or {}
    same = (settings.get("sampler") in (point.sampler, point.sampler.removeprefix("diffusers-"))
            and int(settings.get("steps", -1)) == point.steps
            and float(settings.get("guidance", math.nan)) == point.guidance)
    if same and settings.get("nfe_per_video") is not None:
        return int(settings["nfe_per_video"]), "sampler"
    return nfe_per_video(point.steps, point.guidance), "computed"


def run_ablation(run_dir: str | Path, samplers: Sequence[str] = ("ddim",), steps: Sequence[int] = (10,),
                 guidance: Sequence[float] = (1.0,), etas: Sequence[float] = (1.0,), split: str = "val",
                 per_pair: int = 1, max_videos: int | None = None, metrics: Iterable[str] = ("fvd", "acc"),
                 out: str | Path | None = None, progress: bool = False, *, detector: Any = None,
                 cache: Any = True, log_fn: LogFn | None = None, plots: bool = True,
                 max_subjects: int | None = None, **protocol_kwargs: Any) -> list[dict[str, Any]]:
    """Sample and evaluate every grid point of a trained run; returns the rows (finished points are not redone).

    Args:
        run_dir: a run directory trained by ``lfdm-bench train`` (its checkpoints name the model: lfdm or ldm).
        samplers, steps, guidance, etas: the grid (see :func:`build_grid`).
        split: split of the source images: ``val`` (the validation subjects of the embedded datasets: where
            settings are chosen, as the benchmark does), ``test`` or ``train``.
        per_pair: videos per (subject, class) pair of the split.
        max_videos: evaluate at most this many generated videos (class-stratified, seeded, so the same subset at
            every point); the whole evaluation set of the split is still sampled.
        metrics: names from :data:`metrics.protocol.METRICS` (``fvd``, ``cfvd``, ``sfvd``, ``kvd``,
        ``acc``, ...).
        max_subjects: sample only the first N subjects of the split (every class of each): a cheaper,
            class-balanced grid; ``max_videos`` then subsamples what was sampled.
        out: output folder (default ``RUN/ablation``).
        detector: I3D weight path or ``"i3d-random"`` (protocol setting), or a
            :class:`~metrics.video_features.FeatureSource` replacing the protocol's I3D (tests; its ``info`` is
            recorded).
        cache: real-feature cache (``True``: default folder; see :func:`metrics.evaluate.evaluate`).
        plots: write the PNG plots of :mod:`bench.plots`.
        **protocol_kwargs: :class:`~metrics.protocol.EvalProtocol` fields (``detector`` name via
            ``i3d="i3d-random"`` or a path, ``n_frames``, ``resolution``, ``ddof``, ``bn_eps``, ``resize_method``,
            ``real_sampling``, ``max_real``, ``seed``, ``batch_size``, ``device``). ``n_frames`` defaults to the
            run's clip length.

    Raises:
        ValueError: unknown sampler / metric, a protocol setting out of range, or ``out`` holding an ablation made
            with different settings (pass another ``out``).
    """
    say = log_fn or (lambda m: print(m, file=sys.stderr, flush=True))
    trained = open_trained_run(run_dir)
    run, method, cfg = trained.run, trained.model, trained.config
    if split not in ("val", "test", "train"):
        raise ValueError(f"split must be 'val', 'test' or 'train', got {split!r}")
    if int(per_pair) < 1:
        raise ValueError(f"per_pair must be >= 1, got {per_pair}")
    wanted = parse_metrics(metrics)
    grid = build_grid(samplers, steps, guidance, etas, cfg.dm.diffusion.num_timesteps)
    detector, protocol_kwargs = split_detector(detector, protocol_kwargs, cfg.data.dataset)
    protocol_kwargs.setdefault("n_frames", cfg.data.n_frames)
    protocol_kwargs.setdefault("resolution", cfg.data.size)  # the size the run generates at (as bench's)
    protocol = EvalProtocol(dataset=cfg.data.dataset, root=cfg.data.root, dataset_options=dict(cfg.data.options),
                            split=split, max_generated=max_videos, **protocol_kwargs)
    out = ensure_writable(Path(out) if out is not None else run.root / "ablation")  # before any sampling
    state = ResumeState(out / "ablation.json", {
        "run": str(run.root.resolve()), "method": method, "split": split, "per_pair": int(per_pair),
        "max_videos": max_videos, "max_subjects": max_subjects, "metrics": list(wanted),
        "protocol": protocol.to_dict(), "detector_override": detector.info.to_dict() if detector is not None else None,
    }, what="an ablation", ignore=("run",), protocol=None, detector=None)
    done = {r["point"] for r in state.data["rows"]}
    dataset = get_dataset(protocol.dataset, root=protocol.root, **protocol.dataset_options)

    for i, point in enumerate(grid, 1):
        if point.label in done:
            say(f"[{i}/{len(grid)}] {point.label}: done, skipped")
            continue
        say(f"[{i}/{len(grid)}] {point.label}: sampling {split} set")
        folder = out / "samples" / point.label
        manifest = trained.sample(split=split, per_pair=per_pair, sampler=point.sampler, steps=point.steps,
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
        state.data["protocol"], state.data["detector"] = result.protocol, result.detector
        state.add_row(row, key="point")
        say(f"[{i}/{len(grid)}] {point.label}: fvd {row['fvd']}, acc {row['acc_motion']}, "
            f"{row['seconds_per_video']} s/video, NFE {nfe}")
    if not state.path.is_file():
        state.save()
    order = {p.label: k for k, p in enumerate(grid)}
    rows = sorted(state.data["rows"], key=lambda r: order.get(r["point"], len(order)))
    write_ablation_tables(rows, out, state.data["protocol"], state.data["detector"])
    if plots:
        plot_all(rows, out / "plots")
    return rows


