"""LFAE training losses: multi-scale pixel L1, optional VGG19 perceptual pyramid (local weights only), and MRAA's
equivariance losses on the region shifts and affines.

The paper trains with a VGG19 perceptual pyramid (scales 1, 0.5, 0.25, 0.125) and the equivariance losses; no
pretrained VGG can be downloaded here, so the default is an L1 pyramid over the same scales, plus the perceptual
term when a local torchvision-layout ``vgg19`` state dict is given.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import torch
import torch.nn as nn
from torch import Tensor

from .blocks import AntiAliasDownsample
from .region_predictor import RegionParams, RegionPredictor
from .warp import apply_2x2, identity_grid, inverse_2x2, matmul_2x2, positive_axis, warp

# ------------------------------------------------------------------------------------------------- pyramids


class ImagePyramid(nn.Module):
    """``[B, C, H, W] -> {scale: [B, C, H*scale, W*scale]}`` with anti-aliased downsampling (1/scale integer;
    ``impl``: :class:`~lfdm_bench.models.lfae.blocks.AntiAliasDownsample`'s)."""

    def __init__(self, scales: Sequence[float], channels: int = 3, impl: str = "conv"):
        super().__init__()
        self.scales = tuple(float(s) for s in scales)
        self.downs = nn.ModuleList(AntiAliasDownsample(channels, s, impl) for s in self.scales)

    def forward(self, x: Tensor) -> dict[float, Tensor]:
        return {s: down(x) for s, down in zip(self.scales, self.downs)}


class MultiScaleReconstructionLoss(nn.Module):
    """Mean over scales of the mean absolute error between the pyramids of prediction and target.

    ``(prediction, target [B, C, H, W]) -> scalar``; identical inputs give exactly 0.
    """

    def __init__(self, scales: Sequence[float] = (1.0, 0.5, 0.25, 0.125), channels: int = 3):
        super().__init__()
        self.pyramid = ImagePyramid(scales, channels)

    def forward(self, prediction: Tensor, target: Tensor) -> Tensor:
        pred, real = self.pyramid(prediction), self.pyramid(target)
        return torch.stack([(pred[s] - real[s]).abs().mean() for s in pred]).mean()


# ---------------------------------------------------------------------------------------------------- VGG19

# torchvision's vgg19 ``features`` up to relu5_1 (indices 0..29); "M" = 2x2 max pool.
_VGG19_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512)
_VGG19_SLICE_ENDS = (2, 7, 12, 21, 30)  # outputs after relu1_1, relu2_1, relu3_1, relu4_1, relu5_1
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


class VGG19Features(nn.Module):
    """Frozen VGG19 feature extractor built by hand in torchvision's layout (``features.{i}.weight``), loaded from
    a local state dict file. ``x [B, 3, H, W]`` in [0, 1] (H, W >= 16) -> 5 maps (relu1_1 ... relu5_1)."""

    def __init__(self, weights_path: str | Path):
        super().__init__()
        layers: list[nn.Module] = []
        in_ch = 3
        for v in _VGG19_LAYOUT:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(in_ch, v, 3, padding=1), nn.ReLU(inplace=False)]
                in_ch = v
        self.features = nn.Sequential(*layers)
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self._load(Path(weights_path))
        self.requires_grad_(False)
        self.eval()

    def _load(self, path: Path) -> None:
        if not path.is_file():
            raise FileNotFoundError(
                f"VGG19 weights file not found: {path}. The perceptual loss needs a local torchvision-layout vgg19 "
                f"state dict (keys 'features.N.weight'), e.g. saved with torch.save(vgg19(weights=...).state_dict(), "
                f"path) on a machine that has it; or set perceptual_weight=0 to train with the pixel pyramid only.")
        state = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(state, Mapping) and "state_dict" in state and isinstance(state["state_dict"], Mapping):
            state = state["state_dict"]
        own = self.state_dict()
        missing = sorted(k for k in own if k not in state)
        if missing:
            raise ValueError(f"VGG19 weights file {path} is not a torchvision vgg19 state dict: missing "
                             f"{', '.join(missing[:4])}{' ...' if len(missing) > 4 else ''}")
        bad = [k for k in own if tuple(state[k].shape) != tuple(own[k].shape)]
        if bad:
            raise ValueError(f"VGG19 weights file {path}: wrong shapes for {', '.join(bad[:4])} "
                             f"(expected e.g. {tuple(own[bad[0]].shape)}, got {tuple(state[bad[0]].shape)})")
        self.load_state_dict({k: state[k] for k in own})

    def train(self, mode: bool = True) -> "VGG19Features":
        return super().train(False)  # always frozen, eval mode

    def forward(self, x: Tensor) -> list[Tensor]:
        x = (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        outs, start = [], 0
        for end in _VGG19_SLICE_ENDS:
            for i in range(start, end):
                x = self.features[i](x)
            outs.append(x)
            start = end
        return outs


class VGG19Perceptual(nn.Module):
    """MRAA's perceptual pyramid: ``sum_scales sum_layers w_l * mean|vgg_l(pred) - vgg_l(target)|``.

    Scales whose images are smaller than 16 pixels (VGG19 pools 4 times before relu5_1) are skipped.
    """

    def __init__(self, weights_path: str | Path, scales: Sequence[float] = (1.0, 0.5, 0.25, 0.125),
                 layer_weights: Sequence[float] = (10.0, 10.0, 10.0, 10.0, 10.0)):
        super().__init__()
        if len(layer_weights) != len(_VGG19_SLICE_ENDS):
            raise ValueError(f"layer_weights needs {len(_VGG19_SLICE_ENDS)} values, got {len(layer_weights)}")
        self.vgg = VGG19Features(weights_path)
        self.pyramid = ImagePyramid(scales, 3)
        self.layer_weights = tuple(float(w) for w in layer_weights)

    def forward(self, prediction: Tensor, target: Tensor) -> Tensor:
        pred, real = self.pyramid(prediction), self.pyramid(target)
        total = prediction.new_zeros(())
        for s in pred:
            if min(pred[s].shape[-2:]) < 16:
                continue
            with torch.no_grad():
                real_feats = self.vgg(real[s])
            for w, fp, fr in zip(self.layer_weights, self.vgg(pred[s]), real_feats):
                total = total + w * (fp - fr).abs().mean()
        return total


# ------------------------------------------------------------------------------------------- equivariance


class RandomTPS:
    """Random affine + thin-plate-spline warp of a batch (MRAA's equivariance transform), ``T: [-1, 1]^2 -> R^2``.

    ``T(p) = A p + t + sum_k w_k U(|p - c_k|)`` with ``A, t ~ I + N(0, sigma_affine)``, ``c_k`` a
    ``points x points`` grid and ``w_k ~ N(0, sigma_tps)`` 2-D, ``U(r) = r^2 log r`` (Euclidean; MRAA uses an L1
    distance and one scalar weight for both axes). The Jacobian is closed-form (MRAA differentiates with autograd).
    """

    def __init__(self, batch: int, sigma_affine: float = 0.05, sigma_tps: float = 0.005, points: int = 5,
                 device=None, dtype=None, rng: Optional[torch.Generator] = None):
        kw = dict(device=device, dtype=dtype or torch.get_default_dtype())
        eye = torch.eye(2, 3, **kw)
        self.theta = eye + sigma_affine * torch.randn(batch, 2, 3, generator=rng, **kw)  # [B, 2, 3]
        self.control_points = identity_grid(points, points, **kw).reshape(points * points, 2)  # [P, 2]
        self.control_params = sigma_tps * torch.randn(batch, points * points, 2, generator=rng, **kw)
        self.eps = 1e-9

    def _offsets(self, coords: Tensor) -> tuple[Tensor, Tensor]:
        d = coords[:, :, None, :] - self.control_points.to(coords.dtype)  # [B, N, P, 2]
        r2 = (d * d).sum(-1) + self.eps  # [B, N, P]
        return d, r2

    def warp_coordinates(self, coords: Tensor) -> Tensor:
        """``coords [B, N, 2] -> T(coords) [B, N, 2]``."""
        theta = self.theta.to(coords.dtype)
        out = apply_2x2(theta[:, None, :, :2], coords) + theta[:, None, :, 2]  # [B, N, 2]
        d, r2 = self._offsets(coords)
        u = 0.5 * r2 * torch.log(r2)  # r^2 log r, [B, N, P]
        return out + (u[..., None] * self.control_params[:, None].to(coords.dtype)).sum(2)

    def jacobian(self, coords: Tensor) -> Tensor:
        """``coords [B, N, 2] -> dT/dp [B, N, 2, 2]`` (``dU/dp = (log r^2 + 1)(p - c)``)."""
        d, r2 = self._offsets(coords)
        g = torch.log(r2) + 1  # [B, N, P]
        w = self.control_params[:, None, :, :, None].to(coords.dtype)  # [B, 1, P, 2, 1]
        tps = (w * (g[..., None, None] * d[..., None, :])).sum(2)  # [B, N, 2, 2]
        return self.theta[:, None, :, :2].to(coords.dtype) + tps

    def transform_frame(self, frame: Tensor) -> Tensor:
        """``frame [B, C, H, W] -> frame(T(p)) [B, C, H, W]`` (reflection padding)."""
        b, _, h, w = frame.shape
        grid = identity_grid(h, w, device=frame.device, dtype=frame.dtype).reshape(1, h * w, 2).expand(b, -1, -1)
        grid = self.warp_coordinates(grid).view(b, h, w, 2)
        return warp(frame, grid, padding_mode="reflection")


class EquivarianceLoss(nn.Module):
    """MRAA equivariance: regions found in a randomly warped driving frame, mapped back through the warp, must match
    the driving frame's regions. ``shift = mean|mu_d - T(mu_t)|``; ``affine = mean|I - A_d^-1 J_T(mu_t) A_t|``
    (sign-corrected like the relative region affines). Returns ``{"shift": ..., "affine": ...}`` (affine only when
    the regions carry affines)."""

    def __init__(self, sigma_affine: float = 0.05, sigma_tps: float = 0.005, points_tps: int = 5,
                 revert_axis_swap: bool = True):
        super().__init__()
        self.sigma_affine, self.sigma_tps, self.points_tps = sigma_affine, sigma_tps, points_tps
        self.revert_axis_swap = revert_axis_swap

    def forward(self, region_predictor: RegionPredictor, driving: Tensor, driving_regions: RegionParams,
                rng: Optional[torch.Generator] = None) -> dict[str, Tensor]:
        tf = RandomTPS(driving.shape[0], self.sigma_affine, self.sigma_tps, self.points_tps,
                       device=driving.device, dtype=driving.dtype, rng=rng)
        transformed = region_predictor(tf.transform_frame(driving))
        shift_t = transformed.shift.to(driving_regions.shift.dtype)  # [B, R, 2]
        out = {"shift": (driving_regions.shift - tf.warp_coordinates(shift_t)).abs().mean()}
        if driving_regions.affine is not None and transformed.affine is not None:
            a_t = matmul_2x2(tf.jacobian(shift_t), transformed.affine)  # [B, R, 2, 2]
            value = matmul_2x2(inverse_2x2(driving_regions.affine), a_t)
            if self.revert_axis_swap:
                value = positive_axis(value)
            eye = torch.eye(2, device=value.device, dtype=value.dtype)
            out["affine"] = (eye - value).abs().mean()
        return out


# --------------------------------------------------------------------------------------------- total loss


@dataclass
class LFAELossConfig:
    """Weights of the LFAE loss terms.

    MRAA weighs its perceptual pyramid 10 per VGG layer and the equivariance terms 10; the perceptual sum is orders
    of magnitude larger than a pixel L1, so with the pixel pyramid as main term the equivariance weights default
    lower (0.1) to keep reconstruction dominant. The perceptual term needs ``vgg_weights_path``.
    """

    reconstruction_weight: float = 1.0
    # the same pixel pyramid on the decoder's own rendering (LFAE forward's ``decoded``, before the warped source
    # image is blended in): not in the paper. Without it the decoder is trained only through 1 - occlusion, so while
    # the occlusion map is ~1 it never learns to paint and the map never has a reason to fall (issue 21).
    decoder_weight: float = 0.0
    # occlusion supervision (not in the paper): the occlusion map is pulled (BCE) toward exp(-max(r - margin, 0) /
    # tau), r = the warp-only rendering's absolute error, channel-mean, pooled to the latent grid: 1 where warping
    # the source explains the driving frame, toward 0 where it shows content the source does not have.
    occlusion_weight: float = 0.0
    occlusion_margin: float = 0.02
    occlusion_tau: float = 0.04
    scales: tuple[float, ...] = (1.0, 0.5, 0.25, 0.125)
    perceptual_weight: float = 0.0
    vgg_weights_path: Optional[str] = None
    perceptual_layer_weights: tuple[float, ...] = (10.0, 10.0, 10.0, 10.0, 10.0)
    equivariance_shift_weight: float = 0.1
    equivariance_affine_weight: float = 0.1
    sigma_affine: float = 0.05
    sigma_tps: float = 0.005
    points_tps: int = 5

    def __post_init__(self) -> None:
        if self.perceptual_weight > 0 and not self.vgg_weights_path:
            raise ValueError("LFAELossConfig: perceptual_weight > 0 needs vgg_weights_path (a local torchvision "
                             "vgg19 state dict); set perceptual_weight=0 to use the pixel pyramid only")
        if not self.scales:
            raise ValueError("LFAELossConfig: scales must not be empty")
        for name in ("decoder_weight", "occlusion_weight", "occlusion_margin"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"LFAELossConfig: {name} must be >= 0, got {getattr(self, name)}")
        if not self.occlusion_tau > 0:
            raise ValueError(f"LFAELossConfig: occlusion_tau must be > 0, got {self.occlusion_tau}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "LFAELossConfig":
        from lfdm_bench.config import from_dict

        return from_dict(cls, data, "lfae_loss")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class LFAELoss(nn.Module):
    """Weighted LFAE loss. ``loss_fn(model, source, driving) -> (total, terms, output)`` where ``terms`` holds the
    unweighted detached scalars and ``output`` is ``model(source, driving)``. Move it to the model's device."""

    def __init__(self, config: Optional[LFAELossConfig] = None, num_channels: int = 3):
        super().__init__()
        self.config = c = config or LFAELossConfig()
        self.reconstruction = MultiScaleReconstructionLoss(c.scales, num_channels)
        self.perceptual = (VGG19Perceptual(c.vgg_weights_path, c.scales, c.perceptual_layer_weights)
                           if c.perceptual_weight > 0 else None)
        self.equivariance = EquivarianceLoss(c.sigma_affine, c.sigma_tps, c.points_tps)

    def forward(self, model: nn.Module, source: Tensor, driving: Tensor,
                rng: Optional[torch.Generator] = None) -> tuple[Tensor, dict[str, Tensor], dict[str, Any]]:
        c = self.config
        out = model(source, driving)
        lfae = getattr(model, "module", model)  # unwrap DDP
        weighted = {"reconstruction": (c.reconstruction_weight, self.reconstruction(out["prediction"], driving))}
        if c.decoder_weight > 0:
            weighted["decoder"] = (c.decoder_weight, self.reconstruction(out["decoded"], driving))
        if c.occlusion_weight > 0:
            occ = out["occlusion"]  # [B, 1, h, w]
            with torch.no_grad():
                r = (out["deformed"] - driving).abs().mean(dim=1, keepdim=True)  # [B, 1, H, W]
                r = torch.nn.functional.adaptive_avg_pool2d(r, tuple(occ.shape[-2:]))  # [B, 1, h, w]
                target = torch.exp(-(r - c.occlusion_margin).clamp_min(0) / c.occlusion_tau)
            bce = torch.nn.functional.binary_cross_entropy(occ.float().clamp(1e-6, 1 - 1e-6), target.float())
            weighted["occlusion"] = (c.occlusion_weight, bce)
        if self.perceptual is not None:
            weighted["perceptual"] = (c.perceptual_weight, self.perceptual(out["prediction"], driving))
        if c.equivariance_shift_weight > 0 or c.equivariance_affine_weight > 0:
            eq = self.equivariance(lfae.region_predictor, driving, out["regions_driving"], rng)
            weighted["equivariance_shift"] = (c.equivariance_shift_weight, eq["shift"])
            if "affine" in eq:
                weighted["equivariance_affine"] = (c.equivariance_affine_weight, eq["affine"])
        total = sum(w * v for w, v in weighted.values())
        return total, {k: v.detach() for k, (_, v) in weighted.items()}, out
