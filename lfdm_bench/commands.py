"""``lfdm-bench train`` and ``lfdm-bench sample``: the commands that drive every generator (LFDM, the LDM, VDM or
ImaGINator baseline), ``sample`` through the generator registry :mod:`bench.generators` (this module's layer is right
above it; it lives in ``lfdm_bench``, not ``bench``, so that ``train --help`` imports no bench module), and the one
sampler option type of the command line (:class:`SamplerName`, used by ``sample`` and ``ablate``). Heavy imports
happen inside the commands, so their ``--help`` imports no torch.
"""

from __future__ import annotations

from typing import Any

import click

from lfdm_bench.kinds import MODELS, STAGE_CHOICES, train_stages
from lfdm_bench.options import cli_errors, command, config_errors, generator_option, progress_option, set_option

__all__ = ["SamplerName", "train", "sample"]


class SamplerName(click.ParamType):
    """A sampler name, canonicalised (``dpmsolver++`` -> ``diffusers-dpmsolver++``); with ``many=True`` a
    comma-separated list of them. An unknown name is a usage error listing the valid names (checked when the command
    runs, so ``--help`` imports nothing)."""

    def __init__(self, many: bool = False) -> None:
        self.many = many
        self.name = "samplers" if many else "sampler"

    def convert(self, value: Any, param, ctx) -> str | list[str]:
        from lfdm_bench.diffusion.samplers import resolve_sampler

        if not self.many:
            try:
                return resolve_sampler(str(value))
            except ValueError as e:
                self.fail(str(e), param, ctx)
        names = value if isinstance(value, list) else [v.strip() for v in str(value).split(",") if v.strip()]
        try:
            return [resolve_sampler(n) for n in names]
        except ValueError as e:
            self.fail(str(e), param, ctx)


def _train_errors() -> tuple[type[BaseException], ...]:
    from lfdm_bench.runs import RunConfigMismatch

    return (RunConfigMismatch, *config_errors())


@command()
@click.option("--model", type=click.Choice(list(MODELS)), default="lfdm", help="Which generator to train.")
@click.option("--stage", type=click.Choice(list(STAGE_CHOICES)), default="all",
              help="LFDM: stage 1 (lfae), stage 2 (dm) or both. LDM: its image autoencoder (ae), dm or both. "
                   "VDM: dm (its one stage). ImaGINator: gan (its one stage).")
@click.option("--config", "config", default=None, metavar="NAME|PATH",
              help="A YAML config or the name of one in configs/ [default: synth-faces-cpu, LDM: ldm-synth-faces-cpu, "
                   "VDM: vdm-synth-faces-cpu, ImaGINator: imaginator-synth-faces-cpu].")
@click.option("--out", "out", type=click.Path(file_okay=False), default=None,
              help="Run directory (default runs/<config name>-<model>). An existing run is resumed.")
@set_option()
@progress_option
@cli_errors(usage=_train_errors)
def train(model: str, stage: str, config: str | None, out: str | None, overrides: tuple[str, ...],
          progress: bool) -> None:
    """Train LFDM (stage 1 LFAE, stage 2 flow DM) or the LDM, VDM or ImaGINator baseline; resumes an interrupted
    run by itself."""
    from lfdm_bench.data.video_io import BadVideoError

    if stage not in train_stages(model):
        raise click.UsageError(f"--stage {stage} is not a stage of {model.upper()}; its stages are "
                               f"{', '.join(train_stages(model))} (stage 1 of LFDM is its LFAE, of LDM its "
                               "autoencoder 'ae')")
    try:
        if model == "ldm":
            _train_ldm(config or "ldm-synth-faces-cpu", overrides, out, stage, progress)
        elif model == "vdm":
            _train_one_stage(model, config or "vdm-synth-faces-cpu", overrides, out, stage, progress)
        elif model == "imaginator":
            _train_one_stage(model, config or "imaginator-synth-faces-cpu", overrides, out, stage, progress)
        else:
            _train_lfdm(config or "synth-faces-cpu", overrides, out, stage, progress)
    except BadVideoError as e:  # met while training: the run's last checkpoint is kept; the message adds the cure
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


def _train_one_stage(model: str, config: str, overrides: tuple[str, ...], out: str | None, stage: str,
                     progress: bool) -> None:
    """VDM or ImaGINator: one training stage each."""
    from lfdm_bench.utils.dist import is_main_process

    if model == "vdm":
        from baselines.vdm.config import load_vdm_config as load
        from baselines.vdm.train import open_vdm_run as open_run, train_vdm_run as train_run
    else:
        from baselines.imaginator.config import load_imaginator_config as load
        from baselines.imaginator.train import open_imaginator_run as open_run, train_imaginator_run as train_run
    cfg = load(config, overrides)
    run = open_run(cfg, out, config, overrides)
    run.log(f"train {model} stage={stage} config={config} overrides={list(overrides)}", echo=True)
    train_run(cfg, run, stage, progress)
    if is_main_process():
        click.echo(f"run directory: {run.root}")


def _sample_errors() -> tuple[type[BaseException], ...]:
    from lfdm_bench.sampling.generate import SampleFolderMismatch
    from lfdm_bench.sampling.plugin import GeneratorError

    return (*config_errors(), SampleFolderMismatch, GeneratorError)


@command()
@click.option("--run", "run_dir", type=click.Path(exists=True, file_okay=False), required=True, help="A trained run.")
@click.option("--split", type=click.Choice(["test", "train", "both", "val"]), default="test",
              help="Source images from test-subject or train-subject videos (val: the validation subjects).")
@click.option("--per-pair", "per_pair", type=click.IntRange(min=1), default=None,
              help="Videos per (subject, class) pair (default: the config's sample.per_pair).")
@click.option("--sampler", type=SamplerName(), default=None,
              help="ddim | ddpm | dpmsolver++ | euler | unipc | diffusers-ddim (aliases are recorded by their full "
                   "name, e.g. diffusers-dpmsolver++).")
@click.option("--steps", type=click.IntRange(min=1), default=None, help="Sampling steps (default: the config's).")
@click.option("--eta", type=click.FloatRange(min=0), default=None, help="DDIM eta (0 = deterministic).")
@click.option("--guidance", type=float, default=None, help="Classifier-free guidance scale (1 = none).")
@click.option("--unconditional", is_flag=True, help="Generate with the null condition.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Sample folder (default RUN/samples/<split>_<sampler settings>); with --split both, the folder "
                   "that holds test_<settings>/ and train_<settings>/. A folder of other settings is refused.")
@generator_option(many=False)
@progress_option
@cli_errors(usage=_sample_errors)
def sample(run_dir, split, per_pair, sampler, steps, eta, guidance, unconditional, out, generator, progress) -> None:
    """Generate the evaluation set of a trained run (every subject x class of a split) as mp4 + manifest."""
    from bench.generators import open_trained_run

    if generator is not None:
        given = [f"--{k}" for k, v in (("sampler", sampler), ("steps", steps), ("eta", eta), ("guidance", guidance))
                 if v is not None] + (["--unconditional"] if unconditional else [])
        if given:
            raise click.UsageError(f"{', '.join(given)} set the run's sampler; --generator {generator} samples "
                                   "your generator instead: drop them")
        from lfdm_bench.sampling.plugin import load_generator

        plugin = load_generator(generator)
    trained = open_trained_run(run_dir)
    splits = ["test", "train"] if split == "both" else [split]
    where = {"out": out} if len(splits) == 1 else {"under": out}  # both: one folder per split inside --out
    for sp in splits:
        if generator is not None:
            path = trained.sample_with(plugin, sp, per_pair=per_pair, progress=progress, **where)
        else:
            path = trained.sample(sp, per_pair=per_pair, sampler=sampler, steps=steps, eta=eta, guidance=guidance,
                                  unconditional=unconditional, progress=progress, **where)
        click.echo(f"{sp}: {path}")
