"""``lfdm-bench eval``: FVD / cFVD / sFVD / KVD / PSNR / SSIM / class accuracy of a sample folder, or the sanity table.

Examples::

    lfdm-bench eval --samples runs/x/samples --dataset synth-faces --metric all --i3d i3d-random
    lfdm-bench eval --run runs/x --dataset mug --root /data/MUG --metric fvd --metric cfvd --split both --i3d i3d.pt
    lfdm-bench eval --sanity --dataset synth-faces                          # real halves vs distorted real (VCNN)
    lfdm-bench eval --sanity --dataset synth-faces --seed 1 --beside i3d-random --beside-subjects 2
    lfdm-bench eval --make-samples /tmp/noisy --distort noise:0.1 --dataset synth-faces --i3d i3d-random
    lfdm-bench eval --run runs/x --dataset mug --root /data/MUG --protocol stylegan-v --i3d i3d_torchscript.pt

``lfdm-bench fvd REAL FAKE`` (:func:`fvd_cmd`): FVD / KVD (cFVD / sFVD with a grouping) of any two sets of videos
(folders of videos, folders of frame folders, ``.npy`` arrays) through the same machinery (:mod:`metrics.fvd_sets`).

``lfdm-bench eval --help`` lists the options under the headings of :data:`EVAL_SECTIONS` (what to evaluate, the real
reference, the protocol, the sanity table, running, output). ``--protocol`` picks a preset of :mod:`metrics.presets` (the rules of a reference implementation); the
flags below it that default to "the preset's" override it, and every override is recorded with the result.

The command is a thin layer over :func:`metrics.evaluate.evaluate`,
:func:`metrics.sanity.run_sanity` and
:mod:`metrics.result_files`; heavy imports happen inside it.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any

import click

from metrics.presets import (DEFAULT_PRESET, GENERATED_CLIPS, LOAD_RESIZES, PRECISIONS, PRESET_NAMES,
                                        QUANTIZE_MODES, REAL_CLIPS)
from metrics.protocol import EVAL_SPLITS, METRICS
from lfdm_bench.options import (CONTEXT, SEED, SectionedCommand, batch_size_option, cli_errors, config_errors,
                                      ddof_option, device_option, parse_key_values, progress_option)
from metrics.preprocess import RESIZE_METHODS

__all__ = ["eval_cmd", "fvd_cmd"]


class MetricNames(click.ParamType):
    """Metric names, repeatable or comma-separated; unknown names list the valid ones."""

    name = "metric"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> list[str]:
        from metrics.protocol import UnknownMetricError, parse_metrics

        names = [v for v in str(value).split(",") if v.strip()] if not isinstance(value, list) else value
        try:
            parse_metrics(names)
        except UnknownMetricError as e:
            self.fail(str(e), param, ctx)
        return [n.strip().lower() for n in names]


def _echo_err(message: str) -> None:
    click.echo(message, err=True)


# the headings of `eval --help`: the three modes (a sample folder or a run, --make-samples, --sanity) are told apart in
# the first section; the protocol options apply to all of them
EVAL_SECTIONS = (
    ("What to evaluate (exactly one of --samples, --run, --make-samples, or --sanity)",
     ["samples", "run_dir", "make_samples", "distort", "sanity", "split", "metric_names"]),
    ("Real reference", ["dataset", "root", "extra", "no_crop"]),
    ("Protocol (defaults: the --protocol preset's; every override is recorded)",
     ["preset", "frames", "size", "sampling", "gen_sampling", "detector", "bn_eps", "resize_method", "load_resize",
      "quantize", "precision", "allow_span_mismatch", "real_max", "gen_max", "ddof", "seed"]),
    ("Sanity table (with --sanity)", ["beside", "beside_subjects"]),
    ("Running", ["batch_size", "device", "no_cache", "progress"]),
    ("Output", ["out"]),
)


@click.command("eval", cls=SectionedCommand, sections=EVAL_SECTIONS, context_settings=CONTEXT)
@click.option("--metric", "metric_names", type=MetricNames(), multiple=True, default=["all"],
              metavar="|".join(METRICS + ("all",)), help="Metric(s) to compute; repeat or comma-separate.")
@click.option("--split", type=click.Choice(EVAL_SPLITS), default=None,
              help="Split of the source images (and of the real reference); default test, sanity mode: both.")
@click.option("--samples", type=click.Path(file_okay=False, path_type=Path), default=None, metavar="DIR",
              help="A generated-sample folder holding manifest.csv.")
@click.option("--run", "run_dir", type=click.Path(file_okay=False, path_type=Path), default=None, metavar="DIR",
              help="A run directory: evaluates RUN/samples, writes RUN/metrics.")
@click.option("--dataset", default=None, metavar="NAME",
              help="Real reference set: synth-faces, synth-actions, mug, mhad, natops, or a manifest .csv "
                   "[default with --run / --samples: the dataset the samples record, with its options, root and "
                   "frame count; explicit flags must agree with them].")
@click.option("--root", type=click.Path(path_type=Path), default=None, metavar="PATH",
              help="Folder of a real dataset copy (required for mug / mhad / natops).")
@click.option("--protocol", "preset", type=click.Choice(PRESET_NAMES), default=DEFAULT_PRESET,
              help="FVD protocol preset: the rules of one reference implementation (docs/fvd_presets.md). "
                   "lfdm-bench: this toolkit's; tf: TF FVD; stylegan-v: fvd2048_16f; videogpt, tats, cd-fvd: their "
                   "fvd.py; lfdm: the LFDM paper's. Flags below override it (recorded as overrides).")
@click.option("--frames", type=click.IntRange(min=9), default=None,
              help="Frames per clip (I3D needs >= 9) [default: the preset's; 16, lfdm 40].")
@click.option("--size", type=click.IntRange(min=16), default=None, metavar="N",
              help="Resolution frames are read at before the resize to 224 [default: the dataset's frame size; the "
                   "generated videos are brought to it].")
@click.option("--sampling", type=click.Choice(REAL_CLIPS), default=None,
              help="Real clips: evenly spaced over the video, the first N, one random window per video, or "
                   "windows drawn over all windows [default: the preset's].")
@click.option("--gen-sampling", type=click.Choice(GENERATED_CLIPS), default=None,
              help="Generated clips: the first N frames or one random window [default: the preset's].")
@click.option("--i3d", "--detector", "detector", default=None, metavar="PATH|i3d-random|VCNN",
              help="Detector: I3D weights (i3d_pretrained_400.pt or i3d_torchscript.pt) [default: $LFDM_BENCH_I3D or "
                   "the cache; only a file with a known published sha256 is labelled comparable], an embedded-domain "
                   "VCNN (synth-faces-vcnn-v1, synth-actions-vcnn-v1 or a detector JSON; the default of --sanity on "
                   "synth-faces / synth-actions), or i3d-random = random weights, a pipeline smoke test only. On "
                   "synth-faces / synth-actions the default is their VCNN, as in the benchmark.")
@click.option("--bn-eps", type=float, default=None,
              help="I3D BatchNorm epsilon (1e-3 TF-Hub, 1e-5 VideoGPT/TATS/cd-fvd port) [default: the preset's].")
@click.option("--resize", "resize_method", type=click.Choice(RESIZE_METHODS), default=None,
              help="How frames are brought to 224x224 [default: the preset's].")
@click.option("--load-resize", type=click.Choice(LOAD_RESIZES), default=None,
              help="How frames are brought to --size before quantisation [default: the preset's].")
@click.option("--quantize", type=click.Choice(QUANTIZE_MODES), default=None,
              help="Float frames -> uint8, real and generated [default: the preset's].")
@click.option("--precision", type=click.Choice(PRECISIONS), default=None,
              help="I3D precision: fp32 (TF32 off) or bf16 (then the fp32 FVD of the same clips is stored as the "
                   "drift) [default: the preset's, fp32].")
@click.option("--allow-span-mismatch", is_flag=True,
              help="Compute FVD even when real and generated clips cover different fractions of their videos' time "
                   "(refused otherwise); the difference is stated with the result.")
@click.option("--real-max", type=click.IntRange(min=2), default=None, metavar="N",
              help="At most N real clips per split, chosen by the preset's subset rule [default: the preset's N, all "
                   "for lfdm-bench; sanity mode: 64].")
@click.option("--gen-max", type=click.IntRange(min=2), default=None, metavar="N",
              help="At most N generated videos per split [default: the preset's N, all for lfdm-bench].")
@ddof_option
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None, metavar="DIR",
              help="Output folder [default: RUN/metrics, SAMPLES/metrics, or ./eval-<dataset>-sanity].")
@click.option("--seed", type=SEED, default=0, help="Seed of subset selection, halves and distortions.")
@batch_size_option
@device_option("Torch device of the detector [default: cuda if available, else cpu].")
@click.option("--sanity", is_flag=True, help="No samples: FVD of real halves vs distorted real videos.")
@click.option("--beside", default=None, metavar="DETECTOR",
              help="Sanity mode: the same table with a second detector beside the first (e.g. i3d-random).")
@click.option("--beside-subjects", type=click.IntRange(min=2), default=2, metavar="N",
              help="Sanity mode: the --beside detector sees only the first N subjects of each split (I3D is slow).")
@click.option("--make-samples", type=click.Path(file_okay=False, path_type=Path), default=None, metavar="DIR",
              help="Write the real clips of --split (distorted with --distort) as a sample folder, then evaluate it.")
@click.option("--distort", default=None, metavar="NAME:STRENGTH",
              help="With --make-samples: noise:0.1, blur:2, shuffle:0.5 or freeze:0.5.")
@click.option("--option", "-o", "--dataset-option", "extra", multiple=True, metavar="KEY=VALUE",
              help="Option of the real dataset's loader, repeatable, as in `data info` (synthetic sets: n_subjects, "
                   "n_takes, size, frames, seed, style; natops: layout, segmentation). Samples record the options "
                   "they were made with; other options are refused.")
@click.option("--no-crop", is_flag=True, help="MHAD / NATOPS: do not apply LFDM's crop box to the real videos.")
@click.option("--no-cache", is_flag=True, help="Neither read nor write cached real features.")
@progress_option
@cli_errors(usage=config_errors)
def eval_cmd(metric_names: tuple[list[str], ...], split: str | None, samples: Path | None, run_dir: Path | None,
             dataset: str | None, root: Path | None, preset: str, frames: int | None, size: int | None,
             sampling: str | None, gen_sampling: str | None, detector: str | None, bn_eps: float | None,
             resize_method: str | None, load_resize: str | None, quantize: str | None, precision: str | None,
             allow_span_mismatch: bool, real_max: int | None, gen_max: int | None, ddof: str | None,
             out: Path | None, seed: int, batch_size: int, device: str | None, sanity: bool, beside: str | None,
             beside_subjects: int, make_samples: Path | None, distort: str | None, extra: tuple[str, ...], no_crop: bool, no_cache: bool,
             progress: bool) -> None:
    """Evaluate generated videos (FVD, cFVD, sFVD, KVD, PSNR, SSIM, class accuracy) against a dataset's real
    videos under an explicit protocol, or run the sanity table (--sanity). Writes metrics.json + tables."""
    from metrics.evaluate import evaluate
    from metrics.protocol import EvalProtocol
    from metrics.sample_checks import check_dataset, sample_settings
    from metrics.sanity import SANITY_MAX_REAL, run_sanity, write_real_samples
    from metrics.result_files import render_eval, render_sanity, write_eval, write_sanity
    from lfdm_bench.utils.io import ensure_writable

    names = [n for group in metric_names for n in group]
    given = [n for n, v in (("--samples", samples), ("--run", run_dir), ("--make-samples", make_samples)) if v]
    if sanity and given:
        raise click.UsageError(f"--sanity evaluates the dataset's real videos only; drop {', '.join(given)}")
    if not sanity and len(given) != 1:
        raise click.UsageError("give exactly one of --samples DIR, --run DIR or --make-samples DIR (or --sanity)")
    if distort and not make_samples:
        raise click.UsageError("--distort only applies with --make-samples DIR")
    if beside and not sanity:
        raise click.UsageError("--beside only applies with --sanity")
    from metrics.vcnn.source import default_detector_for, is_vcnn_detector

    if not sanity and not make_samples:
        dataset, extra, root, frames = _from_samples(run_dir, samples, dataset, extra, no_crop, root, frames, preset)
    if dataset is None:
        raise click.UsageError("--dataset is required with " + ("--sanity" if sanity else "--make-samples"))
    if detector is None:
        detector = default_detector_for(dataset)  # the embedded benchmark's detector; None: the I3D as before
    embedded = is_vcnn_detector(detector)
    options = _dataset_options(dataset, extra, no_crop)
    if embedded and default_detector_for(dataset) is not None:
        # the detector's own embedded dataset: rendered and read as its corpus and the embedded benchmark
        from metrics.vcnn.source import read_size, render_options

        options = render_options(detector) | options
        size = size or read_size(detector)
        _echo_err(f"dataset {dataset}: " + ", ".join(f"{k}={v}" for k, v in options.items()) + f", read at {size} px")
    # sanity mode at the embedded benchmark's protocol: every real test video (fast with the VCNN); I3D: 64 of both
    split = split or ("test" if sanity and embedded else "both" if sanity else "test")
    sanity_max = None if embedded else SANITY_MAX_REAL
    protocol = EvalProtocol(
        dataset=dataset, root=str(root) if root else None, dataset_options=options, split=split, preset=preset,
        n_frames=frames, resolution=size, real_sampling=sampling, generated_sampling=gen_sampling,
        max_real=real_max if real_max or not sanity else sanity_max, max_generated=gen_max,
        detector=detector, bn_eps=bn_eps, resize_method=resize_method, load_resize=load_resize,
        real_quantize=quantize, generated_quantize=quantize, precision=precision,
        ddof=None if ddof is None else int(ddof), allow_span_mismatch=allow_span_mismatch, seed=seed,
        batch_size=batch_size, device=device)
    if sanity:
        name = Path(dataset).stem if dataset.endswith(".csv") else dataset
        target = ensure_writable(out or Path(f"eval-{name}-sanity"))  # before any work
        info = _load_dataset(dataset, root, options)
        result = run_sanity(protocol, dataset=info, cache=not no_cache, progress=progress, log_fn=_echo_err)
        if beside:
            from dataclasses import replace

            _echo_err(f"beside: {beside} on the first {beside_subjects} subjects of each split")
            result.beside = run_sanity(replace(protocol, detector=beside), dataset=info, cache=not no_cache,
                                       max_subjects=beside_subjects, progress=progress, log_fn=_echo_err)
        if sys.argv[1:2] == ["eval"]:  # the command as typed (its output is shipped as evidence in docs/sanity/)
            result.command = "lfdm-bench " + shlex.join(sys.argv[1:])
        click.echo(render_sanity(result))
        paths = _write_results(write_sanity, result, target, "sanity")
        click.echo(f"\nsanity.json: {paths['json']}  (table: {paths['md']})")
        return
    if run_dir is not None:
        jobs = [(folders, (out or run_dir / "metrics") / name)
                for name, folders in run_sample_sets(run_dir, protocol.splits).items()]
    else:
        source = make_samples if make_samples else samples
        assert source is not None
        jobs = [([source], out or source / "metrics")]
    for folders, target in jobs:  # cheap checks first: the samples' dataset, then where the results go
        if not make_samples:
            check_dataset(sample_settings(folders), dataset, options)
    for folders, target in jobs:
        ensure_writable(target)
    info = _load_dataset(dataset, root, options)
    if make_samples:
        from metrics.distortions import parse_distortion

        d = parse_distortion(distort, seed) if distort else None
        _echo_err(f"writing real{' + ' + d.label if d else ''} clips of split {split} to {make_samples}")
        write_real_samples(info, make_samples, split=split, n_frames=protocol.n_frames, resolution=size,
                           sampling=protocol.real_sampling, distortion=d, max_videos=gen_max, seed=seed,
                           batch_size=batch_size)
    for i, (folders, target) in enumerate(jobs):
        if len(jobs) > 1:
            _echo_err(f"[{i + 1}/{len(jobs)}] {target.name}")
        result = evaluate(protocol, folders, names, dataset=info, cache=not no_cache, progress=progress,
                          log_fn=_echo_err)
        click.echo(render_eval(result))  # the numbers are shown before they are written
        paths = _write_results(write_eval, result, target, "metrics")
        click.echo(f"\nmetrics.json: {paths['json']}  (table: {paths['md']})")


def _from_samples(run_dir: Path | None, samples: Path | None, dataset: str | None, extra: tuple[str, ...],
                  no_crop: bool, root: Path | None, frames: int | None,
                  preset: str) -> tuple[str, tuple[str, ...], Path | None, int | None]:
    """``--dataset``, ``--option``, ``--root`` and ``--frames`` filled in from what the sample folders record
    (``settings.json``; for a run without one, ``RUN/config.yaml``); explicit flags override, and one that
    contradicts the record is refused naming what was recorded (the dataset and options: by ``check_dataset``)."""
    import json

    from lfdm_bench.config import ConfigError
    from metrics.presets import get_preset
    from metrics.sample_checks import dataset_identity, sample_settings

    folders = sorted(p.parent for p in (run_dir / "samples").glob("*/manifest.csv")) if run_dir else [samples]
    recorded = [(folder / "settings.json", s) for folder, s in sample_settings(folders) if "dataset" in s]
    if not recorded and run_dir is not None and (run_dir / "config.yaml").is_file():
        from lfdm_bench.config import load_yaml

        data = load_yaml(run_dir / "config.yaml").get("data") or {}
        if "dataset" in data:
            recorded = [(run_dir / "config.yaml", {"dataset": data["dataset"], "dataset_options": data.get("options"),
                                                   "dataset_root": data.get("root"), "n_frames": data.get("n_frames")})]
    if not recorded:
        if dataset is None:
            raise ConfigError(f"{samples or run_dir} records no dataset (no settings.json): pass --dataset")
        return dataset, extra, root, frames
    where, rec = recorded[0]
    for other, s in recorded[1:]:
        for key in ("dataset", "dataset_options", "n_frames"):
            if s.get(key) != rec.get(key):
                raise ConfigError(f"{where} and {other} record different {key} ({json.dumps(rec.get(key))} vs "
                                  f"{json.dumps(s.get(key))}): evaluate the folders apart (--samples DIR)")
    if dataset is None:
        dataset = rec["dataset"]
        _echo_err(f"dataset {dataset} (from {where})")
    same = dataset_identity(dataset, None)[0] == dataset_identity(rec["dataset"], None)[0]
    if same and rec.get("dataset_options"):  # explicit --option KEY=V come last: they win
        recorded_options = tuple(f"{k}={json.dumps(v)}" for k, v in sorted(rec["dataset_options"].items()))
        _echo_err(f"dataset options {' '.join(recorded_options)} (from {where})")
        extra = recorded_options + tuple(extra)
    if root is None and same and rec.get("dataset_root"):
        root = Path(rec["dataset_root"])
    made = rec.get("n_frames")
    if made:
        if frames is not None and frames > made:
            raise ConfigError(f"--frames {frames}: the samples have {made} frames ({where} n_frames); pass --frames "
                              f"{made} or fewer")
        if frames is None and made < get_preset(preset).n_frames:
            frames = made
            _echo_err(f"frames {frames} per clip (the samples' length, {where} n_frames; the preset's is "
                      f"{get_preset(preset).n_frames})")
    return dataset, extra, root, frames


def _load_dataset(dataset: str, root: Path | None, options: dict[str, Any]) -> Any:
    """The real reference set; an option its loader does not know is a usage error naming ``--option``."""
    from lfdm_bench.data.registry import get_dataset

    try:
        return get_dataset(dataset, root=root, **options)
    except TypeError as e:
        raise click.UsageError(f"--option: {e}") from None


def _dataset_options(dataset: str, extra: tuple[str, ...], no_crop: bool) -> dict[str, Any]:
    """The loader options of ``--option KEY=VALUE`` and ``--no-crop``."""
    options = parse_key_values(extra)
    if no_crop:
        if dataset in ("mhad", "natops"):
            options["crop"] = False
        else:
            _echo_err(f"note: --no-crop ignored, {dataset} has no crop box")
    return options


def _write_results(write: Any, result: Any, target: Path, what: str) -> dict[str, Path]:
    """``write(result, target)``; when that fails (the folder was checked writable, but a disk fills or a folder goes
    away), the results go to a new temporary folder instead and the error says where both are."""
    import tempfile

    try:
        return write(result, target)
    except OSError as e:
        from lfdm_bench.utils.errors import os_error_message

        try:
            spare = Path(tempfile.mkdtemp(prefix=f"lfdm-bench-{what}-"))
            write(result, spare)
            saved = f"they were written to {spare} instead"
        except OSError:
            saved = "nor to a temporary folder: copy them from the table above"
        raise click.ClickException(f"the results (printed above) could not be written to {target} "
                                   f"({os_error_message(e)}); {saved}") from None


def run_sample_sets(run_dir: Path, splits: tuple[str, ...]) -> dict[str, list[Path]]:
    """The sample folders of a run, grouped by sampler setting: ``{setting: [folders]}``.

    ``lfdm-bench sample`` writes one folder per split and setting, ``RUN/samples/<split>_<setting>/``; the folders of
    one setting (e.g. ``test_ddim10_eta1_g1`` and ``train_ddim10_eta1_g1``) form one set, so ``--split both``
    compares test- and train-subject generation of the same sampler. Only folders holding videos of ``splits`` are
    kept.
    """
    from lfdm_bench.data.records import read_manifest

    folders = sorted(p.parent for p in (run_dir / "samples").glob("*/manifest.csv"))
    if not folders:
        raise FileNotFoundError(f"no sample folders under {run_dir / 'samples'} (each holds a manifest.csv); "
                                f"generate them with `lfdm-bench sample --run {run_dir}`")
    sets: dict[str, list[Path]] = {}
    for folder in folders:
        split, _, setting = folder.name.partition("_")
        name = setting if split in ("test", "train") and setting else folder.name
        if any(r.split in splits for r in read_manifest(folder / "manifest.csv")):
            sets.setdefault(name, []).append(folder)
    if not sets:
        raise FileNotFoundError(f"the sample folders under {run_dir / 'samples'} ({', '.join(f.name for f in folders)}) "
                                f"hold no videos from {'/'.join(splits)}-split sources; sample them with "
                                f"`lfdm-bench sample --run {run_dir} --split {'both' if len(splits) > 1 else splits[0]}`")
    return sets


FVD_SECTIONS = (
    ("What to compare", ["metric_names", "group_by", "groups"]),
    ("Protocol (defaults: the --protocol preset's)", ["preset", "detector", "frames", "ddof", "seed", "allow_few"]),
    ("Running", ["batch_size", "device", "no_cache", "progress"]),
    ("Output", ["out"]),
)


@click.command("fvd", cls=SectionedCommand, sections=FVD_SECTIONS, context_settings=CONTEXT)
@click.argument("real", type=click.Path(path_type=Path))
@click.argument("fake", type=click.Path(path_type=Path))
@click.option("--metric", "metric_names", type=MetricNames(), multiple=True, default=["fvd,kvd"],
              metavar="fvd|kvd|cfvd|sfvd", help="Metric(s) to compute; repeat or comma-separate.")
@click.option("--group-by", default=None, metavar="PATTERN",
              help="How class and subject are read from a video's path relative to its set, e.g. "
                   "'{class}/{subject}_*' (fields {class} {subject}; * ? ** as in globs): needed by cfvd / sfvd.")
@click.option("--groups", type=click.Path(dir_okay=False, path_type=Path), default=None, metavar="FILE.csv",
              help="Or a CSV with columns path,class,subject (path relative to its set, absolute, or an array index).")
@click.option("--protocol", "preset", type=click.Choice(PRESET_NAMES), default=DEFAULT_PRESET,
              help="FVD protocol preset (docs/fvd_presets.md): its clip, resize and quantisation rules, as eval.")
@click.option("--i3d", "--detector", "detector", default=None, metavar="PATH|i3d-random|VCNN",
              help="Detector, as in eval: I3D weights (i3d_pretrained_400.pt or i3d_torchscript.pt) [default: "
                   "$LFDM_BENCH_I3D or the cache], an embedded-domain VCNN name or JSON, or i3d-random (smoke test).")
@click.option("--frames", type=click.IntRange(min=9), default=None,
              help="Frames per clip (I3D needs >= 9) [default: the preset's].")
@ddof_option
@click.option("--seed", type=SEED, default=0, help="Seed of random clip windows and subsets.")
@click.option("--allow-few", is_flag=True,
              help="Compute FVD with fewer videos than the feature dimension (biased upwards; refused otherwise).")
@batch_size_option
@device_option("Torch device of the detector [default: cuda if available, else cpu].")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the cached REAL features.")
@progress_option
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None, metavar="FILE.json",
              help="Where the JSON record goes [default: beside FAKE, <FAKE>.fvd.json].")
@cli_errors(usage=config_errors)
def fvd_cmd(real: Path, fake: Path, metric_names: tuple[list[str], ...], group_by: str | None, groups: Path | None,
            preset: str, detector: str | None, frames: int | None, ddof: str | None, seed: int, allow_few: bool,
            batch_size: int, device: str | None, no_cache: bool, progress: bool, out: Path | None) -> None:
    """FVD and KVD of two sets of videos, REAL and FAKE (folders of videos, folders of frame folders, or .npy
    arrays), under a protocol preset; cFVD / sFVD with --group-by or --groups."""
    from metrics.fvd_sets import SET_METRICS, default_out, fvd_of_sets, summary_line, write_json
    from metrics.video_sets import Grouping, parse_pattern
    from lfdm_bench.utils.io import ensure_writable

    names = [n for group in metric_names for n in group]
    names = list(SET_METRICS) if "all" in names else names
    odd = [n for n in names if n not in SET_METRICS]
    if odd:
        raise click.BadParameter(f"{', '.join(odd)}: lfdm-bench fvd computes {', '.join(SET_METRICS)} (the rest "
                                 "need a dataset: lfdm-bench eval)", param_hint="--metric")
    if group_by and groups:
        raise click.UsageError("give --group-by PATTERN or --groups FILE.csv, not both")
    grouping = None
    if group_by:
        try:
            parse_pattern(group_by)
        except ValueError as e:
            raise click.BadParameter(str(e).removeprefix(f"--group-by {group_by!r}: "), param_hint="--group-by")
        grouping = Grouping(pattern=group_by, source=f"--group-by {group_by!r}")
    elif groups:
        grouping = Grouping.from_csv(groups)
    target = out or default_out(fake)
    ensure_writable(target.parent)
    res = fvd_of_sets(real, fake, names, preset=preset, detector=detector, n_frames=frames,
                      ddof=None if ddof is None else int(ddof), seed=seed, batch_size=batch_size, device=device,
                      grouping=grouping, cache=not no_cache, allow_few=allow_few, progress=progress,
                      log_fn=_echo_err)
    for note in res.result.notes:
        _echo_err(f"note: {note}")
    click.echo(summary_line(res))
    path = _write_results(write_json, res, target, "fvd")
    click.echo(f"json: {path}")
