"""What the benchmark's ``results.json`` holds, collected from its output folder: every evaluation's main numbers,
the autoencoders' reconstruction scores, the sampler ablation, the models' sizes and the run facts.

Everything that needs a checkpoint or the pipeline's state is computed here, so that :mod:`bench.tables`
renders plain data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from baselines.ldm.autoencoder import KLAutoencoder, KLAutoencoderConfig
from bench.claims import paper_claims
from bench.config import BenchConfig
from lfdm_bench.checkpoints import load_checkpoint, run_record
from lfdm_bench.config import to_dict
from lfdm_bench.lfdm.config import LFDMConfig
from metrics.presets import get_preset
from metrics.uncertainty import paired_differences, paired_group_differences
from lfdm_bench.models.lfae.lfae import LFAE, LFAEConfig
from lfdm_bench.models.video_diffusion import VideoDiffusion, VideoDiffusionConfig
from lfdm_bench.runs import environment, hardware_summary
from lfdm_bench.utils.io import atomic_save, atomic_write_json, read_json
from lfdm_bench.utils.params import count_params

REFERENCE_METHOD = "lfdm"
"""The method every other one is compared with (paired differences of FVD, :func:`fvd_differences`)."""


def _get(d: Any, *keys: Any) -> Any:
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


# each generator's sampler ablation (validation subjects)
ABLATION_DIRS = {"lfdm": "ablation", "ldm": "ablation_ldm", "vdm": "ablation_vdm"}
BEST_RULE = ("among the settings whose motion amplitude is within {tol:.0%} of real (all settings if none is), "
             "the highest class accuracy; settings within one video of it count as equal, and of those the fewest "
             "network evaluations per video, then the lowest FVD, win")


def best_setting(rows: list[dict[str, Any]], motion_tolerance: float = 0.15) -> dict[str, Any] | None:
    """The sampler setting the ablation finds best at its cost (:data:`BEST_RULE`), as the row's settings and
    numbers plus ``rule``; None without class accuracies."""
    rows = [r for r in rows if r.get("acc_motion") is not None]
    if not rows:
        return None
    ok = [r for r in rows if r.get("motion_ratio") is not None and abs(r["motion_ratio"] - 1) <= motion_tolerance]
    pool = ok or rows
    top = max(r["acc_motion"] for r in pool)
    equal = [r for r in pool if r["acc_motion"] >= top - 1.0 / max(1, r.get("n_videos") or 1) - 1e-9]
    best = min(equal, key=lambda r: (r.get("nfe_per_video") or 0, r["fvd"] if r.get("fvd") is not None else 0.0))
    keys = ("point", "sampler", "steps", "guidance", "eta", "acc_motion", "motion_ratio", "fvd", "nfe_per_video",
            "seconds_per_video", "n_videos")
    return {**{k: best.get(k) for k in keys}, "motion_within_tolerance": bool(ok),
            "rule": BEST_RULE.format(tol=motion_tolerance)}


def method_summary(rec: dict, split: str) -> dict[str, Any]:
    """The main-table numbers of one evaluation record (``metrics/<method>_<split>.json``): ``expr_ratio`` /
    ``expr_min`` (+ ``expr_min_class``) are the expression change x real (:mod:`metrics.expression`) averaged over
    classes / of the worst class, ``acc_expr`` the probe-expression accuracy and ``acc_expr_ratio`` it over the real
    held-out videos' (``acc_expr_real``)."""
    v = rec["values"]
    return {
        "fvd": _get(v, "fvd", split), "fvd_ci": rec.get("fvd_ci"),
        "cfvd": {"mean": _get(v, "cfvd", split, "mean"), "std": _get(v, "cfvd", split, "std")},
        "sfvd": {"mean": _get(v, "sfvd", split, "mean"), "std": _get(v, "sfvd", split, "std")},
        "kvd": _get(v, "kvd", split),
        "acc": _get(v, "acc", "probe-motion", "generated", split, "accuracy"),
        "acc_i3d": _get(v, "acc", "probe-i3d", "generated", split, "accuracy"),
        "acc_real": _get(v, "acc", "probe-motion", "real_test", "accuracy"),
        "chance": _get(v, "acc", "probe-motion", "chance"),
        "acc_ratio": _ratio(_get(v, "acc", "probe-motion", "generated", split, "accuracy"),
                            _get(v, "acc", "probe-motion", "real_test", "accuracy")),
        "psnr": _get(v, "psnr", split, "mean"), "ssim": _get(v, "ssim", split, "mean"),
        "motion_ratio": _get(v, "motion", split, "amplitude", "ratio"),
        "expr_ratio": _get(v, "expr", split, "mean"), "expr_min": _get(v, "expr", split, "min"),
        "expr_min_class": _get(v, "expr", split, "min_class"),
        "acc_expr": _get(v, "acc", "probe-expression", "generated", split, "accuracy"),
        "acc_expr_real": _get(v, "acc", "probe-expression", "real_test", "accuracy"),
        "acc_expr_ratio": _ratio(_get(v, "acc", "probe-expression", "generated", split, "accuracy"),
                                 _get(v, "acc", "probe-expression", "real_test", "accuracy")),
        "frame0_psnr": _get(v, "motion", split, "opening_frame", "psnr"),
        "n_generated": _get(rec, "counts", "generated", split), "n_real": _get(rec, "counts", "real", split),
        "sizes": sizes_text(rec, split), "seconds_per_video": rec.get("seconds_per_video"),
    }


def sizes_text(rec: dict, split: str) -> str | None:
    """What one row compares: ``"546 vs 546; per class 78 vs 78; per subject 21 vs 21"`` (generated vs real videos,
    overall and per cFVD / sFVD group; ``3-4`` when the groups differ in size; a held-out real row's groups are those
    of its first slot)."""
    n_gen, n_real = _get(rec, "counts", "generated", split), _get(rec, "counts", "real", split)
    if n_gen is None:
        return None
    parts = [f"{n_gen} vs {n_real}"]
    for metric, key, what in (("cfvd", "per_class", "class"), ("sfvd", "per_subject", "subject")):
        v = _get(rec["values"], metric, split) or {}
        groups = v.get(key) if isinstance(v, dict) else None
        if groups is None and isinstance(v, dict) and v.get("per_slot"):
            groups = v["per_slot"][0].get(key)
        if isinstance(groups, dict) and groups:
            lo_hi = [sorted({g[f"n_{side}"] for g in groups.values()}) for side in ("generated", "real")]
            parts.append(f"per {what} " + " vs ".join(f"{n[0]}" if len(n) == 1 else f"{n[0]}-{n[-1]}" for n in lo_hi))
    return "; ".join(parts)


def _group_sizes(groups: Any) -> dict[str, int | None]:
    """Median numbers of generated and real videos per group of a cFVD / sFVD table."""
    if not isinstance(groups, dict) or not groups:
        return {"generated": None, "real": None}
    med = {side: int(np.median([g[f"n_{side}"] for g in groups.values()])) for side in ("generated", "real")}
    return med


DIFFERENCES_PREFIX = "differences_"  # metrics/differences_<split>.json: not an evaluation record
# the paper's other studies (bench.paper): OUT/paper/<study>/, on the test subjects
PAPER_DIR, PAPER_SPLIT = "paper", "test"
# each study's reference row: the paired differences are "row minus reference" (ddim_steps: the fewest steps)
PAPER_REFERENCES = {"unconditional": "lfdm", "text_encoder": "bert", "new_domain": "decoder", "ddim_steps": None}
PAPER_TITLES = {
    "unconditional": "Unconditional generation (null class), test subjects",
    "text_encoder": "Class conditioning: BERT class-name embeddings vs one-hot class codes (LFDM), test subjects",
    "new_domain": "New domain: the LFAE fine-tuned to another appearance, test subjects of that domain",
    "ddim_steps": "LFDM with DDIM at more and more steps, test subjects"}


def write_feature_set(path: Path, gen: np.ndarray, gen_subjects: Sequence[str], real: np.ndarray,
                      real_records: Sequence[Any], gen_classes: Sequence[str] | None = None) -> None:
    """Per-video detector features, subjects and classes of one evaluation (generated [N, D], real reference
    [M, D]) as an ``.npz`` beside its ``metrics/<method>_<split>.json``, for the paired differences of the tables
    stage (FVD and sFVD need the subjects, cFVD the classes too)."""
    def write(tmp: str) -> None:
        extra = {} if gen_classes is None else {
            "gen_classes": np.asarray(list(gen_classes), dtype=str),
            "real_classes": np.asarray([r.class_name for r in real_records], dtype=str)}
        with open(tmp, "wb") as f:
            np.savez(f, gen=np.asarray(gen, np.float64), gen_subjects=np.asarray(list(gen_subjects), dtype=str),
                     real=np.asarray(real, np.float64),
                     real_subjects=np.asarray([r.subject for r in real_records], dtype=str), **extra)

    atomic_save(path, write)


def result_feature_set(result: Any, split: str) -> tuple | None:
    """The arguments of :func:`write_feature_set` after ``path`` from one evaluation result
    (:func:`metrics.evaluate.evaluate`): its generated videos of ``split`` (features, subjects, classes) and the real
    reference they were scored against; ``None`` when it has no detector features."""
    feats = result.features
    ref = result.counts.get("real_split", {}).get(split, split)
    if "i3d" not in feats.get("generated", {}) or f"real_{ref}" not in feats:
        return None
    recs = result.records["generated"]
    rows = [i for i, r in enumerate(recs) if r.split == split]
    return (feats["generated"]["i3d"][rows], [recs[i].subject for i in rows], feats[f"real_{ref}"]["i3d"],
            result.records[f"real_{ref}"], [recs[i].class_name for i in rows])


def fvd_differences(metrics_dir: Path, split: str, n_boot: int, seed: int, ddof: int,
                    reference: str = REFERENCE_METHOD) -> dict[str, Any] | None:
    """FVD of every method minus the reference's on ``split``, with paired subject-cluster intervals
    (:func:`metrics.uncertainty.paired_differences`), from the ``<method>_<split>.features.npz`` files.
    Methods scored against another real set than the reference's are left out (``skipped``). The result is kept in
    ``differences_<split>.json`` under a key of the inputs, so a re-run of the tables stage recomputes nothing.
    ``None`` without the reference's features."""
    files = {p.name[: -len(f"_{split}.features.npz")]: p for p in sorted(metrics_dir.glob(f"*_{split}.features.npz"))}
    if reference not in files or n_boot <= 0:
        return None
    key = {"files": {m: [p.stat().st_size, p.stat().st_mtime_ns] for m, p in files.items()}, "n_boot": n_boot,
           "seed": seed, "ddof": ddof, "reference": reference}
    cached = metrics_dir / f"{DIFFERENCES_PREFIX}{split}.json"
    if cached.is_file():
        try:
            old = read_json(cached)
            if old.get("key") == key:
                return old["differences"]
        except (ValueError, KeyError, AttributeError):  # a damaged cache file is recomputed
            pass
    sets = {}
    for m, p in files.items():
        with np.load(p) as f:
            sets[m] = {k: f[k] for k in f.files}
    ref = sets[reference]
    same = {m: d for m, d in sets.items() if np.array_equal(d["real"], ref["real"])
            and np.array_equal(d["real_subjects"], ref["real_subjects"])}
    diffs = paired_differences({m: (d["gen"], list(d["gen_subjects"])) for m, d in same.items()}, ref["real"],
                               list(ref["real_subjects"]), reference, n_boot, seed, ddof)
    with_classes = {m: d for m, d in same.items() if "gen_classes" in d and "real_classes" in d}
    groups = paired_group_differences(
        {m: (d["gen"], list(d["gen_subjects"]), list(d["gen_classes"]) if m in with_classes else None)
         for m, d in same.items()}, ref["real"], list(ref["real_subjects"]),
        list(ref["real_classes"]) if reference in with_classes else None, reference, n_boot, seed, ddof)
    for m, g in groups.items():
        diffs[m].update(g)
    out = {"reference": reference, "per_method": diffs, "skipped": sorted(set(sets) - set(same)),
           "n_boot": n_boot, "seed": seed}
    atomic_write_json(cached, {"key": key, "differences": out})
    return out


def run_facts(bc: BenchConfig, cfg: LFDMConfig, wall_seconds: dict[str, float]) -> dict[str, Any]:
    """Dataset, sizes, detector, seeds, hardware and wall times of the benchmark (its run-facts table)."""
    return {
        "dataset": cfg.data.dataset, "dataset_options": cfg.data.options, "resolution": cfg.data.size,
        "frames": cfg.data.n_frames, "eval_frames": bc.eval.n_frames or get_preset(bc.eval.protocol).n_frames,
        "detector": bc.eval.detector, "fvd_protocol": bc.eval.protocol,
        "seeds": {"train": cfg.seed, "sample": cfg.sample.seed, "eval": bc.eval.seed},
        "sampler": {"name": cfg.sample.sampler, "steps": cfg.sample.steps, "eta": cfg.sample.eta,
                    "guidance": cfg.sample.guidance},
        "hardware": hardware_summary(), "environment": environment(),
        "wall_seconds": dict(wall_seconds),
    }


def model_facts(runs: dict[str, Path]) -> dict[str, Any]:
    """Parameters of both stages and U-Net training GFLOP per step (forward + backward at the training batch) of
    the generators (``{"LFDM": run folder, "LDM": run folder, "VDM": run folder}``), side by side: the paper's
    efficiency argument, measured on our configs (VDM has no stage 1: 0 parameters). Models are built on the meta
    device (no weights are loaded)."""
    out: dict[str, Any] = {}
    for name, run_dir in runs.items():
        stage1 = {"LFDM": "lfae", "LDM": "ae"}.get(name)
        ck1 = Path(run_dir) / "checkpoints" / str(stage1) / "last.pt"
        ck2 = Path(run_dir) / "checkpoints" / "dm" / "last.pt"
        if not ck2.is_file() or (stage1 and not ck1.is_file()):
            continue
        s1, dm = (load_checkpoint(ck1) if stage1 else None), load_checkpoint(ck2)
        vcfg = VideoDiffusionConfig.from_dict(dm["model_config"])
        config = run_record(run_dir).config
        data = config["data"]
        h = data["size"] // (config["pixels"]["patch"] if stage1 is None else 4)  # the U-Net's grid (8x8 here)
        shape = (int((dm.get("train_config") or {}).get("batch_size", 1)), vcfg.unet.in_channels,
                 int(data["n_frames"]), h, h)
        with torch.device("meta"):
            unet = VideoDiffusion(vcfg).unet
            m1 = (LFAE(LFAEConfig.from_dict(s1["model_config"])) if stage1 == "lfae"
                  else KLAutoencoder(KLAutoencoderConfig.from_dict(s1["model_config"])) if stage1 else None)
        out[name] = {"stage1_params": count_params(m1) if m1 is not None else 0,
                     "unet_params": count_params(unet),
                     "unet_train_gflop_per_step": unet.flops_per_forward(shape, backward=True) / 1e9,
                     "train_batch_shape": list(shape)}
    return out


def build_results(out: Path, bc: BenchConfig, cfg: LFDMConfig, runs: dict[str, Path],
                  wall_seconds: dict[str, float]) -> dict[str, Any]:
    """Collect every evaluation of a finished benchmark in ``out`` into the ``results.json`` structure; ``runs``:
    the LFDM and LDM run folders, ``wall_seconds``: each stage's wall time."""
    methods: dict[str, Any] = {}
    expression: dict[str, Any] = {}  # split -> method -> per-class expression change (metrics.expression)
    table_notes: dict[str, Any] = {}  # per split: what the reference rows are, interval, group sizes (captions)
    protocol = detector = None
    for path in sorted((out / "metrics").glob("*.json")):
        if path.name.startswith(DIFFERENCES_PREFIX):  # the paired differences' cache, written by this stage
            continue
        rec = read_json(path, f"restore it, or delete it and the eval:{path.stem.replace('_', ':', 1)} entry of "
                              f"{out / 'state.json'} (parts) to evaluate that set again")
        m, s = rec["method"], rec["split"]
        methods.setdefault(m, {})[s] = method_summary(rec, s)
        per_class = _get(rec["values"], "expr", s, "per_class")
        if per_class:
            expression.setdefault(s, {})[m] = per_class
        notes = table_notes.setdefault(s, {"what": {}, "group_sizes": {}, "interval": None})
        if rec.get("what"):
            notes["what"][m] = rec["what"]
        if rec.get("fvd_interval"):
            notes["interval"] = {k: rec["fvd_interval"].get(k)
                                 for k in ("n_boot", "method", "resampling", "n_subjects")}
        notes["group_sizes"][m] = {g: _group_sizes(_get(rec["values"], g, s, key))
                                   for g, key in (("cfvd", "per_class"), ("sfvd", "per_subject"))}
        protocol, detector = protocol or rec["protocol"], detector or rec["detector"]
    differences: dict[str, Any] = {}  # split -> method -> metric -> paired difference to LFDM (the claims read it)
    for s in list(table_notes):
        ddof = int((protocol or {}).get("ddof", 1))
        diffs = fvd_differences(out / "metrics", s, bc.eval.bootstrap, bc.eval.seed, ddof)
        if diffs:
            for m, d in diffs["per_method"].items():
                if s in methods.get(m, {}):
                    methods[m][s].update(fvd_diff_lfdm=d["diff"], fvd_diff_lfdm_ci=[d["lo"], d["hi"]])
                keep = ("diff", "lo", "hi", "se", "bias")
                differences.setdefault(s, {})[m] = {"fvd": {k: d[k] for k in keep}, **{
                    g: {k: d[g][k] for k in keep} if d.get(g) else None for g in ("cfvd", "sfvd")}}
            table_notes[s]["difference"] = {k: v for k, v in next(iter(diffs["per_method"].values()), {}).items()
                                            if k in ("method", "n_boot", "n_subjects", "reference")}
            table_notes[s]["difference"]["skipped"] = diffs["skipped"]
    for m, d in methods.items():
        if d.get("test", {}).get("fvd") is not None and d.get("train", {}).get("fvd") is not None:
            d["gap"] = {"fvd": d["test"]["fvd"] - d["train"]["fvd"]}
    autoencoders: dict[str, Any] = {}
    ae_subjects: dict[str, Any] = {}  # per-subject pooled PSNR of each autoencoder (the claims' paired comparison)
    for name, file in (("LFDM", "lfae_reconstruction.json"), ("LDM", "ae_reconstruction.json")):
        p = Path(runs[name]) / "metrics" / file
        if p.is_file():
            for row, scores in read_json(p)["scores"].items():
                per_subject = scores.pop("per_subject_psnr", None)
                autoencoders[row] = scores
                if per_subject:
                    ae_subjects[row] = per_subject
    ablations = {m: read_ablation(out, m) for m in ABLATION_DIRS}
    facts = run_facts(bc, cfg, wall_seconds)
    facts["samplers"] = samplers_used(out, ablations)
    results = {"benchmark": {"name": bc.name, "config": to_dict(bc), "hardware": facts["hardware"],
                          "environment": facts["environment"]},
            "protocol": protocol, "detector": detector, "methods": methods, "table_notes": table_notes,
            "expression_per_class": expression,
            "differences": differences, "autoencoders": autoencoders, "autoencoder_subject_psnr": ae_subjects,
            "ablation": ablations["lfdm"], "ablation_ldm": ablations["ldm"],
            **({"ablation_vdm": ablations["vdm"]} if ablations["vdm"] else {}),
            "models": model_facts(runs), "facts": facts}
    if bc.paper.studies:
        results["paper"] = paper_results(out, bc, int((protocol or {}).get("ddof", 1)))
    results["claims"] = paper_claims(results, bc.eval.bootstrap, bc.eval.seed)
    return results


def read_ablation(out: Path, method: str) -> dict[str, Any] | None:
    """Generator ``method``'s sampler ablation in the benchmark folder ``out``: rows, split, subjects, best setting
    and plots (``None`` when it was not run)."""
    folder = out / ABLATION_DIRS[method]
    if not (folder / "ablation.json").is_file():
        return None
    ab = read_json(folder / "ablation.json", f"restore it, or delete it and the ablate:{method} entry of "
                   f"{out / 'state.json'} (parts) to run the ablation again")
    return {"generator": method.upper(), "rows": ab["rows"], "split": ab["request"].get("split"),
            "max_subjects": ab["request"].get("max_subjects"), "best": best_setting(ab["rows"]),
            "plots": sorted(str(p.relative_to(out)) for p in (folder / "plots").glob("*.png"))}


def samplers_used(out: Path, ablations: dict[str, Any]) -> dict[str, Any]:
    """Per generator: the sampler settings its test and train videos were made with (their ``settings.json``) and
    where they were chosen (``val``: they are its ablation's best on the validation subjects; else ``config``: the
    run config's ``sample`` section)."""
    used: dict[str, Any] = {}
    for m, ab in ablations.items():
        path = out / "samples" / f"{m}_test" / "settings.json"
        if path.is_file():
            s = read_json(path)
            best = (ab or {}).get("best") or {}
            chosen = best and all(s.get(k) == best[k] for k in ("sampler", "steps", "guidance"))
            used[m.upper()] = {**{k: s.get(k) for k in ("sampler", "steps", "eta", "guidance")},
                               "chosen_on": ab["split"] if chosen else "config"}
    return used


def _study_rows(metrics_dir: Path) -> dict[str, Any]:
    rows = {}
    for path in sorted(metrics_dir.glob(f"*_{PAPER_SPLIT}.json")):
        if path.name.startswith(DIFFERENCES_PREFIX):  # the paired differences' cache
            continue
        rec = read_json(path)
        rows[rec["method"]] = {**method_summary(rec, PAPER_SPLIT), **(rec.get("paper") or {})}
    return rows


def _differences(features_dir: Path, reference: str, bc: BenchConfig, ddof: int) -> dict[str, Any]:
    d = fvd_differences(features_dir, PAPER_SPLIT, bc.eval.bootstrap, bc.eval.seed, ddof, reference=reference)
    keep = ("diff", "lo", "hi", "se", "bias", "fvd", "reference_fvd", "n_subjects", "n_boot")
    return {m: {k: v[k] for k in keep if k in v} for m, v in ((d or {}).get("per_method") or {}).items()}


def paper_results(out: Path, bc: BenchConfig, ddof: int = 1) -> dict[str, Any]:
    """``results.json["paper"]``: per study its rows (the main tables' summary of each evaluation + its settings),
    the reference row and every other row's FVD minus the reference's with a paired subject-cluster interval."""
    root, res = out / PAPER_DIR, {}
    for study in bc.paper.studies:
        folder = root / study
        if study == "new_domain":
            state_path = folder / "new_domain.json"
            if not state_path.is_file():
                continue
            state = read_json(state_path)
            rows = {r["row"]: r for r in state.get("rows", [])}
            gen = {k.split(":", 1)[1]: {**v, "acc": v.get("acc_motion"), "n_generated": v.get("n_videos")}
                   for k, v in rows.items() if k.startswith("gen:")}
            res[study] = {"title": PAPER_TITLES[study], "reference": "decoder", "style": bc.paper.new_domain_style,
                          "finetune_steps": (state.get("request") or {}).get("finetune_steps"),
                          "reconstruction": {k: v for k, v in rows.items() if k.startswith("recon:")},
                          "rows": gen, "differences": _differences(folder / "features", "decoder", bc, ddof)}
            continue
        rows = _study_rows(folder / "metrics")
        if not rows:
            continue
        ref = PAPER_REFERENCES[study]
        if study == "ddim_steps":  # the fewest steps
            ref = min(rows, key=lambda r: int(rows[r].get("steps") or 0))
        res[study] = {"title": PAPER_TITLES[study], "reference": ref, "rows": rows,
                      "differences": _differences(folder / "metrics", ref, bc, ddof) if ref in rows else {}}
    return res
