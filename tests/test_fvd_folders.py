"""``lfdm-bench fvd REAL FAKE``: the same numbers as ``lfdm-bench eval`` on the same videos through manifests, under the
presets lfdm-bench / stylegan-v / cd-fvd; frame folders and .npy arrays of the decoded frames give the numbers of the
mp4s (GIF / WebM sets: those of their decoded frames); an independent numpy / scipy Fréchet distance on an array;
the REAL features' cache (hit, and missed when a real file changes); cFVD / sFVD grouping; every bad input's one-line message; README's subsection as written.

Videos are written here with PyAV directly (not the toolkit's writer); a 6-d feature function stands in for I3D
(N = 8 videos per set > D = 6, so no --allow-few is needed).
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import av
import numpy as np
import pytest
import scipy.linalg
import torch
from click.testing import CliRunner
from PIL import Image

import metrics.evaluate
from cli import main
from helpers import one_error_line
from lfdm_bench.data.records import VideoRecord, write_manifest
from lfdm_bench.data.video_io import read_video
from metrics.video_features import FunctionDetector

pytestmark = pytest.mark.usefixtures("one_thread")
README = Path(__file__).resolve().parent.parent / "README.md"
CLASSES, SUBJECTS = ("left", "up"), ("s1", "s2")


def features_np(videos: np.ndarray) -> np.ndarray:
    """uint8 [B, T, H, W, 3] -> [B, 6]: mean colour, mean |frame t - frame t-1|, mean of frame 0, spread over time."""
    x = videos.astype(np.float64) / 255.0
    colour = x.mean(axis=(1, 2, 3))
    step = np.abs(np.diff(x, axis=1)).mean(axis=(1, 2, 3, 4))
    first = x[:, 0].mean(axis=(1, 2, 3))
    spread = x.mean(axis=(2, 3, 4)).std(axis=1)
    return np.concatenate([colour, 10 * step[:, None], first[:, None], 10 * spread[:, None]], axis=1)


def six_d(videos: torch.Tensor) -> np.ndarray:
    """The stand-in detector: the toolkit's [B, T, 3, H, W] uint8 clips through :func:`features_np`."""
    return features_np(videos.permute(0, 1, 3, 4, 2).numpy())


@pytest.fixture()
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.setenv("LFDM_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("LFDM_BENCH_I3D", raising=False)
    built: list[FunctionDetector] = []

    def build(protocol):
        built.append(FunctionDetector(six_d, "six-d"))
        return built[-1]

    monkeypatch.setattr(metrics.evaluate, "build_detector", build)
    return {"tmp": tmp_path, "built": built}


def clip(seed: int, frames: int = 20, size: int = 32, cls: int = 0) -> np.ndarray:
    """uint8 [T, H, W, 3]: a bright square moving left or up over a seeded background colour."""
    rng = np.random.default_rng(seed)
    video = np.empty((frames, size, size, 3), dtype=np.uint8)
    video[:] = rng.integers(20, 200, size=3, dtype=np.uint8)
    y, x = rng.integers(2, size - 12, size=2)
    speed = rng.uniform(0.2, 0.8)
    for t in range(frames):
        d = int(round(speed * t))
        yy, xx = (y, max(0, x - d)) if cls == 0 else (max(0, y - d), x)
        video[t, yy:yy + 8, xx:xx + 8] = 250
    return video


def write_av(path: Path, frames: np.ndarray, fps: int = 10) -> Path:
    """An H.264 mp4 written with PyAV itself."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        s.options = {"crf": "18"}
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def make_set(folder: Path, seed: int, takes: int = 2, frames: int = 20) -> list[VideoRecord]:
    """``folder/<class>/<subject>_<take>.mp4`` for 2 classes x 2 subjects x ``takes``; the records as a manifest
    would list them (classes in sorted order)."""
    records = []
    for c, name in enumerate(CLASSES):
        for s, subject in enumerate(SUBJECTS):
            for k in range(takes):
                path = write_av(folder / name / f"{subject}_{k}.mp4", clip(seed * 1000 + 100 * c + 10 * s + k, frames,
                                                                           cls=c))
                records.append(VideoRecord(path=str(path), subject=subject, class_index=sorted(CLASSES).index(name),
                                           class_name=name, text=name, split="test", take=str(k)))
    return records


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def fvd_json(*args: str) -> dict:
    r = run("fvd", *args)
    assert r.exit_code == 0, r.output
    path = re.search(r"^json: (.+)$", r.output, re.M).group(1)
    return json.loads(Path(path).read_text()) | {"_output": r.output}


@pytest.fixture()
def sets(env) -> dict:
    tmp = env["tmp"]
    real, fake = make_set(tmp / "real", 1), make_set(tmp / "fake", 2)
    write_manifest(real, tmp / "realm" / "real.csv")
    write_manifest(fake, tmp / "fakem" / "manifest.csv")
    return env | {"real": tmp / "real", "fake": tmp / "fake", "real_records": real, "fake_records": fake}


@pytest.mark.parametrize("preset", ["lfdm-bench", "stylegan-v", "cd-fvd"])
@pytest.mark.e2e  # CLI runs / video decoding: the full suite runs it
def test_same_numbers_as_eval_through_manifests(sets, preset) -> None:
    tmp = sets["tmp"]
    r = run("eval", "--samples", str(tmp / "fakem"), "--dataset", str(tmp / "realm" / "real.csv"), "--metric",
            "fvd,kvd,cfvd,sfvd", "--protocol", preset, "--out", str(tmp / "eval"), "--no-progress")
    assert r.exit_code == 0, r.output
    ev = json.loads((tmp / "eval" / "metrics.json").read_text())["values"]
    got = fvd_json(str(sets["real"]), str(sets["fake"]), "--protocol", preset, "--metric", "fvd,kvd,cfvd,sfvd",
                   "--group-by", "{class}/{subject}_*", "--out", str(tmp / f"{preset}.json"), "--no-progress")
    v = got["values"]
    assert v["fvd"]["test"] == pytest.approx(ev["fvd"]["test"], rel=1e-12) and v["fvd"]["test"] > 0.05
    assert v["kvd"]["test"] == pytest.approx(ev["kvd"]["test"], rel=1e-12, abs=1e-15)
    for metric, table in (("cfvd", "per_class"), ("sfvd", "per_subject")):
        assert v[metric]["test"]["mean"] == pytest.approx(ev[metric]["test"]["mean"], rel=1e-12)
        assert {k: g["fvd"] for k, g in v[metric]["test"][table].items()} == pytest.approx(
            {k: g["fvd"] for k, g in ev[metric]["test"][table].items()}, rel=1e-12)
        assert len(v[metric]["test"][table]) == 2
    proto = got["protocol"]
    assert proto["preset"] == preset and proto["detector_info"]["name"] == "six-d"
    assert proto["video_sets"]["real"]["n_videos"] == 8 and proto["video_sets"]["fake"]["kind"] == "videos"
    line = got["_output"].splitlines()
    assert any(re.fullmatch(rf"FVD \S+  KVD \S+  \(8 real vs 8 fake, protocol {preset}, detector six-d\)", x)
               for x in line), got["_output"]
    assert any(x.startswith("cFVD ") and "over 2 classes" in x for x in line)


@pytest.mark.e2e  # CLI runs / video decoding: the full suite runs it
def test_frame_folders_and_npy_give_the_mp4_numbers(sets) -> None:
    tmp = sets["tmp"]
    frames_dir, videos = tmp / "fake_frames", []
    for r in sets["fake_records"]:
        video = read_video(r.path)  # the decoded mp4 frames
        videos.append(video)
        rel = Path(r.path).relative_to(sets["fake"]).with_suffix("")
        (frames_dir / rel).mkdir(parents=True)
        for t, frame in enumerate(video):  # unpadded names: f2 must come before f10
            Image.fromarray(frame).save(frames_dir / rel / f"f{t}.png")
    np.save(tmp / "fake.npy", np.stack(videos))
    np.savez(tmp / "fake.npz", videos=np.stack(videos), other=np.zeros(3))
    ref = fvd_json(str(sets["real"]), str(sets["fake"]), "--out", str(tmp / "a.json"))["values"]
    for fake in (frames_dir, tmp / "fake.npy", tmp / "fake.npz"):
        got = fvd_json(str(sets["real"]), str(fake), "--out", str(tmp / "b.json"))["values"]
        assert got["fvd"]["test"] == pytest.approx(ref["fvd"]["test"], rel=1e-12), fake
        assert got["kvd"]["test"] == pytest.approx(ref["kvd"]["test"], rel=1e-12, abs=1e-15), fake
    grouped = fvd_json(str(sets["real"]), str(frames_dir), "--metric", "cfvd", "--group-by", "{class}/{subject}_*",
                       "--out", str(tmp / "c.json"))["values"]
    assert grouped["cfvd"]["test"]["n_groups"] == 2


@pytest.mark.e2e  # CLI runs / video decoding: the full suite runs it
def test_gif_and_webm_sets_equal_their_decoded_frame_folders(sets) -> None:
    """GIFs (written with PIL, read with PIL: decord cannot) and WebM (VP9 via PyAV) read as the frame folders of
    their own decoded frames."""
    tmp = sets["tmp"]
    rng = np.random.default_rng(5)
    (tmp / "gif").mkdir()
    (tmp / "webm").mkdir()
    for i in range(8):
        video = rng.integers(0, 256, size=(18, 32, 32, 3), dtype=np.uint8)  # every frame differs: none merged
        frames = [Image.fromarray(f) for f in video]
        frames[0].save(tmp / "gif" / f"v{i}.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
        with av.open(str(tmp / "webm" / f"v{i}.webm"), "w", format="webm") as c:
            s = c.add_stream("libvpx-vp9", rate=10)
            s.width, s.height, s.pix_fmt = 32, 32, "yuv420p"
            s.options = {"deadline": "realtime", "cpu-used": "8"}
            for f in video:
                for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                    c.mux(p)
            for p in s.encode():
                c.mux(p)
    for kind, ext in (("gif", "gif"), ("webm", "webm")):
        for i in range(8):
            decoded = read_video(tmp / kind / f"v{i}.{ext}")
            assert decoded.shape == (18, 32, 32, 3), (kind, decoded.shape)
            (tmp / f"{kind}_frames" / f"v{i}").mkdir(parents=True)
            for t, frame in enumerate(decoded):
                Image.fromarray(frame).save(tmp / f"{kind}_frames" / f"v{i}" / f"{t:03d}.png")
        a = fvd_json(str(sets["real"]), str(tmp / kind), "--out", str(tmp / "a.json"))
        b = fvd_json(str(sets["real"]), str(tmp / f"{kind}_frames"), "--out", str(tmp / "b.json"))
        assert a["values"]["fvd"]["test"] == pytest.approx(b["values"]["fvd"]["test"], rel=1e-12), kind
        assert a["protocol"]["video_sets"]["fake"]["kind"] == "videos" and a["counts"]["generated"]["test"] == 8


def frechet(a: np.ndarray, b: np.ndarray, ddof: int) -> float:
    """The textbook Fréchet distance with scipy's sqrtm (independent of metrics.fvd)."""
    m1, m2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False, ddof=ddof), np.cov(b, rowvar=False, ddof=ddof)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((m1 - m2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


@pytest.mark.parametrize("preset,ddof", [("lfdm-bench", 1), ("stylegan-v", 0)])
def test_npy_fvd_against_an_independent_computation(env, preset, ddof) -> None:
    """16-frame 32 px videos: every preset's clip is the whole video, no resize, identity quantisation, so FVD is the
    Fréchet distance of the feature function on the raw arrays."""
    tmp = env["tmp"]
    real = np.stack([clip(i, frames=16, cls=i % 2) for i in range(12)])
    fake = np.stack([clip(100 + i, frames=16, cls=0) for i in range(10)])
    np.save(tmp / "real.npy", real)
    np.save(tmp / "fake.npy", fake)
    got = fvd_json(str(tmp / "real.npy"), str(tmp / "fake.npy"), "--protocol", preset, "--out", str(tmp / "o.json"))
    want = frechet(features_np(fake), features_np(real), ddof)
    assert got["values"]["fvd"]["test"] == pytest.approx(want, rel=1e-6)
    assert got["counts"]["real"]["test"] == 12 and got["counts"]["generated"]["test"] == 10


@pytest.mark.e2e  # CLI runs / video decoding: the full suite runs it
def test_real_cache_hit_then_missed_when_a_real_file_changes(sets) -> None:
    tmp, built = sets["tmp"], sets["built"]
    args = [str(sets["real"]), str(sets["fake"]), "--out", str(tmp / "o.json")]
    first = fvd_json(*args)
    assert built[-1].videos_seen == 16 and "cached real features" in first["_output"]
    second = fvd_json(*args)
    assert built[-1].videos_seen == 8  # the 8 fake videos only: the real features came from the cache
    assert "reusing cached real features" in second["_output"]
    assert second["values"]["fvd"]["test"] == first["values"]["fvd"]["test"]
    write_av(Path(sets["real_records"][0].path), clip(999, cls=1))  # one real video changes
    third = fvd_json(*args)
    assert built[-1].videos_seen == 16 and "reusing" not in third["_output"]
    assert third["values"]["fvd"]["test"] != first["values"]["fvd"]["test"]
    fvd_json(*args, "--protocol", "stylegan-v")  # another protocol: another key
    assert built[-1].videos_seen == 16


@pytest.mark.e2e  # CLI runs / video decoding: the full suite runs it
def test_groups_csv_equals_group_by(sets) -> None:
    tmp = sets["tmp"]
    rows = ["path,class,subject"] + [f"{c}/{s}_{k}.mp4,{c},{s}" for c in CLASSES for s in SUBJECTS for k in range(2)]
    (tmp / "groups.csv").write_text("\n".join(rows) + "\n")
    a = fvd_json(str(sets["real"]), str(sets["fake"]), "--metric", "cfvd,sfvd", "--groups", str(tmp / "groups.csv"),
                 "--out", str(tmp / "a.json"))["values"]
    b = fvd_json(str(sets["real"]), str(sets["fake"]), "--metric", "cfvd,sfvd", "--group-by", "{class}/{subject}_*",
                 "--out", str(tmp / "b.json"))["values"]
    assert a["cfvd"] == b["cfvd"] and a["sfvd"] == b["sfvd"] and set(a["sfvd"]["test"]["per_subject"]) == set(SUBJECTS)


def test_default_out_is_beside_fake(sets) -> None:
    r = run("fvd", str(sets["real"]), str(sets["fake"]))
    assert r.exit_code == 0, r.output
    saved = json.loads((sets["tmp"] / "fake.fvd.json").read_text())
    assert {"protocol", "detector", "environment", "values", "counts", "summary"} <= set(saved)


# ------------------------------------------------------------------------------------------------------ bad inputs


def err(*args: str, code: int = 1) -> str:
    return one_error_line(run("fvd", *args), code)


def test_bad_inputs_name_the_file(sets) -> None:
    tmp, real, fake = sets["tmp"], str(sets["real"]), str(sets["fake"])
    (tmp / "empty").mkdir()
    msg = err(real, str(tmp / "empty"))
    assert "FAKE" in msg and str(tmp / "empty") in msg and "is empty" in msg
    msg = err(real, str(tmp / "missing"))
    assert str(tmp / "missing") in msg and "does not exist" in msg

    bad = tmp / "corrupt"
    for i in range(3):
        write_av(bad / f"v{i}.mp4", clip(i))
    (bad / "v9.mp4").write_bytes(b"\x00not a video" * 50)
    msg = err(real, str(bad))
    assert str(bad / "v9.mp4") in msg and "corrupt" in msg

    mixed = tmp / "mixed"
    for i in range(3):
        write_av(mixed / f"v{i}.mp4", clip(i))
    write_av(mixed / "odd.mp4", clip(5, size=48))
    msg = err(str(mixed), fake)
    assert "REAL" in msg and str(mixed / "odd.mp4") in msg and "48x48" in msg and "32x32" in msg

    short = tmp / "short"
    for i in range(3):
        write_av(short / f"v{i}.mp4", clip(i))
    write_av(short / "v3.mp4", clip(3, frames=12))
    msg = err(real, str(short))
    assert str(short / "v3.mp4") in msg and "12 frames" in msg and "clips of 16 frames" in msg and "--frames 12" in msg

    odd = tmp / "odd_ext"
    for i in range(3):
        write_av(odd / f"v{i}.mp4", clip(i))
    (odd / "v3.flv").write_bytes(b"x")
    msg = err(real, str(odd))
    assert str(odd / "v3.flv") in msg and "unknown extension '.flv'" in msg


def test_too_few_videos_say_the_minimum(sets) -> None:
    tmp = sets["tmp"]
    one = tmp / "one"
    write_av(one / "v0.mp4", clip(0))
    msg = err(str(sets["real"]), str(one))
    assert str(one) in msg and "1 video(s)" in msg and "at least 2" in msg
    few = tmp / "few"
    for i in range(5):
        write_av(few / f"v{i}.mp4", clip(i))
    msg = err(str(sets["real"]), str(few))
    assert str(few) in msg and "5 videos" in msg and "6-d features" in msg and "at least 7 videos" in msg
    r = run("fvd", str(sets["real"]), str(few), "--allow-few", "--out", str(tmp / "o.json"))
    assert r.exit_code == 0 and "FVD " in r.output, r.output


def test_bad_arrays(env) -> None:
    tmp = env["tmp"]
    np.save(tmp / "float.npy", np.zeros((4, 16, 32, 32, 3), dtype=np.float32))
    np.save(tmp / "shape.npy", np.zeros((4, 16, 32, 32), dtype=np.uint8))
    np.savez(tmp / "two.npz", a=np.zeros(1), b=np.zeros(1))
    (tmp / "junk.npy").write_bytes(b"junk")
    np.save(tmp / "ok.npy", np.zeros((4, 16, 32, 32, 3), dtype=np.uint8))
    for name, text in (("float.npy", "expected uint8 [N, T, H, W, 3], got float32 [4, 16, 32, 32, 3]"),
                       ("shape.npy", "got uint8 [4, 16, 32, 32]"), ("two.npz", "one named 'videos'"),
                       ("junk.npy", "not a readable array")):
        msg = err(str(tmp / "ok.npy"), str(tmp / name))
        assert str(tmp / name) in msg and text in msg, msg
    (tmp / "clip.mp4").write_bytes(b"x")
    msg = err(str(tmp / "clip.mp4"), str(tmp / "ok.npy"))
    assert "REAL" in msg and "a file must be a .npy / .npz array" in msg


def test_grouping_errors(sets) -> None:
    real, fake = str(sets["real"]), str(sets["fake"])
    assert "--metric cfvd needs --group-by or --groups" in err(real, fake, "--metric", "cfvd")
    assert "--metric sfvd needs --group-by or --groups" in err(real, fake, "--metric", "fvd,sfvd")
    msg = err(real, fake, "--metric", "sfvd", "--group-by", "{class}/*")
    assert "--metric sfvd needs the subject of each video" in msg
    msg = err(real, fake, "--metric", "cfvd", "--group-by", "{class}_{subject}")
    assert "does not match --group-by '{class}_{subject}'" in msg and str(sets["real"]) in msg
    msg = one_error_line(run("fvd", real, fake, "--metric", "cfvd", "--group-by", "{label}/*"), 2)
    assert "unknown field {label}" in msg
    msg = one_error_line(run("fvd", real, fake, "--metric", "psnr"), 2)
    assert "psnr" in msg and "lfdm-bench fvd computes fvd, kvd, cfvd, sfvd" in msg
    (sets["tmp"] / "g.csv").write_text("file,label\nx,y\n")
    msg = err(real, fake, "--metric", "cfvd", "--groups", str(sets["tmp"] / "g.csv"))
    assert "needs a column 'path'" in msg


# ---------------------------------------------------------------------------------------------------------- README


def readme_lines() -> list[str]:
    text = README.read_text()
    section = re.search(r"### Two folders of videos: lfdm-bench fvd\n(.*?)(?=\n### |\n## )", text, re.S).group(1)
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.startswith("lfdm-bench")]


@pytest.mark.e2e  # CLI runs / video decoding: the full suite runs it
def test_readme_subsection_runs_as_written(env, monkeypatch) -> None:
    """Mapped: the folders real/ and fake/ (made here: 2 classes x 2 subjects x 3 takes) and fake.npy (their
    decoded frames), and the I3D weights file -> the 6-d stand-in detector."""
    tmp = env["tmp"]
    monkeypatch.chdir(tmp)
    make_set(tmp / "real", 1, takes=3)
    fake = make_set(tmp / "fake", 2, takes=3)
    np.save(tmp / "fake.npy", np.stack([read_video(r.path) for r in fake]))
    lines = readme_lines()
    assert len(lines) >= 3 and all(line.startswith("lfdm-bench fvd ") for line in lines)
    for line in lines:
        r = run(*shlex.split(line)[1:])
        assert r.exit_code == 0, f"{line}\n{r.output}"
        assert re.search(r"^FVD \S+  KVD \S+  \(12 real vs 12 fake, protocol \S+, detector six-d\)$", r.output, re.M) \
            or re.search(r"^FVD \S+  \(12 real", r.output, re.M), r.output
