"""Evaluation protocol: grouping, per-group FVD against an independent numpy computation, identity, PSNR/SSIM.

Uses a tiny dataset of mp4s (written by tests/helpers.py) (3 classes that differ by motion, 4 subjects, 12 frames, 32x32) and a
tiny deterministic feature function instead of I3D. ``make_tiny_dataset`` and ``tiny_detector`` (tests/helpers.py) are
shared with the other metric tests.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.linalg

from lfdm_bench.data.records import VideoRecord
from lfdm_bench.data.registry import get_dataset
from metrics.kvd import kvd_from_features
from metrics.evaluate import evaluate
from metrics.groups import group_fvd, select_subset, summarise_groups
from metrics.protocol import EvalProtocol, UnknownMetricError, parse_metrics
from metrics.feature_cache import FeatureCache
from helpers import CLASSES, SUBJECTS, make_tiny_dataset, tiny_detector


def numpy_fd(a: np.ndarray, b: np.ndarray, ddof: int = 1) -> float:
    """Independent Fréchet distance: np.cov + scipy.linalg.sqrtm."""
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False, ddof=ddof), np.cov(b, rowvar=False, ddof=ddof)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory):
    manifest = make_tiny_dataset(tmp_path_factory.mktemp("tiny") / "data")
    return get_dataset(str(manifest))


def test_parse_metrics_and_unknown_name() -> None:
    assert parse_metrics(["all"]) == ("fvd", "cfvd", "sfvd", "kvd", "psnr", "ssim", "acc", "motion", "expr")
    assert parse_metrics(["SSIM", "fvd"]) == ("fvd", "ssim")
    with pytest.raises(UnknownMetricError, match="valid names: fvd, cfvd, sfvd, kvd, psnr, ssim, acc, motion"):
        parse_metrics(["fid"])


def test_protocol_validation_and_dict() -> None:
    with pytest.raises(ValueError, match="n_frames must be >= 9"):
        EvalProtocol(dataset="x", n_frames=8)
    with pytest.raises(ValueError, match="split must be one of"):
        EvalProtocol(dataset="x", split="validation")
    with pytest.raises(ValueError, match="ddof must be 0"):
        EvalProtocol(dataset="x", ddof=2)
    p = EvalProtocol(dataset="x", split="both", ddof=0)
    assert p.splits == ("test", "train")
    d = p.to_dict()
    for key in ("dataset", "split", "n_frames", "resolution", "real_sampling", "max_real", "max_generated",
                "detector", "ddof", "seed", "batch_size", "resize_method", "bn_eps"):
        assert key in d


def test_select_subset_is_stratified_and_seeded(tiny) -> None:
    recs = tiny.split("both")
    sub = select_subset(recs, 6, seed=3)
    assert len(sub) == 6 and sorted(r.class_index for r in sub) == [0, 0, 1, 1, 2, 2]
    assert sub == select_subset(recs, 6, seed=3)
    assert [recs.index(r) for r in sub] == sorted(recs.index(r) for r in sub)  # original order kept
    assert select_subset(recs, None, 0) == recs


def test_group_fvd_matches_numpy() -> None:
    rng = np.random.RandomState(0)
    gen, real = rng.randn(40, 5), rng.randn(50, 5) * 1.3 + 0.2
    g_groups = ["a"] * 20 + ["b"] * 19 + ["c"]
    r_groups = ["a"] * 25 + ["b"] * 25
    per, n_small = group_fvd(gen, g_groups, real, r_groups, ddof=1)
    assert n_small == 0
    assert per["a"]["fvd"] == pytest.approx(numpy_fd(gen[:20], real[:25]), rel=1e-8)
    assert per["b"]["fvd"] == pytest.approx(numpy_fd(gen[20:39], real[25:]), rel=1e-8)
    assert per["c"]["fvd"] is None and "needs >= 2" in per["c"]["skipped"]
    s = summarise_groups(per)
    assert s["n_groups"] == 2 and s["n_skipped"] == 1
    assert s["mean"] == pytest.approx((per["a"]["fvd"] + per["b"]["fvd"]) / 2)
    per0, _ = group_fvd(gen, g_groups, real, r_groups, ddof=0)
    assert per0["a"]["fvd"] == pytest.approx(numpy_fd(gen[:20], real[:25], ddof=0), rel=1e-8)


@pytest.mark.filterwarnings("ignore::scipy.linalg.LinAlgWarning")  # sqrtm of rank-deficient covariances
def test_evaluate_groups_equal_independent_numpy(tiny, tmp_path: Path) -> None:
    # Generated = real videos of the other take (a real-vs-real comparison with known groups).
    gen = [VideoRecord(path=r.path, subject=r.subject, class_index=r.class_index, class_name=r.class_name,
                       text=r.text, split=r.split, take=r.take, params={"source": r.path})
           for r in tiny.records if r.take == "t0"]
    protocol = EvalProtocol(dataset=tiny.name, split="both", n_frames=10, real_sampling="first")
    res = evaluate(protocol, gen, ["fvd", "cfvd", "sfvd", "kvd"], dataset=tiny, detector=tiny_detector(),
                   cache=FeatureCache(tmp_path))
    assert res.protocol["resolution"] == 32 and res.detector["name"] == "tiny"
    for s in ("test", "train"):
        g_recs, r_recs = [r for r in res.records["generated"] if r.split == s], res.records[f"real_{s}"]
        gf = res.features["generated"]["i3d"][[res.records["generated"].index(r) for r in g_recs]]
        rf = res.features[f"real_{s}"]["i3d"]
        assert res.values["fvd"][s] == pytest.approx(numpy_fd(gf, rf), rel=1e-6)
        for c in CLASSES:
            gi = [i for i, r in enumerate(g_recs) if r.class_name == c]
            ri = [i for i, r in enumerate(r_recs) if r.class_name == c]
            got = res.values["cfvd"][s]["per_class"][c]
            assert (got["n_generated"], got["n_real"]) == (len(gi), len(ri)) == (2, 4)
            assert got["fvd"] == pytest.approx(numpy_fd(gf[gi], rf[ri]), rel=1e-6, abs=1e-9)
        per_s = res.values["sfvd"][s]["per_subject"]
        assert set(per_s) == {k for k, v in SUBJECTS.items() if v == s}
        vals = [v["fvd"] for v in per_s.values()]
        assert res.values["sfvd"][s]["mean"] == pytest.approx(np.mean(vals))
        assert res.values["sfvd"][s]["std"] == pytest.approx(np.std(vals))
    assert res.values["fvd"]["gap"] == pytest.approx(res.values["fvd"]["test"] - res.values["fvd"]["train"])
    assert any("fewer videos than the feature dimension" in n for n in res.notes)  # said once, not per group
    assert sum("feature dimension" in n for n in res.notes) == 1


def test_identical_generated_and_real_give_zero(tiny, tmp_path: Path) -> None:
    gen = [VideoRecord(path=r.path, subject=r.subject, class_index=r.class_index, class_name=r.class_name,
                       text=r.text, split=r.split, take=r.take, params={"source": r.path})
           for r in tiny.split("test")]
    protocol = EvalProtocol(dataset=tiny.name, split="test", n_frames=10, real_sampling="first")
    res = evaluate(protocol, gen, ["fvd", "cfvd", "kvd", "psnr", "ssim", "motion"], dataset=tiny,
                   detector=tiny_detector(), cache=None)
    assert res.values["fvd"]["test"] == pytest.approx(0.0, abs=1e-8)
    assert res.values["cfvd"]["test"]["mean"] == pytest.approx(0.0, abs=1e-8)
    feats = res.features["generated"]["i3d"]
    # the unbiased MMD^2 of a set with itself is slightly negative, not 0
    assert res.values["kvd"]["test"] == pytest.approx(kvd_from_features(feats, feats))
    assert res.values["kvd"]["test"] <= 0
    assert res.values["psnr"]["test"]["mean"] == pytest.approx(100.0)  # capped: identical frames
    assert res.values["ssim"]["test"]["mean"] == pytest.approx(1.0)
    assert res.values["psnr"]["test"]["n_videos"] == len(gen)
    assert len(res.values["psnr"]["test"]["per_frame"]) == 10
    motion = res.values["motion"]["test"]  # the real takes themselves: ratio 1, frame 0 is the source
    assert motion["amplitude"]["ratio"] == pytest.approx(1.0)
    assert motion["opening_frame"] == {"l1": 0.0, "psnr": 100.0, "n": len(gen)}
    assert motion["n_generated"] == motion["n_real"] == len(gen)


def test_sample_folder_split_filter_and_errors(tiny, tmp_path: Path) -> None:
    from metrics.sanity import write_real_samples

    write_real_samples(tiny, tmp_path / "s", split="train", n_frames=10, max_videos=6)
    protocol = EvalProtocol(dataset=tiny.name, split="test", n_frames=10)
    with pytest.raises(ValueError, match="pass --split accordingly"):
        evaluate(protocol, tmp_path / "s", ["fvd"], dataset=tiny, detector=tiny_detector(), cache=None)
    with pytest.raises(FileNotFoundError, match="manifest.csv"):
        evaluate(protocol, tmp_path / "missing", ["fvd"], dataset=tiny, detector=tiny_detector(), cache=None)
    long = EvalProtocol(dataset=tiny.name, split="train", n_frames=12)
    with pytest.raises(ValueError, match="fewer than the 12 frames per clip; .*eval --frames 10"):
        evaluate(long, tmp_path / "s", ["fvd"], dataset=tiny, detector=tiny_detector(), cache=None)


@pytest.mark.e2e  # a whole command / evaluation / dataset build or a subprocess: the full suite runs it
def test_distorted_samples_score_worse_than_real(tiny, tmp_path: Path) -> None:
    from metrics.distortions import Distortion
    from metrics.sanity import write_real_samples

    write_real_samples(tiny, tmp_path / "real", split="test", n_frames=10)
    write_real_samples(tiny, tmp_path / "frozen", split="test", n_frames=10, distortion=Distortion("freeze", 1.0))
    protocol = EvalProtocol(dataset=tiny.name, split="test", n_frames=10)
    det = tiny_detector()
    metrics = ["fvd", "psnr", "ssim", "motion"]
    real = evaluate(protocol, tmp_path / "real", metrics, dataset=tiny, detector=det, cache=None)
    frozen = evaluate(protocol, tmp_path / "frozen", metrics, dataset=tiny, detector=det, cache=None)
    assert real.values["fvd"]["test"] < 0.05 * frozen.values["fvd"]["test"]
    assert real.values["psnr"]["test"]["mean"] > 35.0  # re-encoded real clips vs their own sources
    assert frozen.values["psnr"]["test"]["mean"] < real.values["psnr"]["test"]["mean"]
    assert frozen.values["ssim"]["test"]["mean"] < real.values["ssim"]["test"]["mean"]
    # a frozen video keeps frame 0 and loses the motion: amplitude ratio 0 against ~1 for the re-encoded real clips
    assert real.values["motion"]["test"]["amplitude"]["ratio"] == pytest.approx(1.0, abs=0.05)
    assert frozen.values["motion"]["test"]["amplitude"]["ratio"] < 0.05
    assert frozen.values["motion"]["test"]["opening_frame"]["psnr"] > 35.0
