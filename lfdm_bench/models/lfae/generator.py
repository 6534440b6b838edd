"""LFAE generator: image encoder to the latent map z, and the decoder that renders a frame from z warped by a latent
flow and masked by an occlusion map, blending warped encoder skips (weighted by the occlusion) at every scale and
finally the warped source image (MRAA generator with ``skips=True``, as in LFDM)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
from torch import Tensor

from .blocks import DownBlock2d, ResBlock2d, SameBlock2d, UpBlock2d, features_at
from .warp import resize_grid, resize_map, warp


@dataclass
class SourceFeatures:
    """Encoder output for a batch of source images.

    z: ``[B, C_z, h, w]`` the latent map (``h = H / 2**num_down_blocks``); the stage-2 image condition.
    skips: encoder features from full resolution down to ``2h``: ``skips[i]`` is ``[B, C_i, H / 2**i, W / 2**i]``
        (empty when the generator has no skips).
    image: ``[B, 3, H, W]`` the source image itself (blended last in the decoder).
    """

    z: Tensor
    skips: tuple[Tensor, ...]
    image: Tensor

    @property
    def batch_size(self) -> int:
        return self.z.shape[0]

    def expand_frames(self, num_frames: int) -> "SourceFeatures":
        """Repeat each sample ``num_frames`` times, b-major: ``[B, ...] -> [B * T, ...]`` (row ``b * T + t``).

        The features are encoded once and copied, never re-encoded per frame.
        """

        def rep(t: Tensor) -> Tensor:
            b = t.shape[0]
            return t.unsqueeze(1).expand(b, num_frames, *t.shape[1:]).reshape(b * num_frames, *t.shape[1:])

        return SourceFeatures(z=rep(self.z), skips=tuple(rep(s) for s in self.skips), image=rep(self.image))


class Generator(nn.Module):
    """Encoder ``[B, C, H, W] -> SourceFeatures`` and decoder ``(SourceFeatures, flow, occlusion) -> [B, C, H, W]``.

    Encoder: 7x7 same block to ``block_expansion`` channels, then ``num_down_blocks`` down blocks doubling the
    channels (capped at ``max_features``); the last one is z. Decoder: ``num_res_blocks`` residual blocks at the
    latent size, ``num_down_blocks`` up blocks, a 7x7 conv and a sigmoid. The decoder alone is larger than the
    encoder (it has to inpaint what the source does not show).
    """

    def __init__(self, num_channels: int = 3, block_expansion: int = 64, max_features: int = 512,
                 num_down_blocks: int = 2, num_res_blocks: int = 6, skips: bool = True, norm: str = "batch"):
        super().__init__()
        ch = [features_at(i, block_expansion, max_features) for i in range(num_down_blocks + 1)]
        self.first = SameBlock2d(num_channels, ch[0], norm, kernel_size=7)
        self.down_blocks = nn.ModuleList(DownBlock2d(ch[i], ch[i + 1], norm) for i in range(num_down_blocks))
        self.bottleneck = nn.Sequential(*[ResBlock2d(ch[-1], norm) for _ in range(num_res_blocks)])
        self.up_blocks = nn.ModuleList(
            UpBlock2d(ch[num_down_blocks - i], ch[num_down_blocks - i - 1], norm) for i in range(num_down_blocks))
        self.final = nn.Conv2d(ch[0], num_channels, kernel_size=7, padding=3)
        self.skips = skips
        self.latent_channels = ch[-1]
        self.num_down_blocks = num_down_blocks

    def decoder_modules(self) -> list[nn.Module]:
        return [self.bottleneck, *self.up_blocks, self.final]

    def encode(self, x: Tensor) -> SourceFeatures:
        """``x [B, C, H, W]`` in [0, 1] -> :class:`SourceFeatures` (z ``[B, C_z, H/2^n, W/2^n]``)."""
        feats = [self.first(x)]  # [B, ch0, H, W]
        for block in self.down_blocks:
            feats.append(block(feats[-1]))  # [B, ch_{i+1}, H/2^(i+1), W/2^(i+1)]
        skips = tuple(feats[:-1]) if self.skips else ()
        return SourceFeatures(z=feats[-1], skips=skips, image=x)

    @staticmethod
    def _blend(skip: Tensor, previous: Tensor | None, motion: dict, flow: Tensor, occlusion: Tensor) -> Tensor:
        """Warp ``skip [B, C, S, S]`` by the flow resized to S, weight by the occlusion resized to S and fill the
        rest with ``previous`` (or zeros): ``warp(skip) * m + previous * (1 - m)``. ``motion`` caches the resized
        (grid, occlusion) per size."""
        size = tuple(skip.shape[-2:])
        if size not in motion:
            motion[size] = (resize_grid(flow, size), resize_map(occlusion, size))
        grid, m = motion[size]
        warped = warp(skip, grid)  # [B, C, S, S]
        m = m.to(skip.dtype)  # [B, 1, S, S]
        if previous is None:
            return warped * m
        return warped * m + previous * (1 - m)

    def decode(self, features: SourceFeatures, flow: Tensor, occlusion: Tensor,
               return_decoded: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """Render frames ``[B, C, H, W]`` in [0, 1] from source features warped by ``flow [B, h, w, 2]`` and
        masked by ``occlusion [B, 1, h, w]`` (0 = inpaint, 1 = keep). ``return_decoded``: also the decoder's own
        rendering ``[B, C, H, W]`` before the warped source image is blended in (what it paints where the
        occlusion is 0; with skips and an occlusion of ~1 everywhere the output is the warped image alone and
        this rendering gets no gradient from the output)."""
        motion: dict = {}
        out = self._blend(features.z, None, motion, flow, occlusion)  # [B, C_z, h, w]: warp(z) * m
        out = self.bottleneck(out)
        levels = (*features.skips, features.z)  # full res ... latent res
        for i, block in enumerate(self.up_blocks):
            if self.skips:
                out = self._blend(levels[self.num_down_blocks - i], out, motion, flow, occlusion)
            out = block(out)  # doubles the size
        if self.skips:
            out = self._blend(levels[0], out, motion, flow, occlusion)
        decoded = torch.sigmoid(self.final(out))  # [B, C, H, W]
        out = self._blend(features.image, decoded, motion, flow, occlusion) if self.skips else decoded
        return (out, decoded) if return_decoded else out
