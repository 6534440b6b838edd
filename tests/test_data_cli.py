"""The ``data`` click group: ``make`` (synthetic, through a stand-in generator) and ``info`` on tiny trees."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from lfdm_bench.data.commands import data
from lfdm_bench.data.records import VideoRecord, write_manifest
from lfdm_bench.data.registry import get_dataset


def _frames(folder: Path, n: int, value: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(n):
        Image.fromarray(np.full((12, 10, 3), (value + 20 * k) % 256, dtype=np.uint8)).save(folder / f"img_{k:04d}.jpg")


@pytest.fixture
def mug_root(tmp_path) -> Path:
    root = tmp_path / "MUG"
    _frames(root / "008" / "happiness" / "take000", 3, 40)
    _frames(root / "008" / "anger" / "take000", 2, 80)
    _frames(root / "001" / "surprise" / "take000", 2, 120)
    _frames(root / "002" / "session1" / "fear" / "take000", 2, 160)
    _frames(root / "003" / "session0" / "fear" / "take000", 2, 200)
    return root


def test_info_on_mug_tree_writes_png_and_gif(mug_root, tmp_path):
    out = tmp_path / "preview"
    res = CliRunner().invoke(data, ["info", "mug", "--root", str(mug_root), "--out", str(out), "--thumb", "16",
                                    "--frames", "4", "--clips", "3"])
    assert res.exit_code == 0, res.output
    assert "happiness" in res.output and "excluded: 003" in res.output
    assert "subject" in res.output and "train" in res.output and "test" in res.output
    sheet, gif = out / "mug_first_frames.png", out / "mug_clips.gif"
    assert str(sheet) in res.output and str(gif) in res.output
    with Image.open(sheet) as im:
        assert im.mode == "RGB" and im.size[0] >= 2 * 16  # 3 subjects -> a 2x2 grid of 16 px tiles
    with Image.open(gif) as im:
        assert im.size == (im.size[0], im.size[0]) and 2 <= im.n_frames <= 4  # PIL merges identical (padded) frames
    summary = json.loads((out / "mug_info.json").read_text())
    assert summary["summary"]["videos"] == 4 and summary["class_names"][3] == "happiness"


def test_info_sheet_by_class_and_default_out(mug_root, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(data, ["info", "mug", "--root", str(mug_root), "--sheet-by", "class", "--thumb", "8",
                                    "--frames", "2", "--clips", "2", "--split", "train"])
    assert res.exit_code == 0, res.output
    assert "one per class" in res.output and "anger, happiness" in res.output
    assert (tmp_path / "data_info" / "mug" / "mug_first_frames.png").is_file()
    assert (tmp_path / "data_info" / "mug" / "mug_clips.gif").is_file()


def test_info_errors(tmp_path):
    res = CliRunner().invoke(data, ["info", "mug"])
    assert res.exit_code != 0 and "--root" in res.output
    res = CliRunner().invoke(data, ["info", "ucf101"])
    assert res.exit_code != 0 and "synth-faces, synth-actions, mug, mhad, natops" in res.output
    res = CliRunner().invoke(data, ["info", "mug", "--root", str(tmp_path)])
    assert res.exit_code != 0 and "expected" in res.output
    res = CliRunner().invoke(data, ["info", "mhad", "--root", str(tmp_path), "-o", "noequals"])
    assert res.exit_code != 0 and "KEY=VALUE" in res.output


def _fake_synth(monkeypatch, calls: list) -> None:
    """Stand in for lfdm_bench.data.synth.make.ensure_synthetic: a 4-video dataset of frame folders."""

    def ensure_synthetic(name, root=None, progress=True, **overrides):
        calls.append((name, root, progress, overrides))
        base = Path(root) / name
        recs = []
        for i, (subject, split) in enumerate([("s0", "train"), ("s1", "train"), ("s2", "test"), ("s3", "test")]):
            _frames(base / f"v{i}", 3, 30 * i)
            recs.append(VideoRecord(path=str(base / f"v{i}"), subject=subject, class_index=i % 2,
                                    class_name=["nod", "shake"][i % 2], text=["a nod", "a shake"][i % 2], split=split,
                                    take="0", n_frames=3))
        write_manifest(recs, base / "manifest.csv", relative_to=base)
        (base / "dataset.json").write_text(json.dumps({"class_names": ["nod", "shake"],
                                                       "class_texts": ["a nod", "a shake"]}))
        return base / "manifest.csv"

    from lfdm_bench.data import registry
    from lfdm_bench.data.synth import make

    monkeypatch.setattr(make, "ensure_synthetic", ensure_synthetic)  # what `data make` calls
    monkeypatch.setattr(registry, "ensure_synthetic", ensure_synthetic)  # what get_dataset calls
    for module in (make, registry):  # the fake dataset has no validation subjects
        monkeypatch.setattr(module, "ensure_validation", lambda *a, **k: None)


def test_make_forwards_overrides_and_reports(monkeypatch, tmp_path):
    calls: list = []
    _fake_synth(monkeypatch, calls)
    res = CliRunner().invoke(data, ["make", "synth-faces", "--size", "32", "--frames", "8", "--subjects", "4",
                                    "--takes", "2", "--seed", "3", "--style", "flat", "--out", str(tmp_path),
                                    "--no-progress"])
    assert res.exit_code == 0, res.output
    name, root, progress, overrides = calls[0]
    assert (name, Path(root), progress) == ("synth-faces", tmp_path, False)
    assert overrides == {"size": 32, "frames": 8, "n_subjects": 4, "n_takes": 2, "seed": 3, "style": "flat"}
    assert str(tmp_path / "synth-faces") in res.output and "4 videos" in res.output and "took" in res.output
    res = CliRunner().invoke(data, ["make", "mug"])
    assert res.exit_code != 0 and "synth-faces" in res.output


def test_registry_and_info_on_synthetic(monkeypatch, tmp_path):
    calls: list = []
    _fake_synth(monkeypatch, calls)
    info = get_dataset("synth-actions", root=tmp_path, size=16, progress=False)
    assert info.name == "synth-actions" and info.class_texts == ["a nod", "a shake"] and len(info.records) == 4
    assert calls[-1][3] == {"size": 16}
    manifest_info = get_dataset(str(tmp_path / "synth-actions" / "manifest.csv"))
    assert manifest_info.class_names == ["nod", "shake"] and manifest_info.subjects("test") == ["s2", "s3"]
    out = tmp_path / "o"
    res = CliRunner().invoke(data, ["info", "synth-actions", "--root", str(tmp_path), "--out", str(out), "--thumb",
                                    "8", "--frames", "2", "-o", "size=16"])
    assert res.exit_code == 0, res.output
    assert calls[-1][3] == {"size": 16} and (out / "synth-actions_clips.gif").is_file()
