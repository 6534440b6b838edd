"""The `lfdm-bench` command line (import name ``cli``): a thin click layer over the library.

Every command lives in a ``commands.py`` of the package it drives (``lfdm_bench/commands.py``: train, sample;
``lfdm_bench/data/commands.py``, ``metrics/commands.py``, ``bench/commands.py``, ...), written with the one convention
of :mod:`lfdm_bench.options` (context settings, error wrapper, shared options), and is listed in
:data:`COMMANDS` with its one-line help, so ``lfdm-bench --help`` imports none of them (nor torch); a command's
module is imported only when that command runs or its own ``--help`` is asked for.
"""

from __future__ import annotations

import importlib

import click

import lfdm_bench
from lfdm_bench.options import CONTEXT

# name -> (module, attribute, short help = the first sentence of the command's docstring, checked by a test), in the
# order `--help` lists them
COMMANDS: dict[str, tuple[str, str, str]] = {
    "data": ("lfdm_bench.data.commands", "data", "Datasets: generate the synthetic ones, inspect any of them."),
    "train": ("lfdm_bench.commands", "train",
              "Train LFDM (stage 1 LFAE, stage 2 flow DM) or the LDM, VDM or ImaGINator baseline; resumes an "
              "interrupted run by itself."),
    "sample": ("lfdm_bench.commands", "sample", "Generate the evaluation set of a trained run (every subject x class of a "
               "split) as mp4 + manifest."),
    "eval": ("metrics.commands", "eval_cmd", "Evaluate generated videos (FVD, cFVD, sFVD, KVD, PSNR, SSIM, "
             "class accuracy) against a dataset's real videos under an explicit protocol, or run the sanity table "
             "(--sanity)."),
    "fvd": ("metrics.commands", "fvd_cmd", "FVD and KVD of two sets of videos, REAL and FAKE (folders of videos, "
            "folders of frame folders, or .npy arrays), under a protocol preset; cFVD / sFVD with --group-by or "
            "--groups."),
    "bench": ("bench.commands", "bench", "Run the benchmark: data, train LFDM + LDM (+ VDM), sample every method on "
              "train and test subjects, evaluate FVD / cFVD / sFVD / KVD / class accuracy / PSNR / SSIM, write grids "
              "and paper-style tables."),
    "ablate": ("bench.commands", "ablate", "Sampler ablation of a trained run: FVD, class accuracy, seconds "
               "and NFE per video over samplers x steps x guidance (x eta for DDIM), all on the same evaluation set."),
    "report": ("bench.commands", "report", "Side-by-side tables of results.json / ablation.json from one or "
               "more folders, such as a GPU cluster's and a laptop's; refuses to mix protocols unless --allow-mixed."),
    "experiment": ("bench.experiments.commands", "experiment", "The paper's other experiments: unconditional "
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


@click.group(cls=LazyGroup, context_settings=CONTEXT)
@click.version_option(lfdm_bench.__version__, "--version", prog_name="lfdm-bench")
def main() -> None:
    """lfdm-bench: train, sample and fairly evaluate conditional image-to-video generators.

    LFDM (latent flow diffusion, CVPR 2023) and its LDM baseline on embedded synthetic datasets (no download) or
    MUG / UTD-MHAD / NATOPS, evaluated with FVD, cFVD, sFVD, KVD, PSNR/SSIM and class accuracy.
    """


if __name__ == "__main__":
    main()
