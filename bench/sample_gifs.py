"""Side-by-side sample GIFs of the HTML report: per class, one animated GIF whose rows are a few test subjects and
whose columns are the source take (the real video whose first frame was the condition) and every method's video
generated from that frame, so a reader sees at once whether the expression and the subject are right.

Built from the sample folders alone (``manifest.csv`` of each method: subject, class, video, ``params["source"]``),
in one pass: every video is decoded once, tiles are padded to the longest video (its last frame held) and resized
to one tile size (nearest neighbour) when methods differ. The ground-truth tile is the source video's clip as the
PSNR / SSIM of the benchmark read it (``ClipSpec`` with the protocol's real clip sampling), with the dataset
record's crop box when the caller gives the dataset's records, and stays grey when the source video is missing.

Outputs in ``OUT``: ``class<NN>_<name>.gif`` per class and ``samples.json`` (what the page needs: columns, subjects,
tile size, padding, the GIF of each class, notes), from which the report renders labels around each GIF.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from lfdm_bench.data.records import VideoRecord, first_per_pair, read_manifest
from lfdm_bench.data.video_io import BadVideoError, make_grid, read_video, write_gif
from lfdm_bench.utils.io import atomic_write_json

__all__ = ["PAD", "SOURCE_COLUMN", "sample_folders", "write_sample_gifs", "read_sample_gifs"]

PAD = 2  # pixels between tiles (make_grid's padding)
SOURCE_COLUMN = "source take (ground truth)"
MANIFEST = "samples.json"


def sample_folders(out: Path, split: str = "test", order: Sequence[str] = ()) -> dict[str, Path]:
    """``method -> OUT/samples/<method>_<split>`` for every sample folder of a benchmark output holding a manifest,
    methods of ``order`` first (in that order), then the others alphabetically."""
    found = {p.parent.name[: -len(split) - 1]: p.parent
             for p in sorted(Path(out).glob(f"samples/*_{split}/manifest.csv"))}
    return {m: found[m] for m in [*[m for m in order if m in found], *sorted(set(found) - set(order))]}


def _fit(video: np.ndarray, t: int, size: int) -> np.ndarray:
    """uint8 ``[T', H, W, 3]`` -> ``[t, size, size, 3]``: last frame held or extra frames cut; nearest resize."""
    if len(video) < t:
        video = np.concatenate([video, np.repeat(video[-1:], t - len(video), 0)])
    video = video[:t]
    h, w = video.shape[1:3]
    if (h, w) != (size, size):
        ys, xs = (np.arange(size) * h // size), (np.arange(size) * w // size)
        video = video[:, ys][:, :, xs]
    return video


def _source_clip(rec: VideoRecord, known: Mapping[str, VideoRecord] | None, t: int, size: int,
                 protocol: Mapping[str, Any]) -> np.ndarray | None:
    """The ground-truth clip of a generated video (uint8 ``[t, size, size, 3]``), or ``None`` when unreadable."""
    from metrics.video_features import ClipSpec

    src = rec.params.get("source")
    if not src:
        return None
    path = Path(src)
    real = (known or {}).get(str(path.resolve())) or VideoRecord(
        path=str(path), subject=rec.subject, class_index=rec.class_index, class_name=rec.class_name, text=rec.text,
        split=rec.split)
    sampling, seed = str(protocol.get("real_sampling") or "uniform"), int(protocol.get("seed") or 0)
    sampling = sampling if sampling in ("uniform", "first") else "first"  # window rules: from the first frame
    try:  # the protocol's load resize and quantisation (presets), else the toolkit's pad + round
        spec = ClipSpec(n_frames=t, size=size, sampling=sampling, seed=seed,
                        resize=str(protocol.get("load_resize") or "pad"),
                        quantize=str(protocol.get("real_quantize") or "round"))
    except ValueError:
        spec = ClipSpec(n_frames=t, size=size, sampling=sampling, seed=seed)
    try:
        video = spec.clip(spec.dataset([real]), 0)  # uint8 [t, 3, size, size]
    except (BadVideoError, FileNotFoundError, OSError):
        return None
    return np.ascontiguousarray(video.numpy().transpose(0, 2, 3, 1))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "class"


def write_sample_gifs(folders: Mapping[str, Path], out: Path, *, subjects: int = 3,
                      protocol: Mapping[str, Any] | None = None, labels: Mapping[str, str] | None = None,
                      source_records: Sequence[VideoRecord] | None = None, fps: int = 8) -> dict[str, Any]:
    """One GIF per class into ``out`` (see the module docstring); returns (and writes) the ``samples.json`` data.

    Args:
        folders: method -> sample folder (``manifest.csv``), in column order.
        subjects: the first ``subjects`` subjects (sorted) that every method sampled.
        protocol: the evaluation protocol (``real_sampling``, ``seed``) the ground-truth clips are read with.
        labels: method -> column label (default: the method name).
        source_records: the dataset's records (their crop boxes apply to the ground-truth clips).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    labels, protocol = dict(labels or {}), dict(protocol or {})
    pairs = {m: first_per_pair(read_manifest(Path(f) / "manifest.csv")) for m, f in folders.items()}
    pairs = {m: p for m, p in pairs.items() if p}
    notes: list[str] = []
    data: dict[str, Any] = {"columns": [], "methods": [], "subjects": [], "classes": [], "tile": 0, "pad": PAD,
                            "notes": notes}
    if not pairs:
        atomic_write_json(out / MANIFEST, data)
        return data
    common = set.intersection(*({s for s, _ in p} for p in pairs.values()))
    chosen = sorted(common)[:subjects]
    classes = sorted({(c, r.class_name) for p in pairs.values() for (s, c), r in p.items() if s in chosen})
    videos = {(m, k): read_video(r.path) for m, p in pairs.items() for k, r in p.items() if k[0] in chosen}
    t = max(v.shape[0] for v in videos.values())
    size = max(max(v.shape[1:3]) for v in videos.values())
    known = {str(Path(r.path).resolve()): r for r in source_records or ()}
    grey = np.full((t, size, size, 3), 128, np.uint8)
    missing_gt = 0
    for c, name in classes:
        rows = []
        for s in chosen:
            rec = next((p[(s, c)] for p in pairs.values() if (s, c) in p), None)
            gt = _source_clip(rec, known, t, size, protocol) if rec is not None else None
            missing_gt += gt is None
            tiles = [grey if gt is None else gt]
            tiles += [_fit(videos[(m, (s, c))], t, size) if (m, (s, c)) in videos else grey for m in pairs]
            rows += tiles
        name_out = f"class{c:02d}_{_slug(name)}.gif"
        write_gif(out / name_out, make_grid(np.stack(rows), nrow=1 + len(pairs), pad=PAD), fps=fps)
        data["classes"].append({"index": c, "name": name, "gif": name_out})
    if missing_gt:
        notes.append(f"{missing_gt} source take(s) could not be read (grey tiles)")
    data.update(columns=[SOURCE_COLUMN] + [labels.get(m, m) for m in pairs], methods=list(pairs),
                subjects=chosen, tile=size, frames=t, fps=fps)
    atomic_write_json(out / MANIFEST, data)
    return data


def read_sample_gifs(folder: Path) -> dict[str, Any] | None:
    """The ``samples.json`` of a folder written by :func:`write_sample_gifs` (``None`` when absent)."""
    p = Path(folder) / MANIFEST
    return json.loads(p.read_text()) if p.is_file() else None
