"""How numbers appear in every table of the toolkit: the one formatter, the digits and the label of each metric, the
one protocol header, Markdown and LaTeX (booktabs) tables.

Used by the ``eval`` tables (:mod:`metrics.result_files`), the reconstruction tables, the benchmark's tables,
the sampler ablation, the experiments and ``report``: a metric shows the same digits everywhere.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from tabulate import tabulate

__all__ = ["DIGITS", "METRIC_LABELS", "PERCENT_KEYS", "NOT_COMPARABLE", "digits_of", "metric_label", "shown_value", "format_value", "format_mean_std", "display_rows", "to_markdown",
           "latex_table", "tex_escape", "protocol_line", "protocol_header"]

# decimals of each metric (row key or column name); a value too small for them keeps that many significant digits
DIGITS = {"fvd": 2, "cfvd": 2, "sfvd": 2, "kvd": 4, "psnr": 2, "psnr_pooled": 2, "ssim": 4, "l1": 4, "acc": 3,
          "acc_motion": 3, "acc_i3d": 3, "acc_percent": 1, "seconds_per_video": 3, "nfe_per_video": 0,
          "motion_ratio": 2, "acc_ratio": 2, "frame0_psnr": 1, "open_motion": 4, "expr": 2, "expr_ratio": 2,
          "expr_min": 2, "acc_expr": 3, "acc_expr_ratio": 2}
# the one column label of each metric key: the benchmark's Markdown / LaTeX tables, the sampler ablation's table, the
# side-by-side report (Markdown, LaTeX, CSV) and the HTML pages all name a metric this way
METRIC_LABELS = {"fvd": "FVD", "cfvd": "cFVD", "sfvd": "sFVD", "kvd": "KVD", "acc": "class acc %",
                 "acc_motion": "class acc % (motion probe)", "acc_i3d": "class acc % (detector probe)",
                 "acc_ratio": "acc x real", "acc_real": "real-video acc %", "chance": "chance %", "psnr": "PSNR",
                 "psnr_pooled": "PSNR (pooled)", "ssim": "SSIM", "l1": "L1", "seconds_per_video": "s/video",
                 "nfe_per_video": "NFE/video", "n_generated": "generated videos", "n_real": "real videos",
                 "n_videos": "videos", "frames": "frames", "fvd_test": "FVD test", "fvd_train": "FVD train",
                 "gap_fvd": "FVD gap (test - train)", "motion_ratio": "motion x real", "frame0_psnr": "frame-0 PSNR",
                 "open_motion": "opening motion", "sizes": "N: generated vs real (per group)",
                 "fvd_diff_lfdm": "FVD - LFDM", "expr": "expression change x real",
                 "expr_change": "expression change x real (mean / worst class)",
                 "expr_ratio": "expression change x real (mean)", "expr_min": "expression change x real (worst class)",
                 "expr_min_class": "worst expression class", "acc_expr": "expr. acc %",
                 "acc_expr_ratio": "expr. acc x real", "acc_expr_real": "real-video expr. acc %"}
# fractions shown as percentages (their labels say %), with the digits of ``acc_percent``
PERCENT_KEYS = ("acc", "acc_motion", "acc_i3d", "acc_real", "chance", "acc_expr", "acc_expr_real")
NOT_COMPARABLE = "i3d-random / non-pretrained detector: values are NOT comparable with published numbers"
EMBEDDED_NOTE = ("embedded-domain detector (trained on this benchmark's synthetic domain): values are internal to this "
                 "benchmark, NOT comparable with published numbers")


def digits_of(metric: str, default: int = 2) -> int:
    """Decimals of ``metric`` (``acc:probe-motion`` counts as ``acc``)."""
    return DIGITS.get(metric.split(":")[0], default)


def metric_label(key: str) -> str:
    """The column label of a metric key (:data:`METRIC_LABELS`); an unknown key is its own label."""
    return METRIC_LABELS.get(key, key)


def shown_value(key: str, x: float | None) -> tuple[float | None, int]:
    """``(value as shown, its digits)`` of metric ``key``: fractions of :data:`PERCENT_KEYS` times 100 with the digits
    of ``acc_percent``, others unchanged with their own digits."""
    if key in PERCENT_KEYS:
        return (None if x is None else 100 * x), digits_of("acc_percent")
    return x, digits_of(key)


def format_value(x: float | None, digits: int = 2, missing: str = "n/a") -> str:
    """``12.3456 -> "12.35"``; values too small for ``digits`` decimals keep ``digits`` significant digits
    (``0.003403 -> "0.0034"``); ``digits=0``: a whole number; ``None`` / NaN -> ``missing``."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return missing
    if digits == 0:
        return str(int(round(float(x))))
    if 0 < abs(x) < 10 ** (1 - digits):
        return f"{x:.{digits}g}"
    return f"{x:.{digits}f}"


def format_mean_std(mean: float | None, std: float | None, digits: int = 2, missing: str = "n/a",
                    pm: str = " ± ") -> str:
    """``"12.35 ± 1.20"`` (``missing`` when the mean is missing; the mean alone when the std is)."""
    if mean is None:
        return missing
    return format_value(mean, digits) + ("" if std is None else f"{pm}{format_value(std, digits)}")


def display_rows(rows: Sequence[dict[str, Any]], columns: Sequence[str],
                 g_columns: Sequence[str] = ("guidance", "eta"), labelled: bool = False) -> list[dict[str, str]]:
    """Display strings of result ``rows`` (dicts of plain values): the ``columns`` that hold a value in some row;
    cFVD / sFVD as mean ± std (``<col>_std``); ``g_columns`` in ``%g``; floats with :data:`DIGITS`; other values as
    ``str``; missing values ``-``. ``labelled``: columns named by :func:`metric_label`, fractions of
    :data:`PERCENT_KEYS` shown as percentages (:func:`shown_value`)."""
    cols = [c for c in columns if any(r.get(c) is not None for r in rows)]
    table = []
    for r in rows:
        d = {}
        for c in cols:
            x = r.get(c)
            if c in ("cfvd", "sfvd"):
                d[c] = format_mean_std(x, r.get(f"{c}_std"), digits_of(c), missing="-")
            elif x is None:
                d[c] = "-"
            elif c in g_columns:
                d[c] = f"{float(x):g}"
            elif isinstance(x, float) and labelled:
                d[c] = format_value(*shown_value(c, x))
            elif isinstance(x, float):
                d[c] = format_value(x, digits_of(c))
            else:
                d[c] = str(x)
        table.append({metric_label(k): v for k, v in d.items()} if labelled else d)
    return table


def to_markdown(rows: Sequence[dict[str, Any]] | Sequence[Sequence[Any]], columns: Sequence[str] | None = None) -> str:
    """A pipe (GitHub Markdown) table of ``rows``: dicts (columns in the given or first-row order) or lists (then
    ``columns`` are the headers). Cells are shown as given (no number re-parsing)."""
    if not rows:
        return "(no rows)"
    if isinstance(rows[0], dict):
        cols = list(columns or rows[0].keys())
        body = [[r.get(k, "") for k in cols] for r in rows]
    else:
        cols, body = list(columns or []), [list(r) for r in rows]
    return tabulate(body, headers=cols, tablefmt="github", disable_numparse=True)


_TEX_ESCAPE = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
               "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "±": r"$\pm$"}


def tex_escape(x: Any) -> str:
    """Text for a LaTeX table cell or caption: LaTeX's special characters escaped, ``±`` as ``$\\pm$``."""
    return "".join(_TEX_ESCAPE.get(ch, ch) for ch in str(x))


def latex_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], caption: str | None = None, *,
                groups: Sequence[tuple[str, int]] = (), n_left: int = 1, escape: bool = True,
                notes: Sequence[str] = ()) -> str:
    r"""A booktabs table, the one LaTeX table writer of the project (benchmark tables, ablations, the side-by-side
    report): ``n_left`` left-aligned key columns, the rest right-aligned; ``groups`` (text, span) put a
    ``\multicolumn`` header with ``\cmidrule`` over the columns after the key columns; ``notes`` go below the
    tabular in small print. Cells, headers and group names are escaped by :func:`tex_escape` unless ``escape`` is
    False (the caller passes LaTeX). With a ``caption`` the tabular sits in a ``table`` float."""
    esc = tex_escape if escape else str
    lines = [r"\begin{tabular}{" + "l" * n_left + "r" * (len(headers) - n_left) + "}", r"\toprule"]
    if groups:
        cells, rules, start = [""] * n_left, [], n_left + 1
        for text, span in groups:
            cells.append(rf"\multicolumn{{{span}}}{{c}}{{{esc(text)}}}")
            rules.append(rf"\cmidrule(lr){{{start}-{start + span - 1}}}")
            start += span
        lines += [" & ".join(cells) + r" \\", " ".join(rules)]
    lines += [" & ".join(esc(h) for h in headers) + r" \\", r"\midrule"]
    lines += [" & ".join(esc(c) for c in r) + r" \\" for r in rows]
    lines += [r"\bottomrule", r"\end{tabular}"]
    if notes:
        lines += [r"\\[2pt]", r"{\footnotesize", *(n + r"\\" for n in notes), "}"]
    body = "\n".join(lines)
    if caption is None:
        return body
    return "\\begin{table}[t]\n\\centering\n\\small\n" + body + f"\n\\caption{{{tex_escape(caption)}}}\n\\end{{table}}"


def _short_hash(sha: Any) -> str:
    """A file checksum shortened to 12 hex digits; a name like ``i3d-random-v2`` in full."""
    sha = str(sha)
    return sha[:12] if len(sha) == 64 and all(c in "0123456789abcdef" for c in sha) else sha


def protocol_line(protocol: dict[str, Any], detector: dict[str, Any] | None) -> str:
    """One line naming every setting of an evaluation protocol (``EvalProtocol.to_dict()`` + the resolved
    resolution) and its detector (``DetectorInfo.to_dict()``): the preset and its overrides, the clip rules, the time
    span check, the weights' label."""
    det = "none" if not detector else (f"{detector.get('name')} (sha256 {_short_hash(detector.get('sha256'))}, "
                                       f"bn_eps {detector.get('bn_eps')}, resize {detector.get('resize_method')}, "
                                       f"{detector.get('precision')})")
    options = protocol.get("dataset_options") or {}
    preset = protocol.get("preset")
    overrides = protocol.get("overrides") or {}
    changed = ", ".join(f"{k}={v.get('used')}" for k, v in overrides.items())
    head = (f"preset {preset}" + (f" with overrides {changed}" if changed else "") + "; ") if preset else ""
    clips = (f"real clips '{protocol.get('real_sampling')}'"
             + (f" (real split {protocol.get('real_split')})" if protocol.get("real_split") not in (None, "same") else "")
             + (f", generated '{protocol.get('generated_sampling')}'" if protocol.get("generated_sampling") else ""))
    quant = (f", load resize {protocol.get('load_resize')}, quantise {protocol.get('real_quantize')}/"
             f"{protocol.get('generated_quantize')}" if protocol.get("load_resize") else "")
    span = (protocol.get("time_span") or {})
    span_txt = f"; {span['statement']}" if span.get("statement") and span.get("matches") is not True else ""
    weights = f"; weights: {detector['weights_label']}" if detector and detector.get("weights_label") else ""
    return (f"{head}dataset {protocol.get('dataset')}{f' {options}' if options else ''}, split {protocol.get('split')}, "
            f"{protocol.get('n_frames')} frames at {protocol.get('resolution')}px, {clips}{quant}, ddof "
            f"{protocol.get('ddof')}, seed {protocol.get('seed')}, detector {det}{weights}{span_txt}")


def protocol_header(protocol: dict[str, Any] | None, detector: dict[str, Any] | None,
                    prefix: str = "Protocol: ") -> list[str]:
    """The lines above a results table: the protocol line and, for a detector not comparable with published
    numbers, the warning. No protocol (nothing evaluated yet): no lines."""
    if not protocol:
        return []
    lines = [prefix + protocol_line(protocol, detector)]
    if detector is not None and not detector.get("comparable_with_published"):
        status = detector.get("weights_status")
        if detector.get("kind") == "embedded-domain":
            lines.append("WARNING: " + EMBEDDED_NOTE)
        else:
            lines.append("WARNING: " + (NOT_COMPARABLE if status in (None, "random", "function")
                                        or not detector.get("weights_label") else
                                        f"{detector.get('weights_label')}: values are NOT marked comparable with "
                                        "published numbers"))
    return lines
