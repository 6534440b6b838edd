"""UTD-MHAD RGB action videos, in their released layout.

Layout::

    ROOT/a<action>_s<subject>_t<trial>_color.avi      # e.g. a21_s8_t1_color.avi; or the same files in ROOT/RGB/

27 actions (``a1`` .. ``a27``, texts from ``splits/mhad.json``) x 8 subjects x 4 trials, 640x480, 32-96 frames.
LFDM crops rows 0:480, columns 156:492 (the region covering the person in every depth map) before resizing;
that box is the default (``crop=True``) and is stored in each record's ``params["crop"]``. LFDM's own
preprocessed frame folders ``ROOT/a<action>_s<subject>_t<trial>/`` (already cropped) are also accepted, without
a crop. Split: train subjects 1, 2, 3, 5; test subjects 4, 6, 7, 8.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Sequence

from lfdm_bench.data.real import (DatasetLayoutError, check_options, check_root, count_images, describe_entries,
                                  format_list, load_split_spec, resolve_crop)
from lfdm_bench.data.records import CropBox, VideoRecord
from lfdm_bench.data.info import DatasetInfo
from lfdm_bench.data.video_io import VIDEO_EXTS

LAYOUT = "ROOT/a<action>_s<subject>_t<trial>_color.avi, e.g. ROOT/a21_s8_t1_color.avi (or in ROOT/RGB/)"
FILE_RE = re.compile(r"a(\d+)_s(\d+)_t(\d+)_color\.avi", re.IGNORECASE)
FOLDER_RE = re.compile(r"a(\d+)_s(\d+)_t(\d+)")


def _video_root(root: Path) -> Path:
    """``root`` itself, or ``root/RGB`` when the videos are there (the archive's layout)."""
    has_own = any(FILE_RE.fullmatch(p.name) or (p.is_dir() and FOLDER_RE.fullmatch(p.name)) for p in root.iterdir())
    rgb = root / "RGB"
    return rgb if not has_own and rgb.is_dir() else root


def load_mhad(root: str | os.PathLike, crop: bool | CropBox | Sequence[int] | None = True, **options) -> DatasetInfo:
    """Find every UTD-MHAD RGB video under ``root`` and split it by subject.

    Args:
        root: the folder holding ``a*_s*_t*_color.avi`` (or its parent with an ``RGB/`` folder).
        crop: ``True``: LFDM's box (rows 0:480, cols 156:492); ``False`` / ``None``: no crop; or a box
            ``(top, bottom, left, right)``.

    Returns:
        :class:`DatasetInfo` with one record per video, subject ``"1"`` .. ``"8"``, take ``t<trial>``.

    Raises:
        DatasetLayoutError: no file or folder matches the naming pattern.
    """
    check_options("mhad", options, ())
    spec = load_split_spec("mhad")
    root = check_root(root, LAYOUT)
    box = resolve_crop(crop, spec.crop)
    folder = _video_root(root)

    records: list[VideoRecord] = []
    unmatched: list[str] = []
    out_of_range: list[str] = []
    excluded: set[str] = set()
    n_folders = 0
    for p in sorted(folder.iterdir()):
        m = FILE_RE.fullmatch(p.name) if p.is_file() else FOLDER_RE.fullmatch(p.name) if p.is_dir() else None
        if m is None:
            if p.is_file() and p.suffix.lower() in VIDEO_EXTS:
                unmatched.append(p.name)
            continue
        action, subject, trial = (int(g) for g in m.groups())
        if not 1 <= action <= len(spec.class_names):
            out_of_range.append(p.name)
            continue
        subject_id = str(subject)
        split = spec.split_of(subject_id)
        if split is None:
            excluded.add(subject_id)
            continue
        is_folder = p.is_dir()
        n_folders += is_folder
        n = count_images(p) if is_folder else 0
        record_box = None if is_folder else box  # LFDM's preprocessed frame folders are already cropped
        records.append(VideoRecord(
            path=str(p),
            subject=subject_id,
            class_index=action - 1,
            class_name=spec.class_names[action - 1],
            text=spec.class_texts[action - 1],
            split=split,
            take=f"t{trial}",
            n_frames=n if n > 0 else None,
            params={"crop": record_box.to_dict()} if record_box is not None else {},
        ))

    if not records:
        found = describe_entries(folder)
        if unmatched:
            found = f"video files not named a<action>_s<subject>_t<trial>_color.avi: {format_list(unmatched, 4)}"
        raise DatasetLayoutError(root, LAYOUT, found)
    notes: list[str] = []
    if folder != root:
        notes.append(f"videos read from {folder}")
    if unmatched:
        notes.append(f"video files not matching a<action>_s<subject>_t<trial>_color.avi, ignored: {format_list(unmatched)}")
    if out_of_range:
        notes.append(f"action numbers outside 1..{len(spec.class_names)}, ignored: {format_list(out_of_range)}")
    if excluded:
        notes.append(f"subjects in neither LFDM split list, excluded: {', '.join(sorted(excluded, key=int))}")
    if n_folders:
        notes.append(f"{n_folders} preprocessed frame folders (already cropped: no crop applied to them)")
    notes.append(f"crop: rows {box.top}:{box.bottom}, cols {box.left}:{box.right}" if box else "crop: none")
    return DatasetInfo(name="mhad", class_names=list(spec.class_names), class_texts=list(spec.class_texts),
                       records=records, root=root, crop=box, notes=notes)
