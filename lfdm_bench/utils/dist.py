"""Which process this is when several run the same command (``accelerate launch``, ``torchrun``).

The launchers set ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` before Python starts, so :func:`rank` and
:func:`world_size` answer before any process group exists; :func:`barrier` starts one (through accelerate, gloo on
the CPU, NCCL on GPUs) when needed. With no launcher every function answers for a single process and
:func:`barrier` does nothing.
"""

from __future__ import annotations

import os
import sys


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.strip().lstrip("-").isdigit() else default


def _initialized() -> bool:
    dist = sys.modules.get("torch.distributed")  # not imported: no process group (and no torch import here)
    return dist is not None and dist.is_available() and dist.is_initialized()


def world_size() -> int:
    """Number of processes of this job (1 without a launcher)."""
    if _initialized():
        import torch.distributed as dist

        return dist.get_world_size()
    return max(1, _env_int("WORLD_SIZE", 1))


def rank() -> int:
    """Index of this process in the job (0 without a launcher)."""
    if _initialized():
        import torch.distributed as dist

        return dist.get_rank()
    return _env_int("RANK", 0)


def is_main_process() -> bool:
    """True in the process that writes shared files (rank 0)."""
    return rank() == 0


def ensure_process_group() -> None:
    """Start the job's process group through accelerate (a no-op for a single process or when already started)."""
    if world_size() > 1 and not _initialized():
        import torch
        from accelerate import PartialState

        PartialState(cpu=not torch.cuda.is_available())


def barrier() -> None:
    """Wait until every process of the job reaches this point (a no-op for a single process)."""
    if world_size() < 2:
        return
    ensure_process_group()
    import torch.distributed as dist

    dist.barrier()
