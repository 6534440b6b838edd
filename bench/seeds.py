"""Training seeds: what a benchmark's intervals do not cover.

Every interval of a benchmark resamples the *subjects* of one trained model. :func:`run_seeds` retrains LFDM with
other seeds (the same data, the same sampler-ablation rule on the validation subjects, the same evaluation), each as a
sub-benchmark of LFDM and retrieval (retrieval's motion goes through the retrained LFAE) in ``OUT/seeds/seed<s>/``,
and writes ``OUT/seeds.json`` and ``OUT/seeds.md``: per training, the sampler its ablation chose, LFDM's FVD with its
interval, retrieval - LFDM with its paired interval, class accuracy and expression change; then the mean, SD and
range of LFDM's FVD over the trainings (the benchmark's own run included). Each sub-benchmark resumes like any
benchmark; the summary is rewritten from their ``results.json`` at the end.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from bench.config import BenchConfig
from lfdm_bench.utils.io import atomic_write_json, atomic_write_text
from metrics.format import format_value

__all__ = ["seeds_problem", "seed_config", "seed_row", "seed_cells", "summarise_seeds", "seeds_markdown", "run_seeds"]

SEED_METHODS = ("lfdm", "retrieval")


def seeds_problem(bc: BenchConfig, seeds: Sequence[int], main_seed: int) -> str | None:
    """Why ``seeds`` cannot be run for the benchmark ``bc`` (whose LFDM trains with ``main_seed``), or ``None``."""
    if "lfdm" not in bc.methods:
        return "--seeds retrains LFDM: the benchmark's methods must include lfdm"
    if main_seed in seeds or len(set(seeds)) != len(seeds):
        return (f"--seeds {list(seeds)}: give each seed once, none equal to the benchmark's own LFDM seed "
                f"{main_seed} (its run is the first row)")
    return None


def seed_config(bc: BenchConfig, seed: int) -> BenchConfig:
    """The sub-benchmark of one training seed: LFDM (and retrieval when the benchmark has it) on test subjects, LFDM
    trained from scratch with ``seed``, no train-split rows, no grids."""
    return dataclasses.replace(bc, lfdm_run=None, lfdm_overrides=(*bc.lfdm_overrides, f"seed={int(seed)}"),
                               methods=tuple(m for m in SEED_METHODS if m in bc.methods), train_split_methods=(),
                               grids=False)


def seed_row(results: dict[str, Any], seed: int, folder: str) -> dict[str, Any]:
    """One training's row from its benchmark ``results.json`` (test subjects)."""
    lfdm = results["methods"]["lfdm"]["test"]
    sampler = results.get("facts", {}).get("samplers", {}).get("LFDM", {})
    row: dict[str, Any] = {"seed": int(seed), "folder": folder, "sampler": sampler,
                           "fvd": lfdm["fvd"], "fvd_ci": lfdm.get("fvd_ci"), "acc": lfdm.get("acc"),
                           "expr_ratio": lfdm.get("expr_ratio"), "expr_min": lfdm.get("expr_min")}
    retrieval = results["methods"].get("retrieval", {}).get("test")
    diff = results.get("differences", {}).get("test", {}).get("retrieval", {}).get("fvd")
    row["retrieval_fvd"] = None if retrieval is None else retrieval["fvd"]
    row["retrieval_minus_lfdm"] = None if diff is None else {k: diff[k] for k in ("diff", "lo", "hi")}
    return row


def summarise_seeds(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean, SD (ddof 1) and range of LFDM's FVD over the trainings; how many put retrieval ahead (its paired
    interval of retrieval - LFDM below 0), level with it (containing 0) or behind (above 0)."""
    fvd = np.array([r["fvd"] for r in rows], dtype=np.float64)
    diffs = [r["retrieval_minus_lfdm"] for r in rows if r.get("retrieval_minus_lfdm")]
    out: dict[str, Any] = {"n_trainings": len(rows), "fvd_mean": float(fvd.mean()),
                           "fvd_sd": float(fvd.std(ddof=1)) if len(fvd) > 1 else None,
                           "fvd_min": float(fvd.min()), "fvd_max": float(fvd.max())}
    widths = [r["fvd_ci"][1] - r["fvd_ci"][0] for r in rows if r.get("fvd_ci")]
    out["mean_interval_half_width"] = float(np.mean(widths) / 2) if widths else None
    if diffs:
        out["retrieval_vs_lfdm"] = {"ahead": sum(d["hi"] < 0 for d in diffs),
                                    "not_decided": sum(d["lo"] <= 0 <= d["hi"] for d in diffs),
                                    "behind": sum(d["lo"] > 0 for d in diffs)}
    return out


def _g(x: Any) -> str:
    return format_value(x, 2, missing="-")  # as the benchmark's tables


def seed_cells(r: dict[str, Any]) -> dict[str, str]:
    """A training's row as display texts (the Markdown table's and the report's columns after seed and folder)."""
    s = r.get("sampler") or {}
    sampler = f"{s.get('sampler', '?')} {s.get('steps', '?')} steps, g {s.get('guidance', '?')}" if s else "-"
    ci = r.get("fvd_ci")
    d = r.get("retrieval_minus_lfdm")
    return {"sampler chosen on validation": sampler,
            "LFDM FVD [95% CI]": f"{_g(r['fvd'])} [{_g(ci[0])}, {_g(ci[1])}]" if ci else _g(r["fvd"]),
            "retrieval - LFDM [95% CI]": f"{_g(d['diff'])} [{_g(d['lo'])}, {_g(d['hi'])}]" if d else "-",
            "class acc %": "-" if r.get("acc") is None else f"{100 * r['acc']:.1f}",
            "expr. change (mean / worst)": f"{_g(r.get('expr_ratio'))} / {_g(r.get('expr_min'))}"}


def seeds_markdown(rows: Sequence[dict[str, Any]], summary: dict[str, Any]) -> str:
    """The seeds table and its summary as Markdown."""
    lines = ["# LFDM over training seeds (test subjects)", "",
             "Each row: LFDM trained from scratch with the seed (same data, sampler chosen by the same rule on the "
             "validation subjects, same evaluation). Intervals resample subjects of that one training.", "",
             "| seed | folder | sampler chosen on validation | LFDM FVD [95% CI] | retrieval - LFDM [95% CI] | "
             "class acc % | expr. change (mean / worst) |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        c = seed_cells(r)
        lines.append(f"| {r['seed']} | `{r['folder']}` | " + " | ".join(c.values()) + " |")
    lines += ["", f"LFDM FVD over {summary['n_trainings']} trainings: mean {_g(summary['fvd_mean'])}, SD "
              f"{_g(summary['fvd_sd'])}, range {_g(summary['fvd_min'])}-{_g(summary['fvd_max'])}; mean half-width "
              f"of one training's interval {_g(summary['mean_interval_half_width'])}."]
    rv = summary.get("retrieval_vs_lfdm")
    if rv:
        lines.append(f"Retrieval - LFDM: retrieval ahead (interval below 0) in {rv['ahead']}, not decided in "
                     f"{rv['not_decided']}, behind in {rv['behind']} of the trainings.")
    return "\n".join(lines) + "\n"


def run_seeds(main: Any, seeds: Sequence[int], make_benchmark: Callable[[BenchConfig, Path], Any], *,
              log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the sub-benchmark of every seed in ``seeds`` (``OUT/seeds/seed<s>/``, resumable) for the finished
    :class:`~bench.pipeline.Benchmark` ``main``, write ``OUT/seeds.json`` / ``OUT/seeds.md`` with ``main``'s own
    training first, then rewrite ``main``'s results, tables and report, which show them (results.json
    ``training_seeds``). ``make_benchmark(config, folder)`` builds each sub-benchmark (the caller's ``Benchmark``:
    this module sits below the pipeline, whose tables it formats)."""
    bc, out, main_seed = main.bc, Path(main.out), main.lfdm_cfg.seed
    seeds = [int(s) for s in seeds]
    problem = seeds_problem(bc, seeds, main_seed)
    if problem:
        raise ValueError(problem)
    rows = [seed_row(json.loads((out / "results.json").read_text()), main_seed, ".")]
    for s in seeds:
        folder = out / "seeds" / f"seed{s}"
        log(f"[bench] LFDM training seed {s} -> {folder}")
        make_benchmark(seed_config(bc, s), folder).run()
        rows.append(seed_row(json.loads((folder / "results.json").read_text()), s, str(folder.relative_to(out))))
    summary = summarise_seeds(rows)
    atomic_write_json(out / "seeds.json", {"what": "LFDM retrained with each seed; test subjects", "rows": rows,
                                           "summary": summary})
    atomic_write_text(out / "seeds.md", seeds_markdown(rows, summary))
    main.tables_and_report()
    return {"rows": rows, "summary": summary}
