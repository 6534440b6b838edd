"""Issue 24, items 1 and 6: no input that fools the evaluation.

* The real reference is read at the protocol's size (``--size``, else the dataset's frame size), never at the
  generated videos' size: a folder of 1x1 grey videos was scored against real videos read at 1x1 (FVD 0.0018 with
  i3d-random, against 7.13 for real LFDM samples), and 8x1000 videos were accepted too. Sizes that cannot be meant
  (under 16 pixels a side, an aspect ratio far from the dataset's) are refused naming the folder, a video and the size.
* The time-span check uses the frames in the generated files, not the manifest's ``n_frames``: 40-frame videos listed
  as 10 frames, scored on their first 10, were declared to cover "the same time span" as the 10-frame real clips.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from lfdm_bench.data.records import read_manifest
from lfdm_bench.data.video_io import write_mp4, write_png
from metrics.commands import eval_cmd
from metrics.evaluate import evaluate
from metrics.protocol import EvalProtocol

pytestmark = pytest.mark.usefixtures("one_thread")


def _protocol(tiny: dict, **kw) -> EvalProtocol:
    return EvalProtocol(dataset=tiny["manifest"], split="test", n_frames=10, **kw)


def _grey_frame_folders(tiny: dict, height: int, width: int, frames: int = 10) -> Path:
    """Replace every video of the sample folder by a folder of constant grey PNG frames of ``height x width``."""
    manifest = tiny["samples"] / "manifest.csv"
    with open(manifest, newline="") as f:
        reader = csv.DictReader(f)
        fields, rows = reader.fieldnames, list(reader)
    for i, row in enumerate(rows):
        folder = tiny["samples"] / f"grey_{i:03d}"
        folder.mkdir()
        for t in range(frames):
            write_png(folder / f"{t:03d}.png", np.full((height, width, 3), 128, np.uint8))
        row["path"] = folder.name
    with open(manifest, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    return manifest


@pytest.mark.parametrize("height, width, message", [
    (1, 1, r"are 1x1 pixels .*frames under 16 pixels a side cannot be meant"),
    (8, 1000, r"are 8x1000 pixels .*frames under 16 pixels a side cannot be meant"),
    (16, 200, r"are 16x200 pixels .*aspect ratio \(width/height 12\.5\) is more than 2x off the dataset's "
              r"\(1, 32x32\)"),
])
def test_sizes_that_cannot_be_meant_are_refused(tiny_eval_set, height, width, message):
    tiny = tiny_eval_set
    _grey_frame_folders(tiny, height, width)
    folder = str(tiny["samples"])
    with pytest.raises(ValueError, match=rf"^{folder}: the generated videos {message}"):
        evaluate(_protocol(tiny), tiny["samples"], ["fvd"], cache=False)
    with pytest.raises(ValueError, match=message):  # whatever size the protocol reads at
        evaluate(_protocol(tiny, resolution=64), tiny["samples"], ["fvd"], cache=False)
    r = CliRunner().invoke(eval_cmd, ["--samples", folder, "--dataset", tiny["manifest"], "--metric", "fvd",
                                      "--frames", "10"])
    assert r.exit_code == 1 and r.output.startswith(f"Error: {folder}: the generated videos are {height}x{width}")
    assert len(r.output.strip().splitlines()) == 1 and "Traceback" not in r.output, r.output
    assert not tiny["built"] and not (tiny["samples"] / "metrics" / "metrics.json").exists()  # refused before work


@pytest.mark.e2e  # a whole command / evaluation / dataset build or a subprocess: the full suite runs it
def test_real_videos_are_read_at_the_dataset_size_not_the_generated_one(tiny_eval_set):
    """16x16 grey videos (a size that can be meant) are brought to the dataset's 32 px; the real videos are read at
    32 px as for the real-clip samples, so their features (and the real side of every FVD) are the same."""
    tiny = tiny_eval_set
    normal = evaluate(_protocol(tiny), tiny["samples"], ["fvd"], cache=False)
    _grey_frame_folders(tiny, 16, 16)
    grey = evaluate(_protocol(tiny), tiny["samples"], ["fvd"], cache=False)
    assert normal.protocol["resolution"] == grey.protocol["resolution"] == 32  # was 16: the generated videos' size
    np.testing.assert_array_equal(grey.features["real_test"]["i3d"], normal.features["real_test"]["i3d"])
    assert grey.values["fvd"]["test"] > 10 * max(normal.values["fvd"]["test"], 1e-3)
    wider = evaluate(_protocol(tiny, resolution=48), tiny["samples"], ["fvd"], cache=False)  # --size: both at 48
    assert wider.protocol["resolution"] == 48 and wider.records["generated"][0].path.endswith("grey_000")


def _lengthen(tiny: dict, frames: int) -> None:
    """Rewrite every sample video with ``frames`` frames (its 10 frames, then their mirror, repeated), leaving the
    manifest's ``n_frames`` (10) as it is."""
    for r in read_manifest(tiny["samples"] / "manifest.csv"):
        from lfdm_bench.data.video_io import read_video

        video = read_video(r.path)
        loop = np.concatenate([video, video[::-1]])
        write_mp4(r.path, np.concatenate([loop] * (frames // len(loop) + 1))[:frames])


@pytest.mark.e2e  # a whole command / evaluation / dataset build or a subprocess: the full suite runs it
def test_time_span_uses_the_frames_in_the_files(tiny_eval_set):
    tiny = tiny_eval_set
    rows = read_manifest(tiny["samples"] / "manifest.csv")
    assert {r.n_frames for r in rows} == {10} and {r.params["clip_sampling"] for r in rows} == {"uniform"}
    same = evaluate(_protocol(tiny), tiny["samples"], ["fvd"], cache=False)
    assert same.protocol["time_span"]["matches"] is True and same.protocol["time_span"]["generated"] == 1.0
    _lengthen(tiny, 40)
    with pytest.raises(ValueError, match=r"generated clips \(first 10 frames of videos sampled 'uniform'\) cover 23% "
                                         r"of their source videos: DIFFERENT time spans"):
        evaluate(_protocol(tiny), tiny["samples"], ["fvd"], cache=False)
    allowed = evaluate(_protocol(tiny, allow_span_mismatch=True), tiny["samples"], ["fvd"], cache=False)
    assert allowed.protocol["time_span"]["generated"] == pytest.approx(9 / 39)
    assert any("hold another number of frames than their manifest says" in n and "40 frames, n_frames 10" in n
               for n in allowed.notes), allowed.notes
