"""HTML tables of plain results data (``results.json``, ``ablation.json``), generic over their keys: whatever metrics a
row holds become columns, so numbers added to the results later (another detector, intervals, motion statistics,
calibration rows) appear without a change here. Only the ORDER and the labels of known keys are fixed.

How a value is shown (:func:`cells`):

- a number: with the digits of :data:`metrics.format.DIGITS` (integers with thousands separators;
  fractions of :data:`metrics.format.PERCENT_KEYS` as percentages);
- ``X_ci`` = ``[lo, hi]`` next to a metric ``X`` of the same row: the interval after X's value, ``X [lo, hi]``;
- a mean with its worst group (:data:`COMBINED`: ``expr_ratio`` with ``expr_min`` and ``expr_min_class``) in one
  column: ``mean / worst (group)``;
  ``X_std`` next to ``X``: ``X ± std``;
- ``{"mean", "std", ...}``: ``mean ± std`` (and ``[lo, hi]`` of a ``ci`` key), other keys of the dict as columns
  ``X.key``; any other dict: flattened to ``X.key`` columns;
- lists of up to 8 values inline, longer ones as ``N values: first .. last``; ``None`` as ``-``.

Every header cell carries ``data-keys``: the results keys shown in its column (tests and scripts can find every
key); every text is HTML-escaped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape
from typing import Any, Mapping, Sequence

from metrics.format import METRIC_LABELS, PERCENT_KEYS, digits_of, format_value

__all__ = ["ORDER", "LABELS", "Row", "cells", "label_of", "data_table", "kv_table", "esc", "flatten"]

# known keys first, in this order; unknown keys follow in the order met, then TRAILING (bookkeeping columns)
ORDER = ("point", "method", "sizes", "sampler", "steps", "guidance", "eta", "fvd", "fvd_diff_lfdm", "cfvd", "sfvd",
         "kvd", "acc",
         "acc_motion", "acc_i3d", "psnr", "psnr_pooled", "ssim", "motion_ratio", "expr_ratio", "acc_expr",
         "acc_expr_ratio", "frame0_psnr", "open_motion", "l1")
TRAILING = ("acc_real", "acc_expr_real", "chance", "seconds_per_video", "nfe_per_video", "n_generated", "n_videos",
            "n_real", "frames")
LABELS = METRIC_LABELS  # the toolkit's one metric -> label mapping
G_KEYS = ("guidance", "eta")  # settings shown as %g
LOWER_BETTER = ("fvd", "cfvd", "sfvd", "kvd", "l1")
HIGHER_BETTER = ("acc", "acc_motion", "acc_i3d", "acc_expr", "psnr", "psnr_pooled", "ssim")
# key -> (its worst-group value, that group's name, the label of the combined column)
COMBINED = {"expr_ratio": ("expr_min", "expr_min_class", "expr_change")}


def esc(x: Any) -> str:
    """Text for HTML (element content or a quoted attribute)."""
    return escape(str(x), quote=True)


def _is_num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _is_percent(key: str) -> bool:
    last = key.rsplit(".", 1)[-1]
    return last in PERCENT_KEYS


def fmt(x: Any, key: str) -> str:
    """One plain value of column ``key`` as text (see the module docstring)."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return f"{x:,}" if abs(x) >= 10000 else str(x)
    if isinstance(x, float):
        last = key.rsplit(".", 1)[-1]
        if last in G_KEYS:
            return f"{x:g}"
        if _is_percent(key) and 0 <= x <= 1:
            return format_value(100 * x, digits_of("acc_percent"))
        return format_value(x, digits_of(last))
    if isinstance(x, (list, tuple)):
        if len(x) <= 8:
            return "[" + ", ".join(fmt(v, key) for v in x) + "]"
        return f"{len(x)} values: {fmt(x[0], key)} .. {fmt(x[-1], key)}"
    return str(x)


def _interval(ci: Any, key: str) -> str:
    if isinstance(ci, (list, tuple)) and len(ci) == 2 and all(v is None or _is_num(v) for v in ci):
        return f" [{fmt(ci[0], key)}, {fmt(ci[1], key)}]"
    return ""


def cells(values: Mapping[str, Any], prefix: str = "") -> dict[str, tuple[str, list[str], float | None]]:
    """``column -> (text, results keys it shows, number for comparisons)`` of one row's data."""
    out: dict[str, tuple[str, list[str], float | None]] = {}
    plain = [k for k, v in values.items() if not isinstance(v, (dict, list))]
    used_ci = {f"{k}_ci" for k in plain if f"{k}_ci" in values}
    used_std = {f"{k}_std" for k in plain if f"{k}_std" in values and not isinstance(values[f"{k}_std"], (dict, list))}
    used_worst = {part for k in plain if k in COMBINED for part in COMBINED[k][:2] if part in values}
    for k, v in values.items():
        col = f"{prefix}{k}"
        if k in used_ci or k in used_std or k in used_worst:
            continue
        if k in COMBINED and k in plain:
            low, group, _ = COMBINED[k]
            text, keys = fmt(v, col), [col]
            if low in values:
                keys.append(f"{prefix}{low}")
                if v is not None and values[low] is not None:
                    text += f" / {fmt(values[low], low)}"
            if group in values:
                keys.append(f"{prefix}{group}")
                if v is not None and values[group] is not None:
                    text += f" ({values[group]})"
            out[col] = (text, keys, float(v) if _is_num(v) else None)
            continue
        if isinstance(v, dict):
            if "mean" in v and (v["mean"] is None or _is_num(v["mean"])):
                text = fmt(v["mean"], col)
                if v.get("std") is not None:
                    text += f" ± {fmt(v['std'], col)}"
                text += _interval(v.get("ci"), col)
                out[col] = (text, [col], v["mean"])
                rest = {kk: vv for kk, vv in v.items() if kk not in ("mean", "std", "ci")}
                out.update(cells(rest, prefix=f"{col}."))
            else:
                out.update(cells(v, prefix=f"{col}.") if v else {col: ("-", [col], None)})
            continue
        text = fmt(v, col)
        keys = [col]
        if f"{k}_std" in used_std:
            if v is not None and values[f"{k}_std"] is not None:
                text += f" ± {fmt(values[f'{k}_std'], col)}"
            keys.append(f"{prefix}{k}_std")
        if f"{k}_ci" in used_ci:
            text += _interval(values[f"{k}_ci"], col)
            keys.append(f"{prefix}{k}_ci")
        out[col] = (text, keys, float(v) if _is_num(v) else None)
    return out


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts -> ``{"a.b.c": value}`` (lists and scalars are leaves)."""
    out: dict[str, Any] = {}
    for k, v in values.items():
        if isinstance(v, dict) and v:
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def label_of(col: str) -> str:
    """Header text of a column: a known label, else the key itself (``X_ci``: ``X [95% CI]``)."""
    base = col.split(".")[0]
    if col in COMBINED:
        return LABELS[COMBINED[col][2]]
    if col in LABELS:
        return LABELS[col]
    if col.endswith("_ci") and col[:-3] in LABELS:
        return LABELS[col[:-3]] + " [95% CI]"
    return LABELS.get(base, base) + col[len(base):] if "." in col else col


def _arrow(col: str) -> str:
    return " ↓" if col in LOWER_BETTER else " ↑" if col in HIGHER_BETTER else ""


def _sort_columns(cols: list[str]) -> list[str]:
    def rank(c: str) -> tuple[int, int]:
        base = c.split(".")[0]
        if base in ORDER:
            return 0, ORDER.index(base)
        if base in TRAILING:
            return 2, TRAILING.index(base)
        return 1, 0

    return sorted(cols, key=lambda c: (rank(c), cols.index(c)))


@dataclass
class Row:
    """One table row: ``keys`` the texts of its key columns, ``values`` its results data, ``attrs`` the
    ``data-*`` attributes of its ``<tr>`` (e.g. ``{"method": "lfdm"}``)."""

    keys: Sequence[str]
    values: Mapping[str, Any]
    attrs: Mapping[str, str] = field(default_factory=dict)


def data_table(rows: Sequence[Row], key_headers: Sequence[str], *, caption: str = "", css: str = "",
               key_attr: Mapping[str, str] | None = None, skip: Sequence[str] = ()) -> str:
    """An HTML table: key columns, then one column per value column of any row (see :func:`cells`); consecutive
    rows with the same first key share its cell (rowspan). ``skip``: value columns shown elsewhere (e.g. in the key
    columns)."""
    if not rows:
        return ""
    row_cells = [cells(r.values) for r in rows]
    cols: list[str] = []
    for rc in row_cells:
        cols += [c for c in rc if c not in cols and c not in skip]
    cols = _sort_columns(cols)
    keys_of = {c: sorted({k for rc in row_cells if c in rc for k in rc[c][1]}) for c in cols}
    head = "".join(f"<th>{esc(h)}</th>" for h in key_headers)
    head += "".join(f'<th data-keys="{esc(" ".join(keys_of[c]))}" title="{esc(", ".join(keys_of[c]))}">'
                    f"{esc(label_of(c) + _arrow(c))}</th>" for c in cols)
    body = []
    i = 0
    while i < len(rows):
        j = i
        while j + 1 < len(rows) and len(key_headers) > 1 and rows[j + 1].keys[0] == rows[i].keys[0]:
            j += 1
        for n in range(i, j + 1):
            r, rc = rows[n], row_cells[n]
            attrs = "".join(f' data-{esc(k)}="{esc(v)}"' for k, v in r.attrs.items())
            tds = []
            for q, key in enumerate(r.keys):
                if q == 0 and n > i:
                    continue
                span = f' rowspan="{j - i + 1}"' if q == 0 and j > i else ""
                tds.append(f'<th scope="row"{span}>{esc(key)}</th>')
            for c in cols:
                text = rc[c][0] if c in rc else ""
                cls = ' class="num"' if c in rc and rc[c][2] is not None else ""
                tds.append(f"<td{cls}>{esc(text)}</td>")
            sep = ' class="group-start"' if n == i and i > 0 and len(key_headers) > 1 and j > i else ""
            body.append(f"<tr{sep}{attrs}>{''.join(tds)}</tr>")
        i = j + 1
    cap = f'<p class="caption">{esc(caption)}</p>' if caption else ""
    return (f'{cap}<div class="table-wrap"><table class="{esc(css or "data")}"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>")


def kv_table(columns: Sequence[str], data: Sequence[Mapping[str, Any]], *, caption: str = "") -> str:
    """Key / value table of flattened dicts, one value column per dict (``columns``: their headers); keys in the
    order met."""
    flat = [flatten(d) for d in data]
    keys: list[str] = []
    for f in flat:
        keys += [k for k in f if k not in keys]
    if not keys:
        return ""
    head = "<th></th>" + "".join(f"<th>{esc(c)}</th>" for c in columns) if len(columns) > 1 else ""
    body = []
    for k in keys:
        tds = "".join(f"<td>{esc(fmt(f[k], k)) if k in f else ''}</td>" for f in flat)
        body.append(f'<tr data-key="{esc(k)}"><th scope="row">{esc(k)}</th>{tds}</tr>')
    cap = f'<p class="caption">{esc(caption)}</p>' if caption else ""
    thead = f"<thead><tr>{head}</tr></thead>" if head else ""
    return f'{cap}<div class="table-wrap"><table class="kv">{thead}<tbody>{"".join(body)}</tbody></table></div>'
