"""Dataset registry: one name -> one :class:`DatasetInfo` (classes, texts, records, crop, notes).

Names:

- ``synth-faces``, ``synth-actions``: the embedded synthetic datasets, generated (once, cached) by
  ``lfdm_bench.data.synth.make.ensure_synthetic``; options (``size``, ``frames``, ``n_subjects``, ``n_takes``,
  ``seed``, ``style``, ``progress``) are forwarded to it.
- ``mug``, ``mhad``, ``natops``: the paper's real datasets read from a user's copy (``root`` required); see
  :mod:`lfdm_bench.data.real`.
- a path to a manifest ``.csv`` (with an optional ``dataset.json`` beside it holding ``class_names`` and
  ``class_texts``): any dataset described by records.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lfdm_bench.data.records import VideoRecord, filter_records, read_manifest, summarize

if TYPE_CHECKING:  # torch-free import keeps `lfdm-bench data --help` fast
    from lfdm_bench.data.transforms import CropBox

SYNTHETIC_DATASETS: tuple[str, ...] = ("synth-faces", "synth-actions")
REAL_DATASETS: tuple[str, ...] = ("mug", "mhad", "natops")
DATASETS: tuple[str, ...] = SYNTHETIC_DATASETS + REAL_DATASETS

_REAL_LAYOUTS = {
    "mug": "ROOT/<subject>/<expression>/<take>/<frame>.jpg (subjects 002, 003, 049: ROOT/<subject>/session0|session1/...)",
    "mhad": "ROOT/a<action>_s<subject>_t<trial>_color.avi (or ROOT/RGB/...)",
    "natops": "ROOT/gGGsSSpPP/gGGsSSpPP-<index>-<source>.png (preprocessed), or ROOT/gestureGG/gGGsSS.avi + segmentation.txt",
}


class MissingRootError(ValueError):
    """A real dataset was asked for without the folder holding the user's copy."""


@dataclass
class DatasetInfo:
    """A dataset as the rest of the toolkit sees it.

    Attributes:
        name: registry name (or the manifest path).
        class_names: class names, indexed by ``VideoRecord.class_index``.
        class_texts: condition text of each class (what the text encoder embeds).
        records: every video, with its split.
        root: the dataset folder (real data) or the folder of the manifest (synthetic data).
        crop: the default crop box applied to the frames (``None``: no crop); also in each record's
            ``params["crop"]``, which :class:`~lfdm_bench.data.dataset.ClipDataset` uses by default.
        notes: what the loader excluded or worked around (shown by ``data info``).
    """

    name: str
    class_names: list[str]
    class_texts: list[str]
    records: list[VideoRecord]
    root: Path
    crop: CropBox | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def split(self, split: str | None) -> list[VideoRecord]:
        """Records of ``train`` / ``test`` (``None`` or ``both``: all)."""
        if split not in (None, "both", "train", "test"):
            raise ValueError(f"split must be 'train', 'test', 'both' or None, got {split!r}")
        return filter_records(self.records, split=split)

    def subjects(self, split: str | None = None) -> list[str]:
        """Sorted subjects of a split."""
        return sorted({r.subject for r in self.split(split)})

    def summary(self) -> dict:
        """Counts per split, class and subject (see :func:`lfdm_bench.data.records.summarize`)."""
        return summarize(self.records)


def _load_manifest_dataset(path: Path) -> DatasetInfo:
    records = read_manifest(path)
    meta_path = path.parent / "dataset.json"
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        class_names, class_texts = list(meta["class_names"]), list(meta["class_texts"])
    else:
        by_index: dict[int, VideoRecord] = {}
        for r in records:
            by_index.setdefault(r.class_index, r)
        n = max(by_index) + 1 if by_index else 0
        class_names = [by_index[i].class_name if i in by_index else f"class{i}" for i in range(n)]
        class_texts = [by_index[i].text if i in by_index else class_names[i] for i in range(n)]
    bad = [r.path for r in records if r.class_index >= len(class_names)]
    if bad:
        raise ValueError(f"{path}: class_index beyond the {len(class_names)} classes of {meta_path} (e.g. {bad[0]})")
    return DatasetInfo(name=str(path), class_names=class_names, class_texts=class_texts, records=records,
                       root=path.parent, crop=None, notes=[f"manifest: {path}"])


def _load_synthetic(name: str, root: str | os.PathLike | None, options: dict[str, Any]) -> DatasetInfo:
    from lfdm_bench.data.synth.make import ensure_synthetic  # lazy: generation code is heavy and optional

    manifest = Path(ensure_synthetic(name, root=Path(root) if root is not None else None, **options))
    info = _load_manifest_dataset(manifest)
    info.name = name
    return info


def get_dataset(name: str, root: str | os.PathLike | None = None, **options: Any) -> DatasetInfo:
    """Load a dataset by registry name (or manifest path).

    Args:
        name: one of :data:`DATASETS`, or a path to a manifest ``.csv``.
        root: synthetic data: where to generate / find it (default: the cache); real data: the folder of the
            user's copy (required).
        **options: synthetic data: overrides forwarded to ``ensure_synthetic``; ``mhad`` / ``natops``:
            ``crop`` (``True``: LFDM's box, ``False``: none, or a box); ``natops``: ``layout``
            (``auto``/``frames``/``raw``) and ``segmentation`` (path of ``segmentation.txt``).

    Raises:
        ValueError: unknown name (the message lists the valid ones).
        MissingRootError: a real dataset without ``root`` (CLI: ``--root``).
        DatasetLayoutError: ``root`` does not match the dataset's layout.
    """
    if name in SYNTHETIC_DATASETS:
        return _load_synthetic(name, root, options)
    if name in REAL_DATASETS:
        if root is None:
            raise MissingRootError(
                f"dataset {name!r} is read from your own copy, which cannot be downloaded here: pass root=PATH "
                f"(CLI: --root PATH) pointing at a folder laid out as {_REAL_LAYOUTS[name]}"
            )
        if name == "mug":
            from lfdm_bench.data.real.mug import load_mug

            return load_mug(root, **options)
        if name == "mhad":
            from lfdm_bench.data.real.mhad import load_mhad

            return load_mhad(root, **options)
        from lfdm_bench.data.real.natops import load_natops

        return load_natops(root, **options)
    path = Path(str(name)).expanduser()
    if path.suffix.lower() == ".csv":
        if options:
            raise TypeError(f"a manifest dataset takes no options, got {sorted(options)}")
        return _load_manifest_dataset(path)
    raise ValueError(f"unknown dataset {name!r}; valid names: {', '.join(DATASETS)}, or a path to a manifest .csv")
