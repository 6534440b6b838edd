"""The embedded-domain detector (metrics.vcnn): corpus disjoint from the benchmark, shipped weights
(checksum, strict load, pinned features, validation figures), deterministic training whose loss falls, the
feature-source adapter, and the appearance / set-level sanity distortions."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from metrics.set_distortions import (collapse_classes, colour_shift, flatten, pair_index, replace_subjects,
                                                split_pairs, swap_classes)
from metrics.vcnn.corpus import (BENCHMARK_SEED, DEFAULT_CORPORA, MIN_APPEARANCE_DISTANCE, CorpusSpec,
                                            SubjectOverlapError, appearance_distances, appearance_fingerprint,
                                            benchmark_nearest, check_nearest_subjects, check_no_shared_subjects,
                                            load_corpus, synthetic_appearances, synthetic_fingerprints)
from metrics.vcnn.source import (DEFAULT_DETECTORS, WEIGHTS_DIR, DetectorChecksumError, VCNNDetector,
                                            load_detector, shipped_detectors)

DATASETS = ("synth-faces", "synth-actions")


def _meta(name: str) -> dict:
    return json.loads((WEIGHTS_DIR / f"{name}.json").read_text())


# ------------------------------------------------------------------------------------------------ no subject shared
@pytest.mark.parametrize("dataset", DATASETS)
def test_corpus_shares_no_subject_with_any_benchmark_split(dataset):
    spec = DEFAULT_CORPORA[dataset]
    corpus = synthetic_fingerprints(dataset, spec.seed, spec.total_subjects)
    bench = synthetic_fingerprints(dataset, BENCHMARK_SEED)  # both splits of the benchmark's dataset
    assert len(bench) == {"synth-faces": 52, "synth-actions": 16}[dataset]
    assert not set(corpus.values()) & set(bench.values())
    assert check_no_shared_subjects(corpus, bench, corpus_name="corpus", other_name="bench") == len(bench)
    # the shipped detector was trained on exactly this corpus, and says so
    meta = _meta(DEFAULT_DETECTORS[dataset])
    assert meta["corpus"]["fingerprints"] == corpus


@pytest.mark.parametrize("dataset", DATASETS)
def test_every_benchmark_subject_is_far_from_its_nearest_corpus_subject(dataset):
    """Each benchmark subject (train and test) has a nearest corpus subject in appearance space, at least
    MIN_APPEARANCE_DISTANCE away; the shipped detector's metadata stores exactly these (recomputed here)."""
    near = benchmark_nearest(DEFAULT_CORPORA[dataset])
    per = near["per_subject"]
    assert set(per) == set(synthetic_fingerprints(dataset, BENCHMARK_SEED))
    assert {v["split"] for v in per.values()} == {"train", "test"}
    assert near["min_distance"] == min(v["distance"] for v in per.values()) >= MIN_APPEARANCE_DISTANCE
    corpus = synthetic_appearances(dataset, DEFAULT_CORPORA[dataset].seed, DEFAULT_CORPORA[dataset].total_subjects)
    assert set(v["nearest"] for v in per.values()) <= set(corpus)
    stored = _meta(DEFAULT_DETECTORS[dataset])["corpus"]["benchmark_check"]["nearest"]
    assert stored == json.loads(json.dumps(near))


def test_appearance_distance_matches_a_hand_computation():
    a = {"skin": [0.2, 0.4], "style": "short", "hat": None, "size": 1.0}
    b = {"skin": [0.6, 0.4], "style": "long", "hat": {"kind": "cap"}, "size": 1.0}
    c = {"skin": [0.4, 0.4], "style": "short", "hat": None, "size": 2.0}
    d = appearance_distances([a, b], [a, b, c])
    # varying attributes: skin[0] (range 0.4), style, hat? (none / present), size (range 1); skin#, skin[1] constant;
    # hat.kind only in b (no pair has it on both sides except b-b)
    assert d[0, 0] == 0 and d[1, 1] == 0
    assert d[0, 1] == pytest.approx((1 + 1 + 1 + 0) / 4)  # a vs b: skin[0] 0.4/0.4, style, hat?, size
    assert d[0, 2] == pytest.approx((0.5 + 0 + 0 + 1) / 4)  # a vs c: skin[0] 0.2/0.4, size 1/1
    assert d[1, 2] == pytest.approx((0.5 + 1 + 1 + 1) / 4)


def test_a_near_copy_of_a_benchmark_subject_is_refused():
    """A corpus subject copied from a benchmark subject with one colour nudged has a new fingerprint (the exact check
    passes) but lies next to it in appearance space."""
    bench = synthetic_appearances("synth-faces", BENCHMARK_SEED)
    corpus = synthetic_appearances("synth-faces", 1000, 8)
    corpus["s008"] = dict(bench["s007"], skin=[v + 0.01 for v in bench["s007"]["skin"]])
    fps = {k: appearance_fingerprint(v) for k, v in corpus.items()}
    check_no_shared_subjects(fps, {k: appearance_fingerprint(v) for k, v in bench.items()}, corpus_name="c",
                             other_name="b")
    with pytest.raises(SubjectOverlapError, match=r"s007 ~ s008 \(0\.00"):
        check_nearest_subjects(corpus, bench, corpus_name="corpus", other_name="bench")


def test_overlap_is_detected_and_named():
    bench = synthetic_fingerprints("synth-faces", BENCHMARK_SEED)
    leaked = {"c001": bench["s007"], "c002": appearance_fingerprint({"skin": [0.1, 0.2, 0.3]})}
    with pytest.raises(SubjectOverlapError, match="c001 = s007"):
        check_no_shared_subjects(leaked, bench, corpus_name="corpus", other_name="bench")
    with pytest.raises(ValueError, match="seed"):
        CorpusSpec("synth-faces", seed=BENCHMARK_SEED)


def test_detector_checks_evaluated_records(tmp_path):
    """The adapter refuses records whose subject appearance is in its corpus, and passes the benchmark's."""
    from lfdm_bench.data.records import VideoRecord
    from lfdm_bench.data.synth.make import make_config, subject_appearance

    det = load_detector(DEFAULT_DETECTORS["synth-faces"])
    spec = DEFAULT_CORPORA["synth-faces"]

    def rec(sid: str, app: dict) -> VideoRecord:
        return VideoRecord(path=str(tmp_path / f"{sid}.mp4"), subject=sid, class_index=0, class_name="anger",
                           text="anger", split="test", params={"appearance": app})

    bench = make_config("synth-faces")
    ok = [rec(f"s{i:03d}", subject_appearance(bench, i)) for i in range(52)]
    assert det.check_records(ok) == 52
    bad = ok + [rec("x", subject_appearance(make_config("synth-faces", seed=spec.seed, n_subjects=72), 5))]
    with pytest.raises(SubjectOverlapError, match="x"):
        det.check_records(bad)
    assert det.check_records([VideoRecord(path="a.mp4", subject="a", class_index=0, class_name="a", text="a",
                                          split="test")]) == 0  # real data: nothing to check


# ------------------------------------------------------------------------------------------------ shipped weights
def test_shipped_detectors_are_named_and_small():
    names = shipped_detectors()
    assert set(DEFAULT_DETECTORS.values()) <= set(names)
    total = 0
    for n in names:
        meta = _meta(n)
        assert meta["name"] == n and n.startswith(meta["dataset"]) and "-vcnn-v" in n
        assert meta["kind"] == "embedded-domain" and meta["comparable_with_published"] is False
        total += (WEIGHTS_DIR / meta["weights"]["file"]).stat().st_size
        assert meta["command"].startswith("lfdm-bench detector train --dataset ")
    assert total < 8e6


@pytest.mark.parametrize("name", sorted(DEFAULT_DETECTORS.values()))
def test_checksum_is_verified_and_load_is_strict(tmp_path, name):
    det = load_detector(name)
    assert det.info.sha256 == _meta(name)["weights"]["sha256"]
    for f in (f"{name}.json", f"{name}.pt"):
        shutil.copy(WEIGHTS_DIR / f, tmp_path / f)
    # a corrupted weight file: the error names the file
    pt = tmp_path / f"{name}.pt"
    data = bytearray(pt.read_bytes())
    data[len(data) // 2] ^= 0xFF
    pt.write_bytes(bytes(data))
    with pytest.raises(DetectorChecksumError, match=f"{name}.pt"):
        VCNNDetector(tmp_path / f"{name}.json")
    # a state dict with a missing tensor, checksum updated: the strict load refuses it
    from lfdm_bench.utils.io import sha256_file

    state = torch.load(WEIGHTS_DIR / f"{name}.pt", weights_only=True)
    state.pop(sorted(state)[0])
    torch.save(state, pt)
    meta = _meta(name)
    meta["weights"]["sha256"] = sha256_file(pt)
    (tmp_path / f"{name}.json").write_text(json.dumps(meta))
    with pytest.raises(RuntimeError, match="Missing key"):
        VCNNDetector(tmp_path / f"{name}.json")


@pytest.mark.parametrize("name", sorted(DEFAULT_DETECTORS.values()))
@pytest.mark.e2e  # a trained model, shipped weights on videos or a whole network pass: the full suite runs it
def test_pinned_features_reproduce(tmp_path, name):
    """Render the pinned corpus videos afresh (same generator, mp4 round trip, evaluation reader) and compare."""
    from lfdm_bench.data.records import read_manifest
    from lfdm_bench.data.synth.make import ensure_synthetic
    from metrics.video_features import ClipSpec, compute_features

    meta = _meta(name)
    c = meta["corpus"]
    manifest = ensure_synthetic(c["dataset"], root=tmp_path, progress=False, seed=c["seed"], n_subjects=2, n_takes=1,
                                size=c["size"], frames=c["frames"])
    records = read_manifest(manifest)
    assert [r.key for r in records] == meta["pinned"]["keys"]
    det = load_detector(name)
    spec = ClipSpec(n_frames=c["frames"], size=c["read_size"], sampling="uniform")
    feats = compute_features(records, spec, {"vcnn": det})["vcnn"]
    np.testing.assert_allclose(feats, np.array(meta["pinned"]["features"]), atol=2e-3)
    assert feats.shape[1] == meta["architecture"]["feature_dim"]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(DEFAULT_DETECTORS.values()))
def test_stored_validation_reproduces(name):
    """Probe accuracies recomputed from the shipped weights on the (cached or re-rendered) corpus."""
    from metrics.vcnn.train import TrainedDetector, validate

    meta = _meta(name)
    c = {k: v for k, v in meta["corpus"].items() if k in CorpusSpec.__dataclass_fields__}
    corpus = load_corpus(CorpusSpec(**c))
    det = load_detector(name)
    trained = TrainedDetector(det.model, det.model.config, None, None, None, [], 0.0)
    val = validate(trained, corpus)
    stored = meta["validation"]
    for group in ("class", "subject"):
        assert val[group]["heldout_take"] == pytest.approx(stored[group]["heldout_take"], abs=0.01)
    assert val["subject_unseen"]["heldout_take"] == pytest.approx(stored["subject_unseen"]["heldout_take"], abs=0.02)


# ------------------------------------------------------------------------------------------------ training
@pytest.mark.e2e
def test_training_is_deterministic_and_its_loss_falls(tmp_path):
    from metrics.vcnn.train import DetectorTrainConfig, corpus_features, train_vcnn, validate

    spec = CorpusSpec("synth-faces", seed=4242, n_subjects=3, n_heldout_subjects=0, n_takes=2, val_take=1, size=32,
                      frames=10, read_size=32)
    corpus = load_corpus(spec, root=str(tmp_path))
    assert corpus.videos.shape == (3 * 7 * 2, 10, 3, 32, 32)
    cfg = DetectorTrainConfig(steps=40, batch_size=8, lr=3e-3, warmup_steps=5, log_every=5, seed=3)
    runs = [train_vcnn(corpus, cfg, width=8, feature_dim=8) for _ in range(2)]
    a, b = (r.model.state_dict() for r in runs)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # exported under different names and folders: byte-identical weight files
    from metrics.vcnn.train import export_detector

    shas = [json.loads(export_detector(r, corpus, tmp_path / f"out{i}", f"det{i}", command="test")[1].read_text())
            ["weights"]["sha256"] for i, r in enumerate(runs)]
    assert shas[0] == shas[1]
    hist = runs[0].history
    assert hist[-1]["total"] < 0.8 * hist[0]["total"]
    assert hist[-1]["subject"] < hist[0]["subject"]
    # standardised on the training takes: zero mean, unit variance there
    f = corpus_features(runs[0].model, corpus.videos[corpus.rows(heldout=False, takes="train")])
    np.testing.assert_allclose(f.mean(0), 0, atol=1e-3)
    np.testing.assert_allclose(f.std(0), 1, atol=1e-3)
    val = validate(runs[0], corpus)
    assert val["subject"]["heldout_take"] > 1 / 3  # beats chance on 3 subjects
    # another seed gives other weights
    other = train_vcnn(corpus, DetectorTrainConfig(steps=2, batch_size=8, seed=4), width=8, feature_dim=8)
    assert not torch.equal(other.model.state_dict()["embed_proj.weight"], a["embed_proj.weight"])


# ------------------------------------------------------------------------------------------------ adapter
def test_feature_source_adapter():
    from metrics.vcnn.model import prepare_videos

    det = load_detector(DEFAULT_DETECTORS["synth-faces"])
    d = det.info.to_dict()
    assert d["kind"] == "embedded-domain" and d["comparable_with_published"] is False
    assert "not comparable with published" in d["note"] and d["domain"] == "synth-faces"
    assert d["weights_status"] == "function" and "not I3D weights" in d["weights_label"]  # issue 15 labels
    g = torch.Generator().manual_seed(0)
    v32 = torch.randint(0, 256, (3, 16, 3, 32, 32), dtype=torch.uint8, generator=g)
    f = det(v32)
    assert f.shape == (3, det.feature_dim) and f.dtype == np.float64
    np.testing.assert_allclose(det(v32.float() / 255.0), f, atol=1e-5)  # float [0, 1] input: same features
    # another size is resized (bilinear, antialias) to the network's input, then the same network runs
    v64 = torch.nn.functional.interpolate(v32.float().flatten(0, 1), scale_factor=2, mode="nearest")
    v64 = v64.reshape(3, 16, 3, 64, 64) / 255.0
    x = prepare_videos(v64, 32)
    with torch.inference_mode():
        ref = det.model(x).double().numpy()
    np.testing.assert_allclose(det(v64), ref, atol=1e-6)
    with pytest.raises(ValueError, match=r"\[B, T, 3, H, W\]"):
        det(torch.zeros(2, 3, 32, 32))


# ------------------------------------------------------------------------------------------------ sanity rows
def test_colour_shift_rotates_hue_and_keeps_grey():
    x = torch.zeros(2, 4, 3, 8, 8)
    x[:, :, 0] = 0.8  # red
    x[:, :, 1:] = 0.2
    x[:, :, :, :2, :2] = 0.5  # a grey patch
    y = colour_shift(x, 2 / 3, seed=0, video_ids=[1, 2])  # 120 degrees: red -> green or blue
    assert torch.allclose(y[:, :, :, :2, :2], x[:, :, :, :2, :2], atol=1e-6)
    px = y[:, 0, :, 5, 5]
    assert (px[:, 0] < 0.25).all() and (px.max(dim=1).values > 0.75).all()
    np.testing.assert_allclose(y.sum(dim=2), x.sum(dim=2), atol=1e-5)  # rotation about grey keeps R + G + B
    assert torch.equal(colour_shift(x, 0.0), x)


def test_set_rows_change_what_they_claim():
    subj = [f"s{i}" for i in range(4) for _ in range(3) for _ in range(6)]
    cls = [c for _ in range(4) for c in range(3) for _ in range(6)]
    take = [t for _ in range(4) for _ in range(3) for t in range(6)]
    pairs = pair_index(subj, cls, take)
    ref, alt = split_pairs(pairs, 3, seed=0)
    for k in pairs:
        assert not set(ref[k]) & set(alt[k]) and len(ref[k]) == len(alt[k]) == 3
    rows_alt = sorted(flatten(alt)[0])
    # permutations of the set (at strength 1) leave the pooled set unchanged but move videos off their groups
    for swapped in (replace_subjects(alt, alt, 1.0, 0), swap_classes(alt, 1.0, 0)):
        assert sorted(flatten(swapped)[0]) == rows_alt
        assert all(set(swapped[k]) != set(alt[k]) for k in alt)
    # other-subject: videos from donors only, nested across strengths
    donors = {(f"d{s[1:]}", c): [r + 1000 for r in rows] for (s, c), rows in alt.items()}
    half, full = replace_subjects(alt, donors, 0.5, 0), replace_subjects(alt, donors, 1.0, 0)
    moved = {s for (s, c), rows in half.items() if rows != alt[(s, c)]}
    assert len(moved) == 2 and all(r >= 1000 for r in flatten(full)[0])
    assert all(half[(s, c)] == full[(s, c)] for (s, c) in half if s in moved)
    # class-collapse skews the mix towards one class
    col = collapse_classes(alt, 1.0, 0, target=2)
    assert {r for k, rows in col.items() for r in rows} == {r for (s, c), rows in alt.items() if c == 2 for r in rows}


def test_detector_cli_info():
    from click.testing import CliRunner

    from cli import main

    res = CliRunner().invoke(main, ["detector", "info"])
    assert res.exit_code == 0, res.output
    for name in DEFAULT_DETECTORS.values():
        assert name in res.output
    assert "(verified)" in res.output and "not comparable with published" in res.output
    assert "nearest corpus subject of every benchmark subject (52, train and test)" in res.output
