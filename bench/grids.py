"""Sample grids for the benchmark output: per method, one row per class: source image | generated frames; and the
comparison grids a person can judge: for the first test subjects, every class as the real take (the video whose
frame 0 was the source image), then each generator's video from that source, ``max_frames`` frames each."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from lfdm_bench.data.dataset import ClipDataset
from lfdm_bench.data.records import VideoRecord, first_per_pair, read_manifest
from lfdm_bench.data.video_io import make_grid, read_video, to_uint8_frames, write_gif, write_png
from lfdm_bench.lfdm.previews import occlusion_tiles
from lfdm_bench.utils.io import atomic_write_text


def method_grid(samples: Path, max_frames: int = 8) -> tuple[np.ndarray, np.ndarray] | None:
    """(PNG image [H', W', 3], GIF video [T, H', W', 3]) for the first test subject of a sample folder."""
    manifest = Path(samples) / "manifest.csv"
    if not manifest.is_file():
        return None
    recs = read_manifest(manifest)
    subject = sorted({r.subject for r in recs})[0]
    rows = sorted((r for r in recs if r.subject == subject), key=lambda r: r.class_index)
    videos = np.stack([read_video(r.path) for r in rows])  # [C, T, H, W, 3]
    t = videos.shape[1]
    keep = np.linspace(0, t - 1, min(max_frames, t)).round().astype(int)
    # PNG: each class a row, frames as columns (frame 0 is the source image)
    tiles = videos[:, keep]  # [C, K, H, W, 3]
    png = make_grid(tiles.reshape(-1, 1, *tiles.shape[2:]), nrow=len(keep))[0]
    gif = make_grid(videos, nrow=min(len(rows), 7))
    return png, gif


def write_method_grids(folders: dict[str, Path], out: Path) -> list[str]:
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for method, folder in folders.items():
        g = method_grid(folder)
        if g is None:
            continue
        png, gif = g
        write_png(out / f"{method}_test.png", png)
        write_gif(out / f"{method}_test.gif", gif)
        paths += [str(out / f"{method}_test.png"), str(out / f"{method}_test.gif")]
    return paths


def _real_take(rec: VideoRecord, n_frames: int, size: int) -> np.ndarray:
    """The clip (``n_frames``, uniform sampling, ``size`` px) of the real video whose frame 0 was ``rec``'s source
    image -> uint8 ``[T, H, W, 3]``."""
    src = VideoRecord(path=str(rec.params["source"]), subject=rec.subject, class_index=rec.class_index,
                      class_name=rec.class_name, text=rec.text, split=rec.split)
    video = ClipDataset([src], n_frames=n_frames, size=size, sampling="uniform").get(0).video  # [T, 3, H, W]
    return to_uint8_frames(video)


def write_comparison_grids(folders: dict[str, Path], out: Path, n_subjects: int = 2,
                           max_frames: int = 8) -> list[str]:
    """``out/compare_<subject>.png`` for the first ``n_subjects`` subjects of the first sample folder: per class
    (in class order) one row for the real take, then one per generator of ``folders`` (label -> sample folder, e.g.
    LFDM, LDM), all from the same source image; ``max_frames`` frames spread over the clip (frame 0 first).
    ``out/compare.md`` says which row is what. Pairs missing from a folder are left out of every row."""
    picks = {label: first_per_pair(read_manifest(Path(f) / "manifest.csv")) for label, f in folders.items()
             if (Path(f) / "manifest.csv").is_file()}
    if not picks:
        return []
    first = next(iter(picks.values()))
    subjects = sorted({s for s, _ in first})[:n_subjects]
    out.mkdir(parents=True, exist_ok=True)
    paths, legend = [], []
    for subject in subjects:
        pairs = sorted(k for k in first if k[0] == subject and all(k in p for p in picks.values()))
        tiles, names = [], []
        for key in pairs:
            gen = {label: read_video(p[key].path) for label, p in picks.items()}
            t, h = min(v.shape[0] for v in gen.values()), next(iter(gen.values())).shape[1]
            keep = np.linspace(0, t - 1, min(max_frames, t)).round().astype(int)
            tiles.append(_real_take(first[key], t, h)[keep])
            tiles += [v[keep] for v in gen.values()]
            names.append(first[key].class_name)
        if not tiles:
            continue
        rows = np.stack(tiles)  # [R, K, H, W, 3]
        png = make_grid(rows.reshape(-1, 1, *rows.shape[2:]), nrow=rows.shape[1])[0]
        path = out / f"compare_{subject}.png"
        write_png(path, png)
        paths.append(str(path))
        legend.append(f"- `{path.name}`: subject {subject}; rows, per class ({', '.join(names)}): "
                      f"{' / '.join(['real take', *picks])}; {rows.shape[1]} frames each; the real take's frame 0 is "
                      "the source image.")
    if paths:
        atomic_write_text(out / "compare.md", "# Comparison grids (test subjects)\n\n" + "\n".join(legend) + "\n")
        paths.append(str(out / "compare.md"))
    return paths


OCCLUSION_CLASSES = ("surprise", "happiness")  # the expressions whose real takes show new content (mouth, blush)


def write_occlusion_figure(lfae, clips: ClipDataset, out: Path, classes=OCCLUSION_CLASSES) -> list[str]:
    """``out/lfae_occlusion.png``: for the first subject of ``clips`` (test clips of the LFDM run's data), one row per
    class of ``classes`` present (else the first two classes): source, driving (last frame), the LFAE's
    reconstruction with its own flow, its occlusion map (:func:`~lfdm_bench.lfdm.previews.occlusion_tiles`)."""
    recs = clips.records
    if not recs:
        return []
    subject = sorted({r.subject for r in recs})[0]
    first = {}
    for i, r in enumerate(recs):
        if r.subject == subject:
            first.setdefault(r.class_name, i)
    names = [c for c in classes if c in first] or sorted(first, key=lambda c: first[c])[:2]
    video = torch.stack([clips.get(first[c]).video for c in names])  # [n, T, 3, H, W] in [0, 1]
    tiles = occlusion_tiles(lfae, video)  # [n, 4, H', W', 3]
    out.mkdir(parents=True, exist_ok=True)
    path = out / "lfae_occlusion.png"
    write_png(path, make_grid(tiles.reshape(-1, 1, *tiles.shape[2:]), nrow=4)[0])
    atomic_write_text(out / "lfae_occlusion.md", f"# LFAE occlusion (test subject {subject})\n\nRows: "
                      f"{', '.join(names)} (the take whose frame 0 is the source). Columns: source frame, driving "
                      "frame (the last), the LFAE's reconstruction from the source with its flow predictor's own flow, "
                      "its occlusion map (white = keep the warped source, black = the decoder paints).\n")
    return [str(path), str(out / "lfae_occlusion.md")]
