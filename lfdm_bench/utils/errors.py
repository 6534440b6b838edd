"""What the command line shows when the input is bad: one line naming the file or option at fault, no traceback.

The library raises errors whose messages say what is wrong and how to fix it (``ConfigError``, ``BadVideoError``,
``FileNotFoundError`` of a missing run or checkpoint, a corrupt checkpoint, a folder that cannot be written, ...).
:func:`clean_errors` turns them into click errors at the command's edge: usage errors (exit code 2) for the kinds the
command names as such (a bad config or option value), other errors (exit code 1) for the rest. Programming errors of
other types keep their traceback; ``LFDM_BENCH_TRACEBACK=1`` shows the traceback of the handled ones too.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path
from typing import Iterator

import click

from lfdm_bench.utils.io import NotWritableError
from lfdm_bench.utils.paths import ENV_CACHE, cache_root

ENV_TRACEBACK = "LFDM_BENCH_TRACEBACK"
# a --seed option's type: the seeds every config takes (lfdm_bench.config.FIELD_RULES), refused by click otherwise
SEED = click.IntRange(0, 2**32 - 1)
# errno values that mean "this place cannot be written"
_WRITE_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.ENOTDIR, errno.EDQUOT}


def _under_cache(path: str) -> bool:
    try:
        Path(path).resolve().relative_to(cache_root().resolve())
        return True
    except (ValueError, OSError):
        return False


def os_error_message(e: OSError) -> str:
    """One line for an operating-system error: the path, the reason and, for a place that cannot be written, what to
    change (the output folder, or ``$LFDM_BENCH_CACHE`` for the cache)."""
    if isinstance(e, NotWritableError) or not e.strerror:
        return str(e)
    path = e.filename if e.filename is not None else ""
    line = f"{path}: {e.strerror}" if path else e.strerror
    if e.errno in _WRITE_ERRNOS:
        if path and _under_cache(str(path)):
            line += f"; the cache must be writable: set {ENV_CACHE} to a writable folder"
        else:
            line += "; write the results elsewhere (--out) or make the folder writable"
    return line


@contextlib.contextmanager
def clean_errors(usage: tuple[type[BaseException], ...] = ()) -> Iterator[None]:
    """Run the body of a command; the errors of bad input become one-line click errors (see the module docstring).

    Args:
        usage: exception types shown as usage errors (exit code 2), e.g. ``ConfigError``.
    """
    try:
        yield
    except click.ClickException:
        raise
    except (ValueError, OSError, FloatingPointError) as e:
        if os.environ.get(ENV_TRACEBACK):
            raise
        if usage and isinstance(e, usage):
            raise click.UsageError(str(e)) from None
        if isinstance(e, OSError) and not isinstance(e, FileNotFoundError):
            raise click.ClickException(os_error_message(e)) from None
        if isinstance(e, FileNotFoundError) and e.strerror and e.filename:  # an OS-level one, not our message
            raise click.ClickException(f"{e.filename}: {e.strerror}") from None
        raise click.ClickException(str(e)) from None
