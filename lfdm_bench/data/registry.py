"""Dataset registry: one name -> one :class:`DatasetInfo` (classes, texts, records, crop, notes).

Names:

- ``synth-faces``, ``synth-actions``: the embedded synthetic datasets, generated (once, cached) by
  ``lfdm_bench.data.synth.make.ensure_synthetic``; options (``size``, ``frames``, ``n_subjects``, ``n_takes``,
  ``seed``, ``style``, ``n_val_subjects``, ``val_seed``, ``progress``) are forwarded to it; besides the train and test
  subjects they hold ``val`` subjects rendered with another seed (``ensure_validation``), on which settings are chosen.
- the real datasets' splits are fixed (train / test): they have no ``val`` split, and asking for one is an error.
- ``mug``, ``mhad``, ``natops``: the paper's real datasets read from a user's copy (``root`` required); see
  :mod:`lfdm_bench.data.real`.
- a path to a manifest ``.csv`` (with an optional ``dataset.json`` beside it holding ``class_names`` and
  ``class_texts``): any dataset described by records.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from lfdm_bench.data.info import DatasetInfo, MissingRootError
from lfdm_bench.data.real import mhad, mug, natops
from lfdm_bench.data.records import VideoRecord, read_manifest
from lfdm_bench.data.synth.make import ensure_synthetic, ensure_validation

SYNTHETIC_DATASETS: tuple[str, ...] = ("synth-faces", "synth-actions")
REAL_DATASETS: tuple[str, ...] = ("mug", "mhad", "natops")
DATASETS: tuple[str, ...] = SYNTHETIC_DATASETS + REAL_DATASETS

# name -> (loader, the layout it reads, as its module states it)
_REAL_LOADERS = {
    "mug": (mug.load_mug, mug.LAYOUT),
    "mhad": (mhad.load_mhad, mhad.LAYOUT),
    "natops": (natops.load_natops, f"{natops.FRAMES_LAYOUT} (preprocessed), or {natops.RAW_LAYOUT}"),
}


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
    bad = [f"row {i + 2}: class_index {r.class_index} is outside the {len(class_names)} classes"
           for i, r in enumerate(records) if r.class_index >= len(class_names)]
    bad += [f"row {i + 2}: class_index {r.class_index} is {class_names[r.class_index]!r} but class_name says "
            f"{r.class_name!r}" for i, r in enumerate(records)
            if r.class_index < len(class_names) and class_names[r.class_index] != r.class_name]
    if bad:
        listed = f"the class list of {meta_path}" if meta_path.is_file() else "the classes its rows name"
        raise ValueError(f"manifest {path} disagrees with {listed}: {'; '.join(bad[:3])}"
                         f"{f' (and {len(bad) - 3} more)' if len(bad) > 3 else ''}")
    return DatasetInfo(name=str(path), class_names=class_names, class_texts=class_texts, records=records,
                       root=path.parent, crop=None, notes=[f"manifest: {path}"])


def _load_synthetic(name: str, root: str | os.PathLike | None, options: dict[str, Any]) -> DatasetInfo:
    """The train and test subjects, then the validation subjects (rendered with another seed; see
    :func:`lfdm_bench.data.synth.make.ensure_validation`)."""
    root = Path(root) if root is not None else None
    manifest = Path(ensure_synthetic(name, root=root, **options))
    info = _load_manifest_dataset(manifest)
    val = ensure_validation(name, root=root, **options)
    if val is not None:
        info.records += read_manifest(val)
        info.notes.append(f"validation subjects: {val}")
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
        load, layout = _REAL_LOADERS[name]
        if root is None:
            raise MissingRootError(
                f"dataset {name!r} is read from your own copy, which cannot be downloaded here: pass root=PATH "
                f"(CLI: --root PATH) pointing at a folder laid out as {layout}"
            )
        return load(root, **options)
    path = Path(str(name)).expanduser()
    if path.suffix.lower() == ".csv":
        if options:
            raise TypeError(f"a manifest dataset takes no options, got {sorted(options)}")
        return _load_manifest_dataset(path)
    raise ValueError(f"unknown dataset {name!r}; valid names: {', '.join(DATASETS)}, or a path to a manifest .csv")
