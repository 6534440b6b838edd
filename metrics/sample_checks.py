"""Checks on generated videos before they are scored: a sample folder that would give a silently wrong number is
refused with an error naming the file or manifest row at fault.

* **one frame size**: the evaluation reads every generated video at one resolution, so videos of different sizes
  (a folder mixing two settings, a stray file) are refused, naming an odd one. Frame 0 of every generated video is
  read for this: one frame per video, cheap next to decoding their clips, which follows.
* **a size that can be meant**: the evaluation reads real videos at the protocol's size (``--size``, else the
  dataset's own frame size) and brings the generated ones to it; generated frames smaller than
  :data:`MIN_RESOLUTION` a side, or whose aspect ratio is more than :data:`MAX_ASPECT_FACTOR` times off the
  dataset's, are refused (a folder of 1x1 grey videos used to be scored against the real videos read at 1x1: FVD
  0.0018 with i3d-random, against 7.13 for real LFDM samples).
* **frames actually there**: a generated record's ``n_frames`` is set to the frames its file holds (its segment's
  length for a segment record), so the time-span check and the window rule use the frames read, not the manifest's
  statement (300-frame videos listed as 10 frames were declared to cover the same time span as 10-frame real clips
  when their first 10 frames were scored); a disagreeing manifest gets a note.
* **classes**: every row's ``class_index`` must lie in the dataset's class list and name the class its
  ``class_name`` says (cFVD groups by name, class accuracy by index). Repeated rows are refused when a manifest is
  read (:func:`lfdm_bench.data.records.read_manifest`) and here across manifests.
* **the dataset**: ``settings.json`` of a sample folder records the dataset the videos were made from (name and
  options); evaluating them against another dataset, or the same one with other options (another set of subjects,
  frames or sizes), is refused.
* **training**: samples of a run whose training did not finish (``settings.json`` ``training``) get a note.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Sequence

from lfdm_bench.data.dataset import record_crop, record_segment
from lfdm_bench.data.records import VideoRecord, read_manifest
from lfdm_bench.data.video_io import count_frames, read_video

__all__ = ["MIN_RESOLUTION", "MAX_ASPECT_FACTOR", "read_samples", "sample_settings", "frame_size",
           "check_frame_sizes", "check_generated_size", "actual_frame_counts", "check_classes", "check_dataset",
           "training_notes", "dataset_identity"]

MIN_RESOLUTION = 16
"""The smallest evaluation resolution and generated frame side (pixels)."""
MAX_ASPECT_FACTOR = 2.0
"""Generated frames whose width / height differs from the dataset's by more than this factor are refused."""

# dataset options that do not change the videos
_NEUTRAL_OPTIONS = ("progress",)


def _manifest_of(path: str | Path) -> Path:
    p = Path(path)
    return p / "manifest.csv" if p.is_dir() else p


def read_samples(samples: Any) -> tuple[list[VideoRecord], list[str] | None]:
    """Generated-video records and where each comes from (``"<manifest> row N"``; ``None`` for a record list).

    ``samples``: a sample folder (holding ``manifest.csv``), a manifest path, a list of those (one evaluation over
    several folders, e.g. the test and train folders of one sampler setting) or a list of :class:`VideoRecord`.
    A video listed twice, in one manifest or in two, is refused.
    """
    if isinstance(samples, (str, Path)):
        samples = [samples]
    samples = list(samples)
    if not samples or not all(isinstance(s, (str, Path)) for s in samples):
        return samples, None
    records: list[VideoRecord] = []
    origins: list[str] = []
    for s in samples:
        manifest = _manifest_of(s)
        if not manifest.is_file():
            raise FileNotFoundError(
                f"no generated samples at {s}: expected a folder holding manifest.csv (written by `lfdm-bench sample`, "
                "or by metrics.sanity.write_real_samples for real / distorted-real stand-ins)")
        recs = read_manifest(manifest)
        if not recs:
            raise ValueError(f"{manifest} lists no videos")
        records += recs
        origins += [f"{manifest} row {i + 2}" for i in range(len(recs))]
    seen: dict[tuple, int] = {}
    for i, r in enumerate(records):
        key = (str(Path(r.path).resolve()), json.dumps(r.params.get("segment")))
        if key in seen:
            raise ValueError(f"{origins[i]} and {origins[seen[key]]} list the same video {r.path}: each generated video "
                             "is scored once; remove the repeated row (or evaluate the folders one at a time)")
        seen[key] = i
    return records, origins


def sample_settings(samples: Any) -> list[tuple[Path, dict[str, Any]]]:
    """``(folder, settings)`` of each sample folder in ``samples`` that holds a ``settings.json`` (written by
    :func:`lfdm_bench.sampling.generate.generate_eval_samples`)."""
    if isinstance(samples, (str, Path)):
        samples = [samples]
    out = []
    for s in samples if isinstance(samples, (list, tuple)) else []:
        if not isinstance(s, (str, Path)):
            continue
        folder = _manifest_of(s).parent
        path = folder / "settings.json"
        if path.is_file():
            try:
                out.append((folder, json.loads(path.read_text())))
            except json.JSONDecodeError as e:
                raise ValueError(f"{path} is not valid JSON ({e}); restore it or sample the folder again") from None
    return out


def frame_size(record: VideoRecord) -> tuple[int, int]:
    """``(H, W)`` of frame 0 of ``record`` after its crop box, if any (one frame is read)."""
    h, w = read_video(record.path, [0])[0].shape[:2]
    box = record_crop(record)
    if box is not None:
        h, w = min(box.height, h), min(box.width, w)
    return int(h), int(w)


def check_frame_sizes(records: Sequence[VideoRecord], origins: Sequence[str] | None = None) -> tuple[int, int]:
    """The one frame size ``(H, W)`` of ``records`` (frame 0 of each is read); mixed sizes raise ``ValueError`` naming
    a video of a minority size and how many videos have each size."""
    if not records:
        raise ValueError("no generated videos to check")
    by_size: dict[tuple[int, int], list[int]] = {}
    for i, r in enumerate(records):
        by_size.setdefault(frame_size(r), []).append(i)
    if len(by_size) == 1:
        return next(iter(by_size))
    common = max(by_size, key=lambda k: len(by_size[k]))
    odd_size, odd = next((k, v) for k, v in by_size.items() if k != common)
    where = f" ({origins[odd[0]]})" if origins else ""
    counts = ", ".join(f"{len(v)} at {h}x{w}" for (h, w), v in sorted(by_size.items(), key=lambda kv: -len(kv[1])))
    raise ValueError(f"the generated videos differ in frame size ({counts}): e.g. {records[odd[0]].path}{where} is "
                     f"{odd_size[0]}x{odd_size[1]}, most are {common[0]}x{common[1]}; one evaluation reads every "
                     "video at one resolution: sample each setting into its own folder and evaluate them apart")


def check_generated_size(size: tuple[int, int], real_size: tuple[int, int], resolution: int,
                         example: VideoRecord, where: str) -> None:
    """Refuse generated frames of ``size`` (H, W) that cannot be meant for a dataset whose frames are ``real_size``:
    a side below :data:`MIN_RESOLUTION`, or an aspect ratio more than :data:`MAX_ASPECT_FACTOR` times off the
    dataset's (``ValueError`` naming ``where``, a video and the sizes)."""
    (h, w), (rh, rw) = size, real_size
    what = (f"{where}: the generated videos are {h}x{w} pixels (e.g. {example.path}); the real videos are read at "
            f"{resolution}px and the generated ones brought to that size")
    fix = f"sample at the dataset's frame size ({rh}x{rw}) or the size the model was trained at"
    if min(h, w) < MIN_RESOLUTION:
        raise ValueError(f"{what}, but frames under {MIN_RESOLUTION} pixels a side cannot be meant: {fix}")
    factor = (w / h) / (rw / rh)
    if max(factor, 1 / factor) > MAX_ASPECT_FACTOR:
        raise ValueError(f"{what}, but their aspect ratio (width/height {w / h:.3g}) is more than "
                         f"{MAX_ASPECT_FACTOR:g}x off the dataset's ({rw / rh:.3g}, {rh}x{rw}): {fix}")


def actual_frame_counts(records: Sequence[VideoRecord]) -> tuple[list[VideoRecord], list[str]]:
    """``records`` with ``n_frames`` set to the frames in their files (a segment record keeps its segment's length),
    and a note when manifests said otherwise."""
    out, wrong = [], []
    for r in records:
        n = None if record_segment(r) is not None else count_frames(r.path)
        if n is not None and r.n_frames != n:
            if r.n_frames is not None:
                wrong.append((r, n))
            r = dataclasses.replace(r, n_frames=n)
        out.append(r)
    notes = [f"{len(wrong)} generated video(s) hold another number of frames than their manifest says (e.g. "
             f"{wrong[0][0].path}: {wrong[0][1]} frames, n_frames {wrong[0][0].n_frames}); the frames in the files "
             "are used"] if wrong else []
    return out, notes


def check_classes(records: Sequence[VideoRecord], class_names: Sequence[str], dataset: str,
                  origins: Sequence[str] | None = None, subjects: Sequence[VideoRecord] | None = None) -> None:
    """Every record's ``class_index`` lies in ``class_names`` and names its ``class_name``, and, given the dataset's
    records as ``subjects``, its subject is one of the dataset's subjects of its split (sFVD compares each subject
    with its real videos: an unknown one would be left out silently); else ``ValueError`` naming the first rows at
    fault."""
    if subjects is not None:
        known = {(r.subject, r.split) for r in subjects}
        names = {r.subject for r in subjects}
        odd = [(i, r) for i, r in enumerate(records) if (r.subject, r.split) not in known]
        if odd:
            i, r = odd[0]
            what = f"a {r.split!r}-split subject" if r.subject in names else "a subject"
            raise ValueError(f"{origins[i] if origins else r.path}: subject {r.subject!r} is not {what} of dataset "
                             f"{dataset} ({len(odd)} generated video(s) name such subjects: "
                             f"{sorted({s.subject for _, s in odd})[:5]}); every generated video must come from a "
                             "subject of the dataset it is evaluated against (--dataset)")
    problems = []
    n = len(class_names)
    for i, r in enumerate(records):
        where = origins[i] if origins else r.path
        if not 0 <= r.class_index < n:
            problems.append(f"{where}: class_index {r.class_index} is outside the {n} classes (0..{n - 1})")
        elif class_names[r.class_index] != r.class_name:
            problems.append(f"{where}: class_index {r.class_index} is {class_names[r.class_index]!r} but class_name "
                            f"says {r.class_name!r}")
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise ValueError(f"{len(problems)} generated video(s) disagree with the class list of dataset {dataset}: "
                         f"{'; '.join(problems[:3])}{more}; sample against this dataset, or pass the dataset the "
                         "videos were made for (--dataset)")


def _defaults(name: str) -> dict[str, Any]:
    """The option defaults of a registry dataset's loader (an option given at its default is the same dataset):
    every :class:`~lfdm_bench.data.synth.make.SynthConfig` field of a synthetic set, the keyword defaults of a real
    set's loader."""
    import dataclasses
    import inspect

    from lfdm_bench.data.registry import _REAL_LOADERS, SYNTHETIC_DATASETS
    from lfdm_bench.data.synth.make import SynthConfig

    if name in SYNTHETIC_DATASETS:
        return {k: v for k, v in dataclasses.asdict(SynthConfig(name=name)).items() if k != "name"}
    if name in _REAL_LOADERS:
        return {p.name: p.default for p in inspect.signature(_REAL_LOADERS[name][0]).parameters.values()
                if p.default is not inspect.Parameter.empty}
    return {}


def dataset_identity(name: str, options: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
    """What makes a dataset's videos: its registry name (a manifest as its absolute path) and its options (minus the
    ones that do not change the videos, and those given at their defaults), as plain JSON data."""
    name = str(name)
    if name.lower().endswith(".csv"):
        name = str(Path(name).expanduser().resolve())
    defaults = json.loads(json.dumps(_defaults(name), default=str))
    opts = json.loads(json.dumps({k: v for k, v in (options or {}).items() if k not in _NEUTRAL_OPTIONS},
                                 sort_keys=True, default=str))
    return name, {k: v for k, v in opts.items() if k not in defaults or defaults[k] != v}


def _options_text(options: dict[str, Any]) -> str:
    return " ".join(f"{k}={json.dumps(v)}" for k, v in sorted(options.items())) or "none (the defaults)"


def check_dataset(settings: Sequence[tuple[Path, dict[str, Any]]], dataset: str,
                  options: dict[str, Any] | None) -> list[str]:
    """Refuse to score sample folders made from another dataset, or from the same one with other options, than the
    evaluation's real reference (``ValueError`` naming the folder, both and how to match them); returns notes for
    folders whose settings do not record the dataset's options (made by an older version: checked by name only)."""
    notes = []
    want_name, want_opts = dataset_identity(dataset, options)
    for folder, s in settings:
        if "dataset" not in s:
            continue
        name, opts = dataset_identity(s["dataset"], s.get("dataset_options"))
        if name != want_name:
            raise ValueError(f"{folder} holds videos made from dataset {s['dataset']!r} ({folder / 'settings.json'}), "
                             f"not from {dataset!r}: evaluate them against their own dataset (--dataset "
                             f"{s['dataset']})")
        if "dataset_options" not in s:
            notes.append(f"{folder / 'settings.json'} does not record the dataset's options: checked by name only")
            continue
        if opts != want_opts:
            differ = sorted(k for k in set(opts) | set(want_opts) if opts.get(k) != want_opts.get(k))
            raise ValueError(
                f"{folder} was sampled from {s['dataset']} with options {_options_text(opts)} "
                f"({folder / 'settings.json'}), but this evaluation loads it with options {_options_text(want_opts)} "
                f"(they differ in {', '.join(differ)}): the real reference would be another set of videos; "
                + (f"pass the sample folder's options ({' '.join(f'--option {k}={json.dumps(v)}' for k, v in sorted(opts.items()))})"
                   if opts else "evaluate without dataset options"))
    return notes


def training_notes(settings: Sequence[tuple[Path, dict[str, Any]]]) -> list[str]:
    """A note per sample folder made from a run whose training did not finish."""
    notes = []
    for folder, s in settings:
        unfinished = s.get("training_unfinished")
        if unfinished:
            notes.append(f"{folder}: sampled from a run whose training did not finish ({unfinished})")
    return notes
