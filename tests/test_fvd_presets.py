"""FVD protocol presets against independent minimal implementations of each reference's rules (issue 15).

For every preset, the same small real and generated video sets (PNG frame folders: lossless) go once through
``evaluate(EvalProtocol(preset=NAME), ...)`` and once through a minimal re-implementation, written here from the
reference code (file and line cited in :data:`REFERENCE`), of: which frames make a clip, how frames reach the
evaluation resolution, the uint8 quantisation, the resize to 224x224 and value scaling, the BatchNorm epsilon, the
covariance divisor and the reference's own Fréchet-distance route. Both paths use the same seeded network weights
(:class:`MiniI3D`: an I3D-shaped stem, conv -> BatchNorm -> ReLU -> pooled logits averaged over time, cheap enough
for the default suite; the real I3D runs in the slow test at the end), the preset path building it through
``build_detector`` with the preset's ``bn_eps``, the reference path with the literal epsilon of the reference. The two
FVDs must agree to 1e-6 relative.

What the references leave to the caller or hide in binaries (TF's clip choice, the TorchScript's internal resize,
LFDM's input scaling) is implemented here as the preset documents it (``FVDPreset.unverified``), so the test pins the
preset's stated rule, not a guess about the binary.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

import metrics.detector as detector_mod
from lfdm_bench.data.records import VideoRecord, write_manifest
from lfdm_bench.data.registry import get_dataset
from metrics.evaluate import evaluate
from metrics.presets import PRESET_NAMES, get_preset
from metrics.protocol import EvalProtocol
from helpers import tf_resize_bilinear_legacy

SIZE = 16  # generated resolution (and the square real videos')
WIDE = (20, 28)  # H, W of the non-square real videos (shorter-side resize + centre crop presets)
GEN_FRAMES = 40
N_PER_SPLIT = 10  # real videos per split; 10 generated test videos; 6 features: full-rank covariances

# The reference rules. ``eps``: BatchNorm epsilon; ``divisor``: covariance normalisation; ``route``: how the reference
# computes the FD; ``real`` / ``gen``: clip rules; ``load``: frames -> the evaluation resolution; ``q_real`` /
# ``q_gen``: float -> uint8; ``to224``: resize + scaling into the network.
REFERENCE = {
    # google-research/google-research@0090728:frechet_video_distance/frechet_video_distance.py#L48
    # tf.image.resize_bilinear (legacy grid) on 0-255 values, #L51 2. * x / 255. - 1; TF-GAN classifier_metrics.py:
    # 1/(n-1), SVD square roots keeping singular values < 1e-10, float32 result; eps 1e-3 (Sonnet 1 BatchNorm default)
    "tf": dict(eps=1e-3, divisor="n-1", route="tfgan", real="uniform", gen="first", split="test", load="stored",
               q_real="stored", q_gen="stored", to224="tf-legacy", frames=16),
    # universome/stylegan-v@1f630af:src/metrics/frechet_video_distance.py#L26 load_n_consecutive=16 with a random
    # offset (dataset.py random.randint(0, L - 16)), #L38-39 generated: first 16 frames; metric_utils.py#L125-126
    # cov = raw_cov / N - outer(mean, mean); frechet_video_distance.py#L54-56 sqrtm(sigma_gen @ sigma_real).real;
    # metric_utils.py#L285 (x * 127.5 + 128).clamp(0, 255).to(uint8) (stored uint8 frames: unchanged)
    "stylegan-v": dict(eps=1e-3, divisor="n", route="sqrtm-gen-real", real="window", gen="first", split="test",
                       load="stored", q_real="round-half-up", q_gen="round-half-up", to224="bilinear", frames=16),
    # wilson1yan/VideoGPT@c6655e8:videogpt/fvd/pytorch_i3d.py#L81 eps=1e-5; @3eee7ec videogpt/data.py#L78 / 255.,
    # #L87-97 shorter side (ceil) bilinear align_corners=False + centre crop, #L102 -= 0.5; scripts/compute_fvd.py#L87
    # (fake * 255).astype(uint8), #L100-102 ((real + 0.5) * 255).astype(uint8); fvd.py: preprocess(224) then * 2;
    # #L74 fact = 1 / (N - 1), #L36-37 torch.svd square roots; clips over ALL 16-frame windows (VideoClips)
    "videogpt": dict(eps=1e-5, divisor="n-1", route="tfgan-gen", real="windows-all", gen="first", split="test",
                     load="shortside", q_real="shifted", q_gen="truncate", to224="videogpt", frames=16),
    # songweige/TATS@26c33f5:tats/fvd/fvd.py#L22-26 bilinear align_corners=False straight to 224, 2x/255-1, #L83
    # 1/(N-1), #L45 torch.svd; #L109 train_dataloader (all windows); tats/data.py#L121-136 shorter side + crop,
    # -= 0.5; sample script #L99 (x*255).astype(uint8), #L113 ((video+0.5)*255).byte(); eps 1e-5 (VideoGPT class)
    "tats": dict(eps=1e-5, divisor="n-1", route="tfgan-gen", real="windows-all", gen="first", split="train",
                 load="shortside", q_real="shifted", q_gen="truncate", to224="bilinear", frames=16),
    # songweige/content-debiased-fvd@a22cd10:cdfvd/third_party/i3d/pytorch_i3d.py#L76 eps=1e-5; data_utils.py@38d63c3
    # #L58-59 antialias=True shorter side + crop, #L178/#L191 one random window per video (real and fake);
    # fvd.py@0919683#L133/#L155 (x * 255).byte(); metric_utils.py#L134-135 1/N; fvd.py#L97-98 sqrtm(S_real @ S_fake)
    "cd-fvd": dict(eps=1e-5, divisor="n", route="sqrtm-real-gen", real="window", gen="window", split="test",
                   load="shortside-aa", q_real="truncate", q_gen="truncate", to224="bilinear", frames=16),
    # LFDM issue #27 -> universome/fvd-comparison@1c54d8d:compare_metrics.py#L32-45 compute_our_fvd; our_fvd.py#L22
    # np.cov (1/(N-1)), #L14 sqrtm(sigma_gen @ sigma_real); issue #36: 40 frames; MUG_test np.linspace(0, L-1, 40,
    # dtype=int); frames saved by truncation; scaling/resize into the TorchScript: bilinear 224, 2x/255-1 (assumed)
    "lfdm": dict(eps=1e-3, divisor="n-1", route="sqrtm-gen-real", real="uniform", gen="first", split="test",
                 load="stored", q_real="truncate", q_gen="truncate", to224="bilinear", frames=40),
    # this toolkit (no external reference): uniform real clips, first generated frames, eps 1e-3, 1/(N-1)
    "lfdm-bench": dict(eps=1e-3, divisor="n-1", route="sqrtm-gen-real", real="uniform", gen="first", split="test",
                       load="stored", q_real="round", q_gen="round", to224="bilinear", frames=16),
}


class MiniI3D(nn.Module):
    """Seeded I3D-shaped stand-in: [B, 3, T, 224, 224] in [-1, 1] -> [B, 6] (conv 3x16x16 stride 2x16x16 ->
    BatchNorm(eps) -> ReLU -> spatial mean -> linear logits -> mean over time). Running variances are small, so the
    BatchNorm epsilon (1e-3 vs 1e-5) changes the features a lot."""

    def __init__(self, bn_eps: float, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.conv = nn.Conv3d(3, 8, (3, 16, 16), stride=(2, 16, 16), bias=False)
        self.bn = nn.BatchNorm3d(8, eps=bn_eps)
        self.head = nn.Linear(8, 6)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=g) * 0.02)
            self.bn.running_mean.copy_(torch.randn(8, generator=g) * 0.1)
            self.bn.running_var.copy_(torch.rand(8, generator=g) * 1e-3 + 1e-4)
            self.bn.bias.copy_(torch.randn(8, generator=g) * 0.1)
            self.head.weight.copy_(torch.randn(6, 8, generator=g))
            self.head.bias.zero_()
        self.name, self.sha256, self.bn_eps = "mini-i3d", f"mini-i3d-seed{seed}", bn_eps
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn(self.conv(x)))  # [B, 8, T', 14, 14]
        return self.head(y.mean(dim=(3, 4)).transpose(1, 2)).mean(dim=1)


# ------------------------------------------------------------------------------------------------------ the data
def _video(rng: np.random.Generator, length: int, h: int, w: int) -> np.ndarray:
    """uint8 [L, h, w, 3]: a smooth random texture drifting by a per-video velocity, plus frame noise."""
    base = rng.random((h // 4 + 2, w // 4 + 2, 3))
    big = np.kron(base, np.ones((4, 4, 1)))
    vy, vx = rng.integers(-1, 2), rng.integers(1, 3)
    frames = [np.roll(big, (int(vy * t), int(vx * t)), axis=(0, 1))[:h, :w] for t in range(length)]
    video = np.stack(frames) * 200 + rng.random((length, h, w, 3)) * 55
    return np.clip(video, 0, 255).astype(np.uint8)


def _write_frames(folder: Path, video: np.ndarray) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(video):
        Image.fromarray(frame).save(folder / f"{i:04d}.png")


def _make_real(root: Path, h: int, w: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    records = []
    for split in ("train", "test"):
        for i in range(N_PER_SPLIT):
            length = int(rng.integers(40, 47))
            path = root / f"{split}_{i:02d}"
            _write_frames(path, _video(rng, length, h, w))
            records.append(VideoRecord(path=str(path), subject=f"{split}{i % 5}", class_index=i % 2,
                                       class_name=f"c{i % 2}", text=f"c{i % 2}", split=split, take=f"t{i}",
                                       n_frames=length))
    write_manifest(records, root / "manifest.csv", relative_to=root)
    (root / "dataset.json").write_text(json.dumps({"class_names": ["c0", "c1"], "class_texts": ["c0", "c1"]}))
    return root / "manifest.csv"


@pytest.fixture(scope="module")
def sets(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("presets")
    square = get_dataset(str(_make_real(tmp / "square", SIZE, SIZE, 1)))
    wide = get_dataset(str(_make_real(tmp / "wide", *WIDE, 2)))
    rng = np.random.default_rng(3)
    sources = square.split("test")
    gen = []
    for i in range(N_PER_SPLIT):
        path = tmp / "gen" / f"g{i:02d}"
        _write_frames(path, _video(rng, GEN_FRAMES, SIZE, SIZE))
        src = sources[i]
        gen.append(VideoRecord(path=str(path), subject=src.subject, class_index=src.class_index,
                               class_name=src.class_name, text=src.text, split="test", take=f"g{i}",
                               n_frames=GEN_FRAMES, params={"source": src.path, "clip_sampling": "uniform"}))
    return {"square": square, "wide": wide, "gen": gen}


# ------------------------------------------------------------------------------- the reference rules, re-written
def _frames(path: str, idx) -> np.ndarray:
    files = sorted(Path(path).glob("*.png"))
    return np.stack([np.asarray(Image.open(files[i]).convert("RGB")) for i in idx])  # uint8 [T, H, W, 3]


def _shortside(x: torch.Tensor, size: int, antialias: bool) -> torch.Tensor:
    """VideoGPT / TATS / cd-fvd data.py: [T, C, H, W] float; shorter side to ``size`` (ceil), centre crop."""
    h, w = x.shape[-2:]
    scale = size / min(h, w)
    target = (size, math.ceil(w * scale)) if h < w else (math.ceil(h * scale), size)
    x = F.interpolate(x, size=target, mode="bilinear", align_corners=False, antialias=antialias)
    top, left = (x.shape[-2] - size) // 2, (x.shape[-1] - size) // 2
    return x[..., top:top + size, left:left + size]


def _quantise(x: torch.Tensor, rule: str) -> torch.Tensor:
    """float [0, 1] -> uint8 as each reference writes it."""
    if rule == "truncate":  # (x * 255).byte() / .astype(np.uint8)
        return (x * 255).to(torch.uint8)
    if rule == "shifted":  # data.py: video -= 0.5; then ((video + 0.5) * 255).byte()
        return (((x - 0.5) + 0.5) * 255).to(torch.uint8)
    if rule == "round-half-up":  # StyleGAN-V: (img * 127.5 + 128).clamp(0, 255) on [-1, 1] images, x = (img + 1) / 2
        return torch.floor(x * 255 + 0.5).clamp(0, 255).to(torch.uint8)
    if rule == "round":
        return torch.round(x * 255).clamp(0, 255).to(torch.uint8)
    raise AssertionError(rule)


def reference_input(u8: np.ndarray, ref: dict, real: bool) -> torch.Tensor:
    """uint8 [T, H, W, 3] stored frames -> the reference's network input [3, T, 224, 224]."""
    x = torch.from_numpy(u8).permute(0, 3, 1, 2)  # [T, 3, H, W] uint8
    load = ref["load"] if real else "stored"
    if load != "stored":  # float [0, 1] at the dataset resolution, then quantised
        unit = _shortside(x.float() / 255.0, SIZE, antialias=load == "shortside-aa")
        x = _quantise(unit, ref["q_real"] if real else ref["q_gen"])
    elif (ref["q_real"] if real else ref["q_gen"]) not in ("stored",):
        x = _quantise(x.float() / 255.0, ref["q_real"] if real else ref["q_gen"])  # generated floats = stored / 255
    if ref["to224"] == "tf-legacy":
        hwc = x.permute(0, 2, 3, 1).float().numpy()
        y = torch.from_numpy(tf_resize_bilinear_legacy(hwc, 224, 224)).permute(0, 3, 1, 2)
        y = 2.0 * y / 255.0 - 1
    elif ref["to224"] == "videogpt":
        y = (_shortside(x.float() / 255.0, 224, antialias=False) - 0.5) * 2
    else:
        y = 2.0 * F.interpolate(x.float(), size=(224, 224), mode="bilinear", align_corners=False) / 255.0 - 1
    return y.permute(1, 0, 2, 3)  # [3, T, 224, 224]


def reference_features(clips: list[np.ndarray], ref: dict, real: bool) -> np.ndarray:
    net = MiniI3D(ref["eps"])
    with torch.no_grad():
        out = [net(reference_input(c, ref, real)[None]) for c in clips]
    return torch.cat(out).numpy().astype(np.float32)


def _svd_sqrt(m: np.ndarray, eps: float = 1e-10) -> np.ndarray:
    u, s, vt = np.linalg.svd(m)
    si = np.where(s < eps, s, np.sqrt(s))
    return u @ np.diag(si) @ vt


def reference_fd(real: np.ndarray, gen: np.ndarray, ref: dict) -> float:
    r, g = real.astype(np.float64), gen.astype(np.float64)
    if ref["divisor"] == "n":  # float64 sums: mean, raw_cov / N - outer(mean, mean)
        def stats(x):
            mu = x.sum(0) / len(x)
            return mu, x.T @ x / len(x) - np.outer(mu, mu)
    else:
        def stats(x):
            return x.mean(0), np.cov(x, rowvar=False)
    (mr, sr), (mg, sg) = stats(r), stats(g)
    m = np.square(mg - mr).sum()
    if ref["route"] in ("tfgan", "tfgan-gen"):  # trace(sqrt(A S2 A)), A = sqrt(S1); TF-GAN S1 = real, VideoGPT = fake
        s1, s2 = (sr, sg) if ref["route"] == "tfgan" else (sg, sr)
        a = _svd_sqrt(s1)
        fd = m + np.trace(sr) + np.trace(sg) - 2 * np.trace(_svd_sqrt(a @ s2 @ a))
        return float(np.float32(fd)) if ref["route"] == "tfgan" else float(fd)
    prod = sg @ sr if ref["route"] == "sqrtm-gen-real" else sr @ sg
    s = scipy.linalg.sqrtm(prod)
    return float(np.real(m + np.trace(sg + sr - s * 2)))


# ------------------------------------------------------------------------------------------------------- tests
@pytest.fixture()
def mini_detector(monkeypatch: pytest.MonkeyPatch) -> list:
    """``build_detector`` loads :class:`MiniI3D` for the path ``mini``, with the epsilon it is given."""
    built = []

    def load(path, bn_eps=1e-3, map_location="cpu"):
        built.append(MiniI3D(bn_eps))
        return built[-1]

    monkeypatch.setattr(detector_mod, "resolve_i3d_path", lambda p: p)
    monkeypatch.setattr(detector_mod, "load_i3d", load)
    return built


def _selected(result, key: str) -> list[VideoRecord]:
    return result.records[key]


def _clip_indices(rec: VideoRecord, rule: str, t: int, length_of) -> list[int]:
    """Frame indices (in the stored file) of the clip the reference takes for record ``rec``."""
    if rule == "uniform":  # LFDM MUG_test: np.linspace(0, L - 1, T, dtype=int)
        return list(np.linspace(0, length_of(rec) - 1, t, dtype=int))
    if rule == "first":
        return list(range(t))
    start, stop = rec.params["segment"]  # a window chosen by the preset: checked against the rule by the caller
    return list(range(start, stop))


# the house preset in the fast loop; every other preset with the end-to-end tests
@pytest.mark.parametrize("name", [pytest.param(n, marks=() if n == "lfdm-bench" else pytest.mark.e2e)
                                  for n in PRESET_NAMES])
def test_preset_fvd_equals_reference_rules(name: str, sets: dict, mini_detector: list) -> None:
    ref = REFERENCE[name]
    preset = get_preset(name)
    assert (preset.bn_eps, preset.ddof, preset.n_frames) == (ref["eps"], 0 if ref["divisor"] == "n" else 1,
                                                             ref["frames"])
    data = sets["wide"] if ref["load"].startswith("shortside") else sets["square"]
    t = ref["frames"]
    # windows over all windows: the references draw 256 (VideoGPT) / 2048 (TATS) of them; 10 here, an override
    extra = {"max_real": N_PER_SPLIT} if ref["real"] == "windows-all" else {}
    # the references read real videos at the resolution the model generates (SIZE); the default would be the
    # dataset's own frame size (28 px for the wide set)
    protocol = EvalProtocol(dataset=data.name, preset=name, detector="mini", batch_size=4, resolution=SIZE,
                            allow_span_mismatch=True, device="cpu", **extra)
    assert set(protocol.overrides) == set(extra)
    result = evaluate(protocol, sets["gen"], ["fvd"], dataset=data, cache=False)
    assert mini_detector[-1].bn.eps == ref["eps"]
    assert result.protocol["preset"] == name and result.protocol["preset_settings"] == preset.settings()

    lengths = {r.path: r.n_frames for r in data.records}
    real_videos = data.split(ref["split"])
    real = _selected(result, f"real_{ref['split']}")
    if ref["real"] == "window":  # one window per video, offset uniform in [0, L - T] (inclusive)
        assert sorted(r.path for r in real) == sorted(r.path for r in real_videos)
        for r in real:
            (start, stop), off = r.params["segment"], r.params["window"]["offset"]
            assert stop - start == t and start == off and 0 <= off <= lengths[r.path] - t
    elif ref["real"] == "windows-all":  # distinct windows drawn over all windows of the split
        wins = [(r.path, r.params["segment"][0]) for r in real]
        assert len(wins) == len(set(wins)) == len(real_videos)
        assert all(0 <= o <= lengths[p] - t and r.params["segment"][1] - o == t for (p, o), r in zip(wins, real))
    else:
        assert [r.path for r in real] == [r.path for r in real_videos]
    gen = _selected(result, "generated")
    if ref["gen"] == "window":
        for r in gen:
            (start, stop) = r.params["segment"]
            assert stop - start == t and 0 <= start <= GEN_FRAMES - t
    real_clips = [_frames(r.path, _clip_indices(r, ref["real"], t, lambda x: lengths[x.path])) for r in real]
    gen_clips = [_frames(r.path, _clip_indices(r, ref["gen"], t, lambda x: GEN_FRAMES)) for r in gen]
    expected = reference_fd(reference_features(real_clips, ref, True), reference_features(gen_clips, ref, False), ref)
    got = result.values["fvd"]["test"]
    assert got == pytest.approx(expected, rel=1e-6), (name, got, expected)
    assert result.protocol["real_split"] == preset.real_split


@pytest.mark.e2e
def test_presets_differ_on_the_same_sets(sets: dict, mini_detector: list) -> None:
    """The settings matter: eps, divisor and clip rules give different values on the same videos (so the agreement
    above is not an accident of insensitive data)."""
    data = sets["square"]
    values = {}
    for name in ("lfdm-bench", "tf", "stylegan-v"):
        p = EvalProtocol(dataset=data.name, preset=name, detector="mini", batch_size=4, allow_span_mismatch=True,
                         device="cpu")
        values[name] = evaluate(p, sets["gen"], ["fvd"], dataset=data, cache=False).values["fvd"]["test"]
    over = EvalProtocol(dataset=data.name, preset="lfdm-bench", detector="mini", batch_size=4, bn_eps=1e-5,
                        allow_span_mismatch=True, device="cpu")
    assert over.overrides == {"bn_eps": {"preset": 1e-3, "used": 1e-5}}
    values["eps"] = evaluate(over, sets["gen"], ["fvd"], dataset=data, cache=False).values["fvd"]["test"]
    assert len({round(v, 6) for v in values.values()}) == len(values), values


@pytest.mark.e2e  # a whole command / evaluation / dataset build or a subprocess: the full suite runs it
def test_bf16_only_when_asked_and_its_drift_is_stored(sets: dict, mini_detector: list) -> None:
    data = sets["square"]
    base = dict(dataset=data.name, preset="stylegan-v", detector="mini", batch_size=4, allow_span_mismatch=True,
                device="cpu")
    assert EvalProtocol(**base).precision == "fp32"  # every preset: fp32
    fp32 = evaluate(EvalProtocol(**base), sets["gen"], ["fvd"], dataset=data, cache=False)
    assert fp32.detector["precision"] == "fp32" and "precision_drift" not in fp32.values
    bf16 = evaluate(EvalProtocol(**base, precision="bf16"), sets["gen"], ["fvd"], dataset=data, cache=False)
    assert bf16.protocol["overrides"] == {"precision": {"preset": "fp32", "used": "bf16"}}
    drift = bf16.values["precision_drift"]["test"]
    assert drift["fvd_fp32"] == pytest.approx(fp32.values["fvd"]["test"], rel=1e-9)  # same clips, fp32 twin
    assert drift["fvd_bf16"] == bf16.values["fvd"]["test"]
    assert drift["abs"] == pytest.approx(drift["fvd_bf16"] - drift["fvd_fp32"]) and drift["abs"] != 0


def test_protocol_values_listed_in_help() -> None:
    from click.testing import CliRunner

    from metrics.commands import eval_cmd

    out = CliRunner().invoke(eval_cmd, ["--help"]).output
    assert "--protocol" in out
    for name in PRESET_NAMES:
        assert name in out, name


@pytest.mark.slow
@pytest.mark.parametrize("name", PRESET_NAMES)
def test_preset_features_equal_reference_with_the_real_i3d(name: str, sets: dict, tmp_path: Path) -> None:
    """The full I3D (seeded random weights saved as a state dict, loaded by ``build_detector`` with the preset's
    epsilon): each selected clip's features equal those of the reference's input through the I3D built with the
    reference's literal epsilon."""
    from metrics.i3d import InceptionI3d
    from helpers import random_state_dict

    ref = REFERENCE[name]
    weights = tmp_path / "w.pt"
    torch.save(random_state_dict(7), weights)
    data = sets["wide"] if ref["load"].startswith("shortside") else sets["square"]
    t = ref["frames"]
    protocol = EvalProtocol(dataset=data.name, preset=name, detector=str(weights), batch_size=2, max_real=3,
                            max_generated=3, resolution=SIZE, allow_span_mismatch=True, device="cpu")
    result = evaluate(protocol, sets["gen"], ["fvd"], dataset=data, cache=False)
    net = InceptionI3d(bn_eps=ref["eps"])
    net.load_state_dict(random_state_dict(7), strict=False)
    net.eval()
    lengths = {r.path: r.n_frames for r in data.records}
    for key, rule, real in ((f"real_{ref['split']}", ref["real"], True), ("generated", ref["gen"], False)):
        recs = result.records[key]
        feats = result.features[key if real else "generated"]["i3d"]
        for r, f in zip(recs, feats):
            clip = _frames(r.path, _clip_indices(r, rule, t, lambda x: lengths.get(x.path, GEN_FRAMES)))
            with torch.no_grad():
                want = net(reference_input(clip, ref, real)[None])[0].double().numpy()
            np.testing.assert_allclose(f, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
