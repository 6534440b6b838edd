"""One line for an operating-system error (:func:`os_error_message`): the path, the reason and what to change.

The library raises errors whose messages say what is wrong and how to fix it (``ConfigError``, ``BadVideoError``,
``FileNotFoundError`` of a missing run or checkpoint, a corrupt checkpoint, a folder that cannot be written, ...);
the command line shows them as one ``Error: ...`` line through the one error wrapper of every command,
:func:`lfdm_bench.options.cli_errors`, which words operating-system errors with :func:`os_error_message`.
"""

from __future__ import annotations

import errno
from pathlib import Path

from lfdm_bench.utils.io import NotWritableError
from lfdm_bench.utils.paths import ENV_CACHE, cache_root

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
