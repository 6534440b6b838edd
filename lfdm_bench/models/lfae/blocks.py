"""Convolutional building blocks of the LFAE (MRAA-style): norm factory, res/down/up/same blocks, the hourglass
U-Net used by the region and flow predictors, and the anti-aliased downsampler used for the x0.25 inputs and the
image pyramid of the reconstruction loss."""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

NORMS = ("batch", "group")


def make_norm(kind: str, channels: int) -> nn.Module:
    """``"batch"``: BatchNorm2d (MRAA / official LFDM); ``"group"``: GroupNorm with up to 8 groups (batch-size
    independent: train-mode outputs of one sample do not depend on the rest of the batch)."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "group":
        return nn.GroupNorm(math.gcd(channels, 8), channels)
    raise ValueError(f"unknown norm {kind!r}; expected one of {NORMS}")


def features_at(level: int, block_expansion: int, max_features: int) -> int:
    """Channel count of level ``level`` of a pyramid that doubles per level: ``min(max, expansion * 2**level)``."""
    return min(max_features, block_expansion * (2 ** level))


class ResBlock2d(nn.Module):
    """Pre-activation residual block, channels and size preserved: ``[B, C, H, W] -> [B, C, H, W]``."""

    def __init__(self, channels: int, norm: str = "batch", kernel_size: int = 3):
        super().__init__()
        pad = kernel_size // 2
        self.norm1 = make_norm(norm, channels)
        self.conv1 = nn.Conv2d(channels, channels, kernel_size, padding=pad)
        self.norm2 = make_norm(norm, channels)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size, padding=pad)

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv1(F.relu(self.norm1(x)))
        out = self.conv2(F.relu(self.norm2(out)))
        return x + out


class SameBlock2d(nn.Module):
    """conv -> norm -> ReLU at constant size: ``[B, C_in, H, W] -> [B, C_out, H, W]``."""

    def __init__(self, in_channels: int, out_channels: int, norm: str = "batch", kernel_size: int = 3):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        self.norm = make_norm(norm, out_channels)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.norm(self.conv(x)))


class DownBlock2d(nn.Module):
    """conv -> norm -> ReLU -> 2x2 average pool: ``[B, C_in, H, W] -> [B, C_out, H/2, W/2]``."""

    def __init__(self, in_channels: int, out_channels: int, norm: str = "batch"):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm = make_norm(norm, out_channels)

    def forward(self, x: Tensor) -> Tensor:
        return F.avg_pool2d(F.relu(self.norm(self.conv(x))), 2)


class UpBlock2d(nn.Module):
    """nearest x2 upsample -> conv -> norm -> ReLU: ``[B, C_in, H, W] -> [B, C_out, 2H, 2W]``."""

    def __init__(self, in_channels: int, out_channels: int, norm: str = "batch"):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm = make_norm(norm, out_channels)

    def forward(self, x: Tensor) -> Tensor:
        x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        return F.relu(self.norm(self.conv(x)))


class Hourglass(nn.Module):
    """U-Net with ``num_blocks`` down and up blocks and concatenated skips (MRAA's hourglass).

    ``[B, in_channels, H, W] -> [B, out_channels, H, W]`` with ``out_channels = min(max, expansion) + in_channels``;
    H and W must be divisible by ``2**num_blocks``.
    """

    def __init__(self, in_channels: int, block_expansion: int, max_features: int, num_blocks: int,
                 norm: str = "batch"):
        super().__init__()
        ch = [features_at(i, block_expansion, max_features) for i in range(num_blocks + 1)]
        self.down_blocks = nn.ModuleList(
            DownBlock2d(in_channels if i == 0 else ch[i], ch[i + 1], norm) for i in range(num_blocks))
        self.up_blocks = nn.ModuleList(
            UpBlock2d((1 if i == num_blocks - 1 else 2) * ch[i + 1], ch[i], norm)
            for i in reversed(range(num_blocks)))
        self.num_blocks = num_blocks
        self.out_channels = ch[0] + in_channels

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-2] % (2 ** self.num_blocks) or x.shape[-1] % (2 ** self.num_blocks):
            raise ValueError(f"hourglass with {self.num_blocks} blocks needs H, W divisible by "
                             f"{2 ** self.num_blocks}, got {tuple(x.shape[-2:])}")
        skips = [x]
        for block in self.down_blocks:
            skips.append(block(skips[-1]))  # [B, ch[i+1], H/2^(i+1), W/2^(i+1)]
        out = skips.pop()
        for block in self.up_blocks:
            out = block(out)
            out = torch.cat([out, skips.pop()], dim=1)  # concat the skip of the same size
        return out


def gaussian_kernel_1d(sigma: float, dtype=torch.float32) -> Tensor:
    """Normalised 1-D Gaussian of size ``2 * round(4 sigma) + 1``."""
    radius = int(round(4 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return (k / k.sum()).to(dtype)


DOWNSAMPLE_IMPLS = ("conv", "matmul")


class AntiAliasDownsample(nn.Module):
    """Gaussian blur (sigma = (1/scale - 1) / 2, zero padding) then keep every (1/scale)-th pixel; only the kept
    pixels are evaluated.

    ``[B, C, H, W] -> [B, C, H*scale, W*scale]``; ``1/scale`` must be an integer; ``scale == 1`` is the identity.
    ``impl``: ``conv`` (a separable strided depthwise convolution) or ``matmul`` (the same sums as two products with
    banded ``[H*scale, H]`` / ``[W*scale, W]`` matrices that hold the kernel and the zero padding: ~10x faster
    forward and backward on CPU at 32 px, equal to ``conv`` within float rounding, ~2e-7). Training keeps ``conv``
    (its runs, and the shipped weights' retraining, stay bit-identical); the LFAE's inference-time flow refinement,
    which evaluates the pyramid 20 times per frame, uses ``matmul``. The kernel is a non-persistent buffer (derived
    from the config), so it is not part of state dicts.
    """

    def __init__(self, channels: int, scale: float, impl: str = "conv"):
        super().__init__()
        inv = 1.0 / scale
        if scale <= 0 or scale > 1 or abs(inv - round(inv)) > 1e-6:
            raise ValueError(f"AntiAliasDownsample needs 1/scale to be an integer >= 1, got scale={scale}")
        if impl not in DOWNSAMPLE_IMPLS:
            raise ValueError(f"AntiAliasDownsample impl must be one of {DOWNSAMPLE_IMPLS}, got {impl!r}")
        self.scale, self.impl = scale, impl
        self.step = int(round(inv))
        self.channels = channels
        self._bands: dict[tuple, Tensor] = {}
        if self.step > 1:
            k1 = gaussian_kernel_1d((inv - 1.0) / 2.0)
            self.register_buffer("kernel", k1.expand(channels, 1, len(k1)).contiguous(), persistent=False)  # [C, 1, k]
            self.pad = len(k1) // 2

    def _band(self, n: int, like: Tensor) -> Tensor:
        """``[ceil(n / step), n]``: row ``i`` holds the kernel centred on pixel ``i * step`` (taps outside the
        image dropped: the zero padding)."""
        key = (n, like.dtype, like.device)
        if key not in self._bands:
            k = self.kernel[0, 0].to(torch.float64)
            rows = torch.arange(0, n, self.step)
            taps = torch.arange(n)[None, :] - rows[:, None] + self.pad  # [n_out, n]: kernel index of each pixel
            inside = (taps >= 0) & (taps < len(k))
            band = torch.where(inside, k[taps.clamp(0, len(k) - 1)], torch.zeros((), dtype=torch.float64))
            self._bands[key] = band.to(device=like.device, dtype=like.dtype)
        return self._bands[key]

    def forward(self, x: Tensor) -> Tensor:
        if self.step == 1:
            return x
        if self.impl == "matmul":
            return self._band(x.shape[-2], x) @ x @ self._band(x.shape[-1], x).T  # [B, C, H/s, W/s]
        x = F.pad(x, (self.pad, self.pad, self.pad, self.pad))
        k = self.kernel.to(x.dtype)  # [C, 1, k]
        # separable blur evaluated only at the kept pixels: vertical pass with stride (step, 1), then horizontal
        x = F.conv2d(x, k.unsqueeze(-1), stride=(self.step, 1), groups=self.channels)  # [B, C, H/step, W + 2p]
        return F.conv2d(x, k.unsqueeze(-2), stride=(1, self.step), groups=self.channels)  # [B, C, H/s, W/s]
