"""Background motion predictor (MRAA ``bg_type='affine'``): one global affine per (source, driving) pair.

An encoder of down blocks over ``concat(source, driving)``, global average pooling and a linear layer to the 6
affine parameters. The linear layer starts at zero weights and identity bias, so at initialisation the background
motion is exactly the identity whatever the input.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from torch import Tensor

from .blocks import DownBlock2d, features_at
from .warp import geometry_dtype


class BackgroundMotionPredictor(nn.Module):
    """``(source [B, C, H, W], driving [B, C, H, W]) -> theta [B, 2, 3]`` (>= fp32), mapping driving to source
    coordinates.

    H and W must be divisible by ``2**num_blocks``.
    """

    def __init__(self, num_channels: int, block_expansion: int, max_features: int, num_blocks: int,
                 norm: str = "batch"):
        super().__init__()
        ch = [features_at(i, block_expansion, max_features) for i in range(num_blocks + 1)]
        self.encoder = nn.Sequential(*[
            DownBlock2d(2 * num_channels if i == 0 else ch[i], ch[i + 1], norm) for i in range(num_blocks)])
        self.fc = nn.Linear(ch[num_blocks], 6)
        self.reset_to_identity()

    def reset_to_identity(self) -> None:
        """Zero weights, identity bias: the predicted affine is the identity for any input."""
        with torch.no_grad():
            self.fc.weight.zero_()
            self.fc.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]))

    def forward(self, source: Tensor, driving: Tensor) -> Tensor:
        feat = self.encoder(torch.cat([source, driving], dim=1))  # [B, F, H/2^n, W/2^n]
        theta = self.fc(feat.mean(dim=(2, 3)))  # [B, 6]
        return geometry_dtype(theta).view(-1, 2, 3)
