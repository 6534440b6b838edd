"""The paper's claims, each with the measured evidence of a benchmark run and a verdict by one stated rule.

Written from ``results.json`` alone (:func:`paper_claims`; the tables stage and report.html show it). Every claim is
a sign of a difference between two methods (written so that the paper's claim is "the difference is > 0"); its
verdict follows :data:`RULE` from the 95% interval of that difference:

* FVD / cFVD / sFVD of LDM (and of VDM and ImaGINator, when the run has them) minus LFDM: paired subject-cluster
  bootstrap against the same real videos
  (:func:`metrics.uncertainty.paired_differences` / :func:`~metrics.uncertainty.paired_group_differences`);
* the train-test gap: (LDM - LFDM on test subjects) - (LDM - LFDM on train subjects); the two splits hold disjoint
  subjects, so their bootstrap errors are independent: SE = sqrt(SE_test^2 + SE_train^2), centred on the
  bias-corrected estimates;
* reconstruction: per-subject pooled PSNR of LDM's autoencoder minus the LFAE's (predicted flows, no refinement) on the
  same test clips, subjects resampled (:func:`~metrics.uncertainty.paired_mean_difference`);
* the paper's other experiments (unconditional, new domain, text encoder, DDIM steps: ``bench --config
  bench-paper``, :mod:`bench.paper`): the FVD of one row of a study minus another's, paired inside the study;
  a run without them lists those claims as ``not measured``, with what would measure them.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from metrics.uncertainty import Z95, paired_mean_difference

__all__ = ["RULE", "VERDICTS", "verdict", "paper_claims", "paper_study_claims", "claim_rows", "CLAIM_HEADERS"]

RULE = ("A claim is written as 'difference > 0'. confirmed: its 95% interval lies above 0; contradicted: below 0; "
        "not decided (at this sample size): the interval contains 0; not measured: the run has no data for it.")
VERDICTS = ("confirmed", "contradicted", "not decided", "not measured")
CLAIM_HEADERS = ["claim (paper)", "difference (> 0 supports the claim)", "estimate [95% CI]", "verdict"]
AE_LFAE, AE_LDM = "LFAE (predicted flows)", "LDM-AE"
# the paper's other generators: their rows (LFDM vs each, test subjects) when the benchmark ran them
OTHER_GENERATORS = {"imaginator": "ImaGINator", "vdm": "VDM"}
NOT_IN_DEFAULT = "needs runs the default benchmark does not make (`lfdm-bench bench --config bench-paper`, issue 22)"


def verdict(lo: float | None, hi: float | None) -> str:
    """The verdict of :data:`RULE` for the 95% interval ``[lo, hi]`` of a difference that the claim says is > 0."""
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return "not measured"
    if lo > 0:
        return "confirmed"
    if hi < 0:
        return "contradicted"
    return "not decided"


def _row(claim: str, measure: str, estimate: float | None, ci: Any, note: str = "") -> dict[str, Any]:
    lo, hi = (ci if isinstance(ci, (list, tuple)) and len(ci) == 2 else (None, None))
    return {"claim": claim, "measure": measure, "estimate": estimate, "ci": [lo, hi] if lo is not None else None,
            "verdict": verdict(lo, hi) if estimate is not None else "not measured", "note": note}


def _difference(results: Mapping[str, Any], method: str, split: str, metric: str) -> dict[str, Any]:
    """``{"diff", "lo", "hi", "se", "bias"}`` of ``metric`` (method minus LFDM) on ``split``, or ``{}``."""
    return (((results.get("differences") or {}).get(split) or {}).get(method) or {}).get(metric) or {}


def _gap_difference(results: Mapping[str, Any]) -> tuple[float | None, list[float] | None]:
    """(LDM - LFDM gap difference, its interval) from the two splits' paired FVD differences."""
    te, tr = _difference(results, "ldm", "test", "fvd"), _difference(results, "ldm", "train", "fvd")
    if any(d.get(k) is None for d in (te, tr) for k in ("diff", "se", "bias")):
        return None, None
    est = te["diff"] - tr["diff"]
    centre = (te["diff"] - te["bias"]) - (tr["diff"] - tr["bias"])
    se = math.hypot(te["se"], tr["se"])
    return est, [centre - Z95 * se, centre + Z95 * se]


def paper_claims(results: Mapping[str, Any], n_boot: int = 200, seed: int = 0) -> list[dict[str, Any]]:
    """One dict per claim: ``claim``, ``measure``, ``estimate``, ``ci`` ([lo, hi] or None), ``verdict``, ``note``."""
    rows = []
    for split, where in (("test", "test subjects"), ("train", "train subjects")):
        for metric, label in (("fvd", "FVD"), ("cfvd", "cFVD"), ("sfvd", "sFVD")):
            if split == "train" and metric != "fvd":
                continue
            d = _difference(results, "ldm", split, metric)
            rows.append(_row(f"LFDM generates better videos than LDM ({label}, {where})",
                             f"{label}(LDM) - {label}(LFDM)", d.get("diff"),
                             [d["lo"], d["hi"]] if d else None))
    others = {m: name for m, name in OTHER_GENERATORS.items() if ((results.get("differences") or {}).get("test")
                                                                 or {}).get(m)}
    for m, name in others.items():
        for metric, label in (("fvd", "FVD"), ("cfvd", "cFVD"), ("sfvd", "sFVD")):
            d = _difference(results, m, "test", metric)
            rows.append(_row(f"LFDM generates better videos than {name} ({label}, test subjects)",
                             f"{label}({name}) - {label}(LFDM)", d.get("diff"), [d["lo"], d["hi"]] if d else None))
    est, ci = _gap_difference(results)
    rows.append(_row("LFDM generalises better: a smaller test-train FVD gap than LDM",
                     "gap(LDM) - gap(LFDM), gap = FVD test - FVD train", est, ci,
                     "disjoint subject sets: SE = sqrt(SE_test^2 + SE_train^2)"))
    per = results.get("autoencoder_subject_psnr") or {}
    ae = paired_mean_difference(per.get(AE_LDM) or {}, per.get(AE_LFAE) or {}, n_boot, seed)
    recon = _row("LDM's autoencoder reconstructs better than LFDM's LFAE (PSNR, test frames)",
                 f"PSNR({AE_LDM}) - PSNR({AE_LFAE}), dB, mean over subjects", ae and ae["diff"],
                 ae and [ae["lo"], ae["hi"]],
                 "per-subject pooled PSNR (of the subject's mean squared error) on the same clips; subjects resampled")
    rows.append(recon)
    gen = rows[0]
    both = ("confirmed" if recon["verdict"] == gen["verdict"] == "confirmed" else
            "contradicted" if "contradicted" in (recon["verdict"], gen["verdict"]) else
            "not measured" if "not measured" in (recon["verdict"], gen["verdict"]) else "not decided")
    rows.append({"claim": "LDM reconstructs better yet generates worse (its 3D U-Net must model appearance and motion)",
                 "measure": "both rows above (reconstruction, FVD test)", "estimate": None, "ci": None,
                 "verdict": both, "note": "confirmed only when both parts are; contradicted when either is"})
    missing = [name for m, name in OTHER_GENERATORS.items() if m not in others]
    if missing:
        rows.append(_not_measured(f"LFDM below {' and '.join(missing)} on FVD, cFVD and sFVD"))
    rows += paper_study_claims(results.get("paper") or {})
    return rows


def _not_measured(claim: str) -> dict[str, Any]:
    return {"claim": claim, "measure": "-", "estimate": None, "ci": None, "verdict": "not measured",
            "note": NOT_IN_DEFAULT}


def _study_difference(study: Mapping[str, Any], row: str) -> tuple[float | None, list[float] | None]:
    d = (study.get("differences") or {}).get(row) or {}
    if d.get("diff") is None:
        return None, None
    return d["diff"], [d["lo"], d["hi"]]


def paper_study_claims(paper: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The claims of the paper's other experiments (:mod:`bench.paper`, ``results.json["paper"]``), each from the
    paired FVD difference inside its study (same test subjects and real videos; subjects resampled); a study the run
    did not make gives ``not measured`` rows."""
    rows: list[dict[str, Any]] = []
    paired = "paired subject-cluster bootstrap inside the study (same test subjects and real videos)"
    unc = paper.get("unconditional")
    others = [m for m in ("ldm", *OTHER_GENERATORS) if unc and m in (unc.get("rows") or {})]
    if unc and others:
        for m in others:
            name = {"ldm": "LDM", **OTHER_GENERATORS}[m]
            est, ci = _study_difference(unc, m)
            rows.append(_row(f"Unconditional LFDM generates better videos than unconditional {name} (FVD)",
                             f"FVD({name}, null class) - FVD(LFDM, null class)", est, ci, paired))
    else:
        rows.append(_not_measured("Unconditional LFDM below the other unconditional generators"))
    nd = paper.get("new_domain")
    if nd and nd.get("differences"):
        est, ci = _study_difference(nd, "source")
        rows.append(_row("Fine-tuning the LFAE decoder adapts LFDM to a new domain (FVD, new-domain test subjects)",
                         "FVD(source LFAE, not fine-tuned) - FVD(decoder fine-tuned)", est, ci, paired))
        est, ci = _study_difference(nd, "whole")
        rows.append(_row("Fine-tuning only the LFAE decoder suffices for a new domain (not worse than the whole LFAE)",
                         "FVD(whole LFAE fine-tuned) - FVD(decoder only)", est, ci,
                         paired + "; an interval containing 0 is 'not decided': equivalence is not tested"))
    else:
        rows.append(_not_measured("Fine-tuning only the LFAE decoder suffices for a new domain"))
    dd = paper.get("ddim_steps")
    if dd and dd.get("differences"):
        ref = dd["reference"]
        most = max(dd["rows"], key=lambda r: int(dd["rows"][r].get("steps") or 0))
        est, ci = _study_difference(dd, most)
        n_ref, n_most = dd["rows"][ref].get("steps"), dd["rows"][most].get("steps")
        rows.append(_row(f"More DDIM steps do not improve LFDM's FVD ({n_most} vs {n_ref} steps)",
                         f"FVD(DDIM {n_most} steps) - FVD(DDIM {n_ref} steps)", est, ci,
                         paired + "; confirmed when more steps are worse, 'not decided' when the interval contains 0 "
                         "(no difference is not tested)"))
    else:
        rows.append(_not_measured("More DDIM steps do not improve FVD"))
    te = paper.get("text_encoder")
    if te and te.get("differences"):
        est, ci = _study_difference(te, "onehot")
        rows.append(_row("BERT class-name embeddings condition LFDM better than one-hot class codes (FVD; the paper "
                         "uses BERT)", "FVD(one-hot DM) - FVD(BERT DM)", est, ci, paired + "; same LFAE, budget, "
                         "seeds and sampler"))
    else:
        rows.append(_not_measured("BERT class-name embeddings vs one-hot class codes (the paper uses BERT; asked in "
                                  "issue 22)"))
    return rows


def claim_rows(claims: list[dict[str, Any]], fmt) -> list[list[str]]:
    """Display rows (:data:`CLAIM_HEADERS`); ``fmt(x)`` formats one number."""
    out = []
    for c in claims:
        est = "-" if c["estimate"] is None else fmt(c["estimate"])
        if c["estimate"] is not None and c["ci"]:
            est += f" [{fmt(c['ci'][0])}, {fmt(c['ci'][1])}]"
        out.append([c["claim"], c["measure"], est, c["verdict"] + (f" ({c['note']})" if c["verdict"] == "not measured"
                                                                   and c.get("note") else "")])
    return out
