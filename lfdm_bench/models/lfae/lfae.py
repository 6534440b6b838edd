"""The latent flow autoencoder (LFDM stage 1) and its typed config.

Tensor contract of the public methods (checked once at each entry point):
images ``[B, 3, H, W]`` float in [0, 1] with ``H == W == config.image_size``; latent flows ``[B, h, w, 2]``
sampling grids in normalised [-1, 1] coordinates, (x, y) order, ``align_corners=True`` (see ``warp.py``);
occlusion ``[B, 1, h, w]`` in [0, 1] (0 = must be inpainted, 1 = keep); ``h = w = image_size * scale_factor``.
Videos are ``[B, C, T, H, W]``. Everything is batched: clips are flattened to ``B * T`` (b-major), never looped.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping, Optional

import torch
import torch.nn as nn
from einops import rearrange
from torch import Tensor

from .bg_motion import BackgroundMotionPredictor
from .blocks import NORMS
from .flow_predictor import DenseMotion, DenseMotionPredictor
from .generator import Generator, SourceFeatures
from .region_predictor import RegionParams, RegionPredictor
from .warp import resize_grid, warp

REFINE_ADAM_EPS = 1e-2  # see LFAE.refine_flow
CHARBONNIER_EPS = 0.01  # residuals below ~1/100 of the intensity range count quadratically in the refinement


def charbonnier(x: Tensor, eps: float = CHARBONNIER_EPS) -> Tensor:
    """``sqrt(x^2 + eps^2) - eps``: |x| for large residuals, ``x^2 / (2 eps)`` near 0 (a smooth L1)."""
    return torch.sqrt(x * x + eps * eps) - eps


@dataclass
class LFAEConfig:
    """Constructor arguments of :class:`LFAE` (stored in checkpoints). Defaults = the paper's 128x128 setting.

    Presets: ``LFAEConfig.paper()`` (128x128, z = 256x32x32, region/flow hourglasses of 5 blocks up to 1024
    channels, 6 residual blocks) and ``LFAEConfig.tiny()`` (32x32 CPU setting, z = 32x8x8); both accept field
    overrides, e.g. ``LFAEConfig.tiny(image_size=64)``.
    """

    image_size: int = 128  # H == W of the frames
    num_channels: int = 3
    num_regions: int = 10
    temperature: float = 0.1  # softmax temperature of the region heatmaps
    scale_factor: float = 0.25  # region heatmaps and latent flow at image_size * scale_factor
    estimate_affine: bool = True  # PCA affine per region (else translation-only regions)
    revert_axis_swap: bool = True  # fix the sign ambiguity of PCA axes in relative region affines
    region_block_expansion: int = 32
    region_max_features: int = 1024
    region_num_blocks: int = 5
    flow_block_expansion: int = 64
    flow_max_features: int = 1024
    flow_num_blocks: int = 5
    heatmap_variance: float = 0.01  # variance of the Gaussian heatmaps fed to the flow predictor
    use_deformed_source: bool = True  # feed the source warped by each region motion to the flow predictor
    occlusion_sees_driving: bool = False  # also feed the driving frame (not in the paper: see flow_predictor.py)
    bg_motion: bool = True  # global background affine (initialised to identity); False = identity background
    bg_block_expansion: int = 32
    bg_max_features: int = 1024
    bg_num_blocks: int = 5
    gen_block_expansion: int = 64  # encoder: 3 -> 64 at H, 128 at H/2, 256 at H/4 (= z channels)
    gen_max_features: int = 512
    gen_num_down_blocks: int = 2  # z at H / 2**n; must equal image_size * scale_factor
    gen_num_res_blocks: int = 6
    gen_skips: bool = True  # occlusion-weighted blending of warped encoder skips and of the warped source image
    norm: str = "batch"  # "batch" (MRAA/official) or "group" (batch-independent)
    # Test-time flow refinement (not in the paper; see LFAE.refine_flow): every flow the LFAE estimates for a
    # (source, driving) pair outside training -- stage-2 targets, reconstructions, retrieval -- is refined by
    # refine_steps Adam steps (lr refine_lr, normalised grid units) on the multi-scale L1 between the decoded frame
    # and the driving frame. 0 = the flow predictor's output as is (the paper).
    refine_steps: int = 0
    refine_lr: float = 0.02
    refine_render: str = "warp"  # what is compared with the driving frame: "warp" (the source image warped by the
    # flow: cheap) or "decode" (the full decoder, needed where the occlusion map inpaints)

    def __post_init__(self) -> None:
        def need(ok: bool, msg: str) -> None:
            if not ok:
                raise ValueError(f"LFAEConfig: {msg}")

        need(self.image_size >= 8, f"image_size must be >= 8, got {self.image_size}")
        need(self.num_channels >= 1 and self.num_regions >= 1, "num_channels and num_regions must be >= 1")
        need(self.temperature > 0 and self.heatmap_variance > 0, "temperature and heatmap_variance must be > 0")
        need(self.norm in NORMS, f"norm must be one of {NORMS}, got {self.norm!r}")
        need(self.refine_steps >= 0 and self.refine_lr > 0,
             f"refine_steps must be >= 0 and refine_lr > 0, got {self.refine_steps}, {self.refine_lr}")
        need(self.refine_render in ("warp", "decode"),
             f"refine_render must be 'warp' or 'decode', got {self.refine_render!r}")
        inv = 1.0 / self.scale_factor if self.scale_factor > 0 else 0.0
        need(0 < self.scale_factor <= 1 and abs(inv - round(inv)) < 1e-6,
             f"scale_factor must be 1/k for an integer k >= 1, got {self.scale_factor}")
        need(self.image_size % round(inv) == 0,
             f"image_size {self.image_size} must be divisible by 1/scale_factor = {round(inv)}")
        h = self.latent_size
        need(self.image_size == h * 2 ** self.gen_num_down_blocks,
             f"the generator's z size image_size / 2**gen_num_down_blocks = "
             f"{self.image_size / 2 ** self.gen_num_down_blocks:g} must equal the flow size "
             f"image_size * scale_factor = {h}; set gen_num_down_blocks = log2(1/scale_factor)")
        for name in ("region", "flow"):
            n = getattr(self, f"{name}_num_blocks")
            need(n >= 1 and h % 2 ** n == 0,
                 f"{name}_num_blocks={n} needs the latent size {h} divisible by 2**{n}; use fewer blocks")
        need(not self.bg_motion or self.image_size % 2 ** self.bg_num_blocks == 0,
             f"bg_num_blocks={self.bg_num_blocks} needs image_size divisible by 2**{self.bg_num_blocks}")

    @property
    def latent_size(self) -> int:
        """h = w of the latent flow, occlusion and z."""
        return int(round(self.image_size * self.scale_factor))

    @property
    def latent_channels(self) -> int:
        """C_z, the channels of z."""
        return min(self.gen_max_features, self.gen_block_expansion * 2 ** self.gen_num_down_blocks)

    @classmethod
    def paper(cls, **overrides: Any) -> "LFAEConfig":
        """The paper's 128x128 setting (MRAA hyper-parameters): z = 256x32x32, flow 2x32x32."""
        return cls(**overrides)

    @classmethod
    def tiny(cls, **overrides: Any) -> "LFAEConfig":
        """CPU setting: 32x32 frames, z = 32x8x8, latent flow 8x8, 3-block hourglasses (also valid at 64x64)."""
        base = dict(image_size=32, region_block_expansion=16, region_max_features=128, region_num_blocks=3,
                    flow_block_expansion=16, flow_max_features=128, flow_num_blocks=3,
                    bg_block_expansion=8, bg_max_features=64, bg_num_blocks=3,
                    gen_block_expansion=8, gen_max_features=64, gen_num_res_blocks=6)
        base.update(overrides)
        return cls(**base)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "LFAEConfig":
        """Build from plain data (e.g. a checkpoint); unknown keys and wrong types raise ``ConfigError``."""
        from lfdm_bench.config import from_dict

        return from_dict(cls, data, "lfae")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class LFAE(nn.Module):
    """Latent flow autoencoder. Built from an :class:`LFAEConfig` only (``LFAE(LFAEConfig.from_dict(d))``).

    Sub-modules: ``region_predictor``, ``bg_predictor`` (None without background motion), ``flow_predictor``,
    ``generator`` (``encode``/``decode``). The model owns no optimiser and no device: it follows its inputs.
    """

    def __init__(self, config: LFAEConfig):
        super().__init__()
        if not isinstance(config, LFAEConfig):
            raise TypeError(f"LFAE takes an LFAEConfig, got {type(config).__name__}")
        c = self.config = config
        self.region_predictor = RegionPredictor(
            c.num_channels, c.num_regions, c.region_block_expansion, c.region_max_features, c.region_num_blocks,
            c.temperature, c.scale_factor, c.estimate_affine, c.norm)
        self.bg_predictor = (BackgroundMotionPredictor(c.num_channels, c.bg_block_expansion, c.bg_max_features,
                                                       c.bg_num_blocks, c.norm) if c.bg_motion else None)
        self.flow_predictor = DenseMotionPredictor(
            c.num_channels, c.num_regions, c.flow_block_expansion, c.flow_max_features, c.flow_num_blocks,
            c.scale_factor, c.heatmap_variance, c.use_deformed_source, c.revert_axis_swap, c.norm,
            c.occlusion_sees_driving)
        self.generator = Generator(c.num_channels, c.gen_block_expansion, c.gen_max_features,
                                   c.gen_num_down_blocks, c.gen_num_res_blocks, c.gen_skips, c.norm)

    # ----------------------------------------------------------------------------------------- input checks
    def _check_images(self, x: Tensor, name: str) -> None:
        c = self.config
        expected = (c.num_channels, c.image_size, c.image_size)
        if not isinstance(x, Tensor) or x.dim() != 4 or tuple(x.shape[1:]) != expected or not x.is_floating_point():
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"{name}: expected a float tensor [B, {expected[0]}, {expected[1]}, {expected[2]}] "
                             f"in [0, 1], got {got}")

    def _check_flow(self, flow: Tensor, occlusion: Tensor) -> None:
        h = self.config.latent_size
        if flow.dim() != 4 or tuple(flow.shape[1:]) != (h, h, 2):
            raise ValueError(f"flow: expected [B, {h}, {h}, 2] (sampling grid in [-1, 1]), got {tuple(flow.shape)}")
        if tuple(occlusion.shape) != (flow.shape[0], 1, h, h):
            raise ValueError(f"occlusion: expected [{flow.shape[0]}, 1, {h}, {h}] in [0, 1], "
                             f"got {tuple(occlusion.shape)}")

    # ------------------------------------------------------------------------------------------- stage 1
    def encode(self, x: Tensor) -> SourceFeatures:
        """``x [B, 3, H, W]`` in [0, 1] -> :class:`SourceFeatures`; ``.z`` is ``[B, C_z, h, w]``."""
        self._check_images(x, "encode(x)")
        return self.generator.encode(x)

    def motion(self, source: Tensor, driving: Tensor,
               source_regions: Optional[RegionParams] = None) -> tuple[DenseMotion, RegionParams, RegionParams,
                                                                        Optional[Tensor]]:
        """Full motion estimate: ``(DenseMotion, source regions, driving regions, bg_theta [B, 2, 3] | None)``.

        Source and driving go through the region predictor as one batch of 2B unless ``source_regions`` is given.
        """
        b = source.shape[0]
        if source_regions is None:
            regions = self.region_predictor(torch.cat([source, driving], dim=0))  # batch 2B
            source_regions = regions.map(lambda t: t[:b])
            driving_regions = regions.map(lambda t: t[b:])
        else:
            driving_regions = self.region_predictor(driving)
        bg_theta = self.bg_predictor(source, driving) if self.bg_predictor is not None else None
        dense = self.flow_predictor(source, source_regions, driving_regions, bg_theta, driving)
        return dense, source_regions, driving_regions, bg_theta

    def estimate_flow(self, source: Tensor, driving: Tensor) -> tuple[Tensor, Tensor]:
        """``(source, driving [B, 3, H, W]) -> (flow [B, h, w, 2] in [-1, 1], occlusion [B, 1, h, w] in [0, 1])``.

        For a clip, flatten frames to ``[B * T, 3, H, W]`` (and repeat the source) or use
        :meth:`dm_target_from_video`.
        """
        self._check_images(source, "estimate_flow(source)")
        self._check_images(driving, "estimate_flow(driving)")
        if source.shape[0] != driving.shape[0]:
            raise ValueError(f"estimate_flow: source and driving batch sizes differ ({source.shape[0]} vs "
                             f"{driving.shape[0]})")
        dense = self.motion(source, driving)[0]
        if self.config.refine_steps and not self.training:
            flow = self.refine_flow(self.generator.encode(source), dense.flow, dense.occlusion, driving)
            return flow, dense.occlusion
        return dense.flow, dense.occlusion

    def refine_flow(self, source_features: SourceFeatures, flow: Tensor, occlusion: Tensor, driving: Tensor,
                    steps: Optional[int] = None, lr: Optional[float] = None) -> Tensor:
        """Refine ``flow [B, h, w, 2]`` so that the decoded frame matches ``driving [B, 3, H, W]``.

        ``steps`` Adam steps (default ``config.refine_steps``; lr ``config.refine_lr`` decaying linearly to 0) on
        the sum over the batch
        of each frame's multi-scale smooth L1 (:func:`charbonnier`, on the training loss' pyramid) between the driving frame and the rendering
        chosen by ``config.refine_render``: the source image warped by the flow (``warp``; the LFAE's output
        wherever its occlusion map is 1) or the decoded frame (``decode``, occlusion fixed). Every frame is
        optimised independently of the rest of the batch. Model parameters get no gradients (only the
        flow is differentiated), so it is safe under ``torch.no_grad()`` callers and on frozen or training models.
        The flow predictor is an amortised estimate: on the embedded benchmark's unseen (test) subjects its flows
        rendered 72% of the real motion amplitude and 54% probe accuracy (real videos 89%); 20 refinement steps gave
        100% and 81% (README, issue 11).
        """
        from .losses import ImagePyramid

        steps = self.config.refine_steps if steps is None else int(steps)
        lr = self.config.refine_lr if lr is None else float(lr)
        if steps <= 0:
            return flow
        # the banded-matmul pyramid: ~10x faster than the strided convolution on CPU, equal within float rounding
        pyramid = ImagePyramid((1.0, 0.5, 0.25, 0.125), driving.shape[1], impl="matmul").to(driving.device)
        target = {s: t.detach() for s, t in pyramid(driving).items()}
        occlusion = occlusion.detach()
        with torch.enable_grad():
            f = flow.detach().clone().requires_grad_(True)
            # a large eps: gradients of a near-exact fit (frame 0, still frames: ~1e-6) would otherwise be
            # normalised into lr-sized random steps; below eps the update is a plain gradient step (lr / eps)
            opt = torch.optim.Adam([f], lr=lr, eps=REFINE_ADAM_EPS)
            size = tuple(driving.shape[-2:])
            for k in range(steps):
                # linear decay to 0: Adam's steps are ~lr whatever the remaining error, so a constant lr leaves
                # the flow oscillating by ~lr around the optimum (also in still frames that need no change)
                opt.param_groups[0]["lr"] = lr * (1 - k / steps)
                if self.config.refine_render == "warp":
                    # border padding: with zeros the rendering jumps at the image edge, and the flow there gets a
                    # gradient however exact the fit; the result is clamped to the image below
                    frame = warp(source_features.image, resize_grid(f, size), padding_mode="border")
                else:
                    frame = self.generator.decode(source_features, f, occlusion)
                pred = pyramid(frame)
                # Charbonnier (smooth L1) per frame, mean over pixels and scales, summed over frames: gradients do
                # not depend on the batch, and vanish with the residual (an L1's sign gradient does not: float noise
                # of an exact fit, e.g. frame 0 at the identity, would push the flow by lr-sized steps)
                loss = sum(charbonnier(pred[s] - target[s]).mean(dim=(1, 2, 3)) for s in pred).sum()
                (f.grad,) = torch.autograd.grad(loss, [f])
                opt.step()
        return f.detach().clamp(-1.0, 1.0)

    def decode(self, source_features: SourceFeatures, flow: Tensor, occlusion: Tensor) -> Tensor:
        """Render ``[B, 3, H, W]`` in [0, 1]: z warped by ``flow [B, h, w, 2]``, times ``occlusion [B, 1, h, w]``,
        residual blocks, decoder blending the warped skips and source image where the occlusion is 1."""
        self._check_flow(flow, occlusion)
        if source_features.batch_size != flow.shape[0]:
            raise ValueError(f"decode: source features have batch {source_features.batch_size} but the flow has "
                             f"{flow.shape[0]}; use SourceFeatures.expand_frames(T) for clips")
        return self.generator.decode(source_features, flow, occlusion)

    def forward(self, source: Tensor, driving: Tensor) -> dict[str, Any]:
        """Reconstruct ``driving`` from ``source`` (both ``[B, 3, H, W]`` in [0, 1]).

        Returns a dict: ``prediction [B, 3, H, W]``, ``flow [B, h, w, 2]``, ``occlusion [B, 1, h, w]``,
        ``decoded [B, 3, H, W]`` (the decoder's own rendering, before the warped source image is blended in where
        the occlusion is 1), ``deformed [B, 3, H, W]`` (source warped by the flow upsampled to H, W: warp-only output),
        ``regions_source`` / ``regions_driving`` (:class:`RegionParams`, heatmaps ``[B, R, h, w]``),
        ``bg_theta [B, 2, 3]`` or None, ``motion_mask [B, R + 1, h, w]``.
        """
        self._check_images(source, "forward(source)")
        self._check_images(driving, "forward(driving)")
        features = self.generator.encode(source)
        dense, reg_s, reg_d, bg_theta = self.motion(source, driving)
        prediction, decoded = self.generator.decode(features, dense.flow, dense.occlusion, return_decoded=True)
        deformed = warp(source, resize_grid(dense.flow, tuple(source.shape[-2:])))
        return dict(prediction=prediction, decoded=decoded, flow=dense.flow, occlusion=dense.occlusion,
                    deformed=deformed,
                    regions_source=reg_s, regions_driving=reg_d, bg_theta=bg_theta, motion_mask=dense.mask)

    # ------------------------------------------------------------------------------ stage-2 representation
    @staticmethod
    def flow_to_dm_target(flow: Tensor, occlusion: Tensor) -> Tensor:
        """``flow [B, h, w, 2]``, ``occlusion [B, 1, h, w]`` in [0, 1] -> ``[B, 3, h, w]`` in [-1, 1]:
        channels (flow x, flow y, 2 * occlusion - 1). Inverse: :meth:`dm_target_to_flow`."""
        return torch.cat([flow.permute(0, 3, 1, 2), occlusion * 2 - 1], dim=1)

    @staticmethod
    def dm_target_to_flow(x: Tensor) -> tuple[Tensor, Tensor]:
        """``x [B, 3, h, w]`` -> ``(flow [B, h, w, 2], occlusion [B, 1, h, w])``; the occlusion is clamped to
        [0, 1] (a no-op on targets made by :meth:`flow_to_dm_target`; guards diffusion samples)."""
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"dm_target_to_flow: expected [B, 3, h, w], got {tuple(x.shape)}")
        flow = x[:, :2].permute(0, 2, 3, 1)  # [B, h, w, 2]
        occlusion = ((x[:, 2:3] + 1) / 2).clamp(0, 1)  # [B, 1, h, w]
        return flow, occlusion

    def dm_target_from_video(self, video: Tensor, source: Optional[Tensor] = None,
                             refine_steps: Optional[int] = None) -> Tensor:
        """Stage-2 target of a clip: ``video [B, 3, T, H, W]`` -> ``[B, 3, T, h, w]``, the flow + occlusion from
        ``source`` (default: frame 0) to every frame, in one batched call (source regions computed once), refined
        by :meth:`refine_flow` when ``refine_steps`` (default ``config.refine_steps``) > 0, in eval mode; 0 gives the
        flow predictor's own flows.
        Meant for a frozen LFAE: call it in eval mode under ``torch.no_grad()``."""
        if video.dim() != 5:
            raise ValueError(f"dm_target_from_video: expected video [B, 3, T, H, W], got {tuple(video.shape)}")
        b, _, t = video.shape[:3]
        source = video[:, :, 0] if source is None else source
        self._check_images(source, "dm_target_from_video(source)")
        frames = rearrange(video, "b c t h w -> (b t) c h w")
        self._check_images(frames, "dm_target_from_video(video frames)")
        source_regions = self.region_predictor(source).map(lambda x: x.repeat_interleave(t, dim=0))  # [B*T, ...]
        sources = source.repeat_interleave(t, dim=0)  # [B*T, 3, H, W]
        dense = self.motion(sources, frames, source_regions)[0]
        flow = dense.flow
        steps = self.config.refine_steps if refine_steps is None else int(refine_steps)
        if steps and not self.training:
            features = self.generator.encode(source).expand_frames(t)  # encoded once per clip
            flow = self.refine_flow(features, flow, dense.occlusion, frames, steps=steps)
        target = self.flow_to_dm_target(flow, dense.occlusion)  # [B*T, 3, h, w]
        return rearrange(target, "(b t) c h w -> b c t h w", b=b)

    def generate_from_dm(self, source: Tensor | SourceFeatures, x: Tensor) -> Tensor:
        """Render a video from stage-2 output: ``source [B, 3, H, W]`` (or its :class:`SourceFeatures`) and
        ``x [B, 3, T, h, w]`` -> ``[B, 3, T, H, W]`` in [0, 1]. Every frame warps the same z0 (encoded once and
        expanded over T); the T frames are decoded as one batch of B * T."""
        features = source if isinstance(source, SourceFeatures) else self.encode(source)
        h = self.config.latent_size
        if x.dim() != 5 or x.shape[1] != 3 or tuple(x.shape[-2:]) != (h, h) or x.shape[0] != features.batch_size:
            raise ValueError(f"generate_from_dm: expected x [{features.batch_size}, 3, T, {h}, {h}], "
                             f"got {tuple(x.shape)}")
        b, _, t = x.shape[:3]
        flow, occlusion = self.dm_target_to_flow(rearrange(x, "b c t h w -> (b t) c h w"))
        frames = self.generator.decode(features.expand_frames(t), flow, occlusion)  # [B*T, 3, H, W]
        return rearrange(frames, "(b t) c h w -> b c t h w", b=b)
