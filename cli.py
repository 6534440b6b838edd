"""The `lfdm-bench` command line (import name ``cli``): a thin click layer over the library.

Each command group lives beside the code it drives (``lfdm_bench/data/commands.py``, ``metrics/commands.py``, ...)
and is listed in :data:`COMMANDS` with its one-line help, so ``lfdm-bench --help`` imports none of them (nor torch);
a command's module is imported only when that command runs or its own ``--help`` is asked for. ``train`` and
``sample`` are defined here, with their heavy imports inside.
"""

from __future__ import annotations

import importlib

import click

import lfdm_bench
from lfdm_bench.kinds import MODELS, STAGE_CHOICES, train_stages

# name -> (module, attribute, short help = the first sentence of the command's docstring, checked by a test), in the
# order `--help` lists them
COMMANDS: dict[str, tuple[str, str, str]] = {
    "data": ("lfdm_bench.data.commands", "data", "Datasets: generate the synthetic ones, inspect any of them."),
    "train": ("cli", "train",
              "Train LFDM (stage 1 LFAE, stage 2 flow DM) or the LDM baseline; resumes an interrupted run by itself."),
    "sample": ("cli", "sample", "Generate the evaluation set of a trained run (every subject x class of a "
               "split) as mp4 + manifest."),
    "eval": ("metrics.commands", "eval_cmd", "Evaluate generated videos (FVD, cFVD, sFVD, KVD, PSNR, SSIM, "
             "class accuracy) against a dataset's real videos under an explicit protocol, or run the sanity table "
             "(--sanity)."),
    "bench": ("bench.commands", "bench", "Run the benchmark: data, train LFDM + LDM, sample every method on "
              "train and test subjects, evaluate FVD / cFVD / sFVD / KVD / class accuracy / PSNR / SSIM, write grids "
              "and paper-style tables."),
    "ablate": ("bench.ablate", "ablate", "Sampler ablation of a trained run: FVD, class accuracy, seconds "
               "and NFE per video over samplers x steps x guidance (x eta for DDIM), all on the same evaluation set."),
    "report": ("bench.report", "report", "Side-by-side tables of results.json / ablation.json from one or "
               "more folders, such as a GPU cluster's and a laptop's; refuses to mix protocols unless --allow-mixed."),
    "experiment": ("bench.experiments", "experiment", "The paper's other experiments: unconditional "
                   "generation, a new domain, BERT vs one-hot text, grid vs displacement flow target."),
    "detector": ("metrics.vcnn.commands", "detector", "The embedded-domain FVD detector (VCNN): train it "
                 "reproducibly, show what is shipped."),
    "ldm-ae": ("baselines.ldm.commands", "ldm_ae", "The LDM baseline's pretrained KL autoencoder: retrain "
               "it reproducibly, show what is shipped."),
}


class LazyGroup(click.Group):
    """Lists the commands from :data:`COMMANDS` without importing them; imports a command's module when it is run
    (or its own ``--help`` is asked for)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attr, _ = COMMANDS[name]
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list of ``--help`` from the static table (no command module is imported)."""
        with formatter.section("Commands"):
            formatter.write_dl([(name, short) for name, (_, _, short) in COMMANDS.items()])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.version_option(lfdm_bench.__version__, "--version", prog_name="lfdm-bench")
def main() -> None:
    """lfdm-bench: train, sample and fairly evaluate conditional image-to-video generators.

    LFDM (latent flow diffusion, CVPR 2023) and its LDM baseline on embedded synthetic datasets (no download) or
    MUG / UTD-MHAD / NATOPS, evaluated with FVD, cFVD, sFVD, KVD, PSNR/SSIM and class accuracy.
    """


# ------------------------------------------------------------------------------------------------ train / sample
@click.command()
@click.option("--model", type=click.Choice(list(MODELS)), default="lfdm", help="Which generator to train.")
@click.option("--stage", type=click.Choice(list(STAGE_CHOICES)), default="all",
              help="LFDM: stage 1 (lfae), stage 2 (dm) or both. LDM: its image autoencoder (ae), dm or both.")
@click.option("--config", "config", default=None, metavar="NAME|PATH",
              help="A YAML config or the name of one in configs/ [default: synth-faces-cpu, LDM: ldm-synth-faces-cpu].")
@click.option("--out", "out", type=click.Path(file_okay=False), default=None,
              help="Run directory (default runs/<config name>-<model>). An existing run is resumed.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config value, e.g. --set dm.train.steps=500 (repeatable).")
@click.option("--progress/--no-progress", default=True)
def train(model: str, stage: str, config: str | None, out: str | None, overrides: tuple[str, ...],
          progress: bool) -> None:
    """Train LFDM (stage 1 LFAE, stage 2 flow DM) or the LDM baseline; resumes an interrupted run by itself."""
    from lfdm_bench.config import ConfigError
    from lfdm_bench.data.video_io import BadVideoError
    from lfdm_bench.runs import RunConfigMismatch
    from lfdm_bench.utils.errors import clean_errors

    if stage not in train_stages(model):
        raise click.UsageError(f"--stage {stage} is not a stage of {model.upper()}; its stages are "
                               f"{', '.join(train_stages(model))} (stage 1 of LFDM is its LFAE, of LDM its "
                               "autoencoder 'ae')")
    with clean_errors(usage=(RunConfigMismatch, ConfigError)):
        try:
            if model == "ldm":
                _train_ldm(config or "ldm-synth-faces-cpu", overrides, out, stage, progress)
            else:
                _train_lfdm(config or "synth-faces-cpu", overrides, out, stage, progress)
        except BadVideoError as e:  # met while training: the run's last checkpoint is kept
            raise click.ClickException(f"{e}; to skip unreadable videos, set data.skip_bad=true (--set "
                                       "data.skip_bad=true: every video is checked when training starts)") from None


def _train_lfdm(config: str, overrides: tuple[str, ...], out: str | None, stage: str, progress: bool) -> None:
    from lfdm_bench.lfdm.config import load_lfdm_config
    from lfdm_bench.lfdm.train import open_lfdm_run, train_lfdm_run
    from lfdm_bench.lfdm.reconstruction import evaluate_lfae_run
    from lfdm_bench.utils.dist import is_main_process

    cfg = load_lfdm_config(config, overrides)
    run = open_lfdm_run(cfg, out, config, overrides)
    run.log(f"train lfdm stage={stage} config={config} overrides={list(overrides)}", echo=True)
    if stage in ("lfae", "all"):
        train_lfdm_run(cfg, run, "lfae", progress)
        if is_main_process():  # under accelerate launch: one process scores and prints
            click.echo(evaluate_lfae_run(run, cfg))
    if stage in ("dm", "all"):
        train_lfdm_run(cfg, run, "dm", progress)
    if is_main_process():
        click.echo(f"run directory: {run.root}")


def _train_ldm(config: str, overrides: tuple[str, ...], out: str | None, stage: str, progress: bool) -> None:
    from baselines.ldm.config import load_ldm_config
    from baselines.ldm.train import open_ldm_run, train_ldm_run

    cfg = load_ldm_config(config, overrides)
    run = open_ldm_run(cfg, out, config, overrides)
    run.log(f"train ldm stage={stage} config={config} overrides={list(overrides)}", echo=True)
    done = train_ldm_run(cfg, run, stage, progress)
    from lfdm_bench.utils.dist import is_main_process

    if is_main_process():  # under accelerate launch: one process prints
        if "ae" in done:
            click.echo(done["ae"]["table"])
        click.echo(f"run directory: {run.root}")


class SamplerName(click.ParamType):
    """A sampler name; an unknown one is a usage error listing the valid names (checked when the command runs, so
    ``--help`` imports nothing)."""

    name = "sampler"

    def convert(self, value, param, ctx):
        from lfdm_bench.diffusion.samplers import resolve_sampler

        try:
            resolve_sampler(str(value))
        except ValueError as e:
            self.fail(str(e), param, ctx)
        return str(value)


@click.command()
@click.option("--run", "run_dir", type=click.Path(exists=True, file_okay=False), required=True, help="A trained run.")
@click.option("--split", type=click.Choice(["test", "train", "both", "val"]), default="test",
              help="Source images from test-subject or train-subject videos (val: the validation subjects).")
@click.option("--per-pair", "per_pair", type=click.IntRange(min=1), default=None,
              help="Videos per (subject, class) pair (default: the config's sample.per_pair).")
@click.option("--sampler", type=SamplerName(), default=None,
              help="ddim | ddpm | dpmsolver++ | euler | unipc | diffusers-ddim.")
@click.option("--steps", type=click.IntRange(min=1), default=None, help="Sampling steps (default: the config's).")
@click.option("--eta", type=click.FloatRange(min=0), default=None, help="DDIM eta (0 = deterministic).")
@click.option("--guidance", type=float, default=None, help="Classifier-free guidance scale (1 = none).")
@click.option("--unconditional", is_flag=True, help="Generate with the null condition.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Sample folder (default RUN/samples/<split>_<sampler settings>); with --split both, the folder "
                   "that holds test_<settings>/ and train_<settings>/. A folder of other settings is refused.")
@click.option("--progress/--no-progress", default=True)
def sample(run_dir, split, per_pair, sampler, steps, eta, guidance, unconditional, out, progress) -> None:
    """Generate the evaluation set of a trained run (every subject x class of a split) as mp4 + manifest."""
    from lfdm_bench.config import ConfigError
    from bench.generators import open_trained_run
    from lfdm_bench.sampling.generate import SampleFolderMismatch
    from lfdm_bench.utils.errors import clean_errors

    with clean_errors(usage=(ConfigError, SampleFolderMismatch)):
        trained = open_trained_run(run_dir)
        splits = ["test", "train"] if split == "both" else [split]
        where = {"out": out} if len(splits) == 1 else {"under": out}  # both: one folder per split inside --out
        for sp in splits:
            path = trained.sample(sp, per_pair=per_pair, sampler=sampler, steps=steps, eta=eta, guidance=guidance,
                                  unconditional=unconditional, progress=progress, **where)
            click.echo(f"{sp}: {path}")


if __name__ == "__main__":
    main()
