"""Calibration baselines as sample folders: retrieval (real training motion of another subject, transferred by the
LFAE), static (the source image repeated) and real (another real take), on a tiny LFDM run."""

import json

import pytest
import torch

from lfdm_bench.data.records import read_manifest
from lfdm_bench.data.video_io import read_video


pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("one_thread")]


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
    from baselines.retrieval import sample_baseline
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
    from baselines.retrieval import _by_class, retrieve
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
    from baselines.retrieval import retrieval_generator
    from lfdm_bench.sampling.eval_set import build_eval_set
    from lfdm_bench.sampling.generate import source_images
    from lfdm_bench.data.loading import load_data
    from lfdm_bench.training.trained_models import load_lfae

    run, cfg, _ = cache_env
    info = load_data(cfg.data)
    sources = build_eval_set(info.records, "test")[:3]
    gen = retrieval_generator(load_lfae(run), info.split("train"), cfg.data.n_frames, cfg.data.size)
    with torch.no_grad():
        out = gen(source_images(sources, cfg.data.size), sources)
    assert out.shape == (3, cfg.data.n_frames, 3, 32, 32)
    assert 0 <= out.min() and out.max() <= 1


def test_static_frames_equal_the_source(cache_env):
    from baselines.retrieval import sample_baseline
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
    from baselines.retrieval import sample_baseline

    run, cfg, _ = cache_env
    manifest = sample_baseline(run.root, "real", "test", progress=False)
    recs = read_manifest(manifest)
    assert manifest.parent.name == "test_real" and len(recs) == 14
    assert all(r.params["method"] == "real" and r.split == "test" for r in recs)
    assert read_video(recs[0].path).shape == (cfg.data.n_frames, 32, 32, 3)


def test_real_fresh_folder_holds_fresh_takes_that_start_at_the_source_image(cache_env):
    """real_fresh: one fresh real take per source, of the source's subject and class but not a video of the dataset
    (another motion), read like the reference clips; its frame 0 is the source image."""
    import json

    from baselines.retrieval import sample_baseline
    from lfdm_bench.data.dataset import ClipDataset
    from lfdm_bench.data.loading import load_data
    from lfdm_bench.sampling.eval_set import build_eval_set
    from lfdm_bench.sampling.generate import source_images

    run, cfg, _ = cache_env
    manifest = sample_baseline(run.root, "real_fresh", "test", progress=False)
    recs = read_manifest(manifest)
    assert manifest.parent.name == "test_real_fresh" and len(recs) == 14
    assert all(r.params["method"] == "real_fresh" for r in recs)
    settings = json.loads((manifest.parent / "settings.json").read_text())
    assert "takes 1..1" in json.dumps(settings) and "source image" in json.dumps(settings)
    sources = {s.sample_id: s for s in build_eval_set(load_data(cfg.data).records, "test")}
    for r in recs:
        src = sources[r.take]
        assert (r.subject, r.class_index) == (src.subject, src.class_index)
        v = _frames(r.path)  # [T, H, W, 3]
        image = source_images([src], cfg.data.size)[0].permute(1, 2, 0) * 255
        assert (v[0] - image).abs().max() <= 2  # frame 0 = the source image (up to RGB <-> YUV rounding)
        own = ClipDataset([src.record], n_frames=cfg.data.n_frames, size=cfg.data.size).get(0).video
        assert (v - 255 * own.permute(0, 2, 3, 1)).abs().max() > 20  # another take: another motion


def test_lfae_rows_render_predicted_and_target_fitted_flows(cache_env):
    """lfae renders the flow predictor's flows, lfae_fit flows fitted to the target frames: different videos, and the
    fitted flows warp frame 0 closer to the target (what the refinement minimises)."""
    import json

    from baselines.retrieval import sample_baseline
    from lfdm_bench.data.loading import clip_dataset, load_data
    from lfdm_bench.training.trained_models import load_lfae
    from lfdm_bench.lfdm.reconstruction import LFAE_FITTED, LFAE_PREDICTED, lfae_reconstructor
    from metrics.reconstruction import reconstruction_scores

    run, cfg, _ = cache_env
    folders = {k: sample_baseline(run.root, k, "test", progress=False, batch_size=14).parent
               for k in ("lfae", "lfae_fit")}
    flows = {k: json.loads((f / "settings.json").read_text())["flows"] for k, f in folders.items()}
    assert "predictor" in flows["lfae"] and "20 Adam steps" in flows["lfae_fit"] and "oracle" in flows["lfae_fit"]
    a, b = (_frames(read_manifest(f / "manifest.csv")[0].path) for f in folders.values())
    assert (a - b).abs().max() > 1
    clips = clip_dataset(load_data(cfg.data), cfg.data, "test", train=False)
    clips.records = clips.records[:4]
    scores = reconstruction_scores(lfae_reconstructor(load_lfae(run)), clips)
    assert set(scores) == {LFAE_PREDICTED, LFAE_FITTED, "warp-only (predicted flows)",
                           "warp-only (flows fitted to the target)", "copy-frame-0"}
    assert scores["warp-only (flows fitted to the target)"]["l1"] < scores["warp-only (predicted flows)"]["l1"]


def test_extended_takes_keep_the_datasets_own_takes_and_add_fresh_ones(tmp_path):
    from lfdm_bench.data.synth.make import ensure_synthetic
    from lfdm_bench.data.synth.takes import extended_takes

    opts = dict(n_subjects=2, n_takes=1, size=32, frames=8, n_train_subjects=1)
    own = {r.key: r for r in read_manifest(ensure_synthetic("synth-faces", tmp_path, False, **opts))}
    recs = extended_takes("synth-faces", 2, splits=["test"], root=tmp_path, progress=False, **opts)
    assert len(recs) == 7 * 3 and {r.split for r in recs} == {"test"}
    for r in recs:
        k = r.params["take_index"]
        assert r.params["fresh"] == (k >= 1)
        if k == 0:  # bit-identical to the dataset's own video
            assert (read_video(r.path) == read_video(own[r.key].path)).all()
    fresh = extended_takes("synth-faces", 2, splits=["test"], fresh_only=True, root=tmp_path, progress=False, **opts)
    assert [r.path for r in fresh] == [r.path for r in recs if r.params["take_index"] >= 1]
    with pytest.raises(ValueError, match="embedded datasets"):
        extended_takes("mug", 1)


def test_unknown_baseline_names_the_valid_ones(cache_env):
    from baselines.retrieval import sample_baseline

    with pytest.raises(ValueError, match="static, real, retrieval"):
        sample_baseline(cache_env[0].root, "copy", "test")


def test_retrieval_reads_the_dm_training_targets(cache_env, tmp_path):
    """Retrieval's motion is stage 2's training target of the retrieved video: once training has precomputed them,
    they are read from RUN/cache instead of refined again, and the videos are the same."""
    from baselines.retrieval import sample_baseline
    from lfdm_bench.data.loading import clip_dataset, load_data
    from lfdm_bench.training.dm_targets import DM_TARGETS, cached_dm_targets, compute_dm_targets, dm_targets_key
    from lfdm_bench.training.items import cached_tensors
    from lfdm_bench.training.trained_models import load_lfae

    run, cfg, _ = cache_env
    info, lfae = load_data(cfg.data), load_lfae(run, torch.device("cpu"))
    train = info.split("train")
    n, size = cfg.data.n_frames, cfg.data.size
    assert cached_dm_targets(run, lfae, train, n, size) is None  # nothing precomputed yet
    computed = sample_baseline(run.root, "retrieval", "test", out=tmp_path / "computed", progress=False)

    clips = clip_dataset(info, cfg.data, "train", train=False)  # what train_dm precomputes
    made = cached_tensors(run, DM_TARGETS, dm_targets_key(run, lfae, clips.records, n, size),
                          lambda: compute_dm_targets(lfae, clips, progress=False), "LFAE targets")
    try:
        known = cached_dm_targets(run, lfae, train, n, size)
        assert known is not None and set(known) == {r.path for r in train}
        assert torch.equal(known[train[3].path], made["target"][3])
        assert cached_dm_targets(run, lfae, train[:-1], n, size) is None  # other records: another key
        read = sample_baseline(run.root, "retrieval", "test", out=tmp_path / "read", progress=False)
        assert "read from the DM training cache" in run.path("logs", "run.log").read_text()
        for a, b in zip(read_manifest(computed), read_manifest(read)):
            assert torch.equal(_frames(a.path), _frames(b.path))
    finally:
        for f in (run.root / "cache").glob(f"{DM_TARGETS}_*.pt"):
            f.unlink()
