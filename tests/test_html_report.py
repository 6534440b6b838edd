"""report.html: the page of one or several benchmark outputs. On hand-made folders (results with hostile strings, tiny
sample folders): the page parses, escapes every text, shows every number of results.json in its row and column,
references only files inside its own folder (copying those of other folders), and its sample GIFs hold exactly the
source takes and the generated videos, tile by tile. The page of a real benchmark run is checked in test_bench.py."""

import copy
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bench.html_browser import find_browser, image_check
from bench.html_report import write_html_report
from bench.commands import report
from bench.report import load_source
from bench.sample_gifs import PAD, write_sample_gifs
from lfdm_bench.data.records import VideoRecord, write_manifest
from lfdm_bench.data.video_io import read_video, write_mp4
from helpers import Page, check_numbers_shown, check_refs_inside

HOSTILE = '<script>alert("x")</script> & \'q\''
PROTOCOL = {"dataset": "synth-faces", "split": "both", "n_frames": 4, "resolution": 8, "detector": "i3d.pt",
            "bn_eps": 1e-3, "resize_method": "bilinear", "ddof": 1, "real_sampling": "uniform",
            "max_real": None, "max_generated": None, "seed": 0}
DETECTOR = {"name": "i3d_pretrained_400.pt", "sha256": "ab" * 32, "bn_eps": 1e-3, "resize_method": "bilinear",
            "precision": "fp32", "comparable_with_published": True}


def _split(fvd):
    return {"fvd": fvd, "fvd_ci": [fvd - 1.25, fvd + 1.5], "cfvd": {"mean": fvd * 2, "std": 3.25},
            "sfvd": {"mean": fvd * 3, "std": 4.5}, "kvd": 0.0123, "acc": 0.4286, "acc_real": 0.9, "psnr": 21.375,
            "ssim": 0.6125, "n_generated": 6, "n_real": 6, "seconds_per_video": 0.5, "expr_ratio": 0.8125,
            "expr_min": 0.5625, "expr_min_class": "fear", "acc_expr": 0.3571, "acc_expr_ratio": 0.4375}


def _results(hardware, fvd):
    return {"benchmark": {"name": "bench-html", "hardware": hardware, "config": {"methods": ["lfdm", "static"]}},
            "protocol": PROTOCOL, "detector": DETECTOR,
            "methods": {"lfdm": {"test": _split(fvd), "train": _split(fvd - 10), "gap": {"fvd": 10.0}},
                        "static": {"test": {**_split(fvd + 50), "fvd_diff_lfdm": 50.0,
                                            "fvd_diff_lfdm_ci": [48.5, 51.25]}}},
            "table_notes": {"test": {"difference": {"method": "paired subject-cluster bootstrap", "n_boot": 20,
                                                    "n_subjects": 2, "reference": "lfdm"}}},
            "autoencoders": {"LFAE": {"l1": 0.0456, "psnr": 25.125, "ssim": 0.8125, "frames": 100}},
            "models": {"LFDM": {"unet_params": 123456, "train_batch_shape": [4, 3, 10, 8, 8]}},
            "facts": {"hardware": hardware, "seeds": {"train": 7}, "note": HOSTILE},
            "expression_per_class": {"test": {"lfdm": {"fear": {"ratio": 0.5625, "se": 0.1, "n": 3},
                                                       "neutral": {"ratio": None, "why": "no change"},
                                                       "surprise": {"ratio": 1.0625, "se": None, "n": 3}},
                                              "real_fresh": {"fear": {"ratio": 0.9375}, "neutral": {"ratio": None},
                                                             "surprise": {"ratio": 1.1875}}}},
            "calibration": {"lfdm": {"fvd_other": 3.5}}}  # a key the page has no section for


def _video(seed: int, t: int = 4, size: int = 8) -> np.ndarray:
    """A few flat colours per frame (a GIF palette holds them exactly)."""
    rng = np.random.default_rng(seed)
    colours = rng.integers(0, 4, (t, 2, 3)) * 80
    v = np.empty((t, size, size, 3), np.uint8)
    v[:, :, : size // 2], v[:, :, size // 2:] = colours[:, None, None, 0], colours[:, None, None, 1]
    return v


def _bench_folder(root: Path, hardware: str, fvd: float) -> Path:
    """A benchmark output with results.json, an ablation plot and test sample folders of two methods over 2
    subjects x 2 classes, whose source takes are real mp4s."""
    out = root / hardware.replace(" ", "_").replace("<", "").replace(">", "")
    out.mkdir(parents=True)
    (out / "results.json").write_text(json.dumps(_results(hardware, fvd)))
    (out / "ablation" / "plots").mkdir(parents=True)
    _png(out / "ablation" / "plots" / "fvd_vs_steps.png")
    res = json.loads((out / "results.json").read_text())
    res["ablation"] = {"rows": [{"point": "ddim_s2_g1", "sampler": "ddim", "steps": 2, "guidance": 1.0,
                                 "fvd": 9.875, "n_videos": 4, "n_real": 6}],
                       "plots": ["ablation/plots/fvd_vs_steps.png"]}
    (out / "results.json").write_text(json.dumps(res))
    src_dir = root / "dataset"
    for m, seed0 in (("lfdm", 100), ("static", 200)):
        recs = []
        for si, s in enumerate(("s01", "s02")):
            for c, name in enumerate(("anger", HOSTILE)):
                src = src_dir / f"{s}_{c}.mp4"
                if not src.is_file():
                    src.parent.mkdir(parents=True, exist_ok=True)
                    write_mp4(src, _video(10 * si + c))
                p = out / "samples" / f"{m}_test" / "videos" / f"{s}_{c}.mp4"
                p.parent.mkdir(parents=True, exist_ok=True)
                write_mp4(p, _video(seed0 + 10 * si + c))
                recs.append(VideoRecord(path=str(p), subject=s, class_index=c, class_name=name, text=name,
                                        split="test", take=f"{s}_{c}_00", n_frames=4, params={"source": str(src)}))
        write_manifest(recs, out / "samples" / f"{m}_test" / "manifest.csv", relative_to=out / "samples" / f"{m}_test")
    return out


def _png(path: Path) -> None:
    from PIL import Image

    Image.fromarray(np.full((10, 12, 3), 90, np.uint8)).save(path)


def test_page_of_one_folder(tmp_path):
    out = _bench_folder(tmp_path, "GPU <box> & co", 101.5)
    page_path = write_html_report([load_source(out)], out / "report.html")
    text = page_path.read_text()
    page = Page(text)
    assert not page.stack, page.stack  # every element closed
    assert "script" not in page.tags and "<script>" not in text  # the hostile class name and fact are escaped
    assert HOSTILE in "".join(page.text) and "GPU <box> & co" in "".join(page.text)
    results = json.loads((out / "results.json").read_text())
    assert check_numbers_shown(page, results) > 40
    files = check_refs_inside(page_path, page, out)
    gifs = [f for f in files if f.suffix == ".gif"]
    assert len(gifs) == 2 and all(f.parent == out / "report_files" / "samples" for f in gifs)
    assert out / "ablation" / "plots" / "fvd_vs_steps.png" in files and out / "results.json" in files
    body = "".join(page.text)
    for s in ("Autoencoders", "0.0456", "123,456", "[4, 3, 10, 8, 8]", "calibration", "3.50", "ddim_s2_g1", "9.88",
              "FVD gap (test - train)", "i3d_pretrained_400.pt", "FVD - LFDM", "paired subject-cluster bootstrap"):
        assert s in body, s
    assert "NOT comparable" not in body  # a pretrained detector: no warning
    # the main table's expression columns, then the per-class table (the real fresh takes, the ceiling, first)
    lfdm = next(r for r in page.rows if r["attrs"].get("data-method") == "lfdm" and r["attrs"].get("data-split") == "test")
    heads = {h["text"].rstrip(" ↑↓"): c["text"] for c, h in zip(lfdm["cells"], lfdm["head"][-len(lfdm["cells"]):])}
    assert heads["expression change x real (mean / worst class)"] == "0.81 / 0.56 (fear)"
    assert heads["expr. acc %"] == "35.7" and heads["expr. acc x real"] == "0.44"
    per = [r for r in page.rows if r["attrs"].get("data-expr-split") == "test"]
    assert [r["attrs"]["data-expr-method"] for r in per] == ["real_fresh", "lfdm"]
    assert [c["text"] for c in per[1]["cells"]] == ["LFDM", "0.56", "-", "1.06"]
    assert [h["text"] for h in per[1]["head"]] == ["method", "fear", "neutral", "surprise"]
    assert "Expression change x real per class, test subjects" in body and "Real, fresh takes are the ceiling" in body


def test_sample_gifs_hold_the_source_takes_and_the_generated_videos(tmp_path):
    out = _bench_folder(tmp_path, "cpu", 50.0)
    folders = {m: out / "samples" / f"{m}_test" for m in ("lfdm", "static")}
    data = write_sample_gifs(folders, tmp_path / "gifs", subjects=2, protocol=PROTOCOL, labels={"lfdm": "LFDM"})
    assert data["columns"][1:] == ["LFDM", "static"] and data["subjects"] == ["s01", "s02"] and data["tile"] == 8
    assert [c["index"] for c in data["classes"]] == [0, 1] and not data["notes"]
    for c in data["classes"]:
        grid = read_video(tmp_path / "gifs" / c["gif"])
        assert grid.shape == (4, 2 * (8 + PAD) + PAD, 3 * (8 + PAD) + PAD, 3)
        for si, s in enumerate(("s01", "s02")):
            expect = [read_video(tmp_path / "dataset" / f"{s}_{c['index']}.mp4")]
            expect += [read_video(folders[m] / "videos" / f"{s}_{c['index']}.mp4") for m in ("lfdm", "static")]
            for col, v in enumerate(expect):
                y, x = PAD + si * (8 + PAD), PAD + col * (8 + PAD)
                np.testing.assert_array_equal(grid[:, y:y + 8, x:x + 8], v, err_msg=f"{c['name']} {s} column {col}")


def test_report_command_side_by_side_copies_what_it_shows(tmp_path):
    a = _bench_folder(tmp_path / "a", "GPU cluster", 101.5)
    b = _bench_folder(tmp_path / "b", "laptop", 111.5)
    dest = tmp_path / "cmp"
    r = CliRunner().invoke(report, [str(a), str(b), "--out", str(dest)], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    page_path = dest / "report.html"
    page = Page(page_path.read_text())
    files = check_refs_inside(page_path, page, dest)  # the other folders' files were copied next to the page
    assert sum(f.suffix == ".gif" for f in files) == 4 and (dest / "report.md").is_file()
    rows = [r for r in page.rows if r["attrs"].get("data-method") == "lfdm" and r["attrs"].get("data-split") == "test"]
    assert [r["attrs"]["data-source"] for r in rows] == ["GPU cluster", "laptop"]
    assert any("101.50 [100.25, 103.00]" == c["text"] for c in rows[0]["cells"])
    assert any("111.50 [110.25, 113.00]" == c["text"] for c in rows[1]["cells"])
    # the folder can be moved: nothing refers outside it
    moved = tmp_path / "moved"
    shutil.move(dest, moved)
    check_refs_inside(moved / "report.html", Page((moved / "report.html").read_text()), moved)


def test_report_command_refuses_mixed_protocols_before_writing_a_page(tmp_path):
    a = _bench_folder(tmp_path / "a", "GPU cluster", 101.5)
    b = _bench_folder(tmp_path / "b", "laptop", 111.5)
    res = json.loads((b / "results.json").read_text())
    res["protocol"] = copy.deepcopy(PROTOCOL) | {"n_frames": 16}
    (b / "results.json").write_text(json.dumps(res))
    r = CliRunner().invoke(report, [str(a), str(b), "--html", str(tmp_path / "p.html")])
    assert r.exit_code != 0 and "n_frames" in r.output and not (tmp_path / "p.html").exists()
    r = CliRunner().invoke(report, [str(a), "--format", "html"])
    assert r.exit_code != 0 and "--out" in r.output


@pytest.mark.slow
@pytest.mark.skipif(find_browser() is None, reason="no headless Chromium/Chrome installed")
def test_browser_loads_every_image_and_sees_a_broken_one(tmp_path):
    out = _bench_folder(tmp_path, "cpu", 50.0)
    page_path = write_html_report([load_source(out)], out / "report.html")
    images = image_check(page_path)
    assert len(images) == 3 and all(i["loaded"] and i["width"] > 0 for i in images), images
    (out / "report_files" / "samples" / "class00_anger.gif").unlink()
    images = image_check(page_path)
    assert [i["loaded"] for i in images].count(False) == 1
