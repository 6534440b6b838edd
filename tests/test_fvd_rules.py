"""The building blocks of the FVD presets (issue 15), each against an independent computation or by construction:
quantisation modes, TF's legacy bilinear grid, clip-window selection, the time-span check, weight labels by sha256
(random weights saved under a published file name are never comparable, on the CLI too), and NATOPS raw-layout
segments kept apart by (file, segment) in the feature cache and in PSNR / SSIM."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import metrics.weights as weights_mod
from lfdm_bench.data.dataset import ClipDataset
from lfdm_bench.data.records import VideoRecord
from lfdm_bench.data.registry import get_dataset
from metrics.clip_select import choose_videos, select_clips, span_check
from metrics.commands import eval_cmd
from metrics.evaluate import evaluate
from metrics.format import protocol_line
from metrics.ground_truth_scores import FrameScores
from metrics.i3d import InceptionI3d, build_random_i3d, load_i3d
from metrics.preprocess import quantize, tf_legacy_bilinear
from metrics.protocol import EvalProtocol
from metrics.protocol import EvalProtocol as _EvalProtocol
from metrics.feature_cache import FeatureCache, cached_features
from metrics.video_features import ClipSpec, compute_features, record_id
from metrics.sanity import write_real_samples
from metrics.weights import KNOWN_I3D_DIGESTS, KnownCheckpoint, label_weights
from lfdm_bench.utils.io import sha256_file
from helpers import make_tiny_dataset, ramp, random_state_dict, tf_resize_bilinear_legacy, tiny_detector, write_avi


# ------------------------------------------------------------------------------------------------ quantisation
def test_quantize_modes_match_the_references_formulas() -> None:
    g = torch.Generator().manual_seed(0)
    levels = torch.arange(256, dtype=torch.float32) / 255.0  # stored uint8 frames read as float
    x = torch.cat([torch.rand(20000, generator=g), levels, (torch.arange(255) + 0.5) / 255.0])
    xn = x.numpy()
    np.testing.assert_array_equal(quantize(x, "round").numpy(), np.round(xn * np.float32(255)).astype(np.uint8))
    # cd-fvd (x * 255).byte(); VideoGPT / TATS generated (x * 255).astype(np.uint8): truncation
    np.testing.assert_array_equal(quantize(x, "truncate").numpy(), (xn * np.float32(255)).astype(np.uint8))
    # TATS / VideoGPT real: data.py video -= 0.5, then ((video + 0.5) * 255).byte()
    shifted = ((xn - np.float32(0.5)) + np.float32(0.5)) * np.float32(255)
    np.testing.assert_array_equal(quantize(x, "truncate-shifted").numpy(), shifted.astype(np.uint8))
    # StyleGAN-V metric_utils.py#L285 (img * 127.5 + 128).clamp(0, 255).to(torch.uint8), img in [-1, 1]
    img = torch.rand(20000, generator=g) * 2 - 1
    sgv = (img * 127.5 + 128).clamp(0, 255).to(torch.uint8)
    ours = quantize((img + 1) / 2, "round-half-up")
    assert (ours.int() - sgv.int()).abs().max() <= 1 and (ours != sgv).float().mean() < 1e-3
    # stored levels: round, round-half-up and truncate give them back; the shifted truncation moves some down
    for mode in ("round", "round-half-up", "truncate"):
        assert torch.equal(quantize(levels, mode), torch.arange(256, dtype=torch.uint8)), mode
    moved = int((quantize(levels, "truncate-shifted") != torch.arange(256, dtype=torch.uint8)).sum())
    back = (((levels.numpy() - np.float32(0.5)) + np.float32(0.5)) * np.float32(255)).astype(np.uint8)
    expected = int((back != np.arange(256)).sum())
    assert moved == expected > 0
    with pytest.raises(ValueError, match="uint8"):
        quantize(torch.zeros(3, dtype=torch.uint8), "round")


def test_tf_legacy_bilinear_matches_tf_formula() -> None:
    g = torch.Generator().manual_seed(1)
    for h, w in ((20, 28), (7, 5), (300, 256)):
        x = torch.rand(2, 3, h, w, generator=g) * 255
        ours = tf_legacy_bilinear(x, 224)  # [N, C, 224, 224]
        ref = tf_resize_bilinear_legacy(x.permute(0, 2, 3, 1).numpy(), 224, 224)
        np.testing.assert_allclose(ours.permute(0, 2, 3, 1).numpy(), ref, rtol=0, atol=1e-4)
    # by hand: 2 -> 4 samples at 0, 0.5, 1, 1.5 (clamped to the last pixel): [0, 5, 10, 10]; no half-pixel offset
    line = torch.tensor([[[[0.0, 10.0], [0.0, 10.0]]]])
    assert tf_legacy_bilinear(line, 4)[0, 0, 0].tolist() == [0.0, 5.0, 10.0, 10.0]


# --------------------------------------------------------------------------------------------- clip selection
def _records(lengths: dict[str, int]) -> list[VideoRecord]:
    return [VideoRecord(path=f"/nonexistent/{name}.mp4", subject=name, class_index=0, class_name="c", text="c",
                        split="test", take="t", n_frames=n) for name, n in lengths.items()]


def test_window_offsets_are_uniform_inclusive_seeded_and_order_free() -> None:
    recs = _records({"a": 20, "b": 16, "c": 12})
    seen: Counter = Counter()
    for seed in range(300):
        clips, short = select_clips(recs, "window", 16, seed)
        assert [r.path for r in short] == [recs[2].path]  # shorter than T: dropped (discard_short_videos)
        by_path = {r.path: r for r in clips}
        assert by_path[recs[1].path].params["segment"] == [0, 16]  # L == T: the only window
        start, stop = by_path[recs[0].path].params["segment"]
        assert stop - start == 16
        seen[start] += 1
        again, _ = select_clips(recs[::-1], "window", 16, seed)
        assert {r.path: r.params["segment"] for r in again} == {r.path: r.params["segment"] for r in clips}
    assert set(seen) == {0, 1, 2, 3, 4}  # random.randint(0, L - T): both ends included
    assert min(seen.values()) > 300 / 5 * 0.6
    assert select_clips(recs, "window", 16, 1)[0][0].params["segment"] != \
        select_clips(recs, "window", 16, 2)[0][0].params["segment"] or \
        select_clips(recs, "window", 16, 3)[0][0].params["segment"] != \
        select_clips(recs, "window", 16, 4)[0][0].params["segment"]


def test_windows_all_draws_over_every_window() -> None:
    recs = _records({"short": 17, "long": 24})  # 2 and 9 windows of 16 frames
    per_video: Counter = Counter()
    for seed in range(400):
        clips, _ = select_clips(recs, "windows-all", 16, seed)
        assert len(clips) == 2  # default: as many clips as videos
        wins = [(r.path, r.params["segment"][0]) for r in clips]
        assert len(set(wins)) == 2
        per_video.update(Path(p).stem for p, _ in wins)
    # a uniform pair of distinct windows out of 11: P(a given short window) = 2/11 per draw of 2
    share = per_video["short"] / (per_video["short"] + per_video["long"])
    assert abs(share - 2 / 11) < 0.05, share
    assert len(select_clips(recs, "windows-all", 16, 0, limit=11)[0]) == 11


def test_sorted_first_subset() -> None:
    recs = _records({n: 20 for n in ("d", "b", "e", "a", "c")})
    assert [Path(r.path).stem for r in choose_videos(recs, 3, "sorted-first", 0)] == ["a", "b", "c"]
    assert len(choose_videos(recs, None, "sorted-first", 0)) == 5


def test_preset_numbers_of_videos_and_overrides() -> None:
    def EvalProtocol(**kw):  # noqa: N802
        return _EvalProtocol(dataset="synth-faces", **kw)

    assert (EvalProtocol(preset="lfdm-bench").max_real, EvalProtocol(preset="lfdm-bench").max_generated) == (None, None)
    assert (EvalProtocol(preset="stylegan-v").max_real, EvalProtocol(preset="stylegan-v").max_generated) == (2048, 2048)
    assert (EvalProtocol(preset="videogpt").max_real, EvalProtocol(preset="tats").max_real) == (256, 2048)
    assert (EvalProtocol(preset="cd-fvd").max_real, EvalProtocol(preset="cd-fvd").max_generated) == (None, 2048)
    p = EvalProtocol(preset="tats", max_real=64, ddof=0, real_sampling="uniform")
    assert p.overrides == {"max_real": {"preset": 2048, "used": 64}, "ddof": {"preset": 1, "used": 0},
                           "real_sampling": {"preset": "windows-all", "used": "uniform"}}
    assert p.to_dict()["overrides"] == p.overrides and p.to_dict()["preset_settings"]["ddof"] == 1
    assert "preset tats with overrides" in protocol_line(p.to_dict() | {"resolution": 32}, None)
    with pytest.raises(ValueError, match="valid names: lfdm-bench, tf, stylegan-v"):
        EvalProtocol(preset="fvd-tf")


def test_span_check_rules() -> None:
    real = _records({"r": 40})
    gen_uniform = [VideoRecord(path="/g.mp4", subject="r", class_index=0, class_name="c", text="c", split="test",
                               take="g", n_frames=16, params={"source": "/nonexistent/r.mp4",
                                                              "clip_sampling": "uniform"})]
    length = lambda r: r.n_frames  # noqa: E731
    src_len = lambda g: 40  # noqa: E731
    assert span_check(real, gen_uniform, "uniform", "first", 16, length, src_len).matches is True
    # a 40-frame whole-video generator evaluated on its first 16 frames: 15/39 of the time span
    gen40 = [VideoRecord(**{**gen_uniform[0].__dict__, "n_frames": 40})]
    bad = span_check(real, gen40, "uniform", "first", 16, length, src_len)
    assert bad.matches is False and bad.generated == pytest.approx(15 / 39) and "DIFFERENT" in bad.statement
    # consecutive-frame generator (clip_sampling first) vs one 16-frame window per 40-frame real video: same span
    gen_first = [VideoRecord(**{**gen40[0].__dict__, "params": {"source": "/nonexistent/r.mp4",
                                                                "clip_sampling": "first"}})]
    win = select_clips(real, "window", 16, 0)[0]
    ok = span_check(win, gen_first, "window", "first", 16, length, src_len)
    assert ok.matches is True and ok.real == pytest.approx(15 / 39)
    unknown = [VideoRecord(**{**gen40[0].__dict__, "params": {}})]
    assert span_check(real, unknown, "uniform", "first", 16, length, src_len).matches is None


@pytest.mark.e2e  # a whole command / evaluation / dataset build or a subprocess: the full suite runs it
def test_evaluate_refuses_different_time_spans(tmp_path: Path) -> None:
    data = get_dataset(str(make_tiny_dataset(tmp_path / "data")))
    samples = write_real_samples(data, tmp_path / "s", split="test", n_frames=12, max_videos=6)
    protocol = dict(dataset=data.name, split="test", n_frames=9)
    with pytest.raises(ValueError, match="DIFFERENT time spans.*--frames 12.*--allow-span-mismatch"):
        evaluate(EvalProtocol(**protocol), samples, ["fvd"], dataset=data, detector=tiny_detector(), cache=False)
    nine = write_real_samples(data, tmp_path / "s9", split="test", n_frames=9, max_videos=6)  # 9 of 12, spread
    with pytest.raises(ValueError, match="DIFFERENT time spans.*--sampling uniform"):
        evaluate(EvalProtocol(**protocol, real_sampling="first"), nine, ["fvd"], dataset=data,
                 detector=tiny_detector(), cache=False)
    res = evaluate(EvalProtocol(**protocol, allow_span_mismatch=True), samples, ["fvd"], dataset=data,
                   detector=tiny_detector(), cache=False)
    assert res.protocol["time_span"]["matches"] is False
    assert "DIFFERENT time spans" in protocol_line(res.protocol, res.detector)
    same = evaluate(EvalProtocol(dataset=data.name, split="test", n_frames=12), samples, ["fvd"], dataset=data,
                    detector=tiny_detector(), cache=False)
    assert same.protocol["time_span"]["matches"] is True


# ------------------------------------------------------------------------------------------------ weight labels
def _i3d_layout(state: dict) -> dict:
    return {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}


@pytest.mark.e2e  # a trained model, shipped weights on videos or a whole network pass: the full suite runs it
def test_weight_labels_come_from_the_digest_not_the_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert all(len(d) == 64 and int(d, 16) >= 0 for d in KNOWN_I3D_DIGESTS)
    assert [k.name for k in KNOWN_I3D_DIGESTS.values()] == ["StyleGAN-V i3d_torchscript.pt"]
    random_file = tmp_path / "i3d_pretrained_400.pt"
    torch.save(_i3d_layout(build_random_i3d().state_dict()), random_file)
    m = load_i3d(random_file)
    assert m.weights.status == "random" and not m.weights.comparable and not m.is_pretrained
    untrained = tmp_path / "rgb_imagenet.pt"
    torch.save(_i3d_layout(InceptionI3d().state_dict()), untrained)
    assert load_i3d(untrained).weights.status == "random"
    other = tmp_path / "some" / "i3d_pretrained_400.pt"
    other.parent.mkdir()
    torch.save(random_state_dict(3), other)
    digest = sha256_file(other)
    w = load_i3d(other).weights
    assert w.status == "unverified" and not w.comparable and digest in w.label
    monkeypatch.setitem(weights_mod.KNOWN_I3D_DIGESTS, digest,
                        KnownCheckpoint("test checkpoint", None, "test", "test", "test"))
    w = load_i3d(other).weights
    assert w.status == "published" and w.comparable and "matches published checkpoint test checkpoint" in w.label
    # random content stays random even with a known digest
    assert label_weights(digest, "x.pt", "untrained").status == "random"


@pytest.mark.e2e
def test_cli_random_weights_named_like_the_published_file_are_not_comparable(tmp_path: Path,
                                                                               monkeypatch) -> None:
    monkeypatch.setenv("LFDM_BENCH_CACHE", str(tmp_path / "cache"))
    manifest = make_tiny_dataset(tmp_path / "data", takes=1)
    data = get_dataset(str(manifest))
    samples = write_real_samples(data, tmp_path / "s", split="test", n_frames=9, max_videos=3)
    weights = tmp_path / "w" / "i3d_pretrained_400.pt"
    weights.parent.mkdir()
    torch.save(_i3d_layout(build_random_i3d(seed=5).state_dict()), weights)
    res = CliRunner().invoke(eval_cmd, ["--samples", str(tmp_path / "s"), "--dataset", str(manifest), "--metric",
                                        "fvd", "--frames", "9", "--i3d", str(weights), "--out", str(tmp_path / "o"),
                                        "--batch-size", "3"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    saved = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert saved["detector"]["comparable_with_published"] is False
    assert saved["detector"]["weights_status"] == "random"
    assert "NOT comparable with published numbers" in (tmp_path / "o" / "metrics.md").read_text()
    assert samples.is_file()


# ------------------------------------------------------------------------------------- NATOPS (file, segment)
@pytest.fixture()
def natops(tmp_path: Path):
    root = tmp_path / "NATOPS"
    video = ramp(12)
    video[5:, :, :16] = 230  # the second repetition differs in content, not only in brightness
    write_avi(root / "gesture01" / "g01s03.avi", video)
    seg = "\n".join(["// Subject 1", "1,1,1", "// Subject 2", "1,1,2", "// Subject 3", "1,1,3", "1:1,5", "2:6,12"])
    (root / "segmentation.txt").write_text(seg + "\n")
    return get_dataset("natops", root=root, crop=False)


def test_natops_segments_are_cached_and_scored_apart(natops, tmp_path: Path) -> None:
    recs = natops.records
    assert len(recs) == 2 and recs[0].path == recs[1].path
    assert [r.params["segment"] for r in recs] == [[0, 5], [5, 12]]
    assert record_id(recs[0]) != record_id(recs[1])
    spec = ClipSpec(n_frames=4, size=16, sampling="first")
    direct = [compute_features([r], spec, {"f": tiny_detector()})["f"][0] for r in recs]
    cache = FeatureCache(tmp_path / "cache")
    first = cached_features("natops", recs, spec, {"f": tiny_detector()}, cache=cache)["f"]
    np.testing.assert_allclose(first, np.stack(direct))
    assert np.abs(first[0] - first[1]).max() > 0.1  # different content, different rows
    det = tiny_detector()
    again = cached_features("natops", recs[::-1], spec, {"f": det}, cache=cache)["f"]
    assert det.calls == 0
    np.testing.assert_allclose(again, first[::-1])

    # generated videos = the exact clips of each repetition: PSNR against the right repetition is the cap
    clips = [ClipDataset([r], n_frames=4, size=16, sampling="first", crop=False, dtype="uint8")[0].video
             for r in recs]
    gen = [VideoRecord(path=f"/g{i}.mp4", subject=r.subject, class_index=r.class_index, class_name=r.class_name,
                       text=r.text, split=r.split, take="g", n_frames=4,
                       params={"source": r.path, "source_segment": r.params["segment"]}) for i, r in enumerate(recs)]
    scores = FrameScores(gen, {record_id(r): r for r in recs}, spec, cap_db=100.0)
    scores([0, 1], torch.stack(clips))
    assert scores.summary([0, 1], "psnr")["mean"] == pytest.approx(100.0)
    swapped = FrameScores(gen, {record_id(r): r for r in recs}, spec, cap_db=100.0)
    swapped([0, 1], torch.stack(clips[::-1]))
    assert swapped.summary([0, 1], "psnr")["mean"] < 40
