"""The diffused flow representation: exact round trips; displacement is zero for the identity flow."""

import pytest
import torch

from lfdm_bench.models.flow_target import FlowTargetCodec, FlowTargetConfig
from lfdm_bench.models.lfae.lfae import LFAE
from lfdm_bench.models.lfae.warp import identity_flow


@pytest.mark.parametrize("kind", ["grid", "displacement"])
def test_round_trip(kind):
    codec = FlowTargetCodec(FlowTargetConfig(kind=kind))
    x = torch.rand(2, 3, 5, 8, 8) * 2 - 1
    torch.testing.assert_close(codec.decode(codec.encode(x)), x)


def test_identity_motion_is_zero_displacement():
    flow = identity_flow(2 * 5, 8, 8)  # [B*T, h, w, 2]
    occ = torch.ones(2 * 5, 1, 8, 8)
    x = LFAE.flow_to_dm_target(flow, occ).reshape(2, 5, 3, 8, 8).transpose(1, 2)  # [B, 3, T, h, w]
    enc = FlowTargetCodec(FlowTargetConfig(kind="displacement")).encode(x)
    assert enc.abs().max() < 1e-6
    assert FlowTargetCodec(FlowTargetConfig(kind="grid")).encode(x).abs().max() > 0.9


def test_bad_scale():
    with pytest.raises(ValueError, match="scale"):
        FlowTargetConfig(kind="displacement", scale=0)


def test_displacement_target_refuses_dynamic_thresholding(tmp_path):
    """Thresholding clamps x0 to [-1, 1]: it would shrink standardised displacements, so the config says so."""
    from lfdm_bench.config import ConfigError, load_config
    from lfdm_bench.config import resolve_config_path
    from lfdm_bench.lfdm.config import LFDMConfig

    cfg = load_config(LFDMConfig, resolve_config_path("synth-faces-cpu"))
    assert cfg.dm.flow_target.kind == "displacement" and cfg.dm.diffusion.dynamic_threshold is None
    with pytest.raises(ConfigError, match="dynamic_threshold must be null"):
        load_config(LFDMConfig, resolve_config_path("synth-faces-cpu"), ["dm.diffusion.dynamic_threshold=0.9"])
    grid = load_config(LFDMConfig, resolve_config_path("paper-mug"))  # the paper's grid keeps its thresholding
    assert grid.dm.flow_target.kind == "grid" and grid.dm.diffusion.dynamic_threshold == 0.9


@pytest.mark.parametrize("kind", ["grid", "displacement"])
def test_fixed_first_frame_drops_frame_0_and_restores_the_identity(kind):
    codec = FlowTargetCodec(FlowTargetConfig(kind=kind, first_frame="identity"))
    assert codec.dm_frames(16) == 15
    x = torch.rand(2, 3, 5, 8, 8) * 2 - 1
    enc = codec.encode(x)
    assert enc.shape == (2, 3, 4, 8, 8)
    dec = codec.decode(enc)
    torch.testing.assert_close(dec[:, :, 1:], x[:, :, 1:])
    # frame 0 decodes to the identity grid with nothing occluded, whatever the input's frame 0 was
    flow, occ = LFAE.dm_target_to_flow(dec[:, :, 0])
    torch.testing.assert_close(flow, identity_flow(2, 8, 8))
    assert torch.all(occ == 1)



def test_bad_first_frame():
    with pytest.raises(ValueError, match="first_frame"):
        FlowTargetConfig(first_frame="zero")


@pytest.mark.parametrize("kind", ["grid", "displacement"])
def test_relative_first_frame_cancels_a_constant_offset(kind):
    codec = FlowTargetCodec(FlowTargetConfig(kind=kind, first_frame="relative"))
    assert codec.dm_frames(16) == 16
    flow = identity_flow(2 * 5, 8, 8).clone()  # [B*T, h, w, 2]
    flow[:, 2:5, 2:5] += 0.1 * torch.arange(5).repeat(2)[:, None, None, None]  # motion growing over time
    x = LFAE.flow_to_dm_target(flow, torch.ones(10, 1, 8, 8)).reshape(2, 5, 3, 8, 8).transpose(1, 2)
    enc = codec.encode(x)
    torch.testing.assert_close(codec.decode(enc), x)  # frame 0 already the identity: a plain round trip
    offset = torch.randn(2, 3, 1, 8, 8) * 0.2  # an error the DM makes alike in every frame
    offset[:, 2] = -offset[:, 2].abs()  # (occlusion below "keep")
    dec = codec.decode(enc + offset)
    torch.testing.assert_close(dec[:, :2], x[:, :2], atol=1e-5, rtol=0)
    assert torch.all(dec[:, 2, 0] == 1)  # frame 0 keeps everything
