"""Per-dataset class embeddings, computed once and cached in memory and on disk.

LFDM re-runs BERT on the class names of every training batch. The class set is fixed, so here the
C class texts are embedded once into a ``[C, D]`` table, looked up by class index during training
and sampling, and stored as a buffer: it moves with the model (``.to(device)``) and lands in
checkpoints, so sampling and evaluation never need the text encoder again.

Cache key = sha256 of (encoder identity, ordered class texts, format version). On disk each
entry is ``<cache_dir>/text_emb_<key>.pt`` holding ``{"format", "identity", "class_texts",
"embeddings"}``, written atomically (temporary file + ``os.replace``) and re-validated on read.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from lfdm_bench.text.base import TextEncoder, TextEncoderError, check_texts, duplicated
from lfdm_bench.utils.io import atomic_torch_save, stable_hash

CACHE_FORMAT = 1
# cache key -> [C, D] float32 CPU embeddings, shared by every table built in this process.
_MEMORY: dict[str, torch.Tensor] = {}


def clear_memory_cache() -> None:
    """Forget the in-process embeddings (disk entries are kept)."""
    _MEMORY.clear()


def embedding_cache_key(identity: str, class_texts: Sequence[str]) -> str:
    """32-hex key of an (encoder identity, ordered class texts) pair."""
    return stable_hash({"format": CACHE_FORMAT, "identity": identity, "texts": list(class_texts)}, n=32)


def embedding_cache_path(cache_dir: str | os.PathLike, identity: str, class_texts: Sequence[str]) -> Path:
    """Where :meth:`ClassEmbeddingTable.build` keeps this entry under ``cache_dir``."""
    return _entry_path(cache_dir, embedding_cache_key(identity, class_texts))


def _entry_path(cache_dir: str | os.PathLike, key: str) -> Path:
    return Path(cache_dir) / f"text_emb_{key}.pt"


def _read_entry(path: Path, identity: str, class_texts: list[str], dim: int) -> torch.Tensor | None:
    """The cached ``[C, D]`` embeddings at ``path``, or None when absent, unreadable or not matching."""
    if not path.is_file():
        return None
    try:
        entry = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated/corrupt file from another tool: recompute, never crash
        reason = (str(exc).splitlines() or [type(exc).__name__])[0]
        warnings.warn(f"ignoring unreadable text-embedding cache {str(path)!r} ({reason}); recomputing")
        return None
    expected = (len(class_texts), dim)
    ok = (
        isinstance(entry, dict)
        and entry.get("format") == CACHE_FORMAT
        and entry.get("identity") == identity
        and entry.get("class_texts") == class_texts
        and isinstance(entry.get("embeddings"), torch.Tensor)
        and tuple(entry["embeddings"].shape) == expected
        and entry["embeddings"].dtype == torch.float32
    )
    if not ok:
        warnings.warn(f"text-embedding cache {str(path)!r} does not match its key {expected}; recomputing")
        return None
    return entry["embeddings"]


class ClassEmbeddingTable(nn.Module):
    """Frozen ``[C, D]`` class-embedding lookup: ``table(class_indices [B]) -> [B, D]``.

    Args:
        embeddings: ``[C, D]`` float tensor, row ``c`` = embedding of ``class_texts[c]``.
        class_texts: the C texts, in class-index order.
        identity: the encoder identity that produced the rows ("" if unknown).

    ``embeddings`` is a persistent buffer (moves with ``.to()``, saved in ``state_dict``, never
    trained). To restore from a checkpoint without the encoder, construct with a zero tensor of the
    right shape and the stored texts, then ``load_state_dict``. Build from an encoder with :meth:`build`.
    """

    embeddings: torch.Tensor

    def __init__(self, embeddings: torch.Tensor, class_texts: Sequence[str], identity: str = "") -> None:
        super().__init__()
        texts = check_texts(class_texts)
        if not isinstance(embeddings, torch.Tensor) or embeddings.ndim != 2 or not embeddings.is_floating_point():
            raise TextEncoderError(
                f"embeddings must be a [C, D] float tensor, got "
                f"{tuple(embeddings.shape) if isinstance(embeddings, torch.Tensor) else type(embeddings).__name__}"
            )
        if embeddings.shape[0] != len(texts):
            raise TextEncoderError(
                f"embeddings has {embeddings.shape[0]} rows but {len(texts)} class texts were given"
            )
        self.class_texts: tuple[str, ...] = tuple(texts)
        self.identity = identity
        self.source = "given"  # "computed" | "memory" | "disk" when made by build()
        self.register_buffer("embeddings", embeddings.detach().clone(), persistent=True)

    @classmethod
    def build(
        cls,
        encoder: TextEncoder,
        class_texts: Sequence[str],
        cache_dir: str | os.PathLike | None = None,
    ) -> "ClassEmbeddingTable":
        """Embed ``class_texts`` with ``encoder`` once, reusing the memory or disk cache.

        Args:
            encoder: any :class:`TextEncoder`; only its ``identity()`` and ``dim`` are used on a hit,
                so a lazily loaded BERT is never loaded when the entry exists.
            class_texts: the dataset's C class texts in index order (unique, non-empty list).
            cache_dir: directory for ``.pt`` entries (created on demand); None keeps memory only.

        Returns:
            A table whose ``source`` says where the rows came from.
        """
        texts = check_texts(class_texts)
        if not texts:
            raise TextEncoderError("class_texts is empty: a class-embedding table needs at least one class")
        duplicates = duplicated(texts)
        if duplicates:
            raise TextEncoderError(
                f"class texts must be unique (equal texts give equal embeddings, making classes "
                f"indistinguishable); duplicated: {duplicates}"
            )
        identity = encoder.identity()
        key = embedding_cache_key(identity, texts)
        path = None if cache_dir is None else _entry_path(cache_dir, key)

        source = "memory"
        embeddings = _MEMORY.get(key)
        if embeddings is None and path is not None:
            embeddings, source = _read_entry(path, identity, texts, encoder.dim), "disk"
        if embeddings is None:
            embeddings, source = encoder.encode(texts), "computed"  # [C, D]
            if tuple(embeddings.shape) != (len(texts), encoder.dim) or embeddings.dtype != torch.float32:
                raise TextEncoderError(
                    f"{type(encoder).__name__}.encode returned {tuple(embeddings.shape)} {embeddings.dtype}; "
                    f"expected ({len(texts)}, {encoder.dim}) torch.float32"
                )
            embeddings = embeddings.detach().cpu()
        if path is not None and (source == "computed" or (source == "memory" and not path.is_file())):
            entry = {"format": CACHE_FORMAT, "identity": identity, "class_texts": texts, "embeddings": embeddings}
            atomic_torch_save(entry, path)
        _MEMORY[key] = embeddings
        table = cls(embeddings, texts, identity)  # clones, so the cached tensor stays untouched
        table.source = source
        return table

    @property
    def num_classes(self) -> int:
        return self.embeddings.shape[0]

    @property
    def dim(self) -> int:
        return self.embeddings.shape[1]

    def indices_of(self, texts: Sequence[str]) -> torch.Tensor:
        """Class indices of ``texts`` -> ``[N]`` int64 (unknown texts raise, listing the valid ones)."""
        texts = check_texts(texts)
        row = {t: i for i, t in enumerate(self.class_texts)}
        unknown = sorted({t for t in texts if t not in row})
        if unknown:
            raise TextEncoderError(f"unknown class text(s) {unknown}; valid ones are {list(self.class_texts)}")
        return torch.tensor([row[t] for t in texts], dtype=torch.long)

    def forward(self, class_indices: torch.Tensor | Sequence[int]) -> torch.Tensor:
        """Look up rows: integer ``[B]`` (any shape ``[...]``) -> ``[B, D]`` (``[..., D]``).

        The range is checked for CPU indices; accelerator indices are not synchronised for a check.
        """
        idx = torch.as_tensor(class_indices)
        if idx.is_floating_point() or idx.is_complex() or idx.dtype == torch.bool:
            raise TextEncoderError(f"class_indices must be an integer tensor, got {idx.dtype}")
        if idx.device.type == "cpu" and idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= self.num_classes):
            raise TextEncoderError(
                f"class_indices must lie in [0, {self.num_classes}), got min {int(idx.min())} max {int(idx.max())}"
            )
        return self.embeddings[idx.to(self.embeddings.device)]

    def __getitem__(self, class_indices: torch.Tensor | Sequence[int]) -> torch.Tensor:
        """``table[class_indices]``: same as calling the table."""
        return self(class_indices)

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}, dim={self.dim}, identity={self.identity!r}"
