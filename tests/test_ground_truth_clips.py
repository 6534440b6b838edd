"""The process-level cache of decoded ground-truth clips: what it returns is what a fresh read gives, and a file
rewritten in place is read again."""

from __future__ import annotations

import os

import numpy as np
import torch

from lfdm_bench.data.records import VideoRecord
from metrics import ground_truth_scores as gts
from metrics.video_features import ClipSpec
from helpers import ramp, write_avi


def _record(path) -> VideoRecord:
    return VideoRecord(path=str(path), subject="s1", class_index=0, class_name="a", text="a", split="test")


def test_cached_clip_equals_a_fresh_read_and_follows_the_file(tmp_path, monkeypatch):
    monkeypatch.setattr(gts, "_gt_clips", type(gts._gt_clips)())
    path = write_avi(tmp_path / "v.avi", ramp(10))
    spec = ClipSpec(n_frames=8, size=16)
    rec = _record(path)
    first = gts.ground_truth_clip(spec, rec)
    assert torch.equal(first, spec.clip(spec.dataset([rec]), 0))  # the same clip as an uncached read
    assert gts.ground_truth_clip(spec, rec) is first  # the second call is served from memory
    assert len(gts._gt_clips) == 1
    other = gts.ground_truth_clip(ClipSpec(n_frames=8, size=24), rec)  # another spec: another entry
    assert other.shape[-1] == 24 and len(gts._gt_clips) == 2

    write_avi(path, 255 - ramp(10))  # the file rewritten in place: read again, not served stale
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    again = gts.ground_truth_clip(spec, rec)
    assert not torch.equal(again, first)
    assert torch.equal(again, spec.clip(spec.dataset([rec]), 0))


def test_cache_is_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(gts, "_gt_clips", type(gts._gt_clips)())
    spec = ClipSpec(n_frames=8, size=16)
    one = 8 * 3 * 16 * 16  # bytes of one uint8 clip
    monkeypatch.setattr(gts, "GT_CACHE_BYTES", 2 * one)
    recs = [_record(write_avi(tmp_path / f"v{k}.avi", np.roll(ramp(10), k, axis=0))) for k in range(4)]
    for r in recs:
        gts.ground_truth_clip(spec, r)
    assert len(gts._gt_clips) == 2  # the two most recent
    kept = [k[1] for k in gts._gt_clips]
    assert kept == [repr(recs[2]), repr(recs[3])]
