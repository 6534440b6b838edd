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
    ("lfdm_bench.training.commands", "train"),
    ("lfdm_bench.sampling.commands", "sample"),
    ("metrics.commands", "eval_cmd"),
    ("lfdm_bench.ablation.commands", "ablate"),
    ("lfdm_bench.bench.commands", "bench"),
    ("lfdm_bench.bench.commands", "report"),
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


if __name__ == "__main__":
    main()
