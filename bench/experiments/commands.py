"""``lfdm-bench experiment``: the paper's other experiments on trained runs (:mod:`bench.experiments`), thin click
layers written with :mod:`lfdm_bench.options`; each experiment's code is imported when it runs.

Example::

    lfdm-bench experiment unconditional --run runs/tiny-lfdm --i3d i3d-random
    lfdm-bench experiment new-domain --run runs/tiny-lfdm --style sketch --steps 500
    lfdm-bench experiment text-encoder --config synth-faces-cpu --lfae-run runs/synth-faces-cpu-lfdm
    lfdm-bench experiment flow-target --config synth-faces-cpu --lfae-run runs/synth-faces-cpu-lfdm
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import click

from bench.options import eval_arguments, eval_options, run_errors
from lfdm_bench.options import RUN_DIR, cli_errors, group, set_option

__all__ = ["experiment"]


def _run(fn: Callable[[], dict[str, Any]]) -> None:
    """Run an experiment; print its table and where its files are."""
    state = fn()
    tables = state.get("tables", {})
    if tables.get("md"):
        click.echo(Path(tables["md"]).read_text())
    click.echo(f"{state['experiment']}.json: {tables.get('json')}  (tables: {tables.get('md')}, {tables.get('csv')})")


@group("experiment")
def experiment() -> None:
    """The paper's other experiments: unconditional generation, a new domain, BERT vs one-hot text, grid vs
    displacement flow target. Resumable."""


@experiment.command("unconditional")
@click.option("--run", "run_dir", required=True, type=RUN_DIR, metavar="DIR",
              help="A trained run (LFDM, LDM, VDM or ImaGINator).")
@eval_options("fvd,acc", "Output folder [default: RUN/experiments/unconditional]; an existing one is resumed.")
@cli_errors(usage=run_errors)
def unconditional_cmd(run_dir: Path, **kw: Any) -> None:
    """Conditional vs unconditional (null class) generation of RUN, same sources and seeds, one protocol."""
    from bench.experiments.unconditional import run_unconditional

    _run(lambda: run_unconditional(run_dir, **eval_arguments(kw)))


@experiment.command("new-domain")
@click.option("--run", "run_dir", required=True, type=RUN_DIR, metavar="DIR", help="A trained LFDM run.")
@click.option("--style", required=True, type=click.Choice(["shaded", "sketch"]), help="Appearance of the new domain.")
@click.option("--steps", type=click.IntRange(min=1), default=None, metavar="N",
              help="Fine-tuning steps per variant [default: the run's lfae.train.steps].")
@click.option("--max-recon", type=click.IntRange(min=1), default=128, help="Clips scored for reconstruction.")
@eval_options("fvd,acc", "Output folder [default: RUN/experiments/new_domain_STYLE]; an existing one is resumed.")
@cli_errors(usage=run_errors)
def new_domain_cmd(run_dir: Path, style: str, steps: int | None, max_recon: int, **kw: Any) -> None:
    """Fine-tune RUN's LFAE on a new style (decoder only / whole), score reconstruction and generation with the
    run's DM (not retrained). Output: OUT/new_domain.json, .md, .csv."""
    from bench.experiments.new_domain import run_new_domain

    _run(lambda: run_new_domain(run_dir, style, steps, max_recon=max_recon, **eval_arguments(kw)))


@experiment.command("text-encoder")
@click.option("--config", default=None, metavar="NAME|PATH",
              help="LFDM config (its dm.text is the bert variant's) [default: the --lfae-run's config].")
@set_option("Config override (repeatable).")
@click.option("--lfae-run", type=RUN_DIR, default=None, metavar="DIR",
              help="Reuse this run's trained LFAE instead of training one.")
@eval_options("fvd,cfvd,acc", "Output folder [default: experiments/NAME-text-encoder]; an existing one is resumed.")
@cli_errors(usage=run_errors)
def text_encoder_cmd(config: str | None, overrides: tuple[str, ...], lfae_run: Path | None, **kw: Any) -> None:
    """Train the DM with a BERT text encoder and with one-hot classes from one LFAE (same budget and seeds), then
    sample and score both."""
    from bench.experiments.text_encoder import run_text_encoder

    _run(lambda: run_text_encoder(config, list(overrides), lfae_run, **eval_arguments(kw)))


@experiment.command("flow-target")
@click.option("--config", default=None, metavar="NAME|PATH",
              help="LFDM config [default: the --lfae-run's config].")
@set_option("Config override (repeatable).")
@click.option("--lfae-run", type=RUN_DIR, default=None, metavar="DIR",
              help="Reuse this run's trained LFAE instead of training one.")
@eval_options("fvd,cfvd,acc", "Output folder [default: experiments/NAME-flow-target]; an existing one is resumed.")
@cli_errors(usage=run_errors)
def flow_target_cmd(config: str | None, overrides: tuple[str, ...], lfae_run: Path | None, **kw: Any) -> None:
    """Train the DM on the paper's absolute-grid target and on the displacement target from one LFAE (same budget
    and seeds), then sample and score both."""
    from bench.experiments.flow_target import run_flow_target

    _run(lambda: run_flow_target(config, list(overrides), lfae_run, **eval_arguments(kw)))
