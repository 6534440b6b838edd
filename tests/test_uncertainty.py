"""FVD intervals that fit the design, paired differences, the real-vs-real floor and the leave-one-take-out real row
(metrics.uncertainty).

The intervals are checked against what they claim by simulation, on features built like the benchmark's sets: S
subjects, each with a random appearance vector shared by its real AND its generated videos, a method-specific
shift / scale and per-video noise, both sets from the SAME subjects. The true value is the FVD between the two
population distributions (Gaussian: closed form). The 95% interval of one FVD and of a difference of two methods
must cover it in 90-99% of 200 draws; the old video-level bootstrap (each set resampled on its own), run on the same
draws, is shown to overstate the spread (SE > 2x the true one, coverage ~100%), and so does the difference's SE
read from two unpaired intervals (> 3x)."""

import numpy as np
import pytest

from lfdm_bench.data.records import VideoRecord
from metrics.uncertainty import (feature_scores, fvd_interval, fvd_of, interval_of, leave_take_out,
                                            pair_halves, paired_differences, real_floor, resampled_scores,
                                            subject_bootstrap)

S, K, D = 26, 6, 4          # subjects, videos per subject and set, feature dimension (the design, scaled down)
SIGMA_SUBJECT, SIGMA_REAL = 1.0, 0.4
METHODS = {"ref": (1.0, 0.3, 0.5), "other": (1.1, 0.25, 0.4)}  # (scale of the subject effect, shift, noise std)


def _true_fvd(scale: float, shift: float, noise: float) -> float:
    """FVD between the populations: N(shift, (scale^2 s_u^2 + noise^2) I) vs N(0, (s_u^2 + s_e^2) I)."""
    v_gen, v_real = scale ** 2 * SIGMA_SUBJECT ** 2 + noise ** 2, SIGMA_SUBJECT ** 2 + SIGMA_REAL ** 2
    return D * shift ** 2 + D * (np.sqrt(v_gen) - np.sqrt(v_real)) ** 2


def _draw_design(rng):
    """One benchmark-like draw: subject ids [S*K], real [S*K, D], generated sets per method [S*K, D]."""
    subjects = np.repeat([f"s{i:02d}" for i in range(S)], K)
    effect = np.repeat(rng.standard_normal((S, D)) * SIGMA_SUBJECT, K, axis=0)  # shared by real and generated
    real = effect + rng.standard_normal((S * K, D)) * SIGMA_REAL
    gens = {m: a * effect + shift + rng.standard_normal((S * K, D)) * noise for m, (a, shift, noise) in METHODS.items()}
    return subjects, real, gens


def test_fvd_of_matches_the_closed_form():
    rng = np.random.default_rng(0)
    gen, real = rng.standard_normal((300, 16)) * 1.2 + 0.3, rng.standard_normal((300, 16))
    # independent computation: FD = |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^1/2), via eigenvalues of S1 S2
    s1, s2 = np.cov(gen, rowvar=False), np.cov(real, rowvar=False)
    cross = np.sum(np.sqrt(np.clip(np.linalg.eigvals(s1 @ s2).real, 0, None)))
    expected = np.sum((gen.mean(0) - real.mean(0)) ** 2) + np.trace(s1) + np.trace(s2) - 2 * cross
    assert fvd_of(gen, real) == pytest.approx(expected, rel=1e-6)


def test_a_resample_is_the_fvd_of_the_drawn_subjects_videos():
    """Each resample equals the FVD of the concatenated videos of the drawn subjects (a subject drawn twice brings its
    generated and its real videos twice), computed independently with np.cov."""
    subjects, real, gens = _draw_design(np.random.default_rng(1))
    points, vals = subject_bootstrap([(gens["ref"], subjects, real, subjects)], n_boot=3, seed=5)
    assert points[0] == pytest.approx(fvd_of(gens["ref"], real), rel=1e-9)
    names = sorted(set(subjects))
    picks = np.random.default_rng([5, 7]).integers(0, S, (3, S))  # the documented draws: S subjects per resample
    for b in range(3):
        rows = np.concatenate([np.flatnonzero(subjects == names[i]) for i in picks[b]])
        assert vals[b, 0] == pytest.approx(fvd_of(gens["ref"][rows], real[rows]), rel=1e-7)
        assert len(set(subjects[rows])) < S  # duplicates: fewer distinct subjects


@pytest.mark.e2e  # the interval pipeline end to end on 200 simulated draws
def test_intervals_cover_the_true_value_and_the_video_bootstrap_does_not():
    """200 simulated draws x 200 subject resamples: the FVD interval and the paired difference interval cover the
    population values at 90-99%; on the same draws the old video-level bootstrap's SE is > 2x the true spread of
    FVD (the shared subject effects counted as independent noise) and its interval covers ~always."""
    truth = {m: _true_fvd(*p) for m, p in METHODS.items()}
    true_diff = truth["other"] - truth["ref"]
    n_draws = 200
    cover = {"fvd": 0, "diff": 0, "video": 0, "unpaired": 0}
    points, diffs, se_cluster, se_video, se_diff, se_unpaired = [], [], [], [], [], []
    for i in range(n_draws):
        subjects, real, gens = _draw_design(np.random.default_rng(1000 + i))
        iv = fvd_interval(gens["ref"], real, n_boot=200, seed=i, gen_groups=subjects, real_groups=subjects)
        old = fvd_interval(gens["ref"], real, n_boot=200, seed=i)  # no subject ids: video-level, each set alone
        old_other = fvd_interval(gens["other"], real, n_boot=200, seed=i)
        d = paired_differences({m: (g, subjects) for m, g in gens.items()}, real, subjects, "ref", n_boot=200,
                               seed=i)["other"]
        assert 0 <= iv["lo"] <= iv["hi"] and iv["resampling"] == "subjects" and old["resampling"] == "videos"
        if i == 0:
            assert d["diff"] == pytest.approx(fvd_of(gens["other"], real) - fvd_of(gens["ref"], real))
            assert iv["fvd"] == pytest.approx(old["fvd"]) and iv["fvd"] == pytest.approx(fvd_of(gens["ref"], real))
        cover["fvd"] += iv["lo"] <= truth["ref"] <= iv["hi"]
        cover["video"] += old["fvd"] - 1.96 * old["se"] <= truth["ref"] <= old["fvd"] + 1.96 * old["se"]
        # the old reading of two intervals: the difference's SE from the two (unpaired) video-level SEs
        se_unpaired.append(np.hypot(old["se"], old_other["se"]))
        cover["unpaired"] += abs(d["diff"] - true_diff) <= 1.96 * se_unpaired[-1]
        cover["diff"] += d["lo"] <= true_diff <= d["hi"]
        points.append(iv["fvd"])
        diffs.append(d["diff"])
        se_cluster.append(iv["se"])
        se_video.append(old["se"])
        se_diff.append(d["se"])
    rate = {k: v / n_draws for k, v in cover.items()}
    assert 0.90 <= rate["fvd"] <= 0.99, rate
    assert 0.90 <= rate["diff"] <= 0.99, rate
    sd_true, sd_diff = np.std(points, ddof=1), np.std(diffs, ddof=1)  # the spread over fresh draws of the design
    assert 0.75 < np.mean(se_cluster) / sd_true < 1.33, (np.mean(se_cluster), sd_true)
    assert 0.75 < np.mean(se_diff) / sd_diff < 1.33, (np.mean(se_diff), sd_diff)
    # the old interval (point +- 1.96 SE of the video-level bootstrap) on the same data: SE > 2x the true spread,
    # so it covers (nearly) always: not a 95% interval
    assert np.mean(se_video) / sd_true > 2.0, (np.mean(se_video), sd_true)
    assert rate["video"] > 0.99, rate
    # and two unpaired intervals say nothing about a difference: their combined SE is > 3x the difference's spread
    assert np.mean(se_unpaired) / sd_diff > 3.0 and rate["unpaired"] > 0.99, (np.mean(se_unpaired), sd_diff, rate)


def test_fvd_interval_is_never_below_zero():
    """Two real sets of the same subjects (true FVD 0, the point estimate only its upward bias): the interval stays
    >= 0 where the old ``point +- 1.96 SE`` reached below 0, and is pulled below the biased point."""
    rng = np.random.default_rng(7)
    subjects = np.repeat([f"s{i:02d}" for i in range(S)], K)
    effect = np.repeat(rng.standard_normal((S, D)), K, axis=0)
    real, other = (effect + rng.standard_normal((S * K, D)) * SIGMA_REAL for _ in range(2))
    iv = fvd_interval(other, real, n_boot=200, gen_groups=subjects, real_groups=subjects)
    assert 0.0 <= iv["lo"] < iv["fvd"] and iv["hi"] > 0
    assert iv["fvd"] - 1.96 * iv["se"] < 0  # what the old point +- 1.96 SE interval gave


def test_interval_of_and_argument_errors():
    vals = np.array([1.0, 1.2, 0.8, 1.1, 0.9])
    d = interval_of(0.9, vals, scale="identity")  # bias 0.1 removed: centre 0.8
    assert d["bias"] == pytest.approx(0.1) and (d["lo"] + d["hi"]) / 2 == pytest.approx(0.8)
    assert d["hi"] - d["lo"] == pytest.approx(2 * 1.959964 * vals.std(ddof=1), rel=1e-6)
    s = interval_of(0.9, vals)  # sqrt scale: centre 2 sqrt(0.9) - mean(sqrt(vals)), squared ends
    c, h = 2 * np.sqrt(0.9) - np.sqrt(vals).mean(), 1.959964 * np.sqrt(vals).std(ddof=1)
    assert s["lo"] == pytest.approx((c - h) ** 2, rel=1e-6) and s["hi"] == pytest.approx((c + h) ** 2, rel=1e-6)
    with pytest.raises(ValueError, match="scale must be"):
        interval_of(0.9, vals, scale="log")
    subjects, real, gens = _draw_design(np.random.default_rng(2))
    with pytest.raises(ValueError, match="gen_groups and real_groups"):
        fvd_interval(gens["ref"], real, gen_groups=subjects)
    assert fvd_interval(gens["ref"], real, n_boot=0) is None


def test_resampled_scores_match_the_group_scores_and_spread_like_fresh_subjects():
    subjects, real, gens = _draw_design(np.random.default_rng(3))
    classes = np.tile(np.arange(K) % 3, S)
    out = resampled_scores(gens["ref"], subjects, real, subjects, gen_classes=classes, real_classes=classes,
                           n_boot=300, seed=1)
    assert set(out) == {"fvd", "cfvd", "sfvd"} and all(v.shape == (300,) and np.isfinite(v).all() for v in out.values())
    # the resampled values scatter around the scores of the sets (upwards: duplicated subjects)
    recs = [VideoRecord(path=f"/v/{i}.mp4", subject=s, class_index=int(c), class_name=f"c{c}", text="", split="test",
                        take=0, n_frames=16) for i, (s, c) in enumerate(zip(subjects, classes))]
    scores = feature_scores(gens["ref"], recs, real, recs)
    for m, point in (("fvd", scores["fvd"]), ("cfvd", scores["cfvd"]["mean"]), ("sfvd", scores["sfvd"]["mean"])):
        assert abs(np.median(out[m]) - point) < 3 * out[m].std(), m
    # the sFVD resample is the mean of fixed per-subject FVDs: its SE is their std / sqrt(S) (independent formula)
    per = np.array([scores["sfvd"]["per_subject"][s]["fvd"] for s in sorted(set(subjects))])
    assert out["sfvd"].std() == pytest.approx(per.std() / np.sqrt(S), rel=0.2)


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
    iv = lto["fvd_interval"]
    assert 0 <= iv["lo"] < iv["hi"] and iv["resampling"] == "subjects" and iv["n_subjects"] == 6
    # the interval resamples the subjects of every slot at once: the mean over slots of the joint resamples
    pairs_k = [(feats[[i for i, r in enumerate(recs) if r.take == k]],
                [r.subject for r in recs if r.take == k],
                feats[[i for i, r in enumerate(recs) if r.take != k]],
                [r.subject for r in recs if r.take != k]) for k in range(3)]
    assert iv["se"] == pytest.approx(subject_bootstrap(pairs_k, 20, 0)[1].mean(1).std(ddof=1) * np.sqrt(6 / 5))
    assert floor["fvd_interval"]["resampling"] == "subjects"
    # one take per pair: nothing to hold out
    assert leave_take_out(feats[:1], recs[:1], "test") is None
    scores = feature_scores(feats[b], [recs[i] for i in b], feats[a], [recs[i] for i in a])
    assert scores["cfvd"]["n_groups"] == 4 and scores["sfvd"]["n_groups"] == 6
