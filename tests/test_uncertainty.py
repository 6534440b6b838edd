"""FVD intervals, the real-vs-real floor and the leave-one-take-out real row (lfdm_bench.metrics.uncertainty).

The interval is checked against what it claims on Gaussian features at the benchmark's size (546 vs 546, 16-d):
it contains the point estimate, its SE matches the spread of FVD over fresh draws of both sets, and intervals from
independent draws cover the fresh-draw mean at about the nominal 95%. The old generated-only percentile bootstrap is
shown to fail the first check (its interval lies above the point estimate)."""

import numpy as np
import pytest

from lfdm_bench.data.records import VideoRecord
from lfdm_bench.metrics.fvd import frechet_distance
from lfdm_bench.metrics.uncertainty import (feature_scores, fvd_interval, fvd_of, leave_take_out, pair_halves,
                                            real_floor)

N, D = 546, 16


def _draw(rng, n=N, shift=0.3, scale=1.2):
    real = rng.standard_normal((n, D))
    gen = rng.standard_normal((n, D)) * scale + shift
    return gen, real


def test_fvd_of_matches_the_closed_form():
    rng = np.random.default_rng(0)
    gen, real = _draw(rng)
    # independent computation: FD = |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^1/2), via eigenvalues of S1 S2
    s1, s2 = np.cov(gen, rowvar=False), np.cov(real, rowvar=False)
    cross = np.sum(np.sqrt(np.clip(np.linalg.eigvals(s1 @ s2).real, 0, None)))
    expected = np.sum((gen.mean(0) - real.mean(0)) ** 2) + np.trace(s1) + np.trace(s2) - 2 * cross
    assert fvd_of(gen, real) == pytest.approx(expected, rel=1e-6)


def test_interval_contains_the_point_and_covers_the_fresh_draw_spread():
    rng = np.random.default_rng(1)
    fresh = np.array([fvd_of(*_draw(rng)) for _ in range(200)])  # fresh draws of BOTH sets
    sd_fresh = fresh.std(ddof=1)
    covered, ratios = 0, []
    reps = 30
    for rep in range(reps):
        gen, real = _draw(np.random.default_rng(100 + rep))
        iv = fvd_interval(gen, real, n_boot=100, seed=rep)
        assert iv["lo"] < iv["fvd"] < iv["hi"] and iv["fvd"] == pytest.approx(fvd_of(gen, real))
        ratios.append(iv["se"] / sd_fresh)
        covered += iv["lo"] <= fresh.mean() <= iv["hi"]
    # the bootstrap SE estimates the fresh-draw spread (not a fraction or a multiple of it) ...
    assert 0.7 < np.median(ratios) < 1.4, ratios
    # ... and the intervals cover the fresh-draw mean at about the nominal rate (95%; >= 80% over 30 draws)
    assert covered >= 0.8 * reps
    # the central 90% of the fresh-draw values lies inside an interval of the typical width around their mean
    half = 1.96 * np.median(ratios) * sd_fresh
    lo90, hi90 = np.percentile(fresh, [5, 95])
    assert fresh.mean() - half <= lo90 and hi90 <= fresh.mean() + half


def test_generated_only_percentile_bootstrap_misses_the_point_estimate():
    """Why the old interval was replaced: resampling with replacement biases FVD upwards, so the percentile
    interval of generated-only resamples (real set fixed) excludes the point estimate at a larger dimension."""
    rng = np.random.default_rng(2)
    gen, real = rng.standard_normal((256, 64)) + 0.2, rng.standard_normal((256, 64))
    point = fvd_of(gen, real)
    mu_r, s_r = real.mean(0), np.cov(real, rowvar=False)
    vals = []
    for _ in range(100):
        g = gen[rng.integers(0, 256, 256)]
        vals.append(frechet_distance(g.mean(0), np.cov(g, rowvar=False), mu_r, s_r))
    assert np.percentile(vals, 2.5) > point
    iv = fvd_interval(gen, real, n_boot=100)
    assert iv["lo"] < point < iv["hi"]


def _records(n_subj=4, n_cls=3, n_takes=3):
    return [VideoRecord(path=f"/v/{s}_{c}_{t}.mp4", subject=f"s{s}", class_index=c, class_name=f"c{c}", text="",
                        split="test", take=t, n_frames=16)
            for s in range(n_subj) for c in range(n_cls) for t in range(n_takes)]


def test_pair_halves_are_disjoint_balanced_and_hold_every_class_and_subject():
    recs = _records()
    a, b = pair_halves(recs, seed=0)
    assert not set(a) & set(b) and sorted(a + b) == list(range(len(recs))) and abs(len(a) - len(b)) <= 1
    for half in (a, b):
        assert {recs[i].subject for i in half} == {"s0", "s1", "s2", "s3"}
        assert {recs[i].class_index for i in half} == {0, 1, 2}
    assert pair_halves(recs, seed=0) == (a, b) and pair_halves(recs, seed=1) != (a, b)


def test_floor_and_leave_take_out_score_disjoint_sets():
    recs = _records(n_subj=6, n_cls=4)
    rng = np.random.default_rng(3)
    # a subject effect and a class effect, so per-group scores are finite and comparable
    feats = np.stack([rng.standard_normal(D) * 0.3 + int(r.subject[1:]) * 0.1 + r.class_index * 0.2 for r in recs])
    floor = real_floor(feats, recs, "test", n_boot=20)
    a, b = pair_halves(recs, 0)
    assert floor["values"]["fvd"]["test"] == pytest.approx(fvd_of(feats[b], feats[a]))
    assert floor["counts"]["generated"]["test"] + floor["counts"]["real"]["test"] == len(recs)
    lto = leave_take_out(feats, recs, "test", n_boot=20)
    expected = np.mean([fvd_of(feats[[i for i, r in enumerate(recs) if r.take == k]],
                               feats[[i for i, r in enumerate(recs) if r.take != k]]) for k in range(3)])
    assert lto["values"]["fvd"]["test"] == pytest.approx(expected)
    assert lto["counts"]["generated"]["test"] == 24 and lto["counts"]["real"]["test"] == 48
    assert lto["fvd_ci"][0] < lto["values"]["fvd"]["test"] < lto["fvd_ci"][1]
    # one take per pair: nothing to hold out
    assert leave_take_out(feats[:1], recs[:1], "test") is None
    scores = feature_scores(feats[b], [recs[i] for i in b], feats[a], [recs[i] for i in a])
    assert scores["cfvd"]["n_groups"] == 4 and scores["sfvd"]["n_groups"] == 6
