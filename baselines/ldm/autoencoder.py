"""LDM baseline, stage 1: a KL-regularised image autoencoder with a 1/4- or 1/2-resolution latent grid.

The paper's LDM baseline runs the same kind of 3D U-Net diffusion as LFDM, but over image-autoencoder latents of
every frame instead of over latent flows. This module is that autoencoder, shaped like LDM's ``AutoencoderKL``
(Rombach et al. 2022, "KL-f4"): a ResNet encoder with stride-2 convolutions, an optional single-head
self-attention block in the middle, a diagonal Gaussian posterior, and a mirrored decoder with nearest-neighbour
upsampling. With three channel levels the downsampling factor is 4 ("KL-f4"), so 128x128 frames give 32x32
latents, the same grid as LFDM's latent flow; with two levels it is 2 ("KL-f2"), for small frames whose detail a
4x-downsampled grid cannot keep (32x32 frames: 16x16 latents).

Tensor contract (checked at the public entry points):

- images ``[B, 3, H, W]`` float in [0, 1], ``H`` and ``W`` multiples of 4 (the model is fully convolutional;
  ``cfg.image_size`` is the training size and the presets' reference);
- latents ``[B, c, H/f, W/f]`` with ``c = cfg.latent_channels`` and ``f = cfg.downsample_factor`` (4 or 2);
- videos ``[B, 3, T, H, W]`` and video latents ``[B, c, T, H/f, W/f]`` (frames are coded independently);
- reconstructions pass through a **sigmoid**, so they lie in (0, 1) like the LFAE generator's output and keep
  gradients everywhere (a clamp would zero them outside the range).

Differences from LDM, on purpose: inputs are in [0, 1] (mapped to [-1, 1] inside the encoder), there is no GAN
discriminator and no LPIPS (no pretrained weights can be downloaded here): :class:`AutoencoderLoss` uses the
LFAE's multi-scale L1 pyramid, plus a VGG19 perceptual loss when local weights are given.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from lfdm_bench.models.lfae.losses import MultiScaleReconstructionLoss, VGG19Perceptual

SIZE_MULTIPLE = 4  # frame sides: multiples of the largest downsampling factor (4, as the paper's KL-f4)


@dataclass
class KLAutoencoderConfig:
    """Constructor arguments of :class:`KLAutoencoder`; stored in checkpoints (see :meth:`to_dict`).

    image_size: training frame size (square), 32..128, a multiple of 4.
    base_channels: channels of the first level; level ``i`` has ``base_channels * channel_mult[i]``.
    channel_mult: 3 levels (2 stride-2 downsamplings: factor 4) or 2 levels (factor 2).
    num_res_blocks: ResNet blocks per encoder level (the decoder has one more per level, as in LDM).
    latent_channels: channels ``c`` of the latent (LDM's KL-f4 uses 3; 4 is the default here).
    kl_weight: weight of the KL term; it has LDM's meaning because the KL is divided by the number of pixel
        values (see :class:`AutoencoderLoss`).
    mid_attention: single-head self-attention (SDPA) at the lowest resolution in encoder and decoder.
    norm_groups: GroupNorm groups; must divide every level's channel count.
    """

    image_size: int = 128
    base_channels: int = 128
    channel_mult: tuple[int, ...] = (1, 2, 4)
    num_res_blocks: int = 2
    latent_channels: int = 4
    kl_weight: float = 1e-6
    mid_attention: bool = True
    norm_groups: int = 32

    def __post_init__(self) -> None:
        self.channel_mult = tuple(self.channel_mult)
        if not (32 <= self.image_size <= 128) or self.image_size % SIZE_MULTIPLE:
            raise ValueError(f"image_size: expected a multiple of {SIZE_MULTIPLE} in 32..128, got {self.image_size}")
        if len(self.channel_mult) not in (2, 3) or any(m < 1 for m in self.channel_mult):
            raise ValueError(
                f"channel_mult: expected 3 positive multipliers (downsampling factor 4) or 2 (factor 2), "
                f"got {self.channel_mult}"
            )
        for name in ("base_channels", "num_res_blocks", "latent_channels", "norm_groups"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: expected a positive integer, got {getattr(self, name)}")
        bad = [self.base_channels * m for m in self.channel_mult if (self.base_channels * m) % self.norm_groups]
        if bad:
            raise ValueError(f"norm_groups={self.norm_groups} must divide every level's channels, not {bad}")
        if self.kl_weight < 0:
            raise ValueError(f"kl_weight: expected >= 0, got {self.kl_weight}")

    @classmethod
    def tiny(cls) -> "KLAutoencoderConfig":
        """CPU test size: 32x32 images -> 4x8x8 latents."""
        return cls(image_size=32, base_channels=16, channel_mult=(1, 2, 2), num_res_blocks=1, latent_channels=4,
                   mid_attention=True, norm_groups=8)

    @property
    def downsample_factor(self) -> int:
        """Image size / latent grid size: ``2 ** (len(channel_mult) - 1)`` (4 or 2)."""
        return 2 ** (len(self.channel_mult) - 1)

    @classmethod
    def paper(cls) -> "KLAutoencoderConfig":
        """LDM KL-f4-like sizes (ch 128, mults 1,2,4, 2 res blocks, mid attention): 128x128 -> 4x32x32."""
        return cls()

    def to_dict(self) -> dict[str, Any]:
        """Plain data for checkpoints (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "KLAutoencoderConfig":
        """Inverse of :meth:`to_dict`; unknown keys and wrong types raise ``lfdm_bench.config.ConfigError``."""
        from lfdm_bench.config import from_dict

        return from_dict(cls, data)


class DiagonalGaussian:
    """Posterior ``N(mean, exp(logvar))`` over latents of any shape ``[B, ...]`` (logvar clamped to [-30, 20])."""

    def __init__(self, mean: torch.Tensor, logvar: torch.Tensor):
        if mean.shape != logvar.shape:
            raise ValueError(f"mean and logvar shapes differ: {tuple(mean.shape)} vs {tuple(logvar.shape)}")
        self.mean = mean
        self.logvar = logvar.clamp(-30.0, 20.0)
        self.std = torch.exp(0.5 * self.logvar)

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """Reparameterised draw ``mean + std * eps``; ``generator`` may live on another device than the latents."""
        device = generator.device if generator is not None else self.mean.device
        eps = torch.randn(self.mean.shape, generator=generator, device=device, dtype=self.mean.dtype)
        return self.mean + self.std * eps.to(self.mean.device)

    def mode(self) -> torch.Tensor:
        return self.mean

    def kl(self) -> torch.Tensor:
        """``KL(q || N(0, I))`` summed over all but the batch dim -> ``[B]``: 0.5 * sum(mu^2 + var - 1 - logvar)."""
        kl = 0.5 * (self.mean.pow(2) + self.logvar.exp() - 1.0 - self.logvar)
        return kl.flatten(1).sum(dim=1)


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv3x3 twice with a (1x1 when channels change) skip. ``[B, Cin, H, W] -> [B, Cout, H, W]``."""

    def __init__(self, c_in: int, c_out: int, groups: int):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(groups, c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.norm2, self.conv2 = nn.GroupNorm(groups, c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class AttnBlock(nn.Module):
    """Single-head spatial self-attention (SDPA) with a residual. ``[B, C, H, W] -> [B, C, H, W]``."""

    def __init__(self, c: int, groups: int):
        super().__init__()
        self.norm = nn.GroupNorm(groups, c)
        self.qkv = nn.Conv2d(c, 3 * c, 1)
        self.proj = nn.Conv2d(c, c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, _, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).chunk(3, dim=1)  # 3 x [B, C, H, W]
        q, k, v = (rearrange(t, "b c h w -> b 1 (h w) c") for t in (q, k, v))  # [B, 1, HW, C]
        out = F.scaled_dot_product_attention(q, k, v)  # [B, 1, HW, C]
        out = rearrange(out, "b 1 (h w) c -> b c h w", h=h, w=w)
        return x + self.proj(out)


def _mid(c: int, groups: int, attention: bool) -> nn.Sequential:
    return nn.Sequential(ResBlock(c, c, groups), AttnBlock(c, groups) if attention else nn.Identity(),
                         ResBlock(c, c, groups))


class Encoder(nn.Module):
    """``[B, 3, H, W]`` in [-1, 1] -> ``[B, 2c, H/f, W/f]`` (mean and logvar stacked on channels)."""

    def __init__(self, cfg: KLAutoencoderConfig):
        super().__init__()
        g, chans = cfg.norm_groups, [cfg.base_channels * m for m in cfg.channel_mult]
        self.conv_in = nn.Conv2d(3, cfg.base_channels, 3, padding=1)
        layers: list[nn.Module] = []
        c = cfg.base_channels
        for i, c_out in enumerate(chans):
            for _ in range(cfg.num_res_blocks):
                layers.append(ResBlock(c, c_out, g))
                c = c_out
            if i < len(chans) - 1:
                layers.append(nn.Conv2d(c, c, 3, stride=2, padding=1))  # H -> H/2
        self.down = nn.Sequential(*layers)
        self.mid = _mid(c, g, cfg.mid_attention)
        self.out = nn.Sequential(nn.GroupNorm(g, c), nn.SiLU(), nn.Conv2d(c, 2 * cfg.latent_channels, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.mid(self.down(self.conv_in(x))))


class Decoder(nn.Module):
    """``[B, c, h, w]`` -> ``[B, 3, f*h, f*w]`` pre-activation (logits of the sigmoid)."""

    def __init__(self, cfg: KLAutoencoderConfig):
        super().__init__()
        g, chans = cfg.norm_groups, [cfg.base_channels * m for m in cfg.channel_mult]
        c = chans[-1]
        self.conv_in = nn.Conv2d(cfg.latent_channels, c, 3, padding=1)
        self.mid = _mid(c, g, cfg.mid_attention)
        layers: list[nn.Module] = []
        for i in reversed(range(len(chans))):
            for _ in range(cfg.num_res_blocks + 1):
                layers.append(ResBlock(c, chans[i], g))
                c = chans[i]
            if i > 0:
                layers += [nn.Upsample(scale_factor=2.0, mode="nearest"), nn.Conv2d(c, c, 3, padding=1)]  # h -> 2h
        self.up = nn.Sequential(*layers)
        self.out = nn.Sequential(nn.GroupNorm(g, c), nn.SiLU(), nn.Conv2d(c, 3, 3, padding=1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.out(self.up(self.mid(self.conv_in(z))))


def _check_images(x: torch.Tensor, name: str, ndim: int) -> None:
    layout = "[B, 3, H, W]" if ndim == 4 else "[B, 3, T, H, W]"
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.dim() != ndim or x.shape[1] != 3:
        got = f"{tuple(x.shape)} {x.dtype}" if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{name}: expected a float tensor {layout} (RGB in [0, 1]), got {got}")
    if x.shape[-1] % SIZE_MULTIPLE or x.shape[-2] % SIZE_MULTIPLE:
        raise ValueError(f"{name}: H and W must be multiples of {SIZE_MULTIPLE}, got {tuple(x.shape[-2:])}")
    lo, hi = (v.item() for v in torch.aminmax(x.detach()))  # one pass; tolerance for resampling overshoot
    if lo < -1e-3 or hi > 1 + 1e-3:
        raise ValueError(f"{name}: expected values in [0, 1], got [{lo:.3f}, {hi:.3f}] (for [-1, 1] use (x + 1) / 2)")


def _check_latents(z: torch.Tensor, name: str, ndim: int, channels: int) -> None:
    layout = "[B, c, h, w]" if ndim == 4 else "[B, c, T, h, w]"
    if not isinstance(z, torch.Tensor) or not z.is_floating_point() or z.dim() != ndim or z.shape[1] != channels:
        got = f"{tuple(z.shape)} {z.dtype}" if isinstance(z, torch.Tensor) else type(z).__name__
        raise ValueError(f"{name}: expected a float tensor {layout} with c={channels}, got {got}")


class KLAutoencoder(nn.Module):
    """LDM-style KL autoencoder, images ``[B, 3, H, W]`` in [0, 1] <-> latents ``[B, c, H/f, W/f]``.

    ``scale_factor`` (a persistent buffer, so it is saved in the state dict) standardises latents for the
    diffusion stage: set it from data with :meth:`fit_scale_factor` (``1 / std`` of the latents of a batch, LDM's
    recipe), then use :meth:`to_diffusion` / :meth:`from_diffusion`. A checkpoint needs only ``cfg.to_dict()``
    and ``state_dict()`` to rebuild the model.
    """

    scale_factor: torch.Tensor

    def __init__(self, cfg: KLAutoencoderConfig):
        super().__init__()
        self.cfg = cfg
        c = cfg.latent_channels
        self.encoder = Encoder(cfg)
        self.quant_conv = nn.Conv2d(2 * c, 2 * c, 1)
        self.post_quant_conv = nn.Conv2d(c, c, 1)
        self.decoder = Decoder(cfg)
        self.register_buffer("scale_factor", torch.tensor(1.0), persistent=True)

    # ---- images -------------------------------------------------------------------------------------------------
    def encode(self, x: torch.Tensor) -> DiagonalGaussian:
        """``x [B, 3, H, W]`` in [0, 1] -> posterior with mean/logvar ``[B, c, H/f, W/f]``."""
        _check_images(x, "encode(x)", 4)
        return self._encode(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """``z [B, c, h, w]`` (unscaled latents) -> ``[B, 3, f*h, f*w]`` in (0, 1) via a sigmoid."""
        _check_latents(z, "decode(z)", 4, self.cfg.latent_channels)
        return self._decode(z)

    def _encode(self, x: torch.Tensor) -> DiagonalGaussian:
        moments = self.quant_conv(self.encoder(x * 2.0 - 1.0))  # [B, 2c, H/f, W/f]
        mean, logvar = moments.chunk(2, dim=1)  # 2 x [B, c, H/f, W/f]
        return DiagonalGaussian(mean, logvar)

    def _decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decoder(self.post_quant_conv(z)))

    def forward(self, x: torch.Tensor, sample_posterior: bool = True,
                generator: torch.Generator | None = None) -> dict[str, Any]:
        """``x [B, 3, H, W]`` -> ``{"reconstruction": [B, 3, H, W], "posterior": DiagonalGaussian}``.

        Decodes a posterior sample (training, as in LDM) or its mean (``sample_posterior=False``).
        """
        posterior = self.encode(x)
        z = posterior.sample(generator) if sample_posterior else posterior.mode()
        return {"reconstruction": self.decode(z), "posterior": posterior}

    # ---- videos (frames coded independently, batched as B*T images) ---------------------------------------------
    def encode_video(self, v: torch.Tensor, sample: bool = False, generator: torch.Generator | None = None,
                     chunk_size: int | None = None) -> torch.Tensor:
        """``v [B, 3, T, H, W]`` in [0, 1] -> latents ``[B, c, T, H/f, W/f]`` (posterior mean, or a sample).

        Frames are flattened into one batch of ``B*T`` images; ``chunk_size`` caps how many go through the encoder
        at once (to bound memory on long clips), ``None`` = all at once.
        """
        _check_images(v, "encode_video(v)", 5)
        b = v.shape[0]
        frames = rearrange(v, "b c t h w -> (b t) c h w")  # [B*T, 3, H, W]
        zs = []
        for part in _chunks(frames, chunk_size):
            post = self._encode(part)
            zs.append(post.sample(generator) if sample else post.mode())  # [n, c, h, w]
        return rearrange(torch.cat(zs), "(b t) c h w -> b c t h w", b=b)  # [B, c, T, h, w]

    def decode_video(self, z: torch.Tensor, chunk_size: int | None = None) -> torch.Tensor:
        """``z [B, c, T, h, w]`` (unscaled latents) -> ``[B, 3, T, f*h, f*w]`` in (0, 1)."""
        _check_latents(z, "decode_video(z)", 5, self.cfg.latent_channels)
        b = z.shape[0]
        flat = rearrange(z, "b c t h w -> (b t) c h w")  # [B*T, c, h, w]
        frames = torch.cat([self._decode(part) for part in _chunks(flat, chunk_size)])  # [B*T, 3, H, W]
        return rearrange(frames, "(b t) c h w -> b c t h w", b=b)  # [B, 3, T, H, W]

    # ---- latent standardisation for the diffusion stage -----------------------------------------------------------
    @torch.no_grad()
    def fit_scale_factor(self, x: torch.Tensor, chunk_size: int | None = None) -> float:
        """Set ``scale_factor = 1 / std`` of the posterior means of ``x`` (images ``[B, 3, H, W]`` or videos
        ``[B, 3, T, H, W]``, in [0, 1]) and return it. Use a representative training batch."""
        if isinstance(x, torch.Tensor) and x.dim() == 5:
            z = self.encode_video(x, chunk_size=chunk_size)
        else:
            _check_images(x, "fit_scale_factor(x)", 4)
            z = torch.cat([self._encode(part).mode() for part in _chunks(x, chunk_size)])  # [B, c, h, w]
        return self.scale_from_latents(z)

    @torch.no_grad()
    def scale_from_latents(self, z: torch.Tensor) -> float:
        """:meth:`fit_scale_factor` on latents already encoded (posterior means ``[B, c, (T,) h, w]``)."""
        std = z.float().std().item()
        if not std > 1e-8:
            raise ValueError(f"fit_scale_factor: latent std is {std}; pass a batch with more than one distinct image")
        self.scale_factor.fill_(1.0 / std)
        return 1.0 / std

    def to_diffusion(self, z: torch.Tensor) -> torch.Tensor:
        """Autoencoder latents -> diffusion space (about unit variance): ``z * scale_factor``."""
        return z * self.scale_factor.to(z.dtype)

    def from_diffusion(self, x: torch.Tensor) -> torch.Tensor:
        """Diffusion-space latents -> autoencoder latents for :meth:`decode`: ``x / scale_factor``."""
        return x / self.scale_factor.to(x.dtype)


def _chunks(x: torch.Tensor, chunk_size: int | None) -> Sequence[torch.Tensor]:
    if chunk_size is None:
        return (x,)
    if chunk_size < 1:
        raise ValueError(f"chunk_size: expected a positive integer or None, got {chunk_size}")
    return x.split(chunk_size)


class AutoencoderLoss(nn.Module):
    """Reconstruction (multi-scale L1, + VGG19 perceptual if weights are given) + ``kl_weight * KL``.

    The KL (summed over latent elements, averaged over the batch) is divided by the number of pixel values per
    image, ``3*H*W``. LDM sums its reconstruction loss over pixels; our reconstruction terms are per-pixel means,
    so this keeps ``kl_weight`` on LDM's scale (1e-6 is LDM's KL-f4 value). The perceptual term is the LFAE's
    :class:`VGG19Perceptual` pyramid over the same ``scales`` (``perceptual_weights``: a local torchvision-layout
    vgg19 state dict); LDM uses LPIPS instead, which needs weights that cannot be downloaded here.
    """

    def __init__(self, kl_weight: float = 1e-6, scales: Sequence[float] = (1, 0.5, 0.25, 0.125),
                 perceptual_weights: str | Path | None = None, perceptual_weight: float = 1.0):
        super().__init__()
        if kl_weight < 0 or perceptual_weight < 0:
            raise ValueError(f"weights must be >= 0, got kl_weight={kl_weight}, perceptual_weight={perceptual_weight}")
        self.kl_weight = float(kl_weight)
        self.perceptual_weight = float(perceptual_weight)
        self.reconstruction = MultiScaleReconstructionLoss(scales=tuple(scales))
        self.perceptual = (VGG19Perceptual(perceptual_weights, scales=tuple(scales))
                           if perceptual_weights is not None else None)

    @classmethod
    def from_config(cls, cfg: KLAutoencoderConfig, **kwargs: Any) -> "AutoencoderLoss":
        """Loss with ``cfg.kl_weight``; other arguments as in the constructor."""
        return cls(kl_weight=cfg.kl_weight, **kwargs)

    def forward(self, target: torch.Tensor, reconstruction: torch.Tensor,
                posterior: DiagonalGaussian) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``target``, ``reconstruction`` ``[B, 3, H, W]`` in [0, 1] -> ``(total, parts)``.

        ``parts`` holds detached scalars ``rec``, ``kl`` (per-pixel-normalised, unweighted), ``perceptual`` (only
        when enabled) and ``total``.
        """
        if target.shape != reconstruction.shape:
            raise ValueError(f"target {tuple(target.shape)} and reconstruction {tuple(reconstruction.shape)} differ")
        rec = self.reconstruction(reconstruction, target)
        kl = posterior.kl().mean() / target[0].numel()
        total = rec + self.kl_weight * kl
        parts = {"rec": rec.detach(), "kl": kl.detach()}
        if self.perceptual is not None:
            perc = self.perceptual(reconstruction, target)
            total = total + self.perceptual_weight * perc
            parts["perceptual"] = perc.detach()
        parts["total"] = total.detach()
        return total, parts
