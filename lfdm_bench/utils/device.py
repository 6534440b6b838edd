"""The torch device of a setting: ``auto`` (CUDA when available, else CPU), ``cpu``, ``cuda`` or ``cuda:N``; the
autocast dtype of a precision setting (``auto`` | ``fp32`` | ``bf16``); and whether the CPU runs bf16 natively."""

from __future__ import annotations

import contextlib
import os

import torch

PRECISIONS = ("auto", "fp32", "bf16")
# oneDNN ISA caps (``ONEDNN_MAX_CPU_ISA``, formerly ``DNNL_MAX_CPU_ISA``) that stop below the bf16 instructions
ISA_CAPS_WITHOUT_BF16 = ("SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE", "AVX512_CORE_VNNI")


def pick_device(name: str | torch.device | None = "auto") -> torch.device:
    """``auto`` / ``None``: CUDA when available, else CPU; a CUDA device without CUDA is an error naming the fix.

    Under a multi-process launcher (``accelerate launch``, ``torchrun``: ``LOCAL_RANK`` is set), ``auto`` and a
    bare ``cuda`` mean this process's GPU ``cuda:LOCAL_RANK``, so that models loaded before the training engine
    starts (e.g. the frozen LFAE of stage 2) sit on the same GPU as the model the engine trains.
    """
    if name is None or str(name) == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if str(name).startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {str(name)!r} requested but CUDA is not available; use device=cpu or auto")
    if str(name) == "cuda" and os.environ.get("LOCAL_RANK", "").isdigit():
        return torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    return torch.device(name)


def autocast_dtype(precision: str, device: torch.device | str, option: str = "precision") -> torch.dtype | None:
    """The autocast dtype of ``precision`` on ``device``: ``auto`` = bf16 on CUDA and none (fp32) elsewhere,
    ``fp32`` = none, ``bf16`` = bfloat16 (also on the CPU, where it is slow but runs the same code path).
    ``option`` names the setting in the error message."""
    if precision not in PRECISIONS:
        raise ValueError(f"{option} must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "bf16" or (precision == "auto" and torch.device(device).type == "cuda"):
        return torch.bfloat16
    return None


def autocast(device: torch.device | str, dtype: torch.dtype | None):
    """``torch.autocast`` on ``device`` in ``dtype``, or no autocast when ``dtype`` is None."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=dtype)


def cpu_flags(cpuinfo: str | None = None) -> set[str] | None:
    """The CPU's feature flags from ``/proc/cpuinfo`` text (x86 ``flags``, Arm ``Features``); ``None`` where unknown."""
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo") as f:
                cpuinfo = f.read()
        except OSError:
            return None
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return set(value.split())
    return None


def cpu_bf16_native(cpuinfo: str | None = None, environ: dict[str, str] | None = None) -> tuple[bool, str]:
    """Whether bf16 runs natively on this CPU, and why (one phrase). Without native support torch emulates bf16
    (on a conv3d measured ~300x slower than fp32), so callers skip optional bf16 work. Native means all of: no oneDNN
    ISA cap below bf16 (``ONEDNN_MAX_CPU_ISA`` / ``DNNL_MAX_CPU_ISA``, e.g. ``AVX2``), oneDNN's own bf16 query, and
    where the flags can be read, ``avx512_bf16`` or ``amx_bf16`` (x86) / ``bf16`` (Arm)."""
    env = os.environ if environ is None else environ
    var = next((v for v in ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA") if env.get(v)), None)
    cap = env[var].strip().upper() if var else ""
    if cap in ISA_CAPS_WITHOUT_BF16:
        return False, f"{var}={cap} caps oneDNN below the bf16 instructions"
    query = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    if not torch.backends.mkldnn.is_available() or query is None or not query():
        return False, "oneDNN (torch.ops.mkldnn._is_mkldnn_bf16_supported) reports no bf16 support on this CPU"
    flags = cpu_flags(cpuinfo)
    if flags is not None and not flags & {"avx512_bf16", "amx_bf16", "bf16"}:
        return False, "the CPU flags hold none of avx512_bf16, amx_bf16 (x86) or bf16 (Arm): bf16 would be emulated"
    return True, "native bf16 (" + (", ".join(sorted(flags & {"avx512_bf16", "amx_bf16", "bf16"})) if flags
                                    else "oneDNN's query; CPU flags unreadable") + ")"
