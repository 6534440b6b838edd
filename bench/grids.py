"""Sample grids for the benchmark output: per method, one row per class: source image | generated frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lfdm_bench.data.records import read_manifest
from lfdm_bench.data.video_io import make_grid, read_video, write_gif, write_png


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
