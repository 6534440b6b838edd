"""Frame sampling, resize + pad, ClipDataset on tiny mp4 / GIF / frame-folder videos, collate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from lfdm_bench.data.clip import Clip, ClipBatch, collate
from lfdm_bench.data.dataset import ClipDataset
from lfdm_bench.data.records import VideoRecord, read_manifest, write_manifest
from lfdm_bench.data.frame_indices import SAMPLING_MODES, sample_indices, uniform_indices
from lfdm_bench.data.records import CropBox
from lfdm_bench.data.transforms import crop, hflip, resize_pad, resize_pad_geometry, time_flip, to_uint8_tensor
from lfdm_bench.data.video_io import write_gif, write_mp4


# ---------------------------------------------------------------------------------------------------- sampling
def test_uniform_exact_indices():
    assert sample_indices(10, 4, "uniform").indices.tolist() == [0, 3, 6, 9]
    assert sample_indices(100, 40, "uniform").indices.tolist() == np.linspace(0, 99, 40, dtype=int).tolist()
    assert sample_indices(7, 7, "uniform").indices.tolist() == list(range(7))
    assert sample_indices(9, 1, "uniform").indices.tolist() == [0]
    assert sample_indices(9, 2, "uniform").indices.tolist() == [0, 8]
    s = sample_indices(33, 5, "uniform")
    assert s.indices.dtype == np.int64 and s.n_padded == 0 and len(s) == 5


@pytest.mark.parametrize("gen", ["numpy", "torch"])
def test_random_jitters_between_neighbours(gen):
    n, t = 50, 8
    u = uniform_indices(n, t)
    seen = set()
    for seed in range(40):
        rng = np.random.default_rng(seed) if gen == "numpy" else torch.Generator().manual_seed(seed)
        s = sample_indices(n, t, "random", rng)
        idx = s.indices
        assert s.n_padded == 0 and idx[0] == 0 and idx[-1] == n - 1
        assert np.all(np.diff(idx) >= 0)
        # interior index i lies strictly between its neighbours' uniform positions
        assert np.all(idx[1:-1] >= u[:-2] + 1) and np.all(idx[1:-1] <= u[2:] - 1)
        seen.add(tuple(idx.tolist()))
    assert len(seen) > 30  # actually random


def test_random_with_unit_steps_is_uniform():
    assert sample_indices(6, 6, "random", 0).indices.tolist() == list(range(6))


def test_very_random_constraints():
    for seed in range(20):
        s = sample_indices(5, 12, "very_random", seed)
        idx = s.indices
        assert len(idx) == 12 and idx[0] == 0 and np.all(np.diff(idx) >= 0)
        assert idx.min() >= 0 and idx.max() <= 4 and s.n_padded == 0
    # with replacement: 12 draws from 5 frames must repeat
    assert len(set(sample_indices(5, 12, "very_random", 3).indices.tolist())) <= 5


@pytest.mark.parametrize("mode", ["random", "very_random"])
def test_same_seed_same_indices(mode):
    a = sample_indices(200, 16, mode, np.random.default_rng(7)).indices
    b = sample_indices(200, 16, mode, np.random.default_rng(7)).indices
    c = sample_indices(200, 16, mode, np.random.default_rng(8)).indices
    assert a.tolist() == b.tolist() and a.tolist() != c.tolist()
    ta = sample_indices(200, 16, mode, torch.Generator().manual_seed(3)).indices
    tb = sample_indices(200, 16, mode, torch.Generator().manual_seed(3)).indices
    assert ta.tolist() == tb.tolist()
    assert sample_indices(200, 16, mode, 5).indices.tolist() == sample_indices(200, 16, mode, 5).indices.tolist()


@pytest.mark.parametrize("mode", ["uniform", "random", "first"])
def test_short_video_padded_with_last_frame(mode):
    s = sample_indices(3, 7, mode, 0)
    assert s.indices.tolist() == [0, 1, 2, 2, 2, 2, 2] and s.n_padded == 4


def test_first_mode_and_errors():
    assert sample_indices(50, 4, "first").indices.tolist() == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="expected one of"):
        sample_indices(10, 4, "evenly")
    with pytest.raises(ValueError, match="0 frames"):
        sample_indices(0, 4, "uniform")
    assert set(SAMPLING_MODES) == {"uniform", "random", "very_random", "first"}


# ---------------------------------------------------------------------------------------------------- transforms
def _const_video(t: int, h: int, w: int) -> torch.Tensor:
    """[T, 3, H, W] where frame k is the constant (k + 1) / 10."""
    return (torch.arange(1, t + 1, dtype=torch.float32) / 10).view(t, 1, 1, 1).expand(t, 3, h, w).clone()


@pytest.mark.parametrize("h,w", [(10, 40), (40, 10), (12, 30)])
def test_resize_pad_keeps_aspect_and_pads_with_zeros(h, w):
    size = 16
    out = resize_pad(_const_video(3, h, w), size)
    new_h, new_w, top, left = resize_pad_geometry(h, w, size)
    assert out.shape == (3, 3, size, size) and out.dtype == torch.float32
    assert max(new_h, new_w) == size and abs(new_h / new_w - h / w) < 0.2
    inside = torch.zeros(size, size, dtype=torch.bool)
    inside[top:top + new_h, left:left + new_w] = True
    assert torch.all(out[:, :, ~inside] == 0)  # zero padding exactly where expected
    for k in range(3):  # batched over T: every frame keeps its own value
        assert torch.allclose(out[k][:, inside], torch.full_like(out[k][:, inside], (k + 1) / 10), atol=1e-5)


def test_resize_pad_geometry_matches_lfdm():
    # LFDM misc.resize: new = int(side * size / max), centred with (size - new) // 2 before
    assert resize_pad_geometry(10, 40, 16) == (4, 16, 6, 0)
    assert resize_pad_geometry(40, 10, 16) == (16, 4, 0, 6)
    assert resize_pad_geometry(480, 336, 128) == (128, 89, 0, 19)


def test_resize_pad_uint8_and_upsampling():
    v = torch.full((2, 3, 8, 8), 255, dtype=torch.uint8)
    out = resize_pad(v, 16)
    assert out.dtype == torch.float32 and torch.allclose(out, torch.ones_like(out))
    assert to_uint8_tensor(out).dtype == torch.uint8 and int(to_uint8_tensor(out).min()) == 255


def test_crop_and_flips():
    v = torch.arange(2 * 3 * 6 * 8, dtype=torch.float32).view(2, 3, 6, 8)
    c = crop(v, (1, 4, 2, 7))
    assert c.shape == (2, 3, 3, 5) and torch.equal(c, v[:, :, 1:4, 2:7])
    assert CropBox.parse({"top": 1, "bottom": 4, "left": 2, "right": 7}) == CropBox(1, 4, 2, 7)
    with pytest.raises(ValueError, match="does not fit in a 6x8 frame"):
        crop(v, (0, 7, 0, 8))
    with pytest.raises(ValueError, match="invalid crop box"):
        CropBox.parse((4, 1, 0, 2))
    assert torch.equal(hflip(v)[..., 0], v[..., -1]) and torch.equal(time_flip(v)[0], v[1])


# ---------------------------------------------------------------------------------------------------- ClipDataset
def _frames(t: int, h: int, w: int, step: int = 20) -> np.ndarray:
    """uint8 [T, H, W, 3]: frame k is grey level 10 + step * k, with a white left column (to see flips)."""
    v = np.zeros((t, h, w, 3), dtype=np.uint8)
    v[:] = (10 + step * np.arange(t, dtype=np.int64)).clip(0, 255).astype(np.uint8)[:, None, None, None]
    v[:, :, 0] = 255
    return v


def _record(path: Path, subject: str, cls: int, split: str = "train", **params) -> VideoRecord:
    return VideoRecord(path=str(path), subject=subject, class_index=cls, class_name=f"c{cls}", text=f"class {cls}",
                       split=split, take="t0", params=params)


@pytest.fixture
def tiny_videos(tmp_path) -> list[VideoRecord]:
    write_mp4(tmp_path / "a.mp4", _frames(12, 20, 32))  # mp4 width 32 (decord mis-reads some widths, e.g. 16, 24)
    write_gif(tmp_path / "b.gif", _frames(5, 16, 16, step=40))
    folder = tmp_path / "c"
    folder.mkdir()
    for k, f in enumerate(_frames(3, 12, 18, step=60)):
        Image.fromarray(f).save(folder / f"img_{k:04d}.png")
    recs = [_record(tmp_path / "a.mp4", "s1", 0), _record(tmp_path / "b.gif", "s2", 1, "test"),
            _record(folder, "s3", 2)]
    write_manifest(recs, tmp_path / "manifest.csv", relative_to=tmp_path)
    return read_manifest(tmp_path / "manifest.csv")


def test_clip_dataset_shapes_and_padding(tiny_videos):
    ds = ClipDataset(tiny_videos, n_frames=8, size=16)
    assert len(ds) == 3
    clips = [ds[i] for i in range(3)]
    for c in clips:
        assert isinstance(c, Clip) and c.video.shape == (8, 3, 16, 16) and c.video.dtype == torch.float32
        assert 0.0 <= float(c.video.min()) and float(c.video.max()) <= 1.0
    assert clips[0].n_padded == 0 and clips[0].indices == np.linspace(0, 11, 8, dtype=int).tolist()
    assert clips[1].n_padded == 3 and clips[1].indices == [0, 1, 2, 3, 4, 4, 4, 4]
    assert clips[2].n_padded == 5 and clips[2].subject == "s3" and clips[2].text == "class 2"
    # padded frames repeat the last frame exactly
    assert torch.equal(clips[2].video[2], clips[2].video[7])


def test_clip_dataset_reads_the_right_frames(tiny_videos):
    ds = ClipDataset(tiny_videos, n_frames=3, size=None, sampling="first", dtype="uint8")
    folder_clip = ds[2]
    assert folder_clip.video.shape == (3, 3, 12, 18) and folder_clip.video.dtype == torch.uint8
    assert folder_clip.video[:, 0, 5, 9].tolist() == [10, 70, 130]
    mp4 = ClipDataset(tiny_videos[:1], n_frames=4, size=None, sampling="uniform", dtype="uint8")[0]
    grey = mp4.video[:, 1, 10, 16].float()
    expected = torch.tensor([10 + 20 * i for i in mp4.indices], dtype=torch.float32)
    assert torch.allclose(grey, expected, atol=6)  # lossy codec


def test_clip_dataset_is_seeded(tiny_videos):
    a = ClipDataset(tiny_videos, n_frames=4, size=16, sampling="random", seed=3)
    b = ClipDataset(tiny_videos, n_frames=4, size=16, sampling="random", seed=3)
    assert a[0].indices == b[0].indices and torch.equal(a[0].video, b[0].video)
    draws = set()
    for epoch in range(8):
        a.set_epoch(epoch)
        draws.add(tuple(a[0].indices))
    assert len(draws) > 1
    t1 = a.get(0, torch.Generator().manual_seed(11))
    t2 = a.get(0, torch.Generator().manual_seed(11))
    assert t1.indices == t2.indices
    vr = ClipDataset(tiny_videos, n_frames=6, size=16, sampling="very_random", seed=1)
    assert vr[0].indices[0] == 0 and vr[0].indices == sorted(vr[0].indices)


def test_augmentations(tiny_videos):
    plain = ClipDataset(tiny_videos, n_frames=4, size=16)[2]
    flipped = ClipDataset(tiny_videos, n_frames=4, size=16, hflip=1.0)[2]
    assert flipped.hflipped and torch.equal(flipped.video, plain.video.flip(-1))
    rev = ClipDataset(tiny_videos, n_frames=4, size=16, time_flip=1.0)[0]
    plain0 = ClipDataset(tiny_videos, n_frames=4, size=16)[0]
    assert rev.time_flipped and rev.indices == plain0.indices[::-1] and torch.equal(rev.video, plain0.video.flip(0))


def test_crop_from_record_override_and_off(tiny_videos):
    rec = tiny_videos[2]
    boxed = VideoRecord(**{**rec.__dict__, "params": {"crop": {"top": 0, "bottom": 12, "left": 1, "right": 13}}})
    by_record = ClipDataset([boxed], n_frames=2, size=None, sampling="first")[0]
    assert by_record.video.shape[-2:] == (12, 12)
    assert float(by_record.video[0, 0, 0, 0]) < 0.5  # the white column 0 was cropped away
    override = ClipDataset([boxed], n_frames=2, size=None, sampling="first", crop=(0, 6, 0, 6))[0]
    assert override.video.shape[-2:] == (6, 6)
    off = ClipDataset([boxed], n_frames=2, size=None, sampling="first", crop=False)[0]
    assert off.video.shape[-2:] == (12, 18)


def test_collate_and_dataloader(tiny_videos):
    ds = ClipDataset(tiny_videos, n_frames=4, size=16, dtype="uint8")
    batches = list(DataLoader(ds, batch_size=2, collate_fn=collate))
    assert [len(b) for b in batches] == [2, 1]
    b = batches[0]
    assert isinstance(b, ClipBatch) and b.video.shape == (2, 4, 3, 16, 16) and b.video.dtype == torch.uint8
    assert b.class_index.tolist() == [0, 1] and b.subject == ["s1", "s2"] and b.text == ["class 0", "class 1"]
    assert b.path == [tiny_videos[0].path, tiny_videos[1].path] and b.indices.shape == (2, 4)
    assert b.n_padded.tolist() == [0, 0] and b.to("cpu").video.shape == b.video.shape
    with pytest.raises(ValueError, match="different shapes"):
        collate([ds[0], ClipDataset(tiny_videos, n_frames=4, size=8, dtype="uint8")[1]])


def test_clip_dataset_argument_errors(tiny_videos):
    with pytest.raises(ValueError, match="expected one of"):
        ClipDataset(tiny_videos, n_frames=4, size=16, sampling="linear")
    with pytest.raises(ValueError, match="dtype"):
        ClipDataset(tiny_videos, n_frames=4, size=16, dtype="float16")
    with pytest.raises(ValueError, match="probability"):
        ClipDataset(tiny_videos, n_frames=4, size=16, hflip=2)


def test_manifest_with_relative_paths_from_another_working_directory(tmp_path, monkeypatch):
    """Records made with paths relative to the working directory (a relative output folder) are read back to the
    same files: the manifest stores them relative to its own folder (or absolute), never relative to the cwd."""
    monkeypatch.chdir(tmp_path)
    out = Path("bench_out") / "samples"  # relative, as the README's default output folder
    (out / "videos").mkdir(parents=True)
    write_mp4(out / "videos" / "a.mp4", _frames(4, 16, 16))
    elsewhere = Path("data")  # outside the manifest's folder: stored absolute
    elsewhere.mkdir()
    write_mp4(elsewhere / "b.mp4", _frames(4, 16, 16))
    recs = [_record(out / "videos" / "a.mp4", "s1", 0), _record(elsewhere / "b.mp4", "s2", 1)]
    write_manifest(recs, out / "manifest.csv", relative_to=out)
    rows = (out / "manifest.csv").read_text().splitlines()
    assert rows[1].startswith("videos/a.mp4,") and rows[2].startswith(str((tmp_path / "data" / "b.mp4").resolve()))
    for cwd in (tmp_path, tmp_path / "data"):  # read from anywhere
        monkeypatch.chdir(cwd)
        back = read_manifest(tmp_path / "bench_out" / "samples" / "manifest.csv")
        assert [Path(r.path) for r in back] == [(tmp_path / p).resolve() for p in (out / "videos/a.mp4",
                                                                                     elsewhere / "b.mp4")]
        assert all(Path(r.path).is_file() for r in back)
