"""What the flow diffusion model diffuses: the LFAE's stage-2 representation, optionally re-parameterised.

The LFAE's representation (``LFAE.flow_to_dm_target``) is ``[B, 3, T, h, w]``: the absolute sampling grid (2
channels, in [-1, 1]) and the occlusion rescaled to [-1, 1]. That is what the paper diffuses (``kind="grid"``).
``kind="displacement"`` diffuses ``scale * (grid - identity)`` and ``occ_scale * (occlusion - 1)`` instead: the same information,
but zero for "no motion, nothing occluded", so the network need not reproduce the identity grid's positional ramp
or a constant occlusion offset; on the CPU-sized configs this trains much faster (see the closing note of the LFDM
issue). Both are exactly invertible.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from lfdm_bench.models.lfae.warp import identity_grid


@dataclass
class FlowTargetConfig:
    kind: Literal["grid", "displacement"] = "grid"  # grid = the paper's representation
    # displacement only: multipliers of (grid - identity) and (occlusion - 1) that bring the signal to about unit
    # scale (diffusion assumes data of roughly unit variance; on synth-faces at 32px the raw displacement has std ~0.02
    # and the occlusion offset ~0.005, which the noise would drown at almost every timestep)
    scale: float = 25.0
    occ_scale: float = 10.0

    def __post_init__(self) -> None:
        if self.scale <= 0 or self.occ_scale <= 0:
            raise ValueError(f"flow_target.scale and occ_scale must be > 0, got {self.scale}, {self.occ_scale}")


class FlowTargetCodec:
    """``encode``: LFAE representation -> diffused signal; ``decode``: the inverse. Both on ``[B, 3, T, h, w]``."""

    def __init__(self, cfg: FlowTargetConfig):
        self.cfg = cfg

    def _identity(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        grid = identity_grid(h, w, device=x.device, dtype=x.dtype).permute(2, 0, 1)  # [2, h, w]
        return grid[None, :, None]  # [1, 2, 1, h, w]

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        if self.cfg.kind == "grid":
            return x
        flow = (x[:, :2] - self._identity(x)) * self.cfg.scale
        return torch.cat([flow, (x[:, 2:] - 1.0) * self.cfg.occ_scale], dim=1)  # occlusion 1 (keep) -> 0

    def decode(self, x: torch.Tensor) -> torch.Tensor:
        if self.cfg.kind == "grid":
            return x
        flow = x[:, :2] / self.cfg.scale + self._identity(x)
        return torch.cat([flow, x[:, 2:] / self.cfg.occ_scale + 1.0], dim=1)
