"""The one command-line convention of ``lfdm-bench``: what every command shares, declared once.

Every command is defined in a ``commands.py`` of its package with :func:`command` / :func:`group` (one
``context_settings``: ``-h`` / ``--help``, defaults shown, 120-column help) and :func:`cli_errors` (one way of
turning the project's bad-input errors into ``Error: ...`` naming the file or option, no traceback). The options several commands take are declared here once, with one
default each: ``--progress/--no-progress`` (on), ``--device``, ``--ddof`` (the protocol
preset's), ``--batch-size``, ``--seed`` values (:data:`SEED`), ``--set KEY=VALUE`` and ``--option KEY=VALUE``
(both parsed as YAML by :func:`lfdm_bench.config.parse_override`, through :func:`parse_key_values`), and
comma-separated lists (:class:`CommaList`). Option types that need a higher layer live beside their commands
(the sampler type in :mod:`lfdm_bench.commands`, the metric type in :mod:`metrics.commands`).

Only click is imported here, so ``lfdm-bench --help`` stays light.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any, Callable, Sequence

import click

# the context of every command and group: same help flags, defaults shown, same width
CONTEXT: dict[str, Any] = {"help_option_names": ["-h", "--help"], "show_default": True, "max_content_width": 120}
# a --seed option's type: the seeds every config takes (lfdm_bench.config.FIELD_RULES), refused by click otherwise
SEED = click.IntRange(0, 2**32 - 1)
# set to show the traceback of the bad-input errors :func:`cli_errors` turns into one line
ENV_TRACEBACK = "LFDM_BENCH_TRACEBACK"
RUN_DIR = click.Path(file_okay=False, exists=True, path_type=Path)
OUT_DIR = click.Path(file_okay=False, path_type=Path)


def command(name: str | None = None, **kw: Any) -> Callable[[Callable], click.Command]:
    """``click.command`` with :data:`CONTEXT`."""
    return click.command(name, context_settings=CONTEXT, **kw)


def group(name: str | None = None, **kw: Any) -> Callable[[Callable], click.Group]:
    """``click.group`` with :data:`CONTEXT` (its subcommands inherit it)."""
    return click.group(name, context_settings=CONTEXT, **kw)


def config_errors() -> tuple[type[BaseException], ...]:
    """The usage-error kinds of most commands: a bad config or option value (:class:`lfdm_bench.config.ConfigError`)."""
    from lfdm_bench.config import ConfigError

    return (ConfigError,)


def cli_errors(usage: Callable[[], tuple[type[BaseException], ...]] | None = None) -> Callable[[Callable], Callable]:
    """Decorator of every command's function, the one place where the project's bad-input errors (``ValueError`` such
    as ``ConfigError``, ``OSError`` such as a missing or unwritable file, ``FloatingPointError``) become one-line
    ``Error: ...`` messages: usage errors (exit code 2) for the kinds ``usage()`` returns (a callable, so that their
    modules are imported only when the command runs; e.g. :func:`config_errors`), other errors (exit code 1) for the
    rest, an operating-system error worded by :func:`lfdm_bench.utils.errors.os_error_message`. Click's own errors
    pass through; programming errors of other types keep their traceback, and ``LFDM_BENCH_TRACEBACK=1`` shows the
    traceback of the handled ones too."""

    def deco(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except click.ClickException:
                raise
            except (ValueError, OSError, FloatingPointError) as e:
                if os.environ.get(ENV_TRACEBACK):
                    raise
                if usage is not None and isinstance(e, usage()):
                    raise click.UsageError(str(e)) from None
                if isinstance(e, OSError) and not isinstance(e, FileNotFoundError):
                    from lfdm_bench.utils.errors import os_error_message

                    raise click.ClickException(os_error_message(e)) from None
                if isinstance(e, FileNotFoundError) and e.strerror and e.filename:  # an OS-level one, not our message
                    raise click.ClickException(f"{e.filename}: {e.strerror}") from None
                raise click.ClickException(str(e)) from None

        wrapper.cli_errors = True  # type: ignore[attr-defined]  # checked for every command by a test
        return wrapper

    return deco


def progress_option(f: Callable) -> Callable:
    """``--progress/--no-progress``: progress bars, on by default (off a terminal they are plain lines now and then,
    :func:`lfdm_bench.utils.progress.progress_bar`, so a log gets no carriage returns)."""
    return click.option("--progress/--no-progress", default=True,
                        help="Progress bars (off a terminal: a plain line every 30 s).")(f)


def device_option(help: str = "Torch device of the detector [default: cuda if available].") -> Callable:
    """``--device``: a torch device name, the best available by default."""
    return click.option("--device", default=None, help=help)


def ddof_option(f: Callable) -> Callable:
    """``--ddof``: the covariance normalisation of FVD; by default the protocol preset's (1 for lfdm-bench, as the
    benchmark's ``eval.ddof: null``)."""
    return click.option("--ddof", type=click.Choice(["0", "1"]), default=None,
                        help="Covariance divides by N - ddof (1: TF-GAN/TATS; 0: StyleGAN-V) [default: the preset's].")(f)


def batch_size_option(f: Callable) -> Callable:
    """``--batch-size``: videos per detector call."""
    return click.option("--batch-size", type=click.IntRange(min=1), default=8, help="Videos per detector call.")(f)


def generator_option(many: bool) -> Callable:
    """``--generator [NAME=]module:object|ENTRY_POINT``: any image-to-video generator of the interface of
    :mod:`lfdm_bench.sampling.plugin` (loaded by the command, so ``--help`` imports nothing); repeatable when
    ``many``."""
    what = ("A generator of your own (repeatable), one method row each, named by its `name` or NAME=: module:object "
            "(a .py path works too) or the name of an installed lfdm_bench.generators entry point."
            if many else "Sample a generator of your own instead of the run's model: [NAME=]module:object (a .py "
            "path works too) or an lfdm_bench.generators entry point; the run gives the evaluation set.")
    return click.option("--generator", "generators" if many else "generator", multiple=many, default=None,
                        metavar="[NAME=]MODULE:OBJECT|ENTRY_POINT", help=what)


def set_option(help: str = "Override a config value, e.g. --set dm.train.steps=500 (repeatable).") -> Callable:
    """``--set KEY=VALUE`` (repeatable, into ``overrides``): config overrides, parsed by the config loader (YAML)."""
    return click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help=help)


def parse_key_values(pairs: Sequence[str], option: str = "--option") -> dict[str, Any]:
    """``KEY=VALUE`` pairs -> dict, each value parsed as YAML (``3``, ``true``, ``[1, 2]``, else a string) exactly as
    a ``--set`` override (:func:`lfdm_bench.config.parse_override`); a malformed pair is a usage error of ``option``."""
    from lfdm_bench.config import ConfigError, parse_override

    out: dict[str, Any] = {}
    for pair in pairs:
        try:
            key, value = parse_override(pair)
        except ConfigError as e:
            raise click.BadParameter(str(e), param_hint=option) from None
        out[".".join(key)] = value
    return out


class CommaList(click.ParamType):
    """Comma-separated values of one type (``10,25,50``)."""

    def __init__(self, cast: Callable[[str], Any], name: str) -> None:
        self.cast, self.name = cast, name

    def convert(self, value: Any, param, ctx) -> list[Any]:
        if isinstance(value, list):
            return value
        try:
            return [self.cast(v.strip()) for v in str(value).split(",") if v.strip()]
        except ValueError:
            self.fail(f"expected comma-separated {self.name} values, got {value!r}", param, ctx)


class SectionedCommand(click.Command):
    """A command whose ``--help`` lists its options under headings (``sections``: ``[(heading, [param names])]``);
    options in no section come last under "Other options"."""

    def __init__(self, *args: Any, sections: Sequence[tuple[str, Sequence[str]]] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sections = [(heading, list(names)) for heading, names in sections]

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        records = {p.name: p.get_help_record(ctx) for p in self.get_params(ctx)}
        placed: set[str] = set()
        for heading, names in self.sections:
            rows = [records[n] for n in names if records.get(n)]
            placed.update(names)
            if rows:
                with formatter.section(heading):
                    formatter.write_dl(rows)
        rest = [r for n, r in records.items() if r and n not in placed]
        if rest:
            with formatter.section("Other options"):
                formatter.write_dl(rest)
