"""``report.html``: one page a person can read, from one or several benchmark outputs (``results.json``, the ablation,
the sample folders), side by side.

The page shows the protocol line (and the warning of a detector not comparable with published numbers), the main
tables of every split with their intervals, the expression change per class of every split, the generalisation gap,
the sample GIFs (per class: the source take, LFDM, LDM and the baselines for a few test subjects,
:mod:`bench.sample_gifs`), the autoencoders (with the LFAE's occlusion maps), the paper's claims, the sampler ablation
with its plots, the models and the run facts, then every other key of ``results.json`` as a table
of its own. Tables are generic over the keys of the results (:mod:`bench.html_tables`): a metric added to
``results.json`` later appears without a change here.

The page is static HTML with inline CSS (no script, no external file, no server): open it from disk. Every link and
image is a path relative to the page's folder; files of a source folder outside it (``lfdm-bench report A B
--html C/x.html``) are copied into ``C/x_files/`` first, so the page's folder can be copied or zipped whole. The
GIFs of a page in its own benchmark folder are written into ``OUT/report_files/samples/``; a side-by-side page
reuses each source's GIFs when its own page made them, else builds them from its sample folders.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any, Mapping, Protocol, Sequence
from urllib.parse import quote

import yaml

from bench.html_tables import Row, data_table, esc, kv_table
from bench.sample_gifs import SOURCE_COLUMN, read_sample_gifs, sample_folders, write_sample_gifs
from bench.claims import CLAIM_HEADERS, claim_rows
from bench.seeds import seed_cells
from bench.tables import (CLAIMS_CAPTION, paper_sections, EXPRESSION_NOTE, EXPRESSION_ORDER, METHOD_NAMES, claim_number,
                          expression_caption)
from lfdm_bench.data.records import VideoRecord
from metrics.format import protocol_header
from lfdm_bench.utils.io import atomic_write_text

__all__ = ["PageSource", "write_html_report", "render_page"]

SPLIT_TITLES = {"test": "Main table, test subjects", "train": "Main table, train subjects",
                "gap": "Generalisation gap (test - train)"}
KNOWN_KEYS = ("benchmark", "protocol", "detector", "methods", "autoencoders", "ablation", "ablation_ldm",
              "ablation_vdm", "models",
              "facts", "expression_per_class", "autoencoder_subject_psnr", "claims", "differences", "training_seeds",
              "paper")
DATA_FILES = ("results.json", "tables.md", "tables.tex", "main_test.csv", "main_train.csv", "bench_config.yaml",
              "state.json", "ablation.json", "ablation.md", "ablation.csv", "ablation/ablation.json",
              "ablation/ablation.md", "ablation/ablation.csv", "metrics/*.json", "grids/*.png", "grids/*.gif",
              "samples/*/manifest.csv")
DISPLAY_TILE = 64  # target on-screen size of one sample tile, px (small tiles are scaled up, pixelated)
MAX_GIF_WIDTH = 1100

CSS = """
:root { --fg: #1d2430; --muted: #5b6575; --line: #d9dee6; --head: #f1f4f8; --accent: #2458a6; --warn: #8a4b00; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
  color: var(--fg); background: #fff; }
main { max-width: 1280px; margin: 0 auto; padding: 20px 28px 60px; }
h1 { font-size: 24px; margin: 8px 0 4px; } h2 { font-size: 19px; margin: 34px 0 8px; padding-bottom: 4px;
  border-bottom: 2px solid var(--line); } h3 { font-size: 15px; margin: 18px 0 6px; }
a { color: var(--accent); } .muted { color: var(--muted); } .small { font-size: 12px; }
nav.toc { margin: 10px 0 4px; font-size: 13px; } nav.toc a { margin-right: 14px; white-space: nowrap; }
.protocol { background: var(--head); border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px;
  margin: 10px 0; font-size: 13px; }
.protocol .src { font-weight: 600; }
.warning { background: #fff4e0; border: 1px solid #f0c27a; color: var(--warn); border-radius: 6px;
  padding: 6px 12px; margin: 8px 0; font-size: 13px; }
.table-wrap { overflow-x: auto; margin: 6px 0 4px; }
table { border-collapse: collapse; font-size: 13px; }
p.caption { color: var(--muted); font-size: 12.5px; margin: 8px 0 6px; max-width: 1100px; }
th, td { border: 1px solid var(--line); padding: 4px 9px; vertical-align: top; }
thead th { background: var(--head); text-align: center; font-weight: 600; min-width: 64px; max-width: 110px;
  vertical-align: bottom; }
tbody th { text-align: left; font-weight: 600; white-space: nowrap; background: #fafbfc; }
td { white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tbody tr:nth-child(even) td { background: #fbfcfd; }
tr.group-start > * { border-top: 2px solid #b9c1cc; }
table.kv td { white-space: normal; max-width: 760px; word-break: break-word; }
.samples { display: flex; flex-wrap: wrap; gap: 18px 34px; }
figure { margin: 0; }
figure.cls > figcaption { font-weight: 600; margin-bottom: 4px; }
.cmp { display: grid; column-gap: 6px; align-items: stretch; }
.cmp .cols { display: grid; align-items: end; font-size: 11px; line-height: 1.2; color: var(--muted);
  text-align: center; padding-bottom: 3px; }
.cmp .cols span { padding: 0 2px; overflow-wrap: anywhere; }
.cmp .rows { display: grid; font-size: 11px; color: var(--muted); text-align: right; }
.cmp .rows span { align-self: center; white-space: nowrap; }
.cmp img { display: block; image-rendering: pixelated; }
.src-label { font-size: 12px; font-weight: 600; margin: 8px 0 2px; }
.plots { display: flex; flex-wrap: wrap; gap: 12px; }
.plots img { width: 420px; max-width: 100%; height: auto; border: 1px solid var(--line); }
details { margin: 8px 0; } summary { cursor: pointer; color: var(--accent); }
pre { background: var(--head); padding: 8px 12px; border-radius: 6px; overflow-x: auto; font-size: 12px; }
ul.files { columns: 3 220px; padding-left: 18px; font-size: 13px; }
.footnotes { font-size: 12.5px; color: var(--muted); }
"""


class PageSource(Protocol):
    """A folder of results (:class:`bench.report.Source`): its path, label, results and ablation."""

    path: Path
    label: str
    results: dict[str, Any] | None
    ablation: dict[str, Any] | None


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")[:40] or "source"


def _href(path: str) -> str:
    """A relative path as an attribute value (percent-encoded, then HTML-escaped)."""
    return esc(quote(path.replace(os.sep, "/")))


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


class Assets:
    """Relative paths of a page's files: a file inside the page's folder in place, any other copied into
    ``<page>_files/<n>-<source>/`` (by its path inside the source folder)."""

    def __init__(self, page: Path):
        self.dir = page.parent
        self.files = self.dir / f"{page.stem}_files"

    def own_folder(self, i: int, src: PageSource) -> Path:
        """Where generated files of source ``i`` go: ``<page>_files/`` for the page's own folder, else a subfolder."""
        return self.files if Path(src.path).resolve() == self.dir.resolve() else self.files / f"{i + 1}-{_slug(src.label)}"

    def rel(self, path: Path, i: int, src: PageSource) -> str:
        path = Path(path)
        if not _inside(path, self.dir):
            try:
                inner = path.resolve().relative_to(Path(src.path).resolve())
            except ValueError:
                inner = Path(path.name)
            target = self.own_folder(i, src) / inner
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.is_file() or target.stat().st_mtime < path.stat().st_mtime:
                shutil.copy2(path, target)
            path = target
        return os.path.relpath(path.resolve(), self.dir.resolve())


# ----------------------------------------------------------------------------------------------------- sections
def _source_name(src: PageSource, markers: Mapping[str, Sequence[str]]) -> str:
    mk = markers.get(src.label) or []
    return src.label + (f" [{','.join(mk)}]" if mk else "")


def _method_rows(sources: Sequence[PageSource], split: str, markers: Mapping[str, Sequence[str]]) -> list[Row]:
    """Rows of one split: per method (in the order met), one row per source holding it."""
    methods: list[str] = []
    for s in sources:  # the benchmark's method order (LFDM first), then any other in the order met
        cfg = ((s.results or {}).get("benchmark") or {}).get("config")
        have = ((s.results or {}).get("methods") or {})
        order = [m for m in ((cfg.get("methods") if isinstance(cfg, dict) else None) or ()) if m in have] + list(have)
        methods += [m for m in dict.fromkeys(order) if split in have[m] and m not in methods]
    rows = []
    for m in methods:
        for s in sources:
            d = ((s.results or {}).get("methods") or {}).get(m) or {}
            if split in d:
                keys = [METHOD_NAMES.get(m, m)] + ([_source_name(s, markers)] if len(sources) > 1 else [])
                values = d[split]
                if split == "gap":  # beside the two FVDs it is the difference of
                    values = {**{f"fvd_{k}": (d.get(k) or {}).get("fvd") for k in ("test", "train")},
                              **{f"gap_{k}": v for k, v in d[split].items()}}
                rows.append(Row(keys, values, {"method": m, "split": split, "source": s.label}))
    return rows


def _split_caption(sources: Sequence[PageSource], split: str) -> str:
    if split == "gap":
        return "FVD from test-subject source images minus FVD from train-subject source images, per method."
    parts = []
    for s in sources:
        ds = [d[split] for d in ((s.results or {}).get("methods") or {}).values() if isinstance(d.get(split), dict)]
        n_gen = sorted({d.get("n_generated") for d in ds if d.get("n_generated") is not None})
        n_real = sorted({d.get("n_real") for d in ds if d.get("n_real") is not None})
        who = f"{s.label}: " if len(sources) > 1 else ""
        parts.append(f"{who}{'/'.join(map(str, n_gen)) or '?'} generated videos per method vs "
                     f"{'/'.join(map(str, n_real)) or '?'} real videos")
    notes = [((s.results or {}).get("table_notes") or {}).get(split) or {} for s in sources]
    interval = next((n["interval"]["method"] for n in notes if isinstance(n.get("interval"), dict)
                     and n["interval"].get("method")), "bootstrap interval over the generated videos")
    what = {k: v for n in notes for k, v in (n.get("what") or {}).items()}
    what |= {k: f"not run, {v}" for s in sources for k, v in ((s.results or {}).get("skipped") or {}).items()}
    rows = "".join(f" {METHOD_NAMES.get(k, k)}: {v}." for k, v in what.items())
    diff = next((n["difference"] for n in notes if isinstance(n.get("difference"), dict)), None)
    if diff:
        rows = (f" FVD - LFDM [95% CI]: the method's FVD minus LFDM's against the same real videos, {diff['method']}"
                f" ({diff.get('n_boot')} resamples of {diff.get('n_subjects')} subjects); an interval that excludes 0 "
                "is a difference, overlapping FVD intervals are no evidence of none." + rows)
    expr = any(isinstance(d.get(split), dict) and d[split].get("expr_ratio") is not None
               for s in sources for d in ((s.results or {}).get("methods") or {}).values())
    return (f"{split.capitalize()}-subject source images; " + "; ".join(parts)
            + f". FVD with its 95% interval: {interval}.{rows} cFVD / sFVD as mean ± std over "
            "classes / subjects; ↓ lower is better, ↑ higher is better." + (f" {EXPRESSION_NOTE}" if expr else ""))


def _expression_section(sources: Sequence[PageSource], split: str, markers: Mapping[str, Sequence[str]]) -> str:
    """The expression change x real per class of ``split``: one row per method (the real fresh takes, the ceiling,
    first) and source, one column per class (``-``: a class without a value, neutral)."""
    per = [(s, (((s.results or {}).get("expression_per_class") or {}).get(split) or {})) for s in sources]
    methods: list[str] = []
    for _, p in per:
        methods += [m for m in p if m not in methods]
    methods = [m for m in EXPRESSION_ORDER if m in methods] + [m for m in methods if m not in EXPRESSION_ORDER]
    multi = len(sources) > 1
    rows = [Row([METHOD_NAMES.get(m, m)] + ([_source_name(s, markers)] if multi else []),
                {c: v.get("ratio") for c, v in p[m].items()}, {"expr-method": m, "expr-split": split,
                                                                "source": s.label})
            for m in methods for s, p in per if m in p]
    caption = expression_caption([d for _, p in per for d in p.values()])
    return data_table(rows, ["method"] + (["source"] if multi else []), caption=caption)


def _occlusion_figures(sources: Sequence[PageSource], assets: Assets, markers: Mapping[str, Sequence[str]]) -> str:
    """``grids/lfae_occlusion.png`` of each source (:func:`bench.grids.write_occlusion_figure`), with its legend."""
    figs = []
    for i, s in enumerate(sources):
        f = Path(s.path) / "grids" / "lfae_occlusion.png"
        if not f.is_file():
            continue
        rel = assets.rel(f, i, s)
        label = f"{_source_name(s, markers)}: " if len(sources) > 1 else ""
        figs.append(f'<figure><a href="{_href(rel)}"><img src="{_href(rel)}" alt="LFAE occlusion maps"></a>'
                    f"<figcaption>{esc(label)}What the LFAE keeps and what it paints, first test subject: per row "
                    "(surprise, happiness) the source frame, the driving frame (last), the reconstruction from the "
                    "source with the flow predictor's own flow, and its occlusion map (white = the warped source is "
                    "kept, black = the decoder paints).</figcaption></figure>")
    return "".join(figs)


def _paper_section(sources: Sequence[PageSource], markers: Mapping[str, Sequence[str]]) -> str:
    """The paper's other experiments of each source (:func:`bench.tables.paper_sections`), one table per study."""
    blocks = []
    for s in sources:
        tables = paper_sections(s.results or {})
        if tables and len(sources) > 1:
            blocks.append(f"<h3>{esc(_source_name(s, markers))}</h3>")
        for title, caption, headers, rows in tables:
            head = "".join(f"<th>{esc(h)}</th>" for h in headers)
            body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in rows)
            blocks.append(f'<h3>{esc(title)}</h3><p class="caption">{esc(caption)}</p>'
                          f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    return "".join(blocks)


def _claims_section(sources: Sequence[PageSource], markers: Mapping[str, Sequence[str]]) -> str:
    """The claims table of each source (:mod:`bench.claims`): claim, difference, estimate [95% CI], verdict."""
    blocks = []
    for s in sources:
        claims = (s.results or {}).get("claims")
        if not claims:
            continue
        head = "".join(f"<th>{esc(h)}</th>" for h in CLAIM_HEADERS)
        body = ""
        for (claim, measure, estimate, verdict), c in zip(claim_rows(claims, claim_number), claims):
            css = "verdict-" + c["verdict"].replace(" ", "-")
            body += (f'<tr><th scope="row">{esc(claim)}</th><td>{esc(measure)}</td><td>{esc(estimate)}</td>'
                     f'<td class="{esc(css)}">{esc(verdict)}</td></tr>')
        title = f"<h3>{esc(_source_name(s, markers))}</h3>" if len(sources) > 1 else ""
        blocks.append(f'{title}<p class="caption">{esc(CLAIMS_CAPTION)}</p>'
                      f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    return "".join(blocks)


def _seeds_section(sources: Sequence[PageSource], markers: Mapping[str, Sequence[str]]) -> str:
    """``bench --seeds`` (:mod:`bench.seeds`): per training, the chosen sampler, LFDM's and LDM's FVD [CI], LDM -
    LFDM and retrieval - LFDM [CI], class accuracy and expression change; then the spread over the trainings."""
    blocks = []
    for s in sources:
        seeds = (s.results or {}).get("training_seeds")
        if not seeds or not seeds.get("rows"):
            continue
        heads = ["seed", "folder", *seed_cells(seeds["rows"][0])]
        body = "".join(f'<tr data-seed="{esc(str(r["seed"]))}">'
                       + "".join(f"<td>{esc(str(v))}</td>" for v in (r["seed"], r["folder"], *seed_cells(r).values()))
                       + "</tr>" for r in seeds["rows"])
        title = f"<h3>{esc(_source_name(s, markers))}</h3>" if len(sources) > 1 else ""
        table = ('<div class="table-wrap"><table class="data"><thead><tr>' + "".join(f"<th>{esc(h)}</th>" for h in heads)
                 + "</tr></thead><tbody>" + body + "</tbody></table></div>")
        blocks.append(title + '<p class="caption">' + esc((
            "LFDM and LDM retrained from scratch with each seed (same data, samplers chosen by the same rule on the "
            "validation subjects, same evaluation; the first row is this benchmark's own training). Each interval "
            "resamples the subjects of its one training; the spread below is what those intervals do not cover, and "
            "the differences over the trainings take the training as the unit.")) + "</p>"
            + table + kv_table(["over the trainings"], [seeds["summary"]]))
    return "".join(blocks)


def _splits(sources: Sequence[PageSource]) -> list[str]:
    seen: list[str] = []
    for s in sources:
        for d in ((s.results or {}).get("methods") or {}).values():
            seen += [k for k in d if k not in seen]
    head = [k for k in ("test", "train") if k in seen]
    return head + [k for k in seen if k not in head and k != "gap"] + (["gap"] if "gap" in seen else [])


def _protocol_block(sources: Sequence[PageSource], markers: Mapping[str, Sequence[str]]) -> str:
    out = []
    for s in sources:
        r = s.results or s.ablation or {}
        protocol = dict(r.get("protocol") or {})
        if s.results:  # a benchmark: the split is each table's
            protocol["split"] = "per table"
        lines = protocol_header(protocol or None, r.get("detector") or protocol.get("detector_info"))
        who = f'<span class="src">{esc(_source_name(s, markers))}:</span> ' if len(sources) > 1 else ""
        if not lines:
            out.append(f'<div class="protocol">{who}no evaluation protocol recorded</div>')
            continue
        out.append(f'<div class="protocol">{who}{esc(lines[0])}</div>')
        out += [f'<div class="warning">{esc(line)}</div>' for line in lines[1:]]
    return "".join(out)


def _grid_figure(data: Mapping[str, Any], gif: str) -> str:
    """One class GIF with its column (method) and row (subject) labels aligned to the tiles."""
    tile, pad = int(data["tile"]), int(data.get("pad", 2))
    cols, subjects = list(data["columns"]), list(data["subjects"])
    w, h = len(cols) * (tile + pad) + pad, len(subjects) * (tile + pad) + pad
    k = max(1, min(round(DISPLAY_TILE / tile), MAX_GIF_WIDTH // w or 1))
    track_c = f"{pad}fr " + " ".join([f"{tile + pad}fr"] * len(cols))
    track_r = f"{pad}fr " + " ".join([f"{tile + pad}fr"] * len(subjects))
    col_labels = "<span></span>" + "".join(f"<span>{esc(c)}</span>" for c in cols)
    row_labels = "<span></span>" + "".join(f"<span>{esc(s)}</span>" for s in subjects)
    alt = f"{data.get('class_name', '')}: " + ", ".join(cols) + " for subjects " + ", ".join(subjects)
    return (f'<div class="cmp" style="grid-template-columns: auto {w * k}px">'
            f'<div></div><div class="cols" style="grid-template-columns: {track_c}">{col_labels}</div>'
            f'<div class="rows" style="grid-template-rows: {track_r}">{row_labels}</div>'
            f'<img src="{_href(gif)}" width="{w * k}" height="{h * k}" alt="{esc(alt)}"></div>')


def _samples_section(sources: Sequence[PageSource], assets: Assets, gifs: Sequence[tuple[int, dict | None, Path]],
                     markers: Mapping[str, Sequence[str]]) -> str:
    have = [(i, d, folder) for i, d, folder in gifs if d and d.get("classes")]
    if not have:
        return ""
    classes: list[tuple[int, str]] = []
    for _, d, _ in have:
        classes += [(c["index"], c["name"]) for c in d["classes"] if (c["index"], c["name"]) not in classes]
    figs = []
    for ci, name in sorted(classes):
        parts = []
        for i, d, folder in have:
            c = next((c for c in d["classes"] if c["index"] == ci), None)
            if c is None:
                continue
            if len(sources) > 1:
                parts.append(f'<div class="src-label">{esc(_source_name(sources[i], markers))}</div>')
            parts.append(_grid_figure({**d, "class_name": name},
                                      assets.rel(folder / c["gif"], i, sources[i])))
        figs.append(f'<figure class="cls" data-class="{esc(name)}"><figcaption>{esc(name)}</figcaption>'
                    f'{"".join(parts)}</figure>')
    d0 = have[0][1]
    notes = [n for _, d, _ in have for n in d.get("notes", [])]
    return (f'<p class="muted small">Per class: rows are the first {len(d0["subjects"])} test subjects; columns are '
            f"the {esc(SOURCE_COLUMN.split(' (')[0])} (the real video whose first frame every method was given) and "
            f"each method's video from that frame ({d0.get('frames', '?')} frames at {d0.get('fps', '?')} fps; the "
            "first video when several were sampled per pair). The sample manifests (every video's seed and "
            'settings) are listed under <a href="#files">Files</a>.</p>'
            + "".join(f'<p class="warning">{esc(n)}</p>' for n in notes)
            + f'<div class="samples">{"".join(figs)}</div>')


def _ablation_section(sources: Sequence[PageSource], assets: Assets, markers: Mapping[str, Sequence[str]]) -> str:
    rows, plots, found = [], [], []
    for i, s in enumerate(sources):
        res = s.results or {}
        for ab in ([res.get("ablation"), res.get("ablation_ldm"), res.get("ablation_vdm")] if res.get("ablation")
                   else [s.ablation]):
            if not ab:
                continue
            found.append(ab)
            gen = f"{ab['generator']} " if res.get("ablation_ldm") and ab.get("generator") else ""
            for r in ab.get("rows") or []:
                keys = [gen + str(r.get("point", ""))] + ([_source_name(s, markers)] if len(sources) > 1 else [])
                rows.append(Row(keys, r, {"source": s.label, "point": str(r.get("point", ""))}))
            files = [Path(s.path) / p for p in ab.get("plots") or []]
            if not files and ab is s.ablation:
                files = sorted(Path(s.path).glob("plots/*.png")) or sorted(Path(s.path).glob("ablation/plots/*.png"))
            imgs = "".join(f'<a href="{_href(rel)}"><img src="{_href(rel)}" alt="{esc(f.stem.replace("_", " "))}">'
                           f'</a>' for f in files if f.is_file() for rel in [assets.rel(f, i, s)])
            if imgs:
                label = " ".join(x for x in [_source_name(s, markers) if len(sources) > 1 else "", gen.strip()] if x)
                plots.append((f'<div class="src-label">{esc(label)}</div>' if label else "")
                             + f'<div class="plots">{imgs}</div>')
    if not rows and not plots:
        return ""
    ab0 = found[0]
    first = (ab0.get("rows") or [{}])[0]
    max_subj = ab0.get("max_subjects") or (ab0.get("request") or {}).get("max_subjects") or "all"
    split = ab0.get("split") or (ab0.get("request") or {}).get("split") or "test"
    who = " and ".join(dict.fromkeys(ab.get("generator") or "LFDM" for ab in found))
    caption = (f"{who} on the first {max_subj} {'validation' if split == 'val' else split} subjects (every class, "
               f"the same sources and seeds at every setting): {first.get('n_videos', '?')} generated vs "
               f"{first.get('n_real', '?')} real videos per setting; NFE = network evaluations per video (a guided "
               "step counts 2)." + (" Each generator's best setting samples its test and train videos."
                                    if split == "val" else ""))
    keys = ["setting"] + (["source"] if len(sources) > 1 else [])
    return data_table(rows, keys, caption=caption, skip=("point",)) + "".join(plots)


def _facts_section(sources: Sequence[PageSource], markers: Mapping[str, Sequence[str]]) -> str:
    names = [_source_name(s, markers) for s in sources]
    res = [s.results or {} for s in sources]
    models = [Row([name] + ([_source_name(s, markers)] if len(sources) > 1 else []), vals, {"model": name})
              for name in dict.fromkeys(n for r in res for n in (r.get("models") or {}))
              for s, r in zip(sources, res) if name in (r.get("models") or {}) for vals in [r["models"][name]]]
    out = data_table(models, ["model"] + (["source"] if len(sources) > 1 else []),
                     caption="Parameters of stage 1 (LFAE / LDM autoencoder) and of the U-Net; U-Net GFLOP of one "
                     "training step (forward + backward) at the training batch shape.")
    facts = [{k: v for k, v in (r.get("facts") or {}).items() if k != "environment"} for r in res]
    out += kv_table(names, facts, caption="Run facts: data, seeds, sampler, hardware and each stage's wall time (s).")
    env = [(r.get("facts") or {}).get("environment") or (r.get("benchmark") or {}).get("environment") or {}
           for r in res]
    if any(env):
        out += f"<details><summary>Environment</summary>{kv_table(names, env)}</details>"
    proto = [{"protocol": r.get("protocol") or (s.ablation or {}).get("protocol") or {},
              "detector": r.get("detector") or {}} for s, r in zip(sources, res)]
    out += f"<details><summary>Evaluation protocol and detector (every key)</summary>{kv_table(names, proto)}</details>"
    for s, r in zip(sources, res):
        cfg = (r.get("benchmark") or {}).get("config")
        if cfg:
            who = f" of {esc(s.label)}" if len(sources) > 1 else ""
            out += (f"<details><summary>Benchmark config{who}</summary>"
                    f"<pre>{esc(yaml.safe_dump(cfg, sort_keys=False))}</pre></details>")
    return out


def _other_sections(sources: Sequence[PageSource], markers: Mapping[str, Sequence[str]]) -> list[tuple[str, str]]:
    """Every top-level key of results.json the page has no section for, as a generic table."""
    keys: list[str] = []
    for s in sources:
        keys += [k for k in (s.results or {}) if k not in KNOWN_KEYS and k not in keys]
    out = []
    for key in keys:
        vals = [(s, (s.results or {}).get(key)) for s in sources if key in (s.results or {})]
        multi = len(sources) > 1
        if all(isinstance(v, dict) and v and all(isinstance(x, dict) for x in v.values()) for _, v in vals):
            rows = [Row([str(name)] + ([_source_name(s, markers)] if multi else []), x, {"row": str(name)})
                    for s, v in vals for name, x in v.items()]
            html = data_table(rows, ["row"] + (["source"] if multi else []))
        elif all(isinstance(v, list) and v and all(isinstance(x, dict) for x in v) for _, v in vals):
            rows = [Row([str(n + 1)] + ([_source_name(s, markers)] if multi else []), x, {"row": str(n)})
                    for s, v in vals for n, x in enumerate(v)]
            html = data_table(rows, ["#"] + (["source"] if multi else []))
        else:
            html = kv_table([_source_name(s, markers) for s, _ in vals],
                            [v if isinstance(v, dict) else {key: v} for _, v in vals])
        out.append((key, html))
    return out


def _files_section(sources: Sequence[PageSource], assets: Assets, markers: Mapping[str, Sequence[str]]) -> str:
    items = []
    for i, s in enumerate(sources):
        who = f"{_source_name(s, markers)}: " if len(sources) > 1 else ""
        for pattern in DATA_FILES:
            for f in sorted(Path(s.path).glob(pattern)):
                name = f.relative_to(s.path).as_posix()
                if f.is_file():
                    items.append(f'<li>{esc(who)}<a href="{_href(assets.rel(f, i, s))}">{esc(name)}</a></li>')
    return f'<ul class="files">{"".join(items)}</ul>' if items else ""


# --------------------------------------------------------------------------------------------------------- page
def render_page(sources: Sequence[PageSource], assets: Assets, gifs: Sequence[tuple[int, dict | None, Path]],
                footnotes: Sequence[tuple[str, str]] = (), markers: Mapping[str, Sequence[str]] | None = None) -> str:
    """The HTML text of the page (assets are copied on the way, see :class:`Assets`)."""
    markers = markers or {}
    names = [((s.results or {}).get("benchmark") or {}).get("name") or Path(s.path).name for s in sources]
    title = "lfdm-bench: " + " vs ".join(dict.fromkeys(names))
    sections: list[tuple[str, str, str]] = []  # (anchor, title, html)
    multi = len(sources) > 1
    for split in _splits(sources):
        rows = _method_rows(sources, split, markers)
        keys = ["method"] + (["source"] if multi else [])
        sections.append((f"split-{_slug(split)}", SPLIT_TITLES.get(split, f"Main table, {split}"),
                         data_table(rows, keys, caption=_split_caption(sources, split))))
        if split != "gap":
            sections.append((f"expression-{_slug(split)}", f"Expression change x real per class, {split} subjects",
                             _expression_section(sources, split, markers)))
        if split == "test":
            sections.append(("samples", "Samples (test subjects)", _samples_section(sources, assets, gifs, markers)))
    if not any(a == "samples" for a, _, _ in sections):
        sections.append(("samples", "Samples (test subjects)", _samples_section(sources, assets, gifs, markers)))
    ae_rows = [Row([name] + ([_source_name(s, markers)] if multi else []), vals, {"autoencoder": name})
               for name in dict.fromkeys(n for s in sources for n in ((s.results or {}).get("autoencoders") or {}))
               for s in sources for vals in [((s.results or {}).get("autoencoders") or {}).get(name)] if vals]
    sections.append(("autoencoders", "Autoencoders", data_table(
        ae_rows, ["autoencoder"] + (["source"] if multi else []),
        caption="Reconstruction of test-subject frames 1..T-1: from frame 0 for the LFAE (and its copy-frame-0 / "
                "warp-only references), frame by frame for LDM's autoencoder. PSNR as the mean over frames "
                "(identical frames capped) and of the pooled MSE.") + _occlusion_figures(sources, assets, markers)))
    sections.append(("paper", "The paper's other experiments", _paper_section(sources, markers)))
    sections.append(("claims", "The paper's claims on this benchmark", _claims_section(sources, markers)))
    sections.append(("seeds", "LFDM and LDM over training seeds", _seeds_section(sources, markers)))
    sections.append(("ablation", "Sampler ablation", _ablation_section(sources, assets, markers)))
    sections.append(("facts", "Models and run facts", _facts_section(sources, markers)))
    sections += [(f"extra-{_slug(k)}", k, html) for k, html in _other_sections(sources, markers)]
    sections.append(("files", "Files", _files_section(sources, assets, markers)))
    sections = [s for s in sections if s[2]]

    src_line = "; ".join(f"{_source_name(s, markers)} = {s.path}" for s in sources) if multi else ""
    hw = [((s.results or {}).get("benchmark") or {}).get("hardware") for s in sources]
    sub = src_line or (f"Hardware: {hw[0]}" if hw[0] else "")
    toc = "".join(f'<a href="#{a}">{esc(t)}</a>' for a, t, _ in sections)
    body = "".join(f'<section id="{a}"><h2>{esc(t)}</h2>{html}</section>' for a, t, html in sections)
    notes = ("<section class=\"footnotes\"><h2>Footnotes</h2><ul>"
             + "".join(f"<li>[{esc(m)}] {esc(t)}</li>" for m, t in footnotes) + "</ul></section>") if footnotes else ""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{esc(title)}</title>"
            f"<style>{CSS}</style></head><body><main><h1>{esc(title)}</h1>"
            f'<div class="muted">{esc(sub)}</div>{_protocol_block(sources, markers)}'
            f'<nav class="toc">{toc}</nav>{body}{notes}</main></body></html>\n')


def write_html_report(sources: Sequence[PageSource], page: str | Path, *, footnotes: Sequence[tuple[str, str]] = (),
                      header_markers: Mapping[str, Sequence[str]] | None = None,
                      source_records: Sequence[VideoRecord] | None = None, subjects: int = 3,
                      rebuild_gifs: bool = False) -> Path:
    """Write the page ``page`` (and ``<page>_files/``) for ``sources``; returns the page's path.

    Sample GIFs: built from a source's sample folders into ``<page>_files/`` when the page lies in that source's
    folder or ``rebuild_gifs``; otherwise copied from the source's own ``report_files/samples`` when it has them.
    ``source_records``: the dataset's records (crop boxes of the ground-truth clips; see
    :func:`bench.sample_gifs.write_sample_gifs`)."""
    page = Path(page)
    page.parent.mkdir(parents=True, exist_ok=True)
    assets = Assets(page)
    gifs: list[tuple[int, dict | None, Path]] = []
    for i, s in enumerate(sources):
        own = assets.own_folder(i, s) / "samples"
        existing = Path(s.path) / "report_files" / "samples"
        if not rebuild_gifs and own.resolve() != existing.resolve() and read_sample_gifs(existing):
            gifs.append((i, read_sample_gifs(existing), existing))
            continue
        cfg = ((s.results or {}).get("benchmark") or {}).get("config")
        order = (cfg.get("methods") if isinstance(cfg, dict) else None) or ()
        folders = sample_folders(Path(s.path), "test", order)
        if not folders:
            gifs.append((i, None, own))
            continue
        data = write_sample_gifs(folders, own, subjects=subjects, protocol=(s.results or {}).get("protocol"),
                                 labels=METHOD_NAMES, source_records=source_records if len(sources) == 1 else None)
        gifs.append((i, data, own))
    atomic_write_text(page, render_page(sources, assets, gifs, footnotes, header_markers))
    return page
