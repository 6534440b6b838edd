"""The `lfdm-bench` command line: a thin click layer over the library.

Each command group lives beside the code it drives (``lfdm_bench/data/commands.py``, ``metrics/commands.py``, ...)
and is registered here; heavy imports happen inside the commands so ``--help`` stays fast.
"""

from __future__ import annotations

import importlib

import click

import lfdm_bench

# (module, attribute) of each command, in the order `--help` lists them.
COMMANDS = [
    ("lfdm_bench.data.commands", "data"),
    ("cli", "train"),
    ("cli", "sample"),
    ("lfdm_bench.metrics.commands", "eval_cmd"),
    ("lfdm_bench.bench.commands", "bench"),
    ("lfdm_bench.bench.ablate", "ablate"),
    ("lfdm_bench.bench.report", "report"),
    ("lfdm_bench.bench.experiments", "experiment"),
]


class LazyGroup(click.Group):
    """Imports a command's module only when that command (or the full help) is needed."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [c.name for c in self._load_all()]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        for cmd in self._load_all():
            if cmd.name == name:
                return cmd
        return None

    def _load_all(self) -> list[click.Command]:
        if not hasattr(self, "_loaded"):
            loaded = []
            for module, attr in COMMANDS:
                try:
                    mod = importlib.import_module(module)
                except ModuleNotFoundError as e:
                    # A command group that is not part of this build yet (or a missing optional dependency
                    # of it) must not break the others; a missing *third-party* module is a real error.
                    if e.name and (e.name == module or module.startswith(e.name + ".")):
                        continue
                    raise
                loaded.append(getattr(mod, attr))
            self._loaded = loaded
        return self._loaded


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.version_option(lfdm_bench.__version__, "--version", prog_name="lfdm-bench")
def main() -> None:
    """lfdm-bench: train, sample and fairly evaluate conditional image-to-video generators.

    LFDM (latent flow diffusion, CVPR 2023) and its LDM baseline on embedded synthetic datasets (no download) or
    MUG / UTD-MHAD / NATOPS, evaluated with FVD, cFVD, sFVD, KVD, PSNR/SSIM and class accuracy.
    """


# ------------------------------------------------------------------------------------------------ train / sample
_SET = click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                    help="Override a config value, e.g. --set dm.train.steps=500 (repeatable).")


def _load_lfdm_config(config: str, overrides: tuple[str, ...]):
    from lfdm_bench.config import load_config
    from lfdm_bench.experiment import LFDMConfig, resolve_config_path

    return load_config(LFDMConfig, resolve_config_path(config), overrides)


@click.command()
@click.option("--model", type=click.Choice(["lfdm", "ldm"]), default="lfdm", help="Which generator to train.")
@click.option("--stage", type=click.Choice(["lfae", "dm", "all"]), default="all",
              help="LFDM: stage 1 (lfae), stage 2 (dm) or both. LDM: lfae = its image autoencoder.")
@click.option("--config", "config", default="synth-faces-cpu", metavar="NAME|PATH",
              help="A YAML config or the name of one in configs/.")
@click.option("--out", "out", type=click.Path(file_okay=False), default=None,
              help="Run directory (default runs/<config name>-<model>). An existing run is resumed.")
@_SET
@click.option("--progress/--no-progress", default=True)
def train(model: str, stage: str, config: str, out: str | None, overrides: tuple[str, ...], progress: bool) -> None:
    """Train LFDM (stage 1 LFAE, stage 2 flow DM) or the LDM baseline; resumes an interrupted run by itself."""
    if model == "ldm":
        from lfdm_bench.baselines.ldm.train import train_ldm

        train_ldm(config, overrides, out, stage, progress)
        return
    from lfdm_bench.training.lfdm import RunConfigMismatch, open_lfdm_run, train_lfdm_run

    cfg = _load_lfdm_config(config, overrides)
    try:
        run = open_lfdm_run(cfg, out, config, overrides)
    except RunConfigMismatch as e:
        raise click.UsageError(str(e)) from None
    run.log(f"train lfdm stage={stage} config={config} overrides={list(overrides)}", echo=True)
    if stage in ("lfae", "all"):
        train_lfdm_run(cfg, run, "lfae", progress)
        from lfdm_bench.metrics.reconstruction import evaluate_lfae_run

        click.echo(evaluate_lfae_run(run, cfg))
    if stage in ("dm", "all"):
        train_lfdm_run(cfg, run, "dm", progress)
    click.echo(f"run directory: {run.root}")


@click.command()
@click.option("--run", "run_dir", type=click.Path(exists=True, file_okay=False), required=True, help="A trained run.")
@click.option("--split", type=click.Choice(["test", "train", "both"]), default="test",
              help="Source images from test-subject or train-subject videos.")
@click.option("--per-class", "per_pair", type=int, default=None,
              help="Videos per (subject, class) pair (default: the config's sample.per_pair).")
@click.option("--sampler", default=None, help="ddim | ddpm | dpmsolver++ | euler | unipc | diffusers-ddim.")
@click.option("--steps", type=int, default=None)
@click.option("--eta", type=float, default=None)
@click.option("--guidance", type=float, default=None, help="Classifier-free guidance scale (1 = none).")
@click.option("--unconditional", is_flag=True, help="Generate with the null condition.")
@click.option("--out", type=click.Path(file_okay=False), default=None, help="Sample folder (default RUN/samples/<name>).")
@click.option("--progress/--no-progress", default=True)
def sample(run_dir, split, per_pair, sampler, steps, eta, guidance, unconditional, out, progress) -> None:
    """Generate the evaluation set of a trained run (every subject x class of a split) as mp4 + manifest."""
    from lfdm_bench.runs import Run

    run = Run.open(run_dir)
    kind = (run.read_json("run.json") or {}).get("model", "lfdm")
    if kind == "ldm":
        from lfdm_bench.baselines.ldm.sample import sample_ldm_run as sample_fn
    else:
        from lfdm_bench.sampling.run import sample_lfdm_run as sample_fn
    splits = ["test", "train"] if split == "both" else [split]
    for sp in splits:
        path = sample_fn(run, split=sp, per_pair=per_pair, sampler=sampler, steps=steps, eta=eta, guidance=guidance,
                         unconditional=unconditional, out=out if len(splits) == 1 else None, progress=progress)
        click.echo(f"{sp}: {path}")


if __name__ == "__main__":
    main()
