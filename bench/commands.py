"""``lfdm-bench bench`` (the whole benchmark from one config, :mod:`bench.pipeline`), ``lfdm-bench ablate`` (the
sampler ablation of a trained run, :mod:`bench.ablate`) and ``lfdm-bench report`` (side-by-side tables of result
folders, :mod:`bench.report`): thin click layers, written with :mod:`lfdm_bench.options`; heavy imports happen
inside the commands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from bench.options import eval_arguments, eval_options, run_errors
from bench.report import FORMATS
from lfdm_bench.commands import SamplerName
from lfdm_bench.options import (RUN_DIR, CommaList, cli_errors, command, config_errors, generator_option,
                                progress_option, set_option)

__all__ = ["bench", "ablate", "report"]


def _bench_errors() -> tuple[type[BaseException], ...]:
    # a bad config, or an output folder of another config (or its runs/ of an earlier benchmark): usage errors
    from bench.pipeline import BenchConfigMismatch
    from lfdm_bench.runs import RunConfigMismatch
    from lfdm_bench.sampling.plugin import GeneratorError

    return (*config_errors(), BenchConfigMismatch, RunConfigMismatch, GeneratorError)


@command()
@click.option("--config", "config", default="bench-synth-faces-cpu", metavar="NAME|PATH",
              help="A benchmark YAML or the name of one in configs/.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Output folder (default bench_out/<name>). Rerun with the same folder to resume.")
@set_option("Override a benchmark config value, e.g. --set eval.max_real=100 (repeatable).")
@click.option("--seeds", type=CommaList(int, "integer"), default=None, metavar="S[,S...]",
              help="After the benchmark, retrain LFDM and LDM with each seed (LFDM, LDM and retrieval, test "
                   "subjects, each in OUT/seeds/seed<S>/) and write OUT/seeds.md / seeds.json: the spread over "
                   "trainings that the intervals do not cover, and each difference to LFDM over the trainings "
                   "(~20 min per seed on 2 CPU cores).")
@generator_option(many=True)
@progress_option
@cli_errors(usage=_bench_errors)
def bench(config: str, out: str | None, overrides: tuple[str, ...], seeds: list[int] | None,
          generators: tuple[str, ...], progress: bool) -> None:
    """Run the benchmark: data, train LFDM + LDM (+ VDM), sample every method on train and test subjects, evaluate
    FVD / cFVD / sFVD / KVD / class accuracy / PSNR / SSIM, write grids and paper-style tables. Resumable."""
    from bench.config import BenchConfig
    from bench.pipeline import Benchmark
    from lfdm_bench.config import load_config, resolve_config_path
    from lfdm_bench.sampling.plugin import load_generator

    bc = load_config(BenchConfig, resolve_config_path(config), overrides)
    plugins = [load_generator(spec) for spec in generators or ()]  # before anything runs: a bad one stops here
    folder = Path(out or f"bench_out/{bc.name}")

    def say(message: str) -> None:
        click.echo(message, err=True)

    b = Benchmark(bc, folder, progress=progress, log=say, generators=plugins)
    if seeds:
        from bench.seeds import seeds_problem

        problem = seeds_problem(bc, seeds, b.lfdm_cfg.seed)  # before anything runs
        if problem:
            raise click.BadParameter(problem, param_hint="--seeds")
    b.run()
    tables = folder / "tables.md"
    if tables.is_file():
        click.echo(tables.read_text())
    if seeds:
        from bench.seeds import run_seeds

        run_seeds(b, seeds, lambda c, f: Benchmark(c, f, progress=progress, log=say), log=say)
        click.echo((folder / "seeds.md").read_text())
    click.echo(f"results: {folder / 'results.json'}  tables: {tables}  grids: {folder / 'grids'}")


@command("ablate")
@click.option("--run", "run_dir", required=True, type=RUN_DIR, metavar="DIR",
              help="A trained run directory (LFDM, LDM or VDM).")
@click.option("--sampler", "samplers", type=SamplerName(many=True), default="ddim", metavar="NAME[,NAME...]",
              help="Samplers: ddpm, ddim, dpmsolver++, euler, unipc, diffusers-ddim, ...")
@click.option("--steps", type=CommaList(int, "integer"), default="10", metavar="N[,N...]",
              help="Sampling steps (ddpm always runs all T steps).")
@click.option("--guidance", type=CommaList(float, "number"), default="1", metavar="G[,G...]",
              help="Classifier-free guidance scales (1 = no guidance).")
@click.option("--eta", "etas", type=CommaList(float, "number"), default="1", metavar="E[,E...]",
              help="DDIM eta values (ddim / diffusers-ddim only).")
@click.option("--max-subjects", type=click.IntRange(min=1), default=None, metavar="N",
              help="Sample only the first N subjects of the split (every class) [default: all].")
@eval_options("fvd,acc", "Output folder [default: RUN/ablation]; an existing one is resumed.",
              ("val", "test", "train"))
@cli_errors(usage=run_errors)
def ablate(run_dir: Path, samplers: list[str], steps: list[int], guidance: list[float], etas: list[float],
           **kw: Any) -> None:
    """Sampler ablation of a trained run: FVD, class accuracy, seconds and NFE per video over
    samplers x steps x guidance (x eta for DDIM), all on the same evaluation set. By default the validation
    subjects: settings are chosen there, never on the test subjects. Resumable."""
    from bench.ablate import run_ablation
    from bench.tables import ablation_table
    from metrics.format import to_markdown

    args = eval_arguments(kw)
    rows = run_ablation(run_dir, samplers, steps, guidance, etas, **args)
    target = args["out"] or run_dir / "ablation"
    click.echo(to_markdown(ablation_table(rows)))
    click.echo(f"\nablation.json: {target / 'ablation.json'}  (tables: ablation.md, ablation.csv; plots: plots/)")


@command("report")
@click.argument("dirs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None, metavar="DIR",
              help="Write the report files here [default: print Markdown only].")
@click.option("--allow-mixed", is_flag=True,
              help="Render sources evaluated under different protocols, with a footnote per differing key.")
@click.option("--format", "fmt", type=click.Choice(FORMATS + ("html", "all")), default="all",
              help="Format(s) written to --out (md is also printed); html: the page report.html with its plots and "
                   "sample GIFs (report_files/).")
@click.option("--label", "labels", multiple=True, metavar="NAME",
              help="Column-group name per folder, in order [default: benchmark hardware / name, or folder name].")
@click.option("--html", "html", type=click.Path(dir_okay=False, path_type=Path), default=None, metavar="FILE",
              help="Also write an HTML page of the folders side by side (tables, plots, sample GIFs); files it "
                   "shows from outside FILE's folder are copied into FILE_files/ next to it.")
@cli_errors()
def report(dirs: tuple[Path, ...], out: Path | None, allow_mixed: bool, fmt: str, labels: tuple[str, ...],
           html: Path | None) -> None:
    """Side-by-side tables of results.json / ablation.json from one or more folders, such as a GPU cluster's and a
    laptop's; refuses to mix protocols unless --allow-mixed."""
    from bench.report import gather, report_csv, report_latex, report_markdown, write_report

    rep = gather(list(dirs), list(labels) or None, allow_mixed=allow_mixed)  # MixedProtocolError: an Error: line
    formats = FORMATS if fmt == "all" else () if fmt == "html" else (fmt,)
    pages = [html] if html is not None else []
    if out is not None and fmt in ("html", "all"):
        pages.append(out / "report.html")
    elif out is None and fmt == "html" and not pages:
        raise click.UsageError("--format html writes a file: give --out DIR (or --html FILE)")
    if pages:
        from bench.html_report import write_html_report

        for page in pages:
            write_html_report(rep.sources, page, footnotes=rep.footnotes, header_markers=rep.header_markers)
            click.echo(f"written: {page}", err=True)
    if out is None:
        click.echo({"md": report_markdown, "tex": report_latex, "csv": report_csv}[(formats or ("md",))[0]](rep))
        return
    paths = write_report(rep, out, formats)
    click.echo(report_markdown(rep) if "md" in formats else "")
    if paths:
        click.echo("written: " + ", ".join(str(p) for p in paths.values()))
