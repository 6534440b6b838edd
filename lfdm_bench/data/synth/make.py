"""Generate the embedded synthetic datasets once into a cache: mp4 videos, a manifest and ``dataset.json``.

``ensure_synthetic("synth-faces")`` returns the manifest of a complete cached copy, generating it first if needed.
The cache folder is ``cache_dir('datasets') / f"{name}-{hash}"`` (or under ``root``), the hash covering the whole
:class:`SynthConfig` and the generator :data:`VERSION`. Videos are written atomically; ``manifest.csv``,
``dataset.json`` and finally the ``COMPLETE`` marker are written last, so a generation killed midway is never
taken as complete: the next call resumes it (videos already on disk are kept, the rest are rendered).

Folder layout: ``videos/<subject>/<class index>-<class slug>-t<take>.mp4`` (lossless H.264, yuv444p),
``manifest.csv`` (one :class:`~lfdm_bench.data.records.VideoRecord` per video; ``params`` holds the subject's
``appearance``, the take's ``motion``, ``subject_index``, ``take_index`` and ``style``), ``dataset.json`` (``name``,
``version``, ``config``, ``class_names``, ``class_texts``, ``splits``, ``subjects`` (appearances), ``n_videos``,
``generation_seconds``, ``mp4``; ``mhad_ids`` for ``synth-actions``) and ``COMPLETE``.

Every video is a pure function of ``(config, subject, class, take)``: appearance and motion are drawn from
generators seeded by ``(seed, dataset, subject[, class, take])``, so the order of generation, the number of
subjects and the style do not change any other video; the styles (``flat``, ``shaded``, ``sketch``) render the
same subjects performing the same motions.

**Validation split.** ``n_val_subjects`` further subjects (``v001``, ...; split ``val``) are rendered with another
master seed (``val_seed``, default ``seed +`` :data:`VAL_SEED_OFFSET`) into a folder of their own beside the main one
(``{name}-val-{hash}``, written by :func:`ensure_validation`): every choice of settings (sampler, guidance, ...) is
made on them, never on the test subjects. They share no appearance with the train and test subjects (checked when
they are generated; the detector's corpus is checked against every evaluated record at evaluation time). The main
folder's key leaves the validation fields out, so the train / test videos and their folder are what they were.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Callable

import numpy as np

from lfdm_bench.data.records import VideoRecord, read_manifest, write_manifest
from lfdm_bench.data.synth import actions, faces
from lfdm_bench.data.synth.render import STYLES
from lfdm_bench.utils.io import atomic_write_json, atomic_write_text, stable_hash

VAL_SEED_OFFSET = 100  # validation subjects: master seed + this (the detector corpora use 1000)
VAL_FIELDS = ("n_val_subjects", "val_seed")  # not in the main folder's key: they change no train / test video
VERSION = 1  # bump when the generators change what they draw: the cache key changes with it
MANIFEST = "manifest.csv"
INFO = "dataset.json"
COMPLETE = "COMPLETE"
MP4_CRF = 0  # lossless H.264 (yuv444p): only the RGB <-> YUV rounding remains, and equal frames decode equal


@dataclass(frozen=True)
class SynthDatasetSpec:
    """One embedded dataset: its classes, defaults and generator functions.

    ``sample_subject(rng) -> dict`` draws an appearance, ``sample_motion(rng, class_index, frames) -> dict`` a
    take, ``render(appearance, motion, size, frames, style) -> uint8 [T, H, W, 3]`` draws it.
    """

    name: str
    key: int
    class_names: tuple[str, ...]
    class_texts: tuple[str, ...]
    n_subjects: int
    n_takes: int
    stands_in_for: str
    sample_subject: Callable
    sample_motion: Callable
    render: Callable
    extra: dict


SYNTH_DATASETS: dict[str, SynthDatasetSpec] = {
    "synth-faces": SynthDatasetSpec(
        "synth-faces", 1, faces.CLASS_NAMES, faces.CLASS_TEXTS, 52, 3, "MUG facial expressions",
        faces.sample_face, faces.sample_expression, faces.render_face, {}),
    "synth-actions": SynthDatasetSpec(
        "synth-actions", 2, actions.CLASS_NAMES, actions.CLASS_TEXTS, 16, 3, "UTD-MHAD / NATOPS actions",
        actions.sample_figure, actions.sample_action, actions.render_action, {"mhad_ids": list(actions.MHAD_IDS)}),
}


def _spec(name: str) -> SynthDatasetSpec:
    if name not in SYNTH_DATASETS:
        raise ValueError(f"unknown synthetic dataset {name!r}; expected one of {sorted(SYNTH_DATASETS)}")
    return SYNTH_DATASETS[name]


@dataclass(frozen=True)
class SynthConfig:
    """Everything that determines a synthetic dataset (and its cache key).

    Attributes:
        name: ``synth-faces`` or ``synth-actions``.
        n_subjects: number of subjects (``None``: the dataset's default, 52 faces / 16 figures).
        n_takes: takes per (subject, class) (``None``: 3).
        size: frame height = width in pixels, 32 to 128.
        frames: frames per video, 8 to 64.
        seed: master seed (>= 0); the same seed gives identical videos.
        fps: frame rate written into the mp4 files.
        style: ``flat`` (default), or ``shaded`` / ``sketch``: the same subjects and motions in a shifted
            appearance domain (for the new-domain experiment).
        n_train_subjects: subjects in the train split (``None``: half); the rest are test subjects.
        n_val_subjects: validation subjects, rendered with ``val_seed`` apart from the train / test ones (``None``:
            a quarter of ``n_subjects``, at least 2: 13 faces, 4 figures; ``0``: no validation split).
        val_seed: master seed of the validation subjects (``None``: ``seed +`` :data:`VAL_SEED_OFFSET`); must differ
            from ``seed``.
    """

    name: str = "synth-faces"
    n_subjects: int | None = None
    n_takes: int | None = None
    size: int = 64
    frames: int = 16
    seed: int = 0
    fps: int = 10
    style: str = "flat"
    n_train_subjects: int | None = None
    n_val_subjects: int | None = None
    val_seed: int | None = None

    def __post_init__(self) -> None:
        spec = _spec(self.name)
        if self.n_subjects is None:
            object.__setattr__(self, "n_subjects", spec.n_subjects)
        if self.n_takes is None:
            object.__setattr__(self, "n_takes", spec.n_takes)
        if self.n_train_subjects is None:
            object.__setattr__(self, "n_train_subjects", self.n_subjects // 2)
        if self.n_val_subjects is None:
            object.__setattr__(self, "n_val_subjects", max(2, self.n_subjects // 4))
        if self.val_seed is None and isinstance(self.seed, (int, np.integer)):
            object.__setattr__(self, "val_seed", self.seed + VAL_SEED_OFFSET)
        for f in ("n_subjects", "n_takes", "size", "frames", "seed", "fps", "n_train_subjects", "n_val_subjects",
                  "val_seed"):
            val = getattr(self, f)
            if not isinstance(val, (int, np.integer)) or isinstance(val, bool):
                raise TypeError(f"SynthConfig.{f} must be an int, got {val!r}")
        checks = [("n_subjects", self.n_subjects >= 2, ">= 2"), ("n_takes", self.n_takes >= 1, ">= 1"),
                  ("size", 32 <= self.size <= 128, "in [32, 128]"), ("frames", 8 <= self.frames <= 64, "in [8, 64]"),
                  ("seed", self.seed >= 0, ">= 0"), ("fps", self.fps >= 1, ">= 1"),
                  ("n_train_subjects", 1 <= self.n_train_subjects < self.n_subjects, "in [1, n_subjects - 1]"),
                  ("n_val_subjects", self.n_val_subjects == 0 or self.n_val_subjects >= 2, "0 or >= 2"),
                  ("val_seed", self.val_seed >= 0 and self.val_seed != self.seed, f">= 0 and not seed {self.seed}")]
        for f, ok, want in checks:
            if not ok:
                raise ValueError(f"SynthConfig.{f} must be {want}, got {getattr(self, f)}")
        if self.style not in STYLES:
            raise ValueError(f"SynthConfig.style must be one of {STYLES}, got {self.style!r}")

    @property
    def spec(self) -> SynthDatasetSpec:
        return _spec(self.name)

    @property
    def n_videos(self) -> int:
        return self.n_subjects * len(self.spec.class_names) * self.n_takes

    def cache_key(self) -> str:
        """``{name}-{hash}``: the hash covers every field but :data:`VAL_FIELDS`, and :data:`VERSION`."""
        config = {k: v for k, v in asdict(self).items() if k not in VAL_FIELDS}
        return f"{self.name}-{stable_hash({'config': config, 'version': VERSION})}"


def validation_config(config: SynthConfig) -> SynthConfig:
    """The config that renders ``config``'s validation subjects: its ``val_seed`` as master seed, ``n_val_subjects``
    subjects (all in the ``val`` split, see :func:`dataset_records`), everything else the same."""
    if not config.n_val_subjects:
        raise ValueError(f"{config.name}: n_val_subjects is 0, there is no validation split")
    return replace(config, seed=config.val_seed, n_subjects=config.n_val_subjects, n_train_subjects=1,
                   n_val_subjects=0, val_seed=config.seed)


def validation_key(config: SynthConfig) -> str:
    """``{name}-val-{hash}``: the folder of ``config``'s validation subjects (never a main folder's key)."""
    vc = validation_config(config)
    return f"{config.name}-val-{stable_hash({'config': asdict(vc), 'version': VERSION, 'split': 'val'})}"


def make_config(name: str, **overrides) -> SynthConfig:
    """The dataset's default config with ``overrides``; an unknown key is an error naming the valid ones."""
    valid = {f.name for f in fields(SynthConfig)} - {"name"}
    bad = sorted(set(overrides) - valid)
    if bad:
        raise TypeError(f"unknown SynthConfig option(s) {bad}; valid options: {sorted(valid)}")
    return SynthConfig(name=name, **overrides)


def subject_ids(config: SynthConfig) -> list[str]:
    return [f"s{i + 1:03d}" for i in range(config.n_subjects)]


def split_subjects(config: SynthConfig) -> dict[str, list[str]]:
    """Subjects of each split (a seeded permutation; sorted within each split)."""
    ids = subject_ids(config)
    perm = np.random.default_rng([config.seed, config.spec.key, 2, config.n_subjects]).permutation(len(ids))
    train = sorted(ids[i] for i in perm[:config.n_train_subjects])
    return {"train": train, "test": sorted(set(ids) - set(train))}


def subject_appearance(config: SynthConfig, subject: int) -> dict:
    """The appearance of subject ``subject`` (0-based); independent of the style, size and frames."""
    return config.spec.sample_subject(np.random.default_rng([config.seed, config.spec.key, 0, subject]))


def take_motion(config: SynthConfig, subject: int, class_index: int, take: int) -> dict:
    """The motion of one take; independent of the style and size."""
    rng = np.random.default_rng([config.seed, config.spec.key, 1, subject, class_index, take])
    return config.spec.sample_motion(rng, class_index, config.frames)


def render_take(config: SynthConfig, subject: int, class_index: int, take: int) -> np.ndarray:
    """Render one video without touching the disk: uint8 ``[frames, size, size, 3]``."""
    spec = config.spec
    if not 0 <= subject < config.n_subjects:
        raise ValueError(f"subject must be in [0, {config.n_subjects}), got {subject}")
    if not 0 <= class_index < len(spec.class_names):
        raise ValueError(f"class_index must be in [0, {len(spec.class_names)}), got {class_index}")
    if not 0 <= take < config.n_takes:
        raise ValueError(f"take must be in [0, {config.n_takes}), got {take}")
    return spec.render(subject_appearance(config, subject), take_motion(config, subject, class_index, take),
                       config.size, config.frames, config.style)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def dataset_records(config: SynthConfig, folder: str | os.PathLike, validation: bool = False) -> list[VideoRecord]:
    """The records of every video of the dataset (paths under ``folder/videos``), ordered by subject, class, take.

    ``validation``: ``config`` is a :func:`validation_config`; its subjects are ``v001``, ... in the ``val`` split."""
    spec, folder = config.spec, Path(folder)
    split_of = {s: k for k, ss in split_subjects(config).items() for s in ss}
    ids = subject_ids(config)
    if validation:
        split_of = {f"v{s[1:]}": "val" for s in ids}
        ids = list(split_of)
    out = []
    for i, sid in enumerate(ids):
        app = subject_appearance(config, i)
        for c, (cname, text) in enumerate(zip(spec.class_names, spec.class_texts)):
            for k in range(config.n_takes):
                out.append(VideoRecord(
                    path=str(folder / "videos" / sid / f"{c:02d}-{_slug(cname)}-t{k}.mp4"), subject=sid,
                    class_index=c, class_name=cname, text=text, split=split_of[sid], take=f"t{k}",
                    n_frames=config.frames, params={"subject_index": i, "take_index": k, "style": config.style,
                                                    "appearance": app, "motion": take_motion(config, i, c, k)}))
    return out


def cache_folder(config: SynthConfig, root: str | os.PathLike | None = None) -> Path:
    """Where ``config`` is cached: ``root / config.cache_key()`` (default root: ``cache_dir('datasets')``)."""
    if root is None:
        from lfdm_bench.utils.paths import cache_dir

        root = cache_dir("datasets")
    return Path(root) / config.cache_key()


def is_complete(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` holds a completely generated dataset (its ``COMPLETE`` marker is written last)."""
    folder = Path(folder)
    return all((folder / f).is_file() for f in (COMPLETE, INFO, MANIFEST))


def _damaged(folder: Path) -> str | None:
    """Why a cached dataset whose ``dataset.json`` or manifest cannot be read (truncated by
    a crash or a full disk, edited), else None. The videos are not decoded here: a bad one is named when read."""
    from lfdm_bench.utils.io import read_json

    try:
        n = read_json(folder / INFO).get("n_videos")
        listed = len(read_manifest(folder / MANIFEST))
    except (OSError, ValueError, AttributeError) as e:
        return str(e)  # names the file
    return None if n == listed else f"{folder / MANIFEST} lists {listed} videos, {INFO} says {n}"


def _render_and_write(job: tuple[SynthConfig, int, int, int, str]) -> str:
    from lfdm_bench.data.video_io import write_mp4

    config, i, c, k, path = job
    write_mp4(path, render_take(config, i, c, k), fps=config.fps, crf=MP4_CRF)
    return path


def ensure_synthetic(name: str, root: str | os.PathLike | None = None, progress: bool = True, *,
                     workers: int = 1, **overrides) -> Path:
    """Return the manifest path of the synthetic dataset ``name`` with config ``overrides``, generating it first
    unless a complete copy is cached (its train and test subjects; :func:`ensure_validation` renders the
    validation subjects).

    Args:
        name: a key of :data:`SYNTH_DATASETS` (``synth-faces``, ``synth-actions``).
        root: parent folder of the dataset folder (default ``cache_dir('datasets')``).
        progress: show a progress bar while generating.
        workers: processes rendering videos (1: in this process); the content does not depend on it.
        **overrides: :class:`SynthConfig` fields (``n_subjects``, ``n_takes``, ``size``, ``frames``, ``seed``,
            ``fps``, ``style``, ``n_train_subjects``, ``n_val_subjects``, ``val_seed``).
    """
    config = make_config(name, **overrides)
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an int >= 1, got {workers!r}")
    folder = cache_folder(config, root)
    return _generate(config, folder, dataset_records(config, folder), split_subjects(config), progress, workers)


def ensure_validation(name: str, root: str | os.PathLike | None = None, progress: bool = True, *,
                      workers: int = 1, **overrides) -> Path | None:
    """The manifest of the validation subjects of ``ensure_synthetic(name, root, **overrides)``'s dataset (its own
    folder ``{name}-val-{hash}`` under the same root), generated first unless complete; ``None`` when
    ``n_val_subjects`` is 0. Raises ``ValueError`` if a validation subject has the appearance of a train or test
    subject."""
    config = make_config(name, **overrides)
    if not config.n_val_subjects:
        return None
    vc = validation_config(config)
    main = {json.dumps(subject_appearance(config, i), sort_keys=True, default=str): sid
            for i, sid in enumerate(subject_ids(config))}
    for i in range(vc.n_subjects):
        sid = main.get(json.dumps(subject_appearance(vc, i), sort_keys=True, default=str))
        if sid is not None:
            raise ValueError(f"{name}: validation subject v{i + 1:03d} (val_seed {config.val_seed}) has the "
                             f"appearance of subject {sid} (seed {config.seed}): choose another val_seed")
    folder = cache_folder(config, root).with_name(validation_key(config))
    return _generate(vc, folder, dataset_records(vc, folder, validation=True),
                     {"val": [f"v{s[1:]}" for s in subject_ids(vc)]}, progress, workers)


def _generate(config: SynthConfig, folder: Path, records: list[VideoRecord], splits: dict[str, list[str]],
              progress: bool, workers: int) -> Path:
    """Render the missing videos of ``records`` into ``folder``, then write the manifest, ``dataset.json`` and the
    ``COMPLETE`` marker (last); returns the manifest path (at once when ``folder`` is complete)."""
    manifest = folder / MANIFEST
    if is_complete(folder):
        damage = _damaged(folder)
        if damage is None:
            return manifest
        print(f"warning: the cached dataset {folder} is damaged ({damage}); generating it again (the videos already "
              "rendered are kept)", file=sys.stderr, flush=True)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / COMPLETE).unlink(missing_ok=True)
    todo = [(config, r.params["subject_index"], r.class_index, r.params["take_index"], r.path)
            for r in records if not (Path(r.path).is_file() and Path(r.path).stat().st_size > 0)]
    for r in records:
        Path(r.path).parent.mkdir(parents=True, exist_ok=True)
    from lfdm_bench.utils.progress import progress_bar

    name = config.name
    t0 = time.perf_counter()
    with progress_bar(total=len(records), initial=len(records) - len(todo), desc=f"generating {name}", unit="video",
              disable=not progress) as bar:
        if workers == 1 or len(todo) < 2:
            for job in todo:
                _render_and_write(job)
                bar.update()
        else:
            import multiprocessing as mp

            # fork (where available) needs no `if __name__ == "__main__"` guard in the calling script
            method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
            with mp.get_context(method).Pool(min(workers, len(todo))) as pool:
                for _ in pool.imap_unordered(_render_and_write, todo, chunksize=8):
                    bar.update()
    write_manifest(records, manifest, relative_to=folder)
    spec = config.spec
    subjects = sorted({r.subject: r.params["appearance"] for r in records}.items())
    atomic_write_json(folder / INFO, {
        "name": name, "version": VERSION, "config": asdict(config), "class_names": list(spec.class_names),
        "class_texts": list(spec.class_texts), "splits": splits, "n_videos": len(records),
        "stands_in_for": spec.stands_in_for, "manifest": MANIFEST, "styles": list(STYLES),
        "mp4": {"codec": "libx264", "pix_fmt": "yuv444p", "crf": MP4_CRF},
        "subjects": dict(subjects),
        "generation_seconds": round(time.perf_counter() - t0, 2), **spec.extra,
    })
    atomic_write_text(folder / COMPLETE, folder.name + "\n")
    return manifest


def load_synthetic_info(folder: str | os.PathLike) -> dict:
    """The ``dataset.json`` of a complete synthetic dataset (``folder`` or its manifest path)."""
    folder = Path(folder)
    if folder.is_file():
        folder = folder.parent
    if not is_complete(folder):
        raise FileNotFoundError(f"{folder} does not hold a complete synthetic dataset (missing {COMPLETE}, {INFO} or "
                                f"{MANIFEST}); generate it with ensure_synthetic()")
    with open(folder / INFO) as f:
        return json.load(f)


def load_synthetic_records(name: str, root: str | os.PathLike | None = None, progress: bool = True,
                           **overrides) -> list[VideoRecord]:
    """The train and test records (:func:`ensure_synthetic`), then the validation ones (:func:`ensure_validation`)."""
    val = ensure_validation(name, root, progress, **overrides)
    return read_manifest(ensure_synthetic(name, root, progress, **overrides)) + (read_manifest(val) if val else [])
