"""scripts/device_check.py: the --tiny run on the CPU (every section, one JSON, the table beside the anchors), its
time guards, and the ratio arithmetic of the table."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "device_check.py"


def load_script():
    spec = importlib.util.spec_from_file_location("device_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tiny_run_on_cpu(tmp_path):
    out = tmp_path / "check.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    t = time.monotonic()
    proc = subprocess.run([sys.executable, str(SCRIPT), "--tiny", "--device", "cpu", "--out", str(out)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    wall = time.monotonic() - t
    assert proc.returncode == 0, proc.stderr[-2000:]
    r = json.loads(out.read_text())
    dc = load_script()
    status = {k: v["status"] for k, v in r["sections"].items()}
    assert status == {**{k: "ok" for k in dc.SECTIONS}, "compile": "skipped"}, r["sections"]
    assert r["total_s"] < 60, f"--tiny took {r['total_s']} s (wall {wall:.0f} s)"
    assert r["machine"]["torch"] == torch.__version__ and r["machine"]["device"] == "cpu"
    assert not r["comparable_with_anchors"] and r["settings"]["tiny"]
    # the CUDA-marked tests were collected and skipped on the CPU (the subprocess ran pytest -m cuda)
    assert r["tests"]["returncode"] == 0 and r["tests"]["counts"].get("skipped", 0) >= 1
    assert "failed" not in r["tests"]["counts"]
    figs = r["figures"]
    for key in ("dm_full_step", "dm_step", "dm_step_fp32", "dm_step_bf16", "ddim10", "ddim10_guided",
                "guided_over_unguided", "lfae_step", "i3d", "i3d_fp32", "i3d_bf16", "i3d_fvd_rel_diff"):
        v = figs[key]["value"]
        assert isinstance(v, float) and math.isfinite(v) and v > 0, (key, figs[key])
    assert figs["ddim10"]["nfe"] == 10 and figs["ddim10_guided"]["nfe"] == 20  # guidance: cond + null per step
    assert figs["dm_step"]["iters"] >= 1 and len(figs["dm_step"]["times_s"]) == figs["dm_step"]["iters"]
    assert figs["i3d_fvd_rel_diff"]["fvd_fp32"] > 0
    assert r["models"]["params"]["dm_unet"] > 0 and r["models"]["frames"] == 8
    for what, *_ in dc.ANCHORS.values():  # the table, printed and stored
        assert what in proc.stdout and what in r["table"]
    assert "ratio" in r["table"] and "not comparable" in r["table"]


def test_sections_are_guarded(tmp_path):
    dc = load_script()
    check = dc.Check(tmp_path / "c.json", budget_s=8.0, tiny=True, device=torch.device("cpu"), settings={})
    t = time.monotonic()
    assert check.section("slow", lambda c, d: time.sleep(30), budget=1.0) == "timeout"
    assert time.monotonic() - t < 5
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


def test_measure_stops_at_the_deadline():
    dc = load_script()
    calls = []
    m = dc.measure(lambda: (calls.append(1), time.sleep(0.2)), torch.device("cpu"), time.monotonic() + 0.5,
                   warmup=1, iters=50)
    assert 1 <= m["iters"] <= 2 and len(calls) == 1 + m["iters"] and 0.19 < m["median_s"] < 1.0
    assert m["peak_gib"] is None
    calls.clear()
    m = dc.measure(lambda: (calls.append(1), time.sleep(0.2)), torch.device("cpu"), time.monotonic() + 0.5,
                   warmup=5, iters=50)
    assert m["warmup"] == 1 and m["iters"] == 1 and len(calls) == 2  # the warm-up is cut short too


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
