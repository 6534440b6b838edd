"""I3D detector, weight resolution, preprocessing and feature extraction.

The network is checked against an independent functional implementation written here (F.conv3d /
F.pad / F.batch_norm / F.max_pool3d walking the state dict, its own TF "SAME" rule, -inf pool padding,
its own pooling and head), on random weights written in the ``i3d_pretrained_400.pt`` layout.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from metrics import (
    DetectorNotFoundError,
    FeatureExtractor,
    I3DWeightsError,
    InceptionI3d,
    build_random_i3d,
    load_i3d,
    resolve_i3d_path,
    to_i3d_input,
)
from metrics.i3d import FrozenBatchNorm3d, TorchScriptI3D
from helpers import random_state_dict, reference_layout


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("i3d") / "i3d_pretrained_400.pt"
    torch.save(random_state_dict(), path)
    return path


# ---------------------------------------------------------------- independent reference network
def ref_same_pads(sizes, kernel, stride):
    """TF's formula: out = ceil(n / s); pad = max((out - 1) * s + k - n, 0); front = pad // 2."""
    pads = []
    for n, k, s in zip(sizes, kernel, stride):
        total = max((math.ceil(n / s) - 1) * s + k - n, 0)
        pads.append((total // 2, total - total // 2))
    (tf, tb), (hf, hb), (wf, wb) = pads
    return [wf, wb, hf, hb, tf, tb]


def ref_conv(x, sd, prefix, eps, stride=1):
    w = sd[f"{prefix}.conv3d.weight"]
    k, s = tuple(w.shape[2:]), (stride,) * 3
    x = F.conv3d(F.pad(x, ref_same_pads(x.shape[2:], k, s)), w, stride=s)
    x = F.batch_norm(x, sd[f"{prefix}.bn.running_mean"], sd[f"{prefix}.bn.running_var"],
                     sd[f"{prefix}.bn.weight"], sd[f"{prefix}.bn.bias"], False, 0.0, eps)
    return x.clamp_min(0)


def ref_pool(x, k, s):
    return F.max_pool3d(F.pad(x, ref_same_pads(x.shape[2:], k, s), value=float("-inf")), k, s)


def ref_mixed(x, sd, p, eps):
    b0 = ref_conv(x, sd, f"{p}.b0", eps)
    b1 = ref_conv(ref_conv(x, sd, f"{p}.b1a", eps), sd, f"{p}.b1b", eps)
    b2 = ref_conv(ref_conv(x, sd, f"{p}.b2a", eps), sd, f"{p}.b2b", eps)
    b3 = ref_conv(ref_pool(x, (3, 3, 3), (1, 1, 1)), sd, f"{p}.b3b", eps)
    return torch.cat([b0, b1, b2, b3], 1)


def reference_i3d(x, sd, eps):
    x = ref_conv(x, sd, "Conv3d_1a_7x7", eps, stride=2)
    x = ref_pool(x, (1, 3, 3), (1, 2, 2))
    x = ref_conv(ref_conv(x, sd, "Conv3d_2b_1x1", eps), sd, "Conv3d_2c_3x3", eps)
    x = ref_pool(x, (1, 3, 3), (1, 2, 2))
    x = ref_mixed(ref_mixed(x, sd, "Mixed_3b", eps), sd, "Mixed_3c", eps)
    x = ref_pool(x, (3, 3, 3), (2, 2, 2))
    for name in ("Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e", "Mixed_4f"):
        x = ref_mixed(x, sd, name, eps)
    x = ref_pool(x, (2, 2, 2), (2, 2, 2))
    x = ref_mixed(ref_mixed(x, sd, "Mixed_5b", eps), sd, "Mixed_5c", eps)  # [B, 1024, T', 7, 7]
    assert x.shape[3:] == (7, 7)
    x = x.mean(dim=(3, 4))
    x = (x[:, :, 1:] + x[:, :, :-1]) / 2  # temporal window of 2, stride 1
    w, b = sd["logits.conv3d.weight"].flatten(1), sd["logits.conv3d.bias"]
    return (torch.einsum("bct,kc->btk", x, w) + b).mean(dim=1)


# ---------------------------------------------------------------- layout and loading
def test_module_layout_matches_checkpoint_keys():
    expected = reference_layout()
    assert len(expected) == 287
    got = {k: tuple(v.shape) for k, v in InceptionI3d().state_dict().items()}
    assert list(got) == list(expected)
    assert got == expected
    assert not any("num_batches_tracked" in k for k in got)


def test_load_strict_and_metadata(weights_file):
    model = load_i3d(weights_file)
    assert model.is_pretrained and model.name == "i3d_pretrained_400.pt"
    assert model.sha256 == hashlib.sha256(weights_file.read_bytes()).hexdigest()
    sd = torch.load(weights_file, weights_only=True)
    for k, v in model.state_dict().items():
        assert torch.equal(v, sd[k]), k
    model.train()
    assert not model.training and not any(m.training for m in model.modules())
    assert not any(p.requires_grad for p in model.parameters())


@pytest.mark.parametrize("eps, frames", [(1e-3, 9), (1e-5, 10)])
def test_matches_functional_reference(weights_file, eps, frames):
    # T=9 and T=10 exercise both asymmetric SAME cases in time (odd size at pool 5a, even at conv 1a).
    # The tolerance is tight enough to see the BN epsilon: on this input the reference outputs for
    # eps 1e-3 and 1e-5 differ by ~1e-2 relative, 100x the tolerance.
    torch.manual_seed(1)
    x = torch.rand(1, 3, frames, 224, 224) * 2 - 1
    model = load_i3d(weights_file, bn_eps=eps)
    assert {m.eps for m in model.modules() if isinstance(m, FrozenBatchNorm3d)} == {eps}
    with torch.no_grad():
        out = model(x)
        ref = reference_i3d(x, random_state_dict(), eps)
    assert out.shape == (1, 400)
    assert (out - ref).abs().max() / ref.abs().max() < 1e-4


def test_num_batches_tracked_present_or_absent(weights_file, tmp_path):
    sd = random_state_dict()
    with_counter = dict(sd)
    for k in sd:
        if k.endswith("bn.running_var"):
            with_counter[k.replace("running_var", "num_batches_tracked")] = torch.tensor(0)
    path = tmp_path / "with_counter.pt"
    torch.save(with_counter, path)
    a, b = load_i3d(weights_file), load_i3d(path)
    assert all(torch.equal(a.state_dict()[k], v) for k, v in b.state_dict().items())
    InceptionI3d().load_state_dict(with_counter, strict=True)  # plain load_state_dict tolerates it too
    InceptionI3d().load_state_dict(sd, strict=True)


def test_bad_state_dicts_are_reported(tmp_path):
    sd = random_state_dict()
    bad = dict(sd)
    del bad["Mixed_4c.b1b.bn.running_mean"]
    bad["head.fc.weight"] = torch.zeros(3)
    bad["Conv3d_2b_1x1.conv3d.weight"] = torch.zeros(64, 64, 3, 3, 3)
    path = tmp_path / "bad.pt"
    torch.save(bad, path)
    with pytest.raises(I3DWeightsError, match="bad.pt") as info:
        load_i3d(path)
    msg = str(info.value)
    assert "Missing keys: Mixed_4c.b1b.bn.running_mean" in msg
    assert "Unexpected keys: head.fc.weight" in msg
    assert "Conv3d_2b_1x1.conv3d.weight: file (64, 64, 3, 3, 3) vs model (64, 64, 1, 1, 1)" in msg
    with pytest.raises(FileNotFoundError, match="nowhere.pt"):
        load_i3d(tmp_path / "nowhere.pt")


def test_too_few_frames_raise_before_the_network():
    model = build_random_i3d()
    calls = []
    model.Conv3d_1a_7x7.register_forward_pre_hook(lambda m, a: calls.append(1))
    with pytest.raises(ValueError, match="at least 9 frames"):
        model(torch.zeros(1, 3, 8, 224, 224))
    assert calls == []
    with pytest.raises(ValueError, match="224x224"):
        model(torch.zeros(1, 3, 9, 112, 112))


@pytest.mark.e2e  # a trained model, shipped weights on videos or a whole network pass: the full suite runs it
def test_random_detector_is_deterministic():
    a, b = build_random_i3d(), load_i3d("i3d-random")
    assert a.name == "i3d-random" and not a.is_pretrained
    h = hashlib.sha256()
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k
        h.update(v.numpy().tobytes())
    # pinned: the random weights must be bit-identical on every machine (same weights, same outputs)
    assert h.hexdigest() == "329393dbbe0cdc482fbfe4378365eacad77135b84ccafd356096be45db842ae9"
    assert a.sha256 == "i3d-random-v2"  # the construction's version is part of feature-cache keys


@pytest.mark.e2e  # a whole command / evaluation / dataset build or a subprocess: the full suite runs it
def test_random_detector_sees_motion_not_stillness():
    """i3d-random's first layer is a temporal difference: a still video gives (numerically) zero features at any
    appearance, a moving one does not, and faster motion moves the features further."""
    model = build_random_i3d()
    g = torch.Generator().manual_seed(0)
    frame = torch.rand(2, 3, 1, 224, 224, generator=g) * 2 - 1
    still = model(frame.expand(2, 3, 16, 224, 224).contiguous())
    assert float(still.abs().max()) < 1e-4
    shift = torch.arange(16).view(1, 1, 16, 1, 1)
    base = torch.sin(torch.linspace(0, 12, 224).view(1, 1, 1, 1, 224) + 0 * shift)
    slow = model(torch.sin(torch.linspace(0, 12, 224).view(1, 1, 1, 1, 224) - 0.05 * shift).expand(1, 3, 16, 224, 224).contiguous())
    fast = model(torch.sin(torch.linspace(0, 12, 224).view(1, 1, 1, 1, 224) - 0.2 * shift).expand(1, 3, 16, 224, 224).contiguous())
    assert float(base.abs().max()) > 0 and 1e-3 < float(slow.norm()) < float(fast.norm())


class _ScriptedDummy(nn.Module):
    """Stands in for StyleGAN-V's TorchScript I3D: uint8 [B, 3, T, H, W] -> [B, 400]."""

    def forward(self, x: torch.Tensor, rescale: bool = False, resize: bool = False,
                return_features: bool = False) -> torch.Tensor:
        v = x.float()
        if rescale:
            v = v / 127.5 - 1
        feats = v.mean(dim=(2, 3, 4))  # [B, 3]
        return torch.cat([feats, v.amax(dim=(1, 2, 3, 4)).unsqueeze(1)], 1).repeat(1, 100)


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
def test_torchscript_wrapper(tmp_path):
    path = tmp_path / "i3d_torchscript.pt"
    torch.jit.script(_ScriptedDummy()).save(str(path))
    model = load_i3d(path)
    assert isinstance(model, TorchScriptI3D) and model.name == "i3d_torchscript.pt"
    u8 = torch.randint(0, 256, (2, 3, 9, 224, 224), dtype=torch.uint8)
    expected = _ScriptedDummy()(u8, rescale=True)
    x = u8.float() / 127.5 - 1  # float interface in [-1, 1] quantises back to the same uint8
    assert torch.allclose(model(x), expected, atol=1e-6)
    assert torch.allclose(model.forward_uint8(u8), expected, atol=1e-6)
    with pytest.raises(ValueError, match="at least 9 frames"):
        model(torch.zeros(1, 3, 8, 224, 224))
    fx = FeatureExtractor(path, device="cpu")
    assert fx.info.resize_method == "torchscript-internal"
    feats = fx(u8[:, :, :, :64, :80].permute(0, 2, 1, 3, 4))  # native resolution, BTCHW
    assert np.allclose(feats, _ScriptedDummy()(u8[:, :, :, :64, :80], rescale=True).double().numpy())
    assert fx.info.weights_status == "unverified" and not fx.info.comparable_with_published  # unknown digest
    # fvd-comparison's compute_our_fvd (preset lfdm): the toolkit's resize and [-1, 1] scaling, then
    # rescale=False, resize=False
    fl = FeatureExtractor(path, device="cpu", torchscript_call="float-224")
    assert fl.info.resize_method == "bilinear-tats"
    small = u8[:, :, :, :64, :80]
    want = _ScriptedDummy()(to_i3d_input(small), rescale=False, resize=False).double().numpy()
    assert np.allclose(fl(small.permute(0, 2, 1, 3, 4)), want, atol=1e-6)


# ---------------------------------------------------------------- resolution of the weights
def test_resolution_order(weights_file, tmp_path, monkeypatch):
    monkeypatch.delenv("LFDM_BENCH_I3D", raising=False)
    monkeypatch.setenv("LFDM_BENCH_CACHE", str(tmp_path / "cache"))
    with pytest.raises(DetectorNotFoundError) as info:
        resolve_i3d_path(None)
    msg = str(info.value)
    for needed in ("i3d_pretrained_400.pt", "--i3d PATH", "LFDM_BENCH_I3D", "--i3d i3d-random",
                   str(tmp_path / "cache" / "i3d" / "i3d_pretrained_400.pt")):
        assert needed in msg
    cached = tmp_path / "cache" / "i3d" / "i3d_pretrained_400.pt"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(weights_file.read_bytes())
    assert resolve_i3d_path() == str(cached.resolve())
    monkeypatch.setenv("LFDM_BENCH_I3D", str(weights_file))
    assert resolve_i3d_path() == str(weights_file.resolve())
    assert resolve_i3d_path("i3d-random") == "i3d-random"
    monkeypatch.setenv("LFDM_BENCH_I3D", str(tmp_path / "missing.pt"))
    with pytest.raises(DetectorNotFoundError, match="missing.pt.*LFDM_BENCH_I3D"):
        resolve_i3d_path()
    with pytest.raises(DetectorNotFoundError, match="given path"):
        resolve_i3d_path(tmp_path / "other.pt")


# ---------------------------------------------------------------- preprocessing and extraction
def test_preprocess_is_per_frame_bilinear_and_scaled():
    torch.manual_seed(0)
    u8 = torch.randint(0, 256, (2, 3, 4, 96, 128), dtype=torch.uint8)
    out = to_i3d_input(u8)
    assert out.shape == (2, 3, 4, 224, 224) and out.dtype == torch.float32
    for b in range(2):
        for t in range(4):
            frame = u8[b, :, t].float()[None] / 255.0
            ref = F.interpolate(frame, size=(224, 224), mode="bilinear", align_corners=False)[0] * 2 - 1
            assert torch.allclose(out[b, :, t], ref, atol=1e-6)
    white = to_i3d_input(torch.full((1, 3, 1, 8, 8), 255, dtype=torch.uint8))
    torch.testing.assert_close(white, torch.ones(1, 3, 1, 224, 224), atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        to_i3d_input(torch.full((1, 3, 1, 8, 8), -1.0))


class _DummyDetector(nn.Module):
    """Checks the I3D input contract and returns a deterministic [B, 400] function of the input."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(3 * 9, 400)
        self.calls: list[int] = []

    def forward(self, x):
        assert x.dtype == torch.float32 and x.shape[1:] == (3, 9, 224, 224)
        assert x.min() >= -1 and x.max() <= 1
        self.calls.append(x.shape[0])
        return self.proj(x.mean(dim=(3, 4)).flatten(1))


def test_feature_extractor_layouts_batches_and_info():
    torch.manual_seed(0)
    det = _DummyDetector()
    fx = FeatureExtractor(det, device="cpu", batch_size=2)
    clips = torch.randint(0, 256, (5, 9, 3, 32, 48), dtype=torch.uint8)  # [B, T, 3, H, W]
    feats = fx(clips)
    assert feats.shape == (5, 400) and feats.dtype == np.float64
    assert det.calls == [2, 2, 1]
    assert np.allclose(fx(clips.float() / 255), feats, atol=1e-5)
    assert np.allclose(fx(clips.permute(0, 1, 3, 4, 2).numpy(), layout="BTHWC"), feats, atol=1e-6)
    assert np.allclose(fx(clips.permute(0, 2, 1, 3, 4), layout="BCTHW"), feats, atol=1e-6)
    assert np.allclose(FeatureExtractor(det, device="cpu", batch_size=5)(clips), feats, atol=1e-6)
    assert fx.info.precision == "fp32" and fx.info.resize_method == "bilinear-tats"
    assert not fx.info.comparable_with_published
    n_calls = len(det.calls)
    with pytest.raises(ValueError, match=r"clip\[None\]"):
        fx(clips[0])
    with pytest.raises(ValueError, match="at least 9 frames"):
        fx(clips[:, :8])
    assert len(det.calls) == n_calls  # rejected before reaching the detector


@pytest.mark.e2e  # a trained model, shipped weights on videos or a whole network pass: the full suite runs it
def test_feature_extractor_with_random_i3d():
    fx = FeatureExtractor("i3d-random", device="cpu")
    assert fx.info.to_dict() == {"name": "i3d-random", "sha256": "i3d-random-v2", "bn_eps": 1e-3,
                                 "resize_method": "bilinear-tats", "precision": "fp32",
                                 "comparable_with_published": False, "weights_status": "random",
                                 "weights_label": "random weights (built-in i3d-random v2, seed 0): NOT comparable "
                                                  "with published numbers"}
    seen = []
    fx.model.register_forward_hook(lambda m, args, out: seen.append((args[0].clone(), out.clone())))
    clip = torch.randint(0, 256, (1, 9, 3, 64, 64), dtype=torch.uint8)
    feats = fx(clip)
    (x, out), = seen
    assert torch.allclose(x, to_i3d_input(clip.permute(0, 2, 1, 3, 4)), atol=1e-6)
    assert np.array_equal(feats, out.double().numpy())


def test_other_resize_methods():
    torch.manual_seed(0)
    x = torch.rand(1, 3, 2, 96, 128)
    tats = to_i3d_input(x, method="bilinear-tats")
    # upsampling: antialias changes nothing but rounding; downsampling: it filters
    assert torch.allclose(to_i3d_input(x, method="bilinear-antialias"), tats, atol=2e-5)
    big = torch.rand(1, 3, 1, 448, 448)
    assert (to_i3d_input(big, method="bilinear-antialias") - to_i3d_input(big)).abs().max() > 0.1
    # VideoGPT: shorter side to 224 (96x128 -> 224x299), then the centre 224 columns
    crop = to_i3d_input(x, method="videogpt-shortside-crop")
    frame = F.interpolate(x[:, :, 0], size=(224, 299), mode="bilinear", align_corners=False)
    assert torch.allclose(crop[:, :, 0], frame[..., 37:261] * 2 - 1, atol=1e-6)
    square = torch.rand(1, 3, 1, 64, 64)
    # scale 1: the same frames; VideoGPT scales (x - 0.5) * 2 after the crop, TATS 2 * x / 255 - 1 (float rounding)
    assert torch.allclose(to_i3d_input(square, method="videogpt-shortside-crop"), to_i3d_input(square), atol=1e-6)
    with pytest.raises(ValueError, match="bilinear-tats"):
        to_i3d_input(x, method="bicubic")


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_bf16_features_close_to_fp32():
    clips = torch.randint(0, 256, (2, 16, 3, 64, 64), dtype=torch.uint8)
    fp32 = FeatureExtractor("i3d-random", device="cpu")(clips)
    assert FeatureExtractor("i3d-random", device="cuda").info.precision == "fp32"  # fp32 unless asked
    fx = FeatureExtractor("i3d-random", device="cuda", precision="bf16")
    assert fx.info.precision == "bf16"
    bf16 = fx(clips)
    assert np.abs(bf16 - fp32).max() / np.abs(fp32).max() < 5e-2
    assert np.allclose(FeatureExtractor("i3d-random", device="cuda", precision="fp32")(clips), fp32,
                       rtol=1e-3, atol=1e-3 * np.abs(fp32).max())
