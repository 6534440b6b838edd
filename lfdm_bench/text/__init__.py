"""Text / class condition encoders (LFDM embeds the class name with a frozen BERT).

Typical use::

    cfg = TextEncoderConfig(kind="bert", model="minilm")        # or model="/path/to/bert-base-cased"
    table = build_class_embedding_table(cfg, ["anger", "disgust", ...], cache_dir=...)
    cond = table(class_idx)                                     # [B] int64 -> [B, D] float32

Importing this package loads no model.
"""

from lfdm_bench.text.base import TextEncoder, TextEncoderConfig, TextEncoderError
from lfdm_bench.text.bert import BertTextEncoder, load_pretrained_bert, pool_hidden_states, resolve_model_dir
from lfdm_bench.text.cache import ClassEmbeddingTable, clear_memory_cache, embedding_cache_path
from lfdm_bench.text.encoders import build_class_embedding_table, build_text_encoder, class_table
from lfdm_bench.text.onehot import OneHotClassEncoder

__all__ = [
    "BertTextEncoder",
    "ClassEmbeddingTable",
    "OneHotClassEncoder",
    "TextEncoder",
    "TextEncoderConfig",
    "TextEncoderError",
    "build_class_embedding_table",
    "build_text_encoder",
    "class_table",
    "clear_memory_cache",
    "embedding_cache_path",
    "load_pretrained_bert",
    "pool_hidden_states",
    "resolve_model_dir",
]
