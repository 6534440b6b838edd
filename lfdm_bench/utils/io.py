"""Atomic writes and content hashes: nothing already written is lost when a run dies mid-write.

An atomic write goes to a temporary file ``.<name>.<8 random characters>.tmp`` beside its target and is renamed
over it when complete. A process killed mid-write leaves that temporary file behind; the next write of the same
target removes such leftovers (only files of that pattern, only those last modified before this process started).
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

# when this process started writing (this module is imported before any atomic write): temporary files of our
# pattern older than this are leftovers of a killed process, never writes in flight of this one
PROCESS_START = time.time()
# tempfile.mkstemp's names: prefix + 8 characters of [a-z0-9_] + suffix
_TEMP_PART = re.compile(r"\.[a-z0-9_]{8}\.tmp$")


def stale_temp_files(target: str | os.PathLike, before: float | None = None) -> list[Path]:
    """Temporary files of an atomic write of ``target`` (``.<name>.XXXXXXXX.tmp`` in its folder) last modified before
    ``before`` (default: this process's start): leftovers of a process killed mid-write."""
    target = Path(target)
    before = PROCESS_START if before is None else before
    prefix = f".{target.name}."
    found = []
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return []
    for e in entries:
        if e.name.startswith(prefix) and _TEMP_PART.fullmatch(e.name[len(prefix) - 1:]) and e.is_file():
            try:
                if e.stat().st_mtime < before:
                    found.append(Path(e.path))
            except OSError:
                continue
    return sorted(found)


def remove_stale_temp_files(target: str | os.PathLike, before: float | None = None) -> list[Path]:
    """Delete :func:`stale_temp_files` of ``target``; returns those removed (files that cannot be removed are left)."""
    removed = []
    for p in stale_temp_files(target, before):
        try:
            p.unlink()
            removed.append(p)
        except OSError:
            pass
    return removed


class NotWritableError(OSError):
    """A folder that results should go to cannot be written; the message names it and what to change."""

    def __init__(self, folder: str | os.PathLike, reason: str, what: str = "--out"):
        self.folder, self.reason = str(folder), reason
        super().__init__(f"cannot write to {folder}: {reason}; pass a writable {what}")


def ensure_writable(folder: str | os.PathLike, what: str = "--out") -> Path:
    """Create ``folder`` if needed and check that a file can be written in it, BEFORE any work whose results go there.

    Raises:
        NotWritableError: naming the folder, the reason and ``what`` to change (e.g. ``--out``).
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test.", suffix=".tmp", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise NotWritableError(folder, e.strerror or str(e), what) from None
    return folder


def _naming(e: OSError, path: Path) -> OSError:
    """``e`` itself when it names a file; else the same error (same errno, so the same OSError subclass) naming
    ``path``: a write that fails on a full disk says which file it was writing."""
    if e.filename is not None or e.errno is None:
        return e
    named = OSError(e.errno, e.strerror or os.strerror(e.errno), str(path))
    named.__cause__ = e
    return named


def _atomic(path: str | os.PathLike, write: Callable[[str], None]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_files(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600 files; give the usual permissions
        os.replace(tmp, path)
    except BaseException as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        named = _naming(e, path) if isinstance(e, OSError) else e
        if named is not e:
            raise named from e
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file and ``os.replace``."""
    def w(tmp: str) -> None:
        with open(tmp, "w") as f:
            f.write(text)
    _atomic(path, w)


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` through a temporary file, so a killed run never leaves a truncated checkpoint."""
    import torch

    _atomic(path, lambda tmp: torch.save(obj, tmp))


def atomic_save(path: str | os.PathLike, write: Callable[[str], None]) -> None:
    """Generic atomic write: ``write(tmp_path)`` then rename to ``path``."""
    _atomic(path, write)


def append_line(path: str | os.PathLike, line: str) -> None:
    """Append ``line`` (one line, no newline inside) to the text file ``path`` whole or not at all.

    The line and its newline go out in one ``os.write``; a write that fails or is cut short (a full disk) is undone
    by truncating the file back to its previous size before the error, which names the file, is raised. A last line
    left without its newline by an older writer is cut off first, so no record is glued onto half of another.
    """
    path = Path(path)
    if "\n" in line:
        raise ValueError(f"append_line: {path}: the line holds a newline")
    data = (line + "\n").encode()
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o666)
    try:
        size = os.fstat(fd).st_size
        if size:
            os.lseek(fd, size - 1, os.SEEK_SET)
            if os.read(fd, 1) != b"\n":  # the last line was cut short: drop it
                os.lseek(fd, 0, os.SEEK_SET)
                size = os.read(fd, size).rfind(b"\n") + 1
                os.ftruncate(fd, size)
        try:
            written = os.write(fd, data)
            if written != len(data):
                raise OSError(errno.ENOSPC, f"only {written} of {len(data)} bytes written", str(path))
        except OSError as e:
            os.ftruncate(fd, size)
            raise _naming(e, path) from e
    finally:
        os.close(fd)


def read_jsonl(path: str | os.PathLike) -> list[Any]:
    """The records of a JSON-lines file; an incomplete last line (a write cut short) is left out, any other line that
    is not JSON is a ``ValueError`` naming the file and line."""
    lines = Path(path).read_text().split("\n")
    out = []
    for i, text in enumerate(lines):
        if not text.strip():
            continue
        try:
            out.append(json.loads(text))
        except json.JSONDecodeError as e:
            if i == len(lines) - 1:  # no newline after it: an append that did not finish
                break
            raise ValueError(f"{path}, line {i + 1}: not valid JSON ({e.msg})") from None
    return out


def read_json(path: str | os.PathLike, fix: str = "restore it, or delete it to write it again") -> Any:
    """``json.loads`` of a file; a file that is not valid JSON (truncated by a crash, a full disk, an editor) is a
    ``ValueError`` naming it, where the reader failed, and ``fix``."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        where = f"{e.msg}: line {e.lineno} column {e.colno}" if isinstance(e, json.JSONDecodeError) else str(e)
        raise ValueError(f"{path} is not valid JSON ({where}; a truncated or damaged file); {fix}") from None


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def stable_hash(obj: Any, n: int = 16) -> str:
    """A short hash of a JSON-serialisable object (keys sorted): used for cache keys."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:n]


def jsonable(obj: Any) -> Any:
    """Recursively convert numpy scalars / arrays to Python and non-finite floats to ``None`` (JSON-safe data)."""
    import numpy as np

    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        return float(obj) if math.isfinite(float(obj)) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj
