"""Distortions (batched, seeded, nested) and the sanity table (FVD rises with strength; non-monotone rows flagged)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from lfdm_bench.data.records import read_manifest
from lfdm_bench.data.registry import get_dataset
from metrics.distortions import (
    DISTORTIONS,
    Distortion,
    apply_distortion,
    freeze_frames,
    gaussian_blur,
    parse_distortion,
    shuffle_frames,
)
from metrics.protocol import EvalProtocol
from metrics.feature_cache import FeatureCache
from metrics.video_features import FunctionDetector
from metrics.sanity import DEFAULT_STRENGTHS, SET_STRENGTHS, run_sanity, split_halves, write_real_samples
from metrics.set_distortions import SET_ROWS
from metrics.format import format_value
from metrics.result_files import render_sanity, write_sanity
from helpers import make_tiny_dataset, tiny_features


def sanity_features(videos: torch.Tensor) -> torch.Tensor:
    """The tiny features plus spatial gradient energy (sees noise and blur): [B, 13]."""
    x = videos.double() / 255.0 if videos.dtype == torch.uint8 else videos.double()
    grad = (x[..., 1:, :] - x[..., :-1, :]).abs().mean(dim=(1, 2, 3, 4)) + \
        (x[..., 1:] - x[..., :-1]).abs().mean(dim=(1, 2, 3, 4))
    return torch.cat([tiny_features(videos), 10 * grad.unsqueeze(1)], dim=1)


@pytest.fixture(scope="module")
def tiny4(tmp_path_factory: pytest.TempPathFactory):
    return get_dataset(str(make_tiny_dataset(tmp_path_factory.mktemp("tiny4") / "data", takes=4)))


def videos(b: int = 3, t: int = 8, size: int = 16) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (b, t, 3, size, size), generator=g, dtype=torch.uint8)


@pytest.mark.parametrize("name", list(DISTORTIONS))
def test_distortions_shape_range_identity_and_batch_independence(name: str) -> None:
    x = videos()
    out = apply_distortion(x, name, 0.5 if name != "blur" else 1.5, seed=1, video_ids=[5, 6, 7])
    assert out.shape == x.shape and out.dtype == torch.float32
    assert 0.0 <= float(out.min()) and float(out.max()) <= 1.0
    assert not torch.equal(out, x.float() / 255)
    torch.testing.assert_close(apply_distortion(x, name, 0.0), x.float() / 255)
    # a video's result does not depend on the batch it is in
    alone = apply_distortion(x[1:2], name, 0.5 if name != "blur" else 1.5, seed=1, video_ids=[6])
    torch.testing.assert_close(alone[0], out[1])


def test_shuffle_and_freeze_semantics() -> None:
    x = torch.arange(10, dtype=torch.float32).view(1, 10, 1, 1, 1).expand(2, 10, 3, 2, 2) / 10
    order = (shuffle_frames(x, 0.5, seed=3)[:, :, 0, 0, 0] * 10).round().long()
    for row in order:
        assert sorted(row.tolist()) == list(range(10))  # a permutation
        assert int((row != torch.arange(10)).sum()) == 5  # exactly round(0.5 * 10) frames moved
    frozen = (freeze_frames(x, 1.0)[:, :, 0, 0, 0] * 10).round().long()
    assert frozen.eq(0).all()
    half = freeze_frames(x, 0.5)[:, :, 0, 0, 0] * 10  # half speed: frame t shows time t / 2, interpolated
    torch.testing.assert_close(half[0], torch.arange(10, dtype=torch.float32) / 2)
    assert torch.equal(half[0], half[1])
    quarter = freeze_frames(x, 0.25)[0, :, 0, 0, 0] * 10
    torch.testing.assert_close(quarter, torch.arange(10, dtype=torch.float32) * 0.75)
    torch.testing.assert_close(freeze_frames(x, 0.0), x)
    # less motion as the strength grows: the mean distance from frame 0 shrinks monotonically, no frame jumps
    motion = [float((freeze_frames(x, s) - x[:, :1]).abs().mean()) for s in (0.0, 0.25, 0.5, 0.75, 1.0)]
    assert motion == sorted(motion, reverse=True) and motion[-1] == 0.0
    with pytest.raises(ValueError, match=r"fraction of frames in \[0, 1\]"):
        freeze_frames(x, 1.5)


def test_blur_keeps_constant_frames_and_smooths() -> None:
    flat = torch.full((1, 2, 3, 12, 12), 0.4)
    torch.testing.assert_close(gaussian_blur(flat, 2.0), flat)
    x = videos(1, 2, 12)
    assert gaussian_blur(x, 2.0).std() < (x.float() / 255).std()


def test_parse_distortion_errors() -> None:
    assert parse_distortion("blur:2") == Distortion("blur", 2.0)
    with pytest.raises(ValueError, match="expected NAME:STRENGTH"):
        parse_distortion("blur")
    with pytest.raises(ValueError, match="valid names: noise, blur, shuffle, freeze"):
        parse_distortion("jpeg:3")
    with pytest.raises(ValueError, match=r"\[B, T, 3, H, W\]"):
        apply_distortion(torch.zeros(4, 3, 8, 8), "noise", 0.1)


def test_split_halves_stratified(tiny4) -> None:
    recs = tiny4.split("both")
    a, b = split_halves(recs, seed=0)
    assert not set(a) & set(b) and len(a) + len(b) == len(recs) and abs(len(a) - len(b)) <= 1
    for c in range(3):
        na = sum(recs[i].class_index == c for i in a)
        nb = sum(recs[i].class_index == c for i in b)
        assert abs(na - nb) <= 1
    assert split_halves(recs, seed=0) == (a, b) != split_halves(recs, seed=1)


@pytest.mark.e2e
def test_sanity_fvd_rises_with_strength_and_is_cached(tiny4, tmp_path: Path) -> None:
    protocol = EvalProtocol(dataset=tiny4.name, split="both", n_frames=10)
    det = FunctionDetector(sanity_features, "sanity-features")
    cache = FeatureCache(tmp_path / "cache")
    # the per-frame distortions (these features hold mean colours, which a hue rotation need not move monotonically)
    strengths = {k: v for k, v in DEFAULT_STRENGTHS.items() if k != "colour"}
    res = run_sanity(protocol, strengths, dataset=tiny4, detector=det, cache=cache)
    assert len(res.rows) == 12 and res.baseline["n_a"] == res.baseline["n_b"] == 24
    for name in strengths:
        fvds = [res.baseline["fvd"]] + [r["fvd"] for r in res.rows if r["distortion"] == name]
        # every strength above the undistorted halves; the strengths in order where the distortion is not a random
        # draw (which frames a shuffle moves is drawn per video from its path, i.e. from pytest's tmp folder, and
        # on 24 videos half and all frames shuffled can land either way)
        assert all(f > fvds[0] for f in fvds[1:]), (name, fvds)
        if name != "shuffle":
            assert all(b > a for a, b in zip(fvds, fvds[1:])), (name, fvds)
    # the 2-SE rule: a row passes exactly when its rise exceeds twice the SE at its setting ...
    for r in res.rows:
        assert r["rise"]["fvd"] > 0 and r["se"]["fvd"] > 0
        assert r["rises"] == (r["rise"]["fvd"] > 2 * r["se"]["fvd"]) and r["se_rise"]["fvd"] > 0
    assert res.non_monotone == [f"{r['distortion']}@{r['strength']:g}" for r in res.rows if not r["rises"]]
    # ... so a rise inside the resampling noise fails although the FVD goes up (blur of 1 px on 32 px frames; the
    # old "any rise" rule passed it), while the strong distortions pass
    blur1 = next(r for r in res.rows if r["distortion"] == "blur" and r["strength"] == 1.0)
    assert 0 < blur1["rise"]["fvd"] < blur1["se"]["fvd"] and "blur@1" in res.non_monotone
    assert all(r["rises"] for r in res.rows if r["distortion"] in ("noise", "freeze"))
    text = render_sanity(res)
    assert "none (halves A vs B)" in text and "FLAG: no rise of more than 2 SE at blur@1" in text
    assert "rise / SE" in text and "subject-cluster bootstrap" in text
    assert "NOT comparable with published numbers" in text
    paths = write_sanity(res, tmp_path / "out", environment={"test": True})
    saved = json.loads(paths["json"].read_text())
    assert saved["monotone"] is False and saved["protocol"]["resolution"] == 32 and "2 SE" in saved["rule"]
    assert saved["environment"] == {"test": True}
    # second run: everything (real and distorted halves) comes from the cache
    det2 = FunctionDetector(sanity_features, "sanity-features")
    again = run_sanity(protocol, strengths, dataset=tiny4, detector=det2, cache=cache)
    assert det2.calls == 0 and again.rows == res.rows


@pytest.mark.e2e  # a whole command / evaluation / dataset build or a subprocess: the full suite runs it
def test_sanity_flags_non_monotone_rows(tiny4) -> None:
    def colour(v: torch.Tensor) -> torch.Tensor:  # blind to frame order
        return (v.double() / 255 if v.dtype == torch.uint8 else v.double()).mean(dim=(1, 3, 4))

    colour_only = FunctionDetector(colour, "colour-only")
    protocol = EvalProtocol(dataset=tiny4.name, split="both", n_frames=10)
    res = run_sanity(protocol, {"shuffle": (0.5, 1.0)}, dataset=tiny4, detector=colour_only, cache=None)
    assert not res.monotone and res.non_monotone == ["shuffle@0.5", "shuffle@1"]
    assert "FLAG: no rise of more than 2 SE at shuffle@0.5, shuffle@1" in render_sanity(res)
    with pytest.raises(ValueError, match="strictly increasing"):
        run_sanity(protocol, {"noise": (0.2, 0.1)}, dataset=tiny4, detector=colour_only, cache=None)


def test_write_real_samples_manifest(tiny4, tmp_path: Path) -> None:
    manifest = write_real_samples(tiny4, tmp_path / "s", split="test", n_frames=10, max_videos=6,
                                  distortion=Distortion("noise", 0.1))
    recs = read_manifest(manifest)
    assert len(recs) == 6 and all(r.split == "test" and r.n_frames == 10 for r in recs)
    real_paths = {str(Path(r.path).resolve()) for r in tiny4.records}
    for r in recs:
        assert set(r.params) == {"source", "seed", "sampler", "steps", "guidance", "seconds", "method",
                                 "clip_sampling"}
        assert r.params["source"] in real_paths and r.params["method"] == "real+noise@0.1"
        assert r.params["clip_sampling"] == "uniform"
        assert Path(r.path).is_file()
    assert np.unique([r.class_index for r in recs]).size == 3


@pytest.mark.e2e  # a whole command / evaluation / dataset build or a subprocess: the full suite runs it
def test_sanity_set_level_rows(tiny4) -> None:
    """One split: the set-level rows follow the per-frame ones, each checked on its own target metrics; a swap inside
    the set at strength 1 is a permutation of half B, so its pooled FVD equals the baseline's while its target (sFVD /
    cFVD) rises."""
    protocol = EvalProtocol(dataset=tiny4.name, split="test", n_frames=10)
    det = FunctionDetector(sanity_features, "sanity-features")
    res = run_sanity(protocol, {}, dataset=tiny4, detector=det, cache=False)
    by = {(r["distortion"], r["strength"]): r for r in res.rows}
    assert [r["distortion"] for r in res.rows] == [n for n in SET_ROWS for _ in SET_STRENGTHS]
    assert {r["distortion"]: tuple(r["targets"]) for r in res.rows} == SET_ROWS
    for name in ("subject-swap", "class-swap"):
        assert by[(name, 1.0)]["fvd"] == pytest.approx(res.baseline["fvd"], rel=1e-6)
    assert by[("subject-swap", 1.0)]["sfvd"] > res.baseline["sfvd"]
    assert by[("class-swap", 1.0)]["cfvd"] > res.baseline["cfvd"]
    assert by[("other-subject", 1.0)]["fvd"] > res.baseline["fvd"]  # the train subjects look different
    # other-subject's FVD is reported (rise and SE beside the row) but only its sFVD decides
    assert all(set(r["rise"]) == {"sfvd", "fvd"} and r["info"] == ["fvd"] for r in res.rows
               if r["distortion"] == "other-subject")
    assert res.baseline["cfvd"] is not None and res.baseline["sfvd"] is not None
    # both splits: no subject outside the reference set, so no set-level row (and a note says so)
    both = run_sanity(EvalProtocol(dataset=tiny4.name, split="both", n_frames=10), {}, dataset=tiny4,
                      detector=FunctionDetector(sanity_features, "sanity-features"), cache=False)
    assert both.rows == [] and any("need one split" in n for n in both.notes)


@pytest.mark.e2e
def test_sanity_table_shows_a_second_detector_beside(tiny4) -> None:
    protocol = EvalProtocol(dataset=tiny4.name, split="test", n_frames=10)
    res = run_sanity(protocol, {"noise": (0.1,)}, dataset=tiny4,
                     detector=FunctionDetector(sanity_features, "sanity-features"), cache=False)
    res.beside = run_sanity(protocol, {"noise": (0.1,)}, dataset=tiny4,
                            detector=FunctionDetector(tiny_features, "tiny-features"), cache=False)
    text = render_sanity(res)
    assert "tiny-features: target" in text and "tiny-features: rises" in text and "beside: tiny-features" in text
    other = res.beside.rows[-1]  # class-swap at 1.0: its target is cFVD
    assert f"cfvd {format_value(other['cfvd'], 2)}" in text
    assert res.to_dict()["beside"]["detector"]["name"] == "tiny-features"


def test_reported_metrics_decide_nothing():
    """A row's verdict comes from its targets alone: a reported metric that falls (or has no SE) changes nothing,
    and its rise is shown, marked as reported."""
    from metrics.sanity import _rise_text, _score_rise

    prev = {"fvd": 1.0, "sfvd": 1.0}
    prev_scores = {"fvd": np.array([1.0, 1.1, 0.9]), "sfvd": np.array([1.0, 1.1, 0.9])}
    scores = {"fvd": np.array([0.5, 0.6, 0.4]), "sfvd": np.array([5.0, 5.1, 4.9])}
    row = {"fvd": 0.5, "sfvd": 5.0, "targets": ["sfvd"], "info": ["fvd"]}
    assert _score_rise(row, prev, scores, prev_scores) is True  # sFVD +4 over SE 0.1; FVD fell by 0.5
    assert row["rise"]["fvd"] == pytest.approx(-0.5) and row["se"]["fvd"] == pytest.approx(0.1)
    assert _rise_text(row).startswith("sfvd +4 / 0.1") and "[fvd, reported] -0.5 / 0.1" in _rise_text(row)
    row = {"fvd": 0.5, "sfvd": 5.0, "targets": ["sfvd", "fvd"]}
    assert _score_rise(row, prev, scores, prev_scores) is False  # the same FVD as a target fails the row
