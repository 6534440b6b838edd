"""`lfdm-bench ldm-ae`: pretrain the LDM baseline's KL autoencoder on a generic corpus (deterministic on CPU) and
describe the shipped ones.

    lfdm-bench ldm-ae train --dataset synth-faces                  # -> ldm_ae_runs/synth-faces-klae-v2.{pt,json}
    lfdm-bench ldm-ae train --dataset synth-faces --out baselines/ldm/weights   # refresh the shipped files
    lfdm-bench ldm-ae info                                         # every shipped autoencoder (sha256 verified)
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from lfdm_bench.options import cli_errors, group, progress_option

DEFAULTS = {"steps": None, "batch_size": 16, "lr": 1e-3, "seed": 0, "threads": 1, "latent_channels": None}
BENCHMARK_CONFIGS = {"synth-faces": "ldm-synth-faces-cpu"}
"""The LDM config whose data the weights are validated on (its test subjects: the benchmark's)."""


def _line(what: str, s: dict) -> str:
    return (f"{what}: L1 {s['l1']:.4f}, PSNR {s['psnr']:.2f} dB (mean) / {s['psnr_pooled']:.2f} dB (pooled), "
            f"SSIM {s['ssim']:.4f} over {s['frames']} frames")


@group("ldm-ae")
def ldm_ae() -> None:
    """The LDM baseline's pretrained KL autoencoder: retrain it reproducibly, show what is shipped."""


@ldm_ae.command()
@click.option("--dataset", type=click.Choice(sorted(BENCHMARK_CONFIGS)), default="synth-faces")
@click.option("--out", type=click.Path(file_okay=False), default="ldm_ae_runs",
              help="Folder for <name>.pt, <name>.json and <name>.log.jsonl (baselines/ldm/weights: the shipped files).")
@click.option("--version", "version", type=click.Choice(["v1", "v2"]), default="v2", show_default=True,
              help="Architecture: v2 = KL-f2 (16x16 latents for 32x32 frames), v1 = KL-f4 (8x8, the first shipped).")
@click.option("--steps", type=int, default=DEFAULTS["steps"],
              help="Training steps [default: the version's: 5000 for v2, 1200 for v1].")
@click.option("--batch-size", type=int, default=DEFAULTS["batch_size"])
@click.option("--lr", type=float, default=DEFAULTS["lr"])
@click.option("--seed", type=int, default=DEFAULTS["seed"], help="Initialisation / batch seed.")
@click.option("--corpus-seed", type=int, default=None, help="Seed of the corpus rendering [default: 2000].")
@click.option("--corpus-subjects", type=int, default=None, help="Training subjects of the corpus [default: 240].")
@click.option("--threads", type=int, default=DEFAULTS["threads"],
              help="torch threads; 1 gives bit-identical weights on one machine.")
@click.option("--latent-channels", type=int, default=None,
              help="Latent channels c (latents c x H/f x W/f) [default: the dataset's architecture's].")
@click.option("--log-every", type=int, default=50, help="Steps per line of the loss log.")
@click.option("--name", default=None, help="Weights name [default: <dataset>-klae-v2, plus non-default settings].")
@click.option("--no-benchmark-check", is_flag=True,
              help="Skip the validation on the benchmark's test subjects (renders the benchmark data once).")
@progress_option
@cli_errors()
def train(dataset, out, version, steps, batch_size, lr, seed, corpus_seed, corpus_subjects, threads, latent_channels,
          log_every, name, no_benchmark_check, progress) -> None:
    """Render the corpus (once, cached), pretrain the autoencoder, validate it, write the weights and metadata."""
    from dataclasses import replace

    from baselines.ldm.config import load_ldm_config
    from baselines.ldm.pretrained import (DEFAULT_CORPORA, VERSION_STEPS, WEIGHTS_VERSION, PretrainConfig,
                                          export_autoencoder, pretrain_autoencoder, version_architecture,
                                          video_scores)
    from lfdm_bench.data.loading import clip_dataset, load_data
    from lfdm_bench.data.records import spread
    from metrics.vcnn.corpus import load_corpus
    from metrics.vcnn.train import history_lines

    spec = DEFAULT_CORPORA[dataset]
    spec = replace(spec, **{k: v for k, v in (("seed", corpus_seed), ("n_subjects", corpus_subjects)) if v is not None})
    settings = {"steps": steps, "batch_size": batch_size, "lr": lr, "seed": seed, "threads": threads,
                "latent_channels": latent_channels}
    short = {"steps": "s", "batch_size": "b", "lr": "lr", "seed": "seed", "threads": "t", "latent_channels": "c"}
    suffix = [f"{short[k]}{v:g}" if isinstance(v, float) else f"{short[k]}{v}" for k, v in settings.items()
              if DEFAULTS[k] != v]
    suffix += [f"cs{corpus_seed}"] if corpus_seed is not None else []
    suffix += [f"n{corpus_subjects}"] if corpus_subjects is not None else []
    default_name = "-".join([f"{dataset}-klae-{version}", *suffix])
    name = name or default_name
    cmd = ["lfdm-bench ldm-ae train", f"--dataset {dataset}"]
    cmd += [f"--version {version}"] if version != WEIGHTS_VERSION else []
    cmd += [f"--{k.replace('_', '-')} {v}" for k, v in settings.items() if DEFAULTS[k] != v]
    cmd += [f"--corpus-seed {corpus_seed}"] if corpus_seed is not None else []
    cmd += [f"--corpus-subjects {corpus_subjects}"] if corpus_subjects is not None else []
    cmd += [f"--name {name}"] if name != default_name else []
    cmd.append("--out DIR")
    steps = steps if steps is not None else VERSION_STEPS[version]
    say = click.echo
    t0 = time.perf_counter()
    corpus = load_corpus(spec, progress=progress, log_fn=say)
    say(f"corpus: {corpus.videos.shape[0]} videos {tuple(corpus.videos.shape[1:])} ({corpus.seconds:.0f} s to render "
        f"/ decode); training on every frame of subjects 0..{spec.n_subjects - 1}")
    cfg = PretrainConfig(steps=steps, batch_size=batch_size, lr=lr, warmup_steps=min(50, max(1, steps // 10)),
                         seed=seed, threads=threads, log_every=log_every)
    arch = version_architecture(dataset, version)
    arch = replace(arch, latent_channels=latent_channels) if latent_channels is not None else arch
    trained = pretrain_autoencoder(corpus, arch, cfg, log_fn=say)
    say(f"trained {steps} steps in {trained.seconds:.0f} s ({threads} thread(s))")
    heldout = corpus.videos[corpus.rows(heldout=True, takes="all")]
    val = {"frames_scored": "1..T-1 of every clip, each frame encoded (posterior mean) and decoded by itself",
           "corpus_heldout_subjects": video_scores(trained.model, heldout, threads) | {
               "subjects": spec.n_heldout_subjects, "videos": int(heldout.shape[0])}}
    say(_line(f"{spec.n_heldout_subjects} corpus subjects never trained on", val["corpus_heldout_subjects"]))
    if not no_benchmark_check:
        data = load_ldm_config(BENCHMARK_CONFIGS[dataset]).data
        clips = clip_dataset(load_data(data), data, "test", train=False)
        what = (f"{BENCHMARK_CONFIGS[dataset]} data ({data.dataset} {data.options}, read at {data.size} px, "
                f"{data.n_frames} uniform frames), test subjects")
        val["benchmark_test_subjects"] = video_scores(trained.model, clips, threads) | {
            "videos": len(clips), "what": what + ", every clip"}
        say(_line("benchmark test subjects, every clip", val["benchmark_test_subjects"]))
        clips.records = spread(clips.records, 128)  # the selection of the LFAE's table (evaluate_lfae_run)
        val["benchmark_test_subjects_128"] = video_scores(trained.model, clips, threads) | {
            "videos": len(clips), "what": what + ", the 128 clips the LFAE's reconstruction table scores"}
        say(_line("benchmark test subjects, the LFAE table's 128 clips", val["benchmark_test_subjects_128"]))
    trained.validation = val
    pt, js = export_autoencoder(trained, corpus, out, name, command=" ".join(cmd),
                                extra={"total_seconds": round(time.perf_counter() - t0, 1)})
    (Path(out) / f"{name}.log.jsonl").write_text(history_lines(trained.history) + "\n")
    say(f"wrote {pt} ({pt.stat().st_size / 1e6:.2f} MB) and {js}")


@ldm_ae.command()
@click.argument("names", nargs=-1)
@cli_errors()
def info(names) -> None:
    """Describe shipped autoencoders (or the given names / metadata paths): checksum check, corpus, validation."""
    from baselines.ldm.autoencoder import KLAutoencoderConfig
    from baselines.ldm.pretrained import load_pretrained, resolve_metadata, shipped_autoencoders

    for n in names or shipped_autoencoders():
        path = resolve_metadata(n)
        model, meta = load_pretrained(path)  # verifies the checksum and loads strictly
        a, c, tr, v = meta["architecture"], meta["corpus"], meta["training"], meta["validation"]
        click.echo(f"{meta['name']}  ({path})")
        click.echo(f"  {meta['note']}")
        click.echo(f"  weights {meta['weights']['file']} {meta['weights']['bytes'] / 1e6:.2f} MB, sha256 "
                   f"{meta['weights']['sha256'][:16]}... (verified), {meta['weights']['n_parameters']} parameters")
        f = a["image_size"] // KLAutoencoderConfig.from_dict(a).downsample_factor
        click.echo(f"  {a['image_size']}x{a['image_size']} RGB -> {a['latent_channels']}x{f}x{f} latents, channels "
                   f"{a['base_channels']} x {a['channel_mult']}")
        click.echo(f"  corpus {c['dataset']} seed {c['seed']}: {c['n_subjects']} + {c['n_heldout_subjects']} held-out "
                   f"subjects ({c['n_videos']} videos), no subject shared with the benchmark "
                   f"({c['benchmark_check']['n_subjects_checked']} checked)")
        click.echo(f"  trained {tr['steps']} steps, batch {tr['batch_size']}, {tr['seconds']} s, {tr['threads']} "
                   f"thread(s), torch {tr['torch']}")
        click.echo("  " + _line("held-out corpus subjects", v["corpus_heldout_subjects"]))
        if "benchmark_test_subjects" in v:
            click.echo("  " + _line("benchmark test subjects", v["benchmark_test_subjects"]))
        click.echo(f"  retrain: {meta['command']}")
