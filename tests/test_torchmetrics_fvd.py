"""FVD as a torchmetrics Metric (metrics.torchmetrics_fvd.FrechetVideoDistance).

Its value is checked against the evaluation path (``metrics.evaluate.evaluate``, what ``lfdm-bench eval`` runs) on
the same video files, detector and protocol: the metric gets the decoded frames of the whole videos and must pick,
resize and quantise the clips as the evaluation does. Also: any split over batches or over 2 gloo processes gives
the same number, reset, bad input, the missing extra, and README's snippet.
"""

from __future__ import annotations

import importlib.util
import itertools
import re
import socket
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import tiny_detector, tiny_features
from lfdm_bench.data.records import read_manifest
from lfdm_bench.data.registry import get_dataset
from lfdm_bench.data.video_io import read_video, write_mp4
from metrics.evaluate import evaluate
from metrics.fvd import SmallSampleWarning, fvd_from_features
from metrics.kvd import kvd_from_features
from metrics.protocol import EvalProtocol
from metrics.torchmetrics_fvd import INSTALL_HINT, FrechetVideoDistance
from metrics.video_features import FunctionDetector

pytestmark = pytest.mark.usefixtures("one_thread")
README = Path(__file__).resolve().parent.parent / "README.md"
REL = 1e-6


@pytest.fixture()
def tiny(tiny_eval_set) -> dict:
    """The tiny evaluation set with its sample folder (the real test clips) turned into other videos: brighter by
    0, 25 or 50 levels, every second one played backwards, so that FVD is far from 0."""
    for i, r in enumerate(read_manifest(tiny_eval_set["samples"] / "manifest.csv")):
        frames = np.clip(read_video(r.path).astype(np.int16) + 25 * (i % 3), 0, 255).astype(np.uint8)
        write_mp4(r.path, frames[::-1] if i % 2 else frames)
    return tiny_eval_set


def _protocol(tiny: dict, **kw) -> EvalProtocol:
    return EvalProtocol(dataset=tiny["manifest"], split="test", n_frames=10, **kw)


def _videos(tiny: dict) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Decoded whole videos (uint8 [T, H, W, 3]): the real test split (12 frames each) and the sample folder."""
    real = [read_video(r.path) for r in get_dataset(tiny["manifest"]).split("test")]
    fake = [read_video(r.path) for r in read_manifest(tiny["samples"] / "manifest.csv")]
    return real, fake


def _float(videos: list[np.ndarray]) -> torch.Tensor:
    """uint8 [T, H, W, 3] videos -> float [B, T, 3, H, W] in [0, 1]."""
    return torch.from_numpy(np.stack(videos)).permute(0, 1, 4, 2, 3).float() / 255.0


def _feed(metric, real: list[np.ndarray], fake: list[np.ndarray], real_batches, fake_batches) -> None:
    """Update in the given batch sizes, alternating sides; real as uint8 [B, T, H, W, 3], fake as float."""
    def chunks(videos, sizes):
        start = 0
        for n in sizes:
            yield videos[start:start + n]
            start += n
        assert start == len(videos)

    for r, f in itertools.zip_longest(chunks(real, real_batches), chunks(fake, fake_batches), fillvalue=[]):
        if r:
            metric.update(torch.from_numpy(np.stack(r)), real=True)
        if f:
            metric.update(_float(f), real=False)


@pytest.mark.parametrize("resolution, load_resize", [(None, None), (24, None), (24, "shortside-crop-antialias")])
def test_equals_the_evaluation_on_the_same_videos(tiny, resolution, load_resize):
    protocol = _protocol(tiny, resolution=resolution, load_resize=load_resize)
    ref = evaluate(protocol, tiny["samples"], ["fvd", "kvd"], detector=tiny_detector(), cache=False)
    real, fake = _videos(tiny)
    assert (len(real), len(fake)) == (ref.counts["real"]["test"], ref.counts["generated"]["test"]) == (12, 12)
    assert len(real[0]) == 12 and len(fake[0]) == 10  # the real clips are 10 of 12 frames, evenly spaced

    metric = FrechetVideoDistance(tiny_detector(), protocol, kvd=True)
    _feed(metric, real, fake, [5, 7], [3, 9])
    out = metric.compute()
    assert out["fvd"].dtype == torch.float64
    assert ref.values["fvd"]["test"] > 0.1
    assert float(out["fvd"]) == pytest.approx(ref.values["fvd"]["test"], rel=REL)
    assert float(out["kvd"]) == pytest.approx(ref.values["kvd"]["test"], rel=REL, abs=1e-12)
    # the clips themselves: the features of the evaluation's clips, row for row
    clips = metric.clips(torch.from_numpy(np.stack(real)), real=True)
    assert clips.shape == (12, 10, 3, resolution or 32, resolution or 32) and clips.dtype == torch.uint8
    np.testing.assert_allclose(tiny_features(clips).numpy(), ref.features["real_test"]["i3d"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(tiny_features(metric.clips(_float(fake), real=False)).numpy(),
                               ref.features["generated"]["i3d"], rtol=0, atol=1e-12)


def test_a_preset_name_and_an_independent_fvd(tiny):
    """protocol="lfdm" (40 frames -> n_frames=10 here; truncating quantisation, ddof 1) against FVD computed
    directly from the tiny features of clips picked by hand (linspace indices / first frames)."""
    real, fake = _videos(tiny)
    metric = FrechetVideoDistance(tiny_detector(), "lfdm", n_frames=10, kvd=True)
    assert metric.protocol.preset == "lfdm" and metric.protocol.real_quantize == "truncate"
    _feed(metric, real, fake, [12], [12])
    idx = np.linspace(0, 11, 10).astype(int)
    real_clips = torch.from_numpy(np.stack([v[idx] for v in real])).permute(0, 1, 4, 2, 3)
    fake_clips = torch.from_numpy(np.stack([v[:10] for v in fake])).permute(0, 1, 4, 2, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallSampleWarning)
        fake_f, real_f = tiny_features(fake_clips).numpy(), tiny_features(real_clips).numpy()
        out = metric.compute()
        assert float(out["fvd"]) == pytest.approx(fvd_from_features(fake_f, real_f, ddof=1), rel=REL)
        assert float(out["kvd"]) == pytest.approx(kvd_from_features(fake_f, real_f), rel=REL)


def test_any_split_over_batches_gives_the_same_number(tiny):
    real, fake = _videos(tiny)
    values = []
    for rb, fb in (([12], [12]), ([1] * 12, [2] * 6), ([7, 0, 5], [0, 11, 1])):
        metric = FrechetVideoDistance(tiny_detector(), _protocol(tiny))
        _feed(metric, real, fake, rb, fb)
        values.append(float(metric.compute()))
    assert values[0] > 0.1
    assert values[1] == pytest.approx(values[0], rel=REL) and values[2] == pytest.approx(values[0], rel=REL)


def test_reset_forgets_every_video(tiny):
    real, fake = _videos(tiny)
    metric = FrechetVideoDistance(tiny_detector(), _protocol(tiny), kvd=True)
    _feed(metric, real, fake, [12], [12])
    first = {k: float(v) for k, v in metric.compute().items()}
    metric.reset()
    assert float(metric.real_n) == float(metric.fake_n) == 0 and not metric.real_features
    assert float(metric.real_outer.abs().sum()) == 0
    with pytest.raises(ValueError, match=r"needs at least 2 real and 2 generated videos; have 0 real"), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torchmetrics: compute() before update()
        metric.compute()
    _feed(metric, fake, real, [12], [12])  # other way round: another value
    assert float(metric.compute()["fvd"]) != pytest.approx(first["fvd"], rel=1e-3)
    metric.reset()
    assert metric(torch.from_numpy(np.stack(real[:4])), real=True) is None  # forward = update, no batch value
    _feed(metric, real[4:], fake, [8], [6, 6])
    assert {k: float(v) for k, v in metric.compute().items()} == pytest.approx(first, rel=REL)


def test_bad_input_is_refused_clearly(tiny):
    metric = FrechetVideoDistance(tiny_detector(), _protocol(tiny))
    u8 = torch.zeros(2, 12, 32, 32, 3, dtype=torch.uint8)
    cases = [
        (u8.permute(0, 1, 4, 2, 3), True, ValueError,
         r"uint8 videos must be \[B, T, H, W, 3\], got shape \(2, 12, 3, 32, 32\) \(this looks like \[B, T, 3, H, W\]"),
        (u8[0], True, ValueError, r"got shape \(12, 32, 32, 3\) \(a single video needs a batch dimension"),
        (u8.float(), False, ValueError,
         r"float videos must be \[B, T, 3, H, W\] in \[0, 1\], got shape \(2, 12, 32, 32, 3\) \(this looks like"),
        (u8.permute(0, 1, 4, 2, 3).float() - 1.0, False, ValueError, r"Float videos must have values in \[0, 1\]"),
        (u8.to(torch.int32), True, TypeError, r"must be uint8 \[B, T, H, W, 3\] or float .* got dtype torch.int32"),
        (u8[:, :5], True, ValueError, r"a video of 5 frames is shorter than the clip length 10"),
        ([[1, 2]], True, TypeError, r"videos must be a torch.Tensor or numpy.ndarray, got list"),
        (u8, 1, TypeError, r"real must be True or False, got 1"),
    ]
    for videos, real, error, message in cases:
        with pytest.raises(error, match=message):
            metric.update(videos, real=real)
    assert float(metric.real_n) == float(metric.fake_n) == 0  # nothing was added
    metric.update(u8.numpy(), real=True)  # numpy arrays are taken
    assert float(metric.real_n) == 2


def test_bad_settings_are_refused(tiny):
    with pytest.raises(ValueError, match=r"protocol 'stylegan-v' reads real_sampling='window'.*`lfdm-bench eval`"):
        FrechetVideoDistance(tiny_detector(), "stylegan-v")
    with pytest.raises(ValueError, match=r"unknown FVD protocol preset 'nosuch'"):
        FrechetVideoDistance(tiny_detector(), "nosuch")
    with pytest.raises(TypeError, match=r"protocol must be a preset name or a metrics.protocol.EvalProtocol"):
        FrechetVideoDistance(tiny_detector(), 3)
    wrong = FrechetVideoDistance(FunctionDetector(lambda v: torch.zeros(v.shape[0], 4), "four"), n_frames=10,
                                 feature_dim=5)
    with pytest.raises(ValueError, match=r"detector 'four' returned features of shape \(2, 4\).*\[2, 5\]"):
        wrong.update(torch.zeros(2, 10, 32, 32, 3, dtype=torch.uint8), real=True)
    nan = FrechetVideoDistance(FunctionDetector(lambda v: torch.full((v.shape[0], 3), float("nan")), "nan"),
                               n_frames=10, feature_dim=3)
    with pytest.raises(ValueError, match=r"detector 'nan' gave NaN/inf features for 2 of 2 videos"):
        nan.update(torch.zeros(2, 10, 32, 32, 3, dtype=torch.uint8), real=False)


def test_without_torchmetrics_it_says_how_to_install(monkeypatch):
    """The module imports without torchmetrics; creating the metric names the extra."""
    monkeypatch.setitem(sys.modules, "torchmetrics", None)
    monkeypatch.setitem(sys.modules, "torchmetrics.utilities.data", None)
    path = Path(__file__).resolve().parent.parent / "metrics" / "torchmetrics_fvd.py"
    spec = importlib.util.spec_from_file_location("torchmetrics_fvd_without", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.raises(ImportError, match=re.escape(INSTALL_HINT)):
        module.FrechetVideoDistance(tiny_detector(), n_frames=10)
    assert INSTALL_HINT == "pip install 'lfdm-bench[torchmetrics]'"


# ------------------------------------------------------------------------------------------ 2 gloo processes


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, folder: str) -> None:
    """One process: its share of the videos (uneven, different batchings), compute() syncs through gloo."""
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        data = torch.load(Path(folder) / "videos.pt", weights_only=False)
        metric = FrechetVideoDistance(tiny_detector(), data["protocol"], kvd=True)
        real = data["real"][:7] if rank == 0 else data["real"][7:]
        fake = data["fake"][:4] if rank == 0 else data["fake"][4:]
        _feed(metric, real, fake, [len(real)] if rank == 0 else [2, 3], [1, 3] if rank == 0 else [len(fake), 0])
        out = metric.compute()
        torch.save({k: float(v) for k, v in out.items()}, Path(folder) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.mark.e2e
def test_two_gloo_processes_give_the_one_process_number(tiny):
    protocol = _protocol(tiny)
    ref = evaluate(protocol, tiny["samples"], ["fvd", "kvd"], detector=tiny_detector(), cache=False)
    real, fake = _videos(tiny)
    folder = tiny["tmp"] / "dist"
    folder.mkdir()
    torch.save({"real": real, "fake": fake, "protocol": protocol}, folder / "videos.pt")
    torch.multiprocessing.start_processes(_worker, args=(2, _free_port(), str(folder)), nprocs=2, join=True,
                                          start_method="spawn")
    for rank in range(2):
        out = torch.load(folder / f"rank{rank}.pt")
        assert out["fvd"] == pytest.approx(ref.values["fvd"]["test"], rel=REL)
        assert out["kvd"] == pytest.approx(ref.values["kvd"]["test"], rel=REL, abs=1e-12)


# ------------------------------------------------------------------------------------------ README


@pytest.mark.e2e  # CLI runs / video decoding: the full suite runs it
def test_readme_snippet_runs(tiny):
    """README's "FVD inside a training loop (torchmetrics)" python block, run as written; the I3D weight path (no
    weights here) is mapped to the stand-in detector. Its random videos are drawn again here (same seed, same
    order) and the value is checked against FVD of their clips computed directly."""
    text = README.read_text()
    section = re.search(r"### FVD inside a training loop \(torchmetrics\)\n(.*?)(?=\n##|\Z)", text, re.S).group(1)
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert code.count('"i3d_pretrained_400.pt"') == 1
    standin = FunctionDetector(tiny_features, "standin")
    namespace = {"STANDIN": standin}
    torch.manual_seed(0)
    exec(compile(code.replace('"i3d_pretrained_400.pt"', "STANDIN"), "README.md", "exec"), namespace)
    value = namespace["value"]
    assert isinstance(value, float) and value > 0
    assert standin.videos_seen == 1 + 32  # one probe clip (the feature dimension), then 2 x 8 real + 2 x 8 fake
    assert float(namespace["fvd"].real_n) == 0  # the snippet resets it after use
    torch.manual_seed(0)
    real, fake = [], []
    for _ in range(2):  # the snippet's draws: 16-frame videos, so the 16-frame clips are the whole videos
        real.append(torch.randint(0, 256, (8, 16, 64, 64, 3), dtype=torch.uint8).permute(0, 1, 4, 2, 3))
        fake.append(torch.rand(8, 16, 3, 64, 64).mul(255).round().to(torch.uint8))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallSampleWarning)
        expected = fvd_from_features(tiny_features(torch.cat(fake)).numpy(), tiny_features(torch.cat(real)).numpy())
    assert value == pytest.approx(expected, rel=REL)


@pytest.mark.e2e  # CLI runs / video decoding: the full suite runs it
def test_a_detector_named_as_eval_takes_it(tiny):
    """A shipped embedded-domain detector by name (``eval --detector synth-faces-vcnn-v1``) against the evaluation
    with the same detector; an I3D name gives 400-d states without running I3D."""
    from metrics.detector import FeatureExtractor
    from metrics.vcnn import load_detector

    protocol = _protocol(tiny, detector="synth-faces-vcnn-v1")
    ref = evaluate(protocol, tiny["samples"], ["fvd"], detector=load_detector("synth-faces-vcnn-v1"), cache=False)
    metric = FrechetVideoDistance("synth-faces-vcnn-v1", _protocol(tiny))
    assert metric.protocol.detector == "synth-faces-vcnn-v1" and metric.feature_dim == metric.source.feature_dim
    real, fake = _videos(tiny)
    _feed(metric, real, fake, [6, 6], [12])
    assert ref.values["fvd"]["test"] > 0
    with pytest.warns(SmallSampleWarning, match=r"FVD of 12 generated and 12 real videos with 16-d features"):
        value = float(metric.compute())
    assert value == pytest.approx(ref.values["fvd"]["test"], rel=REL)
    i3d = FrechetVideoDistance("i3d-random", "tf")
    assert isinstance(i3d.source, FeatureExtractor) and i3d.real_outer.shape == (400, 400)
    assert i3d.protocol.resize_method == "tf-legacy-bilinear" and i3d.protocol.n_frames == 16
