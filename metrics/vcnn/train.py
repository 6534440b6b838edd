"""Training, validation and export of a VCNN detector (deterministic on CPU: one thread, fixed seeds).

Objective (every head is linear on the D-dimensional feature, so the feature itself must carry what they read):

* class cross-entropy (the expression / action: motion);
* subject-identity cross-entropy over the corpus' training subjects (fine appearance);
* appearance attributes of the subject (colours and shapes regressed, standardised; hair style, background
  pattern, glasses / hat / earrings or clothes as categorical targets): appearance that transfers to unseen subjects;
* motion attributes of the take (onset, rise / duration, amplitude, per-control jitter, cycles, blinks ...):
  how the class is performed.

Validation: linear probes (:class:`metrics.probe.LinearProbe`) on the standardised features, fitted on the
training takes and scored on the held-out take, for class and subject; and on subjects never trained on.

Exported weights are stored in float16 (the standardisation buffers in float32); standardisation statistics,
validation figures and pinned reference features are computed from the float16-rounded weights, so they are what the
shipped file reproduces.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from lfdm_bench.utils.params import count_params

from metrics.vcnn.corpus import MOTION_EXCLUDE, AttributeSchema, Corpus
from metrics.vcnn.model import VCNN, VCNNConfig, prepare_videos

__all__ = ["DetectorTrainConfig", "TrainedDetector", "deterministic", "train_vcnn", "corpus_features", "validate",
           "pinned_rows", "export_detector", "FORMAT_VERSION"]

FORMAT_VERSION = 1
LogFn = Callable[[str], None]
FP32_BUFFERS = ("feat_mean", "feat_std")


@dataclass(frozen=True)
class DetectorTrainConfig:
    """Optimisation settings (stored in the detector's metadata).

    Attributes:
        steps: AdamW steps.
        batch_size: videos per step.
        lr: peak learning rate (linear warm-up over ``warmup_steps``, cosine decay to ``lr * final_lr_ratio``).
        weight_decay: AdamW weight decay.
        seed: seed of the initialisation and of the batch order.
        threads: torch threads (1: bit-reproducible on one machine).
        w_class, w_subject, w_appearance, w_motion: loss weights.
        log_every: steps between loss lines.
    """

    steps: int = 600
    batch_size: int = 32
    lr: float = 2e-3
    warmup_steps: int = 20
    final_lr_ratio: float = 0.05
    weight_decay: float = 1e-4
    seed: int = 0
    threads: int = 1
    w_class: float = 1.0
    w_subject: float = 1.0
    w_appearance: float = 1.0
    w_motion: float = 0.5
    log_every: int = 25

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 2 or self.threads < 1:
            raise ValueError(f"DetectorTrainConfig needs steps >= 1, batch_size >= 2, threads >= 1; got {self}")

    def lr_at(self, step: int) -> float:
        if step < self.warmup_steps:
            return self.lr * (step + 1) / self.warmup_steps
        p = (step - self.warmup_steps) / max(self.steps - self.warmup_steps, 1)
        return self.lr * (self.final_lr_ratio + (1 - self.final_lr_ratio) * 0.5 * (1 + math.cos(math.pi * p)))


@dataclass
class TrainedDetector:
    """A trained (float16-rounded, standardised) model with what describes it."""

    model: VCNN
    config: VCNNConfig
    train: DetectorTrainConfig
    appearance_schema: AttributeSchema
    motion_schema: AttributeSchema
    history: list[dict[str, float]]
    seconds: float
    validation: dict[str, Any] = field(default_factory=dict)


@contextlib.contextmanager
def deterministic(threads: int) -> Iterator[None]:
    """One torch thread count and deterministic algorithms inside the block (restored afterwards)."""
    old_threads, old_det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.set_num_threads(old_threads)
        torch.use_deterministic_algorithms(old_det)


def _masked_mse(pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    return ((pred - target) ** 2 * mask).sum() / mask.sum().clamp(min=1)


def _multi_ce(logits: Tensor, target: Tensor, cards: tuple[int, ...]) -> Tensor:
    """Mean cross-entropy over categorical attributes (logits concatenated; target -100 = missing)."""
    losses, start = [], 0
    for j, k in enumerate(cards):
        valid = target[:, j] != -100
        if valid.any():
            losses.append(F.cross_entropy(logits[valid, start:start + k], target[valid, j]))
        start += k
    return torch.stack(losses).mean() if losses else logits.sum() * 0.0


def _targets(corpus: Corpus, app: AttributeSchema, mot: AttributeSchema) -> dict[str, Tensor]:
    subj = corpus.subject_index
    a = app.encode(corpus.appearances)
    m = mot.encode(corpus.motions, MOTION_EXCLUDE)
    return {"class": corpus.class_index, "subject": subj, "app_num": a["num"][subj], "app_mask": a["num_mask"][subj],
            "app_cat": a["cat"][subj], "mot_num": m["num"], "mot_mask": m["num_mask"], "mot_cat": m["cat"]}


def _loss(model: VCNN, x: Tensor, t: dict[str, Tensor], cfg: DetectorTrainConfig) -> tuple[Tensor, dict[str, float]]:
    out = model.heads(model.embed(x))
    c = model.config
    parts = {
        "class": F.cross_entropy(out["class"], t["class"]),
        "subject": F.cross_entropy(out["subject"], t["subject"]),
        "appearance": (_masked_mse(out["app_num"][:, :c.appearance_numeric], t["app_num"], t["app_mask"])
                       + _multi_ce(out["app_cat"], t["app_cat"], c.appearance_categorical)),
        "motion": (_masked_mse(out["mot_num"][:, :c.motion_numeric], t["mot_num"], t["mot_mask"])
                   + _multi_ce(out["mot_cat"], t["mot_cat"], c.motion_categorical)),
    }
    total = (cfg.w_class * parts["class"] + cfg.w_subject * parts["subject"] + cfg.w_appearance * parts["appearance"]
             + cfg.w_motion * parts["motion"])
    return total, {k: float(v.detach()) for k, v in parts.items()} | {"total": float(total.detach())}


def _round_fp16_(model: VCNN) -> None:
    """Round every parameter and non-standardisation buffer to float16 precision, in place (what is shipped)."""
    with torch.no_grad():
        for name, t in list(model.named_parameters()) + list(model.named_buffers()):
            if t.is_floating_point() and name not in FP32_BUFFERS:
                t.copy_(t.half().float())


def corpus_features(model: VCNN, videos: Tensor, *, raw: bool = False, batch_size: int = 64) -> np.ndarray:
    """Features float64 ``[N, D]`` of uint8 videos ``[N, T, 3, S, S]`` (standardised unless ``raw``)."""
    model.eval()
    out = []
    with torch.inference_mode():
        for s in range(0, videos.shape[0], batch_size):
            x = prepare_videos(videos[s:s + batch_size], model.config.input_size)
            out.append((model.embed(x) if raw else model(x)).double())
    return torch.cat(out).numpy()


def train_vcnn(corpus: Corpus, config: DetectorTrainConfig, *, width: int = 32, feature_dim: int = 16, groups: int = 8,
               log_fn: LogFn | None = None) -> TrainedDetector:
    """Train on the corpus' training subjects and takes; returns the float16-rounded, standardised detector
    (validation not yet run: :func:`validate`)."""
    say = log_fn or (lambda s: None)
    train_rows = corpus.rows(heldout=False, takes="train")
    trained_apps = corpus.appearances[:corpus.spec.n_subjects]
    app = AttributeSchema.fit(trained_apps)
    mot = AttributeSchema.fit([corpus.motions[i] for i in train_rows], MOTION_EXCLUDE)
    arch = VCNNConfig(width=width, feature_dim=feature_dim, input_size=corpus.spec.read_size,
                      frames=int(corpus.videos.shape[1]), groups=groups, n_classes=corpus.n_classes,
                      n_subjects=corpus.spec.n_subjects, appearance_numeric=app.n_numeric,
                      appearance_categorical=app.cardinalities, motion_numeric=mot.n_numeric,
                      motion_categorical=mot.cardinalities)
    targets = _targets(corpus, app, mot)
    history: list[dict[str, float]] = []
    t0 = time.perf_counter()
    with deterministic(config.threads):
        torch.manual_seed(config.seed)
        model = VCNN(arch)
        model.train()
        opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        rng = np.random.default_rng(config.seed)
        order = np.empty(0, dtype=np.int64)
        running: dict[str, float] = {}
        for step in range(config.steps):
            if order.size < config.batch_size:
                order = np.concatenate([order, rng.permutation(train_rows)])
            idx, order = torch.from_numpy(order[:config.batch_size].copy()), order[config.batch_size:]
            for g in opt.param_groups:
                g["lr"] = config.lr_at(step)
            x = prepare_videos(corpus.videos[idx], arch.input_size)
            loss, parts = _loss(model, x, {k: v[idx] for k, v in targets.items()}, config)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            for k, v in parts.items():
                running[k] = running.get(k, 0.0) + v
            if (step + 1) % config.log_every == 0 or step + 1 == config.steps:
                n = (step % config.log_every) + 1
                row = {"step": step + 1, "lr": config.lr_at(step), "seconds": round(time.perf_counter() - t0, 2)}
                row |= {k: round(v / n, 5) for k, v in running.items()}
                history.append(row)
                running = {}
                say(" ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()))
        _round_fp16_(model)
        raw = corpus_features(model, corpus.videos[train_rows], raw=True)
        with torch.no_grad():
            model.feat_mean.copy_(torch.from_numpy(raw.mean(axis=0)).float())
            model.feat_std.copy_(torch.from_numpy(raw.std(axis=0)).float().clamp(min=1e-6))
    return TrainedDetector(model=model.eval(), config=arch, train=config, appearance_schema=app, motion_schema=mot,
                           history=history, seconds=time.perf_counter() - t0)


def validate(trained: TrainedDetector, corpus: Corpus, *, threads: int = 1) -> dict[str, Any]:
    """Linear-probe accuracies (and the heads' own) on held-out corpus videos; stored in ``trained.validation``."""
    from metrics.probe import probe_accuracy

    with deterministic(threads):
        feats = corpus_features(trained.model, corpus.videos)
        with torch.inference_mode():
            heads = trained.model.heads(torch.from_numpy(feats).float() * trained.model.feat_std
                                        + trained.model.feat_mean)
    cls, subj = corpus.class_index.numpy(), corpus.subject_index.numpy()
    tr, va = corpus.rows(heldout=False, takes="train"), corpus.rows(heldout=False, takes="val")
    n_cls, n_subj = corpus.n_classes, corpus.spec.n_subjects
    out: dict[str, Any] = {"features": f"standardised {trained.config.feature_dim}-d",
                           "probe": "softmax regression, L-BFGS, l2 1e-2, standardised features "
                                    "(metrics.probe)"}
    pc = probe_accuracy((feats[tr], cls[tr]), {"heldout_take": (feats[va], cls[va])}, n_cls)
    ps = probe_accuracy((feats[tr], subj[tr]), {"heldout_take": (feats[va], subj[va])}, n_subj)
    out["class"] = {"heldout_take": pc["heldout_take"]["accuracy"], "train_fit": pc["train_fit"],
                    "chance": 1 / n_cls, "n_train": len(tr), "n_eval": len(va)}
    out["subject"] = {"heldout_take": ps["heldout_take"]["accuracy"], "train_fit": ps["train_fit"],
                      "chance": 1 / n_subj, "n_train": len(tr), "n_eval": len(va)}
    if corpus.spec.n_heldout_subjects >= 2:
        hs = corpus.rows(heldout=True, takes="all")
        htr, hva = corpus.rows(heldout=True, takes="train"), corpus.rows(heldout=True, takes="val")
        out["class"]["unseen_subjects"] = probe_accuracy(
            (feats[tr], cls[tr]), {"u": (feats[hs], cls[hs])}, n_cls)["u"]["accuracy"]
        out["class"]["n_unseen"] = len(hs)
        local = {s: i for i, s in enumerate(sorted(set(subj[hs].tolist())))}
        loc = np.array([local.get(int(s), -1) for s in subj])
        out["subject_unseen"] = {
            "heldout_take": probe_accuracy((feats[htr], loc[htr]), {"u": (feats[hva], loc[hva])},
                                           len(local))["u"]["accuracy"],
            "chance": 1 / len(local), "n_subjects": len(local), "n_train": len(htr), "n_eval": len(hva),
            "what": "probe fitted on the unseen subjects' training takes, scored on their held-out take"}
    out["heads"] = {"class_heldout_take": float((heads["class"][va].argmax(1).numpy() == cls[va]).mean()),
                    "subject_heldout_take": float((heads["subject"][va].argmax(1).numpy() == subj[va]).mean())}
    trained.validation = out
    return out


def pinned_rows(corpus: Corpus, n_subjects: int = 2) -> np.ndarray:
    """Rows whose features are pinned in the metadata: take 0 of every class of subjects 0..n_subjects-1 (a tiny
    dataset with the corpus' seed, ``n_subjects=n_subjects, n_takes=1`` renders exactly these videos)."""
    sel = (corpus.subject_index.numpy() < n_subjects) & (corpus.take_index.numpy() == 0)
    return np.flatnonzero(sel)


def export_detector(trained: TrainedDetector, corpus: Corpus, out_dir: str | Path, name: str, *, command: str,
                    extra: dict[str, Any] | None = None) -> tuple[Path, Path]:
    """Write ``<name>.pt`` (float16 state dict, float32 standardisation) and ``<name>.json`` (metadata; written last,
    both atomically). Returns both paths."""
    from lfdm_bench.utils.io import atomic_save, atomic_write_json, sha256_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: (v.detach().clone().float() if k in FP32_BUFFERS else v.detach().clone().half())
             for k, v in trained.model.state_dict().items()}
    pt = out / f"{name}.pt"

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:  # through a file object: the archive's record names do not depend on the
            torch.save(state, f)    # (random) temporary file name, so equal weights give a byte-identical file
    atomic_save(pt, write)
    rows = pinned_rows(corpus)
    pinned = corpus_features(trained.model, corpus.videos[rows])
    spec = corpus.spec
    names = {r.class_index: r.class_name for r in corpus.records}
    meta = {
        "format": FORMAT_VERSION,
        "name": name,
        "kind": "embedded-domain",
        "dataset": spec.dataset,
        "comparable_with_published": False,
        "note": (f"VCNN trained on a {spec.dataset} corpus rendered with seed {spec.seed}: an embedded-domain "
                 "detector; its FVDs are internal to this benchmark, not comparable with published (Kinetics I3D) "
                 "FVDs"),
        "weights": {"file": pt.name, "sha256": sha256_file(pt), "bytes": pt.stat().st_size,
                    "dtype": "float16 (feat_mean / feat_std float32)", "n_parameters":
                        count_params(trained.model)},
        "architecture": trained.config.to_dict() | {"class": "metrics.vcnn.model.VCNN"},
        "input": {"layout": "[B, T, 3, H, W] uint8 or float in [0, 1]", "resize": "see metrics.vcnn.model",
                  "size": trained.config.input_size, "frames_trained": trained.config.frames},
        "corpus": spec.to_dict() | {
            "n_videos": int(corpus.videos.shape[0]), "class_names": [names[i] for i in range(len(names))],
            "fingerprints": corpus.fingerprints, "fingerprint": "sha256 of the appearance dict's canonical JSON [:16]",
            "benchmark_check": corpus.benchmark_check},
        "targets": {"appearance": trained.appearance_schema.to_dict(), "motion": trained.motion_schema.to_dict()},
        "training": asdict(trained.train) | {"seconds": round(trained.seconds, 1),
                                             "final": trained.history[-1] if trained.history else None,
                                             "first": trained.history[0] if trained.history else None,
                                             "torch": torch.__version__, "deterministic_algorithms": True},
        "validation": trained.validation,
        "pinned": {"what": "standardised features of take 0 of every class of corpus subjects 0 and 1 (a dataset "
                           f"make_config({spec.dataset!r}, seed={spec.seed}, n_subjects=2, n_takes=1, size={spec.size},"
                           f" frames={spec.frames}) read at {spec.read_size} px renders exactly these videos)",
                   "keys": [corpus.records[i].key for i in rows],
                   "features": np.round(pinned, 6).tolist()},
        "command": command,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
    } | (extra or {})
    js = out / f"{name}.json"
    atomic_write_json(js, meta)
    return pt, js


def history_lines(history: list[dict[str, float]]) -> str:
    return "\n".join(json.dumps(h) for h in history)
