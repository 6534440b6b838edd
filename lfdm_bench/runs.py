"""Run directories: one folder per run holding everything that run produced.

Layout (what the training engine, ``lfdm-bench train`` and ``lfdm-bench sample`` / ``eval --run`` write)::

    RUN/
      config.yaml                    resolved config (every default filled in), for people: the checkpoints hold it too
      run.json                       model (lfdm | ldm), config name and --set overrides of the train command
      env.json                       package versions, device, git commit, command line, start time (one per start)
      logs/run.log                   human log (appended; survives restarts)
      logs/<stage>.csv               scalar logs of each training stage (lfae, dm; LDM: ae, dm)
      checkpoints/<stage>/last.pt    model, EMA, optimiser, step, RNG, model config, run kind + config (atomic writes)
      cache/                         frozen-stage tensors of stage 2 (DM targets / AE latents), keyed by their inputs
      samples/progress/*.gif         training previews
      samples/<split>_<setting>/     generated videos + manifest.csv + settings.json (``lfdm-bench sample``)
      samples/<folder>.json          sampler settings and NFE of a sample folder (also the ablation's points)
      metrics/                       lfae_reconstruction.* / ae_reconstruction.*, ``eval --run`` results per setting
      ablation/, experiments/<name>/ default output folders of ``lfdm-bench ablate`` and ``lfdm-bench experiment``
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from lfdm_bench.kinds import MODELS
from lfdm_bench.utils.dist import is_main_process
from lfdm_bench.utils.io import atomic_write_json, atomic_write_text, read_json

SUBDIRS = ("logs", "checkpoints", "samples", "metrics")
PACKAGES = ("torch", "numpy", "scipy", "transformers", "diffusers", "accelerate", "decord", "av", "einops", "pandas")


def git_commit(path: str | os.PathLike | None = None) -> str | None:
    """The git commit of the source tree holding this package (None if not in a git checkout)."""
    try:
        where = Path(path) if path else Path(__file__).resolve().parent
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=5)
        if out.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def environment() -> dict[str, Any]:
    """What produced a number: versions, hardware, commit, command line."""
    from importlib import metadata

    import lfdm_bench

    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    env: dict[str, Any] = {
        "lfdm_bench": lfdm_bench.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "packages": versions,
        "git_commit": git_commit(),
        "argv": sys.argv,
        "time": _dt.datetime.now().isoformat(timespec="seconds"),
    }
    try:
        import torch

        env["torch_threads"] = torch.get_num_threads()
        env["cuda"] = torch.cuda.is_available()
        if torch.cuda.is_available():
            env["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except ImportError:  # pragma: no cover
        pass
    return env


def hardware_summary() -> str:
    """One line naming the machine (for tables and benchmark output)."""
    env = environment()
    gpus = env.get("gpus")
    return f"{platform.processor() or env['machine']}, {env['cpu_count']} CPU cores" + (f", {', '.join(gpus)}" if gpus else ", no GPU")


@dataclass
class Run:
    """A run directory (see the module docstring)."""

    root: Path

    @classmethod
    def create(cls, root: str | os.PathLike, config_yaml: str | None = None, exist_ok: bool = True) -> "Run":
        """Create (or reopen, when ``exist_ok``) a run folder; write the resolved config and the environment."""
        root = Path(root)
        if root.exists() and not exist_ok and any(root.iterdir()):
            raise FileExistsError(f"run directory {root} exists and is not empty; pass another --out")
        for d in SUBDIRS:
            (root / d).mkdir(parents=True, exist_ok=True)
        run = cls(root)
        if config_yaml is not None:
            atomic_write_text(root / "config.yaml", config_yaml)
        if is_main_process():  # one entry per start, also when several processes run the command
            envs = run.read_json("env.json") or {"runs": []}
            envs.setdefault("runs", []).append(environment())
            atomic_write_json(root / "env.json", envs)
        return run

    @classmethod
    def open(cls, root: str | os.PathLike) -> "Run":
        """Open an existing run (a folder holding ``checkpoints/`` or ``config.yaml``); an error names the folder if
        it is not a run directory."""
        root = Path(root)
        if not ((root / "checkpoints").is_dir() or (root / "config.yaml").is_file()):
            raise FileNotFoundError(f"{root} is not a run directory (no checkpoints/ nor config.yaml); create one "
                                    "with `lfdm-bench train`")
        return cls(root)

    # --- paths -------------------------------------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.root / "config.yaml"

    def path(self, *parts: str) -> Path:
        p = self.root.joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def samples(self) -> Path:
        return self.root / "samples"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics"

    # --- logging -----------------------------------------------------------------------------------------------
    def log(self, message: str, echo: bool = False) -> None:
        """Append a timestamped line to ``logs/run.log`` (flushed immediately); with several processes (``accelerate
        launch``), process 0 alone writes and prints."""
        if not is_main_process():
            return
        line = f"[{_dt.datetime.now().isoformat(timespec='seconds')}] {message}"
        with open(self.path("logs", "run.log"), "a") as f:
            f.write(line + "\n")
        if echo:
            print(message, flush=True)

    def read_json(self, *parts: str) -> Any:
        p = self.root.joinpath(*parts)
        if not p.is_file():
            return None
        return read_json(p)

    def write_json(self, obj: Any, *parts: str) -> Path:
        p = self.path(*parts)
        atomic_write_json(p, obj)
        return p


class RunConfigMismatch(ValueError):
    """An existing run directory was made with another config or by another model."""


def open_training_run(run_dir: str | os.PathLike, model: str, config_yaml: str, config: str = "",
                      overrides: Sequence[str] = ()) -> Run:
    """Create (or reopen, to resume) the folder of a training run of ``model`` (``lfdm`` / ``ldm``) whose resolved
    config is ``config_yaml``; a folder holding a run of another model, or checkpoints of another config, is refused
    (:class:`RunConfigMismatch`). ``config`` and ``overrides`` (the command's ``--config`` / ``--set``) go to
    ``run.json``."""
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}")
    root = Path(run_dir)
    previous = (Run(root).read_json("run.json") or {}).get("model")
    if previous not in (None, model):
        raise RunConfigMismatch(f"{root} holds a run of another model ({previous}); pass another --out")
    trained = (root / "checkpoints").is_dir() and any((root / "checkpoints").rglob("*.pt"))
    # a folder with no checkpoint yet (e.g. a first try that stopped at a bad dataset option) takes the new config
    if trained and (root / "config.yaml").is_file() and (root / "config.yaml").read_text() != config_yaml:
        raise RunConfigMismatch(f"{root} holds a run with a different config; resume it with the same config "
                                f"and --set values, or pass another --out")
    run = Run.create(root, config_yaml=config_yaml)
    run.write_json({"model": model, "config": str(config), "overrides": list(overrides)}, "run.json")
    return run
