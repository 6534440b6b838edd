"""Tests of the embedded synthetic datasets (``lfdm_bench.data.synth``) on tiny sets generated in tmp folders."""

from __future__ import annotations

import os

import numpy as np
import pytest

from lfdm_bench.data.records import read_manifest
from lfdm_bench.data.synth import (
    SYNTH_DATASETS,
    SynthConfig,
    dataset_records,
    ensure_synthetic,
    is_complete,
    load_synthetic_info,
    make_config,
    render_take,
    subject_appearance,
    take_motion,
)
from lfdm_bench.data.synth import make as synth_make
from lfdm_bench.data.synth import render as R
from lfdm_bench.data.synth.faces import CLASS_NAMES as FACE_CLASSES
from lfdm_bench.data.synth.faces import render_face, sample_expression, sample_face
from lfdm_bench.data.video_io import count_frames, read_video

MUG_CLASSES = ("anger", "disgust", "fear", "happiness", "neutral", "sadness", "surprise")
MHAD_TEXTS = (
    "right arm swipe to the left", "right arm swipe to the right", "right hand wave", "two hand front clap",
    "right arm throw", "cross arms in the chest", "basketball shooting", "draw x", "draw circle clockwise",
    "draw circle counter clockwise", "draw triangle", "right hand bowling", "front boxing",
    "baseball swing from right", "tennis forehand swing", "two arms curl", "tennis serve", "two hand push",
    "knock on door", "hand catch", "pick up and throw", "jogging", "walking", "sit to stand", "stand to sit",
    "forward lunge (left foot forward)", "squat",
)
TINY = {"synth-faces": dict(n_subjects=8, n_takes=2, size=32, frames=12),
        "synth-actions": dict(n_subjects=6, n_takes=2, size=32, frames=12)}


@pytest.fixture(scope="module", params=sorted(TINY))
def tiny(request, tmp_path_factory):
    """A tiny generated dataset: (name, overrides, manifest path, records, videos [N, T, H, W, 3])."""
    name = request.param
    root = tmp_path_factory.mktemp(name)
    manifest = ensure_synthetic(name, root=root, progress=False, **TINY[name])
    records = read_manifest(manifest)
    videos = np.stack([read_video(r.path) for r in records])
    return name, TINY[name], manifest, records, videos


# ------------------------------------------------------------------------------------------------ config, classes

def test_class_names_and_texts():
    assert SYNTH_DATASETS["synth-faces"].class_names == MUG_CLASSES
    assert SYNTH_DATASETS["synth-faces"].class_texts == MUG_CLASSES
    acts = SYNTH_DATASETS["synth-actions"]
    assert len(acts.class_names) >= 10 and set(acts.class_texts) <= set(MHAD_TEXTS)
    assert [MHAD_TEXTS.index(t) + 1 for t in acts.class_texts] == acts.extra["mhad_ids"]


def test_config_defaults_and_errors():
    c = make_config("synth-faces")
    assert (c.n_subjects, c.n_train_subjects, c.n_takes, c.size, c.frames, c.style) == (52, 26, 3, 64, 16, "flat")
    a = make_config("synth-actions")
    assert a.n_subjects >= 16 and a.n_train_subjects == a.n_subjects // 2 and 2 <= a.n_takes <= 3
    with pytest.raises(ValueError, match="unknown synthetic dataset"):
        make_config("synth-cars")
    with pytest.raises(TypeError, match="unknown SynthConfig option.*'sise'"):
        make_config("synth-faces", sise=32)
    with pytest.raises(ValueError, match="size must be in \\[32, 128\\]"):
        SynthConfig(size=16)
    with pytest.raises(ValueError, match="frames must be in \\[8, 64\\]"):
        SynthConfig(frames=100)
    with pytest.raises(ValueError, match="style must be one of"):
        SynthConfig(style="oil")
    with pytest.raises(ValueError, match="n_train_subjects"):
        SynthConfig(n_subjects=4, n_train_subjects=4)
    with pytest.raises(TypeError, match="n_takes must be an int"):
        SynthConfig(n_takes=2.5)
    assert SynthConfig(seed=1).cache_key() != SynthConfig(seed=2).cache_key()


# ------------------------------------------------------------------------------------------------ rendering

@pytest.mark.parametrize("name", sorted(TINY))
def test_deterministic_given_seed(name):
    cfg = make_config(name, size=32, frames=8, n_subjects=4)
    a, b = render_take(cfg, 1, 2, 0), render_take(cfg, 1, 2, 0)
    assert a.dtype == np.uint8 and a.shape == (8, 32, 32, 3)
    np.testing.assert_array_equal(a, b)
    other = render_take(make_config(name, size=32, frames=8, n_subjects=4, seed=1), 1, 2, 0)
    assert np.abs(a.astype(int) - other).mean() > 5


@pytest.mark.parametrize("name", sorted(TINY))
def test_first_frame_hides_the_class(name):
    cfg = make_config(name, size=32, frames=10, n_subjects=3)
    first = [render_take(cfg, 0, c, 1)[0] for c in range(len(cfg.spec.class_names))]
    for f in first[1:]:
        np.testing.assert_array_equal(f, first[0])


def test_expressions_reveal_hidden_content():
    """Surprise opens the mouth (dark cavity, teeth) and widens the eyes (sclera) absent from frame 0."""
    app = sample_face(np.random.default_rng(3))
    app.update(glasses=None, hat=None, bg=[0.2, 0.3, 0.6], skin=[0.8, 0.6, 0.45])
    m = sample_expression(np.random.default_rng(0), FACE_CLASSES.index("surprise"), 16)
    m.update(release=False, amplitude=1.0, blinks=[])
    v = render_face(app, m, 64, 16).astype(int)
    white = (np.abs(v - [246, 246, 240]).max(-1) < 14).sum((1, 2))  # sclera and teeth
    dark = ((v[..., 0] < 110) & (v[..., 1] < 40)).sum((1, 2))  # mouth cavity
    assert white[-1] > 1.5 * white[0] and dark[-1] > dark[0] + 20


def test_neutral_moves_little():
    cfg = make_config("synth-faces", size=32, frames=12, n_subjects=3)
    videos = [[render_take(cfg, s, c, 0).astype(float) for c in range(7)] for s in range(3)]
    energy = np.array([[np.abs(v[1:] - v[:1]).mean() for v in row] for row in videos]).mean(0)  # [7]
    neutral = FACE_CLASSES.index("neutral")
    assert energy[neutral] < 0.4 * np.delete(energy, neutral).min()


@pytest.mark.parametrize("name", sorted(TINY))
def test_shifted_style_keeps_motion(name):
    flat = make_config(name, size=32, frames=12, n_subjects=3)
    sketch = make_config(name, size=32, frames=12, n_subjects=3, style="sketch")
    assert subject_appearance(flat, 1) == subject_appearance(sketch, 1)
    assert take_motion(flat, 1, 3, 0) == take_motion(sketch, 1, 3, 0)
    assert [r.params["motion"] for r in dataset_records(flat, "x")] == [r.params["motion"] for r in
                                                                          dataset_records(sketch, "x")]

    def energy(v):  # where and when it moves: per-frame change from frame 0 on a 4 x 4 grid
        return _pool(np.abs(v.astype(float) - v[:1]).mean(-1, keepdims=True), 4).ravel()

    same, other = [], []
    for c in (1, 3, 5):
        a, b = render_take(flat, 1, c, 0), render_take(sketch, 1, c, 0)
        assert np.abs(a.astype(float) - b).mean() > 20  # a different appearance domain ...
        same.append(np.corrcoef(energy(a), energy(b))[0, 1])
        other.append(np.corrcoef(energy(a), energy(render_take(sketch, 1, c + 1, 0)))[0, 1])
    assert min(same) > 0.55 and np.mean(same) > np.mean(other) + 0.1  # ... moving the same way
    assert make_config(name, style="shaded").cache_key() != flat.cache_key()


def test_render_primitives():
    u, v, px = R.pixel_grid(64)
    area = R.coverage(R.sdf_circle(u, v, 0.1, -0.05, 0.5), px).sum() * px * px
    assert abs(area - np.pi * 0.25) < 0.01 * np.pi * 0.25  # antialiased coverage integrates to the true area
    square = np.array([[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5]])
    d = R.sdf_polygon(u, v, square)[0]
    assert d[32, 32] < 0 < d[0, 0] and abs(R.coverage(d, px).sum() * px * px - 1.0) < 0.01
    e = R.sdf_ellipse(u, v, 0, 0, 0.6, 0.3)
    assert abs(R.coverage(e, px).sum() * px * px - np.pi * 0.18) < 0.01
    base = np.zeros((1, 64, 64, 3), np.float32)
    red = R.shade(R.sdf_circle(u, v, 0, 0, 0.4)[None], (1, 0, 0), "flat", px)
    blue = R.shade(R.sdf_circle(u, v, 0, 0, 0.4)[None], (0, 0, 1), "flat", px)
    for order in ([(*red, np.ones((1, 64, 64))), (*blue, np.zeros((1, 64, 64)))],
                  [(*blue, np.zeros((1, 64, 64))), (*red, np.ones((1, 64, 64)))]):
        np.testing.assert_allclose(R.composite_depth(base, order)[0, 32, 32], [1, 0, 0])  # the nearer layer wins
    with pytest.raises(ValueError, match="style must be one of"):
        R.Painter(2, 32, "watercolour")


# ------------------------------------------------------------------------------------------------ generated sets

@pytest.mark.e2e  # a whole command / evaluation / dataset build or a subprocess: the full suite runs it
def test_manifest_splits_and_videos(tiny):
    name, ov, manifest, records, videos = tiny
    spec = SYNTH_DATASETS[name]
    n_cls = len(spec.class_names)
    assert len(records) == ov["n_subjects"] * n_cls * ov["n_takes"]
    subj = {s: {r.subject for r in records if r.split == s} for s in ("train", "test")}
    assert not subj["train"] & subj["test"]
    assert len(subj["train"]) == ov["n_subjects"] // 2 and len(subj["test"]) == ov["n_subjects"] - len(subj["train"])
    pairs = {(r.subject, r.class_index, r.take) for r in records}
    for split, ss in subj.items():
        assert {(s, c, f"t{k}") for s in ss for c in range(n_cls) for k in range(ov["n_takes"])} <= pairs
    for r in records:
        assert r.text == r.class_name == spec.class_names[r.class_index]
        assert r.n_frames == ov["frames"] and {"appearance", "motion"} <= set(r.params)
    assert videos.shape == (len(records), ov["frames"], ov["size"], ov["size"], 3) and videos.dtype == np.uint8
    assert count_frames(records[0].path) == ov["frames"]
    info = load_synthetic_info(manifest.parent)
    assert info["name"] == name and info["class_names"] == list(spec.class_names)
    assert info["class_texts"] == list(spec.class_texts)
    assert sorted(info["splits"]["train"]) == sorted(subj["train"]) and info["config"]["size"] == ov["size"]
    assert load_synthetic_info(manifest) == info
    # what was written is what render_take gives (up to mp4 coding), and frame 0 does not show the class
    cfg = make_config(name, **ov)
    r = records[5]
    ref = render_take(cfg, r.params["subject_index"], r.class_index, r.params["take_index"])
    assert np.abs(ref.astype(float) - videos[5]).mean() < 1.0
    same_subject = videos[[i for i, q in enumerate(records) if q.subject == records[0].subject]].astype(float)
    first = np.abs(same_subject[:, 0] - same_subject[:1, 0]).mean(axis=(1, 2, 3))
    later = np.abs(same_subject[:, 1:] - same_subject[:1, 1:]).mean(axis=(2, 3, 4)).max(1)  # [N]: the most apart
    assert first.max() < 0.5 and later.mean() > 2.0  # lossless coding keeps equal frames equal


def _pool(x: np.ndarray, g: int) -> np.ndarray:
    """[..., H, W, C] -> [..., g, g, C] block means."""
    *lead, h, w, c = x.shape
    return x.reshape(*lead, g, h // g, g, w // g, c).mean((-4, -2))


def _nearest_centroid(xtr, ytr, xte, yte, n_cls) -> float:
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
    xtr, xte = (xtr - mu) / sd, (xte - mu) / sd
    cent = np.stack([xtr[ytr == c].mean(0) for c in range(n_cls)])
    return float((((xte[:, None] - cent[None]) ** 2).sum(-1).argmin(1) == yte).mean())


@pytest.mark.e2e  # a whole command / evaluation / dataset build or a subprocess: the full suite runs it
def test_class_is_in_the_motion_not_the_first_frame(tiny):
    """Nearest-centroid on train subjects, scored on test subjects: motion features predict the class, the first
    frame's appearance does not."""
    name, ov, _, records, videos = tiny
    n_cls = len(SYNTH_DATASETS[name].class_names)
    x = videos.astype(np.float32) / 255.0
    diff = _pool(np.abs(x[:, 1:] - x[:, :1]).mean(-1, keepdims=True), 8)  # [N, T-1, 8, 8, 1]
    motion = np.concatenate([d.mean(1).reshape(len(x), -1) for d in np.array_split(diff, 3, axis=1)], 1)
    appearance = _pool(x[:, 0], 4).reshape(len(x), -1)
    y = np.array([r.class_index for r in records])
    tr = np.array([r.split == "train" for r in records])
    acc_m = _nearest_centroid(motion[tr], y[tr], motion[~tr], y[~tr], n_cls)
    acc_a = _nearest_centroid(appearance[tr], y[tr], appearance[~tr], y[~tr], n_cls)
    chance = 1.0 / n_cls
    assert acc_m >= 3 * chance, f"{name}: motion accuracy {acc_m:.2f}, chance {chance:.2f}"
    assert acc_a <= 2 * chance, f"{name}: first-frame accuracy {acc_a:.2f}, chance {chance:.2f}"


# ------------------------------------------------------------------------------------------------ cache

def test_cache_is_reused(tiny, monkeypatch):
    name, ov, manifest, _, _ = tiny
    before = os.stat(manifest).st_mtime_ns

    def no_render(job):
        raise AssertionError("a complete cache must not be regenerated")

    monkeypatch.setattr(synth_make, "_render_and_write", no_render)
    assert ensure_synthetic(name, root=manifest.parent.parent, progress=False, **ov) == manifest
    assert os.stat(manifest).st_mtime_ns == before
    assert manifest.parent.name == make_config(name, **ov).cache_key()


def test_incomplete_cache_is_resumed(tmp_path, monkeypatch):
    ov = dict(n_subjects=2, n_takes=1, size=32, frames=8)
    real = synth_make._render_and_write
    done = []

    def dies_after_five(job):
        if len(done) == 5:
            raise KeyboardInterrupt("killed mid-generation")
        done.append(real(job))
        return done[-1]

    monkeypatch.setattr(synth_make, "_render_and_write", dies_after_five)
    with pytest.raises(KeyboardInterrupt):
        ensure_synthetic("synth-faces", root=tmp_path, progress=False, **ov)
    folder = synth_make.cache_folder(make_config("synth-faces", **ov), tmp_path)
    assert not is_complete(folder) and not (folder / "manifest.csv").exists()
    with pytest.raises(FileNotFoundError, match="complete synthetic dataset"):
        load_synthetic_info(folder)
    kept = {p: os.stat(p).st_mtime_ns for p in done}
    monkeypatch.setattr(synth_make, "_render_and_write", real)
    manifest = ensure_synthetic("synth-faces", root=tmp_path, progress=False, **ov)
    assert is_complete(folder) and len(read_manifest(manifest)) == 14
    assert all(os.stat(p).st_mtime_ns == t for p, t in kept.items())  # finished videos were kept
    assert not list(folder.rglob("*.tmp"))
    # a lost marker makes the folder incomplete again; the next call completes it without re-rendering videos
    (folder / "COMPLETE").unlink()
    monkeypatch.setattr(synth_make, "_render_and_write", dies_after_five)
    assert ensure_synthetic("synth-faces", root=tmp_path, progress=False, **ov) == manifest and is_complete(folder)


def test_workers_do_not_change_the_videos(tmp_path):
    ov = dict(n_subjects=2, n_takes=1, size=32, frames=8, seed=5)
    records = read_manifest(ensure_synthetic("synth-faces", root=tmp_path, progress=False, workers=2, **ov))
    cfg = make_config("synth-faces", **ov)
    for r in records[::5]:
        ref = render_take(cfg, r.params["subject_index"], r.class_index, r.params["take_index"])
        assert np.abs(read_video(r.path).astype(float) - ref).mean() < 1.0
    with pytest.raises(ValueError, match="workers must be an int >= 1"):
        ensure_synthetic("synth-faces", root=tmp_path, progress=False, workers=0, **ov)


# ------------------------------------------------------------------------------------------------ validation split
@pytest.mark.e2e  # a whole command / evaluation / dataset build or a subprocess: the full suite runs it
def test_validation_subjects_are_new_and_leave_train_test_alone(tmp_path):
    """The val subjects come from another seed, share no appearance with the train / test subjects or the detector
    corpora, live in a folder of their own, and adding them changes no train / test record or folder key."""
    from lfdm_bench.data.registry import get_dataset
    from lfdm_bench.data.synth import ensure_validation, subject_ids
    from metrics.vcnn.corpus import DEFAULT_CORPORA, appearance_fingerprint, synthetic_fingerprints

    ov = dict(n_subjects=8, n_takes=1, size=32, frames=8)
    info = get_dataset("synth-faces", root=tmp_path, progress=False, **ov)
    val = info.split("val")
    config = make_config("synth-faces", **ov)
    assert config.n_val_subjects == 2 and config.val_seed == config.seed + synth_make.VAL_SEED_OFFSET
    assert sorted({r.subject for r in val}) == ["v001", "v002"] and len(val) == 2 * 7
    assert {r.split for r in info.records} == {"train", "test", "val"}
    assert all("-val-" in r.path for r in val) and not any("-val-" in r.path for r in info.split("both")
                                                             if r.split != "val")
    # train / test: exactly the records (and folder key) of the dataset without validation subjects
    no_val = make_config("synth-faces", n_val_subjects=0, **ov)
    assert no_val.cache_key() == config.cache_key() == make_config("synth-faces", val_seed=7, **ov).cache_key()
    assert [r for r in info.records if r.split != "val"] == dataset_records(no_val, tmp_path / no_val.cache_key())
    assert ensure_validation("synth-faces", root=tmp_path, n_val_subjects=0, **ov) is None
    # appearances: none shared with the benchmark's 52 subjects at this seed, nor with the detector corpus
    val_fps = {appearance_fingerprint(r.params["appearance"]) for r in val}
    main = {appearance_fingerprint(subject_appearance(config, i)) for i in range(len(subject_ids(config)))}
    spec = DEFAULT_CORPORA["synth-faces"]
    corpus = set(synthetic_fingerprints("synth-faces", seed=spec.seed, n_subjects=spec.total_subjects).values())
    bench = set(synthetic_fingerprints("synth-faces").values())
    assert len(val_fps) == 2 and not val_fps & (main | corpus | bench)


def test_validation_split_errors(tmp_path, monkeypatch):
    from lfdm_bench.data.info import DatasetInfo
    from lfdm_bench.data.synth import ensure_validation

    with pytest.raises(ValueError, match="val_seed"):
        SynthConfig(seed=3, val_seed=3)
    with pytest.raises(ValueError, match="n_val_subjects"):
        SynthConfig(n_val_subjects=1)
    real = DatasetInfo("mug", ["a"], ["a"], [], tmp_path)
    with pytest.raises(ValueError, match="no validation .* real datasets"):
        real.split("val")
    # a validation subject drawn with a train / test subject's appearance is refused before anything is rendered
    monkeypatch.setattr(synth_make, "subject_appearance", lambda config, i: {"hair": "same"})
    with pytest.raises(ValueError, match=r"v001 .* appearance of subject s00\d"):
        ensure_validation("synth-faces", root=tmp_path, n_subjects=4, n_takes=1, size=32, frames=8)
    assert not any(tmp_path.iterdir())
