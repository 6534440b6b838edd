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
