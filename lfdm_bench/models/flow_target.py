"""What the flow diffusion model diffuses: the LFAE's stage-2 representation, optionally re-parameterised.

The LFAE's representation (``LFAE.flow_to_dm_target``) is ``[B, 3, T, h, w]``: the absolute sampling grid (2
channels, in [-1, 1]) and the occlusion rescaled to [-1, 1]. That is what the paper diffuses (``kind="grid"``).
``kind="displacement"`` diffuses ``scale * (grid - identity)`` and ``occ_scale * (occlusion - 1)`` instead: the same information,
but zero for "no motion, nothing occluded", so the network need not reproduce the identity grid's positional ramp
or a constant occlusion offset; on the CPU-sized configs this trains much faster (see the closing note of the LFDM
issue). Both are exactly invertible.

``first_frame="identity"`` removes frame 0 from what is diffused: the flow from frame 0 to itself is the identity
with nothing occluded, so the DM generates frames 1..T-1 only (``dm_frames(T) = T - 1``) and :meth:`decode` puts
the exact identity frame back in front. Frame 0 of every generated video is then the LFAE's rendering of the
source at the identity flow, by construction (diffusion noise cannot move it), and the DM's cost drops by 1/T.
``first_frame="relative"`` keeps frame 0 in the diffused clip (the DM still generates T frames) and re-references
the decoded clip to it: every frame's displacement minus frame 0's (grid: ``g_t - g_0 + identity``), frame 0's
occlusion set to 1. Frame 0 is then the exact identity too, and an error the DM makes alike in every frame -- on
the embedded benchmark a static offset field of ~0.2 (encoded units) over the whole grid -- cancels instead of
appearing as a jump between frames 0 and 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from lfdm_bench.models.lfae.warp import identity_grid


FIRST_FRAME_MODES = ("generated", "identity", "relative")


@dataclass
class FlowTargetConfig:
    kind: Literal["grid", "displacement"] = "grid"  # grid = the paper's representation
    # displacement only: multipliers of (grid - identity) and (occlusion - 1) that bring the signal to about unit
    # scale (diffusion assumes data of roughly unit variance; on synth-faces at 32px the raw displacement has std ~0.02
    # and the occlusion offset ~0.005, which the noise would drown at almost every timestep)
    scale: float = 25.0
    occ_scale: float = 10.0
    # generated: the DM generates all T frames (the paper); identity: frame 0 is the identity flow by construction
    # and not diffused; relative: all T frames diffused, then re-referenced to frame 0 (see the module docstring)
    first_frame: Literal["generated", "identity", "relative"] = "generated"

    def __post_init__(self) -> None:
        if self.scale <= 0 or self.occ_scale <= 0:
            raise ValueError(f"flow_target.scale and occ_scale must be > 0, got {self.scale}, {self.occ_scale}")
        if self.kind not in ("grid", "displacement"):
            raise ValueError(f"flow_target.kind must be grid or displacement, got {self.kind!r}")
        if self.first_frame not in FIRST_FRAME_MODES:
            raise ValueError(f"flow_target.first_frame must be one of {FIRST_FRAME_MODES}, got {self.first_frame!r}")


class FlowTargetCodec:
    """``encode``: LFAE representation ``[B, 3, T, h, w]`` -> diffused signal ``[B, 3, dm_frames(T), h, w]``;
    ``decode``: the inverse (frame 0 restored as the identity when ``first_frame="identity"``)."""

    def __init__(self, cfg: FlowTargetConfig | None = None):
        self.cfg = cfg or FlowTargetConfig()

    @property
    def fixed_first(self) -> bool:
        return self.cfg.first_frame == "identity"

    def dm_frames(self, n_frames: int) -> int:
        """Frames the DM generates for a clip of ``n_frames``."""
        if self.fixed_first and n_frames < 2:
            raise ValueError(f"flow_target.first_frame=identity needs clips of >= 2 frames, got {n_frames}")
        return n_frames - 1 if self.fixed_first else n_frames

    def _identity(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        grid = identity_grid(h, w, device=x.device, dtype=x.dtype).permute(2, 0, 1)  # [2, h, w]
        return grid[None, :, None]  # [1, 2, 1, h, w]

    def identity_frame(self, like: torch.Tensor) -> torch.Tensor:
        """The LFAE representation of "no motion": ``[B, 3, 1, h, w]`` (identity grid, occlusion map 1 -> +1)."""
        b, _, _, h, w = like.shape
        grid = self._identity(like).expand(b, 2, 1, h, w)
        return torch.cat([grid, like.new_ones(b, 1, 1, h, w)], dim=1)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        if self.fixed_first:
            x = x[:, :, 1:]
        if self.cfg.kind != "grid":
            flow = (x[:, :2] - self._identity(x)) * self.cfg.scale
            x = torch.cat([flow, (x[:, 2:] - 1.0) * self.cfg.occ_scale], dim=1)  # occlusion 1 (keep) -> 0
        return x

    def decode(self, x: torch.Tensor) -> torch.Tensor:
        if self.cfg.kind != "grid":
            flow = x[:, :2] / self.cfg.scale + self._identity(x)
            x = torch.cat([flow, x[:, 2:] / self.cfg.occ_scale + 1.0], dim=1)
        if self.fixed_first:
            x = torch.cat([self.identity_frame(x), x], dim=2)
        elif self.cfg.first_frame == "relative":
            flow = x[:, :2] - (x[:, :2, :1] - self._identity(x))  # g_t - (g_0 - identity)
            occ = torch.cat([torch.ones_like(x[:, 2:, :1]), x[:, 2:, 1:]], dim=2)
            x = torch.cat([flow, occ], dim=1)
        return x
