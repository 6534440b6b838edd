"""Where lfdm-bench keeps caches (datasets, real-feature statistics, detector weights, text embeddings): ONE root."""

from __future__ import annotations

import os
from pathlib import Path

ENV_CACHE = "LFDM_BENCH_CACHE"


def cache_root() -> Path:
    """``$LFDM_BENCH_CACHE`` if set, else ``$XDG_CACHE_HOME/lfdm_bench`` or ``~/.cache/lfdm_bench``."""
    env = os.environ.get(ENV_CACHE)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "lfdm_bench"


def cache_dir(kind: str) -> Path:
    """A sub-folder of the cache root (``datasets``, ``fvd_stats``, ``i3d``, ``text``), created on demand."""
    p = cache_root() / kind
    p.mkdir(parents=True, exist_ok=True)
    return p


def shipped_names(folder: Path) -> list[str]:
    """Names of the weights shipped in a package folder: the stems of its ``*.json`` metadata files."""
    return sorted(p.stem for p in Path(folder).glob("*.json"))


def resolve_shipped_json(name_or_path: str | os.PathLike[str], folder: Path, what: str, written_by: str) -> Path:
    """The metadata JSON of shipped weights: a shipped name (a ``folder/<name>.json``) or a ``.json`` path.

    ``what`` names the kind in errors (``embedded detector``), ``written_by`` the command that writes such a file;
    an unknown name is a ``FileNotFoundError`` listing the shipped ones."""
    text = str(name_or_path)
    p = Path(text)
    if p.suffix == ".json":
        if not p.is_file():
            raise FileNotFoundError(f"{what} metadata {p} does not exist")
        return p.resolve()
    cand = Path(folder) / f"{text}.json"
    if cand.is_file():
        return cand
    raise FileNotFoundError(f"unknown {what} {text!r}; shipped: {', '.join(shipped_names(folder)) or 'none'} "
                            f"(in {folder}), or give the path of a .json written by `{written_by}`")
