"""MUG / UTD-MHAD / NATOPS loaders on tiny trees in each real layout: what is found, how it is split, texts, crops."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from lfdm_bench.data.dataset import ClipDataset
from lfdm_bench.data.real import DatasetLayoutError, load_split_spec
from lfdm_bench.data.registry import DATASETS, MissingRootError, get_dataset
from helpers import png_frames, ramp, write_avi

MUG_TRAIN = "008 017 021 028 030 031 034 036 037 038 039 042 043 044 045 055 060 061 062 063 071 075 076 077 083 084"
MUG_TEST = "001 002 006 007 010 013 014 020 027 032 033 040 046 048 049 052 064 065 066 070 072 073 074 078 079 082"


# ---------------------------------------------------------------------------------------------------- splits data
def test_split_files_hold_the_lfdm_lists():
    mug = load_split_spec("mug")
    assert mug.train_subjects == tuple(MUG_TRAIN.split()) and mug.test_subjects == tuple(MUG_TEST.split())
    assert mug.class_names == ("anger", "disgust", "fear", "happiness", "neutral", "sadness", "surprise")
    assert mug.class_texts == mug.class_names and "003" not in mug.train_subjects + mug.test_subjects
    mhad = load_split_spec("mhad")
    assert mhad.train_subjects == ("1", "2", "3", "5") and mhad.test_subjects == ("4", "6", "7", "8")
    assert len(mhad.class_texts) == 27 and mhad.class_texts[20] == "pick up and throw"
    assert mhad.class_texts[25] == "forward lunge (left foot forward)" and tuple(mhad.crop) == (0, 480, 156, 492)
    natops = load_split_spec("natops")
    assert [int(s) for s in natops.train_subjects] == [3, 4, 8, 9, 12, 13, 15, 17, 19, 20]
    assert [int(s) for s in natops.test_subjects] == [2, 5, 6, 7, 10, 11, 14, 16, 18]
    assert natops.unused_subjects == ("01",) and tuple(natops.crop) == (10, 239, 30, 290)
    assert natops.class_texts[0] == "I Have Command" and natops.class_texts[-1] == "Cut Engine"


# ---------------------------------------------------------------------------------------------------- MUG
@pytest.fixture
def mug_root(tmp_path) -> Path:
    root = tmp_path / "MUG"
    png_frames(root / "008" / "happiness" / "take000", 3)          # train
    png_frames(root / "008" / "anger" / "take001", 2)
    png_frames(root / "001" / "surprise" / "take000", 2)           # test
    for s in ("session0", "session1"):
        png_frames(root / "002" / s / "fear" / "take000", 2)        # test, two sessions
        png_frames(root / "003" / s / "neutral" / "take000", 2)     # in neither list
    png_frames(root / "049" / "session1" / "sadness" / "take002", 2)  # test, session1 only
    (root / "008" / "landmarks").mkdir()                             # not an expression
    (root / "README.txt").write_text("MUG")
    return root


def test_mug_finds_and_splits(mug_root):
    info = get_dataset("mug", root=mug_root)
    got = {(r.subject, r.class_name, r.take, r.split) for r in info.records}
    assert got == {
        ("008", "happiness", "take000", "train"), ("008", "anger", "take001", "train"),
        ("001", "surprise", "take000", "test"),
        ("002", "fear", "session0/take000", "test"), ("002", "fear", "session1/take000", "test"),
        ("049", "sadness", "session1/take002", "test"),
    }
    assert len({r.path for r in info.records}) == len(info.records)  # session0 is not read twice
    assert all(r.text == r.class_name and info.class_names[r.class_index] == r.class_name for r in info.records)
    assert {r.path: r.n_frames for r in info.records}[str(mug_root / "008" / "happiness" / "take000")] == 3
    notes = " ".join(info.notes)
    assert "excluded: 003" in notes and "session1" in notes and "session0 twice" in notes
    assert "008/landmarks" in notes and info.crop is None
    assert set(info.subjects("train")) <= set(MUG_TRAIN.split()) and set(info.subjects("test")) <= set(MUG_TEST.split())
    clip = ClipDataset(info.split("train"), n_frames=4, size=8)[0]
    assert clip.video.shape == (4, 3, 8, 8)


def test_mug_wrong_layouts(tmp_path, mug_root):
    flat = tmp_path / "flat"
    png_frames(flat / "happiness" / "take000", 2)  # subject level missing
    with pytest.raises(DatasetLayoutError, match=re.escape(str(flat)) + r"(.|\n)*<subject(.|\n)*happiness/"):
        get_dataset("mug", root=flat)
    loose = tmp_path / "loose"
    png_frames(loose / "008" / "anger", 2)  # take level missing
    with pytest.raises(DatasetLayoutError, match="images directly in .*anger"):
        get_dataset("mug", root=loose)
    with pytest.raises(DatasetLayoutError, match="does not exist"):
        get_dataset("mug", root=tmp_path / "nowhere")
    with pytest.raises(TypeError, match="unknown option.*crop"):
        get_dataset("mug", root=mug_root, crop=True)


def test_registry_errors():
    with pytest.raises(MissingRootError, match="--root"):
        get_dataset("mhad")
    with pytest.raises(ValueError, match="synth-faces, synth-actions, mug, mhad, natops"):
        get_dataset("kinetics")
    assert DATASETS == ("synth-faces", "synth-actions", "mug", "mhad", "natops")


# ---------------------------------------------------------------------------------------------------- UTD-MHAD
@pytest.fixture
def mhad_root(tmp_path) -> Path:
    root = tmp_path / "UTD-MHAD"
    for a, s, t in [(1, 1, 1), (2, 4, 1), (27, 8, 4), (21, 5, 2), (3, 2, 3), (4, 6, 1), (5, 3, 1), (6, 7, 2)]:
        write_avi(root / f"a{a}_s{s}_t{t}_color.avi", ramp(3))
    write_avi(root / "b1_s1_t1_color.avi", ramp(2))  # does not match the pattern
    (root / "a1_s1_t1_depth.mat").write_bytes(b"")
    return root


def test_mhad_finds_and_splits(mhad_root):
    info = get_dataset("mhad", root=mhad_root)
    assert len(info.records) == 8
    assert {r.subject for r in info.split("train")} == {"1", "2", "3", "5"}
    assert {r.subject for r in info.split("test")} == {"4", "6", "7", "8"}
    by_name = {Path(r.path).name: r for r in info.records}
    r = by_name["a21_s5_t2_color.avi"]
    assert (r.class_index, r.class_name, r.text, r.take, r.split) == (20, "a21", "pick up and throw", "t2", "train")
    assert by_name["a27_s8_t4_color.avi"].text == "squat"
    assert tuple(info.crop) == (0, 480, 156, 492) and r.params["crop"] == {"top": 0, "bottom": 480, "left": 156, "right": 492}
    assert any("b1_s1_t1_color.avi" in n for n in info.notes)
    off = get_dataset("mhad", root=mhad_root, crop=False)
    assert off.crop is None and all("crop" not in r.params for r in off.records)
    clip = ClipDataset(off.records, n_frames=4, size=16)[0]  # a real AVI, decoded by decord
    assert clip.video.shape == (4, 3, 16, 16) and clip.n_padded == 1


def test_mhad_lfdm_crop_on_native_frames(tmp_path):
    frames = np.zeros((3, 480, 640, 3), dtype=np.uint8)
    frames[:, :, 156:492] = 255  # the person region LFDM keeps
    root = tmp_path / "mhad"
    write_avi(root / "RGB" / "a8_s1_t1_color.avi", frames)  # the archive's RGB/ sub-folder
    info = get_dataset("mhad", root=root)
    clip = ClipDataset(info.records, n_frames=2, size=32, sampling="first")[0]
    # 480x336 -> 32x22 centred: columns 5..26 hold the (white) crop, the rest is zero padding
    assert torch.all(clip.video[:, :, :, 5:27] > 0.9) and torch.all(clip.video[:, :, :, :5] == 0)
    assert torch.all(clip.video[:, :, :, 27:] == 0)


def test_mhad_wrong_layout(tmp_path):
    root = tmp_path / "videos"
    write_avi(root / "action1_subject1.avi", ramp(2))
    with pytest.raises(DatasetLayoutError, match=r"a<action>_s<subject>_t<trial>_color\.avi(.|\n)*action1_subject1"):
        get_dataset("mhad", root=root)


# ---------------------------------------------------------------------------------------------------- NATOPS
@pytest.fixture
def natops_frames_root(tmp_path) -> Path:
    root = tmp_path / "natops_split"
    for g, s, p in [(1, 3, 1), (1, 3, 2), (2, 2, 1), (24, 20, 20), (5, 1, 1), (12, 18, 7)]:
        name = f"g{g:02d}s{s:02d}p{p:02d}"
        png_frames(root / name, 2, h=240, w=320, ext="png", name=lambda k, n=name: f"{n}-{k:04d}-{40 + k:04d}")
    return root


def test_natops_frame_folders(natops_frames_root):
    info = get_dataset("natops", root=natops_frames_root)
    got = {(r.subject, r.class_name, r.take, r.split) for r in info.records}
    assert got == {("03", "gesture01", "p01", "train"), ("03", "gesture01", "p02", "train"),
                   ("02", "gesture02", "p01", "test"), ("20", "gesture24", "p20", "train"),
                   ("18", "gesture12", "p07", "test")}
    texts = {r.class_name: r.text for r in info.records}
    assert texts["gesture01"] == "I Have Command" and texts["gesture24"] == "Cut Engine" and texts["gesture12"] == "Move Ahead"
    assert any("excluded: 01" in n for n in info.notes)
    assert tuple(info.crop) == (10, 239, 30, 290)
    clip = ClipDataset(info.records[:1], n_frames=2, size=32)[0]  # crop 229x260 -> 28x32
    assert clip.video.shape == (2, 3, 32, 32) and torch.all(clip.video[:, :, :2] == 0)


def test_natops_raw_videos_with_segmentation(tmp_path):
    root = tmp_path / "NATOPS"
    write_avi(root / "gesture01" / "g01s03.avi", ramp(12))
    write_avi(root / "gesture02" / "g02s03.avi", ramp(6))
    write_avi(root / "gesture01" / "g01s01.avi", ramp(4))  # subject 1: unused
    seg = "\n".join(["// Subject 1", "1,1,1", "1:1,2", "1,2,1", "1:1,2",
                     "// Subject 2", "1,1,2",
                     "// Subject 3", "1,1,3", "1:1,5", "2:6,12", "2,1,3", "1:2,6"])
    (root / "segmentation.txt").write_text(seg + "\n")
    info = get_dataset("natops", root=root, crop=False)
    reps = {(r.class_name, r.take): r for r in info.records}
    assert set(reps) == {("gesture01", "p01"), ("gesture01", "p02"), ("gesture02", "p01")}
    assert reps[("gesture01", "p02")].params["segment"] == [5, 12] and reps[("gesture01", "p02")].n_frames == 7
    assert all(r.subject == "03" and r.split == "train" for r in info.records)
    clip = ClipDataset([reps[("gesture01", "p02")]], n_frames=3, size=None, sampling="first", dtype="uint8")[0]
    assert clip.indices == [0, 1, 2]
    grey = clip.video[:, 1, 10, 16].float()
    assert torch.allclose(grey, torch.tensor([110.0, 130.0, 150.0]), atol=8)  # source frames 5, 6, 7


def test_natops_layout_errors(tmp_path):
    root = tmp_path / "raw"
    write_avi(root / "gesture01" / "g01s03.avi", ramp(3))
    with pytest.raises(DatasetLayoutError, match="segmentation"):
        get_dataset("natops", root=root)
    other = tmp_path / "other"
    (other / "videos").mkdir(parents=True)
    with pytest.raises(DatasetLayoutError, match="gGGsSSpPP(.|\n)*gestureGG(.|\n)*videos/"):
        get_dataset("natops", root=other)
    with pytest.raises(ValueError, match="layout must be one of"):
        get_dataset("natops", root=other, layout="mp4")
