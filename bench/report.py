"""Side-by-side reports of benchmark results (``results.json``) and ablations (``ablation.json``) from several folders.

Each source folder becomes one column group (its label: ``--label``, else the benchmark's ``hardware`` / ``name``,
else the folder name), e.g. "GPU cluster" next to "laptop". Numbers computed under different protocols are never
put side by side silently: :func:`gather` compares the protocol keys of :data:`PROTOCOL_KEYS` (detector name and
checksum, frames, resolution, covariance ddof, resize, BatchNorm epsilon, dataset, real clip sampling, video limits)
and the numbers of generated / real videos of every shared row; by default a difference raises
:class:`MixedProtocolError` naming the differing keys; with ``allow_mixed=True`` each differing key gets a footnote
marker (on the column group of every source for protocol keys, on the affected cells for video counts).

Outputs: Markdown, LaTeX (booktabs, ``mean $\\pm$ std``) and CSV (long format: one line per source, row and metric);
with ``--html FILE`` also a page of the sources side by side (:mod:`bench.html_report`). The command
``lfdm-bench report`` is in :mod:`bench.commands`.

Example::

    lfdm-bench report results/gpu results/laptop --out report --format all
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from metrics.format import format_value, latex_table, metric_label, shown_value, tex_escape, to_markdown
from metrics.presets import DEFAULT_PRESET, get_preset
from lfdm_bench.utils.io import atomic_write_text, read_json

__all__ = ["PROTOCOL_KEYS", "MixedProtocolError", "Source", "Table", "Report", "load_source", "gather",
           "report_markdown", "report_latex", "report_csv", "write_report"]

# protocol key -> where it is read from (protocol dict, or the detector dict)
PROTOCOL_KEYS = ("detector", "detector_sha256", "n_frames", "resolution", "ddof", "resize_method", "bn_eps",
                 "dataset", "real_sampling", "max_generated", "max_real", "preset", "generated_sampling", "real_split",
                 "subset", "load_resize", "real_quantize", "generated_quantize", "precision", "torchscript_call")
# FVD preset settings (issue 15); results written before presets existed used the lfdm-bench values
_PRESET_KEYS = ("preset", "generated_sampling", "real_split", "subset", "load_resize", "real_quantize",
                "generated_quantize", "torchscript_call")
COUNT_KEYS = ("n_generated", "n_real")
MARKERS = ("a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p")
FORMATS = ("md", "tex", "csv")
# what to do about a damaged results.json / ablation.json
REBUILD = ("restore it; a benchmark's results.json is written again by `lfdm-bench bench` once the tables entry of its "
           "state.json (parts) is deleted")
# (result key, column label): labels from metrics.format.METRIC_LABELS, digits from metrics.format.DIGITS (class
# accuracies shown, and written to the CSV, as percentages: metrics.format.shown_value)
MAIN_METRICS = tuple((k, metric_label(k)) for k in ("fvd", "cfvd", "sfvd", "kvd", "acc", "psnr", "ssim",
                                                    "expr_ratio", "expr_min", "acc_expr", "seconds_per_video"))
AE_METRICS = tuple((k, metric_label(k)) for k in ("l1", "psnr", "psnr_pooled", "ssim"))
ABLATION_METRICS = tuple((k, metric_label(k)) for k in ("fvd", "acc_motion", "seconds_per_video", "nfe_per_video"))


class MixedProtocolError(ValueError):
    """Sources evaluated under different protocols; ``keys`` maps each differing key to its value per source."""

    def __init__(self, keys: dict[str, dict[str, Any]]) -> None:
        self.keys = keys
        lines = [f"  {k}: " + ", ".join(f"{src} = {v!r}" for src, v in vals.items()) for k, vals in keys.items()]
        super().__init__("the sources were evaluated under different protocols; differing keys: "
                         + ", ".join(keys) + "\n" + "\n".join(lines)
                         + "\npass --allow-mixed to render them anyway with a footnote per differing key")


@dataclass
class Source:
    """One folder: its label, protocol signature and the results / ablation it holds."""

    path: Path
    label: str
    protocol: dict[str, Any]
    results: dict[str, Any] | None = None
    ablation: dict[str, Any] | None = None


@dataclass
class Cell:
    value: float | None
    std: float | None = None
    digits: int = 2
    markers: list[str] = field(default_factory=list)


@dataclass
class Table:
    """``rows``: (row key tuple, {(source label, metric label): Cell}); ``metrics``: metric labels per group."""

    title: str
    key_columns: list[str]
    metrics: list[str]
    rows: list[tuple[tuple, dict[tuple[str, str], Cell]]]


@dataclass
class Report:
    sources: list[Source]
    tables: list[Table]
    header_markers: dict[str, list[str]]  # source label -> markers
    footnotes: list[tuple[str, str]]  # (marker, text)


def _signature(protocol: dict[str, Any] | None, detector: dict[str, Any] | None) -> dict[str, Any]:
    p, d = protocol or {}, detector or (protocol or {}).get("detector_info") or {}
    sig = {k: p.get(k) for k in PROTOCOL_KEYS if k not in ("detector", "detector_sha256", "bn_eps")}
    sig["detector"] = d.get("name", p.get("detector"))
    sig["detector_sha256"] = d.get("sha256")
    sig["bn_eps"] = d.get("bn_eps", p.get("bn_eps")) if d else p.get("bn_eps")
    sig["resize_method"] = d.get("resize_method", p.get("resize_method")) if d else p.get("resize_method")
    legacy = get_preset(DEFAULT_PRESET).settings() | {"preset": DEFAULT_PRESET}
    for k in _PRESET_KEYS:
        sig[k] = p.get(k, legacy[k])
    sig["precision"] = d.get("precision", p.get("precision")) if d else p.get("precision")
    return sig


def load_source(path: str | Path, label: str | None = None) -> Source:
    """Read ``results.json`` and/or ``ablation.json`` of a folder (or the file itself); a benchmark folder's
    ablation lives in ``ablation/ablation.json``."""
    path = Path(path)
    folder = path.parent if path.is_file() else path
    res_p, abl_p = folder / "results.json", folder / "ablation.json"
    if not abl_p.is_file() and (folder / "ablation" / "ablation.json").is_file():
        abl_p = folder / "ablation" / "ablation.json"
    if path.is_file():
        res_p, abl_p = (path, Path("/nonexistent")) if path.name != "ablation.json" else (Path("/nonexistent"), path)
    results = read_json(res_p, REBUILD) if res_p.is_file() else None
    ablation = read_json(abl_p, REBUILD) if abl_p.is_file() else None
    if results is None and ablation is None:
        raise FileNotFoundError(f"{path} holds neither results.json (lfdm-bench bench) nor ablation.json "
                                "(lfdm-bench ablate)")
    if results is not None:
        sig = _signature(results.get("protocol"), results.get("detector"))
        # the ablation may evaluate fewer generated videos (its rows carry their own counts)
        same = {k: v for k, v in sig.items() if k != "max_generated"}
        abl_sig = _signature((ablation or {}).get("protocol"), (ablation or {}).get("detector"))
        if ablation is not None and {k: v for k, v in abl_sig.items() if k != "max_generated"} != same:
            raise MixedProtocolError({"results.json vs ablation.json": {str(folder): "differ"}})
    else:
        sig = _signature(ablation.get("protocol"), ablation.get("detector"))
    bench = (results or {}).get("benchmark", {})
    name = label or bench.get("hardware") or bench.get("name") or folder.resolve().name
    return Source(path=folder, label=str(name), protocol=sig, results=results, ablation=ablation)


def _value(x: Any) -> tuple[float | None, float | None]:
    if isinstance(x, dict):
        return x.get("mean"), x.get("std")
    return x, None


def _cell(metric: str, mean: float | None, std: float | None = None) -> Cell:
    """A cell of ``metric`` as shown (class accuracies as percentages, see :func:`metrics.format.shown_value`)."""
    value, digits = shown_value(metric, mean)
    return Cell(value, shown_value(metric, std)[0], digits)


def _main_table(sources: Sequence[Source]) -> tuple[Table | None, dict[tuple, dict[str, dict[str, Any]]]]:
    """(method, split) rows incl. the test - train FVD gap; also the per-row video counts for the protocol check."""
    have = [s for s in sources if s.results]
    if not have:
        return None, {}
    keys: list[tuple] = []
    counts: dict[tuple, dict[str, dict[str, Any]]] = {}
    cells: dict[tuple, dict[tuple[str, str], Cell]] = {}
    used: set[str] = set()
    for s in have:
        for method, splits in s.results.get("methods", {}).items():
            for split in ("test", "train", "gap"):
                if split not in splits:
                    continue
                key = (method, "gap (test - train)" if split == "gap" else split)
                if key not in keys:
                    keys.append(key)
                row = cells.setdefault(key, {})
                vals = splits[split]
                for m, label in MAIN_METRICS:
                    if m in vals and vals[m] is not None:
                        row[(s.label, label)] = _cell(m, *_value(vals[m]))
                        used.add(label)
                if split != "gap":
                    for c in COUNT_KEYS:
                        counts.setdefault(key, {}).setdefault(c, {})[s.label] = vals.get(c)
    metrics = [label for _, label in MAIN_METRICS if label in used]
    return Table("Main results", ["method", "split"], metrics, [(k, cells[k]) for k in keys]), counts


def _ae_table(sources: Sequence[Source]) -> Table | None:
    keys: list[tuple] = []
    cells: dict[tuple, dict[tuple[str, str], Cell]] = {}
    used: set[str] = set()
    for s in sources:
        for name, vals in ((s.results or {}).get("autoencoders") or {}).items():
            if (name,) not in keys:
                keys.append((name,))
            for m, label in AE_METRICS:
                if vals.get(m) is not None:
                    cells.setdefault((name,), {})[(s.label, label)] = _cell(m, vals[m])
                    used.add(label)
    if not keys:
        return None
    return Table("Autoencoder reconstruction", ["autoencoder"], [lab for _, lab in AE_METRICS if lab in used],
                 [(k, cells.get(k, {})) for k in keys])


def _ablation_table(sources: Sequence[Source]) -> tuple[Table | None, dict[tuple, dict[str, dict[str, Any]]]]:
    keys: list[tuple] = []
    cells: dict[tuple, dict[tuple[str, str], Cell]] = {}
    counts: dict[tuple, dict[str, dict[str, Any]]] = {}
    used: set[str] = set()
    for s in sources:
        for r in (s.ablation or {}).get("rows", []):
            key = (r.get("method"), r.get("sampler"), str(r.get("steps")), f"{r.get('guidance'):g}",
                   "-" if r.get("eta") is None else f"{r['eta']:g}")
            if key not in keys:
                keys.append(key)
            for m, label in ABLATION_METRICS:
                if r.get(m) is not None:
                    cells.setdefault(key, {})[(s.label, label)] = _cell(m, r[m])
                    used.add(label)
            counts.setdefault(key, {}).setdefault("n_generated", {})[s.label] = r.get("n_videos")
            counts.setdefault(key, {}).setdefault("n_real", {})[s.label] = r.get("n_real")
    if not keys:
        return None, {}
    return (Table("Sampler ablation", ["method", "sampler", "steps", "guidance", "eta"],
                  [lab for _, lab in ABLATION_METRICS if lab in used], [(k, cells.get(k, {})) for k in keys]),
            counts)


def gather(dirs: Sequence[str | Path], labels: Sequence[str] | None = None, allow_mixed: bool = False) -> Report:
    """Load every folder and build the side-by-side tables.

    Raises:
        MixedProtocolError: the sources differ in a protocol key or in the video counts of a shared row (unless
            ``allow_mixed``, which footnotes each differing key instead).
    """
    if not dirs:
        raise ValueError("give at least one folder holding results.json or ablation.json")
    if labels and len(labels) != len(dirs):
        raise ValueError(f"{len(labels)} label(s) for {len(dirs)} folder(s): give one --label per folder or none")
    sources = [load_source(d, labels[i] if labels else None) for i, d in enumerate(dirs)]
    seen: dict[str, int] = {}
    for s in sources:  # distinct column-group names
        seen[s.label] = seen.get(s.label, 0) + 1
        if seen[s.label] > 1:
            s.label = f"{s.label} ({s.path.name})"

    differing: dict[str, dict[str, Any]] = {}
    for k in PROTOCOL_KEYS:
        vals = {s.label: s.protocol.get(k) for s in sources}
        if len({json.dumps(v, sort_keys=True, default=str) for v in vals.values()}) > 1:
            differing[k] = vals
    main, main_counts = _main_table(sources)
    abl, abl_counts = _ablation_table(sources)
    cell_flags: list[tuple[Table, tuple, str, dict[str, Any]]] = []
    for table, counts in ((main, main_counts), (abl, abl_counts)):
        for key, per in counts.items():
            for c, vals in per.items():
                shared = {lab: v for lab, v in vals.items() if v is not None}
                if len(shared) > 1 and len(set(shared.values())) > 1:
                    differing.setdefault(c, {})
                    differing[c].update({f"{lab} [{' / '.join(key)}]": v for lab, v in shared.items()})
                    cell_flags.append((table, key, c, shared))
    if differing and not allow_mixed:
        raise MixedProtocolError(differing)

    marker = {k: MARKERS[i % len(MARKERS)] * (1 + i // len(MARKERS)) for i, k in enumerate(differing)}
    header_markers = {s.label: [marker[k] for k in differing if k in PROTOCOL_KEYS] for s in sources}
    for table, key, c, shared in cell_flags:
        for row_key, cells in table.rows:
            if row_key == key:
                for (lab, _), cell in cells.items():
                    if lab in shared and marker[c] not in cell.markers:
                        cell.markers.append(marker[c])
    footnotes = [(marker[k], f"{k} differs: " + ", ".join(f"{src} = {v}" for src, v in vals.items()))
                 for k, vals in differing.items()]
    tables = [t for t in (main, _ae_table(sources), abl) if t is not None]
    return Report(sources=sources, tables=tables, header_markers=header_markers, footnotes=footnotes)


# ------------------------------------------------------------------------------------------------ rendering
def _fmt(x: float | None, digits: int) -> str:
    return format_value(None if x is None else float(x), digits)


def _cell_text(cell: Cell | None, pm: str) -> tuple[str, str]:
    """(text, marker suffix) of a cell; ``pm`` is the plus-minus sign of the format."""
    if cell is None:
        return "-", ""
    text = _fmt(cell.value, cell.digits)
    if cell.std is not None and cell.value is not None:
        text += f"{pm}{_fmt(cell.std, cell.digits)}"
    return text, ",".join(cell.markers)


def _group_name(report: Report, label: str) -> tuple[str, str]:
    return label, ",".join(report.header_markers.get(label, []))


def report_markdown(report: Report) -> str:
    """Pipe tables, one column per (source, metric): ``source: metric``; markers as ``^a``."""
    out = ["# lfdm-bench report", "", "Sources: " + "; ".join(f"{s.label} = {s.path}" for s in report.sources), ""]
    for t in report.tables:
        cols = list(t.key_columns)
        for s in report.sources:
            name, mk = _group_name(report, s.label)
            cols += [f"{name}{'^' + mk if mk else ''}: {m}" for m in t.metrics]
        rows = []
        for key, cells in t.rows:
            d = dict(zip(t.key_columns, key))
            i = len(t.key_columns)
            for s in report.sources:
                for m in t.metrics:
                    text, mk = _cell_text(cells.get((s.label, m)), " ± ")
                    d[cols[i]] = text + (f" ^{mk}" if mk else "")
                    i += 1
            rows.append(d)
        out += [f"## {t.title}", "", to_markdown(rows, cols), ""]
    out += [f"^{m} {text}" for m, text in report.footnotes]
    return "\n".join(out).rstrip() + "\n"


def report_latex(report: Report) -> str:
    r"""booktabs tables (:func:`metrics.format.latex_table`), one ``\multicolumn`` group per source; averaged
    values as ``mean $\pm$ std``; markers as superscripts, footnotes below each table."""
    out = []
    for t in report.tables:
        groups = []
        for s in report.sources:
            name, mk = _group_name(report, s.label)
            groups.append((tex_escape(name) + (f"$^{{{mk}}}$" if mk else ""), len(t.metrics)))
        headers = [tex_escape(c) for c in t.key_columns] + [tex_escape(m) for _ in report.sources for m in t.metrics]
        rows = []
        for key, cells in t.rows:
            row = [tex_escape(k) for k in key]
            for s in report.sources:
                for m in t.metrics:
                    text, mk = _cell_text(cells.get((s.label, m)), r" $\pm$ ")
                    row.append(text + (f"$^{{{mk}}}$" if mk else ""))
            rows.append(row)
        notes = [rf"$^{{{m}}}$ {tex_escape(text)}" for m, text in report.footnotes]
        out.append(f"% {t.title}\n" + latex_table(headers, rows, groups=groups, n_left=len(t.key_columns),
                                                   escape=False, notes=notes))
    return "\n\n".join(out) + "\n"


def report_csv(report: Report) -> str:
    """Long format: table, row keys, source, metric, value, std, markers (raw numbers, no rounding)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["table", "row", "source", "metric", "value", "std", "markers"])
    for t in report.tables:
        for key, cells in t.rows:
            for s in report.sources:
                for m in t.metrics:
                    c = cells.get((s.label, m))
                    if c is None:
                        continue
                    mk = ",".join(report.header_markers.get(s.label, []) + c.markers)
                    w.writerow([t.title, " / ".join(key), s.label, m, "" if c.value is None else repr(c.value),
                                "" if c.std is None else repr(c.std), mk])
    for m, text in report.footnotes:
        w.writerow(["footnote", m, "", "", "", "", text])
    return buf.getvalue()


RENDERERS = {"md": ("report.md", report_markdown), "tex": ("report.tex", report_latex),
             "csv": ("report.csv", report_csv)}


def write_report(report: Report, out: str | Path, formats: Sequence[str] = FORMATS) -> dict[str, Path]:
    """Write ``report.md`` / ``report.tex`` / ``report.csv`` (atomically) into ``out``; returns the paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for f in formats:
        name, fn = RENDERERS[f]
        paths[f] = out / name
        atomic_write_text(paths[f], fn(report))
    return paths
