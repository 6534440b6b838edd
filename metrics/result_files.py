"""Writing evaluation results: ``metrics.json`` (every number with its protocol and environment) and tables.

Files written by :func:`write_eval` into the output folder:

* ``metrics.json``: ``{"protocol", "detector", "environment", "values", "counts", "notes", "timings",
  "summary": [rows], "comparable_with_published"}`` (written atomically; replaced on every run);
* ``metrics.jsonl``: the same object appended as one line per run (a history, as StyleGAN-V's ``report_metric``);
* ``metrics.md`` / ``metrics.csv``: the summary table (mean ± std where a value is averaged over groups);
* ``cfvd_per_class.csv`` / ``sfvd_per_subject.csv`` when those metrics were computed.

:func:`write_sanity` writes ``sanity.json``, ``sanity.md`` and ``sanity.csv`` likewise. NaN / inf become ``null`` in
JSON. Std over groups is the population std (ddof 0); std of PSNR / SSIM is over videos.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from metrics.format import digits_of, format_mean_std, format_value, protocol_header, to_markdown
from lfdm_bench.utils.io import append_line, atomic_write_json, atomic_write_text, jsonable

__all__ = ["summary_rows", "group_rows", "sanity_rows", "render_eval", "render_sanity", "write_eval", "write_sanity"]


def _row(metric: str, split: str, value: float | None, std: float | None, n_gen: Any, n_real: Any,
         detail: str = "") -> dict[str, Any]:
    digits = digits_of(metric, 4)
    return {"metric": metric, "split": split, "value": value, "std": std,
            "display": format_mean_std(value, std, digits), "n_generated": n_gen, "n_real": n_real, "detail": detail}


def summary_rows(result: Any) -> list[dict[str, Any]]:
    """One row per (metric, split) of an :class:`~metrics.protocol.EvalResult` (``display`` is mean ±
    std)."""
    v, c = result.values, result.counts
    ng, nr = c.get("generated", {}), c.get("real", {})
    rows: list[dict[str, Any]] = []
    for split, x in v.get("fvd", {}).items():
        if split == "gap":
            rows.append(_row("fvd", "gap (test - train)", x, None, "", "", "FVD(test sources) - FVD(train sources)"))
        else:
            rows.append(_row("fvd", split, x, None, ng.get(split), nr.get(split)))
    for split, d in v.get("precision_drift", {}).items():
        if isinstance(d, dict):
            rows.append(_row("fvd", f"{split} (bf16 - fp32)", d.get("abs"), None, ng.get(split), nr.get(split),
                             f"drift of the bf16 FVD: fp32 on the same clips gives {format_value(d.get('fvd_fp32'))}"))
    for split, x in v.get("kvd", {}).items():
        rows.append(_row("kvd", split, x, None, ng.get(split), nr.get(split), "unbiased MMD^2, cubic kernel"))
    for metric, what in (("cfvd", "classes"), ("sfvd", "subjects")):
        for split, s in v.get(metric, {}).items():
            rows.append(_row(metric, split, s["mean"], s["std"], ng.get(split), nr.get(split),
                             f"mean ± std over {s['n_groups']} {what}"
                             + (f", {s['n_skipped']} skipped" if s["n_skipped"] else "")))
    for metric, unit in (("psnr", "dB"), ("ssim", "")):
        for split, s in v.get(metric, {}).items():
            rows.append(_row(metric, split, s["mean"], s["std"], s["n_videos"], s["n_videos"],
                             f"{unit + ', ' if unit else ''}std over videos, vs the source video's clip"))
    for probe, s in v.get("acc", {}).items():
        if "skipped" in s:
            rows.append(_row(f"acc:{probe}", "-", None, None, "", "", s["skipped"]))
            continue
        for split, g in s["generated"].items():
            rows.append(_row(f"acc:{probe}", split, g["accuracy"], None, g["n"], s["n_train"],
                             f"on generated videos (chance {s['chance']:.3f}; n_real = probe training set)"))
        held = "val" if "real_val" in s else "test"
        rows.append(_row(f"acc:{probe}", f"real {held}", s[f"real_{held}"]["accuracy"], None, "",
                         s[f"real_{held}"]["n"], f"on real {held} videos (reference); train fit {s['train_fit']:.3f}"))
    for split, s in v.get("expr", {}).items():
        n_cls = sum(c["ratio"] is not None for c in s["per_class"].values())
        worst = (f"; worst class {s['min_class']} {format_value(s['min'])}" if s.get("min_class") is not None else "")
        rows.append(_row("expr", split, s["mean"], None, s["n_videos"], nr.get(split),
                         f"expression change x real (1 = the real takes' change), mean over {n_cls} classes{worst}"))
    return rows


def group_rows(result: Any, metric: str) -> list[dict[str, Any]]:
    """Per-class (``cfvd``) or per-subject (``sfvd``) rows: split, group, fvd, n_generated, n_real, skipped."""
    label = "per_class" if metric == "cfvd" else "per_subject"
    rows = []
    for split, s in result.values.get(metric, {}).items():
        for group, g in s[label].items():
            rows.append({"split": split, "class" if metric == "cfvd" else "subject": group, "fvd": g["fvd"],
                         "n_generated": g["n_generated"], "n_real": g["n_real"], "skipped": g["skipped"] or ""})
    return rows


def sanity_rows(result: Any) -> list[dict[str, Any]]:
    """Rows of a :class:`~metrics.sanity.SanityResult` table: distortion, strength, FVD, cFVD, sFVD, KVD,
    the metrics the row must raise and whether they rise; with a ``beside`` detector, its FVD / targets / rises."""
    def fmt(x: Any, metric: str) -> str:
        return format_value(x, digits_of(metric), missing="-")

    other = {}
    if getattr(result, "beside", None) is not None:
        other = {(r["distortion"], r["strength"]): r for r in result.beside.table_rows()}
        other[("none (halves A vs B)", 0.0)] = result.beside.table_rows()[0]
    rows = []
    for r in result.table_rows():
        row = {"distortion": r["distortion"], "strength": r["strength"], "fvd": fmt(r["fvd"], "fvd"),
               "cfvd": fmt(r.get("cfvd"), "cfvd"), "sfvd": fmt(r.get("sfvd"), "sfvd"), "kvd": fmt(r["kvd"], "kvd"),
               "targets": r.get("targets", ""), "rise / SE": r.get("rise / SE", ""), "rises": r["rises"]}
        if other:
            b = other.get((r["distortion"], r["strength"]), {})
            name = result.beside.detector.get("name", "beside")
            target = (b.get("targets") or "fvd").split("+")[-1] if b else "fvd"  # the row's last target metric
            row[f"{name}: target"] = (f"{target} {fmt(b.get(target), target)}" if b.get("targets")
                                      else fmt(b.get("fvd"), "fvd") if b else "-")
            row[f"{name}: rises"] = b.get("rises", "-") if b else "-"
        rows.append(row)
    return rows


def render_eval(result: Any) -> str:
    """The printed report: protocol line, comparability warning, summary table, notes."""
    lines = protocol_header(result.protocol, result.detector)
    cols = ["metric", "split", "display", "n_generated", "n_real", "detail"]
    lines += ["", to_markdown(summary_rows(result), cols)]
    lines += [f"note: {n}" for n in result.notes]
    return "\n".join(lines)


def render_sanity(result: Any) -> str:
    """The printed sanity report: protocol line, warning, table, verdict and notes."""
    lines = [f"Command: `{result.command}`", ""] if getattr(result, "command", None) else []
    lines += protocol_header(result.protocol, result.detector,
                             prefix="Sanity mode (real half A vs real / distorted half B). Protocol: ")
    lines += ["", to_markdown(sanity_rows(result)), ""]
    lines.append("Every row's target metric rises by more than 2 SE: OK" if result.monotone else
                 f"FLAG: no rise of more than 2 SE at {', '.join(result.non_monotone)}")
    lines += [f"note: {n}" for n in result.notes]
    b = getattr(result, "beside", None)
    if b is not None:
        n_subj = b.protocol.get("max_subjects")
        lines.append(f"beside: {b.detector.get('name')} on the first {n_subj} subjects of each split (halves "
                     f"{b.baseline['n_a']} vs {b.baseline['n_b']}; target shown: the row's last target metric): "
                     + ("every row rises by more than 2 SE" if b.monotone
                        else f"no rise of more than 2 SE at {', '.join(b.non_monotone)}"))
        lines += [f"beside note: {n}" for n in b.notes]
    return "\n".join(lines)


def _record(result: Any, environment: dict[str, Any] | None) -> dict[str, Any]:
    if environment is None:
        from lfdm_bench.runs import environment as current_environment

        environment = current_environment()
    return jsonable(result.to_dict() | {"environment": environment})


def write_eval(result: Any, out_dir: str | Path, environment: dict[str, Any] | None = None) -> dict[str, Path]:
    """Write ``metrics.json`` (+ ``.jsonl`` history, ``.md``, ``.csv``, per-group CSVs) into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = summary_rows(result)
    record = _record(result, environment) | {"summary": jsonable(rows)}
    paths = {"json": out / "metrics.json", "jsonl": out / "metrics.jsonl", "md": out / "metrics.md",
             "csv": out / "metrics.csv"}
    atomic_write_json(paths["json"], record)
    append_line(paths["jsonl"], json.dumps(record, sort_keys=True))  # a whole record or none
    md = [render_eval(result)]
    for metric, name in (("cfvd", "cfvd_per_class"), ("sfvd", "sfvd_per_subject")):
        groups = group_rows(result, metric)
        if groups:
            paths[name] = out / f"{name}.csv"
            atomic_write_text(paths[name], pd.DataFrame(groups).to_csv(index=False))
            md += ["", f"## {metric} per {'class' if metric == 'cfvd' else 'subject'}", "",
                   to_markdown([g | {"fvd": format_value(g["fvd"], digits_of("fvd"))} for g in groups])]
    atomic_write_text(paths["md"], "\n".join(md) + "\n")
    atomic_write_text(paths["csv"], pd.DataFrame(rows).to_csv(index=False))
    return paths


def write_sanity(result: Any, out_dir: str | Path, environment: dict[str, Any] | None = None) -> dict[str, Path]:
    """Write ``sanity.json``, ``sanity.md`` and ``sanity.csv`` into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "sanity.json", "md": out / "sanity.md", "csv": out / "sanity.csv"}
    atomic_write_json(paths["json"], _record(result, environment))
    atomic_write_text(paths["md"], render_sanity(result) + "\n")
    atomic_write_text(paths["csv"], pd.DataFrame(result.table_rows()).to_csv(index=False))
    return paths
