"""`lfdm-bench bench`: the whole benchmark from one config (see :mod:`bench.pipeline`)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option("--config", "config", default="bench-synth-faces-cpu", metavar="NAME|PATH", show_default=True,
              help="A benchmark YAML or the name of one in configs/.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Output folder (default bench_out/<name>). Rerun with the same folder to resume.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a benchmark config value, e.g. --set eval.max_real=100 (repeatable).")
@click.option("--progress/--no-progress", default=True)
def bench(config: str, out: str | None, overrides: tuple[str, ...], progress: bool) -> None:
    """Run the benchmark: data, train LFDM + LDM, sample every method on train and test subjects, evaluate FVD /
    cFVD / sFVD / KVD / class accuracy / PSNR / SSIM, write grids and paper-style tables. Resumable."""
    from bench.config import BenchConfig
    from bench.pipeline import Benchmark, BenchConfigMismatch
    from lfdm_bench.config import ConfigError, load_config, resolve_config_path
    from lfdm_bench.runs import RunConfigMismatch
    from lfdm_bench.utils.errors import clean_errors

    # a bad config, or an output folder of another config (or its runs/ of an earlier benchmark): usage errors
    with clean_errors(usage=(ConfigError, BenchConfigMismatch, RunConfigMismatch)):
        bc = load_config(BenchConfig, resolve_config_path(config), overrides)
        folder = Path(out or f"bench_out/{bc.name}")
        b = Benchmark(bc, folder, progress=progress, log=lambda m: click.echo(m, err=True))
        b.run()
    tables = folder / "tables.md"
    if tables.is_file():
        click.echo(tables.read_text())
    click.echo(f"results: {folder / 'results.json'}  tables: {tables}  grids: {folder / 'grids'}")
