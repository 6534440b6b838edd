"""The evaluation set: which source images and conditions every generator (and baseline) is asked for.

As in the official LFDM test scripts, generation enumerates every (subject x class) pair of a split and takes a
real video of that pair as the source: its frame 0 is the source image, its class the condition, and the real video
itself is the ground truth for PSNR/SSIM. ``per_pair`` > 1 takes further takes of the pair (cycling when a pair has
fewer takes) with different seeds. The set is a pure function of (records, split, per_pair, seed), so every method
gets exactly the same sources and seeds.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Sequence

from lfdm_bench.data.records import SPLITS, VideoRecord, filter_records
from lfdm_bench.utils.io import stable_hash


@dataclass(frozen=True)
class EvalSource:
    """One video to generate: the source record (frame 0 = source image), the requested class, the seed."""

    sample_id: str
    record: VideoRecord
    class_index: int
    class_name: str
    text: str
    seed: int

    @property
    def subject(self) -> str:
        return self.record.subject

    @property
    def split(self) -> str:
        return self.record.split


def build_eval_set(records: Sequence[VideoRecord], split: str, per_pair: int = 1, seed: int = 0,
                   classes: Sequence[int] | None = None, subjects: Sequence[str] | None = None) -> list[EvalSource]:
    """Every (subject, class) pair of ``split`` (``train`` / ``test`` / ``val``), ``per_pair`` sources each, sorted and
    seeded."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if per_pair < 1:
        raise ValueError(f"per_pair must be >= 1, got {per_pair}")
    recs = filter_records(records, split=split, subjects=subjects, classes=classes)
    if not recs:
        raise ValueError(f"no {split} videos to build an evaluation set from (subjects={subjects}, classes={classes})")
    pairs: dict[tuple[str, int], list[VideoRecord]] = defaultdict(list)
    for r in recs:
        pairs[(r.subject, r.class_index)].append(r)
    out = []
    for (subject, cls), takes in sorted(pairs.items()):
        takes = sorted(takes, key=lambda r: (r.take, r.path))
        for k in range(per_pair):
            rec = takes[k % len(takes)]
            sid = f"{split}_{subject}_{rec.class_name}_{k:02d}".replace("/", "-").replace(" ", "-")
            s = int(stable_hash([seed, split, subject, cls, k], n=8), 16) % (2**31 - 1)
            out.append(EvalSource(sid, rec, cls, rec.class_name, rec.text, s))
    return out
