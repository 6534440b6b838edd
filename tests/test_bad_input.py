"""Bad input gives errors that name the path; ``skip_bad`` skips and reports; odd frame formats are converted."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lfdm_bench.data.dataset import ClipDataset
from lfdm_bench.data.records import VideoRecord
from lfdm_bench.data.video_io import BadVideoError, write_mp4


def _record(path: Path, subject: str = "s1", **params) -> VideoRecord:
    return VideoRecord(path=str(path), subject=subject, class_index=0, class_name="c0", text="c0", split="train",
                       params=params)


def _good_mp4(path: Path, t: int = 6) -> Path:
    frames = np.zeros((t, 20, 32, 3), dtype=np.uint8)
    frames[:] = (20 * np.arange(t)).astype(np.uint8)[:, None, None, None]
    write_mp4(path, frames)
    return path


def _frame_folder(path: Path, frames: list[np.ndarray]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    for k, f in enumerate(frames):
        Image.fromarray(f).save(path / f"{k:04d}.png")
    return path


def _names(path: Path) -> str:
    return re.escape(str(path))


def test_corrupt_file_names_path(tmp_path):
    bad = tmp_path / "junk.mp4"
    bad.write_bytes(b"this is not a video" * 20)
    with pytest.raises(BadVideoError, match=_names(bad)) as e:
        ClipDataset([_record(bad)], n_frames=4, size=8)[0]
    assert "corrupt" in e.value.reason


def test_truncated_mp4_names_path(tmp_path):
    full = _good_mp4(tmp_path / "full.mp4", t=12)
    cut = tmp_path / "cut.mp4"
    data = full.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(BadVideoError, match=_names(cut)):
        ClipDataset([_record(cut)], n_frames=4, size=8)[0]


def test_missing_file_and_empty_folder(tmp_path):
    with pytest.raises(BadVideoError, match=_names(tmp_path / "nope.mp4") + ".*does not exist"):
        ClipDataset([_record(tmp_path / "nope.mp4")], n_frames=4, size=8)[0]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BadVideoError, match=_names(empty) + ".*no images"):
        ClipDataset([_record(empty)], n_frames=4, size=8)[0]


def test_folder_of_folders_is_a_wrong_layout(tmp_path):
    take = _frame_folder(tmp_path / "subject" / "take0", [np.zeros((8, 8, 3), np.uint8)] * 2)
    with pytest.raises(BadVideoError, match=_names(take.parent) + ".*sub-folders \\(take0\\).*wrong layout"):
        ClipDataset([_record(take.parent)], n_frames=2, size=8)[0]


def test_grayscale_and_rgba_frames_are_converted(tmp_path):
    gray = np.full((6, 10), 77, dtype=np.uint8)
    rgba = np.zeros((6, 10, 4), dtype=np.uint8)
    rgba[..., 0], rgba[..., 1], rgba[..., 2], rgba[..., 3] = 200, 100, 50, 30  # alpha must not leak into colour
    g = _frame_folder(tmp_path / "gray", [gray, gray])
    a = _frame_folder(tmp_path / "rgba", [rgba, rgba])
    ds = ClipDataset([_record(g), _record(a)], n_frames=2, size=None, dtype="uint8")
    gv, av = ds[0].video, ds[1].video
    assert gv.shape == (2, 3, 6, 10) and torch.all(gv == 77)
    assert av.shape == (2, 3, 6, 10) and av[0, :, 0, 0].tolist() == [200, 100, 50]


def test_short_video_padded_or_error_with_min_frames(tmp_path):
    short = _good_mp4(tmp_path / "short.mp4", t=3)
    clip = ClipDataset([_record(short)], n_frames=5, size=8)[0]
    assert clip.n_padded == 2 and clip.indices == [0, 1, 2, 2, 2]
    with pytest.raises(BadVideoError, match=_names(short) + ".*3 frames, fewer than min_frames=5"):
        ClipDataset([_record(short)], n_frames=5, size=8, min_frames=5)[0]


def test_crop_larger_than_frames_names_path(tmp_path):
    v = _good_mp4(tmp_path / "small.mp4")
    with pytest.raises(BadVideoError, match=_names(v) + ".*does not fit.*crop=false.*--no-crop"):
        ClipDataset([_record(v, crop=[0, 480, 156, 492])], n_frames=2, size=8)[0]


def test_skip_bad_scans_skips_and_reports(tmp_path, caplog):
    good = _good_mp4(tmp_path / "good.mp4")
    junk = tmp_path / "junk.avi"
    junk.write_bytes(b"\x00" * 300)
    empty = tmp_path / "empty"
    empty.mkdir()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(good.read_bytes()[:200])
    short = _good_mp4(tmp_path / "short.mp4", t=2)
    records = [_record(p) for p in (good, junk, empty, cut, short, tmp_path / "missing.mp4")]
    with caplog.at_level(logging.WARNING):
        ds = ClipDataset(records, n_frames=4, size=8, skip_bad=True, min_frames=3)
    assert len(ds) == 1 and ds.records[0].path == str(good)
    skipped = dict(ds.skipped)
    assert list(skipped) == [str(p) for p in (junk, empty, cut, short, tmp_path / "missing.mp4")]
    assert "min_frames=3" in skipped[str(short)] and "no images" in skipped[str(empty)]
    assert "skipped 5 bad video(s)" in caplog.text
    assert ds[0].video.shape == (4, 3, 8, 8)
    # without skip_bad nothing is checked up front; scan() reports the same problems
    lazy = ClipDataset(records, n_frames=4, size=8, min_frames=3)
    assert len(lazy) == 6 and [p for p, _ in lazy.scan()] == list(skipped)
