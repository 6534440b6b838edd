"""The detector corpus: embedded-dataset videos rendered with another seed, sharing no subject with the benchmark.

A :class:`CorpusSpec` names a synthetic dataset rendered exactly like the benchmark's data (same generators, same
``size`` / ``frames``, the same mp4 encoding through :func:`~lfdm_bench.data.synth.make.ensure_synthetic`, read back at
the evaluation resolution through the evaluation's clip reader) but with a different master ``seed``, so every
subject (appearance) and every take (motion) is a new draw. The first ``n_subjects`` subjects train the detector; the
last ``n_heldout_subjects`` are never trained on and measure how the features generalise to unseen faces / figures.

**No subject shared.** A subject *is* its appearance dict (:func:`~lfdm_bench.data.synth.make.subject_appearance`:
colours, shapes, accessories, background; independent of style, size and frames). :func:`appearance_fingerprint`
hashes it; :func:`load_corpus` refuses a corpus whose fingerprints meet those of the benchmark's subjects (both
splits, the benchmark's default seed), and the detector stores its corpus fingerprints so that every dataset it
evaluates is checked again (:func:`check_no_shared_subjects`). Fingerprints only catch exact copies, so
:func:`check_nearest_subjects` also finds each benchmark subject's nearest corpus subject in appearance space (the
Gower distance of :func:`appearance_distances` over the same appearance dicts) and refuses a corpus with one closer
than :data:`MIN_APPEARANCE_DISTANCE`; the detector stores each benchmark subject's nearest corpus subject and the
minimum distance (``corpus.benchmark_check.nearest`` of its metadata; ``lfdm-bench detector info`` recomputes it).

**Targets.** Besides class and subject, the detector regresses / classifies the generating parameters of what it sees:
the subject's appearance and the take's motion, flattened by :class:`AttributeSchema` (numbers -> standardised
regression targets, strings / booleans / optional parts -> categorical targets; missing entries are masked).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

from lfdm_bench.data.records import VideoRecord

__all__ = [
    "BENCHMARK_SEED",
    "DEFAULT_CORPORA",
    "CorpusSpec",
    "Corpus",
    "AttributeSchema",
    "SubjectOverlapError",
    "appearance_fingerprint",
    "record_fingerprints",
    "synthetic_fingerprints",
    "check_no_shared_subjects",
    "MIN_APPEARANCE_DISTANCE",
    "appearance_distances",
    "synthetic_appearances",
    "nearest_subjects",
    "check_nearest_subjects",
    "benchmark_nearest",
    "load_corpus",
]

BENCHMARK_SEED = 0
"""Seed of the benchmark's embedded datasets (``configs/*-cpu.yaml`` leave ``data.options.seed`` at its default)."""
LogFn = Callable[[str], None]


class SubjectOverlapError(ValueError):
    """A subject of the detector's training corpus appears in a dataset it is asked to evaluate (or vice versa)."""


@dataclass(frozen=True)
class CorpusSpec:
    """Which videos train the detector (stored in its metadata).

    Attributes:
        dataset: ``synth-faces`` or ``synth-actions``.
        seed: master seed of the corpus rendering; must differ from the benchmark's (``0``).
        n_subjects: subjects trained on (identity head classes).
        n_heldout_subjects: further subjects never trained on (validation of unseen appearances).
        n_takes: takes per (subject, class).
        val_take: the take held out from training (validation: linear probes fitted on the other takes).
        size, frames: rendering resolution and clip length (the benchmark's ``data.options``: 64, 16).
        read_size: resolution the clips are read at (the benchmark's ``data.size``: 32).
    """

    dataset: str
    seed: int = 1000
    n_subjects: int = 64
    n_heldout_subjects: int = 8
    n_takes: int = 3
    val_take: int = 2
    size: int = 64
    frames: int = 16
    read_size: int = 32

    def __post_init__(self) -> None:
        if self.seed == BENCHMARK_SEED:
            raise ValueError(f"CorpusSpec.seed must differ from the benchmark's seed {BENCHMARK_SEED}")
        if self.n_subjects < 2 or self.n_heldout_subjects < 0:
            raise ValueError(f"CorpusSpec needs n_subjects >= 2 and n_heldout_subjects >= 0, got "
                             f"{self.n_subjects} and {self.n_heldout_subjects}")
        if not 0 <= self.val_take < self.n_takes or self.n_takes < 2:
            raise ValueError(f"CorpusSpec.val_take must be in [0, n_takes) with n_takes >= 2, got val_take="
                             f"{self.val_take}, n_takes={self.n_takes}")

    @property
    def total_subjects(self) -> int:
        return self.n_subjects + self.n_heldout_subjects

    def synth_options(self) -> dict[str, Any]:
        """Options of :func:`~lfdm_bench.data.synth.make.ensure_synthetic` that render this corpus."""
        return {"seed": self.seed, "n_subjects": self.total_subjects, "n_takes": self.n_takes, "size": self.size,
                "frames": self.frames}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


DEFAULT_CORPORA: dict[str, CorpusSpec] = {
    # 72 x 7 x 3 = 1512 videos (~3 min to render once on one core); 64 x 7 x 2 = 896 training videos
    "synth-faces": CorpusSpec("synth-faces", seed=1000, n_subjects=64, n_heldout_subjects=8),
    # 56 x 12 x 3 = 2016 videos; 48 x 12 x 2 = 1152 training videos
    "synth-actions": CorpusSpec("synth-actions", seed=1000, n_subjects=48, n_heldout_subjects=8),
}


# ------------------------------------------------------------------------------------------------ fingerprints
def appearance_fingerprint(appearance: Mapping[str, Any]) -> str:
    """A 16-hex-digit sha256 of a subject's appearance dict (canonical JSON, keys sorted)."""
    if not isinstance(appearance, Mapping) or not appearance:
        raise ValueError(f"an appearance must be a non-empty dict, got {appearance!r}")
    text = json.dumps(appearance, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def record_fingerprints(records: Iterable[VideoRecord]) -> dict[str, str]:
    """Subject -> appearance fingerprint for the records that carry ``params["appearance"]`` (synthetic data).

    Returns ``{}`` for datasets without appearances (real data). Raises ``ValueError`` when one subject's records
    carry different appearances (a corrupt manifest).
    """
    out: dict[str, str] = {}
    for r in records:
        app = (r.params or {}).get("appearance")
        if not app:
            continue
        fp = appearance_fingerprint(app)
        if out.setdefault(r.subject, fp) != fp:
            raise ValueError(f"subject {r.subject!r} carries two different appearances (e.g. in {r.path})")
    return out


def synthetic_appearances(dataset: str, seed: int = BENCHMARK_SEED, n_subjects: int | None = None) -> dict[str, dict]:
    """Subject id -> appearance dict of a synthetic dataset's subjects, computed without rendering anything.

    ``n_subjects=None`` takes the dataset's default (52 faces, 16 figures): the benchmark's subjects.
    """
    from lfdm_bench.data.synth.make import make_config, subject_appearance, subject_ids

    opts = {"seed": seed} | ({"n_subjects": n_subjects} if n_subjects is not None else {})
    config = make_config(dataset, **opts)
    return {sid: subject_appearance(config, i) for i, sid in enumerate(subject_ids(config))}


def synthetic_fingerprints(dataset: str, seed: int = BENCHMARK_SEED, n_subjects: int | None = None) -> dict[str, str]:
    """Subject id -> fingerprint of :func:`synthetic_appearances`."""
    return {sid: appearance_fingerprint(a) for sid, a in synthetic_appearances(dataset, seed, n_subjects).items()}


def check_no_shared_subjects(corpus: Mapping[str, str], other: Mapping[str, str], *, corpus_name: str,
                             other_name: str) -> int:
    """Raise :class:`SubjectOverlapError` if a fingerprint of ``corpus`` (subject -> fp) is in ``other``.

    Returns the number of ``other`` subjects checked (0: the other set carries no appearances; nothing to check).
    """
    theirs: dict[str, list[str]] = {}
    for sid, fp in other.items():
        theirs.setdefault(fp, []).append(sid)
    shared = sorted((sid, theirs[fp]) for sid, fp in corpus.items() if fp in theirs)
    if shared:
        pairs = ", ".join(f"{a} = {'/'.join(b)}" for a, b in shared[:5])
        raise SubjectOverlapError(
            f"{len(shared)} subject(s) of {corpus_name} also appear in {other_name} ({pairs}"
            f"{', ...' if len(shared) > 5 else ''}): the detector would have been trained on evaluated subjects. "
            "Render the corpus with another seed (lfdm-bench detector train --corpus-seed N) or evaluate another "
            "dataset.")
    return len(other)


# ------------------------------------------------------------------------------------------------ nearest subjects
MIN_APPEARANCE_DISTANCE = 0.1
"""The smallest Gower distance (:func:`appearance_distances`) allowed between a benchmark subject and its nearest
corpus subject. Independent draws of the generators lie 0.19-0.26 apart at the closest (synth-faces: the 52
benchmark subjects from each other 0.19, from the 72 corpus subjects 0.21; synth-actions: 0.26 and 0.21); a copied
subject with a few attributes changed lies near 0 and passes the fingerprint check."""


def appearance_distances(a: Sequence[Mapping[str, Any]], b: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """Gower distances ``[len(a), len(b)]`` between appearance dicts: the mean, over the attributes of
    :func:`flatten_attributes` that both dicts have and that vary, of ``|x - y| / range`` for numbers (range over
    ``a`` and ``b`` together) and of ``x != y`` for categories. 0: the same appearance; 1: every attribute as far
    apart as the two sets allow."""
    fa, fb = [flatten_attributes(x) for x in a], [flatten_attributes(x) for x in b]
    total, weight = np.zeros((len(fa), len(fb))), np.zeros((len(fa), len(fb)))
    for k in sorted({k for f in fa + fb for k in f}):
        va, vb = [f.get(k) for f in fa], [f.get(k) for f in fb]
        have = np.array([v is not None for v in va])[:, None] & np.array([v is not None for v in vb])[None]
        vals = [v for v in va + vb if v is not None]
        if all(isinstance(v, float) for v in vals):
            span = max(vals) - min(vals)
            if span <= 0:
                continue
            xa, xb = (np.array([0.0 if v is None else v for v in vs]) for vs in (va, vb))
            d = np.abs(xa[:, None] - xb[None]) / span
        else:
            if len({str(v) for v in vals}) < 2:
                continue
            d = np.array([[str(x) != str(y) for y in vb] for x in va], dtype=np.float64)
        total += np.where(have, d, 0.0)
        weight += have
    return total / np.maximum(weight, 1)


def nearest_subjects(corpus: Mapping[str, Mapping[str, Any]], other: Mapping[str, Mapping[str, Any]],
                     splits: Mapping[str, str] | None = None) -> dict[str, Any]:
    """For each subject of ``other`` (id -> appearance) its nearest subject of ``corpus`` and their distance
    (:func:`appearance_distances`), with the minimum over ``other``; ``splits``: subject id -> split, stored."""
    c_ids, o_ids = sorted(corpus), sorted(other)
    d = appearance_distances([other[s] for s in o_ids], [corpus[s] for s in c_ids])  # [other, corpus]
    near = d.argmin(1)
    per = {s: {"nearest": c_ids[j], "distance": round(float(d[i, j]), 6)} | (
        {"split": splits[s]} if splits and s in splits else {}) for i, (s, j) in enumerate(zip(o_ids, near))}
    i = int(d[np.arange(len(o_ids)), near].argmin())
    return {"metric": "Gower distance of the appearance dicts (numbers: |x - y| / range, categories: mismatch)",
            "min_distance": per[o_ids[i]]["distance"], "closest": [o_ids[i], per[o_ids[i]]["nearest"]],
            "threshold": MIN_APPEARANCE_DISTANCE, "per_subject": per}


def check_nearest_subjects(corpus: Mapping[str, Mapping[str, Any]], other: Mapping[str, Mapping[str, Any]], *,
                           corpus_name: str, other_name: str, splits: Mapping[str, str] | None = None
                           ) -> dict[str, Any]:
    """:func:`nearest_subjects`, raising :class:`SubjectOverlapError` when a subject of ``other`` lies closer than
    :data:`MIN_APPEARANCE_DISTANCE` to one of ``corpus`` (a near copy)."""
    near = nearest_subjects(corpus, other, splits)
    close = [(s, v) for s, v in near["per_subject"].items() if v["distance"] < MIN_APPEARANCE_DISTANCE]
    if close:
        pairs = ", ".join(f"{s} ~ {v['nearest']} ({v['distance']:.3g})" for s, v in close[:5])
        raise SubjectOverlapError(
            f"{len(close)} subject(s) of {other_name} lie within appearance distance {MIN_APPEARANCE_DISTANCE} of a "
            f"subject of {corpus_name} ({pairs}): near copies of evaluated subjects. Render the corpus with another "
            "seed (lfdm-bench detector train --corpus-seed N).")
    return near


def benchmark_nearest(spec: CorpusSpec) -> dict[str, Any]:
    """:func:`check_nearest_subjects` of the benchmark's subjects (both splits, seed :data:`BENCHMARK_SEED`) against
    the corpus of ``spec``, computed from the generators (nothing rendered)."""
    from lfdm_bench.data.synth.make import make_config, split_subjects

    splits = {s: k for k, ss in split_subjects(make_config(spec.dataset, seed=BENCHMARK_SEED)).items() for s in ss}
    return check_nearest_subjects(synthetic_appearances(spec.dataset, spec.seed, spec.total_subjects),
                                  synthetic_appearances(spec.dataset, BENCHMARK_SEED), splits=splits,
                                  corpus_name=f"the detector corpus (seed {spec.seed})",
                                  other_name=f"the benchmark's {spec.dataset} (seed {BENCHMARK_SEED})")


# ------------------------------------------------------------------------------------------------ targets
def _flatten(d: Mapping[str, Any], prefix: str, out: dict[str, Any], exclude: frozenset[str]) -> None:
    for k in sorted(d):
        key, v = f"{prefix}{k}", d[k]
        if key in exclude:
            continue
        if v is None:
            out[f"{key}?"] = "none"
        elif isinstance(v, Mapping):
            out[f"{key}?"] = "present"
            _flatten(v, f"{key}.", out, exclude)
        elif isinstance(v, bool):
            out[key] = "true" if v else "false"
        elif isinstance(v, (int, float, np.integer, np.floating)):
            out[key] = float(v)
        elif isinstance(v, str):
            out[key] = v
        elif isinstance(v, (list, tuple)):
            if all(isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool) for x in v):
                out[f"{key}#"] = float(len(v))
                for i, x in enumerate(v):
                    out[f"{key}[{i}]"] = float(x)
            else:
                out[key] = json.dumps(v, sort_keys=True)


def flatten_attributes(d: Mapping[str, Any], exclude: Iterable[str] = ()) -> dict[str, Any]:
    """Flatten a generating-parameter dict: ``{"glasses": {"shape": "round"}}`` -> ``{"glasses?": "present",
    "glasses.shape": "round"}``; numbers -> float, numeric lists -> ``key#`` (length) and ``key[i]``, ``None`` ->
    ``key?: "none"``, booleans -> ``"true"`` / ``"false"``."""
    out: dict[str, Any] = {}
    _flatten(d, "", out, frozenset(exclude))
    return out


@dataclass
class AttributeSchema:
    """Regression and classification targets derived from generating-parameter dicts.

    Attributes:
        numeric: keys regressed (standardised by ``mean`` / ``std`` over the rows that have them).
        mean, std: per numeric key.
        categorical: key -> its sorted vocabulary (>= 2 values).
    """

    numeric: list[str]
    mean: list[float]
    std: list[float]
    categorical: dict[str, list[str]]

    @classmethod
    def fit(cls, dicts: Sequence[Mapping[str, Any]], exclude: Iterable[str] = ()) -> AttributeSchema:
        """Keys that vary over ``dicts`` (constant ones carry no information and are dropped)."""
        flat = [flatten_attributes(d, exclude) for d in dicts]
        keys = sorted({k for f in flat for k in f})
        numeric, mean, std, categorical = [], [], [], {}
        for k in keys:
            vals = [f[k] for f in flat if k in f]
            if all(isinstance(v, float) for v in vals):
                arr = np.asarray(vals, dtype=np.float64)
                if arr.size >= 2 and arr.std() > 1e-9:
                    numeric.append(k)
                    mean.append(float(arr.mean()))
                    std.append(float(arr.std()))
            else:
                vocab = sorted({str(v) for v in vals})
                if len(vocab) >= 2:
                    categorical[k] = vocab
        return cls(numeric, mean, std, categorical)

    @property
    def n_numeric(self) -> int:
        return len(self.numeric)

    @property
    def cardinalities(self) -> tuple[int, ...]:
        return tuple(len(v) for v in self.categorical.values())

    def encode(self, dicts: Sequence[Mapping[str, Any]], exclude: Iterable[str] = ()) -> dict[str, Tensor]:
        """``{"num": float [N, K], "num_mask": bool [N, K], "cat": long [N, C]}`` (missing categorical: -100)."""
        flat = [flatten_attributes(d, exclude) for d in dicts]
        n = len(flat)
        num = torch.zeros(n, self.n_numeric)
        mask = torch.zeros(n, self.n_numeric, dtype=torch.bool)
        cat = torch.full((n, len(self.categorical)), -100, dtype=torch.long)
        for i, f in enumerate(flat):
            for j, k in enumerate(self.numeric):
                if k in f and isinstance(f[k], float):
                    num[i, j] = (f[k] - self.mean[j]) / self.std[j]
                    mask[i, j] = True
            for j, (k, vocab) in enumerate(self.categorical.items()):
                if k in f and str(f[k]) in vocab:
                    cat[i, j] = vocab.index(str(f[k]))
        return {"num": num, "num_mask": mask, "cat": cat}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


MOTION_EXCLUDE = ("cls", "jitter", "time_jitter", "angle_jitter")
"""Motion keys not used directly as targets: ``cls`` (the class has its own head) and the per-control / per-keyframe
jitters (mostly invisible one by one; what they do is in the trajectory below)."""
TRAJECTORY_FRAMES = (3, 7, 11, 15)
"""Frames (of 16) at which the rendered motion's trajectory is regressed."""


def motion_targets(dataset: str, appearance: Mapping[str, Any], motion: Mapping[str, Any], frames: int) -> dict:
    """The take's scalar parameters plus its *trajectory*: what the renderer actually moves, sampled at
    :data:`TRAJECTORY_FRAMES` (scaled to ``frames``): synth-faces, every expression control (brows, eyelids, mouth,
    jaw, head pose, blink) from :func:`~lfdm_bench.data.synth.faces.expression_controls`; synth-actions, every limb
    segment's 3-D direction and the torso's lean / pitch from :func:`~lfdm_bench.data.synth.actions.pose_sequence`."""
    from lfdm_bench.data.synth import actions, faces

    at = sorted({min(frames - 1, round(f * (frames - 1) / 15)) for f in TRAJECTORY_FRAMES})
    traj: dict[str, float] = {}
    if dataset == "synth-faces":
        for k, v in faces.expression_controls(dict(motion), frames).items():
            traj |= {f"{k}@{t}": float(v[t]) for t in at}
    elif dataset == "synth-actions":
        for k, v in actions.pose_sequence(dict(appearance), dict(motion), frames).items():
            v = np.asarray(v)
            if v.ndim == 1:
                traj |= {f"{k}@{t}": float(v[t]) for t in at}
            else:
                traj |= {f"{k}{'xyz'[j]}@{t}": float(v[t, j]) for t in at for j in range(v.shape[1])}
    else:
        raise ValueError(f"no motion trajectory for dataset {dataset!r}")
    return dict(motion) | {"trajectory": traj}


# ------------------------------------------------------------------------------------------------ the corpus
@dataclass
class Corpus:
    """Decoded corpus videos and their labels (rows in manifest order: subject, class, take).

    Attributes:
        spec: what was rendered.
        videos: uint8 ``[N, T, 3, S, S]`` at ``spec.read_size``.
        class_index, subject_index, take_index: long ``[N]``.
        heldout: bool ``[N]``, True for the subjects never trained on.
        records: the videos' records.
        appearances: subject index -> appearance dict; motions: one dict per row (:func:`motion_targets`).
        fingerprints: subject id -> appearance fingerprint.
        benchmark_check: what the corpus was checked against at load time.
        seconds: time spent rendering (when it had to) and decoding.
    """

    spec: CorpusSpec
    videos: Tensor
    class_index: Tensor
    subject_index: Tensor
    take_index: Tensor
    heldout: Tensor
    records: list[VideoRecord]
    appearances: list[dict]
    motions: list[dict]
    fingerprints: dict[str, str]
    benchmark_check: dict[str, Any]
    seconds: float

    @property
    def n_classes(self) -> int:
        return int(self.class_index.max()) + 1

    def rows(self, *, heldout: bool, takes: str) -> np.ndarray:
        """Row indices of trained (``heldout=False``) or held-out subjects; ``takes``: ``train``, ``val`` or ``all``."""
        sel = self.heldout.numpy() == heldout
        if takes == "train":
            sel &= self.take_index.numpy() != self.spec.val_take
        elif takes == "val":
            sel &= self.take_index.numpy() == self.spec.val_take
        elif takes != "all":
            raise ValueError(f"takes must be 'train', 'val' or 'all', got {takes!r}")
        return np.flatnonzero(sel)


def load_corpus(spec: CorpusSpec, *, root: str | None = None, progress: bool = False,
                log_fn: LogFn | None = None) -> Corpus:
    """Render (once, cached) and decode the corpus of ``spec``; refuse it if it shares a subject with the benchmark.

    Args:
        spec: the corpus.
        root: parent folder of the rendered dataset (default: the dataset cache, ``$LFDM_BENCH_CACHE/datasets``).
        progress: progress bars while rendering / decoding.
        log_fn: where progress lines go.
    """
    from lfdm_bench.data.records import read_manifest
    from lfdm_bench.data.synth.make import SYNTH_DATASETS, ensure_synthetic
    from metrics.video_features import ClipSpec, iter_clip_batches

    say = log_fn or (lambda s: None)
    if spec.dataset not in SYNTH_DATASETS:
        raise ValueError(f"the detector corpus must be an embedded dataset {sorted(SYNTH_DATASETS)}, "
                         f"got {spec.dataset!r}")
    t0 = time.perf_counter()
    bench_fps = synthetic_fingerprints(spec.dataset, BENCHMARK_SEED)
    manifest = ensure_synthetic(spec.dataset, root=root, progress=progress, **spec.synth_options())
    records = read_manifest(manifest)
    fps = record_fingerprints(records)
    checked = check_no_shared_subjects(fps, bench_fps, corpus_name=f"the detector corpus (seed {spec.seed})",
                                       other_name=f"the benchmark's {spec.dataset} (seed {BENCHMARK_SEED})")
    near = benchmark_nearest(spec)
    say(f"corpus {spec.dataset} seed {spec.seed}: {len(records)} videos from {manifest}; no subject shared with the "
        f"{checked} benchmark subjects, the nearest pair {near['closest']} at appearance distance "
        f"{near['min_distance']:.3f} (>= {MIN_APPEARANCE_DISTANCE})")
    clips = ClipSpec(n_frames=spec.frames, size=spec.read_size, sampling="uniform", seed=0, use_record_crop=True)
    chunks = [v for _, v in iter_clip_batches(records, clips, 64, progress, desc="decoding corpus")]
    videos = torch.cat(chunks)  # [N, T, 3, S, S] uint8
    subj = torch.tensor([int(r.params["subject_index"]) for r in records])
    apps: dict[int, dict] = {}
    for r in records:
        apps.setdefault(int(r.params["subject_index"]), r.params["appearance"])
    return Corpus(
        spec=spec, videos=videos, class_index=torch.tensor([r.class_index for r in records]), subject_index=subj,
        take_index=torch.tensor([int(r.params["take_index"]) for r in records]), heldout=subj >= spec.n_subjects,
        records=records, appearances=[apps[i] for i in range(spec.total_subjects)],
        motions=[motion_targets(spec.dataset, r.params["appearance"], r.params["motion"], spec.frames)
                 for r in records], fingerprints=fps,
        benchmark_check={"dataset": spec.dataset, "seed": BENCHMARK_SEED, "n_subjects_checked": checked,
                         "nearest": near},
        seconds=time.perf_counter() - t0)
