"""VCNN: a small video CNN used as the FVD detector of the embedded datasets (a reduced relative of I3D).

Why not I3D: the Kinetics I3D needs 224x224 input; the embedded benchmark evaluates 32x32 clips, and upsampling them
7x made the evaluation cost ~400 s per benchmark while its random-weight variant saw motion only. VCNN keeps I3D's
ingredients (3D convolution units over space and time, a normalisation, a ReLU-family non-linearity, strided
downsampling, global average pooling, a linear embedding) at the native evaluation resolution:

=====  =====================================================  ===========================
stage  layer                                                    output [C, T, H, W]
=====  =====================================================  ===========================
input  frames x and g (x - x[frame 0]) stacked on channels      [6, 16, 32, 32]
1      conv 3x3x3, stride (1, 2, 2)   + GroupNorm + SiLU          [w, 16, 16, 16]
2      conv 3x3x3, stride (2, 2, 2)   + GroupNorm + SiLU          [2w, 8, 8, 8]
3      conv 3x3x3, stride 1           + GroupNorm + SiLU          [2w, 8, 8, 8]
4      conv 3x3x3, stride (2, 2, 2)   + GroupNorm + SiLU          [4w, 4, 4, 4]
5      conv 3x3x3, stride 1           + GroupNorm + SiLU          [4w, 4, 4, 4]
pool   average to a coarse grid (pool_t, pool_s, pool_s)        [4w, 4, 2, 2]
embed  flatten, linear 4w * 16 -> D, fixed standardisation       [D]     <- the FVD feature
=====  =====================================================  ===========================

(sizes for the default 16 frames at 32x32, width ``w`` and grid 4 x 2 x 2). The coarse grid keeps *when* (4 time
bins) and *where* (image quadrants) things happen: a global mean over time and space lost them, and with it the
difference between, e.g., a right-arm and a left-arm action or a swipe and its reverse (a class probe on unseen
synth-actions subjects scored 63% with the global mean, against 97% for a linear probe on raw frame differences
on an 8x8 grid). GroupNorm instead of BatchNorm: a video's feature does
not depend on the other videos of its batch, nor on running statistics. The frame-difference channels make motion
as visible to the first layer as appearance (the random-weight I3D's lesson: raw frames of small, slowly moving
faces hide motion). The standardisation (``feat_mean`` / ``feat_std``, buffers measured on the detector's training
corpus after training) gives every feature dimension unit variance on real corpus videos, so Fréchet distances are
in units of the corpus' own spread.

Input contract of :meth:`VCNN.forward`: float ``[B, 3, T, S, S]`` in ``[-1, 1]`` with ``S = config.input_size``;
:func:`prepare_videos` brings any ``[B, T, 3, H, W]`` uint8 / float ``[0, 1]`` batch there (bilinear, antialiased,
aspect not kept -- the evaluation protocol already pads frames to squares -- and nothing at all when ``H = W = S``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["VCNNConfig", "VCNN", "prepare_videos", "RESIZE_RULE"]

RESIZE_RULE = ("frames resized to input_size x input_size by bilinear interpolation (antialias, align_corners=False, "
               "aspect not kept); identity when already that size")


@dataclass(frozen=True)
class VCNNConfig:
    """Architecture of a :class:`VCNN` (stored in the detector's metadata).

    Attributes:
        width: channels of stage 1 (stages 2-3: 2x, stages 4-5: 4x).
        feature_dim: D, the dimension of the FVD feature.
        input_size: side S of the square frames the network sees (the embedded benchmark evaluates at 32).
        frames: clip length T it was trained on (other lengths run, but change the features).
        groups: GroupNorm groups (must divide ``width``).
        diff_gain: factor on the frame-difference channels (differences of small moving parts are small; scaled,
            they reach the first layer with the frames' magnitude, and motion is learnt as early as appearance).
        pool_t, pool_s: the grid (time bins, spatial bins per side) the last feature map is averaged to before the
            linear embedding.
        n_classes: action / expression classes (class head).
        n_subjects: corpus subjects (identity head).
        appearance_numeric, appearance_categorical: sizes of the appearance heads (regressed numbers; the number of
            choices of each categorical attribute).
        motion_numeric, motion_categorical: the same for motion attributes of a take.
    """

    width: int = 32
    feature_dim: int = 16
    input_size: int = 32
    frames: int = 16
    groups: int = 8
    diff_gain: float = 4.0
    pool_t: int = 4
    pool_s: int = 2
    n_classes: int = 7
    n_subjects: int = 64
    appearance_numeric: int = 0
    appearance_categorical: tuple[int, ...] = field(default_factory=tuple)
    motion_numeric: int = 0
    motion_categorical: tuple[int, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        for name in ("width", "feature_dim", "input_size", "frames", "groups", "pool_t", "pool_s", "n_classes",
                     "n_subjects"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"VCNNConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.width % self.groups:
            raise ValueError(f"VCNNConfig.groups ({self.groups}) must divide width ({self.width})")
        object.__setattr__(self, "appearance_categorical", tuple(int(k) for k in self.appearance_categorical))
        object.__setattr__(self, "motion_categorical", tuple(int(k) for k in self.motion_categorical))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["appearance_categorical"] = list(self.appearance_categorical)
        d["motion_categorical"] = list(self.motion_categorical)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> VCNNConfig:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def prepare_videos(videos: Tensor, size: int) -> Tensor:
    """``[B, T, 3, H, W]`` uint8 or float in ``[0, 1]`` -> float32 ``[B, 3, T, size, size]`` in ``[-1, 1]``."""
    if not isinstance(videos, Tensor) or videos.ndim != 5 or videos.shape[2] != 3:
        shape = tuple(videos.shape) if isinstance(videos, Tensor) else type(videos).__name__
        raise ValueError(f"VCNN expects videos [B, T, 3, H, W], got {shape}")
    if videos.dtype == torch.uint8:
        x = videos.float() / 255.0
    elif videos.is_floating_point():
        x = videos.float()
    else:
        raise TypeError(f"videos must be uint8 in [0, 255] or float in [0, 1], got dtype {videos.dtype}")
    b, t, c, h, w = x.shape
    if (h, w) != (size, size):
        x = F.interpolate(x.reshape(b * t, c, h, w), size=(size, size), mode="bilinear", align_corners=False,
                          antialias=True).reshape(b, t, c, size, size)
    return (x * 2.0 - 1.0).permute(0, 2, 1, 3, 4).contiguous()  # [B, 3, T, S, S]


class _Unit(nn.Sequential):
    """conv3d 3x3x3 (padding 1) -> GroupNorm -> SiLU: ``[B, cin, T, H, W] -> [B, cout, T / st, H / ss, W / ss]``."""

    def __init__(self, cin: int, cout: int, stride: tuple[int, int, int], groups: int) -> None:
        super().__init__(nn.Conv3d(cin, cout, 3, stride=stride, padding=1, bias=False),
                         nn.GroupNorm(min(groups, cout), cout), nn.SiLU())


class VCNN(nn.Module):
    """The detector network (see the module docstring for the layer table).

    ``forward(x)`` with ``x`` float ``[B, 3, T, S, S]`` in ``[-1, 1]`` returns the standardised FVD feature
    ``[B, D]``; :meth:`embed` the raw (unstandardised) feature; :meth:`heads` the training heads' outputs.
    """

    def __init__(self, config: VCNNConfig) -> None:
        super().__init__()
        self.config = config
        w, g = config.width, config.groups
        self.body = nn.Sequential(
            _Unit(6, w, (1, 2, 2), g),
            _Unit(w, 2 * w, (2, 2, 2), g),
            _Unit(2 * w, 2 * w, (1, 1, 1), g),
            _Unit(2 * w, 4 * w, (2, 2, 2), g),
            _Unit(4 * w, 4 * w, (1, 1, 1), g),
        )
        d = config.feature_dim
        self.embed_proj = nn.Linear(4 * w * config.pool_t * config.pool_s ** 2, d)
        self.class_head = nn.Linear(d, config.n_classes)
        self.subject_head = nn.Linear(d, config.n_subjects)
        self.app_num_head = nn.Linear(d, max(config.appearance_numeric, 1))
        self.app_cat_head = nn.Linear(d, max(sum(config.appearance_categorical), 1))
        self.mot_num_head = nn.Linear(d, max(config.motion_numeric, 1))
        self.mot_cat_head = nn.Linear(d, max(sum(config.motion_categorical), 1))
        self.register_buffer("feat_mean", torch.zeros(d))
        self.register_buffer("feat_std", torch.ones(d))

    def embed(self, x: Tensor) -> Tensor:
        """``[B, 3, T, S, S]`` in ``[-1, 1]`` -> raw feature ``[B, D]``."""
        if x.ndim != 5 or x.shape[1] != 3:
            raise ValueError(f"VCNN.embed expects [B, 3, T, S, S], got {tuple(x.shape)}")
        if x.shape[2] < 2:
            raise ValueError(f"VCNN needs at least 2 frames (frame differences), got T={x.shape[2]}")
        x = torch.cat([x, self.config.diff_gain * (x - x[:, :, :1])], dim=1)  # [B, 6, T, S, S]
        h = self.body(x)  # [B, 4w, T/4, S/8, S/8]
        c = self.config
        h = F.adaptive_avg_pool3d(h, (c.pool_t, c.pool_s, c.pool_s))  # [B, 4w, pool_t, pool_s, pool_s]
        return self.embed_proj(h.flatten(1))

    def standardise(self, f: Tensor) -> Tensor:
        return (f - self.feat_mean) / self.feat_std

    def forward(self, x: Tensor) -> Tensor:
        """The FVD feature: standardised embedding ``[B, D]``."""
        return self.standardise(self.embed(x))

    def heads(self, f: Tensor) -> dict[str, Tensor]:
        """Training heads on the raw feature ``f`` [B, D]: logits / regressions keyed by target name."""
        return {"class": self.class_head(f), "subject": self.subject_head(f), "app_num": self.app_num_head(f),
                "app_cat": self.app_cat_head(f), "mot_num": self.mot_num_head(f), "mot_cat": self.mot_cat_head(f)}
