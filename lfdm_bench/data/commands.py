"""``lfdm-bench data``: generate the synthetic datasets and inspect any dataset.

``data make NAME``   generate (or find, when cached) ``synth-faces`` / ``synth-actions``.
``data info NAME``   counts per split, class and subject; a PNG contact sheet of first frames and a GIF grid of clips.

The group is a thin layer over :func:`lfdm_bench.data.registry.get_dataset` and
:class:`lfdm_bench.data.dataset.ClipDataset`, registered in the main CLI (``cli.py``).
"""

from __future__ import annotations

import math
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import click

from lfdm_bench.data.records import SPLITS
from lfdm_bench.data.registry import DATASETS, SYNTHETIC_DATASETS, DatasetInfo, get_dataset
from lfdm_bench.options import SEED, cli_errors, group, parse_key_values, progress_option

if TYPE_CHECKING:  # numpy / torch are imported inside the commands so `--help` stays fast
    import numpy as np


def load_dataset(name: str, root: Path | None, options: dict[str, Any]) -> DatasetInfo:
    """The dataset ``name`` with its loader ``options`` (``--option KEY=VALUE``); an option its loader does not take
    is an error naming ``--option``."""
    try:
        return get_dataset(name, root=root, **options)
    except TypeError as e:
        raise click.ClickException(f"--option: {e}") from None


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(name).stem if name.endswith(".csv") else name).strip("_") or "dataset"


@group("data")
def data() -> None:
    """Datasets: generate the synthetic ones, inspect any of them."""


@data.command("make")
@click.argument("name", type=click.Choice(SYNTHETIC_DATASETS))
@click.option("--size", type=click.IntRange(32, 128), default=None, help="Frame side in pixels  [default: the dataset's]")
@click.option("--frames", type=click.IntRange(min=2), default=None, help="Frames per video  [default: the dataset's]")
@click.option("--subjects", "n_subjects", type=click.IntRange(min=2), default=None, help="Number of subjects")
@click.option("--takes", "n_takes", type=click.IntRange(min=1), default=None, help="Takes per (subject, class)")
@click.option("--seed", type=SEED, default=None, help="Generation seed")
@click.option("--style", type=str, default=None, help="Rendering style (see the synthetic dataset's docs)")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None, metavar="DIR",
              help="Folder to generate into  [default: the cache, $LFDM_BENCH_CACHE/datasets]")
@progress_option
@cli_errors()
def make(name: str, size: int | None, frames: int | None, n_subjects: int | None, n_takes: int | None,
         seed: int | None, style: str | None, out: Path | None, progress: bool) -> None:
    """Generate the synthetic dataset NAME (or find it, if already generated with the same settings)."""
    from lfdm_bench.data.records import read_manifest, summarize

    given = {"size": size, "frames": frames, "n_subjects": n_subjects, "n_takes": n_takes, "seed": seed, "style": style}
    overrides = {k: v for k, v in given.items() if v is not None}
    from lfdm_bench.data.synth.make import ensure_synthetic, ensure_validation

    t0 = time.perf_counter()
    manifest = Path(ensure_synthetic(name, root=out, progress=progress, **overrides))
    val = ensure_validation(name, root=out, progress=progress, **overrides)
    elapsed = time.perf_counter() - t0
    counts = summarize(read_manifest(manifest) + (read_manifest(val) if val else []))
    per_split = ", ".join(f"{k} {v}" for k, v in sorted(counts["per_split"].items()))
    click.echo(f"{name}: {counts['videos']} videos ({per_split}) in {manifest.parent}")
    click.echo(f"manifest: {manifest}" + (f"\nvalidation subjects: {val}" if val else ""))
    click.echo(f"took {elapsed:.1f} s")


def _tables(info: DatasetInfo) -> str:
    from tabulate import tabulate

    recs = info.records
    split_rows = []
    splits = [s for s in SPLITS if s != "val" or any(r.split == s for r in recs)]
    for split in splits:
        rs = [r for r in recs if r.split == split]
        split_rows.append([split, len(rs), len({r.subject for r in rs}), len({r.class_index for r in rs})])
    split_rows.append(["all", len(recs), len({r.subject for r in recs}), len({r.class_index for r in recs})])
    class_rows = []
    for i, (cname, text) in enumerate(zip(info.class_names, info.class_texts)):
        rs = [r for r in recs if r.class_index == i]
        class_rows.append([i, cname, text, *(sum(r.split == s for r in rs) for s in splits)])
    subject_rows = []
    for subject in sorted({r.subject for r in recs}):
        rs = [r for r in recs if r.subject == subject]
        subject_rows.append([subject, rs[0].split, len(rs), len({r.class_index for r in rs})])
    return "\n\n".join([
        tabulate(split_rows, headers=["split", "videos", "subjects", "classes"]),
        tabulate(class_rows, headers=["index", "class", "text", *splits], disable_numparse=[1, 2]),
        tabulate(subject_rows, headers=["subject", "split", "videos", "classes"], disable_numparse=True),
    ])


def _label_tiles(grid: np.ndarray, labels: Sequence[str], nrow: int, tile: int, pad: int = 2) -> np.ndarray:
    """Write each label in the top-left corner of its tile of a ``make_grid`` image ``[H, W, 3]``."""
    import numpy as np
    from PIL import Image, ImageDraw

    img = Image.fromarray(grid)
    draw = ImageDraw.Draw(img)
    for k, label in enumerate(labels):
        r, q = divmod(k, nrow)
        x, y = pad + q * (tile + pad), pad + r * (tile + pad)
        draw.text((x + 1, y + 1), label, fill=(0, 0, 0))
        draw.text((x, y), label, fill=(255, 255, 0))
    return np.asarray(img)


def _contact_sheet(info: DatasetInfo, records: list, by: str, thumb: int, path: Path) -> tuple[list[str], list[tuple[str, str]]]:
    """PNG of the first frame of one video per subject (or class). Returns (group labels, skipped)."""
    import numpy as np

    from lfdm_bench.data.dataset import ClipDataset
    from lfdm_bench.data.video_io import BadVideoError, make_grid, write_png

    groups: dict[str, list] = {}
    for r in records:
        key = r.subject if by == "subject" else r.class_name
        groups.setdefault(key, []).append(r)
    order = sorted(groups) if by == "subject" else [c for c in info.class_names if c in groups]
    labels, tiles, skipped = [], [], []
    for key in order:
        ds = ClipDataset(groups[key], n_frames=1, size=thumb, sampling="first", dtype="uint8")
        for i, r in enumerate(ds.records):  # first readable video of the group
            try:
                tiles.append(ds.first_frame(i).permute(1, 2, 0).numpy())
                labels.append(key)
                break
            except BadVideoError as e:
                skipped.append((r.path, e.reason))
    if not tiles:
        raise click.ClickException(f"no readable video for the contact sheet ({len(skipped)} unreadable)")
    nrow = max(1, math.ceil(math.sqrt(len(tiles))))
    grid = make_grid(np.stack(tiles)[:, None], nrow=nrow)[0]  # [N, 1, h, w, 3] -> one image
    grid = _label_tiles(np.ascontiguousarray(grid), labels, nrow, thumb)
    write_png(path, grid)
    return labels, skipped


def _clip_grid(info: DatasetInfo, records: list, n_clips: int, n_frames: int, thumb: int, fps: int,
               path: Path) -> tuple[int, list[tuple[str, str]]]:
    """GIF grid of ``n_clips`` clips, one per class in turn. Returns (clips written, skipped)."""
    import numpy as np

    from lfdm_bench.data.dataset import ClipDataset
    from lfdm_bench.data.video_io import BadVideoError, make_grid, write_gif

    by_class: dict[int, list] = {}
    for r in records:
        by_class.setdefault(r.class_index, []).append(r)
    chosen, round_ = [], 0
    while len(chosen) < n_clips and any(round_ < len(v) for v in by_class.values()):
        chosen += [v[round_] for _, v in sorted(by_class.items()) if round_ < len(v)]
        round_ += 1
    ds = ClipDataset(chosen[:n_clips], n_frames=n_frames, size=thumb, sampling="uniform", dtype="uint8",
                     skip_bad=True)
    skipped, clips = list(ds.skipped), []
    for i in range(len(ds)):  # the check reads the first and last frames of a video file; a bad middle one shows here
        try:
            clips.append(ds[i].video.permute(0, 2, 3, 1).numpy())  # [T, h, w, 3]
        except BadVideoError as e:
            skipped.append((ds.records[i].path, e.reason if e.path == ds.records[i].path else str(e)))
    if not clips:
        raise click.ClickException(f"no readable video for the clip grid: {skipped[:3]}")
    write_gif(path, make_grid(np.stack(clips), nrow=max(1, math.ceil(math.sqrt(len(clips))))), fps=fps)
    return len(clips), skipped


_INFO_HELP = (f"Describe dataset NAME ({', '.join(DATASETS)}, or a manifest .csv): counts per split, class and "
              "subject, a PNG contact sheet of first frames and a GIF grid of clips.")


@data.command("info", help=_INFO_HELP)
@click.argument("name", metavar="NAME")
@click.option("--root", type=click.Path(path_type=Path), default=None, metavar="PATH",
              help="Real datasets: your copy's folder (required). Synthetic: where it is generated  [default: cache]")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None, metavar="DIR",
              help="Where to write the contact sheet and clip grid  [default: ./data_info/NAME]")
@click.option("--split", type=click.Choice(["train", "test", "val", "both"]), default="both",
              help="Videos shown in the sheet and grid")
@click.option("--sheet-by", type=click.Choice(["subject", "class"]), default="subject",
              help="One contact-sheet tile per subject or per class")
@click.option("--thumb", type=click.IntRange(8, 512), default=64, help="Tile side in pixels")
@click.option("--clips", type=click.IntRange(1, 64), default=8, help="Clips in the GIF grid")
@click.option("--frames", type=click.IntRange(1, 256), default=16, help="Frames per GIF clip")
@click.option("--fps", type=click.IntRange(1, 60), default=8, help="GIF frame rate")
@click.option("--no-crop", is_flag=True, help="MHAD / NATOPS: do not apply LFDM's crop box")
@click.option("--option", "-o", "extra", multiple=True, metavar="KEY=VALUE",
              help="Loader option, repeatable (e.g. -o layout=raw -o segmentation=/data/segmentation.txt)")
@cli_errors()
def info(name: str, root: Path | None, out: Path | None, split: str, sheet_by: str, thumb: int, clips: int,
         frames: int, fps: int, no_crop: bool, extra: tuple[str, ...]) -> None:
    from lfdm_bench.utils.io import atomic_write_json, ensure_writable

    options = parse_key_values(extra)
    if no_crop:
        if name in ("mhad", "natops"):
            options["crop"] = False
        else:
            click.echo(f"note: --no-crop ignored, {name} has no crop box")
    if name in SYNTHETIC_DATASETS:
        options.setdefault("progress", False)
    ds_info = load_dataset(name, root, options)

    click.echo(f"dataset: {ds_info.name}\nroot: {ds_info.root}\nvideos: {len(ds_info.records)}, "
               f"classes: {ds_info.n_classes}")
    for note in ds_info.notes:
        click.echo(f"note: {note}")
    click.echo("")
    click.echo(_tables(ds_info))

    records = ds_info.split(split)
    if not records:
        raise click.ClickException(f"no {split} videos to preview")
    out = out if out is not None else Path.cwd() / "data_info" / _safe_name(name)
    stem = _safe_name(name)
    sheet_path, gif_path = out / f"{stem}_first_frames.png", out / f"{stem}_clips.gif"
    ensure_writable(out)  # before reading any video
    labels, skipped = _contact_sheet(ds_info, records, sheet_by, thumb, sheet_path)
    n_written, skipped_clips = _clip_grid(ds_info, records, clips, frames, thumb, fps, gif_path)
    skipped += skipped_clips
    summary = {"name": ds_info.name, "root": str(ds_info.root), "class_names": ds_info.class_names,
               "class_texts": ds_info.class_texts, "notes": ds_info.notes, "summary": ds_info.summary(),
               "skipped": [{"path": p, "reason": why} for p, why in skipped]}
    atomic_write_json(out / f"{stem}_info.json", summary)
    click.echo("")
    click.echo(f"contact sheet ({len(labels)} tiles, one per {sheet_by}, row-major: {', '.join(labels)}): {sheet_path}")
    click.echo(f"clip grid ({n_written} clips x {frames} frames): {gif_path}")
    click.echo(f"summary: {out / f'{stem}_info.json'}")
    for p, why in skipped:
        click.echo(f"skipped unreadable video {p}: {why}")
