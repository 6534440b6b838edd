"""MUG facial expression database, in its released layout.

Layout::

    ROOT/<subject>/<expression>/<take>/<frame>.jpg                  # most subjects, e.g. ROOT/001/anger/take000/
    ROOT/<subject>/<session0|session1>/<expression>/<take>/<frame>.jpg   # subjects 002, 003, 049

``<subject>`` is a three-digit folder name, ``<expression>`` one of the 7 class names (used verbatim as text).
Every take folder is one video (a folder of frames). Subjects are split by LFDM's lists (``splits/mug.json``);
subjects in neither list (003) are excluded with a note. For the session subjects **both** ``session0`` and
``session1`` are read; the official LFDM loader iterates ``["session0", "session0"]``, reading session0 twice and
never session1, which duplicates those videos in its splits. That bug is deliberately not reproduced.
"""

from __future__ import annotations

import os
from collections import Counter

from lfdm_bench.data.real import (DatasetLayoutError, check_options, check_root, count_images, describe_entries,
                                  format_list, load_split_spec, subdirs)
from lfdm_bench.data.records import VideoRecord
from lfdm_bench.data.info import DatasetInfo
from lfdm_bench.data.video_io import IMAGE_EXTS

LAYOUT = ("ROOT/<subject, e.g. 001>/<expression, e.g. anger>/<take>/<frame>.jpg "
          "(subjects 002, 003, 049: ROOT/<subject>/session0|session1/<expression>/<take>/<frame>.jpg)")
SUBJECT_PATTERN = r"\d{3}"
SESSION_PATTERN = r"session\d+"


def load_mug(root: str | os.PathLike, **options) -> DatasetInfo:
    """Find every MUG take under ``root`` and split it by LFDM's subject lists.

    Args:
        root: the MUG folder (holding ``001/``, ``002/``, ...).
        **options: none are accepted (an unknown option is an error).

    Returns:
        :class:`DatasetInfo` whose records are frame-folder videos with ``take`` ``<take>`` or
        ``<session>/<take>``, ``n_frames`` counted, ``text`` = the expression name.

    Raises:
        DatasetLayoutError: no subject folders, images where take folders were expected, or no takes at all.
    """
    check_options("mug", options, ())
    spec = load_split_spec("mug")
    root = check_root(root, LAYOUT)
    subjects = subdirs(root, SUBJECT_PATTERN)
    if not subjects:
        raise DatasetLayoutError(root, LAYOUT, f"no three-digit subject folders; the folder holds: {describe_entries(root)}")

    records: list[VideoRecord] = []
    notes: list[str] = []
    excluded: list[str] = []
    unknown_folders: list[str] = []
    empty_takes: list[str] = []
    session_subjects: list[str] = []
    for subject_dir in subjects:
        subject = subject_dir.name
        split = spec.split_of(subject)
        if split is None:
            excluded.append(subject)
            continue
        sessions = subdirs(subject_dir, SESSION_PATTERN)
        # (session name or "", folder holding the expression folders)
        groups = [(s.name, s) for s in sessions] if sessions else [("", subject_dir)]
        if sessions:
            session_subjects.append(f"{subject} ({', '.join(s.name for s in sessions)})")
            expected = set(spec.extra.get("sessions", ()))
            missing = sorted(expected - {s.name for s in sessions})
            if missing:
                notes.append(f"subject {subject}: no {', '.join(missing)} folder")
        for session, folder in groups:
            for expr_dir in subdirs(folder):
                class_index = spec.class_index(expr_dir.name)
                if class_index is None:
                    unknown_folders.append(str(expr_dir.relative_to(root)))
                    continue
                loose = [p for p in expr_dir.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTS]
                if loose:
                    raise DatasetLayoutError(
                        root, LAYOUT,
                        f"images directly in {expr_dir} ({loose[0].name}, ...): each take must be its own folder of frames",
                    )
                for take_dir in subdirs(expr_dir):
                    n = count_images(take_dir)
                    if n == 0:
                        empty_takes.append(str(take_dir.relative_to(root)))
                    records.append(VideoRecord(
                        path=str(take_dir),
                        subject=subject,
                        class_index=class_index,
                        class_name=spec.class_names[class_index],
                        text=spec.class_texts[class_index],
                        split=split,
                        take=f"{session}/{take_dir.name}" if session else take_dir.name,
                        n_frames=n if n > 0 else None,
                        params={"session": session} if session else {},
                    ))

    if not records:
        raise DatasetLayoutError(
            root, LAYOUT,
            f"subject folders {format_list([s.name for s in subjects])} but no <expression>/<take>/ folders of "
            f"listed subjects (expressions: {', '.join(spec.class_names)})",
        )
    if excluded:
        notes.append(f"subjects in neither LFDM split list, excluded: {', '.join(excluded)}")
    if session_subjects:
        notes.append(
            f"session subjects read from every session folder: {'; '.join(session_subjects)} "
            "(the official LFDM loader reads session0 twice and never session1; not reproduced)"
        )
    if unknown_folders:
        notes.append(f"folders that are not expressions, ignored: {format_list(unknown_folders)}")
    if empty_takes:
        notes.append(f"take folders without images (bad videos): {format_list(empty_takes)}")
    per_split = Counter(r.split for r in records)
    notes.append(f"videos: train {per_split.get('train', 0)}, test {per_split.get('test', 0)} "
                 "(LFDM reports 465 training videos for the full dataset)")
    return DatasetInfo(name="mug", class_names=list(spec.class_names), class_texts=list(spec.class_texts),
                       records=records, root=root, crop=None, notes=notes)
