"""The benchmark's tables: main (per split), generalisation gap, autoencoders, sampler ablation, run facts.

``results.json`` holds every number with the protocol and environment that produced it; the tables are rendered
from it as Markdown, LaTeX (booktabs) and CSV.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lfdm_bench.utils.io import atomic_write_json, atomic_write_text

METHOD_NAMES = {"lfdm": "LFDM", "ldm": "LDM", "static": "static (source image)", "retrieval": "retrieval (LFAE)",
                "real": "real (other take)"}


def _get(d: Any, *keys: Any) -> Any:
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def method_summary(rec: dict, split: str) -> dict[str, Any]:
    """The main-table numbers of one evaluation record (``metrics/<method>_<split>.json``)."""
    v = rec["values"]
    acc = _get(v, "acc", "probe-motion", "generated", split, "accuracy")
    return {
        "fvd": _get(v, "fvd", split), "fvd_ci": rec.get("fvd_ci"),
        "cfvd": {"mean": _get(v, "cfvd", split, "mean"), "std": _get(v, "cfvd", split, "std")},
        "sfvd": {"mean": _get(v, "sfvd", split, "mean"), "std": _get(v, "sfvd", split, "std")},
        "kvd": _get(v, "kvd", split),
        "acc": acc,
        "acc_i3d": _get(v, "acc", "probe-i3d", "generated", split, "accuracy"),
        "acc_real": _get(v, "acc", "probe-motion", "real_test", "accuracy"),
        "chance": _get(v, "acc", "probe-motion", "chance"),
        "psnr": _get(v, "psnr", split, "mean"), "ssim": _get(v, "ssim", split, "mean"),
        "n_generated": _get(rec, "counts", "generated", split), "n_real": _get(rec, "counts", "real", split),
        "seconds_per_video": rec.get("seconds_per_video"),
    }


def build_results(bench) -> dict[str, Any]:
    """Collect every evaluation of a finished benchmark into the ``results.json`` structure."""
    from lfdm_bench.bench.pipeline import run_facts

    out, bc = bench.out, bench.bc
    methods: dict[str, Any] = {}
    protocol = detector = None
    for path in sorted((out / "metrics").glob("*.json")):
        rec = json.loads(path.read_text())
        m, s = rec["method"], rec["split"]
        methods.setdefault(m, {})[s] = method_summary(rec, s)
        protocol, detector = protocol or rec["protocol"], detector or rec["detector"]
    for m, d in methods.items():
        if d.get("test", {}).get("fvd") is not None and d.get("train", {}).get("fvd") is not None:
            d["gap"] = {"fvd": d["test"]["fvd"] - d["train"]["fvd"]}
    autoencoders: dict[str, Any] = {}
    for run_dir, name in ((bench.lfdm_dir, "lfae_reconstruction.json"), (bench.ldm_dir, "ae_reconstruction.json")):
        p = Path(run_dir) / "metrics" / name
        if p.is_file():
            autoencoders.update(json.loads(p.read_text())["scores"])
    from lfdm_bench.config import to_dict

    ablation = None
    ab_path = out / "ablation" / "ablation.json"
    if ab_path.is_file():
        ab = json.loads(ab_path.read_text())
        ablation = {"rows": ab["rows"], "max_subjects": ab["request"].get("max_subjects"),
                    "plots": sorted(str(p.relative_to(out)) for p in (out / "ablation" / "plots").glob("*.png"))}
    return {"benchmark": {"name": bc.name, "config": to_dict(bc), "hardware": run_facts(bench)["hardware"],
                          "environment": run_facts(bench)["environment"]},
            "protocol": protocol, "detector": detector, "methods": methods, "autoencoders": autoencoders,
            "ablation": ablation, "models": model_facts(bench), "facts": run_facts(bench)}


def model_facts(bench) -> dict[str, Any]:
    """Parameters of both stages and U-Net training GFLOP per step (forward + backward at the training batch) of
    LFDM and LDM, side by side (the paper's efficiency argument, measured on our configs)."""
    import torch

    from lfdm_bench.training.engine import load_checkpoint

    out: dict[str, Any] = {}
    for name, run_dir, stage1 in (("LFDM", bench.lfdm_dir, "lfae"), ("LDM", bench.ldm_dir, "ae")):
        ck1, ck2 = Path(run_dir) / "checkpoints" / stage1 / "last.pt", Path(run_dir) / "checkpoints" / "dm" / "last.pt"
        if not (ck1.is_file() and ck2.is_file()):
            continue
        from lfdm_bench.models.video_diffusion import VideoDiffusion, VideoDiffusionConfig

        s1 = load_checkpoint(ck1)
        dm = load_checkpoint(ck2)
        vcfg = VideoDiffusionConfig.from_dict(dm["model_config"])
        with torch.device("meta"):
            unet = VideoDiffusion(vcfg).unet
        tc = dm.get("train_config") or {}
        cfg_yaml = (Path(run_dir) / "config.yaml").read_text()
        import yaml

        data = yaml.safe_load(cfg_yaml)["data"]
        h = data["size"] // 4
        shape = (int(tc.get("batch_size", 1)), vcfg.unet.in_channels, int(data["n_frames"]), h, h)
        with torch.device("meta"):
            if stage1 == "lfae":
                from lfdm_bench.models.lfae.lfae import LFAE, LFAEConfig

                m1 = LFAE(LFAEConfig.from_dict(s1["model_config"]))
            else:
                from lfdm_bench.baselines.ldm.autoencoder import KLAutoencoder, KLAutoencoderConfig

                m1 = KLAutoencoder(KLAutoencoderConfig.from_dict(s1["model_config"]))
        out[name] = {"stage1_params": sum(p.numel() for p in m1.parameters()),
                     "unet_params": sum(p.numel() for p in unet.parameters()),
                     "unet_train_gflop_per_step": unet.flops_per_forward(shape, backward=True) / 1e9,
                     "train_batch_shape": list(shape)}
    return out


# --- rendering -----------------------------------------------------------------------------------------------
def _f(x: Any, digits: int = 1) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _pm(d: dict | None, digits: int = 1, tex: bool = False) -> str:
    if not d or d.get("mean") is None:
        return "-"
    sep = " $\\pm$ " if tex else " ± "
    return f"{d['mean']:.{digits}f}{sep}{d['std']:.{digits}f}"


FVD_DIGITS = 2  # i3d-random FVDs on the embedded set lie between ~0.01 and a few units


def main_rows(results: dict, split: str, tex: bool = False) -> list[list[str]]:
    rows = []
    for m, d in results["methods"].items():
        s = d.get(split)
        if not s:
            continue
        ci = s.get("fvd_ci")
        d = FVD_DIGITS
        fvd = _f(s["fvd"], d) + (f" [{ci[0]:.{d}f}, {ci[1]:.{d}f}]" if ci else "")
        rows.append([METHOD_NAMES.get(m, m), fvd, _pm(s["cfvd"], d, tex=tex), _pm(s["sfvd"], d, tex=tex), _f(s["kvd"], 4),
                     _f(None if s["acc"] is None else 100 * s["acc"]), _f(s["psnr"], 2), _f(s["ssim"], 3),
                     _f(s["seconds_per_video"], 3)])
    return rows


MAIN_HEADERS = ["method", "FVD [95% CI]", "cFVD", "sFVD", "KVD", "class acc %", "PSNR", "SSIM", "s/video"]


def _caption(results: dict, split: str) -> str:
    p, d = results.get("protocol") or {}, results.get("detector") or {}
    ns = {m: v[split]["n_generated"] for m, v in results["methods"].items() if split in v}
    n_real = next((v[split]["n_real"] for v in results["methods"].values() if split in v), None)
    comparable = "" if d.get("comparable_with_published") else " NOT comparable with published numbers (i3d-random)."
    return (f"{split.capitalize()}-subject source images: {max(ns.values()) if ns else 0} generated videos per method "
            f"vs {n_real} real videos; {p.get('n_frames')} frames at {p.get('resolution')}px -> 224 "
            f"({p.get('resize_method')}); detector {d.get('name')}; covariance ddof={p.get('ddof')}; class accuracy by "
            f"a linear probe on motion features of real training videos (chance "
            f"{100 * (next((v[split]['chance'] for v in results['methods'].values() if split in v and v[split]['chance']), 0) or 0):.1f}%)."
            f"{comparable}")


def render_markdown(results: dict) -> str:
    from tabulate import tabulate

    parts = [f"# Benchmark {results['benchmark']['name']}\n"]
    for split in ("test", "train"):
        rows = main_rows(results, split)
        if rows:
            parts.append(f"## Main table, {split} subjects\n\n{_caption(results, split)}\n\n"
                         + tabulate(rows, headers=MAIN_HEADERS, tablefmt="github", disable_numparse=True))
    gap = [[METHOD_NAMES.get(m, m), _f(d["test"]["fvd"], FVD_DIGITS), _f(d["train"]["fvd"], FVD_DIGITS),
            _f(d["gap"]["fvd"], FVD_DIGITS)]
           for m, d in results["methods"].items() if "gap" in d]
    if gap:
        parts.append("## Generalisation: FVD from test-subject vs train-subject images\n\n"
                     + tabulate(gap, headers=["method", "FVD test", "FVD train", "gap (test - train)"], tablefmt="github"))
    ae = [[k, _f(v["l1"], 4), _f(v["psnr"], 2), _f(v.get("psnr_pooled"), 2), _f(v["ssim"], 3), v["frames"]]
          for k, v in results["autoencoders"].items()]
    if ae:
        parts.append("## Autoencoders: reconstruction of test-subject frames 1..T-1\n\n"
                     "PSNR as the mean over frames (identical frames capped at 100 dB) and of the pooled MSE.\n\n"
                     + tabulate(ae, headers=["autoencoder", "L1", "PSNR (mean)", "PSNR (pooled)", "SSIM", "frames"],
                                tablefmt="github"))
    ab = results.get("ablation")
    if ab and ab["rows"]:
        from lfdm_bench.bench.ablate import ablation_table

        rows = ablation_table(ab["rows"])
        parts.append(f"## Sampler ablation (LFDM, test subjects)\n\n{ablation_caption(ab)}\n\n"
                     + tabulate([list(r.values()) for r in rows], headers=list(rows[0].keys()), tablefmt="github")
                     + "\n\nPlots: " + ", ".join(f"`{p}`" for p in ab["plots"]))
    f = results["facts"]
    facts = [["dataset", f"{f['dataset']} {f['dataset_options']}"], ["resolution / frames", f"{f['resolution']} px / {f['frames']}"],
             ["eval frames", f["eval_frames"]], ["detector", f["detector"]], ["seeds", json.dumps(f["seeds"])],
             ["sampler", json.dumps(f["sampler"])], ["hardware", f["hardware"]],
             ]
    for name, m in results.get("models", {}).items():
        facts.append([f"{name} parameters (stage 1 / U-Net)", f"{m['stage1_params']:,} / {m['unet_params']:,}"])
        facts.append([f"{name} U-Net GFLOP per training step", f"{m['unet_train_gflop_per_step']:.1f} at {m['train_batch_shape']}"])
    facts += [[f"wall time {k}", f"{v:.0f} s"] for k, v in f["wall_seconds"].items()]
    parts.append("## Run facts\n\n" + tabulate(facts, headers=["", ""], tablefmt="github"))
    return "\n\n".join(parts) + "\n"


def ablation_caption(ab: dict) -> str:
    n, n_real = ab["rows"][0].get("n_videos"), ab["rows"][0].get("n_real")
    return (f"{n} generated videos per setting (the first {ab.get('max_subjects') or 'all'} test subjects, every "
            f"class, same sources and seeds at every setting) vs {n_real} real videos; NFE = network evaluations "
            f"per video (a guided step counts 2).")


def _latex_table(headers: list[str], rows: list[list[str]], caption: str) -> str:
    """A booktabs table (first column left, the rest right-aligned); %, _ and ± escaped in every cell."""
    esc = lambda x: str(x).replace("%", "\\%").replace("_", "\\_").replace("±", "$\\pm$")  # noqa: E731
    body = "\n".join(" & ".join(esc(c) for c in r) + r" \\" for r in rows)
    return ("\\begin{table}[t]\n\\centering\n\\small\n\\begin{tabular}{l" + "r" * (len(headers) - 1) + "}\n"
            "\\toprule\n" + " & ".join(esc(h) for h in headers) + r" \\" + "\n\\midrule\n" + body
            + "\n\\bottomrule\n\\end{tabular}\n" + f"\\caption{{{esc(caption)}}}\n\\end{{table}}")


def render_latex(results: dict) -> str:
    out = []
    for split in ("test", "train"):
        rows = main_rows(results, split, tex=True)
        if not rows:
            continue
        out.append(_latex_table(MAIN_HEADERS, rows, _caption(results, split)))
    ab = results.get("ablation")
    if ab and ab["rows"]:
        from lfdm_bench.bench.ablate import ablation_table

        rows = ablation_table(ab["rows"])
        out.append(_latex_table(list(rows[0].keys()), [list(r.values()) for r in rows], ablation_caption(ab)))
    return "\n\n".join(out) + "\n"


def write_tables(results: dict, out: str | Path) -> dict[str, Path]:
    """results.json, tables.md, tables.tex and one CSV per main table; returns the paths."""
    import pandas as pd

    out = Path(out)
    paths = {"json": out / "results.json", "md": out / "tables.md", "tex": out / "tables.tex"}
    atomic_write_json(paths["json"], results)
    atomic_write_text(paths["md"], render_markdown(results))
    atomic_write_text(paths["tex"], render_latex(results))
    for split in ("test", "train"):
        rows = []
        for m, d in results["methods"].items():
            if split in d:
                s = d[split]
                rows.append({"method": m, "fvd": s["fvd"], "fvd_ci_lo": (s["fvd_ci"] or [None, None])[0],
                             "fvd_ci_hi": (s["fvd_ci"] or [None, None])[1], "cfvd_mean": s["cfvd"]["mean"],
                             "cfvd_std": s["cfvd"]["std"], "sfvd_mean": s["sfvd"]["mean"], "sfvd_std": s["sfvd"]["std"],
                             "kvd": s["kvd"], "acc": s["acc"], "acc_i3d": s["acc_i3d"], "psnr": s["psnr"],
                             "ssim": s["ssim"], "n_generated": s["n_generated"], "n_real": s["n_real"],
                             "seconds_per_video": s["seconds_per_video"]})
        if rows:
            paths[f"csv_{split}"] = out / f"main_{split}.csv"
            atomic_write_text(paths[f"csv_{split}"], pd.DataFrame(rows).to_csv(index=False))
    return paths
