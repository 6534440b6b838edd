"""scripts/device_check.py: the --tiny run on the CPU (every section, one JSON, the table beside the anchors; bf16
skipped, and said so, on a CPU without native bf16), its time guards, and the ratio arithmetic of the table.

No outcome here depends on the machine's speed: the runs use --no-time-limits, the guards' tests check which status
a section gets (an alarm that fires, a deadline on a fake clock), never how many seconds something took."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from lfdm_bench.utils.device import cpu_bf16_native

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "device_check.py"


def load_script():
    spec = importlib.util.spec_from_file_location("device_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BF16_FIGURES = ("dm_step_bf16", "dm_step_cl", "i3d_bf16", "i3d_fvd_rel_diff")


def run_tiny(tmp_path: Path, *args: str, **env: str) -> tuple[subprocess.CompletedProcess, dict]:
    """``device_check.py --tiny --device cpu --no-time-limits`` in a subprocess (one thread; ``env`` added)."""
    out = tmp_path / "check.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", **env}
    proc = subprocess.run([sys.executable, str(SCRIPT), "--tiny", "--device", "cpu", "--no-time-limits", "--out",
                           str(out), *args], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=1800)  # a hang guard only: the run takes ~20 s on a 2-core CPU
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc, json.loads(out.read_text())


@pytest.mark.e2e
def test_tiny_run_on_cpu(tmp_path):
    proc, r = run_tiny(tmp_path)
    dc = load_script()
    status = {k: v["status"] for k, v in r["sections"].items()}
    assert status == {**{k: "ok" for k in dc.SECTIONS}, "compile": "skipped"}, r["sections"]
    assert r["budget_s"] is None and r["settings"]["time_limits"] is False
    assert all(v.get("budget_s") is None for v in r["sections"].values())  # no section had a budget
    assert r["machine"]["torch"] == torch.__version__ and r["machine"]["device"] == "cpu"
    assert not r["comparable_with_anchors"] and r["settings"]["tiny"]
    # the CUDA-marked tests were collected and skipped on the CPU (the subprocess ran pytest -m cuda)
    assert r["tests"]["returncode"] == 0 and r["tests"]["counts"].get("skipped", 0) >= 1
    assert "failed" not in r["tests"]["counts"]
    figs = r["figures"]
    native, why = cpu_bf16_native()  # this process's CPU and environment: the subprocess's
    assert r["settings"]["bf16"] == {"native": native, "why": why}
    for key in ("dm_full_step", "dm_step", "dm_step_fp32", "ddim10", "ddim10_guided", "guided_over_unguided",
                "lfae_step", "i3d", "i3d_fp32", *(BF16_FIGURES if native else ())):
        v = figs[key]["value"]
        assert isinstance(v, float) and math.isfinite(v) and v > 0, (key, figs[key])
    for key in () if native else BF16_FIGURES:
        assert figs[key]["status"] == "skipped" and why in figs[key]["reason"], figs[key]
    assert figs["ddim10"]["nfe"] == 10 and figs["ddim10_guided"]["nfe"] == 20  # guidance: cond + null per step
    assert figs["dm_step"]["iters"] >= 1 and len(figs["dm_step"]["times_s"]) == figs["dm_step"]["iters"]
    assert figs["i3d_fp32"]["fvd"] > 0
    assert r["models"]["params"]["dm_unet"] > 0 and r["models"]["frames"] == 8
    for what, *_ in dc.ANCHORS.values():  # the table, printed and stored
        assert what in proc.stdout and what in r["table"]
    assert "ratio" in r["table"] and "not comparable" in r["table"]


@pytest.mark.e2e
def test_cpu_without_native_bf16_skips_bf16_and_says_so(tmp_path):
    """oneDNN capped at AVX2 (a CPU without avx512_bf16 / amx_bf16, e.g. an AMD EPYC before Zen 4): bf16 autocast
    would be emulated, hundreds of times slower (the I3D section took 69 s on such a CPU): its figures are skipped
    with the reason, every section is ok, and the table says so."""
    proc, r = run_tiny(tmp_path, "--no-tests", "--sections", "build", "dm_step", "i3d", ONEDNN_MAX_CPU_ISA="AVX2")
    assert r["settings"]["bf16"]["native"] is False and "ONEDNN_MAX_CPU_ISA=AVX2" in r["settings"]["bf16"]["why"]
    assert {k: v["status"] for k, v in r["sections"].items() if k in ("build", "dm_step", "i3d")} == \
        {"build": "ok", "dm_step": "ok", "i3d": "ok"}, r["sections"]
    for name in ("dm_step", "i3d"):
        assert "no native bf16" in r["sections"][name]["note"], r["sections"][name]
    figs = r["figures"]
    for key in BF16_FIGURES:
        assert figs[key] == {"value": None, "status": "skipped", "reason": figs[key]["reason"]}
        assert "no native bf16 on this CPU (ONEDNN_MAX_CPU_ISA=AVX2" in figs[key]["reason"]
    assert figs["dm_step_fp32"]["value"] > 0 and figs["i3d_fp32"]["value"] > 0 and figs["i3d_fp32"]["fvd"] > 0
    dc = load_script()
    assert f"| {dc.VARIANTS['i3d_bf16'][0]}" in r["table"] and "skipped" in r["table"]


@pytest.mark.parametrize("cpuinfo, env, native", [
    ("flags\t\t: fpu avx2 avx512f avx512_bf16\n", {}, True),
    ("flags\t\t: fpu avx2 amx_bf16 amx_tile\n", {"ONEDNN_MAX_CPU_ISA": "ALL"}, True),
    ("flags\t\t: fpu avx2 avx512f avx512_bf16\n", {"ONEDNN_MAX_CPU_ISA": "avx2"}, False),  # capped
    ("flags\t\t: fpu avx2 avx512f avx512_bf16\n", {"DNNL_MAX_CPU_ISA": "AVX512_CORE"}, False),
    ("flags\t\t: fpu sse4_2 avx avx2 fma\n", {}, False),  # Zen 2/3: bf16 emulated
    ("flags\t\t: fpu avx2 avx512f avx512bw\n", {}, False),  # Skylake-SP: oneDNN emulates it
])
def test_native_bf16_detection(monkeypatch, cpuinfo, env, native):
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True, raising=False)
    got, why = cpu_bf16_native(cpuinfo, env)
    assert got is native, why
    if not native:
        assert ("_MAX_CPU_ISA=" in why) if env else ("flags" in why)
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False, raising=False)
    got, why = cpu_bf16_native(cpuinfo, env)  # oneDNN's own query says no: never native
    assert got is False and ("mkldnn" in why or "_MAX_CPU_ISA=" in why)


@pytest.mark.e2e  # a whole command / evaluation / dataset build or a subprocess: the full suite runs it
def test_sections_are_guarded(tmp_path):
    dc = load_script()
    check = dc.Check(tmp_path / "c.json", budget_s=8.0, tiny=True, device=torch.device("cpu"), settings={})
    # the alarm interrupts the section: it would otherwise sleep to its end and be recorded "ok"
    assert check.section("slow", lambda c, d: time.sleep(30), budget=1.0) == "timeout"
    def wrapped(c, d):  # a library that catches the alarm's exception and raises its own (torch.compile does)
        try:
            time.sleep(30)
        except dc.SectionTimeout as e:
            raise RuntimeError("backend compiler failed") from e

    assert check.section("wrapped", wrapped, budget=1.0) == "timeout"
    assert check.section("broken", lambda c, d: 1 / 0, budget=2.0) == "error"
    assert check.section("fine", lambda c, d: "done", budget=2.0) == "ok"
    written = json.loads((tmp_path / "c.json").read_text())  # rewritten after every section
    assert written["sections"]["slow"]["status"] == "timeout"
    assert "ZeroDivisionError" in written["sections"]["broken"]["reason"]
    assert written["sections"]["fine"]["note"] == "done"
    check.deadline = time.monotonic() + 1.0  # the global budget is (almost) spent: the next section is skipped
    assert check.section("late", lambda c, d: "never", budget=10.0) == "skipped"


def test_measure_stops_at_the_deadline(monkeypatch):
    """On a fake clock (each call takes 0.2 s of it), so the counts do not depend on the machine."""
    dc = load_script()
    clock = [100.0]
    monkeypatch.setattr(dc, "time", SimpleNamespace(perf_counter=lambda: clock[0], monotonic=lambda: clock[0]))
    calls = []

    def call():
        calls.append(1)
        clock[0] += 0.2

    m = dc.measure(call, torch.device("cpu"), clock[0] + 1.1, warmup=1, iters=50)
    # warm-up ends at 100.2; timed calls end at 100.4, 100.6 (0.5 left >= 2 x 0.2: go on), 100.8 (0.3: stop)
    assert m["warmup"] == 1 and m["iters"] == 3 and len(calls) == 4 and m["median_s"] == pytest.approx(0.2)
    assert m["peak_gib"] is None
    calls.clear()
    m = dc.measure(call, torch.device("cpu"), clock[0] + 0.5, warmup=5, iters=50)
    assert m["warmup"] == 1 and m["iters"] == 1 and len(calls) == 2  # the warm-up is cut short too
    m = dc.measure(call, torch.device("cpu"), math.inf, warmup=2, iters=4)  # --no-time-limits: every call
    assert m["warmup"] == 2 and m["iters"] == 4


def test_table_ratios_and_targets():
    dc = load_script()
    result = {"comparable_with_anchors": True, "figures": {
        "dm_full_step": {"value": 0.166}, "dm_full_step_mem": {"value": 5.0}, "i3d": {"value": 1536.0},
        "guided_over_unguided": {"value": 1.25}, "i3d_fvd_rel_diff": {"value": 0.7}}}
    rows = {r[0]: r for r in dc.table_rows(result)}
    full = rows[dc.ANCHORS["dm_full_step"][0]]
    assert full[4] == "4.00x" and full[5] == "no"  # 0.664 / 0.166; above the 0.13 s target
    assert rows[dc.ANCHORS["dm_full_step_mem"][0]][5] == "yes"
    assert rows[dc.ANCHORS["i3d"][0]][4] == "2.00x" and rows[dc.ANCHORS["i3d"][0]][5] == "no"  # throughput
    assert rows[dc.ANCHORS["guided_over_unguided"][0]][5] == "yes"
    assert rows[dc.ANCHORS["i3d_fvd_rel_diff"][0]][5] == "no"
    assert rows[dc.ANCHORS["dm_step"][0]][1] == "-"  # not measured
    result["comparable_with_anchors"] = False
    assert {r[5] for r in dc.table_rows(result)} <= {"n/a", "-"}
