"""Calibration baselines: reference points that tell a reader what an FVD value means on a given set.

- ``static``: every frame is the source image -- perfect appearance, no motion.
- ``real``: for each source, another real video of the same (subject, class) -- a different take when the pair has
  one, else the source video itself -- read exactly like the reference clips: the floor any generator is measured
  against. (The reference set is every real video of the split, so these videos belong to it; the halves-vs-halves
  FVD of ``lfdm-bench eval --sanity`` gives the disjoint-set floor.)
- ``retrieval`` (needs a trained LFAE) lives in :mod:`lfdm_bench.baselines.retrieval`.

All produce the same sample folder + manifest as the generators (:func:`lfdm_bench.sampling.generate`), so ``eval``
treats them alike.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Sequence

import torch

from lfdm_bench.data.dataset import ClipDataset
from lfdm_bench.data.records import VideoRecord
from lfdm_bench.sampling.eval_set import EvalSource


def static_generator(n_frames: int):
    """``generate_fn`` repeating the source image: ``[B, 3, H, W]`` -> ``[B, T, 3, H, W]``."""

    def generate(images: torch.Tensor, sources: Sequence[EvalSource]) -> torch.Tensor:
        return images[:, None].expand(-1, n_frames, -1, -1, -1).contiguous()

    return generate


def real_generator(records: Sequence[VideoRecord], n_frames: int, size: int, sampling: str = "uniform", crop=None):
    """``generate_fn`` returning another real take of each source's (subject, class) pair (see module docstring)."""
    by_pair: dict[tuple[str, int], list[VideoRecord]] = defaultdict(list)
    for r in sorted(records, key=lambda r: (r.take, r.path)):
        by_pair[(r.subject, r.class_index)].append(r)

    def other_take(src: EvalSource) -> VideoRecord:
        takes = by_pair.get((src.subject, src.class_index)) or [src.record]
        others = [r for r in takes if r.path != src.record.path]
        return others[src.seed % len(others)] if others else src.record

    def generate(images: torch.Tensor, sources: Sequence[EvalSource]) -> torch.Tensor:
        ds = ClipDataset([other_take(s) for s in sources], n_frames=n_frames, size=size, sampling=sampling, crop=crop)
        return torch.stack([ds.get(i).video for i in range(len(sources))])

    return generate
