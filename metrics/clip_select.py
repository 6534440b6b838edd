"""Which videos and which frames an FVD protocol uses, and the time span its clips cover.

* :func:`choose_videos`: at most N videos, ``stratified`` (class-stratified, seeded: the toolkit) or ``sorted-first``
  (the first N in sorted path order: StyleGAN-V's ``metric_utils.py#L224/#L230``).
* :func:`select_clips`: the clip rule of a preset. ``uniform`` / ``first`` keep the records (frames chosen by
  :mod:`lfdm_bench.data.frame_indices` when read); ``window`` and ``windows-all`` turn every clip into a **segment record**
  (``params["segment"] = [start, start + T)`` inside the video, or inside the record's own segment), read from its
  first frame, so a window is an ordinary video to the cache (keyed by file and segment), the groups and the tables:

  - ``window``: one window per video, offset ``o`` uniform in ``[0, L - T]`` (inclusive) from
    ``numpy.random.default_rng([seed, video id])`` (video id: :func:`metrics.video_features.video_ids`), so a
    video's window does not depend on the order or on the other videos (StyleGAN-V's
    ``random.randint(0, L - T)``, cd-fvd's ``random.randint(0, n_clip - 1)``; both unseeded there);
  - ``windows-all``: every ``(video, offset)`` window of the set, in a ``numpy.random.default_rng(seed)`` permutation,
    the first N kept (N = the limit, default the number of videos): VideoGPT / TATS draw clips uniformly over all
    windows (a shuffled ``VideoClips`` loader), so long videos weigh more and a video can give several clips.

  Videos shorter than T frames have no window and are dropped (StyleGAN-V ``discard_short_videos``); the caller notes
  how many.
* :func:`span_check`: the fraction of their videos' duration that real and generated clips cover, and whether they
  match (within 10%). A real clip of T frames covers ``(T - 1) / (L - 1)`` of a video of L frames (``uniform``: 1).
  A generated video's frames stand for source frames according to ``params["clip_sampling"]`` (the training / sample
  clip rule the sampler records): ``uniform`` / ``random`` / ``very_random`` spread its frames over the whole source
  video (a clip of T of its G frames covers ``(T - 1) / (G - 1)``); ``first`` makes them consecutive source frames (T
  frames cover ``(T - 1) / (L_source - 1)``, L_source from the dataset or ``params["source_frames"]``); no
  ``clip_sampling``: unknown, stated but not checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from lfdm_bench.data.dataset import ClipDataset, record_segment
from lfdm_bench.data.records import VideoRecord
from metrics.groups import select_subset
from metrics.video_features import record_id, video_ids

__all__ = ["SPAN_RTOL", "WHOLE_VIDEO_SAMPLINGS", "SpanCheck", "frame_count", "choose_videos", "window_record",
           "select_clips", "real_span", "generated_span", "span_check", "source_id"]

SPAN_RTOL = 0.1
"""Real and generated spans match when they differ by at most this fraction of the larger one."""
WHOLE_VIDEO_SAMPLINGS = ("uniform", "random", "very_random")


def frame_count(record: VideoRecord, counter: ClipDataset | None = None) -> int:
    """Frames of a record: its segment's length, its known count, or counted from the file."""
    ds = counter if counter is not None else ClipDataset([], n_frames=1, size=None)
    return ds.frame_count(record)


def choose_videos(records: Sequence[VideoRecord], limit: int | None, rule: str, seed: int) -> list[VideoRecord]:
    """At most ``limit`` records: ``stratified`` (:func:`metrics.groups.select_subset`) or ``sorted-first``
    (the first ``limit`` in sorted :func:`record_id` order); ``None``: all, in their order."""
    if rule == "sorted-first":
        ordered = sorted(records, key=record_id)
        return ordered if limit is None else ordered[:int(limit)]
    if rule != "stratified":
        raise ValueError(f"subset rule must be 'stratified' or 'sorted-first', got {rule!r}")
    return select_subset(records, limit, seed)


def window_record(record: VideoRecord, offset: int, n_frames: int, length: int) -> VideoRecord:
    """The segment record of frames ``[offset, offset + n_frames)`` of ``record`` (whose usable length is
    ``length``); ``params["window"]`` keeps ``{"offset", "of"}`` for the time-span check."""
    base = record_segment(record)
    start = (base[0] if base is not None else 0) + int(offset)
    params = dict(record.params) | {"segment": [start, start + int(n_frames)],
                                    "window": {"offset": int(offset), "of": int(length)}}
    return VideoRecord(path=record.path, subject=record.subject, class_index=record.class_index,
                       class_name=record.class_name, text=record.text, split=record.split, take=record.take,
                       n_frames=int(n_frames), params=params)


def select_clips(records: Sequence[VideoRecord], rule: str, n_frames: int, seed: int, limit: int | None = None,
                 subset: str = "stratified") -> tuple[list[VideoRecord], list[VideoRecord]]:
    """The clip records of ``records`` under a clip rule, and the videos dropped for being shorter than
    ``n_frames`` (window rules only).

    ``uniform`` / ``first`` / ``window``: the videos are first limited to ``limit`` by ``subset``; ``windows-all``:
    ``limit`` counts windows (default: as many as there are videos).
    """
    if rule in ("uniform", "first"):
        return choose_videos(records, limit, subset, seed), []
    if rule not in ("window", "windows-all"):
        raise ValueError(f"clip rule must be uniform, first, window or windows-all, got {rule!r}")
    counter = ClipDataset([], n_frames=1, size=None)
    videos = choose_videos(records, limit, subset, seed) if rule == "window" else list(records)
    lengths = [frame_count(r, counter) for r in videos]
    dropped = [r for r, n in zip(videos, lengths) if n < n_frames]
    if rule == "window":
        out = []
        for r, length, vid in zip(videos, lengths, video_ids(videos)):
            if length >= n_frames:
                offset = int(np.random.default_rng([int(seed), vid]).integers(0, length - n_frames + 1))
                out.append(window_record(r, offset, n_frames, length))
        return out, dropped
    windows = [(i, o) for i, length in enumerate(lengths) for o in range(max(length - n_frames + 1, 0))]
    order = np.random.default_rng(int(seed)).permutation(len(windows))
    keep = len(videos) if limit is None else int(limit)
    chosen = [windows[j] for j in order[:keep]]
    return [window_record(videos[i], o, n_frames, lengths[i]) for i, o in chosen], dropped


def _fraction(steps: int, length: int) -> float:
    return 1.0 if length <= 1 else min(1.0, steps / (length - 1))


def real_span(record: VideoRecord, rule: str, n_frames: int, length: Callable[[VideoRecord], int]) -> float:
    """Fraction of its video's duration a real clip covers (``length``: frames of a record)."""
    if rule == "uniform":
        return 1.0
    window = record.params.get("window")
    if window is not None:
        return _fraction(n_frames - 1, int(window["of"]))
    return _fraction(n_frames - 1, length(record))


def source_id(record: VideoRecord) -> str | None:
    """The :func:`record_id` of a generated video's source (``params["source"]`` plus ``params["source_segment"]``)."""
    src = record.params.get("source")
    if not src:
        return None
    seg = record.params.get("source_segment")
    path = str(Path(src).resolve())
    return path if seg is None else f"{path}#{int(seg[0])}:{int(seg[1])}"


def generated_span(record: VideoRecord, n_frames: int, length: Callable[[VideoRecord], int],
                   source_length: Callable[[VideoRecord], int | None]) -> float | None:
    """Fraction of its source video's duration a generated clip covers; ``None`` when the generated video's time base
    (``params["clip_sampling"]``) or its source's length is unknown."""
    base = record.params.get("clip_sampling")
    window = record.params.get("window")
    g = int(window["of"]) if window is not None else length(record)
    of_generated = _fraction(n_frames - 1, g)
    if base in WHOLE_VIDEO_SAMPLINGS:
        return of_generated
    if base == "first":
        src_len = source_length(record) or record.params.get("source_frames")
        return None if src_len is None else of_generated * _fraction(g - 1, int(src_len))
    return None


@dataclass
class SpanCheck:
    """Mean fraction of their videos' duration covered by real and generated clips, and the verdict.

    Attributes:
        real, generated: mean spans (``generated`` over the videos with a known time base; ``None`` if none).
        n_unknown: generated videos without a known time base.
        matches: True / False, or ``None`` when nothing can be compared.
        statement: one sentence for the protocol line and the notes.
    """

    real: float | None
    generated: float | None
    n_unknown: int
    matches: bool | None
    statement: str

    def to_dict(self) -> dict:
        return {"real": self.real, "generated": self.generated, "n_unknown": self.n_unknown, "matches": self.matches,
                "statement": self.statement, "rtol": SPAN_RTOL}


def span_check(real: Sequence[VideoRecord], generated: Sequence[VideoRecord], real_rule: str, generated_rule: str,
               n_frames: int, length: Callable[[VideoRecord], int],
               source_length: Callable[[VideoRecord], int | None]) -> SpanCheck:
    """Compare the time spans of ``real`` and ``generated`` clip records (see the module docstring)."""
    r = [real_span(x, real_rule, n_frames, length) for x in real]
    g_all = [generated_span(x, n_frames, length, source_length) for x in generated]
    g = [v for v in g_all if v is not None]
    r_mean = float(np.mean(r)) if r else None
    g_mean = float(np.mean(g)) if g else None
    n_unknown = len(g_all) - len(g)
    bases = sorted({str(x.params.get("clip_sampling")) for x in generated})
    real_txt = f"real clips ({real_rule}, {n_frames} frames) cover {r_mean:.0%} of their videos" \
        if r_mean is not None else ""
    if r_mean is None:
        return SpanCheck(None, g_mean, n_unknown, None, "time span: no real clips compared")
    if g_mean is None:
        return SpanCheck(r_mean, None, n_unknown, None,
                         f"time span: {real_txt}; the generated videos' time base is unknown (no clip_sampling in "
                         f"their manifest), so the {generated_rule} {n_frames} generated frames cannot be placed "
                         "on the source videos' time axis")
    matches = abs(r_mean - g_mean) <= SPAN_RTOL * max(r_mean, g_mean)
    gen_txt = (f"generated clips ({generated_rule} {n_frames} frames of videos sampled '{'/'.join(bases)}') cover "
               f"{g_mean:.0%} of their source videos" + (f" ({n_unknown} of unknown time base)" if n_unknown else ""))
    verdict = "same time span" if matches else "DIFFERENT time spans"
    return SpanCheck(r_mean, g_mean, n_unknown, bool(matches), f"time span: {real_txt}; {gen_txt}: {verdict}")
