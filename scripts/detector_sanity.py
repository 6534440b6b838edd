"""Measurements of embedded-domain detectors at the default benchmark's geometry; writes one JSON file.

The reference is what the default benchmark compares against: all real test-subject videos of the embedded dataset
(synth-faces: 26 subjects x 7 classes x 3 takes = 546). The stand-in for a perfect generator is 3 *other* takes of
every (subject, class) pair: the dataset is rendered with ``n_takes=6`` (same seed 0, so the same subjects; takes 0-2
are the benchmark's own videos -- checked -- and takes 3-5 are fresh draws). Per seed, each pair's 6 takes are
permuted: 3 form the reference, 3 the stand-in, so groups hold what the benchmark's will: 546 vs 546 overall, 78 vs 78
per class (cFVD), 21 vs 21 per subject (sFVD).

Rows (FD of the reference vs the distorted stand-in; overall, mean over classes, mean over subjects):

* ``none``: the real-vs-real floor (disjoint takes);
* per-frame distortions of :mod:`metrics.distortions` (noise, blur, shuffle, freeze) and ``colour`` (hue
  rotation, :func:`metrics.set_distortions.colour_shift`): checked on FVD;
* set-level rows of :mod:`metrics.set_distortions`: other-subject (train-split subjects; sFVD, as ``SET_ROWS`` says:
  the shipped ``docs/detector`` files were written when its FVD was a target too),
  class-collapse (FVD and cFVD), subject-swap (sFVD), class-swap (cFVD).

A row "rises" when its target metric exceeds the previous strength's (the floor for the first strength).

Also: detector throughput (clips/s at the thread count used; decode excluded), and with ``--samples ROOT`` the FD of
each ``ROOT/<method>_test`` sample folder against all real test videos (generated clips: first frames, as in
:mod:`metrics.evaluate`). ``--i3d-subjects K`` runs the random-weight I3D on a subset (K test subjects,
the same rows).

    OMP_NUM_THREADS=1 python scripts/detector_sanity.py --detector synth-faces-vcnn-v1 --seeds 0,1,2 \
        --out results/detector_sanity_synth-faces.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from metrics.distortions import DEFINITIONS, Distortion  # noqa: E402
from metrics.fvd import FeatureStats, SmallSampleWarning, fvd_from_stats  # noqa: E402
from metrics.set_distortions import (  # noqa: E402
    COLOUR_DEFINITION, SET_DEFINITIONS, SET_ROWS, Pairs, collapse_classes, colour_shift, flatten, pair_index,
    replace_subjects, split_pairs, swap_classes)

FRAME_STRENGTHS = {"noise": (0.05, 0.1, 0.2), "blur": (1.0, 2.0, 4.0), "shuffle": (0.25, 0.5, 1.0),
                   "freeze": (0.5, 0.75, 1.0), "colour": (0.05, 0.1, 0.2)}
SET_STRENGTHS = (0.25, 0.5, 1.0)
RISE_RTOL = 1e-6


def fd(a: np.ndarray, b: np.ndarray, ddof: int = 1) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallSampleWarning)
        return fvd_from_stats(FeatureStats().update(a), FeatureStats().update(b), ddof=ddof)


def grouped(ref_f: np.ndarray, ref_keys: list, alt_f: np.ndarray, alt_keys: list) -> dict[str, Any]:
    """Overall FD and the mean / std / per-group FD over classes and over subjects (keys are (subject, class))."""
    out: dict[str, Any] = {"fvd": fd(ref_f, alt_f), "n_ref": len(ref_f), "n_alt": len(alt_f)}
    for name, pos in (("cfvd", 1), ("sfvd", 0)):
        groups = sorted({k[pos] for k in ref_keys}, key=str)
        vals = {}
        for g in groups:
            ri = [i for i, k in enumerate(ref_keys) if k[pos] == g]
            ai = [i for i, k in enumerate(alt_keys) if k[pos] == g]
            vals[str(g)] = fd(ref_f[ri], alt_f[ai])
        v = np.array(list(vals.values()))
        out[name] = {"mean": float(v.mean()), "std": float(v.std()), "n_groups": len(v),
                     "n_ref_per_group": len(ref_f) // max(len(v), 1), "per_group": vals}
    return out


class Features:
    """Per-video features of the decoded videos under one detector, computed on demand and memoised (clean), or for
    a transform of the given rows."""

    def __init__(self, name: str, fn: Callable[[torch.Tensor], np.ndarray], videos: torch.Tensor, batch: int) -> None:
        self.name, self.fn, self.videos, self.batch = name, fn, videos, batch
        self.clean: dict[int, np.ndarray] = {}
        self.n_clips, self.seconds = 0, 0.0

    def _run(self, x: torch.Tensor) -> np.ndarray:
        t0 = time.perf_counter()
        out = [np.asarray(self.fn(x[s:s + self.batch]), dtype=np.float64) for s in range(0, len(x), self.batch)]
        self.seconds += time.perf_counter() - t0
        self.n_clips += len(x)
        return np.concatenate(out)

    def of(self, rows: list[int]) -> np.ndarray:
        todo = sorted({r for r in rows if r not in self.clean})
        if todo:
            for r, f in zip(todo, self._run(self.videos[todo])):
                self.clean[r] = f
        return np.stack([self.clean[r] for r in rows])

    def transformed(self, rows: list[int], transform) -> np.ndarray:
        out = []
        for s in range(0, len(rows), 64):
            chunk = rows[s:s + 64]
            out.append(self._run(transform(self.videos[chunk], chunk)))
        return np.concatenate(out)


def load_reference(dataset: str, takes: int, log) -> tuple[torch.Tensor, list, dict]:
    """Decode the 6-take rendering of the benchmark's dataset (test and train subjects) at 32 px: the benchmark's own
    takes plus fresh ones, as the benchmark's ``real_fresh`` row renders them (checked there: takes 0..2 are the
    benchmark's videos, the others new draws)."""
    from lfdm_bench.data.synth.make import make_config
    from lfdm_bench.data.synth.takes import extended_takes
    from metrics.video_features import ClipSpec, iter_clip_batches

    extra = takes - make_config(dataset).n_takes
    records = extended_takes(dataset, extra, progress=False, size=64, frames=16)
    folder = Path(records[0].path).parents[2]  # the cache folder of the 6-take rendering
    t0 = time.perf_counter()
    spec = ClipSpec(n_frames=16, size=32, sampling="uniform", seed=0, use_record_crop=True)
    videos = torch.cat([v for _, v in iter_clip_batches(records, spec, 64)])
    log(f"decoded {len(records)} videos of {folder.name} in {time.perf_counter() - t0:.0f} s")
    return videos, records, {"folder": str(folder), "n_takes": takes, "decode_s": time.perf_counter() - t0}


def sanity_rows(feats: Features, ref: Pairs, alt: Pairs, donors: Pairs, seed: int, log) -> dict[str, Any]:
    ref_rows, ref_s, ref_c = flatten(ref)
    ref_keys = list(zip(ref_s, ref_c))
    rf = feats.of(ref_rows)

    def score(alt_pairs: Pairs, transform=None) -> dict[str, Any]:
        rows, s, c = flatten(alt_pairs)
        af = feats.of(rows) if transform is None else feats.transformed(rows, transform)
        return grouped(rf, ref_keys, af, list(zip(s, c)))

    base = score(alt)
    log(f"  [{feats.name}] seed {seed} floor: FVD {base['fvd']:.3f} cFVD {base['cfvd']['mean']:.3f} "
        f"sFVD {base['sfvd']['mean']:.3f}")
    rows: list[dict[str, Any]] = []

    def add(name: str, strength: float, res: dict[str, Any], targets: tuple[str, ...], prev: dict[str, Any]) -> None:
        def val(r, m):
            return r["fvd"] if m == "fvd" else r[m]["mean"]
        rises = {m: bool(val(res, m) > val(prev, m) * (1 + RISE_RTOL) + 1e-12) for m in ("fvd", "cfvd", "sfvd")}
        rows.append({"row": name, "strength": strength, "fvd": res["fvd"], "cfvd": res["cfvd"]["mean"],
                     "sfvd": res["sfvd"]["mean"], "targets": list(targets), "rises": rises,
                     "passes": all(rises[m] for m in targets)})

    for name, strengths in FRAME_STRENGTHS.items():
        prev = base
        for st in strengths:
            if name == "colour":
                def tf(x, ids, st=st):
                    return colour_shift(x, st, seed=seed, video_ids=ids)
            else:
                d = Distortion(name, st, seed)

                def tf(x, ids, d=d):
                    return d(x, ids)
            res = score(alt, tf)
            add(name, st, res, ("fvd",), prev)
            prev = res
    builders = {"other-subject": lambda f: replace_subjects(alt, donors, f, seed),
                "class-collapse": lambda f: collapse_classes(alt, f, seed),
                "subject-swap": lambda f: replace_subjects(alt, alt, f, seed),
                "class-swap": lambda f: swap_classes(alt, f, seed)}
    for name, build in builders.items():
        prev = base
        for st in SET_STRENGTHS:
            res = score(build(st))
            add(name, st, res, SET_ROWS[name], prev)
            prev = res
    failed = [f"{r['row']}@{r['strength']:g}" for r in rows if not r["passes"]]
    log(f"  [{feats.name}] seed {seed}: {len(rows) - len(failed)}/{len(rows)} rows pass"
        + (f"; FAIL: {', '.join(failed)}" if failed else ""))
    return {"floor": base, "rows": rows, "failed": failed}


def method_table(feats: Features, dataset: str, samples_root: Path, records: list, log) -> dict[str, Any]:
    """FD of each ROOT/<method>_test folder (first 16 frames at 32 px) vs all real test videos of the benchmark, and of
    fresh real takes (not in the reference: takes 3..5 of the 6-take rendering; 1 and 3 per pair) as the floor."""
    from lfdm_bench.data.registry import get_dataset
    from metrics.video_features import ClipSpec, iter_clip_batches

    ds = get_dataset(dataset, size=64, frames=16, progress=False)
    real = ds.split("test")
    spec = ClipSpec(n_frames=16, size=32, sampling="uniform", seed=0, use_record_crop=True)
    rf = np.concatenate([feats.fn(v) for _, v in iter_clip_batches(real, spec, 64)])
    rkeys = [(r.subject, r.class_index) for r in real]
    out: dict[str, Any] = {"n_real": len(real)}
    gspec = ClipSpec(n_frames=16, size=32, sampling="first", seed=0, use_record_crop=False)
    from metrics.evaluate import load_samples

    for label, takes in (("real (fresh take 3, 1 per pair)", (3,)), ("real (fresh takes 3-5, 3 per pair)", (3, 4, 5))):
        rows = [i for i, r in enumerate(records) if r.split == "test" and int(r.params["take_index"]) in takes]
        res = grouped(rf, rkeys, feats.of(rows), [(records[i].subject, records[i].class_index) for i in rows])
        out[label] = {"fvd": res["fvd"], "cfvd": res["cfvd"]["mean"], "sfvd": res["sfvd"]["mean"],
                      "n_generated": len(rows)}
        log(f"  [{feats.name}] {label}: FVD {res['fvd']:.4f} cFVD {res['cfvd']['mean']:.4f} "
            f"sFVD {res['sfvd']['mean']:.4f} ({len(rows)} videos)")
    for folder in sorted(samples_root.glob("*_test")):
        if not (folder / "manifest.csv").is_file():
            continue
        gen = [r for r in load_samples(folder) if r.split == "test"]
        gf = np.concatenate([feats.fn(v) for _, v in iter_clip_batches(gen, gspec, 64)])
        res = grouped(rf, rkeys, gf, [(r.subject, r.class_index) for r in gen])
        out[folder.name[:-5]] = {"fvd": res["fvd"], "cfvd": res["cfvd"]["mean"], "sfvd": res["sfvd"]["mean"],
                                 "n_generated": len(gen)}
        log(f"  [{feats.name}] {folder.name}: FVD {res['fvd']:.4f} cFVD {res['cfvd']['mean']:.4f} "
            f"sFVD {res['sfvd']['mean']:.4f} ({len(gen)} videos)")
    return out


def summary(result: dict[str, Any]) -> str:
    """Markdown tables: per detector, the floor and every row (FVD / cFVD / sFVD per seed), target metric marked."""
    lines = []
    for name, e in result["detectors"].items():
        for label, seeds in (("", e["seeds"]), (" (on the i3d-random subset)", e.get("on_i3d_subset", {}))):
            if not seeds:
                continue
            ss = sorted(seeds, key=int)
            failed = "; ".join(f"seed {s}: {len(seeds[s]['failed'])} failed" for s in ss)
            lines += [f"\n**{name}**{label} ({failed})",
                      "", "| row | strength | " + " | ".join(f"FVD s{s} | cFVD s{s} | sFVD s{s}" for s in ss) + " |",
                      "|---|---|" + "---|" * (3 * len(ss))]
            first = seeds[ss[0]]
            fl = [seeds[s]["floor"] for s in ss]
            lines.append("| floor (disjoint takes) | 0 | " + " | ".join(
                f"{f['fvd']:.4g} | {f['cfvd']['mean']:.4g} | {f['sfvd']['mean']:.4g}" for f in fl) + " |")
            for i, row in enumerate(first["rows"]):
                cells = []
                for s in ss:
                    r = seeds[s]["rows"][i]
                    for m in ("fvd", "cfvd", "sfvd"):
                        mark = ("" if r["rises"][m] else " ✗") if m in r["targets"] else ""
                        cells.append(f"{'**' if m in r['targets'] else ''}{r[m]:.4g}{'**' if m in r['targets'] else ''}"
                                     f"{mark}")
                lines.append(f"| {row['row']} | {row['strength']:g} | " + " | ".join(cells) + " |")
        if "methods" in e:
            lines += ["", f"methods vs all {e['methods']['n_real']} real test videos ({name}):", "",
                      "| method | N | FVD | cFVD | sFVD |", "|---|---|---|---|---|"]
            for m, v in e["methods"].items():
                if isinstance(v, dict):
                    lines.append(f"| {m} | {v['n_generated']} | {v['fvd']:.4g} | {v['cfvd']:.4g} | {v['sfvd']:.4g} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="synth-faces", choices=["synth-faces", "synth-actions"])
    ap.add_argument("--detector", action="append", required=True,
                    help="shipped name or metadata .json (repeatable: candidates side by side)")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--i3d-subjects", type=int, default=0, help="also run i3d-random on this many test subjects")
    ap.add_argument("--i3d-seeds", default=None, help="seeds of the i3d-random rows (default: --seeds)")
    ap.add_argument("--samples", type=Path, default=None, help="folder of <method>_test sample folders")
    ap.add_argument("--floor-seeds", type=int, default=20,
                    help="take splits over which the real-vs-real floor's spread is measured (clean features only)")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    from metrics.vcnn.source import load_detector

    torch.set_num_threads(1)
    log = lambda s: print(s, flush=True)  # noqa: E731
    t_start = time.perf_counter()
    seeds = [int(s) for s in args.seeds.split(",")]
    videos, records, ref_info = load_reference(args.dataset, 6, log)
    pairs_all = pair_index([r.subject for r in records], [r.class_index for r in records],
                           [int(r.params["take_index"]) for r in records])
    test = {k: v for k, v in pairs_all.items() if records[v[0]].split == "test"}
    train = {k: v for k, v in pairs_all.items() if records[v[0]].split == "train"}
    result: dict[str, Any] = {
        "dataset": args.dataset, "reference": ref_info | {
            "what": "per seed and (subject, class) pair of the test split, 3 of 6 takes = reference, 3 = stand-in",
            "n_test_pairs": len(test), "n_train_pairs": len(train), "clips": "16 frames, uniform, 32 px"},
        "definitions": {**DEFINITIONS, "colour": COLOUR_DEFINITION, **SET_DEFINITIONS},
        "strengths": {**{k: list(v) for k, v in FRAME_STRENGTHS.items()}, "set_rows": list(SET_STRENGTHS)},
        "fd": "Fréchet distance, covariance ddof 1", "threads": torch.get_num_threads(), "detectors": {}}
    for name in args.detector:
        det = load_detector(name)
        fails = det.check_records(records, what="the 6-take benchmark rendering")
        feats = Features(det.info.name, det, videos, 64)
        entry: dict[str, Any] = {"info": det.info.to_dict() | {"bn_eps": None}, "subjects_checked": fails,
                                 "validation": det.meta["validation"], "seeds": {}}
        for seed in seeds:
            ref, alt = split_pairs(test, 3, seed)
            entry["seeds"][str(seed)] = sanity_rows(feats, ref, alt, train, seed, log)
        floors = []
        for seed in range(100, 100 + args.floor_seeds):
            ref, alt = split_pairs(test, 3, seed)
            rr, rs, rc = flatten(ref)
            ar, as_, ac = flatten(alt)
            g = grouped(feats.of(rr), list(zip(rs, rc)), feats.of(ar), list(zip(as_, ac)))
            floors.append([g["fvd"], g["cfvd"]["mean"], g["sfvd"]["mean"], g["cfvd"]["std"], g["sfvd"]["std"]])
        fl = np.array(floors)
        entry["floor_spread"] = {
            "splits": args.floor_seeds, "seeds": f"100..{99 + args.floor_seeds}",
            **{k: {"mean": float(fl[:, i].mean()), "std_over_splits": float(fl[:, i].std())}
               for i, k in enumerate(("fvd", "cfvd_mean", "sfvd_mean", "cfvd_std_over_classes",
                                      "sfvd_std_over_subjects"))}}
        log(f"  [{det.info.name}] floor over {args.floor_seeds} splits: " + ", ".join(
            f"{k} {v['mean']:.4g} ± {v['std_over_splits']:.2g}" for k, v in entry["floor_spread"].items()
            if isinstance(v, dict)))
        # throughput: 546 clips, batch 64, after warm-up
        sub = videos[:546]
        det(sub[:64])
        t0 = time.perf_counter()
        det(sub)
        entry["throughput_clips_per_s"] = len(sub) / (time.perf_counter() - t0)
        log(f"  [{det.info.name}] {entry['throughput_clips_per_s']:.0f} clips/s ({torch.get_num_threads()} thread)")
        if args.samples is not None and args.samples.is_dir():
            entry["methods"] = method_table(feats, args.dataset, args.samples, records, log)
        result["detectors"][det.info.name] = entry
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1))
    if args.i3d_subjects:
        from metrics.detector import FeatureExtractor

        fx = FeatureExtractor("i3d-random", device="cpu", batch_size=8)
        feats = Features("i3d-random", fx, videos, 8)
        entry = {"info": fx.info.to_dict(), "subset": f"{args.i3d_subjects} test subjects per seed (seeded), all 7 "
                                                      "classes, 3 vs 3 takes per pair", "seeds": {}}
        for seed in [int(s) for s in (args.i3d_seeds or args.seeds).split(",")]:
            subjects = sorted({s for s, _ in test})
            pick = set(np.random.default_rng([seed, 99]).choice(subjects, args.i3d_subjects, replace=False).tolist())
            sub_test = {k: v for k, v in test.items() if k[0] in pick}
            ref, alt = split_pairs(sub_test, 3, seed)
            entry["seeds"][str(seed)] = sanity_rows(feats, ref, alt, train, seed, log) | {"subjects": sorted(pick)}
            entry["throughput_clips_per_s"] = feats.n_clips / feats.seconds
            result["detectors"]["i3d-random"] = entry
            args.out.write_text(json.dumps(result, indent=1))
        log(f"  [i3d-random] {entry['throughput_clips_per_s']:.2f} clips/s")
        # the VCNN detectors on the same subsets, for a like-for-like comparison
        for name in args.detector:
            det = load_detector(name)
            f2 = Features(det.info.name, det, videos, 64)
            result["detectors"][det.info.name]["on_i3d_subset"] = {}
            for seed in entry["seeds"]:
                pick = set(entry["seeds"][seed]["subjects"])
                ref, alt = split_pairs({k: v for k, v in test.items() if k[0] in pick}, 3, int(seed))
                result["detectors"][det.info.name]["on_i3d_subset"][seed] = sanity_rows(f2, ref, alt, train,
                                                                                         int(seed), log)
    result["seconds"] = time.perf_counter() - t_start
    args.out.write_text(json.dumps(result, indent=1))
    args.out.with_suffix(".md").write_text(summary(result) + "\n")
    log(summary(result))
    log(f"wrote {args.out} ({result['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
