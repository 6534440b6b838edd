"""Tests of the LFDM stage-1 latent flow autoencoder (lfdm_bench.models.lfae): tiny CPU configs, deterministic."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lfdm_bench.config import ConfigError
from lfdm_bench.models.lfae import (LFAE, EquivarianceLoss, LFAEConfig, LFAELoss, LFAELossConfig,
                                    MultiScaleReconstructionLoss, RandomTPS, VGG19Perceptual, identity_flow, warp)
from lfdm_bench.models.lfae.region_predictor import heatmap_to_regions, sym_eig_2x2
from lfdm_bench.models.lfae.warp import affine_to_grid, inverse_2x2, matmul_2x2, resize_grid, warp_multi
from helpers import disc_video


pytestmark = pytest.mark.usefixtures("one_thread")


def make_model(seed: int = 0, **overrides) -> LFAE:
    torch.manual_seed(seed)
    return LFAE(LFAEConfig.tiny(**overrides))


# ------------------------------------------------------------------------------------------------ config


def test_presets_sizes():
    tiny, paper = LFAEConfig.tiny(), LFAEConfig.paper()
    assert (tiny.image_size, tiny.latent_size, tiny.latent_channels) == (32, 8, 32)
    assert (paper.image_size, paper.latent_size, paper.latent_channels) == (128, 32, 256)
    assert LFAEConfig.tiny(image_size=64).latent_size == 16


def test_config_errors_and_roundtrip():
    with pytest.raises(ValueError, match="gen_num_down_blocks"):
        LFAEConfig.tiny(gen_num_down_blocks=3)
    with pytest.raises(ValueError, match="region_num_blocks"):
        LFAEConfig.tiny(region_num_blocks=4)
    with pytest.raises(ValueError, match="norm"):
        LFAEConfig.tiny(norm="layer")
    with pytest.raises(ConfigError, match="unknown config key.*num_region"):
        LFAEConfig.from_dict({"num_region": 5})
    cfg = LFAEConfig.tiny(num_regions=4)
    assert LFAEConfig.from_dict(cfg.to_dict()) == cfg
    model = LFAE(cfg)
    rebuilt = LFAE(LFAEConfig.from_dict(model.config.to_dict()))
    rebuilt.load_state_dict(model.state_dict(), strict=True)


def test_input_contract_errors():
    model = make_model()
    with pytest.raises(ValueError, match=r"expected a float tensor \[B, 3, 32, 32\]"):
        model.encode(torch.rand(2, 3, 64, 64))
    with pytest.raises(ValueError, match="flow: expected"):
        model.decode(model.encode(torch.rand(1, 3, 32, 32)), torch.zeros(1, 4, 4, 2), torch.ones(1, 1, 4, 4))
    with pytest.raises(ValueError, match="generate_from_dm: expected"):
        model.generate_from_dm(torch.rand(1, 3, 32, 32), torch.zeros(1, 3, 8, 8))


# ------------------------------------------------------------------------------------------------ shapes


@pytest.mark.parametrize("size", [32, 64])
def test_shapes(size):
    model = make_model(image_size=size).eval()
    h = size // 4
    src, drv = torch.rand(2, 3, size, size), torch.rand(2, 3, size, size)
    with torch.no_grad():
        feats = model.encode(src)
        flow, occ = model.estimate_flow(src, drv)
        out = model(src, drv)
    assert feats.z.shape == (2, 32, h, h)
    assert [tuple(s.shape) for s in feats.skips] == [(2, 8, size, size), (2, 16, size // 2, size // 2)]
    assert flow.shape == (2, h, h, 2) and occ.shape == (2, 1, h, h)
    assert float(occ.min()) >= 0 and float(occ.max()) <= 1
    assert out["prediction"].shape == out["deformed"].shape == (2, 3, size, size)
    assert float(out["prediction"].min()) >= 0 and float(out["prediction"].max()) <= 1
    assert out["regions_driving"].heatmap.shape == (2, 10, h, h)
    assert out["regions_driving"].affine.shape == (2, 10, 2, 2)
    assert out["bg_theta"].shape == (2, 2, 3) and out["motion_mask"].shape == (2, 11, h, h)
    assert model.dm_target_from_video(torch.rand(2, 3, 3, size, size)).shape == (2, 3, 3, h, h)


# ------------------------------------------------------------------------------------------------ warp


def test_identity_warp_is_exact():
    torch.manual_seed(0)
    x = torch.rand(2, 5, 9, 13)
    assert torch.allclose(warp(x, identity_flow(2, 9, 13)), x, atol=1e-6)
    # resizing keeps an identity (affine) grid identity, borders included
    assert torch.allclose(resize_grid(identity_flow(2, 4, 4), (16, 16)), identity_flow(2, 16, 16), atol=1e-6)
    theta = torch.eye(2, 3).expand(2, 2, 3)
    assert torch.allclose(affine_to_grid(theta, 9, 13), identity_flow(2, 9, 13), atol=1e-7)


def test_warp_multi_and_shift():
    torch.manual_seed(0)
    x = torch.rand(2, 3, 8, 8)
    grids = torch.rand(2, 4, 5, 6, 2) * 2 - 1
    multi = warp_multi(x, grids)  # [B, C, K, h, w]
    for k in range(4):
        assert torch.allclose(multi[:, :, k], warp(x, grids[:, k]), atol=1e-6)
    # sampling one pixel to the right (x + 2/(W-1)) shifts the image left
    shifted = identity_flow(2, 8, 8).clone()
    shifted[..., 0] += 2 / 7
    assert torch.allclose(warp(x, shifted)[..., :-1], x[..., 1:], atol=1e-6)


def test_closed_form_eig_and_region_affine():
    torch.manual_seed(0)
    m = torch.randn(64, 2, 2)
    cov = m @ m.transpose(-1, -2) + 0.01 * torch.eye(2)  # random SPD
    l1, l2, cos, sin = sym_eig_2x2(cov[:, 0, 0], cov[:, 0, 1], cov[:, 1, 1])
    ref = torch.linalg.eigvalsh(cov)  # ascending
    assert torch.allclose(torch.stack([l2, l1], -1), ref, atol=1e-4)
    assert bool((cos >= 0).all()) and torch.allclose(cos ** 2 + sin ** 2, torch.ones(64), atol=1e-6)
    heat = torch.softmax(torch.randn(3, 4, 8, 8) * 3, dim=-1)
    heat = heat / heat.sum(dim=(2, 3), keepdim=True)
    regions = heatmap_to_regions(heat)
    a = regions.affine
    assert torch.allclose(a @ a.transpose(-1, -2), regions.covar, atol=1e-5)
    assert torch.allclose(matmul_2x2(a, inverse_2x2(a)), torch.eye(2).expand_as(a), atol=1e-4)


# ------------------------------------------------------------------------------------------------ flow


@pytest.mark.parametrize("train", [False, True])
def test_same_frames_give_identity_flow(train):
    model = make_model().train(train)
    x = torch.rand(3, 3, 32, 32)
    with torch.no_grad():
        flow, _ = model.estimate_flow(x, x)
    assert (flow - identity_flow(3, 8, 8)).abs().max() < 1e-5


def test_estimate_flow_batched_equals_looped():
    model = make_model().eval()
    torch.manual_seed(1)
    video = torch.rand(2, 3, 4, 32, 32)  # [B, C, T, H, W]
    b, _, t = video.shape[:3]
    with torch.no_grad():
        frames = video.permute(0, 2, 1, 3, 4).reshape(b * t, 3, 32, 32)  # b-major [B*T, C, H, W]
        sources = video[:, :, 0].repeat_interleave(t, dim=0)
        flow, occ = model.estimate_flow(sources, frames)
        target = model.dm_target_from_video(video)  # [B, 3, T, h, w]
        for i in range(b):
            for j in range(t):
                f1, o1 = model.estimate_flow(video[i:i + 1, :, 0], video[i:i + 1, :, j])
                assert torch.allclose(flow[i * t + j], f1[0], atol=1e-5)
                assert torch.allclose(occ[i * t + j], o1[0], atol=1e-5)
                assert torch.allclose(target[i, :, j], model.flow_to_dm_target(f1, o1)[0], atol=1e-5)


def test_geometry_stays_fp32_under_autocast():
    model = make_model()
    x, y = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x, y)
    assert out["flow"].dtype == out["occlusion"].dtype == torch.float32
    assert out["regions_driving"].affine.dtype == out["bg_theta"].dtype == torch.float32


# ------------------------------------------------------------------------------------------------ decoder


def test_occlusion_semantics():
    model = make_model().eval()
    torch.manual_seed(2)
    src = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        feats = model.encode(src)
        flow = (identity_flow(2, 8, 8) + 0.1 * torch.randn(2, 8, 8, 2)).clamp(-1, 1)
        # occlusion 0: nothing of the source survives, the output does not depend on z, skips or image
        zero = torch.zeros(2, 1, 8, 8)
        other = model.encode(torch.rand(2, 3, 32, 32))
        out_a, out_b = model.decode(feats, flow, zero), model.decode(other, flow, zero)
        assert torch.equal(out_a, out_b)
        # occlusion 1: the warped source is kept (the last blend is the warped source image)
        one = torch.ones(2, 1, 8, 8)
        kept = model.decode(feats, flow, one)
        assert torch.allclose(kept, warp(src, resize_grid(flow, (32, 32))), atol=1e-5)
        assert torch.allclose(model.decode(feats, identity_flow(2, 8, 8), one), src, atol=1e-5)
        # with partial occlusion the output depends on z
        half = torch.full((2, 1, 8, 8), 0.5)
        assert not torch.allclose(model.decode(feats, flow, half), model.decode(other, flow, half))


def test_dm_target_roundtrip():
    torch.manual_seed(3)
    flow = torch.rand(4, 8, 8, 2) * 2 - 1
    occ = torch.rand(4, 1, 8, 8)
    x = LFAE.flow_to_dm_target(flow, occ)
    assert x.shape == (4, 3, 8, 8) and float(x.abs().max()) <= 1
    assert torch.equal(x[:, :2], flow.permute(0, 3, 1, 2))
    flow2, occ2 = LFAE.dm_target_to_flow(x)
    assert torch.equal(flow2, flow) and torch.allclose(occ2, occ, atol=1e-7)
    assert torch.allclose(LFAE.flow_to_dm_target(flow2, occ2), x, atol=1e-7)


def test_generate_from_dm_identity_gives_constant_reconstruction():
    model = make_model().eval()
    torch.manual_seed(4)
    src, t = torch.rand(2, 3, 32, 32), 5
    ident = LFAE.flow_to_dm_target(identity_flow(2 * t, 8, 8), torch.ones(2 * t, 1, 8, 8))  # [B*T, 3, h, w]
    x = ident.view(2, t, 3, 8, 8).permute(0, 2, 1, 3, 4)  # [B, 3, T, h, w]
    with torch.no_grad():
        video = model.generate_from_dm(src, x)
        recon = model.decode(model.encode(src), identity_flow(2, 8, 8), torch.ones(2, 1, 8, 8))
    assert video.shape == (2, 3, t, 32, 32)
    for j in range(t):
        assert torch.allclose(video[:, :, j], recon, atol=1e-6)
    assert torch.allclose(recon, src, atol=1e-5)


def test_generate_from_dm_equals_per_frame_decode():
    model = make_model().eval()
    torch.manual_seed(5)
    src, t = torch.rand(2, 3, 32, 32), 3
    x = torch.rand(2, 3, t, 8, 8) * 2 - 1
    with torch.no_grad():
        video = model.generate_from_dm(src, x)
        feats = model.encode(src)
        for j in range(t):
            flow, occ = model.dm_target_to_flow(x[:, :, j])
            assert torch.allclose(video[:, :, j], model.decode(feats, flow, occ), atol=1e-5)
        assert torch.allclose(model.generate_from_dm(feats, x), video)


# ------------------------------------------------------------------------------------------------ losses


def test_reconstruction_loss():
    loss = MultiScaleReconstructionLoss()
    a, b = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    assert loss(a, a).item() == 0.0
    assert loss(a, b).item() > 0.1
    # a constant offset is seen at every scale (up to the zero-padded borders of the blur)
    assert loss(a, a + 0.1).item() == pytest.approx(0.1, rel=0.35)


def test_tps_jacobian_matches_autograd():
    torch.manual_seed(6)
    tf = RandomTPS(2, sigma_affine=0.1, sigma_tps=0.05, points=5, dtype=torch.float64)
    p = (torch.rand(2, 7, 2, dtype=torch.float64) * 2 - 1).requires_grad_(True)
    q = tf.warp_coordinates(p)
    rows = [torch.autograd.grad(q[..., i].sum(), p, retain_graph=True)[0] for i in range(2)]
    auto = torch.stack(rows, dim=-2)  # [B, N, 2, 2]
    assert torch.allclose(tf.jacobian(p.detach()), auto, atol=1e-8)


def test_equivariance_zero_for_identity_transform():
    model = make_model().eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        regions = model.region_predictor(x)
        eq = EquivarianceLoss(sigma_affine=0.0, sigma_tps=0.0)(model.region_predictor, x, regions)
        eq_rand = EquivarianceLoss()(model.region_predictor, x, regions)
    assert eq["shift"].item() < 1e-5 and eq["affine"].item() < 1e-4
    assert eq_rand["shift"].item() > 1e-4


def test_vgg19_perceptual_local_weights(tmp_path):
    missing = tmp_path / "nope.pth"
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        VGG19Perceptual(missing)
    with pytest.raises(ValueError, match="vgg_weights_path"):
        LFAELossConfig(perceptual_weight=1.0)
    # a torchvision-layout state dict (features.N.* up to relu5_1, plus classifier keys that are ignored)
    torch.manual_seed(7)
    shapes = [(64, 3), (64, 64), (128, 64), (128, 128), (256, 128), (256, 256), (256, 256), (256, 256),
              (512, 256), (512, 512), (512, 512), (512, 512), (512, 512)]
    idx = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28]
    state = {}
    for i, (o, c) in zip(idx, shapes):
        state[f"features.{i}.weight"] = torch.randn(o, c, 3, 3) * (2 / (9 * c)) ** 0.5
        state[f"features.{i}.bias"] = torch.zeros(o)
    state["classifier.0.weight"] = torch.zeros(2, 2)
    path = tmp_path / "vgg19.pth"
    torch.save(state, path)
    loss = VGG19Perceptual(path, scales=(1.0, 0.5))
    assert not any(p.requires_grad for p in loss.parameters())
    loss.train()
    assert not loss.vgg.training
    a, b = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    assert loss(a, a).item() == 0.0 and loss(a, b).item() > 0
    torch.save({"features.0.weight": torch.zeros(1)}, path)
    with pytest.raises(ValueError, match="not a torchvision vgg19 state dict"):
        VGG19Perceptual(path)


def test_lfae_loss_backward_reaches_all_parts():
    model = make_model().train()
    src, drv = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    total, terms, out = LFAELoss()(model, src, drv, rng=torch.Generator().manual_seed(0))
    assert set(terms) == {"reconstruction", "equivariance_shift", "equivariance_affine"}
    total.backward()
    for name in ("region_predictor", "bg_predictor", "flow_predictor", "generator"):
        grads = [p.grad for p in getattr(model, name).parameters()]
        assert all(g is not None and torch.isfinite(g).all() for g in grads), name
        assert sum(float(g.abs().sum()) for g in grads) > 0, name


# ------------------------------------------------------------------------------------------------ overfit


def _overfit(steps: int, frames: int, lr: float = 2e-3) -> tuple[float, float]:
    """Overfit the tiny LFAE on (frame 0 -> frame t) pairs of one moving-disc clip; returns (first, last) loss."""
    torch.manual_seed(0)
    video = disc_video(frames)  # [3, T, 32, 32]
    driving = video.permute(1, 0, 2, 3).contiguous()  # [T, 3, H, W]
    source = video[:, 0][None].expand_as(driving).contiguous()
    model = LFAE(LFAEConfig.tiny())
    loss_fn = LFAELoss(LFAELossConfig(equivariance_shift_weight=0.1, equivariance_affine_weight=0.1))
    opt = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.5, 0.999))
    losses = []
    for _ in range(steps):
        total, terms, _ = loss_fn(model, source, driving)
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
        losses.append(terms["reconstruction"].item())
    return losses[0], min(losses[-3:])


@pytest.mark.e2e  # a trained model, shipped weights on videos or a whole network pass: the full suite runs it
def test_overfit_fast_halves_loss():
    first, last = _overfit(steps=12, frames=4)
    assert last < 0.5 * first, (first, last)


@pytest.mark.slow
def test_overfit_order_of_magnitude():
    first, last = _overfit(steps=200, frames=8)
    assert last < 0.1 * first, (first, last)


# ------------------------------------------------------------------------------------------- refinement


def _disc_pair():
    video = disc_video(8)  # [3, T, 32, 32]
    return video[:, 0][None], video[:, 1][None]  # source, driving [1, 3, 32, 32]: the disc moves ~2 px


@pytest.mark.parametrize("render", ["warp", "decode"])
def test_refine_flow_lowers_the_reconstruction_error_without_touching_the_model(render):
    model = make_model(refine_render=render).eval()
    source, driving = _disc_pair()
    with torch.no_grad():
        feats = model.encode(source)
    flow, occ = identity_flow(1, 8, 8).clone(), torch.ones(1, 1, 8, 8)  # start from "no motion"

    def error(f):
        out = warp(source, resize_grid(f, (32, 32))) if render == "warp" else model.generator.decode(feats, f, occ)
        return float((out - driving).abs().mean())

    with torch.no_grad():  # the refinement differentiates the flow even under no_grad
        refined = model.refine_flow(feats, flow, occ, driving, steps=30, lr=0.02)
    assert error(refined) < 0.8 * error(flow)
    assert all(p.grad is None for p in model.parameters())
    assert torch.equal(model.refine_flow(feats, flow, occ, driving, steps=0), flow)


def test_refinement_is_per_frame_and_used_by_the_stage2_targets():
    model = make_model(refine_steps=10).eval()  # refine_render="warp"
    video = disc_video(4)[None]  # [1, 3, T, 32, 32]
    two = torch.cat([video, video.flip(-1)])  # a second, different clip in the batch
    with torch.no_grad():
        alone = model.dm_target_from_video(video)
        batched = model.dm_target_from_video(two)
        plain = make_model(refine_steps=0).eval().dm_target_from_video(video)

    def rendered(target):  # the source warped by each frame's flow: [T, 3, 32, 32]
        flow = target[0, :2].permute(1, 2, 3, 0)  # [T, h, w, 2]
        return warp(video[:, :, 0].expand(flow.shape[0], -1, -1, -1), resize_grid(flow, (32, 32)))

    real = video[0].transpose(0, 1)  # [T, 3, 32, 32]
    err = lambda target: float((rendered(target)[1:] - real[1:]).abs().mean())  # noqa: E731
    assert err(alone) < 0.8 * err(plain)  # the refinement moved the flows towards the real frames
    # the rest of the batch does not matter, and frame 0 (source = driving) keeps the identity
    torch.testing.assert_close(batched[:1, :, 1:], alone[:, :, 1:], atol=1e-5, rtol=0)
    assert (alone[:, :, 0] - plain[:, :, 0]).abs().max() < 1e-2
    assert float((rendered(alone)[0] - real[0]).abs().mean()) < 1e-3  # (a few hundredths of a pixel at edges)
    with pytest.raises(ValueError, match="refine_render"):
        LFAEConfig.tiny(refine_render="pixels")


# ------------------------------------------------------------------------------------ occlusion (issue 21)


def _patch_pairs(n: int = 8, seed: int = 0):
    """Smooth random sources; the driving frame of every other pair shows a dark red 8x8 patch (content that no
    warp of the source can produce) at a fixed place: latent cells (row 4-5, column 2-3) at 8x8."""
    g = torch.Generator().manual_seed(seed)
    base = torch.nn.functional.interpolate(torch.rand(n, 3, 4, 4, generator=g), size=(32, 32), mode="bilinear",
                                           align_corners=False) * 0.5 + 0.25  # [n, 3, 32, 32]
    driving = base.clone()
    driving[::2, :, 16:24, 8:16] = torch.tensor([0.5, 0.05, 0.05]).view(1, 3, 1, 1)
    return base, driving


def test_occlusion_falls_where_the_driving_frame_shows_new_content():
    """With the occlusion supervision and a predictor that sees the driving frame, the trained occlusion map drops
    on the latent cells of a patch the source does not contain, and stays high elsewhere and on patch-free pairs."""
    torch.manual_seed(0)
    model = LFAE(LFAEConfig.tiny(occlusion_sees_driving=True, bg_motion=False)).train()
    loss_fn = LFAELoss(LFAELossConfig(decoder_weight=1.0, occlusion_weight=1.0))
    source, driving = _patch_pairs()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3, betas=(0.5, 0.999))
    for _ in range(60):
        total, terms, _ = loss_fn(model, source, driving, rng=torch.Generator().manual_seed(0))
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
    assert "occlusion" in terms and "decoder" in terms
    model.eval()
    with torch.no_grad():
        occ = model(source, driving)["occlusion"][:, 0]  # [n, 8, 8]
    patch = occ[::2, 4:6, 2:4].mean()
    elsewhere = torch.cat([occ[::2, :3].flatten(), occ[::2, 7:].flatten()]).mean()
    clean = occ[1::2, 4:6, 2:4].mean()
    assert patch < 0.5 < 0.8 < min(elsewhere, clean), (float(patch), float(elsewhere), float(clean))


def test_occlusion_loss_options_are_checked():
    for bad in ({"decoder_weight": -1.0}, {"occlusion_weight": float("nan")}, {"occlusion_margin": -0.1},
                {"occlusion_tau": 0.0}):
        with pytest.raises(ValueError, match=f"LFAELossConfig: {next(iter(bad))}"):
            LFAELossConfig(**bad)


def test_occlusion_options_change_nothing_when_off():
    """The paper's LFAE is what the defaults build: no driving input to the occlusion, no extra loss terms."""
    model = make_model().train()
    assert model.flow_predictor.sees_driving is False
    src, drv = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    _, terms, out = LFAELoss()(model, src, drv, rng=torch.Generator().manual_seed(0))
    assert set(terms) == {"reconstruction", "equivariance_shift", "equivariance_affine"}
    assert out["decoded"].shape == out["prediction"].shape == (2, 3, 32, 32)


@pytest.mark.parametrize("scale", [0.5, 0.25, 0.125])
@pytest.mark.parametrize("size", [(32, 32), (24, 40), (33, 17)])
def test_banded_matmul_downsample_equals_the_strided_convolution(scale, size):
    """The refinement's fast pyramid (``impl="matmul"``) computes the training pyramid's sums: forward and gradient
    equal in float64, and against an independent computation (full blur by scipy, then every (1/scale)-th pixel)."""
    from scipy.ndimage import correlate1d

    from lfdm_bench.models.lfae.blocks import AntiAliasDownsample, gaussian_kernel_1d

    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, *size, generator=g, dtype=torch.float64, requires_grad=True)
    conv, mm = AntiAliasDownsample(3, scale).double(), AntiAliasDownsample(3, scale, impl="matmul").double()
    a, b = conv(x), mm(x)
    assert a.shape == b.shape
    torch.testing.assert_close(b, a, rtol=0, atol=1e-12)
    w = torch.rand(a.shape, generator=g, dtype=torch.float64)
    (ga,) = torch.autograd.grad((a * w).sum(), x)
    (gb,) = torch.autograd.grad((b * w).sum(), x)
    torch.testing.assert_close(gb, ga, rtol=0, atol=1e-12)
    step, k = round(1 / scale), conv.kernel[0, 0].double().numpy()  # the float32 kernel both use
    assert np.allclose(k, gaussian_kernel_1d((1 / scale - 1) / 2, torch.float64).numpy(), atol=1e-7)
    ref = correlate1d(correlate1d(x.detach().numpy(), k, axis=2, mode="constant"), k, axis=3, mode="constant")
    np.testing.assert_allclose(b.detach().numpy(), ref[:, :, ::step, ::step], rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="impl"):
        AntiAliasDownsample(3, scale, impl="fft")
