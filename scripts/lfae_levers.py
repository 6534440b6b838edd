"""How much of each expression an LFAE renders: its reconstructions of VALIDATION clips scored by the expression
metric (issue 21; the numbers of ``docs/lfae_occlusion.md``). Writes one JSON file and prints a Markdown table.

For every run given (``NAME=RUN_DIR``, an LFDM run with a trained ``lfae`` stage) and every refinement setting
(``--refine 0 20``: the flow predictor's own flows, then flows refined by 20 Adam steps on the warp, as stage 2's
targets are), every validation clip of the first ``--subjects`` validation subjects (7 classes x 3 takes each) is
rebuilt from its frame 0 and the LFAE's flow + occlusion to each of its 16 frames (``LFAE.dm_target_from_video`` then
``generate_from_dm``), quantised to uint8 as sample videos are, and scored per class:

* ``ratio``: the expression change x real of :func:`metrics.expression.expression_change` (signed late-frame change,
  pooled 8x8, projected on the mean change of the same (subject, class) pair's real takes: 1 = as much as the real
  takes, 0 = none; neutral has none to measure);
* ``occ``: the occlusion map's minimum over the latent grid, mean over the last 4 frames (1 = the warped source is
  kept everywhere; lower = the decoder paints somewhere);
* ``psnr``: PSNR (dB) of the last 4 frames against the real ones.

``--figure PNG``: for the first validation subject's surprise and happiness take 0, one row per run: source,
driving (last frame), the reconstruction from the predictor's flows and its occlusion map (white = 1 = the warped
source is kept, black = 0 = the decoder paints), upscaled 4x (``docs/lfae_occlusion.png``).

No test-split video is read. The variants of the doc were trained with ``lfdm-bench train --stage lfae --out DIR
--set ...`` (the overrides are listed in the doc), 1 thread each::

    OMP_NUM_THREADS=1 python scripts/lfae_levers.py paper=runs/a B=runs/b --refine 0 20 --out lfae_levers.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from lfdm_bench.data.registry import get_dataset
from lfdm_bench.data.video_io import make_grid, write_png
from lfdm_bench.lfdm.previews import occlusion_tiles
from lfdm_bench.runs import Run
from lfdm_bench.training.trained_models import load_lfae
from metrics.expression import expression_change, expression_features
from metrics.video_features import ClipSpec, iter_clip_batches

LATE = 4  # frames scored by occ / psnr


@torch.no_grad()
def score_run(run_dir: str, refine: int, records, class_names, batch_size: int = 28) -> dict:
    """Per-class ratio / occ / psnr of one LFAE's reconstructions of ``records`` (see the module docstring)."""
    lfae = load_lfae(Run.open(run_dir))
    real_f, rec_f, occ, psnr, keys = [], [], [], [], []
    spec = ClipSpec(n_frames=16, size=lfae.config.image_size, sampling="uniform")
    for idx, v in iter_clip_batches(records, spec, batch_size):
        x = v.float() / 255  # [b, T, 3, H, W]
        target = lfae.dm_target_from_video(x.transpose(1, 2), refine_steps=refine)  # [b, 3, T, h, w]
        rec = lfae.generate_from_dm(x[:, 0], target).transpose(1, 2)  # [b, T, 3, H, W]
        rec = (rec * 255).round().to(torch.uint8)
        real_f.append(expression_features(v))
        rec_f.append(expression_features(rec))
        occ.append(((target[:, 2] + 1) / 2).amin(dim=(2, 3))[:, -LATE:].mean(1).double())  # [b]
        mse = ((rec[:, -LATE:].double() / 255 - x[:, -LATE:].double()) ** 2).mean(dim=(1, 2, 3, 4))
        psnr.append(10 * torch.log10(1 / mse.clamp_min(1e-10)))
        keys += [(records[i].subject, records[i].class_index) for i in idx]
    real_f, rec_f, occ, psnr = (np.concatenate([np.asarray(t) for t in a]) for a in (real_f, rec_f, occ, psnr))
    change = expression_change(rec_f, keys, real_f, keys, class_names)
    per_class = {}
    for c, name in enumerate(class_names):
        rows = [i for i, k in enumerate(keys) if k[1] == c]
        per_class[name] = {"ratio": change["per_class"][name].get("ratio"), "occ": float(occ[rows].mean()),
                           "psnr": float(psnr[rows].mean())}
    return {"per_class": per_class, "mean": change["mean"], "min": change["min"], "min_class": change["min_class"],
            "psnr": float(psnr.mean()), "n_clips": len(keys)}


def figure_rows(run_dir: str, records, class_names) -> list[np.ndarray]:
    """uint8 ``[4, H, W, 3]`` tiles (source, driving, reconstruction, occlusion) per surprise / happiness take 0."""
    lfae = load_lfae(Run.open(run_dir))
    subject = sorted({r.subject for r in records})[0]
    picks = [next(r for r in records if r.subject == subject and class_names[r.class_index] == name)
             for name in ("surprise", "happiness")]
    spec = ClipSpec(n_frames=16, size=lfae.config.image_size, sampling="uniform")
    (_, v), = iter_clip_batches(picks, spec, len(picks))
    return list(occlusion_tiles(lfae, v.float() / 255))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", help="NAME=RUN_DIR of LFDM runs with a trained LFAE")
    ap.add_argument("--refine", type=int, nargs="+", default=[0, 20], help="refinement steps to score")
    ap.add_argument("--subjects", type=int, default=8, help="first N validation subjects")
    ap.add_argument("--out", default="lfae_levers.json")
    ap.add_argument("--figure", default=None, help="PNG: source / driving / reconstruction / occlusion per run")
    ap.add_argument("--no-scores", action="store_true", help="only the figure")
    args = ap.parse_args(argv)
    runs = dict(r.split("=", 1) for r in args.runs)
    ds = get_dataset("synth-faces", size=64, frames=16)
    val = ds.split("val")
    subjects = sorted({r.subject for r in val})[:args.subjects]
    records = [r for r in val if r.subject in subjects]
    out = {"subjects": subjects, "n_clips": len(records), "runs": {}}
    rows = ["| run | flows | " + " | ".join(ds.class_names) + " | mean | worst | occ (surprise) | PSNR |",
            "|---" * (len(ds.class_names) + 6) + "|"]
    if args.figure:
        rows_img = [tile for run_dir in runs.values() for row in figure_rows(run_dir, records, ds.class_names)
                    for tile in row]
        write_png(args.figure, make_grid(np.stack(rows_img)[:, None], nrow=4)[0])
        print(f"figure: {args.figure} (rows: " + ", ".join(f"{n} surprise, {n} happiness" for n in runs) + ")")
    for name, run_dir in (() if args.no_scores else runs.items()):
        for refine in args.refine:
            res = score_run(run_dir, refine, records, ds.class_names)
            out["runs"][f"{name}/refine{refine}"] = {"run": run_dir, "refine": refine, **res}
            cells = [("-" if v["ratio"] is None else f"{v['ratio']:.2f}") for v in res["per_class"].values()]
            rows.append(f"| {name} | {'refined ' + str(refine) if refine else 'predicted'} | " + " | ".join(cells)
                        + f" | {res['mean']:.2f} | {res['min']:.2f} ({res['min_class']}) | "
                        f"{res['per_class'].get('surprise', {}).get('occ', float('nan')):.2f} | {res['psnr']:.1f} |")
            print(rows[-1], flush=True)
    Path(args.out).write_text(json.dumps(out, indent=1))
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
