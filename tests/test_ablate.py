"""`lfdm-bench ablate` on a tiny trained LFDM run: grid rows, NFE doubling with guidance, resume, tables, plots.

The detector is a tiny stand-in feature function (FVD values are meaningless; the plumbing is what is tested). That
our DDIM and diffusers' DDIM agree for the same noise is tested in tests/test_samplers.py.
"""

import json

import pytest
import torch
from click.testing import CliRunner

from bench.ablate import GridPoint, build_grid, nfe_per_video, run_ablation
from cli import main
from metrics.video_features import FunctionDetector

pytestmark = pytest.mark.e2e  # trains or runs the pipeline: deselect with -m 'not e2e'


def _features(videos):
    v = videos.float()
    v = v / 255.0 if v.max() > 1.5 else v  # [B, T, 3, H, W]
    return torch.stack([v.mean((1, 2, 3, 4)), v.std((1, 2, 3, 4)), v[:, :, 0].mean((1, 2, 3)),
                        (v[:, -1] - v[:, 0]).abs().mean((1, 2, 3))], dim=1)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, monkeypatch_module):
    root = tmp_path_factory.mktemp("ablate")
    monkeypatch_module.setenv("LFDM_BENCH_CACHE", str(root / "cache"))
    run = root / "run"
    # 9-frame clips: the evaluation protocol needs >= 9 frames
    r = CliRunner().invoke(main, ["train", "--config", "tiny", "--out", str(run), "--no-progress",
                                  "--set", "dm.train.steps=2", "--set", "lfae.train.steps=2",
                                  "--set", "data.n_frames=9"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return root, run


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


@pytest.fixture(scope="module")
def ablation(tiny_run):
    root, run = tiny_run
    det = FunctionDetector(_features, "stand-in")
    out = root / "abl"
    rows = run_ablation(run, ["ddim"], [2, 4], [1, 2], etas=[1.0], out=out, detector=det, log_fn=lambda m: None,
                        metrics=("fvd", "acc", "motion", "expr"))
    return out, run, rows, det


def test_grid_rules():
    g = build_grid(["ddim", "ddpm", "dpmsolver++"], [2, 4], [1, 3], etas=[0, 1], num_timesteps=100)
    ddim = [p for p in g if p.sampler == "ddim"]
    assert len(ddim) == 2 * 2 * 2  # steps x guidance x eta
    assert [p for p in g if p.sampler == "ddpm"] == [GridPoint("ddpm", 100, 1.0, None), GridPoint("ddpm", 100, 3.0, None)]
    dpm = [p for p in g if p.sampler == "diffusers-dpmsolver++"]
    assert len(dpm) == 4 and all(p.eta is None for p in dpm)  # not multiplied by eta
    assert nfe_per_video(10, 1.0) == 10 and nfe_per_video(10, 0.0) == 10 and nfe_per_video(10, 1.5) == 20
    with pytest.raises(ValueError, match="valid samplers"):
        build_grid(["nope"], [2], [1])


def test_rows_and_nfe(ablation):
    out, _, rows, det = ablation
    assert [(r["steps"], r["guidance"]) for r in rows] == [(2, 1.0), (2, 2.0), (4, 1.0), (4, 2.0)]
    for r in rows:
        assert r["method"] == "lfdm" and r["sampler"] == "ddim" and r["eta"] == 1.0
        assert r["n_videos"] == 14 and r["fvd"] is not None and r["seconds_per_video"] > 0
        assert r["acc_motion"] is not None and r["acc_i3d"] is not None
        assert r["expr_ratio"] is not None and r["expr_min"] <= r["expr_ratio"]  # expression change per setting
        assert r["nfe_source"] == "sampler"  # read from RUN/samples/<point>.json
        assert r["nfe_per_video"] == r["steps"] * (2 if r["guidance"] == 2.0 else 1)
        assert (out / "samples" / r["point"] / "manifest.csv").is_file()
    # real features computed once (28 = test + train real videos), then only generated videos per point
    assert det.videos_seen == 4 * 14 + 28


def test_same_evaluation_set_at_every_point(ablation):
    from lfdm_bench.data.records import read_manifest

    out, _, rows, _ = ablation
    sets = [{(r.take, r.params["source"], r.params["seed"]) for r in read_manifest(out / "samples" / x["point"] /
                                                                                   "manifest.csv")} for x in rows]
    assert all(s == sets[0] for s in sets)


def test_outputs_written(ablation):
    out, _, rows, _ = ablation
    saved = json.loads((out / "ablation.json").read_text())
    assert len(saved["rows"]) == 4 and saved["protocol"]["n_frames"] == 9 and saved["detector"]["name"] == "stand-in"
    assert "environment" in saved
    md = (out / "ablation.md").read_text()
    assert "ddim_s4_g2_eta1" in md and "NFE/video" in md and "class acc % (motion probe)" in md
    assert "expression change x real (mean)" in md and "expression change x real (worst class)" in md
    assert (out / "ablation.csv").read_text().count("\n") == 5
    for name in ("fvd_vs_steps", "fvd_vs_guidance", "fvd_vs_time", "acc_vs_steps"):
        p = out / "plots" / f"{name}.png"
        assert p.is_file() and p.read_bytes()[:4] == b"\x89PNG"


def test_resume_skips_finished_points(ablation):
    out, run, rows, _ = ablation
    det = FunctionDetector(_features, "stand-in")
    seen = []
    again = run_ablation(run, ["ddim"], [2, 4], [1, 2], etas=[1.0], out=out, detector=det, log_fn=seen.append,
                         metrics=("fvd", "acc", "motion", "expr"))
    assert det.calls == 0 and sum("skipped" in m for m in seen) == 4
    assert [r["fvd"] for r in again] == [r["fvd"] for r in rows]
    with pytest.raises(ValueError, match="different settings"):
        run_ablation(run, ["ddim"], [2], [1], out=out, detector=det, per_pair=2, log_fn=lambda m: None)


def test_cli_unknown_sampler(tiny_run):
    _, run = tiny_run
    from bench.commands import ablate

    r = CliRunner().invoke(ablate, ["--run", str(run), "--sampler", "ddim,bogus", "--i3d", "i3d-random"])
    assert r.exit_code != 0 and "unknown sampler 'bogus'" in r.output and "dpmsolver++" in r.output
