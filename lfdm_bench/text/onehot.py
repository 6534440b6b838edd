"""One-hot class condition: a model-free alternative (and ablation) to the BERT text embedding."""

from __future__ import annotations

from typing import Sequence

import torch

from lfdm_bench.text.base import TextEncoder, TextEncoderError, check_texts, duplicated
from lfdm_bench.utils.io import stable_hash


class OneHotClassEncoder(TextEncoder):
    """Maps a class name to its one-hot row: ``encode(names) -> [N, C]`` float32, ``C = len(class_names)``.

    Args:
        class_names: the dataset's classes in index order (unique, non-empty strings). Matching
            is exact (case and spaces matter), as class names are used verbatim as text.
    """

    def __init__(self, class_names: Sequence[str]) -> None:
        names = check_texts(class_names)
        if not names:
            raise TextEncoderError("OneHotClassEncoder needs at least one class name")
        duplicates = duplicated(names)
        if duplicates:
            raise TextEncoderError(f"class names must be unique; duplicated: {duplicates}")
        self.class_names: tuple[str, ...] = tuple(names)
        self._index = {name: i for i, name in enumerate(names)}

    @property
    def dim(self) -> int:
        """Number of classes C."""
        return len(self.class_names)

    def indices(self, texts: Sequence[str]) -> torch.Tensor:
        """Class index of each text -> ``[N]`` int64.

        Raises:
            TextEncoderError: a text is not one of the class names (the valid ones are listed).
        """
        texts = check_texts(texts)
        unknown = sorted({t for t in texts if t not in self._index})
        if unknown:
            raise TextEncoderError(
                f"unknown class name(s) {unknown}; valid class names are {list(self.class_names)}"
            )
        return torch.tensor([self._index[t] for t in texts], dtype=torch.long)

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        """One-hot rows -> ``[N, C]`` float32 on the CPU (exactly one 1.0 per row)."""
        idx = self.indices(texts)  # [N]
        return torch.nn.functional.one_hot(idx, num_classes=self.dim).to(torch.float32)  # [N, C]

    def identity(self) -> str:
        """``onehot:C=<C>:<hash of the ordered class names>`` (order matters: it defines the axes)."""
        return f"onehot:C={self.dim}:{stable_hash(list(self.class_names))}"

    def __repr__(self) -> str:
        return f"OneHotClassEncoder(num_classes={self.dim})"
