"""End to end on the tiny config: train both LFDM stages, score the LFAE, sample an evaluation set, resume."""

import json

import pytest
from click.testing import CliRunner

from cli import main

pytestmark = pytest.mark.e2e  # trains or runs the pipeline: deselect with -m 'not e2e'


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    run = root / "run"
    env = {"LFDM_BENCH_CACHE": str(root / "cache")}
    r = CliRunner().invoke(main, ["train", "--config", "tiny", "--out", str(run), "--no-progress"], env=env,
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return run, env, r.output


def test_train_writes_run_directory(trained):
    run, _, output = trained
    for p in ("config.yaml", "env.json", "checkpoints/lfae/last.pt", "checkpoints/dm/last.pt", "logs/lfae.csv",
              "logs/dm.csv", "metrics/lfae_reconstruction.json", "samples/progress/lfae_step000006.gif",
              "samples/progress/dm_step000006.gif"):
        assert (run / p).is_file(), p
    scores = json.loads((run / "metrics/lfae_reconstruction.json").read_text())["scores"]
    assert set(scores) == {"LFAE (predicted flows)", "LFAE (flows fitted to the target)", "warp-only (predicted flows)",
                           "warp-only (flows fitted to the target)", "copy-frame-0"}
    assert "copy-frame-0" in output


def test_second_train_resumes_without_retraining(trained):
    run, env, _ = trained
    before = (run / "checkpoints/dm/last.pt").stat().st_mtime_ns
    r = CliRunner().invoke(main, ["train", "--config", "tiny", "--out", str(run), "--stage", "dm", "--no-progress"],
                           env=env, catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "already trained" in (run / "logs/run.log").read_text()
    assert (run / "checkpoints/dm/last.pt").stat().st_mtime_ns >= before


def test_changed_config_refuses_to_mix_runs(trained):
    run, env, _ = trained
    r = CliRunner().invoke(main, ["train", "--config", "tiny", "--out", str(run), "--set", "dm.train.lr=1e-3"], env=env)
    assert r.exit_code != 0 and "different config" in r.output


def test_sample_evaluation_set(trained):
    from lfdm_bench.data.records import read_manifest
    from lfdm_bench.data.video_io import read_video

    run, env, _ = trained
    out = run / "samples" / "t"
    r = CliRunner().invoke(main, ["sample", "--run", str(run), "--split", "test", "--out", str(out), "--no-progress"],
                           env=env, catch_exceptions=False)
    assert r.exit_code == 0, r.output
    recs = read_manifest(out / "manifest.csv")
    # tiny: 4 subjects -> 2 test subjects x 7 classes, one video per pair
    assert len(recs) == 14 and {r.split for r in recs} == {"test"}
    assert len({(r.subject, r.class_index) for r in recs}) == 14
    v = read_video(recs[0].path)
    assert v.shape == (8, 32, 32, 3)
    assert recs[0].params["sampler"] == "ddim" and "seed" in recs[0].params and "source" in recs[0].params
    # sampling again skips what is already written
    r = CliRunner().invoke(main, ["sample", "--run", str(run), "--split", "test", "--out", str(out), "--no-progress"],
                           env=env, catch_exceptions=False)
    assert len(read_manifest(out / "manifest.csv")) == 14
