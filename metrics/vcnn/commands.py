"""`lfdm-bench detector`: train the embedded-domain FVD detector (deterministic on CPU) and describe shipped ones.

    lfdm-bench detector train --dataset synth-faces                 # -> detector_runs/synth-faces-vcnn-v1.{pt,json}
    lfdm-bench detector train --dataset synth-faces --out metrics/vcnn/weights   # refresh the shipped files
    lfdm-bench detector info                                        # every shipped detector
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from lfdm_bench.options import SEED, cli_errors, group, progress_option

DEFAULTS = {"steps": 600, "feature_dim": 16, "width": 32, "seed": 0, "threads": 1, "batch_size": 32, "lr": 2e-3}


def detector_name(dataset: str, version: int = 1, **settings) -> str:
    """``<dataset>-vcnn-v<version>``, plus a suffix for every setting that differs from :data:`DEFAULTS` and any
    non-default corpus seed, so a result names what produced it (e.g. ``synth-faces-vcnn-v1-d32``)."""
    short = {"steps": "s", "feature_dim": "d", "width": "w", "seed": "seed", "threads": "t", "batch_size": "b",
             "lr": "lr", "corpus_seed": "cs"}
    parts = [f"{short[k]}{v:g}" if isinstance(v, float) else f"{short[k]}{v}" for k, v in settings.items()
             if v is not None and DEFAULTS.get(k, object()) != v]
    return "-".join([f"{dataset}-vcnn-v{version}", *parts])


@group()
def detector() -> None:
    """The embedded-domain FVD detector (VCNN): train it reproducibly, show what is shipped."""


@detector.command()
@click.option("--dataset", type=click.Choice(["synth-faces", "synth-actions"]), required=True)
@click.option("--out", type=click.Path(file_okay=False), default="detector_runs",
              help="Folder for <name>.pt, <name>.json and <name>.log.jsonl (metrics/vcnn/weights: the shipped files).")
@click.option("--steps", type=int, default=DEFAULTS["steps"])
@click.option("--feature-dim", type=int, default=DEFAULTS["feature_dim"], help="D, the FVD feature dimension.")
@click.option("--width", type=int, default=DEFAULTS["width"], help="Channels of the first stage.")
@click.option("--batch-size", type=int, default=DEFAULTS["batch_size"])
@click.option("--lr", type=float, default=DEFAULTS["lr"])
@click.option("--seed", type=SEED, default=DEFAULTS["seed"], help="Initialisation and batch-order seed.")
@click.option("--corpus-seed", type=SEED, default=None, help="Seed of the corpus rendering (default: 1000).")
@click.option("--threads", type=int, default=DEFAULTS["threads"],
              help="torch threads; 1 gives bit-identical weights on one machine.")
@click.option("--name", default=None, help="Detector name (default: <dataset>-vcnn-v1 plus non-default settings).")
@progress_option
@cli_errors()
def train(dataset, out, steps, feature_dim, width, batch_size, lr, seed, corpus_seed, threads, name, progress) -> None:
    """Render the detector corpus (once, cached), train VCNN, print and store its validation."""
    from dataclasses import replace

    from metrics.vcnn.corpus import DEFAULT_CORPORA, load_corpus
    from metrics.vcnn.train import DetectorTrainConfig, export_detector, history_lines, train_vcnn, validate

    if name is not None:
        from lfdm_bench.config import ConfigError, check_plain_name

        try:
            check_plain_name(name, "--name")
        except ConfigError as e:
            raise click.BadParameter(str(e).partition(": ")[2], param_hint="'--name'") from None
    spec = DEFAULT_CORPORA[dataset]
    if corpus_seed is not None:
        spec = replace(spec, seed=corpus_seed)
    settings = {"steps": steps, "feature_dim": feature_dim, "width": width, "batch_size": batch_size, "lr": lr,
                "seed": seed, "threads": threads}
    default_name = detector_name(dataset, **settings,
                                 corpus_seed=corpus_seed if corpus_seed not in (None, 1000) else None)
    name = name or default_name
    cmd = ["lfdm-bench detector train", f"--dataset {dataset}"]
    cmd += [f"--{k.replace('_', '-')} {v}" for k, v in settings.items() if DEFAULTS[k] != v]
    if corpus_seed is not None:
        cmd.append(f"--corpus-seed {corpus_seed}")
    if name != default_name:
        cmd.append(f"--name {name}")
    cmd.append("--out DIR")
    say = click.echo
    t0 = time.perf_counter()
    corpus = load_corpus(spec, progress=progress, log_fn=say)
    say(f"corpus: {corpus.videos.shape[0]} videos {tuple(corpus.videos.shape[1:])} ({corpus.seconds:.0f} s to render "
        f"/ decode); training on {len(corpus.rows(heldout=False, takes='train'))} (subjects 0..{spec.n_subjects - 1}, "
        f"takes != {spec.val_take})")
    cfg = DetectorTrainConfig(steps=steps, batch_size=batch_size, lr=lr, seed=seed, threads=threads)
    trained = train_vcnn(corpus, cfg, width=width, feature_dim=feature_dim, log_fn=say)
    say(f"trained {steps} steps in {trained.seconds:.0f} s ({threads} thread(s))")
    val = validate(trained, corpus, threads=threads)
    line = (f"validation, linear probes on the held-out take {spec.val_take}: class {val['class']['heldout_take']:.3f} "
            f"(chance {val['class']['chance']:.3f}), subject {val['subject']['heldout_take']:.3f} "
            f"(chance {val['subject']['chance']:.3f})")
    if "subject_unseen" in val:
        line += (f"; {spec.n_heldout_subjects} subjects never trained on: class {val['class']['unseen_subjects']:.3f}, "
                 f"subject {val['subject_unseen']['heldout_take']:.3f}")
    say(line)
    say(json.dumps(val, indent=1))
    pt, js = export_detector(trained, corpus, out, name, command=" ".join(cmd),
                             extra={"total_seconds": round(time.perf_counter() - t0, 1)})
    (Path(out) / f"{name}.log.jsonl").write_text(history_lines(trained.history) + "\n")
    say(f"wrote {pt} ({pt.stat().st_size / 1e6:.2f} MB) and {js}")


@detector.command()
@click.argument("names", nargs=-1)
@cli_errors()
def info(names) -> None:
    """Describe shipped detectors (or the given names / metadata paths): checksum check, validation, corpus."""
    from metrics.vcnn.corpus import CorpusSpec, benchmark_nearest
    from metrics.vcnn.source import load_model, resolve_metadata, shipped_detectors

    for n in names or shipped_detectors():
        path = resolve_metadata(n)
        model, meta = load_model(path)  # verifies the checksum and loads strictly
        v, tr, c = meta["validation"], meta["training"], meta["corpus"]
        click.echo(f"{meta['name']}  ({path})")
        click.echo(f"  {meta['note']}")
        click.echo(f"  weights {meta['weights']['file']} {meta['weights']['bytes'] / 1e6:.2f} MB, sha256 "
                   f"{meta['weights']['sha256'][:16]}... (verified), {meta['weights']['n_parameters']} parameters")
        a = meta["architecture"]
        click.echo(f"  VCNN width {a['width']}, feature {a['feature_dim']}-d, input {a['frames']} x {a['input_size']}"
                   f"x{a['input_size']}")
        click.echo(f"  corpus {c['dataset']} seed {c['seed']}: {c['n_subjects']} + {c['n_heldout_subjects']} held-out "
                   f"subjects x {c['n_takes']} takes ({c['n_videos']} videos), no subject shared with the benchmark "
                   f"({c['benchmark_check']['n_subjects_checked']} checked)")
        near = benchmark_nearest(CorpusSpec(**{k: c[k] for k in CorpusSpec.__dataclass_fields__}))  # recomputed
        stored = (c["benchmark_check"].get("nearest") or {}).get("min_distance")
        click.echo(f"  nearest corpus subject of every benchmark subject ({len(near['per_subject'])}, train and test):"
                   f" closest pair {near['closest'][0]} ~ {near['closest'][1]} at appearance distance "
                   f"{near['min_distance']:.3f} (minimum allowed {near['threshold']}; stored: {stored})")
        click.echo(f"  trained {tr['steps']} steps, batch {tr['batch_size']}, {tr['seconds']} s, {tr['threads']} "
                   f"thread(s), torch {tr['torch']}")
        line = (f"  probes on the held-out take: class {v['class']['heldout_take']:.3f}, subject "
                f"{v['subject']['heldout_take']:.3f}")
        if "unseen_subjects" in v["class"]:
            line += (f"; unseen subjects: class {v['class']['unseen_subjects']:.3f}, subject "
                     f"{v['subject_unseen']['heldout_take']:.3f}")
        click.echo(line)
        click.echo(f"  retrain: {meta['command']}")
