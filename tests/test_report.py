"""`lfdm-bench report`: side-by-side tables of results.json folders; protocol mixing refused or footnoted."""

import copy
import csv
import io
import json

import pytest
from click.testing import CliRunner

from bench.commands import report
from bench.report import MixedProtocolError, gather, report_csv, report_latex, report_markdown

PROTOCOL = {"dataset": "synth-faces", "split": "both", "n_frames": 16, "resolution": 64, "detector": "i3d.pt",
            "bn_eps": 1e-3, "resize_method": "bilinear", "ddof": 1, "real_sampling": "uniform",
            "max_real": None, "max_generated": None, "seed": 0}
DETECTOR = {"name": "i3d_pretrained_400.pt", "sha256": "ab" * 32, "bn_eps": 1e-3, "resize_method": "bilinear",
            "precision": "fp32", "comparable_with_published": True}


def _split(fvd, n=64, acc=0.5):
    return {"fvd": fvd, "fvd_ci": [fvd - 1, fvd + 1], "cfvd": {"mean": fvd * 2, "std": 3.25},
            "sfvd": {"mean": fvd * 3, "std": 4.5}, "kvd": 0.0123, "acc": acc, "acc_real": 0.9, "psnr": None,
            "ssim": None, "n_generated": n, "n_real": n, "seconds_per_video": 0.5, "expr_ratio": 0.8125,
            "expr_min": 0.5625, "expr_min_class": "fear", "acc_expr": 0.25}


def _results(name, hardware, fvd_lfdm, fvd_ldm, protocol=PROTOCOL, detector=DETECTOR, n=64):
    return {"benchmark": {"name": name, "hardware": hardware, "environment": {}, "config": "tiny"},
            "protocol": protocol, "detector": detector,
            "methods": {"lfdm": {"test": _split(fvd_lfdm, n), "train": _split(fvd_lfdm - 10, n), "gap": {"fvd": 10.0}},
                        "ldm": {"test": _split(fvd_ldm, n), "train": _split(fvd_ldm - 5, n), "gap": {"fvd": 5.0}}},
            "autoencoders": {"LFAE": {"l1": 0.05, "psnr": 25.0, "ssim": 0.8, "frames": 100}},
            "timings": {"total_s": 12.0}}


def _write(tmp_path, name, obj):
    d = tmp_path / name
    d.mkdir()
    (d / "results.json").write_text(json.dumps(obj))
    return d


@pytest.fixture
def two_dirs(tmp_path):
    a = _write(tmp_path, "gpu", _results("bench", "GPU cluster", 101.5, 201.25))
    b = _write(tmp_path, "laptop", _results("bench", "laptop", 111.5, 222.0))
    return tmp_path, a, b


def test_same_protocol_renders_side_by_side(two_dirs):
    _, a, b = two_dirs
    rep = gather([a, b])
    assert [s.label for s in rep.sources] == ["GPU cluster", "laptop"] and not rep.footnotes
    md = report_markdown(rep)
    assert "GPU cluster: FVD" in md and "laptop: FVD" in md
    line = next(l for l in md.splitlines() if l.startswith("| lfdm") and "| test" in l)
    assert "101.50" in line and "111.50" in line and "203.00 ± 3.25" in line  # cFVD mean ± std
    assert "gap (test - train)" in md and "## Autoencoder reconstruction" in md
    head = next(l for l in md.splitlines() if l.startswith("| method"))
    assert "GPU cluster: expression change x real (mean)" in head and "laptop: expr. acc %" in head
    assert "0.81" in line and "0.56" in line and "25.0" in line  # expression change, worst class, expr. acc %
    tex = report_latex(rep)
    for s in (r"\toprule", r"\midrule", r"\bottomrule", r"\multicolumn{", r"203.00 $\pm$ 3.25", "GPU cluster"):
        assert s in tex
    assert tex.count(r"\begin{tabular}") == tex.count(r"\end{tabular}") == 2
    rows = list(csv.DictReader(io.StringIO(report_csv(rep))))
    fvd = {(r["source"], r["row"]): float(r["value"]) for r in rows if r["metric"] == "FVD" and r["table"] == "Main results"}
    assert fvd[("GPU cluster", "lfdm / test")] == 101.5 and fvd[("laptop", "ldm / test")] == 222.0
    assert fvd[("laptop", "lfdm / gap (test - train)")] == 10.0


def test_differing_protocols_refused_naming_keys(tmp_path):
    p2 = copy.deepcopy(PROTOCOL) | {"n_frames": 40, "ddof": 0}
    d2 = copy.deepcopy(DETECTOR) | {"sha256": "cd" * 32}
    a = _write(tmp_path, "gpu", _results("b", "GPU cluster", 100.0, 200.0))
    b = _write(tmp_path, "laptop", _results("b", "laptop", 110.0, 220.0, protocol=p2, detector=d2, n=32))
    with pytest.raises(MixedProtocolError, match="differing keys") as e:
        gather([a, b])
    assert set(e.value.keys) == {"n_frames", "ddof", "detector_sha256", "n_generated", "n_real"}
    r = CliRunner().invoke(report, [str(a), str(b)])
    assert r.exit_code != 0
    for k in ("n_frames", "ddof", "detector_sha256", "n_generated", "--allow-mixed"):
        assert k in r.output


def test_allow_mixed_footnotes_each_key(tmp_path):
    a = _write(tmp_path, "gpu", _results("b", "GPU cluster", 100.0, 200.0))
    b = _write(tmp_path, "laptop", _results("b", "laptop", 110.0, 220.0, protocol=PROTOCOL | {"resolution": 128}))
    out = tmp_path / "out"
    r = CliRunner().invoke(report, [str(a), str(b), "--allow-mixed", "--out", str(out), "--format", "all"])
    assert r.exit_code == 0, r.output
    md = (out / "report.md").read_text()
    assert "GPU cluster^a: FVD" in md and "laptop^a: FVD" in md
    assert "^a resolution differs: GPU cluster = 64, laptop = 128" in md
    tex = (out / "report.tex").read_text()
    assert "$^{a}$" in tex and "resolution differs" in tex
    rows = list(csv.DictReader(io.StringIO((out / "report.csv").read_text())))
    assert all(r["markers"] == "a" for r in rows if r["table"] == "Main results")
    assert any(r["table"] == "footnote" and "resolution differs" in r["markers"] for r in rows)


def test_ablation_json_and_count_markers(tmp_path):
    def abl(name, n):
        d = tmp_path / name
        d.mkdir()
        rows = [{"point": "ddim_s2_g1_eta1", "method": "lfdm", "sampler": "ddim", "steps": 2, "guidance": 1.0,
                 "eta": 1.0, "fvd": 50.0, "acc_motion": 0.25, "seconds_per_video": 0.1, "nfe_per_video": 2,
                 "n_videos": n, "n_real": 14}]
        (d / "ablation.json").write_text(json.dumps({"protocol": PROTOCOL, "detector": DETECTOR, "rows": rows}))
        return d

    a, b = abl("a", 14), abl("b", 7)
    with pytest.raises(MixedProtocolError, match="n_generated"):
        gather([a, b], labels=["A", "B"])
    rep = gather([a, b], labels=["A", "B"], allow_mixed=True)
    md = report_markdown(rep)
    assert "## Sampler ablation" in md and "50.00 ^a" in md and "^a n_generated differs" in md
    assert "A: NFE" in md


def test_missing_folder_contents(tmp_path):
    r = CliRunner().invoke(report, [str(tmp_path)])
    assert r.exit_code != 0 and "neither results.json" in r.output


def test_presets_are_protocol_keys(tmp_path):
    """Results made before presets existed (no preset keys) read as lfdm-bench; another preset is refused."""
    a = _write(tmp_path, "old", _results("b", "laptop", 100.0, 200.0))
    new = copy.deepcopy(PROTOCOL) | {"preset": "lfdm-bench", "generated_sampling": "first", "real_split": "same",
                                     "subset": "stratified", "load_resize": "pad", "real_quantize": "round",
                                     "generated_quantize": "round", "torchscript_call": "uint8-internal"}
    b = _write(tmp_path, "new", _results("b", "laptop", 110.0, 220.0, protocol=new))
    gather([a, b])  # the same protocol
    other = new | {"preset": "stylegan-v", "real_sampling": "window", "ddof": 0, "real_quantize": "round-half-up",
                   "generated_quantize": "round-half-up", "subset": "sorted-first"}
    c = _write(tmp_path, "sgv", _results("b", "laptop", 90.0, 180.0, protocol=other))
    with pytest.raises(MixedProtocolError) as e:
        gather([b, c])
    assert {"preset", "real_sampling", "ddof", "real_quantize", "generated_quantize", "subset"} <= set(e.value.keys)
