"""Factories: a :class:`TextEncoderConfig` -> a text encoder, or straight to a class-embedding table."""

from __future__ import annotations

import os
from typing import Sequence

from lfdm_bench.text.base import TextEncoder, TextEncoderConfig, TextEncoderError
from lfdm_bench.text.bert import BertTextEncoder
from lfdm_bench.text.cache import ClassEmbeddingTable
from lfdm_bench.text.onehot import OneHotClassEncoder
from lfdm_bench.utils.paths import cache_dir


def build_text_encoder(cfg: TextEncoderConfig, class_names: Sequence[str] | None = None) -> TextEncoder:
    """Build the encoder ``cfg`` describes (no weights are loaded yet for ``kind='bert'``).

    Args:
        cfg: the text-condition config.
        class_names: the dataset's classes in index order; required for ``kind='onehot'``,
            ignored for ``kind='bert'``.

    Raises:
        TextEncoderError: bad model path (see :func:`~lfdm_bench.text.bert.resolve_model_dir`),
            or ``kind='onehot'`` without ``class_names``.
    """
    if not isinstance(cfg, TextEncoderConfig):
        raise TextEncoderError(
            f"expected a TextEncoderConfig, got {type(cfg).__name__}; use TextEncoderConfig.from_dict(...)"
        )
    if cfg.kind == "bert":
        return BertTextEncoder.from_config(cfg)
    if class_names is None:
        raise TextEncoderError("TextEncoderConfig(kind='onehot') needs class_names (the dataset's classes in order)")
    return OneHotClassEncoder(class_names)


def build_class_embedding_table(
    cfg: TextEncoderConfig,
    class_texts: Sequence[str],
    cache_dir: str | os.PathLike | None = None,
) -> ClassEmbeddingTable:
    """Embed a dataset's class texts once -> a ``[C, D]`` :class:`ClassEmbeddingTable`.

    With ``cache_dir`` (e.g. ``lfdm_bench.utils.paths.cache_dir("text")``) the rows are read from
    disk when present and BERT is not even loaded.
    """
    encoder = build_text_encoder(cfg, class_names=class_texts)
    return ClassEmbeddingTable.build(encoder, class_texts, cache_dir=cache_dir)


def class_table(cfg: TextEncoderConfig, class_texts: Sequence[str]) -> ClassEmbeddingTable:
    """The class-text table of a diffusion model: BERT embeddings computed once (cached on disk under the cache
    root's ``text/``), or one-hot rows (identity ``onehot``)."""
    texts = list(class_texts)
    if cfg.kind == "onehot":
        return ClassEmbeddingTable(OneHotClassEncoder(texts).encode(texts), texts, identity="onehot")
    return build_class_embedding_table(cfg, texts, cache_dir=cache_dir("text"))
