"""What the rest of the toolkit sees of a dataset: :class:`DatasetInfo` (classes, texts, records, crop, notes).

Every loader returns one (the real-data loaders of :mod:`lfdm_bench.data.real`, the manifest and synthetic loaders
of :mod:`lfdm_bench.data.registry`); it lives apart from the registry so that the loaders need not import the
registry that imports them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lfdm_bench.data.records import CropBox, VideoRecord, filter_records, summarize


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
        """Records of ``train`` / ``test`` / ``val`` (``None`` or ``both``: all); a dataset without validation
        subjects (the real ones: fixed train / test splits) raises ``ValueError`` for ``val``."""
        if split not in (None, "both", "train", "test", "val"):
            raise ValueError(f"split must be 'train', 'test', 'val', 'both' or None, got {split!r}")
        out = filter_records(self.records, split=split)
        if split == "val" and not out:
            raise ValueError(f"dataset {self.name} has no validation ('val') subjects: only the embedded datasets "
                             "(synth-faces, synth-actions) render them (data.options.n_val_subjects); the real "
                             "datasets' train / test splits are fixed, so settings cannot be chosen on held-out "
                             "subjects there (lfdm-bench bench: --set ablation.samplers=[] keeps the run configs' "
                             "samplers)")
        return out

    def subjects(self, split: str | None = None) -> list[str]:
        """Sorted subjects of a split."""
        return sorted({r.subject for r in self.split(split)})

    def summary(self) -> dict:
        """Counts per split, class and subject (see :func:`lfdm_bench.data.records.summarize`)."""
        return summarize(self.records)
