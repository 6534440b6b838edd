"""Video records, their crop boxes and manifests: the one description of "a video of a dataset" shared by every
loader.

A dataset (embedded synthetic or real) is a list of :class:`VideoRecord`. Loaders find the records, the clip
dataset turns a record into frames. Manifests are CSV files with one row per record; ``params`` (the generating
parameters of synthetic videos, or loader options) is stored as a JSON string column.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Iterable, NamedTuple, Sequence

from lfdm_bench.utils.io import atomic_write_text

SPLITS = ("train", "test", "val")  # val: validation subjects (embedded datasets), where settings are chosen


class CropBox(NamedTuple):
    """A crop in pixel coordinates of the source frame: rows ``top:bottom``, columns ``left:right`` (ends exclusive)."""

    top: int
    bottom: int
    left: int
    right: int

    @classmethod
    def parse(cls, value: "CropBox | Sequence[int] | dict | None") -> "CropBox | None":
        """Build from a ``CropBox``, a 4-sequence ``(top, bottom, left, right)``, a dict with those keys, or
        ``None``."""
        if value is None:
            return None
        if isinstance(value, CropBox):
            box = value
        elif isinstance(value, dict):
            try:
                box = cls(*(int(value[k]) for k in cls._fields))
            except KeyError as e:
                raise ValueError(f"crop box dict needs keys {cls._fields}, got {sorted(value)}") from e
        else:
            vals = list(value)
            if len(vals) != 4:
                raise ValueError(f"crop box needs 4 values (top, bottom, left, right), got {vals}")
            box = cls(*(int(v) for v in vals))
        if not (0 <= box.top < box.bottom and 0 <= box.left < box.right):
            raise ValueError(f"invalid crop box {tuple(box)}: need 0 <= top < bottom and 0 <= left < right")
        return box

    def to_dict(self) -> dict:
        return dict(self._asdict())

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def width(self) -> int:
        return self.right - self.left


@dataclass(frozen=True)
class VideoRecord:
    """One video of a dataset.

    Attributes:
        path: a video file (mp4/avi/gif) or a folder of frames (jpg/png), absolute or relative to the manifest.
        subject: subject identifier (splits are by subject).
        class_index: index of the class in the dataset's class list.
        class_name: the class name (e.g. ``happiness``).
        text: the condition text given to the text encoder (LFDM uses the class name verbatim).
        split: ``train`` or ``test``.
        take: take / trial / repetition identifier within (subject, class).
        n_frames: number of frames if known (``None``: unknown until read).
        params: generating parameters (synthetic data) or loader options (e.g. crop box).
    """

    path: str
    subject: str
    class_index: int
    class_name: str
    text: str
    split: str
    take: str = ""
    n_frames: int | None = None
    params: dict = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise ValueError(f"VideoRecord {self.path!r}: split must be one of {SPLITS}, got {self.split!r}")
        if self.class_index < 0:
            raise ValueError(f"VideoRecord {self.path!r}: class_index must be >= 0, got {self.class_index}")

    @property
    def key(self) -> str:
        """A stable identifier of the video inside its dataset."""
        return f"{self.subject}/{self.class_name}/{self.take}"


MANIFEST_COLUMNS = [f.name for f in fields(VideoRecord)]


def write_manifest(records: Sequence[VideoRecord], path: str | os.PathLike, relative_to: str | os.PathLike | None = None) -> None:
    """Write records as CSV (atomically).

    :func:`read_manifest` resolves relative paths against the manifest's folder, so every path is written in that
    frame: a record's relative path means relative to the current working directory (where it was made), and is
    made absolute first; paths under ``relative_to`` (normally the manifest's folder) are then stored relative to it
    (the folder can be moved or copied whole), all others absolute.
    """
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
    writer.writeheader()
    base = Path(relative_to).resolve() if relative_to is not None else None
    for r in records:
        row = asdict(r)
        p = Path(r.path).resolve()  # a relative path is relative to the working directory
        row["path"] = str(p)
        if base is not None:
            try:
                row["path"] = str(p.relative_to(base))
            except ValueError:
                pass
        row["n_frames"] = "" if r.n_frames is None else int(r.n_frames)
        row["params"] = json.dumps(r.params, sort_keys=True)
        writer.writerow(row)
    atomic_write_text(path, buf.getvalue())


def read_manifest(path: str | os.PathLike) -> list[VideoRecord]:
    """Read a manifest CSV; relative video paths are resolved against the manifest's folder."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"manifest not found: {path}")
    base = path.parent.resolve()
    out: list[VideoRecord] = []
    try:
        text = path.read_text(encoding="utf-8-sig")  # -sig: a byte-order mark (Excel's UTF-8 CSV) is not a column
    except UnicodeDecodeError as e:
        raise ValueError(f"manifest {path}: not UTF-8 text ({e}); save it as UTF-8 CSV") from None
    with io.StringIO(text, newline="") as f:
        reader = csv.DictReader(f)
        missing = set(MANIFEST_COLUMNS) - set(reader.fieldnames or [])
        if missing - {"take", "n_frames", "params"}:
            raise ValueError(f"manifest {path}: missing columns {sorted(missing)}; expected {MANIFEST_COLUMNS}")
        for i, row in enumerate(reader):
            try:
                p = Path(row["path"])
                out.append(
                    VideoRecord(
                        path=str(p if p.is_absolute() else base / p),
                        subject=row["subject"],
                        class_index=int(row["class_index"]),
                        class_name=row["class_name"],
                        text=row["text"],
                        split=row["split"],
                        take=row.get("take", "") or "",
                        n_frames=int(row["n_frames"]) if row.get("n_frames") else None,
                        params=json.loads(row["params"]) if row.get("params") else {},
                    )
                )
            except (KeyError, ValueError, TypeError) as e:  # TypeError: a row cut short (missing fields are None)
                raise ValueError(f"manifest {path}, row {i + 2}: {e}") from e
    check_unique(out, path)
    return out


def check_unique(records: Sequence[VideoRecord], manifest: str | os.PathLike) -> None:
    """Refuse a manifest that lists one video twice (the same file, and segment of it, in two rows), naming both rows
    (row 1 is the header): a repeated video would be counted twice in training, FVD and every average."""
    seen: dict[tuple[str, str], int] = {}
    for i, r in enumerate(records):
        key = (os.path.normpath(r.path), json.dumps(r.params.get("segment")))
        if key in seen:
            raise ValueError(f"manifest {manifest}: rows {seen[key] + 2} and {i + 2} list the same video {r.path}; "
                             "each row must be its own video: remove the repeated row")
        seen[key] = i


def filter_records(records: Iterable[VideoRecord], split: str | None = None, subjects: Iterable[str] | None = None,
                   classes: Iterable[int] | None = None) -> list[VideoRecord]:
    """Keep the records of one split (``None``/``both``: all), some subjects and some class indices."""
    subj = set(subjects) if subjects is not None else None
    cls = set(classes) if classes is not None else None
    return [
        r for r in records
        if (split in (None, "both") or r.split == split)
        and (subj is None or r.subject in subj)
        and (cls is None or r.class_index in cls)
    ]


def summarize(records: Sequence[VideoRecord]) -> dict:
    """Counts per split, class and subject (for ``data info``)."""
    from collections import Counter

    return {
        "videos": len(records),
        "per_split": dict(Counter(r.split for r in records)),
        "per_class": dict(sorted(Counter(r.class_name for r in records).items())),
        "subjects": {s: sorted({r.subject for r in records if r.split == s}) for s in SPLITS},
    }


def spread(records: Sequence, n: int | None) -> list:
    """At most ``n`` records evenly spread over the (sorted) list: an even cover of subjects and classes."""
    records = list(records)
    if n is None or len(records) <= n:
        return records
    step = len(records) / n
    return [records[int(i * step)] for i in range(n)]


def first_per_pair(records: Iterable[VideoRecord]) -> dict[tuple[str, int], VideoRecord]:
    """(subject, class index) -> the pair's first video by path: the one video every figure shows for a pair (the
    benchmark's comparison grids and the report's sample GIFs), so they always show the same video."""
    out: dict[tuple[str, int], VideoRecord] = {}
    for r in sorted(records, key=lambda r: r.path):
        out.setdefault((r.subject, r.class_index), r)
    return out
