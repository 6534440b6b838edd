"""Video reading/writing round trips and bad-file errors."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lfdm_bench.data.video_io import (BadVideoError, count_frames, make_grid, read_video, to_uint8_frames, write_gif,
                                      write_mp4)


def _video(t=10, h=24, w=32):
    rng = np.random.default_rng(0)
    v = np.zeros((t, h, w, 3), np.uint8)
    v[:, : h // 2] = (200, 30, 90)  # flat colour blocks survive compression
    v[:, h // 2:] = rng.integers(0, 255, (1, h - h // 2, w, 3), dtype=np.uint8)
    return v


def test_mp4_roundtrip(tmp_path):
    v = _video()
    write_mp4(tmp_path / "a.mp4", v)
    assert count_frames(tmp_path / "a.mp4") == 10
    r = read_video(tmp_path / "a.mp4")
    assert r.shape == v.shape and r.dtype == np.uint8
    assert np.abs(r[:, :12].astype(int) - v[:, :12]).max() <= 3
    assert np.array_equal(read_video(tmp_path / "a.mp4", [4, 0, 4]), r[[4, 0, 4]])


def test_gif_roundtrip_and_float_input(tmp_path):
    v = _video().astype(np.float32) / 255
    write_gif(tmp_path / "a.gif", v.transpose(0, 3, 1, 2))  # [T, 3, H, W] float accepted
    r = read_video(tmp_path / "a.gif")
    assert r.shape == (10, 24, 32, 3)
    assert count_frames(tmp_path / "a.gif") == 10
    assert np.array_equal(to_uint8_frames(v), to_uint8_frames(to_uint8_frames(v)))


@pytest.mark.parametrize("content, match", [(b"", "empty file"), (b"not a video" * 20, "unreadable or corrupt")])
def test_bad_files_name_path(tmp_path, content, match):
    p = tmp_path / "bad.mp4"
    p.write_bytes(content)
    with pytest.raises(BadVideoError, match=match) as e:
        read_video(p)
    assert str(p) in str(e.value)


def test_missing_and_out_of_range(tmp_path):
    with pytest.raises(BadVideoError, match="does not exist"):
        read_video(tmp_path / "nope.mp4")
    write_mp4(tmp_path / "a.mp4", _video(t=4))
    with pytest.raises(BadVideoError, match="out of range: the video has 4 frames"):
        read_video(tmp_path / "a.mp4", [5])


def test_grid():
    v = np.zeros((5, 3, 4, 6, 3), np.uint8)
    g = make_grid(v, nrow=2, pad=1)
    assert g.shape == (3, 3 * 5 + 1, 2 * 7 + 1, 3)


@pytest.mark.parametrize("w", [16, 24, 48])
def test_widths_decord_cannot_decode_fall_back_to_pyav(tmp_path, w):
    v = np.zeros((5, w, w, 3), np.uint8)
    v[2] = 255
    write_mp4(tmp_path / "a.mp4", v)
    r = read_video(tmp_path / "a.mp4", [2, 0])
    assert r.shape == (2, w, w, 3) and r[0].min() > 240 and r[1].max() < 15


def test_atomic_files_are_world_readable(tmp_path):
    import os
    write_mp4(tmp_path / "a.mp4", _video(t=2))
    assert os.stat(tmp_path / "a.mp4").st_mode & 0o044 == 0o044


# Encodes three synth-faces clips (tiny dataset: subjects s003/s004, classes disgust/fear) with write_mp4 and prints,
# per clip, the sha256 of the file and of its decoded frames. On AVX-512 CPUs libx264's macroblock tree read
# uninitialised memory: these clips then encoded differently from run to run (issue 13, item 8).
_ENCODE_SCRIPT = """
import hashlib, sys, tempfile
from pathlib import Path
from lfdm_bench.data.synth.make import make_config, render_take
from lfdm_bench.data.video_io import read_video, write_mp4
cfg = make_config("synth-faces", n_subjects=4, n_takes=1, size=32, frames=10)
out = Path(tempfile.mkdtemp(dir=sys.argv[1]))
for subject, cls in [(2, 1), (3, 1), (3, 2)]:
    path = out / f"{subject}-{cls}.mp4"
    write_mp4(path, render_take(cfg, subject, cls, 0))
    print(hashlib.sha256(path.read_bytes()).hexdigest(), hashlib.sha256(read_video(path).tobytes()).hexdigest())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="MALLOC_PERTURB_ is a glibc feature")
def test_mp4_encoding_does_not_depend_on_uninitialised_memory(tmp_path):
    """Same frames -> same mp4, whatever the heap held before: glibc's MALLOC_PERTURB_ fills new and freed blocks
    with a chosen byte, so an encoder that reads memory it never wrote gives different files under different values
    (before the fix all 3 clips did, by up to 14/255 per pixel; this CPU and x264 build had AVX-512)."""
    root = Path(__file__).resolve().parents[1]
    outputs = {}
    for perturb in (None, "85"):
        env = {k: v for k, v in os.environ.items() if k != "MALLOC_PERTURB_"}
        env.update(PYTHONPATH=str(root), OMP_NUM_THREADS="1")
        if perturb is not None:
            env["MALLOC_PERTURB_"] = perturb
        proc = subprocess.run([sys.executable, "-c", _ENCODE_SCRIPT, str(tmp_path)], env=env, capture_output=True,
                              text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        outputs[perturb] = proc.stdout.split()
    assert len(outputs[None]) == 6
    assert outputs["85"] == outputs[None], outputs


def test_mp4_encoder_threads_do_not_follow_the_machine(tmp_path):
    """x264 picks its thread count from the core count (slice threads from 64 px up), and the encoded video changes
    with it: write_mp4 pins one thread, recorded in the stream's x264 settings."""
    v = np.random.default_rng(1).integers(0, 256, (4, 128, 128, 3), dtype=np.uint8)
    write_mp4(tmp_path / "a.mp4", v)
    data = (tmp_path / "a.mp4").read_bytes()
    assert b"threads=1 lookahead_threads=1" in data and b"mbtree=0" in data


def test_mp4_keeps_a_still_video_still(tmp_path):
    """The static calibration baseline must stay motionless through the mp4 (lossy crf 10 without the macroblock
    tree re-coded its last frame with a blip of up to 9/255, which a motion-sensitive detector scores)."""
    from lfdm_bench.data.synth.make import make_config, render_take

    frame = render_take(make_config("synth-faces", n_subjects=4, n_takes=1, size=32, frames=10), 1, 0, 0)[0]
    write_mp4(tmp_path / "still.mp4", np.repeat(frame[None], 10, axis=0))
    r = read_video(tmp_path / "still.mp4").astype(int)
    assert np.array_equal(r, np.repeat(r[:1], 10, axis=0))
    assert np.abs(r[0] - frame).max() <= 3  # RGB -> YUV 4:4:4 rounding only
