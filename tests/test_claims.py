"""The paper's claims table (bench/claims.py) and the paired intervals behind it (metrics/uncertainty.py):
the verdict rule on a confirmed, a contradicted, an undecided and an unmeasured case; the gap and reconstruction
intervals against hand computations; sFVD / cFVD paired differences against an independent Fréchet distance."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import linalg

from bench.claims import RULE, paper_claims, verdict
from metrics.uncertainty import Z95, paired_group_differences, paired_mean_difference


def test_verdict_rule():
    assert verdict(0.1, 2.0) == "confirmed"
    assert verdict(-3.0, -0.2) == "contradicted"
    assert verdict(-0.5, 0.5) == "not decided"
    assert verdict(None, None) == "not measured" and verdict(float("nan"), 1.0) == "not measured"
    assert "contains 0" in RULE


def _results(per_subject_ldm: dict, per_subject_lfae: dict) -> dict:
    test = {"fvd": {"diff": 2.0, "lo": 1.2, "hi": 2.5, "se": 0.3, "bias": 0.1},
            "sfvd": {"diff": 0.2, "lo": -0.4, "hi": 0.7, "se": 0.3, "bias": 0.0}, "cfvd": None}
    train = {"fvd": {"diff": 1.5, "lo": 0.9, "hi": 2.1, "se": 0.4, "bias": -0.05}}
    return {"differences": {"test": {"ldm": test}, "train": {"ldm": train}},
            "autoencoder_subject_psnr": {"LDM-AE": per_subject_ldm, "LFAE (predicted flows)": per_subject_lfae}}


def test_claims_table_verdicts_and_intervals():
    rng = np.random.default_rng(0)
    lfae = {f"s{i:02d}": 40 + float(rng.normal()) for i in range(20)}
    ldm = {s: v - 17 + float(rng.normal(scale=0.5)) for s, v in lfae.items()}
    rows = {r["claim"]: r for r in paper_claims(_results(ldm, lfae), n_boot=400)}
    fvd = rows["LFDM generates better videos than LDM (FVD, test subjects)"]
    assert fvd["verdict"] == "confirmed" and fvd["estimate"] == 2.0 and fvd["ci"] == [1.2, 2.5]
    assert rows["LFDM generates better videos than LDM (sFVD, test subjects)"]["verdict"] == "not decided"
    assert rows["LFDM generates better videos than LDM (cFVD, test subjects)"]["verdict"] == "not measured"
    gap = rows["LFDM generalises better: a smaller test-train FVD gap than LDM"]
    se = math.hypot(0.3, 0.4)
    assert gap["estimate"] == pytest.approx(0.5)
    assert gap["ci"] == pytest.approx([(1.9 - 1.55) - Z95 * se, (1.9 - 1.55) + Z95 * se])
    assert gap["verdict"] == "not decided"
    recon = rows["LDM's autoencoder reconstructs better than LFDM's LFAE (PSNR, test frames)"]
    assert recon["estimate"] == pytest.approx(np.mean([ldm[s] - lfae[s] for s in lfae]))
    assert recon["verdict"] == "contradicted" and recon["ci"][1] < -15
    both = rows["LDM reconstructs better yet generates worse (its 3D U-Net must model appearance and motion)"]
    assert both["verdict"] == "contradicted"
    assert rows["More DDIM steps do not improve FVD"]["verdict"] == "not measured"
    # without per-subject reconstructions the reconstruction claim (and so the conjunction) is not measured
    rows = {r["claim"]: r for r in paper_claims(_results({}, {}), n_boot=50)}
    assert rows["LDM's autoencoder reconstructs better than LFDM's LFAE (PSNR, test frames)"]["verdict"] == "not measured"


def test_paired_mean_difference_spreads_like_a_mean():
    rng = np.random.default_rng(1)
    a = {i: float(x) for i, x in enumerate(rng.normal(size=60))}
    b = {i: 0.0 for i in a}
    out = paired_mean_difference(a, b, n_boot=4000, seed=0)
    d = np.array(list(a.values()))
    assert out["diff"] == pytest.approx(d.mean())
    assert out["se"] == pytest.approx(d.std(ddof=1) / np.sqrt(len(d)), rel=0.1)
    assert paired_mean_difference({1: 1.0}, {1: 0.0}) is None


def _frechet(x: np.ndarray, y: np.ndarray) -> float:
    """Independent Fréchet distance of two feature sets (ddof 1), with scipy's sqrtm."""
    m1, m2 = x.mean(0), y.mean(0)
    c1, c2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean = linalg.sqrtm(c1 @ c2).real
    return float(((m1 - m2) ** 2).sum() + np.trace(c1 + c2 - 2 * covmean))


def test_paired_group_differences_points_and_pairing():
    rng = np.random.default_rng(2)
    subjects = [f"s{i}" for i in range(6) for _ in range(12)]
    classes = [f"c{j % 3}" for j in range(72)]
    real = rng.normal(size=(72, 3))
    a = rng.normal(size=(72, 3)) + 0.3
    b = rng.normal(size=(72, 3)) * 1.5
    gens = {"ref": (a, subjects, classes), "other": (b, subjects, classes), "same": (a.copy(), subjects, classes)}
    out = paired_group_differences(gens, real, subjects, classes, "ref", n_boot=100, seed=0)
    def group_mean(g, labels):
        return np.mean([_frechet(g[np.array(labels) == k], real[np.array(labels) == k]) for k in sorted(set(labels))])
    for metric, labels in (("sfvd", subjects), ("cfvd", classes)):
        expect = group_mean(b, labels) - group_mean(a, labels)
        assert out["other"][metric]["diff"] == pytest.approx(expect, rel=1e-6, abs=1e-9)
        # the same videos under another name: every draw differs by exactly 0 (the draws are paired)
        same = out["same"][metric]
        assert same["diff"] == pytest.approx(0, abs=1e-9) and same["se"] == pytest.approx(0, abs=1e-9)
        assert out["other"][metric]["se"] > 0 and out["other"][metric]["lo"] < out["other"][metric]["hi"]
    # without classes only sFVD is paired
    plain = paired_group_differences({k: (v[0], v[1], None) for k, v in gens.items()}, real, subjects, None, "ref",
                                     n_boot=20, seed=0)
    assert plain["other"]["cfvd"] is None and plain["other"]["sfvd"]["diff"] == out["other"]["sfvd"]["diff"]


def test_paper_study_claims_verdicts():
    """The claims of the paper's other experiments (bench.paper) follow the same rule from each study's paired
    difference: a confirmed, a contradicted and an undecided case, and 'not measured' for studies not run."""
    from bench.claims import paper_study_claims

    paper = {
        "unconditional": {"reference": "lfdm", "rows": {"lfdm": {}, "ldm": {}, "vdm": {}},
                          "differences": {"ldm": {"diff": 1.0, "lo": 0.2, "hi": 1.8},
                                          "vdm": {"diff": -0.5, "lo": -0.9, "hi": -0.1}}},
        "ddim_steps": {"reference": "ddim_s5", "rows": {"ddim_s5": {"steps": 5}, "ddim_s20": {"steps": 20},
                                                        "ddim_s100": {"steps": 100}},
                       "differences": {"ddim_s20": {"diff": 0.9, "lo": 0.5, "hi": 1.3},
                                       "ddim_s100": {"diff": 0.1, "lo": -0.2, "hi": 0.4}}}}
    rows = {r["claim"]: r for r in paper_study_claims(paper)}
    ldm = rows["Unconditional LFDM generates better videos than unconditional LDM (FVD)"]
    assert ldm["verdict"] == "confirmed" and ldm["estimate"] == 1.0 and ldm["ci"] == [0.2, 1.8]
    assert rows["Unconditional LFDM generates better videos than unconditional VDM (FVD)"]["verdict"] == "contradicted"
    ddim = rows["More DDIM steps do not improve LFDM's FVD (100 vs 5 steps)"]  # the most steps against the fewest
    assert ddim["verdict"] == "not decided" and ddim["estimate"] == 0.1
    assert rows["Fine-tuning only the LFAE decoder suffices for a new domain"]["verdict"] == "not measured"
    assert any(c.startswith("BERT class-name embeddings vs one-hot") and r["verdict"] == "not measured"
               for c, r in rows.items())
    # and in the whole table, after the main comparisons
    table = paper_claims({"paper": paper}, n_boot=10)
    assert [r["claim"] for r in table[-len(rows):]] == list(rows)
