"""Calibration baselines as sample folders: retrieval (real training motion of another subject, transferred by the
LFAE), static (the source image repeated) and real (another real take), on a tiny LFDM run."""

import json

import pytest
import torch

from lfdm_bench.data.records import read_manifest
from lfdm_bench.data.video_io import read_video


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def lfdm_run(tmp_path_factory):
    """A tiny LFDM run with a (barely) trained LFAE: retrieval needs only stage 1."""
    from lfdm_bench.config import load_config, resolve_config_path
    from lfdm_bench.lfdm.config import LFDMConfig
    from lfdm_bench.lfdm.train import open_lfdm_run, train_lfae

    root = tmp_path_factory.mktemp("retrieval")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LFDM_BENCH_CACHE", str(root / "cache"))
        torch.set_num_threads(1)
        cfg = load_config(LFDMConfig, resolve_config_path("tiny"), ["lfae.train.steps=2"])
        run = open_lfdm_run(cfg, root / "run")
        train_lfae(cfg, run, progress=False)
        yield run, cfg, root


@pytest.fixture()
def cache_env(lfdm_run, monkeypatch):
    monkeypatch.setenv("LFDM_BENCH_CACHE", str(lfdm_run[2] / "cache"))
    return lfdm_run


def _frames(path):
    return torch.from_numpy(read_video(path)).float()  # [T, H, W, 3] uint8 -> float


def test_retrieval_folder(cache_env):
    from lfdm_bench.baselines.retrieval import sample_baseline
    from lfdm_bench.data.loading import load_data

    run, cfg, _ = cache_env
    manifest = sample_baseline(run.root, "retrieval", "test", progress=False)
    folder = manifest.parent
    assert folder == run.samples / "test_retrieval"
    recs = read_manifest(manifest)
    assert len(recs) == 14 and len({(r.subject, r.class_index) for r in recs}) == 14
    assert all(r.params["method"] == "retrieval" and "seed" in r.params for r in recs)
    assert read_video(recs[0].path).shape == (cfg.data.n_frames, 32, 32, 3)
    assert json.loads((folder / "settings.json").read_text())["method"] == "retrieval"
    # the motion comes from a training video of the requested class and of another subject
    info = load_data(cfg.data)
    by_path = {r.path: r for r in info.records}
    chosen = json.loads((folder / "retrieved.json").read_text())
    assert set(chosen) == {r.take for r in recs}
    for r in recs:
        got = by_path[chosen[r.take]]
        assert got.split == "train" and got.class_index == r.class_index and got.subject != r.subject


def test_retrieve_is_deterministic_and_avoids_the_source_subject(cache_env):
    from lfdm_bench.baselines.retrieval import _by_class, retrieve
    from lfdm_bench.sampling.eval_set import build_eval_set
    from lfdm_bench.data.loading import load_data

    _, cfg, _ = cache_env
    info = load_data(cfg.data)
    by_class = _by_class(info.split("train"))
    for src in build_eval_set(info.records, "train"):  # train sources: the own subject is a candidate to avoid
        got = retrieve(by_class, src)
        assert got.subject != src.subject and got.class_index == src.class_index and got.split == "train"
        assert retrieve(by_class, src) == got
    only_own = {c: [r for r in recs if r.subject == src.subject] for c, recs in by_class.items()}
    with pytest.raises(ValueError, match="another|other than"):
        retrieve(only_own, src)


def test_retrieval_generator_shape(cache_env):
    from lfdm_bench.baselines.retrieval import retrieval_generator
    from lfdm_bench.sampling.eval_set import build_eval_set
    from lfdm_bench.sampling.generate import source_images
    from lfdm_bench.data.loading import load_data
    from lfdm_bench.lfdm.load import load_lfae

    run, cfg, _ = cache_env
    info = load_data(cfg.data)
    sources = build_eval_set(info.records, "test")[:3]
    gen = retrieval_generator(load_lfae(run), info.split("train"), cfg.data.n_frames, cfg.data.size)
    with torch.no_grad():
        out = gen(source_images(sources, cfg.data.size), sources)
    assert out.shape == (3, cfg.data.n_frames, 3, 32, 32)
    assert 0 <= out.min() and out.max() <= 1


def test_static_frames_equal_the_source(cache_env):
    from lfdm_bench.baselines.retrieval import sample_baseline
    from lfdm_bench.sampling.eval_set import build_eval_set
    from lfdm_bench.sampling.generate import source_images
    from lfdm_bench.data.loading import load_data

    run, cfg, _ = cache_env
    manifest = sample_baseline(run.root, "static", "test", progress=False)
    recs = read_manifest(manifest)
    assert len(recs) == 14 and all(r.params["method"] == "static" for r in recs)
    sources = {s.sample_id: s for s in build_eval_set(load_data(cfg.data).records, "test")}
    for r in recs[:3]:
        v = _frames(r.path)  # [T, H, W, 3] in 0..255 after an mp4 round trip
        assert v.shape[0] == cfg.data.n_frames
        assert (v - v[:1]).abs().max() <= 8  # every frame is the same image (up to codec noise)
        src = source_images([sources[r.take]], cfg.data.size)[0].permute(1, 2, 0) * 255
        assert (v[0] - src).abs().mean() < 8


def test_real_folder(cache_env):
    from lfdm_bench.baselines.retrieval import sample_baseline

    run, cfg, _ = cache_env
    manifest = sample_baseline(run.root, "real", "test", progress=False)
    recs = read_manifest(manifest)
    assert manifest.parent.name == "test_real" and len(recs) == 14
    assert all(r.params["method"] == "real" and r.split == "test" for r in recs)
    assert read_video(recs[0].path).shape == (cfg.data.n_frames, 32, 32, 3)


def test_unknown_baseline_names_the_valid_ones(cache_env):
    from lfdm_bench.baselines.retrieval import sample_baseline

    with pytest.raises(ValueError, match="static, real, retrieval"):
        sample_baseline(cache_env[0].root, "copy", "test")
