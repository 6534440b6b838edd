"""NATOPS aircraft-handling gestures: LFDM's preprocessed per-repetition frame folders, or the raw videos.

Preprocessed layout (``layout="frames"``, what LFDM trains on)::

    ROOT/gGGsSSpPP/gGGsSSpPP-<index:04d>-<source frame:04d>.png     # gesture GG, subject SS, repetition PP

Raw layout (``layout="raw"``, the dataset as released)::

    ROOT/gestureGG/gGGsSS.avi      # 20 repetitions of gesture GG by subject SS, 320x240 at 20 fps
    ROOT/segmentation.txt          # repetition boundaries (or give its path with segmentation=...)

Raw videos are split into repetitions with ``segmentation.txt`` exactly as LFDM's ``preprocess_NATOPS.py`` reads
it: a ``// Subject N`` line opens each subject's block, lines ``a,b,c`` open the blocks of gestures 1, 2, ... in
order, and lines ``k:start,end`` give the (1-based, inclusive) frame range of each repetition, numbered in order.
Each repetition becomes a record on the ``.avi`` with ``params["segment"] = [start - 1, end)``.

LFDM crops y 10:239, x 30:290 before resizing (default ``crop=True``). Split: train subjects 3 4 8 9 12 13 15 17
19 20, test subjects 2 5 6 7 10 11 14 16 18; subject 1 is unused (excluded with a note).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Sequence

from lfdm_bench.data.real import (DatasetLayoutError, SplitSpec, check_options, check_root, count_images,
                                  describe_entries, format_list, load_split_spec, resolve_crop, subdirs)
from lfdm_bench.data.records import CropBox, VideoRecord
from lfdm_bench.data.info import DatasetInfo

LAYOUTS = ("auto", "frames", "raw")
FRAMES_LAYOUT = "ROOT/gGGsSSpPP/gGGsSSpPP-<index:04d>-<source:04d>.png, e.g. ROOT/g01s10p01/g01s10p01-0000-0055.png"
RAW_LAYOUT = "ROOT/gestureGG/gGGsSS.avi plus ROOT/segmentation.txt, e.g. ROOT/gesture01/g01s03.avi"
FOLDER_RE = re.compile(r"g(\d{2})s(\d{2})p(\d{2})")
RAW_FILE_RE = re.compile(r"g(\d{2})s(\d{2})\.avi", re.IGNORECASE)
_SUBJECT_LINE = re.compile(r"//\s*Subject\s*(\d+)?", re.IGNORECASE)
_GESTURE_LINE = re.compile(r"\d*,\d*,\d*")
_REP_LINE = re.compile(r"\d*:\d*,\d*")


def parse_segmentation(path: str | os.PathLike) -> dict[int, dict[int, list[tuple[int, int]]]]:
    """Read NATOPS' ``segmentation.txt`` -> ``{subject: {gesture: [(start, end), ...]}}``, 1-based inclusive frames.

    Raises:
        DatasetLayoutError: the file is missing or holds no ``// Subject`` block.
    """
    path = Path(path)
    expected = "segmentation.txt with '// Subject N' blocks, gesture lines 'a,b,c' and repetition lines 'k:start,end'"
    if not path.is_file():
        raise DatasetLayoutError(path, expected, "the file does not exist (pass segmentation=PATH to point at it)")
    table: dict[int, dict[int, list[tuple[int, int]]]] = {}
    subject: int | None = None
    gesture = 0
    for raw in path.read_text(errors="replace").splitlines():
        line = raw.strip()
        m = _SUBJECT_LINE.match(line)
        if m:
            subject = int(m.group(1)) if m.group(1) else len(table) + 1
            table[subject] = {}
            gesture = 0
        elif subject is not None and _GESTURE_LINE.match(line):
            gesture += 1
            table[subject][gesture] = []
        elif subject is not None and gesture > 0 and _REP_LINE.match(line):
            _, start, end = (int(x) for x in re.split(r"[:,]", line)[:3])
            table[subject][gesture].append((start, end))
    if not table:
        raise DatasetLayoutError(path, expected, "no '// Subject' line")
    return table


def _record(spec: SplitSpec, path: Path, gesture: int, subject: str, split: str, rep: int, n: int | None,
            params: dict) -> VideoRecord:
    return VideoRecord(path=str(path), subject=subject, class_index=gesture - 1,
                       class_name=spec.class_names[gesture - 1], text=spec.class_texts[gesture - 1], split=split,
                       take=f"p{rep:02d}", n_frames=n, params=params)


def _load_frames(root: Path, spec: SplitSpec, box: CropBox | None, notes: list[str]) -> list[VideoRecord]:
    records: list[VideoRecord] = []
    excluded: set[str] = set()
    bad_gesture: list[str] = []
    for d in subdirs(root, FOLDER_RE.pattern):
        gesture, subject_num, rep = (int(g) for g in FOLDER_RE.fullmatch(d.name).groups())
        subject = f"{subject_num:02d}"
        if not 1 <= gesture <= len(spec.class_names):
            bad_gesture.append(d.name)
            continue
        split = spec.split_of(subject)
        if split is None:
            excluded.add(subject)
            continue
        n = count_images(d)
        params = {"crop": box.to_dict()} if box is not None else {}
        records.append(_record(spec, d, gesture, subject, split, rep, n if n > 0 else None, params))
    if bad_gesture:
        notes.append(f"gesture numbers outside 1..{len(spec.class_names)}, ignored: {format_list(bad_gesture)}")
    _note_excluded(notes, spec, excluded)
    return records


def _note_excluded(notes: list[str], spec: SplitSpec, excluded: set[str]) -> None:
    if excluded:
        notes.append(f"subjects outside the LFDM split (unused: {', '.join(spec.unused_subjects)}), "
                     f"excluded: {', '.join(sorted(excluded))}")


def _load_raw(root: Path, spec: SplitSpec, box: CropBox | None, segmentation: Path, notes: list[str]) -> list[VideoRecord]:
    table = parse_segmentation(segmentation)
    records: list[VideoRecord] = []
    excluded: set[str] = set()
    unsegmented: list[str] = []
    for gdir in subdirs(root, r"gesture\d{2}"):
        for f in sorted(p for p in gdir.iterdir() if p.is_file()):
            m = RAW_FILE_RE.fullmatch(f.name)
            if m is None:
                continue
            gesture, subject_num = int(m.group(1)), int(m.group(2))
            subject = f"{subject_num:02d}"
            if not 1 <= gesture <= len(spec.class_names):
                continue
            split = spec.split_of(subject)
            if split is None:
                excluded.add(subject)
                continue
            reps = table.get(subject_num, {}).get(gesture, [])
            if not reps:
                unsegmented.append(f.name)
                continue
            for rep, (start, end) in enumerate(reps, start=1):
                params = {"segment": [start - 1, end]}
                if box is not None:
                    params["crop"] = box.to_dict()
                records.append(_record(spec, f, gesture, subject, split, rep, end - start + 1, params))
    notes.append(f"raw videos split into repetitions by {segmentation}")
    if unsegmented:
        notes.append(f"videos without segmentation entries, ignored: {format_list(unsegmented)}")
    _note_excluded(notes, spec, excluded)
    return records


def load_natops(root: str | os.PathLike, crop: bool | CropBox | Sequence[int] | None = True, layout: str = "auto",
                segmentation: str | os.PathLike | None = None, **options) -> DatasetInfo:
    """Find every NATOPS repetition under ``root`` and split it by LFDM's subject lists.

    Args:
        root: the folder of ``gGGsSSpPP/`` frame folders, or of ``gestureGG/`` raw video folders.
        crop: ``True``: LFDM's box (y 10:239, x 30:290); ``False`` / ``None``: no crop; or a box.
        layout: ``auto`` (frame folders if any, else raw videos), ``frames`` or ``raw``.
        segmentation: raw layout only: path of ``segmentation.txt`` (default ``ROOT/segmentation.txt``).

    Returns:
        :class:`DatasetInfo` with one record per repetition, subject ``"02"`` .. ``"20"``, take ``p<PP>``.

    Raises:
        DatasetLayoutError: neither layout is found, or the raw layout lacks its segmentation file.
    """
    check_options("natops", options, ())
    if layout not in LAYOUTS:
        raise ValueError(f"natops layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    spec = load_split_spec("natops")
    expected = f"{FRAMES_LAYOUT}; or the raw {RAW_LAYOUT}"
    root = check_root(root, expected)
    box = resolve_crop(crop, spec.crop)
    if layout == "auto":
        if subdirs(root, FOLDER_RE.pattern):
            layout = "frames"
        elif subdirs(root, r"gesture\d{2}"):
            layout = "raw"
        elif (root / "data").is_dir() and subdirs(root / "data", r"gesture\d{2}"):
            root, layout = root / "data", "raw"
        else:
            raise DatasetLayoutError(root, expected, f"neither gGGsSSpPP/ nor gestureGG/ folders: {describe_entries(root)}")

    notes: list[str] = []
    if layout == "frames":
        if not subdirs(root, FOLDER_RE.pattern):
            raise DatasetLayoutError(root, FRAMES_LAYOUT, f"no gGGsSSpPP/ folders: {describe_entries(root)}")
        records = _load_frames(root, spec, box, notes)
    else:
        if not subdirs(root, r"gesture\d{2}"):
            raise DatasetLayoutError(root, RAW_LAYOUT, f"no gestureGG/ folders: {describe_entries(root)}")
        seg = Path(segmentation).expanduser() if segmentation is not None else root / "segmentation.txt"
        if not seg.is_file():
            raise DatasetLayoutError(
                root, RAW_LAYOUT,
                f"no segmentation file at {seg}: the raw videos hold 20 repetitions each and cannot be split without "
                "it; pass segmentation=PATH (`data info` / `eval`: --option segmentation=PATH; a run config: --set "
                "data.options.segmentation=PATH) or use LFDM's preprocessed frame folders",
            )
        records = _load_raw(root, spec, box, seg, notes)
    if not records:
        raise DatasetLayoutError(root, expected, "folders in the layout, but no repetition of a listed subject "
                                 f"(train {', '.join(spec.train_subjects)}; test {', '.join(spec.test_subjects)})")
    notes.append(f"crop: y {box.top}:{box.bottom}, x {box.left}:{box.right}" if box else "crop: none")
    return DatasetInfo(name="natops", class_names=list(spec.class_names), class_texts=list(spec.class_texts),
                       records=records, root=root, crop=box, notes=notes)
