"""The harness of scripts/device_check.py: the official code's figures (``ANCHORS``) and the extra rows
(``VARIANTS``), the sections' time budgets (``SECTIONS``), the alarm that stops a section past its budget, the run's
state (:class:`Check`: guarded sections, one JSON rewritten after every section), the machine description, and the
table of our figures beside the anchors. The sections themselves (what is built and timed) are in device_check.py."""

from __future__ import annotations

import contextlib
import math
import os
import platform
import signal
import time
from pathlib import Path
from types import SimpleNamespace

import torch

from lfdm_bench.utils.io import atomic_write_json

# shared/reference/performance.md (official code / reference I3D, one H100, fp32): key -> (what, unit, anchor,
# target, better: "lower" | "higher")
ANCHORS = {
    "dm_full_step": ("full DM step (LFAE targets + loss + backward + Adam)", "s/it", 0.664, 0.13, "lower"),
    "dm_full_step_mem": ("full DM step, peak memory", "GiB", 13.3, 6.0, "lower"),
    "dm_step": ("DM-only step, precomputed targets", "s/it", 0.155, 0.04, "lower"),
    "ddim10": ("DDIM-10 incl. decoding, guidance 1 (batched)", "s/video", 0.487, 0.05, "lower"),
    "ddim10_guided": ("DDIM-10 incl. decoding, guidance 1.5 (batched)", "s/video", 0.806, None, "lower"),
    "guided_over_unguided": ("guided / unguided sampling time", "x", 0.806 / 0.487, 1.3, "lower"),
    "i3d": ("I3D features 16x224x224, batch 16 (default: fp32)", "clips/s", 768.0, 2300.0, "higher"),
    "i3d_fvd_rel_diff": ("FVD bf16 vs fp32, relative difference", "%", None, 0.5, "lower"),
}
# extra rows: key -> (what, unit, the anchor row it compares with or None)
VARIANTS = {
    "dm_step_fp32": ("DM-only step, fp32", "s/it", "dm_step"),
    "dm_step_bf16": ("DM-only step, bf16, contiguous", "s/it", "dm_step"),
    "dm_step_cl": ("DM-only step, bf16, channels_last_3d", "s/it", "dm_step"),
    "dm_step_compiled": ("DM-only step, bf16, torch.compile", "s/it", "dm_step"),
    "dm_step_mem": ("DM-only step, peak memory", "GiB", None),
    "ddim10_mem": ("DDIM-10 batch, peak memory", "GiB", None),
    "i3d_fp32": ("I3D features, fp32", "clips/s", "i3d"),
    "i3d_bf16": ("I3D features, bf16", "clips/s", "i3d"),
    "lfae_step": ("LFAE training step", "s/it", None),
    "lfae_step_mem": ("LFAE training step, peak memory", "GiB", None),
}

# section -> (budget in seconds on a GPU, budget with --tiny); the GPU total is ~465 s (< 480)
SECTIONS = {
    "tests": (75, 30), "build": (25, 10), "dm_step": (45, 10), "dm_full_step": (45, 8), "sampling": (70, 10),
    "lfae_step": (40, 8), "i3d": (60, 25), "compile": (105, 60),
}


TRAINING_SECTIONS = {"dm_step", "dm_full_step", "lfae_step", "compile"}


class SectionTimeout(Exception):
    """Raised by the alarm when a section runs past its budget."""


@contextlib.contextmanager
def alarm(seconds: float):
    """Raise :class:`SectionTimeout` in the main thread after ``seconds`` (SIGALRM; no-op where unavailable, and for
    an infinite budget)."""
    if not hasattr(signal, "setitimer") or seconds <= 0 or not math.isfinite(seconds):
        yield
        return

    def handler(signum, frame):
        raise SectionTimeout(f"ran past its budget of {seconds:.0f} s")

    previous = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class Check:
    """The run's state: settings, results (written to ``out`` after every section) and the global deadline."""

    def __init__(self, out: Path, budget_s: float, tiny: bool, device: torch.device, settings: dict):
        self.out, self.tiny, self.device, self.t0 = out, tiny, device, time.monotonic()
        self.deadline = self.t0 + budget_s
        self.result = {"machine": machine(device), "settings": settings, "sections": {}, "figures": {},
                       "comparable_with_anchors": not tiny and device.type == "cuda",
                       "budget_s": budget_s if math.isfinite(budget_s) else None}
        self.state = SimpleNamespace()

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def figure(self, key: str, value, **info) -> None:
        self.result["figures"][key] = {"value": value, **info}

    def skip(self, key: str, reason: str) -> None:
        """Record a figure that was not measured, and why."""
        self.result["figures"][key] = {"value": None, "status": "skipped", "reason": reason}

    def save(self) -> None:
        self.result["total_s"] = round(time.monotonic() - self.t0, 2)
        self.out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.out, self.result)  # a run killed mid-write keeps the previous complete file

    def section(self, name: str, fn, budget: float | None = None) -> str:
        """Run ``fn(check, section_deadline)`` within its budget (none when the global one is infinite:
        ``--no-time-limits``); record status, seconds and any error."""
        if budget is None:
            budget = SECTIONS[name][1 if self.tiny else 0] if math.isfinite(self.deadline) else math.inf
        if self.device.type == "cuda":  # what the toolkit does: the engine turns autotuning on, sampling / I3D not
            torch.backends.cudnn.benchmark = name in TRAINING_SECTIONS
        wanted, budget = budget, min(budget, self.left())
        rec = {"budget_s": round(budget, 1) if math.isfinite(budget) else None}
        if budget < min(3.0, wanted):
            rec.update(status="skipped", reason="the global time budget is spent")
        else:
            start = time.monotonic()
            try:
                with alarm(budget):
                    note = fn(self, start + budget)
                rec["status"] = "ok"
                if note:
                    rec["note"] = note
            except SectionTimeout as e:
                rec.update(status="timeout", reason=str(e))
            except Exception as e:  # noqa: BLE001 -- recorded, and the next section runs
                timed_out = _caused_by_timeout(e)  # the alarm fired inside e.g. torch.compile, which re-raised
                rec.update(status="timeout" if timed_out else "error", reason=f"{type(e).__name__}: {str(e)[:400]}")
            finally:
                rec["seconds"] = round(time.monotonic() - start, 2)
                release(self.device)
        self.result["sections"][name] = rec
        self.save()
        print(f"[{name}] {rec['status']} ({rec.get('seconds', 0):.1f} s){' - ' + rec['reason'] if 'reason' in rec else ''}",
              flush=True)
        return rec["status"]


def _caused_by_timeout(e: BaseException | None) -> bool:
    seen = 0
    while e is not None and seen < 20:
        if isinstance(e, SectionTimeout) or "SectionTimeout" in str(e):
            return True
        e, seen = e.__cause__ or e.__context__, seen + 1
    return False


def machine(device: torch.device) -> dict:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError, StopIteration):
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    info = {"platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
            "cpu": cpu, "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "device": str(device), "cuda": torch.version.cuda, "cudnn": None, "gpu": None}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(cudnn=torch.backends.cudnn.version(), gpu=torch.cuda.get_device_name(device),
                    gpu_memory_gib=round(props.total_memory / 2**30, 1), capability=f"{props.major}.{props.minor}",
                    driver_visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"))
    return info


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def release(device: torch.device) -> None:
    with contextlib.suppress(Exception):
        sync(device)
        if device.type == "cuda":
            torch.cuda.empty_cache()


# ----------------------------------------------------------------------------------------------- the table
def table_rows(result: dict) -> list[list[str]]:
    """Rows ``what | ours | official | target | ratio | meets target``; ratio = official / ours for times and memory,
    ours / official for throughput (> 1: better than the official code). Without comparable settings (--tiny, or
    not on CUDA) the target column says n/a."""
    figs, comparable = result["figures"], result["comparable_with_anchors"]
    rows = []

    fmt = lambda v, unit: "-" if v is None else f"{v:.4g} {unit}"  # noqa: E731
    for key in [*ANCHORS, *VARIANTS]:
        if key in ANCHORS:
            what, unit, anchor, target, better = ANCHORS[key]
        else:
            what, unit, base = VARIANTS[key]
            anchor, target, better = (ANCHORS[base][2], None, ANCHORS[base][4]) if base else (None, None, "lower")
        ours = figs.get(key, {}).get("value")
        ratio = meets = "-"
        if figs.get(key, {}).get("status") == "skipped":
            rows.append([what, "skipped", fmt(anchor, unit), fmt(target, unit), ratio, meets])
            continue
        if ours is not None and anchor is not None and ours > 0:
            ratio = f"{(anchor / ours if better == 'lower' else ours / anchor):.2f}x"
        if ours is not None and target is not None:
            meets = "n/a" if not comparable else "yes" if (ours <= target if better == "lower" else ours >= target) \
                else "no"
        rows.append([what, fmt(ours, unit), fmt(anchor, unit), fmt(target, unit), ratio, meets])
    return rows


def print_table(result: dict) -> str:
    rows = table_rows(result)
    head = ["what", "ours", "official (H100)", "target", "ratio", "meets target"]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in [head, *rows]]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    m = result["machine"]
    where = m["gpu"] or f"CPU {m['cpu']} ({m['torch_threads']} threads)"
    text = f"Device check on {where}, torch {m['torch']}, CUDA {m['cuda']}, cuDNN {m['cudnn']}\n" + "\n".join(lines)
    if not result["comparable_with_anchors"]:
        text += "\n(not comparable with the anchors: " + ("--tiny settings" if result["settings"]["tiny"]
                                                          else "not a CUDA device") + ")"
    print(text, flush=True)
    return text
