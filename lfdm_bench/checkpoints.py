"""Stage checkpoints of a run, and what they say about the run: the one place that reads them.

A stage checkpoint ``RUN/checkpoints/<stage>/last.pt`` (written atomically by
:class:`~lfdm_bench.training.engine.Trainer`) holds the model, EMA, optimiser, LR scheduler, step and RNG states,
``model_config`` (the model's constructor arguments) and ``run``: ``{"model": "lfdm" | "ldm", "config": the run's
resolved config as plain data}``. So everything sampling needs comes from the checkpoints: the model configs, the
flow-target representation (``config.dm.flow_target``), the class-text table (rows in the state dict, texts and
encoder identity in ``model_config``), the image size and clip length (``config.data``), the evaluation data and the
sampler defaults (``config.sample``). ``RUN/config.yaml`` and ``RUN/run.json`` are written for people; training reads
them only to refuse resuming a run folder with another config (:func:`lfdm_bench.runs.open_training_run`).

Checkpoints written before ``run`` was stored: :func:`run_record` falls back to ``RUN/config.yaml`` and
``RUN/run.json`` (what those versions read) and says so in its ``source``; when those are gone too, the error
names what is missing.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from lfdm_bench.config import ConfigError, from_dict, load_yaml, to_dict
from lfdm_bench.kinds import MODELS, RECORD_STAGES
from lfdm_bench.runs import Run
from lfdm_bench.utils.io import atomic_save, atomic_torch_save


class CorruptCheckpointError(ValueError):
    """A checkpoint file that cannot be read (truncated, overwritten, not a torch file); the message names it."""


def read_checkpoint_file(path: str | Path, map_location: str | torch.device = "cpu", mmap: bool = False) -> Any:
    """``torch.load`` of a checkpoint file; a file that cannot be read raises :class:`CorruptCheckpointError` naming
    it and saying how to go on (delete it and train the stage again, or copy a ``step_*.pt`` snapshot over it).
    ``mmap``: map the tensors instead of reading them (cheap when only the metadata is needed)."""
    path = Path(path)
    try:
        return torch.load(path, map_location=map_location, weights_only=False, mmap=mmap)
    except Exception as e:  # a truncated zip, garbage bytes, a pickle of something else: all mean "unusable file"
        reason = f"{type(e).__name__}: {' '.join(str(e).split())[:200]}"
        snapshots = sorted(path.parent.glob("step_*.pt"))
        fix = (f"copy the newest snapshot over it to resume from there (cp {snapshots[-1]} {path})" if snapshots else
               f"delete it (rm {path}) to train this stage again from its start")
        raise CorruptCheckpointError(f"checkpoint {path} cannot be read ({reason}); {fix}") from None


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Load a stage checkpoint; a clear error names the file when it is missing, unreadable or not one of ours."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}; train the stage first (`lfdm-bench train`)")
    ck = read_checkpoint_file(path, map_location)
    if not isinstance(ck, dict) or "model" not in ck or "model_config" not in ck:
        raise ValueError(f"{path} is not an lfdm-bench checkpoint (expected keys 'model' and 'model_config')")
    return ck


def run_info(model: str, cfg: Any) -> dict[str, Any]:
    """The ``run`` entry of a stage checkpoint: the model kind and the resolved run config (a dataclass)."""
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}")
    return {"model": model, "config": to_dict(cfg)}


@dataclass(frozen=True)
class RunRecord:
    """What a run is: ``model`` (``lfdm`` / ``ldm``), its resolved ``config`` (plain data) and where they were read."""

    model: str
    config: dict[str, Any]
    source: str


def run_record(run: Run | str | Path) -> RunRecord:
    """The kind and config of a trained run, from its newest stage checkpoint (see the module docstring)."""
    run = run if isinstance(run, Run) else Run(Path(run))
    for stage in RECORD_STAGES:
        path = run.checkpoints / stage / "last.pt"
        if path.is_file():
            info = load_checkpoint(path).get("run")
            if info is not None:
                return RunRecord(str(info["model"]), dict(info["config"]), str(path))
            return _legacy_record(run, path)
    raise FileNotFoundError(f"{run.root} holds no stage checkpoint "
                            f"(checkpoints/{{{','.join(RECORD_STAGES)}}}/last.pt); "
                            "train the run first (`lfdm-bench train`)")


def run_config(run: Run, model: str, cls: type, label: str) -> Any:
    """The resolved config (an instance of ``cls``) of a trained ``model`` run, as stored in its newest stage
    checkpoint; a run of another model is refused (``label``: the model's name in the message, e.g. ``an LDM``)."""
    record = run_record(run)
    if record.model != model:
        raise ValueError(f"{run.root} is an {record.model.upper()} run ({record.source}), not {label} run")
    return from_dict(cls, record.config)


def _legacy_record(run: Run, checkpoint: Path) -> RunRecord:
    """A checkpoint from before ``run`` was stored: the run's config.yaml and run.json, as those versions read."""
    if not run.config_path.is_file():
        raise FileNotFoundError(
            f"{checkpoint} predates self-sufficient checkpoints (no 'run' entry: model kind and config) and "
            f"{run.config_path} is missing; restore the run's config.yaml or train the run again")
    try:
        config = load_yaml(run.config_path)
    except ConfigError as e:
        raise ValueError(f"{checkpoint} has no 'run' entry and {e}") from None
    model = (run.read_json("run.json") or {}).get("model", "lfdm")
    return RunRecord(model, config, f"{run.config_path} (legacy checkpoint {checkpoint} without 'run')")


def training_progress(run: Run | str | Path) -> dict[str, dict[str, Any]]:
    """How far each trained stage of a run got, from its checkpoints' metadata (tensors are memory-mapped, not read):
    ``{stage: {"step": steps done, "steps": steps planned, "finished": bool}}`` for each stage holding a
    ``last.pt`` (stage 1 first, then the diffusion model)."""
    run = run if isinstance(run, Run) else Run(Path(run))
    out: dict[str, dict[str, Any]] = {}
    for stage in reversed(RECORD_STAGES):
        path = run.checkpoints / stage / "last.pt"
        if not path.is_file():
            continue
        ck = read_checkpoint_file(path, mmap=True)
        step = int(ck.get("step", 0)) if isinstance(ck, dict) else 0
        planned = (ck.get("train_config") or {}).get("steps") if isinstance(ck, dict) else None
        finished = ck.get("finished") if isinstance(ck, dict) else None
        if finished is None:  # checkpoints of older versions: compare the steps
            finished = planned is not None and step >= int(planned)
        out[stage] = {"step": step, "steps": None if planned is None else int(planned), "finished": bool(finished)}
    return out


def unfinished_training(progress: dict[str, dict[str, Any]]) -> str | None:
    """``"lfae at step 3 of 6, dm at step 0 of 6"`` for the stages of :func:`training_progress` that did not finish,
    or ``None``."""
    parts = [f"{stage} at step {p['step']} of {p['steps'] if p['steps'] is not None else '?'}"
             for stage, p in progress.items() if not p["finished"]]
    return ", ".join(parts) or None


def copy_checkpoint(src: str | Path, dst: str | Path, run: dict[str, Any] | None = None) -> None:
    """Copy a stage checkpoint into another run (atomically; skipped when ``dst`` exists).

    Without ``run`` the file is copied as is, metadata included (a DM target cache is keyed on the LFAE file's
    mtime). With ``run`` (:func:`run_info` of the receiving run) the copy names that run instead, and
    ``copied_from`` records the source: sampling the receiving run then reads its own data and sampler settings.
    """
    src, dst = Path(src), Path(dst)
    if dst.is_file():
        return
    if run is None:
        atomic_save(dst, lambda tmp: shutil.copy2(src, tmp))
        return
    ck = load_checkpoint(src)
    ck["run"], ck["copied_from"] = run, str(src)
    atomic_torch_save(ck, dst)
