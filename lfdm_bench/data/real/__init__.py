"""Loaders of the paper's real datasets (MUG, UTD-MHAD, NATOPS) in their released layouts.

None of these datasets can be downloaded by this package: a user points ``root`` at their copy. Each loader walks
the layout described in its module, assigns every video to the LFDM subject split read from the JSON files in
``lfdm_bench/data/splits/`` (splits are data, never literals in code), and returns a
:class:`~lfdm_bench.data.info.DatasetInfo`. Anything left out (unknown folders, subjects outside the split) is
reported in ``DatasetInfo.notes``; a root that does not look like the layout at all raises
:class:`DatasetLayoutError`, saying what was expected where.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from lfdm_bench.data.records import CropBox
from lfdm_bench.data.video_io import IMAGE_EXTS


class DatasetLayoutError(ValueError):
    """A dataset root that does not match the expected layout; the message says what was expected where."""

    def __init__(self, root: str | os.PathLike, expected: str, found: str):
        self.root = str(root)
        self.expected = expected
        self.found = found
        super().__init__(f"{root}: does not look like the expected layout.\n  expected: {expected}\n  found: {found}")


@dataclass(frozen=True)
class SplitSpec:
    """A dataset's classes, LFDM subject split and default crop, as read from ``splits/<name>.json``."""

    name: str
    class_names: tuple[str, ...]
    class_texts: tuple[str, ...]
    train_subjects: tuple[str, ...]
    test_subjects: tuple[str, ...]
    unused_subjects: tuple[str, ...] = ()
    crop: CropBox | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def split_of(self, subject: str) -> str | None:
        """``train`` / ``test`` for a listed subject, ``None`` for one in neither list."""
        if subject in self.train_subjects:
            return "train"
        if subject in self.test_subjects:
            return "test"
        return None

    def class_index(self, class_name: str) -> int | None:
        try:
            return self.class_names.index(class_name)
        except ValueError:
            return None


_SPEC_KEYS = {"name", "description", "source", "class_names", "class_texts", "train_subjects", "test_subjects",
              "unused_subjects", "crop"}


@lru_cache(maxsize=None)
def load_split_spec(name: str) -> SplitSpec:
    """Read ``lfdm_bench/data/splits/<name>.json`` (package data) -> :class:`SplitSpec`."""
    res = resources.files("lfdm_bench.data").joinpath("splits", f"{name}.json")
    if not res.is_file():
        raise FileNotFoundError(f"no split file splits/{name}.json in lfdm_bench.data (is the package data installed?)")
    d = json.loads(res.read_text())
    if len(d["class_names"]) != len(d["class_texts"]):
        raise ValueError(f"splits/{name}.json: {len(d['class_names'])} class names but {len(d['class_texts'])} texts")
    overlap = set(d["train_subjects"]) & set(d["test_subjects"])
    if overlap:
        raise ValueError(f"splits/{name}.json: subjects {sorted(overlap)} are in both train and test")
    return SplitSpec(
        name=d["name"],
        class_names=tuple(d["class_names"]),
        class_texts=tuple(d["class_texts"]),
        train_subjects=tuple(d["train_subjects"]),
        test_subjects=tuple(d["test_subjects"]),
        unused_subjects=tuple(d.get("unused_subjects", ())),
        crop=CropBox.parse(d.get("crop")),
        extra={k: v for k, v in d.items() if k not in _SPEC_KEYS},
    )


def check_options(dataset: str, options: Mapping[str, Any], allowed: Iterable[str]) -> None:
    """Unknown loader options are errors (a mistyped option must not be silently ignored)."""
    allowed = sorted(allowed)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        valid = ", ".join(allowed) if allowed else "none"
        raise TypeError(f"dataset {dataset!r}: unknown option(s) {', '.join(unknown)}; valid options: {valid}")


def resolve_crop(option: bool | CropBox | Sequence[int] | None, default: CropBox | None) -> CropBox | None:
    """``True`` -> the dataset's LFDM crop, ``False`` / ``None`` -> no crop, a box -> that box."""
    if option is True:
        return default
    if option is False or option is None:
        return None
    return CropBox.parse(option)


def check_root(root: str | os.PathLike, expected: str) -> Path:
    """The root as a ``Path``, or a :class:`DatasetLayoutError` when it is missing or not a folder."""
    path = Path(root).expanduser().absolute()
    if not path.exists():
        raise DatasetLayoutError(path, expected, "the path does not exist")
    if not path.is_dir():
        raise DatasetLayoutError(path, expected, "a file, not a folder")
    return path


def describe_entries(folder: Path, limit: int = 6) -> str:
    """A short listing of a folder's entries for error messages."""
    try:
        names = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir())
    except OSError as e:
        return f"unreadable folder ({e})"
    if not names:
        return "an empty folder"
    more = f" ... ({len(names)} entries)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def count_images(folder: Path) -> int:
    """Number of image files directly in ``folder`` (0 if it holds none)."""
    return sum(1 for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTS)


def subdirs(folder: Path, pattern: str | None = None) -> list[Path]:
    """Sub-folders of ``folder`` sorted by name, optionally only those whose name fully matches ``pattern``."""
    rx = re.compile(pattern) if pattern else None
    return sorted(p for p in folder.iterdir() if p.is_dir() and (rx is None or rx.fullmatch(p.name)))


def format_list(items: Sequence[str], limit: int = 8) -> str:
    items = list(items)
    return ", ".join(items[:limit]) + (f" ... ({len(items)} in all)" if len(items) > limit else "")
