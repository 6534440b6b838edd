"""ImaGINator (Wang, Bilinski, Bremond, Dantcheva, WACV 2020) at the embedded benchmark's size: a conditional video GAN
that turns one image, a class and noise into a video.

- :class:`VideoGenerator`: an image encoder (2D, 32 -> 16 -> 8 -> 4 px) whose features at every scale are fused into a
  video decoder (3D, from a ``[T/8, 4, 4]`` code up to ``[T, 32, 32]``): the *spatio-temporal fusion* of the paper,
  here the encoder's feature map repeated over time and concatenated with the decoder's at the same resolution (a
  3D U-Net skip); the code itself fuses the image's 4x4 features, the noise ``z`` and the class embedding. Output
  frames in [-1, 1] (tanh), the whole video, frame 0 included, generated.
- :class:`ImageDiscriminator` (frames) and :class:`VideoDiscriminator` (clips), both class-conditional by projection
  (Miyato & Koyama 2018: ``logit = w.h + <embed(y), h>``).
- :class:`ImaGINator`: the three, and the training objective (:meth:`ImaGINator.loss`): hinge GAN losses of both
  discriminators plus ``rec_weight`` x the L1 distance of the generated to the real video from the same first frame
  and class (the paper's reconstruction term).

Where the 32-px version differs from the paper's (64 px, 32 frames): one level less in encoder and decoder, channel
widths ~1/4, the last two decoder levels factorised into a spatial 1x3x3 and a temporal 3x1x1 convolution ((2+1)D,
Tran et al. 2018) to fit a 2-core CPU's budget, GroupNorm instead of BatchNorm (batches of 8), and a null class
(index ``n_classes``, dropped in with ``class_drop`` during training) so that the generator also runs without a
class (the paper's unconditional experiment). Generator and discriminators take one simultaneous step per batch (one
optimiser over both; the generator's adversarial term goes through the discriminators with their parameters
detached, the discriminators' loss sees the generated video detached), instead of the paper's alternating updates.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

__all__ = ["ImaGINatorConfig", "VideoGenerator", "ImageDiscriminator", "VideoDiscriminator", "ImaGINator"]


@dataclass
class ImaGINatorConfig:
    image_size: int = 32
    n_frames: int = 16
    n_classes: int = 7
    channels: int = 16  # width of the 32-px level; x2 per level down (16, 32, 64, 128)
    z_dim: int = 64
    class_dim: int = 32
    groups: int = 8
    rec_weight: float = 10.0  # L1 reconstruction weight against the (hinge) adversarial terms
    class_drop: float = 0.1  # fraction of training videos generated with the null class

    def __post_init__(self) -> None:
        if self.image_size != 32:
            raise ValueError(f"ImaGINator is built for 32x32 frames here, got image_size={self.image_size}")
        if self.n_frames < 2:
            raise ValueError(f"n_frames must be >= 2, got {self.n_frames}")
        if self.channels % self.groups:
            raise ValueError(f"channels ({self.channels}) must be divisible by groups ({self.groups})")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ImaGINatorConfig":
        return cls(**d)


def _act() -> nn.Module:
    return nn.LeakyReLU(0.2, inplace=True)


class _Fuse3d(nn.Module):
    """Upsample the video features x2 in time and space, concatenate the image features of that scale (repeated over
    time: the spatio-temporal fusion), convolve: full 3x3x3 or (2+1)D."""

    def __init__(self, c_in: int, c_skip: int, c_out: int, groups: int, factorised: bool):
        super().__init__()
        c = c_in + c_skip
        convs = ([nn.Conv3d(c, c_out, (1, 3, 3), padding=(0, 1, 1)), nn.GroupNorm(groups, c_out), _act(),
                  nn.Conv3d(c_out, c_out, (3, 1, 1), padding=(1, 0, 0))] if factorised
                 else [nn.Conv3d(c, c_out, 3, padding=1)])
        self.net = nn.Sequential(*convs, nn.GroupNorm(groups, c_out), _act())

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        """``x [B, c_in, t, h, w]``, ``skip [B, c_skip, 2h, 2w]`` -> ``[B, c_out, 2t, 2h, 2w]``."""
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        skip = skip.unsqueeze(2).expand(-1, -1, x.shape[2], -1, -1)
        return self.net(torch.cat([x, skip], 1))


class VideoGenerator(nn.Module):
    """``(image [B, 3, 32, 32] in [-1, 1], z [B, z_dim], y [B] class indices, n_classes = null) -> video
    [B, 3, T, 32, 32] in [-1, 1]``."""

    def __init__(self, cfg: ImaGINatorConfig):
        super().__init__()
        self.cfg = cfg
        c, g = cfg.channels, cfg.groups

        def down(a: int, b: int) -> nn.Module:
            return nn.Sequential(nn.Conv2d(a, b, 4, stride=2, padding=1), nn.GroupNorm(g, b), _act())

        self.enc1 = nn.Sequential(nn.Conv2d(3, c, 3, padding=1), nn.GroupNorm(g, c), _act())  # 32 px
        self.enc2, self.enc3, self.enc4 = down(c, 2 * c), down(2 * c, 4 * c), down(4 * c, 8 * c)  # 16, 8, 4 px
        self.embed = nn.Embedding(cfg.n_classes + 1, cfg.class_dim)  # the last row: the null class
        self.t0 = -(-cfg.n_frames // 8)  # code length in time; the decoder doubles it 3 times, then crops to T
        self.code = nn.Linear(cfg.z_dim + cfg.class_dim, 8 * c * self.t0 * 16)
        self.start = nn.Sequential(nn.Conv3d(16 * c, 8 * c, 3, padding=1), nn.GroupNorm(g, 8 * c), _act())
        self.up3 = _Fuse3d(8 * c, 4 * c, 4 * c, g, factorised=False)  # -> 8 px
        self.up2 = _Fuse3d(4 * c, 2 * c, 2 * c, g, factorised=True)  # -> 16 px
        self.up1 = _Fuse3d(2 * c, c, c, g, factorised=True)  # -> 32 px
        self.out = nn.Conv3d(c, 3, (1, 3, 3), padding=(0, 1, 1))

    def forward(self, image: torch.Tensor, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        e1 = self.enc1(image)
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        e4 = self.enc4(e3)  # [B, 8c, 4, 4]
        b = image.shape[0]
        code = self.code(torch.cat([z, self.embed(y)], 1)).view(b, -1, self.t0, 4, 4)  # [B, 8c, t0, 4, 4]
        h = self.start(torch.cat([code, e4.unsqueeze(2).expand(-1, -1, self.t0, -1, -1)], 1))
        h = self.up1(self.up2(self.up3(h, e3), e2), e1)  # [B, c, 8*t0, 32, 32]
        return torch.tanh(self.out(h[:, :, : self.cfg.n_frames]))


class _Projection(nn.Module):
    """Class-conditional logit of pooled features: ``w.h + b + <embed(y), h>``."""

    def __init__(self, dim: int, n_classes: int):
        super().__init__()
        self.linear = nn.Linear(dim, 1)
        self.embed = nn.Embedding(n_classes, dim)
        nn.init.zeros_(self.embed.weight)

    def forward(self, h: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.linear(h).squeeze(1) + (self.embed(y) * h).sum(1)


class ImageDiscriminator(nn.Module):
    """Frames ``[N, 3, 32, 32]`` in [-1, 1] and their classes ``[N]`` -> logits ``[N]``."""

    def __init__(self, cfg: ImaGINatorConfig):
        super().__init__()
        c = cfg.channels
        self.net = nn.Sequential(nn.Conv2d(3, c, 4, 2, 1), _act(), nn.Conv2d(c, 2 * c, 4, 2, 1), _act(),
                                 nn.Conv2d(2 * c, 4 * c, 4, 2, 1), _act())  # 16, 8, 4 px
        self.head = _Projection(4 * c, cfg.n_classes)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.head(self.net(x).sum((2, 3)), y)


class VideoDiscriminator(nn.Module):
    """Clips ``[B, 3, T, 32, 32]`` in [-1, 1] and their classes ``[B]`` -> logits ``[B]``."""

    def __init__(self, cfg: ImaGINatorConfig):
        super().__init__()
        c = cfg.channels
        self.net = nn.Sequential(nn.Conv3d(3, c, 4, 2, 1), _act(), nn.Conv3d(c, 2 * c, 4, 2, 1), _act(),
                                 nn.Conv3d(2 * c, 4 * c, (3, 4, 4), (1, 2, 2), 1), _act())
        self.head = _Projection(4 * c, cfg.n_classes)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.head(self.net(x).sum((2, 3, 4)), y)


class ImaGINator(nn.Module):
    """The generator and both discriminators, trained together by :meth:`loss`."""

    def __init__(self, cfg: ImaGINatorConfig):
        super().__init__()
        self.cfg = cfg
        self.generator = VideoGenerator(cfg)
        self.image_d = ImageDiscriminator(cfg)
        self.video_d = VideoDiscriminator(cfg)

    def generate(self, image: torch.Tensor, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        """``image [B, 3, H, W]`` in [0, 1], ``z [B, z_dim]``, classes ``[B]`` (``None``: the null class) -> video
        ``[B, 3, T, H, W]`` in [0, 1]."""
        if y is None:
            y = torch.full((image.shape[0],), self.cfg.n_classes, dtype=torch.long, device=image.device)
        return (self.generator(image * 2 - 1, z, y) + 1) / 2

    def forward(self, video: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The training objective (:meth:`loss`), as ``forward`` so that a multi-process wrapper sees it."""
        return self.loss(video, y)

    @staticmethod
    def _frozen(module: nn.Module, *args: torch.Tensor) -> torch.Tensor:
        """``module(*args)`` with its parameters detached: gradients reach the inputs only."""
        return functional_call(module, {n: p.detach() for n, p in module.named_parameters()}, args)

    def loss(self, video: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """One simultaneous step's objective on real clips ``video [B, 3, T, H, W]`` in [0, 1] and classes ``[B]``:
        the discriminators' hinge loss on real vs generated (detached) videos and frames, plus the generator's
        adversarial loss (through frozen discriminators) and ``rec_weight`` x L1 to the real video. Uses the global
        RNG (noise, null-class drop)."""
        cfg = self.cfg
        real = video * 2 - 1
        b, _, t = real.shape[:3]
        z = torch.randn(b, cfg.z_dim, device=real.device)
        drop = torch.rand(b, device=real.device) < cfg.class_drop
        fake = self.generator(real[:, :, 0], z, torch.where(drop, torch.full_like(y, cfg.n_classes), y))

        def frames(x: torch.Tensor) -> torch.Tensor:  # [B, 3, T, H, W] -> [B*T, 3, H, W]
            return x.transpose(1, 2).reshape(b * t, *x.shape[1:2], *x.shape[3:])

        yt = y.repeat_interleave(t)
        d_video = (F.relu(1 - self.video_d(real, y)).mean() + F.relu(1 + self.video_d(fake.detach(), y)).mean())
        d_image = (F.relu(1 - self.image_d(frames(real), yt)).mean()
                   + F.relu(1 + self.image_d(frames(fake.detach()), yt)).mean())
        g_adv = -self._frozen(self.video_d, fake, y).mean() - self._frozen(self.image_d, frames(fake), yt).mean()
        rec = (fake - real).abs().mean()
        total = d_video + d_image + g_adv + cfg.rec_weight * rec
        return total, {"d_video": d_video.detach(), "d_image": d_image.detach(), "g_adv": g_adv.detach(),
                       "rec_l1": rec.detach()}
