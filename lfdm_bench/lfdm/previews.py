"""Preview GIFs written while training (every ``train.sample_every`` steps and at the end), so a researcher can see
how far a run has come: ``RUN/samples/progress/{lfae,dm}_stepXXXXXX.gif``.

- LFAE: fixed test-subject clips, real (left) next to their reconstruction from frame 0 (right).
- DM: one test subject's first frame animated with every class (DDIM 10 steps, fixed seeds), one tile per class.

:func:`occlusion_tiles` shows what the LFAE keeps and what it paints (the benchmark's ``grids/lfae_occlusion.png``).

Each ``on_sample`` returns the grid it wrote (uint8 ``[T, H, W, 3]``), which the engine sends to TensorBoard / W&B
when the stage's ``train.log_with`` names them.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import nn

from lfdm_bench.data.dataset import ClipDataset
from lfdm_bench.data.video_io import make_grid, to_uint8_frames, write_gif
from lfdm_bench.models.flow_target import FlowTargetCodec
from lfdm_bench.runs import Run


def _write(run: Run, name: str, step: int, videos: torch.Tensor, nrow: int) -> np.ndarray:
    """videos [N, T, 3, H, W] in [0, 1] -> one GIF grid; returns the grid (uint8 [T, H', W', 3])."""
    tiles = torch.stack([torch.as_tensor(to_uint8_frames(v)) for v in videos.detach().float().clamp(0, 1).cpu()]).numpy()
    grid = make_grid(tiles, nrow=nrow)
    write_gif(run.path("samples", "progress", f"{name}_step{step:06d}.gif"), grid)
    return grid


def lfae_preview(run: Run, clips: ClipDataset, n: int = 4) -> Callable[[nn.Module, int], np.ndarray]:
    """``on_sample`` for the LFAE stage: real | reconstruction-from-frame-0 of ``n`` fixed clips."""
    picks = [int(i * len(clips) / n) for i in range(min(n, len(clips)))]
    video = torch.stack([clips.get(i).video for i in picks])  # [n, T, 3, H, W]

    def on_sample(model: nn.Module, step: int) -> np.ndarray:
        v = video.to(next(model.parameters()).device)
        x = v.transpose(1, 2)  # [n, 3, T, H, W]
        recon = model.generate_from_dm(x[:, :, 0], model.dm_target_from_video(x)).transpose(1, 2)
        pairs = torch.stack([v, recon], 1).flatten(0, 1)  # [2n, T, 3, H, W]: real, recon, real, recon ...
        return _write(run, "lfae", step, pairs, nrow=2)

    return on_sample


@torch.no_grad()
def occlusion_tiles(lfae: nn.Module, videos: torch.Tensor, scale: int = 4) -> np.ndarray:
    """uint8 ``[N, 4, scale * H, scale * W, 3]``: per clip of ``videos`` [N, T, 3, H, W] in [0, 1], its frame 0 (the
    source), its last frame (the driving frame), the LFAE's reconstruction of that frame from the source with the flow
    predictor's own flow, and the occlusion map (white = 1 = the warped source is kept, black = 0 = the decoder
    paints), each enlarged ``scale`` times (nearest)."""
    device = next(lfae.parameters()).device
    source, driving = videos[:, 0].to(device), videos[:, -1].to(device)
    was_training = lfae.training
    out = lfae.eval()(source, driving)
    lfae.train(was_training)
    size = tuple(source.shape[-2:])
    occ = torch.nn.functional.interpolate(out["occlusion"], size=size, mode="nearest").expand(-1, 3, -1, -1)
    tiles = torch.stack([source, driving, out["prediction"], occ], dim=1).flatten(0, 1)  # [4N, 3, H, W]
    tiles = torch.nn.functional.interpolate(tiles.float(), scale_factor=scale, mode="nearest")
    tiles = (tiles.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()  # [4N, sH, sW, 3]
    return tiles.reshape(len(videos), 4, *tiles.shape[1:])


def dm_preview(run: Run, lfae: nn.Module, source: torch.Tensor, n_classes: int, n_frames: int, *,
               codec: FlowTargetCodec, steps: int = 10) -> Callable[[nn.Module, int], np.ndarray]:
    """``on_sample`` for the DM stage: ``source`` [3, H, W] animated with every class (fixed noise); ``codec``: the
    stage's flow target (DM output -> LFAE flow + occlusion)."""
    h = lfae.config.latent_size
    n_frames = codec.dm_frames(n_frames)
    noise = torch.randn((n_classes, 3, n_frames, h, h), generator=torch.Generator().manual_seed(0))

    def on_sample(model: nn.Module, step: int) -> np.ndarray:
        device = next(model.parameters()).device
        images = source[None].expand(n_classes, -1, -1, -1).to(device)
        features = lfae.encode(images)
        cls = torch.arange(n_classes, device=device)
        out = model.sample(features.z, cls, n_frames, steps=steps, noise=noise.to(device),
                           generator=torch.Generator(device=device).manual_seed(0))
        video = lfae.generate_from_dm(features, codec.decode(out.sample)).transpose(1, 2)
        return _write(run, "dm", step, video, nrow=min(n_classes, 7))

    return on_sample
