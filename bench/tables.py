"""The benchmark's tables, rendered from plain ``results.json`` data (see :mod:`bench.results`): main
(per split), expression change per class (per split), generalisation gap, autoencoders, sampler ablation, run facts;
as Markdown, LaTeX (booktabs) and CSV
(:func:`write_tables`), and the sampler ablation's own ``ablation.md`` / ``ablation.csv``
(:func:`write_ablation_tables`). Every number is shown with the digits of :data:`metrics.format.DIGITS` and every
metric column is named by :data:`metrics.format.METRIC_LABELS`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from bench.claims import CLAIM_HEADERS, RULE, claim_rows
from metrics.format import (digits_of, display_rows, format_mean_std, format_value, latex_table, metric_label,
                            protocol_header, to_markdown)
from lfdm_bench.utils.io import atomic_write_json, atomic_write_text

METHOD_NAMES = {"lfdm": "LFDM", "ldm": "LDM", "vdm": "VDM (pixel space)", "imaginator": "ImaGINator (GAN)",
                "static": "static (source image)", "retrieval": "retrieval (LFAE)",
                "real": "real (other take)", "real_fresh": "real, fresh takes", "lfae": "LFAE (predicted flows)",
                "lfae_fit": "LFAE (flows fitted to the target)", "floor": "real vs real (disjoint halves)"}
# acc x real: class accuracy / the probe's accuracy on real test videos; motion x real: generated / real amplitude;
# expression change x real: mean over classes / worst class (metrics.expression); expr. acc: the probe on those
# change images. N: generated vs real videos of the row, and per cFVD (class) / sFVD (subject) group
MAIN_HEADERS = ["method", "N", *(f"{metric_label(k)} [95% CI]" for k in ("fvd", "fvd_diff_lfdm")),
                *map(metric_label, ("cfvd", "sfvd", "kvd", "acc", "acc_ratio", "psnr", "ssim", "motion_ratio",
                                    "expr_change", "acc_expr", "frame0_psnr", "seconds_per_video"))]
EXPRESSION_NOTE = ("Expression change x real: the signed change of the late frames against frame 0 (pooled 8x8), "
                   "projected on the same subject's real takes of the requested class (1 = as much as the real takes, "
                   "0 = none: a warp without new colour scores near 0); mean over classes / worst class; neutral has "
                   "no change to measure (-).")
EXPRESSION_ORDER = ("real_fresh", "real")  # ceiling rows first in the per-class table
GAP_HEADERS = ["method", *map(metric_label, ("fvd_test", "fvd_train", "gap_fvd")),
               f"{metric_label('acc')} test", f"{metric_label('acc')} train"]
AE_HEADERS = ["autoencoder", *map(metric_label, ("l1", "psnr", "psnr_pooled", "ssim", "frames"))]
ABLATION_COLUMNS = ("point", "method", "sampler", "steps", "guidance", "eta", "fvd", "cfvd", "sfvd", "kvd",
                    "acc_motion", "acc_i3d", "motion_ratio", "open_motion", "expr_ratio", "expr_min",
                    "seconds_per_video", "nfe_per_video", "n_videos")


CLAIMS_CAPTION = ("Each claim of the paper that this run can test, as a difference between two methods that the claim "
                  "says is > 0, with its 95% interval (FVD / cFVD / sFVD: paired subject-cluster bootstrap against the "
                  "same real videos; gap: the two splits' paired differences, independent subjects; reconstruction: "
                  "per-subject pooled PSNR on the same clips, subjects resampled). The intervals resample the subjects "
                  "of this one training of each model, not the training itself: on the embedded default benchmark, LFDM "
                  "retrained with other seeds moved by more than its interval's half-width (README, \"Training "
                  "seeds\"), so a verdict between close methods needs several trainings. Rule: " + RULE)


def claim_number(x: float) -> str:
    return format_value(x, 3, missing="-")


def _v(x: Any, metric: str) -> str:
    return format_value(x, digits_of(metric), missing="-")


def main_rows(results: dict, split: str) -> list[list[str]]:
    """The main table's rows of ``split`` (one per method that was evaluated on it)."""
    rows = []
    for m, d in results["methods"].items():
        s = d.get(split)
        if not s:
            continue
        ci, dci = s.get("fvd_ci"), s.get("fvd_diff_lfdm_ci")
        fvd = _v(s["fvd"], "fvd") + (f" [{_v(ci[0], 'fvd')}, {_v(ci[1], 'fvd')}]" if ci else "")
        diff = ("(reference)" if m == "lfdm" and s.get("fvd") is not None and _has_differences(results, split) else
                _v(s.get("fvd_diff_lfdm"), "fvd") + (f" [{_v(dci[0], 'fvd')}, {_v(dci[1], 'fvd')}]" if dci else ""))
        group = {k: format_mean_std(s[k]["mean"], s[k]["std"], digits_of(k), missing="-")
                 for k in ("cfvd", "sfvd")}
        rows.append([METHOD_NAMES.get(m, m), s.get("sizes") or "-", fvd, diff, group["cfvd"], group["sfvd"],
                     _v(s["kvd"], "kvd"),
                     _v(None if s["acc"] is None else 100 * s["acc"], "acc_percent"),
                     _v(s.get("acc_ratio"), "acc_ratio"), _v(s["psnr"], "psnr"),
                     _v(s["ssim"], "ssim"), _v(s.get("motion_ratio"), "motion_ratio"), expression_cell(s),
                     _v(None if s.get("acc_expr") is None else 100 * s["acc_expr"], "acc_percent"),
                     _v(s.get("frame0_psnr"), "frame0_psnr"), _v(s["seconds_per_video"], "seconds_per_video")])
    return rows


def expression_cell(s: dict) -> str:
    """``"0.82 / 0.57 (fear)"``: the expression change x real averaged over classes / of the worst class."""
    if s.get("expr_ratio") is None:
        return "-"
    worst = (f" / {_v(s.get('expr_min'), 'expr_min')}" + (f" ({s['expr_min_class']})" if s.get("expr_min_class")
                                                            else "")) if s.get("expr_min") is not None else ""
    return _v(s["expr_ratio"], "expr_ratio") + worst


def expression_table(results: dict, split: str) -> tuple[list[str], list[list[str]]]:
    """Headers and rows of the per-class expression change x real of ``split``: one row per method (the real
    fresh takes, the ceiling, first), one column per class; a class without a value (neutral) is ``-``."""
    per = (results.get("expression_per_class") or {}).get(split) or {}
    methods = [m for m in EXPRESSION_ORDER if m in per] + [m for m in per if m not in EXPRESSION_ORDER]
    classes: list[str] = []
    for m in methods:
        classes += [c for c in per[m] if c not in classes]
    rows = [[METHOD_NAMES.get(m, m), *(_v((per[m].get(c) or {}).get("ratio"), "expr") for c in classes)]
            for m in methods]
    return ["method", *classes], rows


def expression_caption(per_class: Sequence[dict]) -> str:
    """Caption of a per-class expression change table; ``per_class``: the tables' ``{class: {"ratio", "why", ...}}``
    (one per method and source), whose first reason for a class without a value (neutral) is stated."""
    why = next((v["why"] for d in per_class for v in d.values() if v.get("ratio") is None and v.get("why")), "")
    return ("Per class: the mean over the class's videos of r = <d, D> / <D, D>, d the video's signed change of the "
            "late frames against frame 0 (pooled 8x8), D the mean change of the real videos of the same subject and "
            "class: 1 = as much of the expression's appearance change as the real takes show, 0 = none. Real, fresh "
            "takes are the ceiling." + (f" '-': {why}." if why else ""))


def _expression_caption(results: dict, split: str) -> str:
    per = (results.get("expression_per_class") or {}).get(split) or {}
    return f"{split.capitalize()}-subject source images. " + expression_caption(list(per.values()))


def _has_differences(results: dict, split: str) -> bool:
    return bool(((results.get("table_notes") or {}).get(split) or {}).get("difference"))


def _group_size(results: dict, split: str, metric: str, side: str) -> int | None:
    """The typical (median) number of videos per cFVD / sFVD group on one side, from the generators' records."""
    sizes = (results.get("table_notes") or {}).get(split, {}).get("group_sizes", {})
    for m in ("lfdm", "ldm", "vdm", "imaginator", *sizes):
        n = (sizes.get(m) or {}).get(metric, {}).get(side)
        if n is not None:
            return n
    return None


def _caption(results: dict, split: str) -> str:
    p, d = results.get("protocol") or {}, results.get("detector") or {}
    gens = {m: v[split]["n_generated"] for m, v in results["methods"].items()
            if split in v and m not in ("real", "floor")}
    n_real = next((v[split]["n_real"] for m, v in results["methods"].items()
                   if split in v and m not in ("real", "floor")), None)
    chance = next((v[split]["chance"] for v in results["methods"].values() if split in v and v[split].get("chance")),
                  0)
    if d.get("kind") == "embedded-domain":
        det = (f"detector {d.get('name')} (embedded-domain VCNN, {d.get('feature_dim')}-d features at "
               f"{p.get('resolution')}px, no resize to 224; its FVDs are internal to this benchmark, NOT comparable "
               f"with published numbers)")
    else:
        det = (f"{p.get('resolution')}px -> 224 ({p.get('resize_method')}); FVD protocol "
               f"{p.get('preset', 'lfdm-bench')}; detector {d.get('name')}"
               + ("" if d.get("comparable_with_published") else
                  f" (NOT comparable with published numbers: {d.get('weights_status') or d.get('name')} weights; "
                  "i3d-random is a pipeline smoke test only)"))
    sizes = []
    for metric, what in (("cfvd", "class"), ("sfvd", "subject")):
        g, r = _group_size(results, split, metric, "generated"), _group_size(results, split, metric, "real")
        if g is not None:
            sizes.append(f"{metric.replace('fvd', 'FVD')} per {what}: {g} generated vs {r} "
                         "real videos")
    lines = [f"{split.capitalize()}-subject source images: {max(gens.values()) if gens else 0} generated videos per "
             f"method vs all {n_real} real videos; {p.get('n_frames')} frames; {det}; covariance ddof={p.get('ddof')}."]
    if sizes:
        lines.append("Groups (median): " + "; ".join(sizes) + ".")
    notes = (results.get("table_notes") or {}).get(split, {})
    ci = notes.get("interval")
    if ci:
        lines.append(f"FVD [95% CI]: {ci['method']}, {ci['n_boot']} resamples"
                     + (f" of {ci['n_subjects']} subjects" if ci.get("n_subjects") else "")
                     + "; bias-corrected, so an interval need not contain the (upward-biased) point estimate.")
    diff = notes.get("difference")
    if diff:
        lines.append(f"FVD - LFDM [95% CI]: the method's FVD minus LFDM's against the same real videos; "
                     f"{diff['method']}, {diff['n_boot']} resamples of {diff['n_subjects']} subjects. A difference "
                     "whose interval excludes 0 is a difference; overlapping FVD intervals are no evidence of none."
                     + (f" Not paired (another real set): {', '.join(diff['skipped'])}." if diff.get("skipped")
                        else ""))
    for m in ("real_fresh", "real", "floor"):
        what = notes.get("what", {}).get(m)
        if what:
            lines.append(f"{METHOD_NAMES[m]}: {what}.")
    lines += [f"{METHOD_NAMES.get(m, m)}: not run, {why}." for m, why in (results.get("skipped") or {}).items()]
    lines.append(f"Class accuracy by a linear probe on motion features of real training videos (chance "
                 f"{100 * (chance or 0):.1f}%); expr. acc: a probe of the same kind on their expression-change "
                 "features.")
    if any(split in v and v[split].get("expr_ratio") is not None for v in results["methods"].values()):
        lines.append(EXPRESSION_NOTE)
    return " ".join(lines)


def gap_rows(results: dict) -> list[list[str]]:
    def acc(s: dict) -> str:
        return _v(None if s.get("acc") is None else 100 * s["acc"], "acc_percent")

    return [[METHOD_NAMES.get(m, m), _v(d["test"]["fvd"], "fvd"), _v(d["train"]["fvd"], "fvd"),
             _v(d["gap"]["fvd"], "fvd"), acc(d["test"]), acc(d["train"])]
            for m, d in results["methods"].items() if "gap" in d]


def ae_rows(results: dict) -> list[list[Any]]:
    return [[k, _v(v["l1"], "l1"), _v(v["psnr"], "psnr"), _v(v.get("psnr_pooled"), "psnr_pooled"),
             _v(v["ssim"], "ssim"), v["frames"]] for k, v in results["autoencoders"].items()]


def ablation_table(rows: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
    """Display rows of a sampler ablation: columns of :data:`ABLATION_COLUMNS` that hold a value somewhere, named by
    :func:`~metrics.format.metric_label` (class accuracies as percentages)."""
    return display_rows(rows, ABLATION_COLUMNS, labelled=True)


SPLIT_NAMES = {"val": "validation", "test": "test", "train": "train"}


def ablation_caption(ab: dict) -> str:
    n, n_real = ab["rows"][0].get("n_videos"), ab["rows"][0].get("n_real")
    split = SPLIT_NAMES.get(ab.get("split") or "test", ab.get("split"))
    return (f"{n} generated videos per setting (the first {ab.get('max_subjects') or 'all'} {split} subjects, every "
            f"class, same sources and seeds at every setting) vs {n_real} real {split} videos; NFE = network "
            f"evaluations per video (a guided step counts 2).")


def best_line(ab: dict) -> str:
    """The ablation's best setting at its cost (:func:`bench.results.best_setting`) as a sentence."""
    b = ab.get("best")
    if not b:
        return ""
    used = " (the sampler of its test and train videos)" if ab.get("split") == "val" else ""
    return (f"\n\nBest at its cost{used}: {b['sampler']}, {b['steps']} steps, guidance {b['guidance']:g} (class "
            f"accuracy {_v(b['acc_motion'], 'acc_motion')}, motion x real {_v(b['motion_ratio'], 'motion_ratio')}, "
            f"{b['nfe_per_video']} NFE per video); rule: {b['rule']}.")


def fact_rows(results: dict) -> list[list[Any]]:
    f = results["facts"]
    facts = [["dataset", f"{f['dataset']} {f['dataset_options']}"],
             ["resolution / frames", f"{f['resolution']} px / {f['frames']}"], ["eval frames", f["eval_frames"]],
             ["detector", f["detector"]], ["seeds", json.dumps(f["seeds"])],
             ["sampler (LFDM config)", json.dumps(f["sampler"])], ["hardware", f["hardware"]]]
    for name, s in (f.get("samplers") or {}).items():
        where = ("its ablation's best on the validation subjects" if s["chosen_on"] == "val"
                 else "the run config's")
        facts.append([f"{name} sampler (test / train videos)", f"{s['sampler']}, {s['steps']} steps, guidance "
                                                               f"{s['guidance']:g}: {where}"])
    for name, m in results.get("models", {}).items():
        facts.append([f"{name} parameters (stage 1 / U-Net)", f"{m['stage1_params']:,} / {m['unet_params']:,}"])
        facts.append([f"{name} U-Net GFLOP per training step",
                      f"{m['unet_train_gflop_per_step']:.1f} at {m['train_batch_shape']}"])
    return facts + [[f"wall time {k}", f"{v:.0f} s"] for k, v in f["wall_seconds"].items()]


PAPER_HEADERS = ["row", "settings", "N", f"{metric_label('fvd')} [95% CI]", "FVD - reference [95% CI]",
                 *map(metric_label, ("acc", "motion_ratio", "expr_change", "seconds_per_video"))]
PAPER_RECON_HEADERS = ["LFAE", "flows", "fine-tuning steps", *map(metric_label, ("l1", "psnr", "ssim"))]


def _settings_text(r: dict) -> str:
    s = r.get("settings") or r.get("sampler") or {}
    if not s:
        return "-"
    if s.get("sampler") is None and "steps" not in s:
        return "one generator pass" + (", null class" if s.get("unconditional") else "")
    text = f"{s.get('sampler')} {s.get('steps')} steps"
    if s.get("unconditional"):
        return text + ", null class"
    if s.get("guidance") is not None:
        text += f", g {s['guidance']:g}"
    return text + (f", eta {s['eta']:g}" if s.get("eta") is not None else "")


def _ci_text(x: Any, ci: Any, metric: str = "fvd") -> str:
    if x is None:
        return "-"
    text = _v(x, metric)
    if isinstance(ci, (list, tuple)) and len(ci) == 2 and None not in ci:
        text += f" [{_v(ci[0], metric)}, {_v(ci[1], metric)}]"
    return text


def paper_sections(results: dict) -> list[tuple[str, str, list[str], list[list[str]]]]:
    """The paper's other experiments (``results["paper"]``, :mod:`bench.paper`) as (title, caption, headers, rows)
    tables: one per study, and the new domain's reconstruction table."""
    out = []
    for study, st in (results.get("paper") or {}).items():
        ref, diffs, rows = st.get("reference"), st.get("differences") or {}, st.get("rows") or {}
        order = sorted(rows, key=lambda r: int(rows[r].get("steps") or 0)) if study == "ddim_steps" else list(rows)
        table = []
        for name in order:
            r = rows[name]
            d = diffs.get(name) or {}
            n = r.get("n_generated") or r.get("n_videos")
            table.append([METHOD_NAMES.get(name, name), _settings_text(r),
                          f"{n} vs {r.get('n_real')}" if r.get("n_real") else str(n or "-"),
                          _ci_text(r.get("fvd"), r.get("fvd_ci")),
                          "reference" if name == ref else _ci_text(d.get("diff"), [d.get("lo"), d.get("hi")]),
                          _v(None if r.get("acc") is None else 100 * r["acc"], "acc_percent"),
                          _v(r.get("motion_ratio"), "motion_ratio"), expression_cell(r),
                          _v(r.get("seconds_per_video"), "seconds_per_video")])
        caption = (f"Test subjects, {results['benchmark']['config']['paper']['per_pair']} video(s) per (subject, "
                   "class) pair, the main tables' protocol and detector. FVD - reference: this row's FVD minus the "
                   f"reference row's ({METHOD_NAMES.get(ref, ref)}), paired subject-cluster bootstrap (same subjects "
                   "and real videos). Sampler: each generator's choice on the validation subjects.")
        if study == "new_domain":
            caption = (f"New domain: style {st.get('style')!r}; LFAE fine-tuned {st.get('finetune_steps')} steps on "
                       "that domain's train subjects, decoder only or whole; generation with the benchmark's DM (not "
                       "retrained; for 'whole' the encoder's z0 moved under it). " + caption)
        out.append((st.get("title") or study, caption, PAPER_HEADERS, table))
        if study == "new_domain" and st.get("reconstruction"):
            rec = [[r.get("lfae"), r.get("flows") or "-", str(r.get("trained", "-")), _v(r.get("l1"), "l1"),
                    _v(r.get("psnr"), "psnr"), _v(r.get("ssim"), "ssim")] for r in st["reconstruction"].values()]
            out.append(("New domain: reconstruction of its test clips (frames 1..T-1 from frame 0)",
                        "source = the benchmark's LFAE as is; flows predicted, or fitted to the target (an oracle).",
                        PAPER_RECON_HEADERS, rec))
    return out


def render_markdown(results: dict) -> str:
    parts = [f"# Benchmark {results['benchmark']['name']}\n"]
    for split in ("test", "train"):
        rows = main_rows(results, split)
        if rows:
            parts.append(f"## Main table, {split} subjects\n\n{_caption(results, split)}\n\n"
                         + to_markdown(rows, MAIN_HEADERS))
        heads, expr = expression_table(results, split)
        if expr:
            parts.append(f"## Expression change x real per class, {split} subjects\n\n"
                         f"{_expression_caption(results, split)}\n\n" + to_markdown(expr, heads))
    gap = gap_rows(results)
    if gap:
        parts.append("## Generalisation: FVD from test-subject vs train-subject images\n\n"
                     + to_markdown(gap, GAP_HEADERS))
    ae = ae_rows(results)
    if ae:
        parts.append("## Autoencoders: reconstruction of test-subject frames 1..T-1\n\n"
                     "PSNR as the mean over frames (identical frames capped at 100 dB) and of the pooled MSE.\n\n"
                     + to_markdown(ae, AE_HEADERS))
    for title, caption, headers, rows in paper_sections(results):
        parts.append(f"## {title}\n\n{caption}\n\n" + to_markdown(rows, headers))
    if results.get("claims"):
        parts.append("## The paper's claims on this benchmark\n\n" + CLAIMS_CAPTION + "\n\n"
                     + to_markdown(claim_rows(results["claims"], claim_number), CLAIM_HEADERS))
    seeds = results.get("training_seeds")
    if seeds and seeds.get("rows"):
        from bench.seeds import seeds_markdown

        parts.append("## LFDM and LDM over training seeds\n" + seeds_markdown(seeds["rows"], seeds["summary"]).split("\n", 1)[1])
    for ab in (results.get("ablation"), results.get("ablation_ldm"), results.get("ablation_vdm")):
        if ab and ab["rows"]:
            split = SPLIT_NAMES.get(ab.get("split") or "test", ab.get("split"))
            parts.append(f"## Sampler ablation ({ab.get('generator', 'LFDM')}, {split} subjects)\n\n"
                         f"{ablation_caption(ab)}\n\n" + to_markdown(ablation_table(ab["rows"])) + best_line(ab)
                         + "\n\nPlots: " + ", ".join(f"`{p}`" for p in ab["plots"]))
    parts.append("## Run facts\n\n" + to_markdown(fact_rows(results), ["", ""]))
    return "\n\n".join(parts) + "\n"


def render_latex(results: dict) -> str:
    out = []
    for split in ("test", "train"):
        rows = main_rows(results, split)
        if rows:
            out.append(latex_table(MAIN_HEADERS, rows, _caption(results, split)))
        heads, expr = expression_table(results, split)
        if expr:
            out.append(latex_table(heads, expr, "Expression change x real per class: "
                                   + _expression_caption(results, split)))
    for ab in (results.get("ablation"), results.get("ablation_ldm"), results.get("ablation_vdm")):
        if ab and ab["rows"]:
            rows = ablation_table(ab["rows"])
            out.append(latex_table(list(rows[0].keys()), [list(r.values()) for r in rows],
                                   f"{ab.get('generator', 'LFDM')} sampler ablation: {ablation_caption(ab)}"))
    return "\n\n".join(out) + "\n"


def main_csv_rows(results: dict, split: str) -> list[dict[str, Any]]:
    rows = []
    for m, d in results["methods"].items():
        if split in d:
            s = d[split]
            ci = s["fvd_ci"] or [None, None]
            dci = s.get("fvd_diff_lfdm_ci") or [None, None]
            rows.append({"method": m, "fvd": s["fvd"], "fvd_ci_lo": ci[0], "fvd_ci_hi": ci[1],
                         "fvd_diff_lfdm": s.get("fvd_diff_lfdm"), "fvd_diff_lfdm_ci_lo": dci[0],
                         "fvd_diff_lfdm_ci_hi": dci[1],
                         "cfvd_mean": s["cfvd"]["mean"], "cfvd_std": s["cfvd"]["std"], "sfvd_mean": s["sfvd"]["mean"],
                         "sfvd_std": s["sfvd"]["std"], "kvd": s["kvd"], "acc": s["acc"], "acc_i3d": s["acc_i3d"], "acc_ratio": s.get("acc_ratio"),
                         "psnr": s["psnr"], "ssim": s["ssim"], "motion_ratio": s.get("motion_ratio"),
                         "expr_ratio": s.get("expr_ratio"), "expr_min": s.get("expr_min"),
                         "expr_min_class": s.get("expr_min_class"), "acc_expr": s.get("acc_expr"),
                         "acc_expr_ratio": s.get("acc_expr_ratio"),
                         "frame0_psnr": s.get("frame0_psnr"), "n_generated": s["n_generated"], "sizes": s.get("sizes"),
                         "n_real": s["n_real"], "seconds_per_video": s["seconds_per_video"]})
    return rows


def write_tables(results: dict, out: str | Path) -> dict[str, Path]:
    """results.json, tables.md, tables.tex, one CSV per main table and one per split's per-class expression change
    (``expression_<split>.csv``: method, class, ratio, se, n); returns the paths."""
    out = Path(out)
    paths = {"json": out / "results.json", "md": out / "tables.md", "tex": out / "tables.tex"}
    atomic_write_json(paths["json"], results)
    atomic_write_text(paths["md"], render_markdown(results))
    atomic_write_text(paths["tex"], render_latex(results))
    for split in ("test", "train"):
        rows = main_csv_rows(results, split)
        if rows:
            paths[f"csv_{split}"] = out / f"main_{split}.csv"
            atomic_write_text(paths[f"csv_{split}"], pd.DataFrame(rows).to_csv(index=False))
        per = (results.get("expression_per_class") or {}).get(split) or {}
        if per:
            paths[f"csv_expression_{split}"] = out / f"expression_{split}.csv"
            atomic_write_text(paths[f"csv_expression_{split}"], pd.DataFrame(
                [{"method": m, "class": c, "ratio": v.get("ratio"), "se": v.get("se"), "n": v.get("n"),
                  "energy": v.get("energy")} for m, d in per.items() for c, v in d.items()]).to_csv(index=False))
    return paths


def write_ablation_tables(rows: Sequence[dict[str, Any]], out: str | Path, protocol: dict | None = None,
                          detector: dict | None = None) -> dict[str, Path]:
    """A sampler ablation's ``ablation.md`` (protocol header + :func:`ablation_table`) and ``ablation.csv`` (raw
    values, result keys as columns) in ``out``."""
    out = Path(out)
    lines = ["# Sampler ablation", ""]
    header = protocol_header(protocol, detector)
    lines += header + ([""] if header else [])
    lines += [to_markdown(ablation_table(rows)), "",
              "NFE = network evaluations per video (a guided step counts 2: conditional + null branch).", ""]
    md = out / "ablation.md"
    atomic_write_text(md, "\n".join(lines))
    csv = out / "ablation.csv"
    atomic_write_text(csv, pd.DataFrame(list(rows)).to_csv(index=False))
    return {"md": md, "csv": csv}
