"""The GPU code paths on a CUDA device (skipped without one; ``pytest -m cuda`` runs them, as
scripts/device_check.py does): a sampling loop that never waits for the GPU, bf16 autocast against fp32 with the
LFAE's geometry in fp32, fused attention, channels_last_3d, and LFDM generation on CUDA against the CPU."""

from __future__ import annotations

import pytest
import torch

from lfdm_bench.models.lfae.lfae import LFAE, LFAEConfig
from lfdm_bench.models.unet3d import Attention
from lfdm_bench.training.engine import to_channels_last
from helpers import einsum_attention, tiny_dm

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]

CUDA = torch.device("cuda")


def test_sampling_loop_never_waits_for_the_gpu():
    """CUDA's sync debug mode turns any synchronising call (a read back to the host, a blocking copy) inside the
    loop into an error: guidance 1.5, eta 1 (per-step noise from a CUDA generator), dynamic thresholding, bf16."""
    dm = tiny_dm().to(CUDA).eval()
    assert dm.diffusion.cfg.dynamic_threshold is not None
    cond, cls = torch.randn(2, 2, 8, 8, device=CUDA), torch.tensor([0, 2], device=CUDA)
    seen = []

    def model_fn(x, t, **kw):
        if not seen:
            torch.cuda.synchronize()
            torch.cuda.set_sync_debug_mode("error")  # from the first network call on: inside the loop
        seen.append(1)
        with torch.autocast("cuda", torch.bfloat16):
            return dm.unet(x, t, **kw).float()

    try:
        out = dm.diffusion.sample(model_fn, (2, 3, 3, 8, 8), cond_image=cond, text_emb=dm.text(cls),
                                  guidance_scale=1.5, steps=4, eta=1.0,
                                  generator=torch.Generator(device=CUDA).manual_seed(0),
                                  noise=torch.randn(2, 3, 3, 8, 8, device=CUDA))
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert len(seen) == 4 and out.nfe == 8 and torch.isfinite(out.sample).all()


@pytest.mark.parametrize("over", ["time", "space"])
def test_fused_attention_on_cuda_equals_einsum_reference(over):
    torch.manual_seed(0)
    att = Attention(16, heads=2, dim_head=8, over=over, rotary_dim=8 if over == "time" else 0).to(CUDA).eval()
    x = torch.randn(2, 16, 5, 4, 3, device=CUDA)
    bias = torch.randn(2, 5, 5, device=CUDA) if over == "time" else None
    with torch.no_grad():
        ref = einsum_attention(att, x, bias)
        assert (att(x, bias) - ref).abs().max() < 1e-4
        with torch.autocast("cuda", torch.bfloat16):
            bf16 = att(x, bias).float()
    assert (bf16 - ref).abs().max() < 5e-2 * ref.abs().max()


def test_bf16_and_channels_last_training_losses_on_cuda():
    """The DM loss and gradients in fp32, bf16 autocast and channels_last_3d at the same random draws."""
    x0, cond, cls = torch.randn(2, 3, 4, 8, 8), torch.randn(2, 2, 8, 8), torch.tensor([0, 1])

    def loss_and_grad(bf16: bool, channels_last: bool):
        dm = tiny_dm(seed=3).to(CUDA)
        if channels_last:
            to_channels_last(dm)
        torch.manual_seed(5)
        with torch.autocast("cuda", torch.bfloat16, enabled=bf16):
            loss = dm(x0.to(CUDA), cond.to(CUDA), cls.to(CUDA))
        loss.backward()
        return loss.item(), dm.unet.init_conv.weight.grad.float().cpu()

    ref_loss, ref_grad = loss_and_grad(False, False)
    cl_loss, cl_grad = loss_and_grad(False, True)
    bf_loss, bf_grad = loss_and_grad(True, True)
    assert abs(cl_loss - ref_loss) < 1e-4 * ref_loss
    torch.testing.assert_close(cl_grad, ref_grad, rtol=1e-3, atol=1e-4 * ref_grad.abs().max().item())
    assert abs(bf_loss - ref_loss) < 5e-2 * ref_loss
    assert (bf_grad - ref_grad).norm() < 0.1 * ref_grad.norm()


def test_lfae_targets_on_cuda_bf16_match_cpu_fp32_with_fp32_geometry():
    torch.manual_seed(0)
    lfae = LFAE(LFAEConfig.tiny()).eval()
    video = torch.rand(2, 3, 4, 32, 32)
    with torch.no_grad():
        ref = lfae.dm_target_from_video(video)
        lfae.to(CUDA)
        with torch.autocast("cuda", torch.bfloat16):
            out = lfae.dm_target_from_video(video.to(CUDA))
            dense = lfae.motion(video[:, :, 0].to(CUDA), video[:, :, 1].to(CUDA))[0]
    assert out.dtype == dense.flow.dtype == dense.occlusion.dtype == torch.float32
    assert (out.cpu() - ref).abs().max() < 5e-2


def test_lfdm_generation_on_cuda_matches_cpu():
    """The sampling generator of ``lfdm-bench sample`` (eta 0: deterministic) on CUDA in fp32 and bf16 against the
    CPU in fp32: the same per-video noise, so the same videos up to float error (mean absolute difference)."""
    from types import SimpleNamespace

    from lfdm_bench.lfdm.sample import lfdm_generator
    from lfdm_bench.models.flow_target import FlowTargetCodec, FlowTargetConfig
    from lfdm_bench.models.video_diffusion import VideoDiffusion, VideoDiffusionConfig
    from lfdm_bench.models.unet3d import UNet3DConfig
    from lfdm_bench.diffusion.schedule import DiffusionConfig
    from lfdm_bench.text import ClassEmbeddingTable

    torch.manual_seed(0)
    lfae = LFAE(LFAEConfig.tiny()).eval()
    unet = UNet3DConfig(in_channels=3, out_channels=3, cond_channels=lfae.config.latent_channels, out_heads=(2, 1),
                        dim=8, dim_mults=(1, 2), groups=4, attn_heads=2, attn_dim_head=4, text_dim=4)
    dm = VideoDiffusion(VideoDiffusionConfig(unet=unet, diffusion=DiffusionConfig(num_timesteps=100),
                                             class_texts=("a", "b")), ClassEmbeddingTable(torch.randn(2, 4), ["a", "b"]))
    dm.eval()
    from helpers import disc_video

    disc = disc_video(frames=2)[:, 0]  # a smooth image: warping errors stay in proportion to flow errors
    images = torch.stack([disc, disc.flip(-1)])  # [2, 3, 32, 32]
    sources = [SimpleNamespace(class_index=i, seed=10 + i) for i in range(2)]
    codec = FlowTargetCodec(FlowTargetConfig())

    def videos(device, precision):
        gen = lfdm_generator(lfae.to(device), dm.to(device), 4, codec=codec, steps=4, eta=0.0, guidance=1.5,
                             precision=precision)
        with torch.no_grad():
            return gen(images, sources).cpu()

    ref = videos("cpu", "fp32")
    assert (videos(CUDA, "fp32") - ref).abs().mean() < 2e-3  # cuDNN may use TF32 in "fp32" convolutions
    assert (videos(CUDA, "bf16") - ref).abs().mean() < 2e-2  # on the CPU, bf16 autocast: 3e-3
