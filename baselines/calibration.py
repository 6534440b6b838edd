"""Calibration baselines: reference points that tell a reader what an FVD value means on a given set.

- ``static``: every frame is the source image -- perfect appearance, no motion.
- ``real``: for each source, another real video of the same (subject, class) -- a different take when the pair has
  one, else the source video itself -- read exactly like the reference clips: the floor any generator is measured
  against. (The reference set is every real video of the split, so these videos belong to it; the halves-vs-halves
  FVD of ``lfdm-bench eval --sanity`` gives the disjoint-set floor.)
- ``real_fresh`` ("real, fresh takes"; embedded datasets only): for the k-th source of every (subject, class) pair,
  a fresh real take of that pair rendered for the purpose (:func:`lfdm_bench.data.synth.takes.extended_takes`: same
  subject and class, a new motion draw, not in the reference set), read like the reference clips. Its frame 0 is the
  source image (every take of a pair starts from the same rest pose). Evaluated like a generator, at the methods'
  sizes (546 vs 546 on the default benchmark; cFVD groups 78 vs 78, sFVD 21 vs 21): the floor of every metric.
- ``retrieval`` (needs a trained LFAE) lives in :mod:`baselines.retrieval`.

All produce the same sample folder + manifest as the generators (:func:`lfdm_bench.sampling.generate`), so ``eval``
treats them alike.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Callable, Sequence

import torch

from lfdm_bench.data.dataset import ClipDataset
from lfdm_bench.data.records import VideoRecord
from lfdm_bench.sampling.eval_set import EvalSource


def static_generator(n_frames: int):
    """``generate_fn`` repeating the source image: ``[B, 3, H, W]`` -> ``[B, T, 3, H, W]``."""

    def generate(images: torch.Tensor, sources: Sequence[EvalSource]) -> torch.Tensor:
        return images[:, None].expand(-1, n_frames, -1, -1, -1).contiguous()

    return generate


def _by_pair(records: Sequence[VideoRecord]) -> dict[tuple[str, int], list[VideoRecord]]:
    by_pair: dict[tuple[str, int], list[VideoRecord]] = defaultdict(list)
    for r in sorted(records, key=lambda r: (r.take, r.path)):
        by_pair[(r.subject, r.class_index)].append(r)
    return by_pair


def video_generator(pick: Callable[[EvalSource], VideoRecord], n_frames: int, size: int, sampling: str = "uniform",
                    crop=None):
    """``generate_fn`` returning the real video ``pick(source)`` of each source, read as ``n_frames`` frames
    (``sampling``) at ``size``: ``[B, T, 3, H, W]`` in [0, 1]."""

    def generate(images: torch.Tensor, sources: Sequence[EvalSource]) -> torch.Tensor:
        ds = ClipDataset([pick(s) for s in sources], n_frames=n_frames, size=size, sampling=sampling, crop=crop)
        return torch.stack([ds.get(i).video for i in range(len(sources))])

    return generate


def real_generator(records: Sequence[VideoRecord], n_frames: int, size: int, sampling: str = "uniform", crop=None):
    """``generate_fn`` returning another real take of each source's (subject, class) pair (see module docstring)."""
    by_pair = _by_pair(records)

    def other_take(src: EvalSource) -> VideoRecord:
        takes = by_pair.get((src.subject, src.class_index)) or [src.record]
        others = [r for r in takes if r.path != src.record.path]
        return others[src.seed % len(others)] if others else src.record

    return video_generator(other_take, n_frames, size, sampling, crop)


def assign_fresh_takes(sources: Sequence[EvalSource], fresh: Sequence[VideoRecord]) -> dict[str, VideoRecord]:
    """``sample_id -> fresh take``: the k-th source of a (subject, class) pair (in evaluation-set order) gets the
    pair's k-th fresh take, so no fresh take is used twice; an error names the first pair with too few."""
    by_pair, seen = _by_pair(fresh), defaultdict(int)
    out = {}
    for s in sources:
        key = (s.subject, s.class_index)
        takes, k = by_pair.get(key, []), seen[key]
        if k >= len(takes):
            raise ValueError(f"real_fresh: pair ({s.subject}, {s.class_name}) has {len(takes)} fresh take(s) for "
                             f"{k + 1}+ sources; render per_pair fresh takes per pair")
        out[s.sample_id], seen[key] = takes[k], k + 1
    return out
