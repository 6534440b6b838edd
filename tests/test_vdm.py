"""The VDM baseline (pixel-space video diffusion): its pixel layout against its definition, config checks, and end to
end on vdm-tiny through the CLI (train, resume, sample the evaluation set); its training loss falls."""

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from cli import main
from helpers import train_tiny

pytestmark = pytest.mark.usefixtures("one_thread")


def test_pixel_signal_and_patches_against_their_definition():
    from lfdm_bench.diffusion.target import DiffusionTarget
    from baselines.vdm.train import from_signal, to_signal

    g = torch.Generator().manual_seed(0)
    video = torch.rand(2, 3, 5, 8, 8, generator=g)  # [B, 3, T, H, W] in [0, 1]
    x = to_signal(video)
    assert x.min() >= -1 and x.max() <= 1 and torch.allclose(from_signal(x), video)
    for kind, r in (("latent", 1.0), ("residual", 3.0)):
        t = DiffusionTarget(kind, 4, r)
        x0, cond = t.encode(x)
        assert x0.shape == (2, 48, 5, 2, 2) and cond.shape == (2, 48, 2, 2)
        # channel (c, p, q) of patch cell (i, j) holds pixel (c, 4i + p, 4j + q), numpy reshape as reference
        xn = x.numpy()
        want = xn if kind == "latent" else (xn - xn[:, :, :1]) * r
        ref = want.reshape(2, 3, 5, 2, 4, 2, 4).transpose(0, 1, 4, 6, 2, 3, 5).reshape(2, 48, 5, 2, 2)
        np.testing.assert_allclose(x0.numpy(), ref, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(cond.numpy(), xn[:, :, 0].reshape(2, 3, 2, 4, 2, 4).transpose(
            0, 1, 3, 5, 2, 4).reshape(2, 48, 2, 2), rtol=1e-6, atol=1e-7)
        assert torch.allclose(t.decode(x0, cond), x, atol=1e-6)


def test_vdm_config_validation():
    from baselines.vdm.config import load_vdm_config
    from lfdm_bench.config import ConfigError

    cfg = load_vdm_config("vdm-tiny")
    assert cfg.channels == 48 and cfg.pixels.target == "residual"
    assert load_vdm_config("vdm-synth-faces-cpu").channels == 48
    assert load_vdm_config("vdm-tiny", ["pixels.target=latent", "dm.diffusion.dynamic_threshold=0.9"])
    with pytest.raises((ValueError, ConfigError), match="out_heads must be empty"):
        load_vdm_config("vdm-tiny", ["dm.unet.out_heads=[2,1]"])
    with pytest.raises((ValueError, ConfigError), match="dynamic_threshold must be null"):
        load_vdm_config("vdm-tiny", ["dm.diffusion.dynamic_threshold=0.9"])
    with pytest.raises((ValueError, ConfigError), match="pixels.patch"):
        load_vdm_config("vdm-tiny", ["pixels.patch=5"])
    with pytest.raises((ValueError, ConfigError), match="pixels.target"):
        load_vdm_config("vdm-tiny", ["pixels.target=flow"])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return train_tiny(tmp_path_factory.mktemp("vdm_e2e"), "vdm", "vdm-tiny")


@pytest.mark.e2e
def test_train_writes_run_directory_and_target(trained):
    from baselines.vdm.config import load_vdm_config
    from lfdm_bench.data.loading import clip_dataset, load_data
    from lfdm_bench.data.records import spread
    from lfdm_bench.runs import Run
    from lfdm_bench.training.trained_models import load_dm

    run, _, output = trained
    for p in ("config.yaml", "run.json", "checkpoints/dm/last.pt", "logs/dm.csv", "vdm_target.json"):
        assert (run / p).is_file(), p
    assert json.loads((run / "run.json").read_text())["model"] == "vdm"
    assert not (run / "checkpoints" / "ae").exists() and "U-Net parameters" in output
    # the residual scale: 1 / std of (frame - first frame) in [-1, 1] over the scale clips, recomputed in numpy
    cfg = load_vdm_config("vdm-tiny")
    clips = clip_dataset(load_data(cfg.data), cfg.data, "train", train=False, seed=cfg.seed)
    clips.records = spread(clips.records, cfg.pixels.scale_clips)
    v = np.stack([clips.get(i).video.numpy() for i in range(len(clips))]).astype(np.float64) * 2 - 1  # [N,T,3,H,W]
    d = v[:, 1:] - v[:, :1]
    t = json.loads((run / "vdm_target.json").read_text())
    assert t["kind"] == "residual" and t["patch"] == 4 and t["scale_clips"] == 8
    assert t["residual_scale"] == pytest.approx(1 / d.std(ddof=1), rel=1e-4)
    u = load_dm(Run.open(run)).cfg.unet
    assert (u.in_channels, u.out_channels, u.cond_channels, tuple(u.out_heads)) == (48, 48, 48, ())


@pytest.mark.e2e
def test_second_train_resumes_without_retraining(trained):
    run, env, _ = trained
    before = (run / "checkpoints/dm/last.pt").stat().st_mtime_ns
    args = ["train", "--model", "vdm", "--config", "vdm-tiny", "--out", str(run), "--no-progress"]
    r = CliRunner().invoke(main, args, env=env, catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "[dm] already trained" in (run / "logs/run.log").read_text()
    assert (run / "checkpoints/dm/last.pt").stat().st_mtime_ns == before
    r = CliRunner().invoke(main, ["train", "--model", "vdm", "--config", "vdm-tiny", "--stage", "ae", "--out",
                                  str(run)], env=env)
    assert r.exit_code != 0 and "not a stage of VDM" in r.output


@pytest.mark.e2e
def test_sample_evaluation_set_like_lfdm(trained):
    from baselines.vdm.config import load_vdm_config
    from bench.generators import open_trained_run
    from lfdm_bench.data.records import read_manifest
    from lfdm_bench.data.video_io import read_video
    from lfdm_bench.lfdm.config import load_lfdm_config

    run, env, _ = trained
    assert open_trained_run(run).model == "vdm"
    out = run / "samples" / "t"
    r = CliRunner().invoke(main, ["sample", "--run", str(run), "--split", "test", "--out", str(out), "--no-progress"],
                           env=env, catch_exceptions=False)
    assert r.exit_code == 0, r.output
    recs = read_manifest(out / "manifest.csv")
    assert len(recs) == 14 and len({(r.subject, r.class_index) for r in recs}) == 14
    assert read_video(recs[0].path).shape == (8, 32, 32, 3)
    assert recs[0].params["method"] == "vdm" and json.loads((out / "settings.json").read_text())["method"] == "vdm"
    vdm, lfdm = load_vdm_config("vdm-tiny"), load_lfdm_config("tiny")
    assert vdm.data == lfdm.data and vdm.sample.seed == lfdm.sample.seed  # the same evaluation set as LFDM


def test_training_lowers_the_diffusion_loss(tmp_path, monkeypatch):
    """60 steps on vdm-tiny lower the DM's loss on fixed training clips, noise and timesteps (same draws before and
    after) to below 0.8x the untrained model's."""
    from lfdm_bench.diffusion.target import DiffusionTarget
    from baselines.vdm.config import load_vdm_config
    from baselines.vdm.train import build_vdm_dm, load_target, open_vdm_run, to_signal, train_vdm_run
    from lfdm_bench.data.loading import clip_dataset, load_data
    from lfdm_bench.training.trained_models import load_dm

    monkeypatch.setenv("LFDM_BENCH_CACHE", str(tmp_path / "cache"))
    cfg = load_vdm_config("vdm-tiny", ["dm.train.steps=150", "dm.train.lr=2e-3", "dm.train.ckpt_every=150"])
    run = open_vdm_run(cfg, tmp_path / "run")
    train_vdm_run(cfg, run, progress=False)
    info = load_data(cfg.data, progress=False)
    clips = clip_dataset(info, cfg.data, "train", train=False, seed=0)
    batch = [clips.get(i) for i in range(8)]
    video = to_signal(torch.stack([c.video for c in batch]).transpose(1, 2))
    cls = torch.tensor([c.class_index for c in batch])
    target = load_target(run)
    assert isinstance(target, DiffusionTarget) and target.kind == "residual"
    x0, cond = target.encode(video)

    def loss(model) -> float:
        torch.manual_seed(123)
        with torch.no_grad():
            return float(sum(model(x0, cond, cls) for _ in range(8)) / 8)

    torch.manual_seed(cfg.seed)
    untrained = build_vdm_dm(cfg, info.class_texts).eval()
    before, after = loss(untrained), loss(load_dm(run))
    assert after < 0.8 * before, (before, after)  # measured: 1.13 -> 0.82
