"""Training seeds: what a benchmark's intervals do not cover.

Every interval of a benchmark resamples the *subjects* of one trained model. :func:`run_seeds` retrains the
benchmark's generators (LFDM, and LDM when the benchmark has it) with other seeds (the same data, the same
sampler-ablation rule on the validation subjects, the same evaluation), each seed as a sub-benchmark of LFDM, LDM
and retrieval (retrieval's motion goes through the retrained LFAE) in ``OUT/seeds/seed<s>/``, and writes
``OUT/seeds.json`` and ``OUT/seeds.md``: per training, the sampler LFDM's ablation chose, LFDM's FVD with its
interval, LDM's FVD, each other method minus LFDM with its paired interval, class accuracy and expression change;
then the mean, SD and range of LFDM's (and LDM's) FVD over the trainings (the benchmark's own run included) and,
with the training as the unit, the mean of each difference to LFDM over the trainings with a t interval. Each
sub-benchmark resumes like any benchmark; the summary is rewritten from their ``results.json`` at the end.
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

SEED_METHODS = ("lfdm", "ldm", "retrieval")
COMPARED = ("ldm", "retrieval")  # each row holds <method>_fvd and <method>_minus_lfdm for these


def seeds_problem(bc: BenchConfig, seeds: Sequence[int], main_seed: int) -> str | None:
    """Why ``seeds`` cannot be run for the benchmark ``bc`` (whose LFDM trains with ``main_seed``), or ``None``."""
    if "lfdm" not in bc.methods:
        return "--seeds retrains LFDM: the benchmark's methods must include lfdm"
    if main_seed in seeds or len(set(seeds)) != len(seeds):
        return (f"--seeds {list(seeds)}: give each seed once, none equal to the benchmark's own LFDM seed "
                f"{main_seed} (its run is the first row)")
    return None


def seed_config(bc: BenchConfig, seed: int) -> BenchConfig:
    """The sub-benchmark of one training seed: LFDM (and LDM and retrieval when the benchmark has them) on test
    subjects, LFDM and LDM trained from scratch with ``seed``, no train-split rows, no grids."""
    return dataclasses.replace(bc, lfdm_run=None, lfdm_overrides=(*bc.lfdm_overrides, f"seed={int(seed)}"),
                               ldm_run=None, ldm_overrides=(*bc.ldm_overrides, f"seed={int(seed)}"),
                               methods=tuple(m for m in SEED_METHODS if m in bc.methods), train_split_methods=(),
                               grids=False)


def seed_row(results: dict[str, Any], seed: int, folder: str) -> dict[str, Any]:
    """One training's row from its benchmark ``results.json`` (test subjects)."""
    lfdm = results["methods"]["lfdm"]["test"]
    sampler = results.get("facts", {}).get("samplers", {}).get("LFDM", {})
    row: dict[str, Any] = {"seed": int(seed), "folder": folder, "sampler": sampler,
                           "fvd": lfdm["fvd"], "fvd_ci": lfdm.get("fvd_ci"), "acc": lfdm.get("acc"),
                           "expr_ratio": lfdm.get("expr_ratio"), "expr_min": lfdm.get("expr_min")}
    for m in COMPARED:
        other = results["methods"].get(m, {}).get("test")
        diff = results.get("differences", {}).get("test", {}).get(m, {}).get("fvd")
        row[f"{m}_fvd"] = None if other is None else other["fvd"]
        row[f"{m}_fvd_ci"] = None if other is None else other.get("fvd_ci")
        row[f"{m}_minus_lfdm"] = None if diff is None else {k: diff[k] for k in ("diff", "lo", "hi")}
    return row


def over_trainings(diffs: Sequence[float], level: float = 0.95) -> dict[str, Any]:
    """The mean of per-training differences with its t interval (the training as the unit, ``n - 1`` degrees of
    freedom): what a claim "A beats B" needs when a retraining moves a method by more than one run's interval."""
    from scipy import stats

    d = np.asarray(diffs, dtype=np.float64)
    out: dict[str, Any] = {"n": int(d.size), "mean": float(d.mean())}
    if d.size >= 2:
        sd = float(d.std(ddof=1))
        half = float(stats.t.ppf(0.5 + level / 2, d.size - 1)) * sd / np.sqrt(d.size)
        out |= {"sd": sd, "lo": out["mean"] - half, "hi": out["mean"] + half, "level": level,
                "interval": f"t interval, {d.size - 1} degrees of freedom, the training as the unit"}
    return out


def summarise_seeds(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean, SD (ddof 1) and range of LFDM's FVD over the trainings; how many put retrieval ahead (its paired
    interval of retrieval - LFDM below 0), level with it (containing 0) or behind (above 0)."""
    fvd = np.array([r["fvd"] for r in rows], dtype=np.float64)
    out: dict[str, Any] = {"n_trainings": len(rows), "fvd_mean": float(fvd.mean()),
                           "fvd_sd": float(fvd.std(ddof=1)) if len(fvd) > 1 else None,
                           "fvd_min": float(fvd.min()), "fvd_max": float(fvd.max())}
    widths = [r["fvd_ci"][1] - r["fvd_ci"][0] for r in rows if r.get("fvd_ci")]
    out["mean_interval_half_width"] = float(np.mean(widths) / 2) if widths else None
    for m in COMPARED:
        diffs = [r[f"{m}_minus_lfdm"] for r in rows if r.get(f"{m}_minus_lfdm")]
        if not diffs:
            continue
        out[f"{m}_vs_lfdm"] = {"ahead": sum(d["hi"] < 0 for d in diffs),
                               "not_decided": sum(d["lo"] <= 0 <= d["hi"] for d in diffs),
                               "behind": sum(d["lo"] > 0 for d in diffs)}
        out[f"{m}_minus_lfdm_over_trainings"] = over_trainings([d["diff"] for d in diffs])
        fv = [r[f"{m}_fvd"] for r in rows if r.get(f"{m}_fvd") is not None]
        if fv:
            out[f"{m}_fvd_mean"], out[f"{m}_fvd_min"], out[f"{m}_fvd_max"] = (float(np.mean(fv)), float(min(fv)),
                                                                              float(max(fv)))
            out[f"{m}_fvd_sd"] = float(np.std(fv, ddof=1)) if len(fv) > 1 else None
    return out


def _g(x: Any) -> str:
    return format_value(x, 2, missing="-")  # as the benchmark's tables


def seed_cells(r: dict[str, Any]) -> dict[str, str]:
    """A training's row as display texts (the Markdown table's and the report's columns after seed and folder)."""
    s = r.get("sampler") or {}
    sampler = f"{s.get('sampler', '?')} {s.get('steps', '?')} steps, g {s.get('guidance', '?')}" if s else "-"
    def with_ci(x: Any, ci: Any) -> str:
        return f"{_g(x)} [{_g(ci[0])}, {_g(ci[1])}]" if ci else _g(x)

    def diff(d: Any) -> str:
        return f"{_g(d['diff'])} [{_g(d['lo'])}, {_g(d['hi'])}]" if d else "-"

    return {"sampler chosen on validation": sampler,
            "LFDM FVD [95% CI]": with_ci(r["fvd"], r.get("fvd_ci")),
            "LDM FVD [95% CI]": with_ci(r.get("ldm_fvd"), r.get("ldm_fvd_ci")),
            "LDM - LFDM [95% CI]": diff(r.get("ldm_minus_lfdm")),
            "retrieval - LFDM [95% CI]": diff(r.get("retrieval_minus_lfdm")),
            "class acc %": "-" if r.get("acc") is None else f"{100 * r['acc']:.1f}",
            "expr. change (mean / worst)": f"{_g(r.get('expr_ratio'))} / {_g(r.get('expr_min'))}"}


def seeds_markdown(rows: Sequence[dict[str, Any]], summary: dict[str, Any]) -> str:
    """The seeds table and its summary as Markdown."""
    heads = list(seed_cells(rows[0])) if rows else []
    lines = ["# LFDM and LDM over training seeds (test subjects)", "",
             "Each row: LFDM and LDM trained from scratch with the seed (same data, each one's sampler chosen by the "
             "same rule on the validation subjects, same evaluation; the sampler column is LFDM's). Intervals "
             "resample subjects of that one training; differences are paired within the row.", "",
             "| seed | folder | " + " | ".join(heads) + " |", "|" + "---|" * (len(heads) + 2)]
    for r in rows:
        c = seed_cells(r)
        lines.append(f"| {r['seed']} | `{r['folder']}` | " + " | ".join(c.values()) + " |")
    lines += ["", f"LFDM FVD over {summary['n_trainings']} trainings: mean {_g(summary['fvd_mean'])}, SD "
              f"{_g(summary['fvd_sd'])}, range {_g(summary['fvd_min'])}-{_g(summary['fvd_max'])}; mean half-width "
              f"of one training's interval {_g(summary['mean_interval_half_width'])}."]
    if summary.get("ldm_fvd_mean") is not None:
        lines.append(f"LDM FVD: mean {_g(summary['ldm_fvd_mean'])}, SD {_g(summary.get('ldm_fvd_sd'))}, range "
                     f"{_g(summary['ldm_fvd_min'])}-{_g(summary['ldm_fvd_max'])}.")
    for m, name in (("ldm", "LDM"), ("retrieval", "Retrieval")):
        rv = summary.get(f"{m}_vs_lfdm")
        if not rv:
            continue
        line = (f"{name} - LFDM: {m} ahead (interval below 0) in {rv['ahead']}, not decided in {rv['not_decided']}, "
                f"behind in {rv['behind']} of the trainings")
        ot = summary.get(f"{m}_minus_lfdm_over_trainings") or {}
        if "lo" in ot:
            line += (f"; over the trainings (the training as the unit): mean {_g(ot['mean'])} "
                     f"[{_g(ot['lo'])}, {_g(ot['hi'])}] (95% t interval, {ot['n'] - 1} degrees of freedom)")
        lines.append(line + ".")
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
        log(f"[bench] training seed {s} ({', '.join(m for m in SEED_METHODS if m in bc.methods)}) -> {folder}")
        make_benchmark(seed_config(bc, s), folder).run()
        rows.append(seed_row(json.loads((folder / "results.json").read_text()), s, str(folder.relative_to(out))))
    summary = summarise_seeds(rows)
    atomic_write_json(out / "seeds.json", {"what": "LFDM and LDM retrained with each seed; test subjects", "rows": rows,
                                           "summary": summary})
    atomic_write_text(out / "seeds.md", seeds_markdown(rows, summary))
    main.tables_and_report()
    return {"rows": rows, "summary": summary}
