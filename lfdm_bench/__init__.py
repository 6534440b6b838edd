"""lfdm-bench: train, sample and fairly evaluate conditional image-to-video generators (LFDM and baselines).

Import names: the core lives in ``lfdm_bench/``; the folders ``metrics/``, ``baselines/``, ``bench/`` and the file
``cli.py`` at the top of the repository are installed as ``lfdm_bench.metrics``, ``lfdm_bench.baselines``,
``lfdm_bench.bench`` and ``lfdm_bench.cli`` (``pyproject.toml`` maps them). In a source checkout used without
installing (``PYTHONPATH=REPO``, a worktree, pytest's rootdir) the same names resolve because the repository root is
appended to this package's search path below; that happens only when the parent folder is this project's checkout
(it holds ``pyproject.toml`` and ``cli.py``), never in an installed copy.
"""

from pathlib import Path as _Path

__version__ = "0.1.0"

_REPO = _Path(__file__).resolve().parent.parent
if (_REPO / "pyproject.toml").is_file() and (_REPO / "cli.py").is_file() and str(_REPO) not in __path__:
    __path__.append(str(_REPO))
