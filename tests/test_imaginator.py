"""The ImaGINator baseline (a conditional video GAN): shapes, the one-optimiser objective against a hand-written
alternating-update computation (each network gets the gradient of its own loss only), config checks, end to end on
imaginator-tiny through the CLI (train, resume, sample), and a training that learns (its reconstruction beats the
untrained generator's and the mean-frame baseline's)."""

import json

import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner

from cli import main
from helpers import train_tiny

pytestmark = pytest.mark.usefixtures("one_thread")


def _tiny(**kw):
    from baselines.imaginator.model import ImaGINator, ImaGINatorConfig

    torch.manual_seed(0)
    return ImaGINator(ImaGINatorConfig(n_frames=10, n_classes=3, channels=8, z_dim=8, class_dim=4, groups=4, **kw))


def test_generator_shapes_and_range():
    m = _tiny().eval()
    img = torch.rand(2, 3, 32, 32)
    v = m.generate(img, torch.randn(2, 8), torch.tensor([0, 2]))
    assert v.shape == (2, 3, 10, 32, 32) and 0 <= v.min() and v.max() <= 1  # 16 decoded frames cropped to 10
    u = m.generate(img, torch.randn(2, 8), None)  # the null class
    assert u.shape == v.shape and not torch.allclose(u, v)
    with pytest.raises(ValueError, match="32x32"):
        from baselines.imaginator.model import ImaGINatorConfig
        ImaGINatorConfig(image_size=64)


def test_each_network_gets_the_gradient_of_its_own_loss():
    """One backward of the summed objective = the discriminators' hinge loss for the discriminators (generated video
    detached) and the generator's loss (adversarial through the discriminators + rec_weight x L1) for the
    generator, each written out here by hand as two separate updates would compute them."""
    m = _tiny(rec_weight=3.0, class_drop=0.5)
    video, y = torch.rand(3, 3, 10, 32, 32), torch.tensor([0, 1, 2])
    torch.manual_seed(7)
    total, _ = m.loss(video, y)
    total.backward()
    got = {n: p.grad.clone() for n, p in m.named_parameters()}
    m.zero_grad()

    torch.manual_seed(7)  # the same noise and null-class draws
    real = video * 2 - 1
    z = torch.randn(3, 8)
    drop = torch.rand(3) < 0.5
    fake = m.generator(real[:, :, 0], z, torch.where(drop, torch.full_like(y, 3), y))
    fr = lambda x: x.transpose(1, 2).reshape(30, 3, 32, 32)  # noqa: E731
    yt = y.repeat_interleave(10)
    d_loss = (F.relu(1 - m.video_d(real, y)).mean() + F.relu(1 + m.video_d(fake.detach(), y)).mean()
              + F.relu(1 - m.image_d(fr(real), yt)).mean() + F.relu(1 + m.image_d(fr(fake.detach()), yt)).mean())
    d_params = [p for n, p in m.named_parameters() if not n.startswith("generator.")]
    d_grads = torch.autograd.grad(d_loss, d_params)
    g_loss = -m.video_d(fake, y).mean() - m.image_d(fr(fake), yt).mean() + 3.0 * (fake - real).abs().mean()
    g_params = [p for n, p in m.named_parameters() if n.startswith("generator.")]
    g_grads = torch.autograd.grad(g_loss, g_params, allow_unused=True)
    names_d = [n for n, _ in m.named_parameters() if not n.startswith("generator.")]
    names_g = [n for n, _ in m.named_parameters() if n.startswith("generator.")]
    for n, g in zip(names_d, d_grads):
        torch.testing.assert_close(got[n], g, rtol=1e-5, atol=1e-7, msg=n)
    for n, g in zip(names_g, g_grads):
        torch.testing.assert_close(got[n], torch.zeros_like(got[n]) if g is None else g, rtol=1e-5, atol=1e-7,
                                   msg=n)
    assert any(g.abs().sum() > 0 for g in d_grads) and any(g is not None and g.abs().sum() > 0 for g in g_grads)


def test_imaginator_config_validation():
    from baselines.imaginator.config import load_imaginator_config
    from lfdm_bench.config import ConfigError

    assert load_imaginator_config("imaginator-synth-faces-cpu").gan.model.rec_weight == 100.0
    with pytest.raises((ValueError, ConfigError), match="must equal data.size"):
        load_imaginator_config("imaginator-tiny", ["data.size=64"])
    with pytest.raises((ValueError, ConfigError), match="class_drop"):
        load_imaginator_config("imaginator-tiny", ["gan.model.class_drop=1.0"])
    with pytest.raises((ValueError, ConfigError), match="per_pair"):
        load_imaginator_config("imaginator-tiny", ["sample.per_pair=0"])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return train_tiny(tmp_path_factory.mktemp("imaginator_e2e"), "imaginator", "imaginator-tiny")


@pytest.mark.e2e
def test_train_resume_and_sample(trained):
    from bench.generators import open_trained_run
    from lfdm_bench.data.records import read_manifest
    from lfdm_bench.data.video_io import read_video

    run, env, output = trained
    for p in ("config.yaml", "run.json", "checkpoints/gan/last.pt", "logs/gan.csv"):
        assert (run / p).is_file(), p
    assert json.loads((run / "run.json").read_text())["model"] == "imaginator" and "discriminator" in output
    header = (run / "logs/gan.csv").read_text().splitlines()[0]
    assert all(k in header for k in ("d_video", "d_image", "g_adv", "rec_l1"))
    before = (run / "checkpoints/gan/last.pt").stat().st_mtime_ns
    r = CliRunner().invoke(main, ["train", "--model", "imaginator", "--config", "imaginator-tiny", "--out", str(run),
                                  "--no-progress"], env=env, catch_exceptions=False)
    assert r.exit_code == 0 and "[gan] already trained" in (run / "logs/run.log").read_text()
    assert (run / "checkpoints/gan/last.pt").stat().st_mtime_ns == before

    trained_run = open_trained_run(run)
    assert trained_run.model == "imaginator"
    out = run / "samples" / "t"
    r = CliRunner().invoke(main, ["sample", "--run", str(run), "--out", str(out), "--no-progress"], env=env,
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    recs = read_manifest(out / "manifest.csv")
    assert len(recs) == 14 and recs[0].params["method"] == "imaginator"
    assert read_video(recs[0].path).shape == (8, 32, 32, 3)
    assert json.loads((out / "settings.json").read_text())["sampler"] == "generator"
    # the same evaluation set and per-source seeds as the diffusion generators; a GAN has no sampler settings
    with pytest.raises(ValueError, match="no sampler settings"):
        trained_run.sample(split="test", out=run / "samples" / "u", steps=10, progress=False)
    r = CliRunner().invoke(main, ["sample", "--run", str(run), "--out", str(out), "--no-progress"], env=env,
                           catch_exceptions=False)
    assert len(read_manifest(out / "manifest.csv")) == 14  # resumed: nothing added


def test_training_learns_to_reconstruct(tmp_path, monkeypatch):
    """200 steps on imaginator-tiny: the L1 of the generated to the real training videos (fixed noise) falls far
    below the untrained generator's, and below a video of the dataset's mean frame repeated."""
    from baselines.imaginator.config import load_imaginator_config
    from baselines.imaginator.train import build_imaginator, load_imaginator, open_imaginator_run, train_imaginator_run
    from lfdm_bench.data.loading import clip_dataset, load_data

    monkeypatch.setenv("LFDM_BENCH_CACHE", str(tmp_path / "cache"))
    cfg = load_imaginator_config("imaginator-tiny", ["gan.train.steps=200", "gan.train.lr=1e-3",
                                                     "gan.train.ckpt_every=200", "gan.train.log_every=50"])
    run = open_imaginator_run(cfg, tmp_path / "run")
    train_imaginator_run(cfg, run, progress=False)
    info = load_data(cfg.data, progress=False)
    clips = clip_dataset(info, cfg.data, "train", train=False, seed=0)
    video = torch.stack([clips.get(i).video for i in range(len(clips))]).transpose(1, 2)  # [N, 3, T, H, W]
    y = torch.tensor([clips.get(i).class_index for i in range(len(clips))])
    z = torch.randn(len(clips), cfg.gan.model.z_dim, generator=torch.Generator().manual_seed(0))

    def l1(model) -> float:
        with torch.no_grad():
            return float((model.generate(video[:, :, 0], z, y) - video).abs().mean())

    torch.manual_seed(cfg.seed)
    untrained = build_imaginator(cfg, info.n_classes).eval()
    mean_frame = float((video.mean((0, 2), keepdim=True) - video).abs().mean())
    before, after = l1(untrained), l1(load_imaginator(run))
    assert after < 0.5 * before and after < mean_frame, (before, after, mean_frame)
