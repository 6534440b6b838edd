"""Real-feature cache: hits skip the detector, every key change misses, killed writes leave nothing behind."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from lfdm_bench.data.registry import get_dataset
from metrics.evaluate import evaluate
from metrics.protocol import EvalProtocol
from metrics.feature_cache import FeatureCache, cached_features
from metrics.video_features import ClipSpec, compute_features
from helpers import make_tiny_dataset, tiny_detector


@pytest.fixture()
def tiny(tmp_path: Path):
    return get_dataset(str(make_tiny_dataset(tmp_path / "data")))


def _samples(tiny, tmp_path: Path) -> Path:
    from metrics.sanity import write_real_samples

    write_real_samples(tiny, tmp_path / "samples", split="test", n_frames=10, max_videos=6)
    return tmp_path / "samples"


def test_second_eval_reuses_real_features(tiny, tmp_path: Path) -> None:
    samples, cache = _samples(tiny, tmp_path), FeatureCache(tmp_path / "cache")
    protocol = EvalProtocol(dataset=tiny.name, split="test", n_frames=10)
    n_real, n_gen = len(tiny.split("test")), 6
    lines: list[str] = []
    det = tiny_detector()
    first = evaluate(protocol, samples, ["fvd", "cfvd"], dataset=tiny, detector=det, cache=cache, log_fn=lines.append)
    assert det.videos_seen == n_gen + n_real
    assert not any("reusing cached" in line for line in lines)
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 1

    det2, lines2 = tiny_detector(), []
    second = evaluate(protocol, samples, ["fvd", "cfvd"], dataset=tiny, detector=det2, cache=cache,
                      log_fn=lines2.append)
    assert det2.videos_seen == n_gen  # no real video went through the detector
    hit = [line for line in lines2 if line.startswith("reusing cached real")]
    assert len(hit) == 1 and str(tmp_path / "cache") in hit[0]
    assert second.values == first.values
    np.testing.assert_array_equal(second.features["real_test"]["i3d"], first.features["real_test"]["i3d"])


@pytest.mark.parametrize("change", ["n_frames", "detector", "resolution", "sampling", "max_real", "mtime"])
def test_key_change_invalidates(tiny, tmp_path: Path, change: str) -> None:
    samples, cache = _samples(tiny, tmp_path), FeatureCache(tmp_path / "cache")
    # the generated 10-frame videos cover their sources; 9 frames or 'first' real clips cover less (allowed here: the
    # test is about the cache key, not the time span)
    base = dict(dataset=tiny.name, split="test", n_frames=10, allow_span_mismatch=True)
    evaluate(EvalProtocol(**base), samples, ["fvd"], dataset=tiny, detector=tiny_detector(), cache=cache)
    det_name = "tiny"
    if change == "n_frames":
        base["n_frames"] = 9
    elif change == "detector":
        det_name = "tiny-v2"
    elif change == "resolution":
        base["resolution"] = 24
    elif change == "sampling":
        base["real_sampling"] = "first"
    elif change == "max_real":
        base["max_real"] = 11
    else:  # a real video file changed on disk
        path = tiny.split("test")[0].path
        st = os.stat(path)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    det = tiny_detector(det_name)
    evaluate(EvalProtocol(**base), samples, ["fvd"], dataset=tiny, detector=det, cache=cache)
    n_real = 11 if change == "max_real" else len(tiny.split("test"))
    assert det.videos_seen == 6 + n_real
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 2


def test_cache_rows_follow_record_order(tiny, tmp_path: Path) -> None:
    recs, spec, cache = tiny.split("train"), ClipSpec(n_frames=10, size=32), FeatureCache(tmp_path / "c")
    direct = compute_features(recs, spec, {"f": tiny_detector()})["f"]
    cached_features("d", recs, spec, {"f": tiny_detector()}, cache=cache)
    det = tiny_detector()
    again = cached_features("d", recs[::-1], spec, {"f": det}, cache=cache)["f"]
    assert det.calls == 0
    np.testing.assert_allclose(again, direct[::-1])


def test_killed_write_leaves_no_file(tiny, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = FeatureCache(tmp_path / "cache")
    real_savez = np.savez

    def dying_savez(file, **arrays):  # writes part of the archive, then the process "dies"
        file.write(b"PK\x03\x04 half an archive")
        raise KeyboardInterrupt("killed mid-write")

    monkeypatch.setattr(np, "savez", dying_savez)
    with pytest.raises(KeyboardInterrupt):
        cached_features("d", tiny.split("test"), ClipSpec(10, 32), {"f": tiny_detector()}, cache=cache)
    assert list((tmp_path / "cache").iterdir()) == []  # neither a cache file nor a temporary
    monkeypatch.setattr(np, "savez", real_savez)
    cached_features("d", tiny.split("test"), ClipSpec(10, 32), {"f": tiny_detector()}, cache=cache)
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 1


def test_corrupt_or_foreign_file_is_ignored(tiny, tmp_path: Path) -> None:
    cache, spec, recs = FeatureCache(tmp_path / "cache"), ClipSpec(10, 32), tiny.split("test")
    cached_features("d", recs, spec, {"f": tiny_detector()}, cache=cache)
    (file,) = (tmp_path / "cache").glob("*.npz")
    file.write_bytes(b"not a zip")
    det = tiny_detector()
    out = cached_features("d", recs, spec, {"f": det}, cache=cache)["f"]
    assert det.videos_seen == len(recs) and out.shape == (len(recs), 12)


def test_transform_needs_a_key(tiny, tmp_path: Path) -> None:
    from metrics.distortions import Distortion

    with pytest.raises(ValueError, match="transform_key"):
        cached_features("d", tiny.split("test"), ClipSpec(10, 32), {"f": tiny_detector()},
                        cache=FeatureCache(tmp_path), transform=Distortion("noise", 0.1))
