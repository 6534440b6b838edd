"""A toy image-to-video generator, to show the interface of ``lfdm_bench.sampling.plugin`` (it is no model of the
toolkit): every video is the source frame moved by an affine motion, a rotation, zoom and shift that grow from none
at frame 0 to a random amount at the last frame. The direction of the motion depends on the class (its text), its
size on the video's seed; nothing is learned. Pure torch.

    lfdm-bench bench --config bench-tiny --generator examples.affine_toy:generator
    lfdm-bench sample --run RUN --generator examples/affine_toy.py:generator

Copy this file to wrap your own model: keep the call signature and the output contract
(``[B, T, 3, H, W]`` floats in [0, 1]), use the seeds, and learn the frames and size in ``setup``.
"""

from __future__ import annotations

import math
import zlib

import torch
import torch.nn.functional as F


class AffineToy:
    """``generate(source_frames, class_texts, seeds) -> videos``: source frame + seeded affine motion."""

    name = "affine_toy"  # the method row of the benchmark tables

    def __init__(self, max_angle: float = 12.0, max_shift: float = 0.15, max_zoom: float = 0.1) -> None:
        self.max_angle, self.max_shift, self.max_zoom = max_angle, max_shift, max_zoom
        self.n_frames = 16  # until setup() says how many frames the evaluation set needs
        self.settings = {"max_angle": max_angle, "max_shift": max_shift, "max_zoom": max_zoom}

    def setup(self, info) -> None:
        """Called once before the first batch with the evaluation set's facts (``GeneratorSetup``)."""
        self.n_frames = info.n_frames

    def motion(self, class_text: str, seed: int) -> torch.Tensor:
        """The last frame's (angle, dx, dy, zoom): a direction per class, amounts per seed."""
        g = torch.Generator().manual_seed(int(seed))
        u = torch.rand(4, generator=g)
        direction = (zlib.crc32(class_text.encode()) % 360) * math.pi / 180
        shift = self.max_shift * (0.5 + 0.5 * float(u[0]))
        return torch.tensor([self.max_angle * (2 * float(u[1]) - 1) * math.pi / 180, shift * math.cos(direction),
                             shift * math.sin(direction), self.max_zoom * (2 * float(u[2]) - 1)])

    def __call__(self, source_frames: torch.Tensor, class_texts: list[str], seeds: list[int]) -> torch.Tensor:
        b, _, h, w = source_frames.shape
        t = torch.linspace(0, 1, self.n_frames)  # motion grows linearly over the clip
        videos = []
        for image, text, seed in zip(source_frames, class_texts, seeds):
            angle, dx, dy, zoom = (t[:, None] * self.motion(text, seed)[None]).unbind(1)  # [T] each
            scale = 1 / (1 + zoom)
            theta = torch.stack([torch.stack([scale * torch.cos(angle), -scale * torch.sin(angle), dx], 1),
                                 torch.stack([scale * torch.sin(angle), scale * torch.cos(angle), dy], 1)], 1)
            grid = F.affine_grid(theta, [self.n_frames, 3, h, w], align_corners=False)
            frames = F.grid_sample(image.expand(self.n_frames, -1, -1, -1).float(), grid, mode="bilinear",
                                   padding_mode="border", align_corners=False)
            frames[0] = image  # frame 0 is the source frame itself
            videos.append(frames)
        return torch.stack(videos).clamp(0, 1)


generator = AffineToy()
