"""``lfdm-bench eval``: sample folders, run folders, sanity mode, errors; plus slow end-to-end runs of i3d-random."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import metrics.evaluate
import metrics.sanity
from metrics.commands import eval_cmd
from metrics.sanity import write_real_samples
from helpers import make_tiny_dataset, tiny_detector

PROTOCOL_FIELDS = ("dataset", "split", "n_frames", "resolution", "real_sampling", "max_real", "max_generated",
                   "detector", "bn_eps", "resize_method", "ddof", "seed", "batch_size")


@pytest.fixture()
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """A tiny dataset, a cache folder of its own, and the tiny detector in place of I3D."""
    monkeypatch.setenv("LFDM_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("LFDM_BENCH_I3D", raising=False)
    manifest = make_tiny_dataset(tmp_path / "data")
    detectors = []

    def fake_build(protocol):
        detectors.append(tiny_detector())
        return detectors[-1]

    monkeypatch.setattr(metrics.evaluate, "build_detector", fake_build)
    monkeypatch.setattr(metrics.sanity, "build_detector", fake_build)
    return {"manifest": str(manifest), "tmp": tmp_path, "detectors": detectors}


def invoke(*args: str):
    return CliRunner().invoke(eval_cmd, list(args), catch_exceptions=False)


@pytest.mark.e2e  # a whole command / evaluation / dataset build or a subprocess: the full suite runs it
def test_eval_samples_writes_metrics_json(env) -> None:
    from lfdm_bench.data.registry import get_dataset

    samples = env["tmp"] / "samples"
    write_real_samples(get_dataset(env["manifest"]), samples, split="test", n_frames=10)
    res = invoke("--samples", str(samples), "--dataset", env["manifest"], "--metric", "fvd",
                 "--metric", "cfvd,sfvd,psnr,ssim,kvd,acc", "--frames", "10", "--i3d", "i3d-random")
    assert res.exit_code == 0, res.output
    out = samples / "metrics"
    saved = json.loads((out / "metrics.json").read_text())
    for key in PROTOCOL_FIELDS:
        assert key in saved["protocol"], key
    assert saved["protocol"]["n_frames"] == 10 and saved["protocol"]["resolution"] == 32
    assert saved["detector"]["name"] == "tiny" and saved["comparable_with_published"] is False
    assert {"git_commit", "packages", "python"} <= set(saved["environment"])
    assert set(saved["values"]) == {"fvd", "cfvd", "sfvd", "kvd", "psnr", "ssim", "acc"}
    assert saved["values"]["fvd"]["test"] < 1.0  # real clips vs their own (re-encoded) selves
    for f in ("metrics.md", "metrics.csv", "metrics.jsonl", "cfvd_per_class.csv", "sfvd_per_subject.csv"):
        assert (out / f).is_file(), f
    assert "not comparable with published numbers" in res.output.lower()
    assert f"metrics.json: {out / 'metrics.json'}" in res.output
    assert " ± " in res.output  # mean ± std of cFVD / sFVD
    # a second run reuses the cached real features and appends to the history
    res2 = invoke("--samples", str(samples), "--dataset", env["manifest"], "--metric", "fvd", "--frames", "10")
    assert res2.exit_code == 0 and "reusing cached real features" in res2.output
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2


def test_unknown_metric_lists_valid_names(env) -> None:
    res = CliRunner().invoke(eval_cmd, ["--samples", "x", "--dataset", env["manifest"], "--metric", "fid"])
    assert res.exit_code == 2
    assert "unknown metric 'fid'; valid names: fvd, cfvd, sfvd, kvd, psnr, ssim, acc, motion, expr, all" in res.output


@pytest.mark.e2e
def test_sanity_mode(env) -> None:
    out = env["tmp"] / "sanity"
    res = invoke("--sanity", "--dataset", env["manifest"], "--frames", "10", "--out", str(out))
    assert res.exit_code == 0, res.output
    saved = json.loads((out / "sanity.json").read_text())
    assert saved["protocol"]["split"] == "both" and saved["protocol"]["max_real"] == 64
    assert len(saved["rows"]) == 15 and "none (halves A vs B)" in res.output
    assert "not comparable with published numbers" in res.output.lower()


@pytest.mark.e2e  # a whole command / evaluation / dataset build or a subprocess: the full suite runs it
def test_run_dir_and_make_samples(env) -> None:
    from lfdm_bench.data.registry import get_dataset

    run = env["tmp"] / "run"
    res = invoke("--run", str(run), "--dataset", env["manifest"], "--metric", "fvd", "--frames", "10")
    assert res.exit_code == 1 and "no sample folders under" in res.output and "lfdm-bench sample --run" in res.output
    # `lfdm-bench sample --split both` writes RUN/samples/<split>_<setting>/: one setting, two folders
    for split in ("test", "train"):
        write_real_samples(get_dataset(env["manifest"]), run / "samples" / f"{split}_ddim4_eta1_g1", split=split,
                           n_frames=10)
    res = invoke("--run", str(run), "--dataset", env["manifest"], "--split", "both", "--metric", "fvd",
                 "--frames", "10")
    assert res.exit_code == 0, res.output
    saved = json.loads((run / "metrics" / "ddim4_eta1_g1" / "metrics.json").read_text())
    assert set(saved["values"]["fvd"]) == {"test", "train", "gap"}
    assert saved["counts"]["generated"] == {"test": 12, "train": 12}
    made = env["tmp"] / "noisy"
    res = invoke("--make-samples", str(made), "--distort", "noise:0.2", "--dataset", env["manifest"], "--metric",
                 "fvd", "--frames", "10")
    assert res.exit_code == 0, res.output
    saved = json.loads((made / "metrics" / "metrics.json").read_text())
    assert saved["values"]["fvd"]["test"] > 1.0


def test_usage_errors(env) -> None:
    res = CliRunner().invoke(eval_cmd, ["--dataset", env["manifest"]])
    assert res.exit_code == 2 and "exactly one of --samples DIR, --run DIR or --make-samples DIR" in res.output
    res = CliRunner().invoke(eval_cmd, ["--sanity", "--samples", "x", "--dataset", env["manifest"]])
    assert res.exit_code == 2 and "drop --samples" in res.output
    res = CliRunner().invoke(eval_cmd, ["--samples", str(env["tmp"] / "none"), "--dataset", env["manifest"]])
    assert res.exit_code == 1 and "expected a folder holding manifest.csv" in res.output


def test_missing_i3d_weights_explains_how_to_provide(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lfdm_bench.data.registry import get_dataset

    monkeypatch.setenv("LFDM_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("LFDM_BENCH_I3D", raising=False)
    manifest = make_tiny_dataset(tmp_path / "data")
    write_real_samples(get_dataset(str(manifest)), tmp_path / "s", split="test", n_frames=10, max_videos=3)
    res = CliRunner().invoke(eval_cmd, ["--samples", str(tmp_path / "s"), "--dataset", str(manifest),
                                        "--metric", "fvd", "--frames", "10"])
    assert res.exit_code == 1 and "--i3d i3d-random" in res.output and "No I3D weights found" in res.output


@pytest.mark.slow
def test_i3d_random_end_to_end_on_embedded_dataset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real i3d-random network on a few synth-faces videos: all metrics, cached second run."""
    from lfdm_bench.data.registry import get_dataset
    from metrics.evaluate import evaluate
    from metrics.protocol import EvalProtocol
    from metrics.result_files import write_eval

    monkeypatch.setenv("LFDM_BENCH_CACHE", str(tmp_path / "cache"))
    faces = get_dataset("synth-faces", root=tmp_path / "data", n_subjects=4, n_takes=1, size=32, frames=16,
                        progress=False)
    write_real_samples(faces, tmp_path / "samples", split="test", n_frames=16, max_videos=7)
    protocol = EvalProtocol(dataset="synth-faces", split="test", n_frames=16, max_real=7, detector="i3d-random",
                            batch_size=4, device="cpu")
    res = evaluate(protocol, tmp_path / "samples", ["all"], dataset=faces)
    assert res.detector["name"] == "i3d-random" and res.detector["sha256"] == "i3d-random-v2"
    assert res.features["generated"]["i3d"].shape == (7, 400)
    assert 0.0 <= res.values["fvd"]["test"] < 1.0  # the same clips, re-encoded
    assert res.values["psnr"]["test"]["mean"] > 35.0
    paths = write_eval(res, tmp_path / "out")
    assert json.loads(paths["json"].read_text())["protocol"]["resize_method"] == "bilinear-tats"
    lines: list[str] = []
    again = evaluate(protocol, tmp_path / "samples", ["fvd"], dataset=faces, log_fn=lines.append)
    assert any(line.startswith("reusing cached real features") and "test split" in line for line in lines)
    assert again.values["fvd"]["test"] == pytest.approx(res.values["fvd"]["test"])


@pytest.mark.slow
def test_i3d_random_sanity_noise_rises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real i3d-random network sees strong noise: FVD(A, noisy B) rises above FVD(A, B) and with strength."""
    from lfdm_bench.data.registry import get_dataset
    from metrics.protocol import EvalProtocol
    from metrics.sanity import run_sanity

    monkeypatch.setenv("LFDM_BENCH_CACHE", str(tmp_path / "cache"))
    faces = get_dataset("synth-faces", root=tmp_path / "data", n_subjects=4, n_takes=1, size=32, frames=16,
                        progress=False)
    protocol = EvalProtocol(dataset="synth-faces", split="both", n_frames=16, max_real=14, detector="i3d-random",
                            batch_size=7, device="cpu")
    res = run_sanity(protocol, {"noise": (0.1, 0.3)}, dataset=faces)
    assert res.baseline["n_a"] == res.baseline["n_b"] == 7
    # FVD goes up at every strength (7 vs 7 videos of 400-d features: whether by 2 SE is not asked here)
    fvds = [res.baseline["fvd"]] + [r["fvd"] for r in res.rows]
    assert all(b > a for a, b in zip(fvds, fvds[1:])), [res.baseline] + res.rows
    assert all(r["se"]["fvd"] is not None for r in res.rows)
