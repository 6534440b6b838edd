"""``lfdm-bench eval``: FVD / cFVD / sFVD / KVD / PSNR / SSIM / class accuracy of a sample folder, or the sanity table.

Examples::

    lfdm-bench eval --samples runs/x/samples --dataset synth-faces --metric all --i3d i3d-random
    lfdm-bench eval --run runs/x --dataset mug --root /data/MUG --metric fvd --metric cfvd --split both --i3d i3d.pt
    lfdm-bench eval --sanity --dataset synth-faces                          # real halves vs distorted real (VCNN)
    lfdm-bench eval --sanity --dataset synth-faces --seed 1 --beside i3d-random --beside-subjects 2
    lfdm-bench eval --make-samples /tmp/noisy --distort noise:0.1 --dataset synth-faces --i3d i3d-random

The command is a thin layer over :func:`lfdm_bench.metrics.evaluate.evaluate`,
:func:`lfdm_bench.metrics.sanity.run_sanity` and
:mod:`lfdm_bench.metrics.tables`; heavy imports happen inside it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from lfdm_bench.metrics.protocol import EVAL_SPLITS, METRICS, REAL_SAMPLINGS
from lfdm_bench.metrics.preprocess import DEFAULT_RESIZE_METHOD, RESIZE_METHODS

__all__ = ["eval_cmd"]


class MetricNames(click.ParamType):
    """Metric names, repeatable or comma-separated; unknown names list the valid ones."""

    name = "metric"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> list[str]:
        from lfdm_bench.metrics.protocol import UnknownMetricError, parse_metrics

        names = [v for v in str(value).split(",") if v.strip()] if not isinstance(value, list) else value
        try:
            parse_metrics(names)
        except UnknownMetricError as e:
            self.fail(str(e), param, ctx)
        return [n.strip().lower() for n in names]


def _echo_err(message: str) -> None:
    click.echo(message, err=True)


@click.command("eval", context_settings={"show_default": True, "help_option_names": ["-h", "--help"]})
@click.option("--metric", "metric_names", type=MetricNames(), multiple=True, default=["all"],
              metavar="|".join(METRICS + ("all",)), help="Metric(s) to compute; repeat or comma-separate.")
@click.option("--split", type=click.Choice(EVAL_SPLITS), default=None,
              help="Split of the source images (and of the real reference); default test, sanity mode: both.")
@click.option("--samples", type=click.Path(file_okay=False, path_type=Path), default=None, metavar="DIR",
              help="A generated-sample folder holding manifest.csv.")
@click.option("--run", "run_dir", type=click.Path(file_okay=False, path_type=Path), default=None, metavar="DIR",
              help="A run directory: evaluates RUN/samples, writes RUN/metrics.")
@click.option("--dataset", required=True, metavar="NAME",
              help="Real reference set: synth-faces, synth-actions, mug, mhad, natops, or a manifest .csv.")
@click.option("--dataset-option", "dataset_option", multiple=True, metavar="KEY=VALUE",
              help="Option of the dataset (synthetic: size, frames, n_subjects, ...; YAML values) [default with an "
                   "embedded-domain detector on its own dataset: the rendering of its corpus and of the embedded "
                   "benchmark, e.g. size=64 frames=16].")
@click.option("--root", type=click.Path(path_type=Path), default=None, metavar="PATH",
              help="Folder of a real dataset copy (required for mug / mhad / natops).")
@click.option("--frames", type=click.IntRange(min=9), default=16, help="Frames per clip (I3D needs >= 9).")
@click.option("--size", type=click.IntRange(min=16), default=None, metavar="N",
              help="Resolution frames are read at before the resize to 224 [default: the generated videos' size].")
@click.option("--sampling", type=click.Choice(REAL_SAMPLINGS), default="uniform",
              help="Frames of real videos: evenly spaced over the video, or the first N.")
@click.option("--i3d", "--detector", "detector", default=None, metavar="PATH|i3d-random|VCNN",
              help="Detector: I3D weights (i3d_pretrained_400.pt or i3d_torchscript.pt) [default: $LFDM_BENCH_I3D or "
                   "the cache], an embedded-domain VCNN (synth-faces-vcnn-v1, synth-actions-vcnn-v1, or a detector "
                   "JSON; the default of --sanity on synth-faces / synth-actions), or i3d-random = random weights, a "
                   "pipeline smoke test only.")
@click.option("--bn-eps", type=float, default=1e-3, help="I3D BatchNorm epsilon (1e-3 TF-Hub, 1e-5 TATS port).")
@click.option("--resize", "resize_method", type=click.Choice(RESIZE_METHODS), default=DEFAULT_RESIZE_METHOD,
              help="How frames are brought to 224x224.")
@click.option("--real-max", type=click.IntRange(min=2), default=None, metavar="N",
              help="At most N real videos per split, class-stratified [default: all; sanity mode: 64].")
@click.option("--gen-max", type=click.IntRange(min=2), default=None, metavar="N",
              help="At most N generated videos per split [default: all].")
@click.option("--ddof", type=click.Choice(["0", "1"]), default="1",
              help="Covariance divides by N - ddof (1: TF-GAN/TATS; 0: StyleGAN-V).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None, metavar="DIR",
              help="Output folder [default: RUN/metrics, SAMPLES/metrics, or ./eval-<dataset>-sanity].")
@click.option("--seed", type=int, default=0, help="Seed of subset selection, halves and distortions.")
@click.option("--batch-size", type=click.IntRange(min=1), default=8, help="Videos per detector call.")
@click.option("--device", default=None, help="Torch device of the detector [default: cuda if available, else cpu].")
@click.option("--sanity", is_flag=True, help="No samples: FVD of real halves vs distorted real videos.")
@click.option("--beside", default=None, metavar="DETECTOR",
              help="Sanity mode: the same table with a second detector beside the first (e.g. i3d-random).")
@click.option("--beside-subjects", type=click.IntRange(min=2), default=2, metavar="N",
              help="Sanity mode: the --beside detector sees only the first N subjects of each split (I3D is slow).")
@click.option("--make-samples", type=click.Path(file_okay=False, path_type=Path), default=None, metavar="DIR",
              help="Write the real clips of --split (distorted with --distort) as a sample folder, then evaluate it.")
@click.option("--distort", default=None, metavar="NAME:STRENGTH",
              help="With --make-samples: noise:0.1, blur:2, shuffle:0.5 or freeze:0.5.")
@click.option("--no-cache", is_flag=True, help="Neither read nor write cached real features.")
@click.option("--progress/--no-progress", default=False, help="Progress bars.")
def eval_cmd(metric_names: tuple[list[str], ...], split: str | None, samples: Path | None, run_dir: Path | None,
             dataset: str, dataset_option: tuple[str, ...], root: Path | None, frames: int, size: int | None,
             sampling: str, detector: str | None,
             bn_eps: float, resize_method: str, real_max: int | None, gen_max: int | None, ddof: str,
             out: Path | None, seed: int, batch_size: int, device: str | None, sanity: bool, beside: str | None,
             beside_subjects: int, make_samples: Path | None, distort: str | None, no_cache: bool,
             progress: bool) -> None:
    """Evaluate generated videos (FVD, cFVD, sFVD, KVD, PSNR, SSIM, class accuracy) against a dataset's real
    videos under an explicit protocol, or run the sanity table (--sanity). Writes metrics.json + tables."""
    from lfdm_bench.data.registry import get_dataset
    from lfdm_bench.metrics.detector import DetectorNotFoundError
    from lfdm_bench.metrics.evaluate import evaluate
    from lfdm_bench.metrics.protocol import EvalProtocol
    from lfdm_bench.metrics.sanity import SANITY_MAX_REAL, run_sanity, write_real_samples
    from lfdm_bench.metrics.tables import render_eval, render_sanity, write_eval, write_sanity

    names = [n for group in metric_names for n in group]
    given = [n for n, v in (("--samples", samples), ("--run", run_dir), ("--make-samples", make_samples)) if v]
    if sanity and given:
        raise click.UsageError(f"--sanity evaluates the dataset's real videos only; drop {', '.join(given)}")
    if not sanity and len(given) != 1:
        raise click.UsageError("give exactly one of --samples DIR, --run DIR or --make-samples DIR (or --sanity)")
    if distort and not make_samples:
        raise click.UsageError("--distort only applies with --make-samples DIR")
    from lfdm_bench.metrics.vcnn.source import default_detector_for, is_vcnn_detector

    if beside and not sanity:
        raise click.UsageError("--beside only applies with --sanity")
    if sanity and detector is None:
        detector = default_detector_for(dataset)  # the embedded benchmark's detector; None: the I3D as before
    embedded = is_vcnn_detector(detector)
    # sanity mode at the embedded benchmark's protocol: every real test video (fast with the VCNN); I3D: 64 of both
    options: dict[str, Any] = {}
    for item in dataset_option:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.UsageError(f"--dataset-option expects KEY=VALUE, got {item!r}")
        import yaml

        options[key.strip()] = yaml.safe_load(value)
    if embedded and default_detector_for(dataset) is not None:
        # the detector's own embedded dataset: rendered and read as its corpus and the embedded benchmark
        from lfdm_bench.metrics.vcnn.source import read_size, render_options

        options = options or render_options(detector)
        size = size or read_size(detector)
        _echo_err(f"dataset {dataset}: " + ", ".join(f"{k}={v}" for k, v in options.items())
                  + f", read at {size} px")
    split = split or ("test" if sanity and embedded else "both" if sanity else "test")
    sanity_max = None if embedded else SANITY_MAX_REAL
    try:
        protocol = EvalProtocol(
            dataset=dataset, root=str(root) if root else None, dataset_options=options, split=split,
            n_frames=frames, resolution=size,
            real_sampling=sampling, max_real=real_max if real_max or not sanity else sanity_max,
            max_generated=gen_max, detector=detector, bn_eps=bn_eps, resize_method=resize_method, ddof=int(ddof),
            seed=seed, batch_size=batch_size, device=device)
        info = get_dataset(dataset, root=root, **options)
        cache = not no_cache
        if sanity:
            result = run_sanity(protocol, dataset=info, cache=cache, progress=progress, log_fn=_echo_err)
            if beside:
                from dataclasses import replace

                _echo_err(f"beside: {beside} on the first {beside_subjects} subjects of each split")
                result.beside = run_sanity(replace(protocol, detector=beside), dataset=info, cache=cache,
                                           max_subjects=beside_subjects, progress=progress, log_fn=_echo_err)
            target = out or Path(f"eval-{Path(info.name).stem if info.name.endswith('.csv') else info.name}-sanity")
            paths = write_sanity(result, target)
            click.echo(render_sanity(result))
            click.echo(f"\nsanity.json: {paths['json']}  (table: {paths['md']})")
            return
        if make_samples:
            from lfdm_bench.metrics.distortions import parse_distortion

            d = parse_distortion(distort, seed) if distort else None
            _echo_err(f"writing real{' + ' + d.label if d else ''} clips of split {split} to {make_samples}")
            write_real_samples(info, make_samples, split=split, n_frames=frames, resolution=size, sampling=sampling,
                               distortion=d, max_videos=gen_max, seed=seed, batch_size=batch_size)
            samples = make_samples
        if run_dir is not None:
            jobs = [(records, (out or run_dir / "metrics") / name)
                    for name, records in run_sample_sets(run_dir, protocol.splits).items()]
        else:
            assert samples is not None
            jobs = [(samples, out or samples / "metrics")]
        for i, (what, target) in enumerate(jobs):
            if len(jobs) > 1:
                _echo_err(f"[{i + 1}/{len(jobs)}] {target.name}")
            result = evaluate(protocol, what, names, dataset=info, cache=cache, progress=progress, log_fn=_echo_err)
            paths = write_eval(result, target)
            click.echo(render_eval(result))
            click.echo(f"\nmetrics.json: {paths['json']}  (table: {paths['md']})")
    except (DetectorNotFoundError, FileNotFoundError, ValueError) as e:
        raise click.ClickException(str(e)) from e


def run_sample_sets(run_dir: Path, splits: tuple[str, ...]) -> dict[str, list]:
    """The generated videos of a run, one set per sampler setting: ``{setting: records}``.

    ``lfdm-bench sample`` writes one folder per split and setting, ``RUN/samples/<split>_<setting>/``; the folders of
    one setting (e.g. ``test_ddim10_eta1_g1`` and ``train_ddim10_eta1_g1``) form one set, so ``--split both``
    compares test- and train-subject generation of the same sampler.
    """
    from lfdm_bench.data.records import read_manifest

    folders = sorted(p.parent for p in (run_dir / "samples").glob("*/manifest.csv"))
    if not folders:
        raise FileNotFoundError(f"no sample folders under {run_dir / 'samples'} (each holds a manifest.csv); "
                                f"generate them with `lfdm-bench sample --run {run_dir}`")
    sets: dict[str, list] = {}
    for folder in folders:
        split, _, setting = folder.name.partition("_")
        name = setting if split in ("test", "train") and setting else folder.name
        sets.setdefault(name, []).extend(r for r in read_manifest(folder / "manifest.csv") if r.split in splits)
    sets = {k: v for k, v in sets.items() if v}
    if not sets:
        raise FileNotFoundError(f"the sample folders under {run_dir / 'samples'} ({', '.join(f.name for f in folders)}) "
                                f"hold no videos from {'/'.join(splits)}-split sources; sample them with "
                                f"`lfdm-bench sample --run {run_dir} --split {'both' if len(splits) > 1 else splits[0]}`")
    return sets
