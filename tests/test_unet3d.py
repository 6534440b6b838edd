"""UNet3D: shapes, conditioning paths, frame mixing only through temporal attention, memory formats, FLOPs."""

from __future__ import annotations

import pytest
import torch

from lfdm_bench.models.unet3d import RelativePositionBias, UNet3D, UNet3DConfig, apply_rotary, rotary_angles


pytestmark = pytest.mark.usefixtures("one_thread_per_module")


def tiny_cfg(**kw) -> UNet3DConfig:
    base = dict(in_channels=3, out_channels=3, cond_channels=4, out_heads=(2, 1), dim=16, dim_mults=(1, 2),
                groups=4, attn_heads=2, attn_dim_head=8, text_dim=6, init_kernel_size=3)
    base.update(kw)
    return UNet3DConfig(**base)


def make(cfg: UNet3DConfig, seed: int = 0) -> UNet3D:
    torch.manual_seed(seed)
    return UNet3D(cfg).eval()


@pytest.mark.parametrize("frames", [1, 8])
@pytest.mark.parametrize("size", [8, 16])
@pytest.mark.parametrize("cond_5d", [False, True])
@pytest.mark.parametrize("with_text", [False, True])
def test_output_shapes(frames, size, cond_5d, with_text):
    model = make(tiny_cfg())
    B = 2
    x = torch.randn(B, 3, frames, size, size)
    cond = torch.randn(B, 4, frames, size, size) if cond_5d else torch.randn(B, 4, size, size)
    text = torch.randn(B, 6) if with_text else None
    with torch.no_grad():
        out = model(x, torch.tensor([3, 700]), cond_image=cond, text_emb=text)
    assert out.shape == (B, 3, frames, size, size)
    assert torch.isfinite(out).all()


def test_single_head_unconditional_and_channel_counts():
    cfg = tiny_cfg(in_channels=4, out_channels=5, out_heads=(), cond_channels=0, text_dim=0, dim_mults=(1, 2, 4))
    model = make(cfg)
    with torch.no_grad():
        out = model(torch.randn(1, 4, 2, 8, 8), torch.tensor(10.5))  # scalar float timestep
    assert out.shape == (1, 5, 2, 8, 8)


def test_cond_4d_equals_cond_repeated_over_time():
    model = make(tiny_cfg())
    x, cond, text = torch.randn(2, 3, 4, 8, 8), torch.randn(2, 4, 8, 8), torch.randn(2, 6)
    t = torch.tensor([5, 900])
    with torch.no_grad():
        a = model(x, t, cond_image=cond, text_emb=text)
        b = model(x, t, cond_image=cond[:, :, None].repeat(1, 1, 4, 1, 1), text_emb=text)
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_split_init_conv_equals_conv_of_concatenation():
    model = make(tiny_cfg())
    x, cond = torch.randn(2, 3, 4, 8, 8), torch.randn(2, 4, 4, 8, 8)
    w = torch.cat([model.init_conv.weight, model.init_cond_conv.weight], dim=1)  # [dim, 3 + 4, 1, k, k]
    ref = torch.nn.functional.conv3d(torch.cat([x, cond], 1), w, model.init_conv.bias, padding=(0, 1, 1))
    got = model.init_conv(x) + model.init_cond_conv(cond)
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)


def test_input_errors_are_explicit():
    model = make(tiny_cfg())
    x = torch.randn(1, 3, 2, 8, 8)
    with pytest.raises(ValueError, match="cond_image .* is required"):
        model(x, torch.tensor([1]))
    with pytest.raises(ValueError, match="divisible by 2"):
        model(torch.randn(1, 3, 2, 7, 7), torch.tensor([1]), cond_image=torch.randn(1, 4, 7, 7))
    with pytest.raises(ValueError, match=r"x must be \[B, 3"):
        model(torch.randn(1, 2, 2, 8, 8), torch.tensor([1]), cond_image=torch.randn(1, 4, 8, 8))
    with pytest.raises(ValueError, match="text_emb must be"):
        model(x, torch.tensor([1]), cond_image=torch.randn(1, 4, 8, 8), text_emb=torch.randn(1, 5))
    with pytest.raises(ValueError, match="out_heads"):
        tiny_cfg(out_heads=(2, 2))
    uncond = make(tiny_cfg(cond_channels=0, text_dim=0))
    with pytest.raises(ValueError, match="unconditional"):
        uncond(x, torch.tensor([1]), text_emb=torch.randn(1, 6))


def test_null_condition_paths():
    model = make(tiny_cfg())  # zero null embedding
    x, cond, text = torch.randn(3, 3, 2, 8, 8), torch.randn(3, 4, 8, 8), torch.randn(3, 6)
    t = torch.tensor([1, 2, 3])
    with torch.no_grad():
        none = model(x, t, cond_image=cond, text_emb=None)
        all_masked = model(x, t, cond_image=cond, text_emb=text, null_text_mask=torch.ones(3, dtype=torch.bool))
        zeros = model(x, t, cond_image=cond, text_emb=torch.zeros(3, 6))
        cond_out = model(x, t, cond_image=cond, text_emb=text)
        mixed = model(x, t, cond_image=cond, text_emb=text, null_text_mask=torch.tensor([True, False, True]))
    torch.testing.assert_close(none, all_masked)
    torch.testing.assert_close(none, zeros)
    torch.testing.assert_close(mixed[[0, 2]], none[[0, 2]], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(mixed[1], cond_out[1], rtol=1e-5, atol=1e-5)
    assert not torch.allclose(none, cond_out)


def test_learned_null_condition_gets_gradient_only_when_used():
    model = make(tiny_cfg(learned_null_text=True)).train()
    x, cond, text = torch.randn(2, 3, 2, 8, 8), torch.randn(2, 4, 8, 8), torch.randn(2, 6)
    model(x, torch.tensor([1, 2]), cond_image=cond, text_emb=text).sum().backward()
    assert model.null_text.grad is None or model.null_text.grad.abs().sum() == 0
    model.zero_grad()
    mask = torch.tensor([True, False])
    model(x, torch.tensor([1, 2]), cond_image=cond, text_emb=text, null_text_mask=mask).sum().backward()
    assert model.null_text.grad.abs().sum() > 0


def _cross_frame_grad(model: UNet3D) -> float:
    """|d out[:, :, 0] / d x[:, :, 5]| summed."""
    x = torch.randn(1, 3, 8, 8, 8, requires_grad=True)
    out = model(x, torch.tensor([100]), cond_image=torch.randn(1, 4, 8, 8), text_emb=torch.randn(1, 6))
    out[:, :, 0].sum().backward()
    return x.grad[:, :, 5].abs().sum().item()


def test_frames_mix_only_through_temporal_attention():
    per_frame_norm = dict(norm_across_frames=False)
    assert _cross_frame_grad(make(tiny_cfg(use_temporal_attn=False, **per_frame_norm))) == 0.0
    assert _cross_frame_grad(make(tiny_cfg(use_temporal_attn=True, **per_frame_norm))) > 1e-6
    # the official model's GroupNorm pools statistics over frames: a second (weak) path between frames
    assert _cross_frame_grad(make(tiny_cfg(use_temporal_attn=False, norm_across_frames=True))) > 0.0


def test_relative_position_bias_buckets():
    rpb = RelativePositionBias(heads=2, num_buckets=32, max_distance=32)
    rel = torch.arange(-40, 41)
    b = rpb.bucket(rel)
    assert b.min() >= 0 and b.max() < 32
    assert (b[rel == 0] == 0).all()
    assert len(set(b[(rel > 0) & (rel < 8)].tolist())) == 7  # exact buckets for small distances
    assert set(b[rel > 0].tolist()).isdisjoint(set(b[rel < 0].tolist()))  # direction-aware
    assert rpb(5, torch.device("cpu")).shape == (2, 5, 5)


def test_rotary_is_relative_and_paths_agree():
    ang = rotary_angles(6, 8, 6, torch.device("cpu"))  # 3 of the 4 pairs rotate, the last stays fixed
    assert ang.shape == (6, 4) and (ang[:, 3] == 0).all()
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(1, 8, generator=g).expand(6, 8), torch.randn(1, 8, generator=g).expand(6, 8)
    rq, rk = apply_rotary(q, ang), apply_rotary(k, ang)
    dots = rq @ rk.T  # [6, 6]: depends only on j - i, since every position holds the same q and k
    torch.testing.assert_close(torch.diagonal(dots, 1), torch.full((5,), dots[0, 1].item()), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(rq.norm(dim=-1), q.norm(dim=-1))
    real = apply_rotary(q.to(torch.bfloat16), ang).float()  # the non-complex path used under autocast
    torch.testing.assert_close(real, rq, rtol=2e-2, atol=2e-2)


def test_channels_last_3d_matches_contiguous():
    model = make(tiny_cfg())
    x, cond, text = torch.randn(2, 3, 4, 8, 8), torch.randn(2, 4, 8, 8), torch.randn(2, 6)
    t = torch.tensor([10, 20])
    with torch.no_grad():
        ref = model(x, t, cond_image=cond, text_emb=text)
        model_cl = model.to(memory_format=torch.channels_last_3d)
        out = model_cl(x.contiguous(memory_format=torch.channels_last_3d), t, cond_image=cond, text_emb=text)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)


def test_bf16_autocast_forward_backward():
    model = make(tiny_cfg()).train()
    x = torch.randn(2, 3, 4, 8, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x, torch.tensor([1, 2]), cond_image=torch.randn(2, 4, 8, 8), text_emb=torch.randn(2, 6))
    out.float().pow(2).mean().backward()
    assert out.shape == x.shape and torch.isfinite(out.float()).all()


def test_parameter_count_and_flops():
    model = make(tiny_cfg())
    assert model.num_parameters() == sum(p.numel() for p in model.parameters())
    fwd = model.flops_per_forward((2, 3, 4, 8, 8))
    train = model.flops_per_forward((2, 3, 4, 8, 8), backward=True)
    assert fwd > 0 and 2.0 * fwd < train < 3.5 * fwd
    assert model.flops_per_forward((4, 3, 4, 8, 8)) == 2 * fwd  # linear in batch


def test_lfdm_paper_config_size():
    with torch.device("meta"):
        model = UNet3D(UNet3DConfig.lfdm_paper())
    assert 42.0e6 < model.num_parameters() < 43.5e6  # official: 42.7M
