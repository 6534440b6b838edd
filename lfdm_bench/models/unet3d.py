"""Factorised space-time 3D U-Net denoiser (the LFDM flow-diffusion network, after video-diffusion-pytorch).

Layout everywhere: ``[B, C, T, H, W]`` (T = frames). Spatial work (convs ``(1, 3, 3)``, linear attention, down/up
sampling) never mixes frames; frames interact only through temporal self-attention (and, with
``norm_across_frames=True`` as in the official model, through the GroupNorm statistics, which span T).

Per level (``dim * dim_mults[i]`` channels): ``num_res_blocks`` ResNet blocks (conv, GroupNorm, FiLM scale/shift
from the time + text embedding, SiLU), spatial linear attention, temporal attention, one skip connection, then a
stride-2 spatial downsample (all levels but the last). Middle: ResNet block, full spatial attention, temporal
attention, ResNet block. The up path mirrors it (skip concatenated before the first block of each level,
transposed-conv upsampling). Output heads read ``cat(last features, init-conv features)``.

Conditioning:
  * ``cond_image``: concatenated on channels with the noisy input (z0 [B, 256, h, w] for LFDM, the first-frame
    latent for the LDM baseline); a 4-D image is broadcast over the T frames. The first conv is computed as
    ``conv(x) + conv(cond)`` (same function, same parameter count as one conv over the concatenation), so a 4-D
    condition is convolved once per video rather than once per frame (at LFDM's 259 -> 64 channels, 7x7 kernel
    and 40 frames this conv alone was ~30% of the network's FLOPs).
  * ``text_emb`` ``[B, text_dim]`` is concatenated to the time embedding (no cross-attention), as in LFDM. The null
    condition (classifier-free guidance) is a zero vector or a learned one (``learned_null_text``); it is used for
    the rows where ``null_text_mask`` is True, or for all rows when ``text_emb`` is None.
Temporal attention: softmax attention over frames with a learned T5-style bucketed relative position bias (passed
to ``F.scaled_dot_product_attention`` as its additive ``attn_mask``) and optional rotary embeddings on q/k.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from lfdm_bench.utils.params import count_params

# ----------------------------------------------------------------------------------------------------------------
# config


@dataclass
class UNet3DConfig:
    """Constructor arguments of :class:`UNet3D` (stored in checkpoints).

    in_channels / out_channels: channels of the diffused signal (3 for LFDM: flow x, flow y, occlusion).
    cond_channels: channels of the image condition concatenated to the input (256 for LFDM's z0; 0 = none).
    out_heads: channel counts of separate output heads, summing to out_channels (LFDM: (2, 1) = flow, occlusion);
    empty = one head of out_channels.
    dim, dim_mults, num_res_blocks, groups: widths, per-level multipliers, ResNet blocks per level, GroupNorm groups.
    attn_heads, attn_dim_head: attention heads and width per head (LFDM: 8 x 32).
    text_dim: size of the condition vector (768 for LFDM's BERT); 0 = unconditional.
    learned_null_text: learned null condition instead of zeros.
    use_spatial_attn: linear spatial attention at every level; use_temporal_attn: temporal attention everywhere
    (off = a frame-independent model, for ablations and tests).
    temporal_rotary: rotary embeddings in temporal attention; rel_pos_buckets / rel_pos_max_distance: T5 bias.
    norm_across_frames: GroupNorm statistics over (C/G, T, H, W) as in the official model; False = per frame.
    init_kernel_size: spatial kernel of the first conv (7 in LFDM).
    """

    in_channels: int = 3
    out_channels: int = 3
    cond_channels: int = 0
    out_heads: tuple[int, ...] = ()
    dim: int = 64
    dim_mults: tuple[int, ...] = (1, 2, 4, 8)
    num_res_blocks: int = 2
    groups: int = 8
    attn_heads: int = 4
    attn_dim_head: int = 32
    text_dim: int = 0
    learned_null_text: bool = False
    use_spatial_attn: bool = True
    use_temporal_attn: bool = True
    temporal_rotary: bool = True
    rel_pos_buckets: int = 32
    rel_pos_max_distance: int = 32
    norm_across_frames: bool = True
    init_kernel_size: int = 7

    def __post_init__(self) -> None:
        self.out_heads = tuple(self.out_heads)
        self.dim_mults = tuple(self.dim_mults)
        if self.in_channels < 1 or self.out_channels < 1 or self.cond_channels < 0 or self.text_dim < 0:
            raise ValueError("in_channels and out_channels must be >= 1, cond_channels and text_dim >= 0")
        if self.out_heads and sum(self.out_heads) != self.out_channels:
            raise ValueError(f"out_heads {self.out_heads} must sum to out_channels={self.out_channels}")
        if not self.dim_mults or self.num_res_blocks < 1:
            raise ValueError("dim_mults must be non-empty and num_res_blocks >= 1")
        for w in [self.dim] + [self.dim * m for m in self.dim_mults]:
            if w % self.groups:
                raise ValueError(f"channel width {w} is not divisible by groups={self.groups}")
        if self.temporal_rotary and self.attn_dim_head % 2:
            raise ValueError(f"rotary embeddings need an even attn_dim_head, got {self.attn_dim_head}")
        if self.init_kernel_size % 2 == 0:
            raise ValueError(f"init_kernel_size must be odd, got {self.init_kernel_size}")

    @classmethod
    def lfdm_paper(cls, **overrides) -> "UNet3DConfig":
        """The official LFDM flow-diffusion U-Net: 3 -> (2, 1) heads, z0 256 channels, BERT 768, dim 64, 8 heads."""
        base = dict(in_channels=3, out_channels=3, cond_channels=256, out_heads=(2, 1), dim=64,
                    dim_mults=(1, 2, 4, 8), attn_heads=8, attn_dim_head=32, text_dim=768)
        base.update(overrides)
        return cls(**base)


# ----------------------------------------------------------------------------------------------------------------
# embeddings


def sinusoidal_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Transformer sinusoidal embedding of (possibly fractional) timesteps ``t`` [B] -> [B, dim] float32."""
    half = dim // 2
    freqs = torch.exp(torch.arange(half, device=t.device, dtype=torch.float32) * -(math.log(10000) / (half - 1)))
    args = t.float()[:, None] * freqs[None]  # [B, half]
    return torch.cat([args.sin(), args.cos()], dim=-1)


class RelativePositionBias(nn.Module):
    """T5 bucketed relative position bias: ``bias[h, i, j] = emb[bucket(j - i), h]`` -> ``[heads, n, n]``."""

    def __init__(self, heads: int, num_buckets: int = 32, max_distance: int = 32) -> None:
        super().__init__()
        self.num_buckets, self.max_distance = num_buckets, max_distance
        self.embedding = nn.Embedding(num_buckets, heads)

    def bucket(self, rel: torch.Tensor) -> torch.Tensor:
        """Bidirectional T5 buckets: half for each sign, exact for |d| < nb/4, log-spaced up to max_distance."""
        nb = self.num_buckets // 2
        n = -rel
        ret = (n < 0).long() * nb
        n = n.abs()
        max_exact = nb // 2
        large = max_exact + (
            torch.log(n.float().clamp(min=1) / max_exact) / math.log(self.max_distance / max_exact) * (nb - max_exact)
        ).long()
        large = large.clamp(max=nb - 1)
        return ret + torch.where(n < max_exact, n, large)

    def forward(self, n: int, device: torch.device) -> torch.Tensor:
        pos = torch.arange(n, device=device)
        rel = pos[None, :] - pos[:, None]  # [n, n], key - query
        return self.embedding(self.bucket(rel)).permute(2, 0, 1)  # [heads, n, n]


def rotary_angles(n: int, dim_head: int, rotary_dim: int, device) -> torch.Tensor:
    """Rotary position angles (Su et al. 2021) ``[n, dim_head/2]`` float32 for positions 0..n-1: feature pair i
    (interleaved: features 2i, 2i+1) turns by ``pos * 10000^(-2i/rotary_dim)`` for the first rotary_dim/2 pairs,
    and by 0 (identity) for the rest."""
    r = rotary_dim // 2
    inv_freq = 1.0 / (10000 ** (torch.arange(0, r, device=device, dtype=torch.float32) * 2 / rotary_dim))  # [r]
    ang = torch.arange(n, device=device, dtype=torch.float32)[:, None] * inv_freq[None]  # [n, r]
    return F.pad(ang, (0, dim_head // 2 - r))  # [n, dim_head/2]


def apply_rotary(x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """Rotate interleaved feature pairs of ``x`` [..., n, dim_head] by ``angles`` [n, dim_head/2] (broadcast).
    fp32/fp64 use one complex multiply; other dtypes (bf16 under autocast) the real formula."""
    pairs = x.reshape(*x.shape[:-1], x.shape[-1] // 2, 2)  # [..., dh/2, 2], a view
    if x.dtype in (torch.float32, torch.float64):
        rot = torch.polar(torch.ones_like(angles), angles)  # complex64 [n, dh/2]
        rot = rot.to(torch.complex128) if x.dtype == torch.float64 else rot
        return torch.view_as_real(torch.view_as_complex(pairs) * rot).flatten(-2)
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    x0, x1 = pairs.unbind(-1)
    return torch.stack([x0 * cos - x1 * sin, x0 * sin + x1 * cos], dim=-1).flatten(-2)


# ----------------------------------------------------------------------------------------------------------------
# blocks


class GroupNorm3d(nn.GroupNorm):
    """GroupNorm on ``[B, C, T, H, W]``; statistics over (C/G, T, H, W), or over (C/G, H, W) per frame."""

    def __init__(self, groups: int, channels: int, across_frames: bool = True) -> None:
        super().__init__(groups, channels)
        self.across_frames = across_frames

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.across_frames:
            return super().forward(x)
        B, C, T, H, W = x.shape
        y = super().forward(x.transpose(1, 2).reshape(B * T, C, H, W))  # [B*T, C, H, W]
        return y.reshape(B, T, C, H, W).transpose(1, 2)


class Block(nn.Module):
    """Spatial conv (1, 3, 3) -> GroupNorm -> optional FiLM ``x * (1 + scale) + shift`` -> SiLU."""

    def __init__(self, dim: int, dim_out: int, groups: int, across_frames: bool) -> None:
        super().__init__()
        self.proj = nn.Conv3d(dim, dim_out, (1, 3, 3), padding=(0, 1, 1))
        self.norm = GroupNorm3d(groups, dim_out, across_frames)

    def forward(self, x: torch.Tensor, scale_shift: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        x = self.norm(self.proj(x))
        if scale_shift is not None:
            scale, shift = scale_shift  # [B, C, 1, 1, 1] each
            x = torch.addcmul(shift, x, scale + 1)
        return F.silu(x)


class ResnetBlock(nn.Module):
    """Two Blocks with FiLM from the embedding ``emb`` [B, emb_dim] in the first, plus a (1x1x1) residual."""

    def __init__(self, dim: int, dim_out: int, emb_dim: int, groups: int, across_frames: bool) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.SiLU(), nn.Linear(emb_dim, dim_out * 2))
        self.block1 = Block(dim, dim_out, groups, across_frames)
        self.block2 = Block(dim_out, dim_out, groups, across_frames)
        self.res_conv = nn.Conv3d(dim, dim_out, 1) if dim != dim_out else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        ss = self.mlp(emb)[:, :, None, None, None].chunk(2, dim=1)  # 2 x [B, C_out, 1, 1, 1]
        h = self.block2(self.block1(x, ss))
        return h + self.res_conv(x)


def _to_tokens(x: torch.Tensor, over: str) -> torch.Tensor:
    """[B, C, T, H, W] -> tokens with channels last: over='space': [B*T, H*W, C]; over='time': [B*H*W, T, C]."""
    B, C, T, H, W = x.shape
    if over == "space":
        return x.permute(0, 2, 3, 4, 1).reshape(B * T, H * W, C)
    return x.permute(0, 3, 4, 2, 1).reshape(B * H * W, T, C)


def _from_tokens(y: torch.Tensor, over: str, shape: torch.Size) -> torch.Tensor:
    """Inverse of :func:`_to_tokens` back to [B, C, T, H, W]."""
    B, C, T, H, W = shape
    if over == "space":
        return y.reshape(B, T, H, W, C).permute(0, 4, 1, 2, 3)
    return y.reshape(B, H, W, T, C).permute(0, 4, 3, 1, 2)


def _project_heads(tok: torch.Tensor, w_qkv: torch.Tensor, heads: int, dim_head: int):
    """q, k, v = tok @ W_{q,k,v}^T split into heads: [N, L, C] -> 3 x [N, heads, L, dh] (strided views).
    Three matmuls with slices of the fused weight instead of one matmul and a slice of its (large) output: the
    backward then needs no zero-filled [N, L, 3*heads*dh] gradient buffer (that cost ~25% of attention time)."""
    N, L, _ = tok.shape
    return [F.linear(tok, w).view(N, L, heads, dim_head).transpose(1, 2) for w in w_qkv.chunk(3, dim=0)]


class Attention(nn.Module):
    """Pre-LayerNorm multi-head softmax attention with residual, over space (per frame) or time (per pixel), via
    ``F.scaled_dot_product_attention``. Input/output ``[B, C, T, H, W]``."""

    def __init__(self, dim: int, heads: int, dim_head: int, over: str, rotary_dim: int = 0) -> None:
        super().__init__()
        assert over in ("space", "time")
        self.over, self.heads, self.dim_head, self.rotary_dim = over, heads, dim_head, rotary_dim
        self.norm = nn.LayerNorm(dim, bias=False)
        self.to_qkv = nn.Linear(dim, 3 * heads * dim_head, bias=False)
        self.to_out = nn.Linear(heads * dim_head, dim, bias=False)

    def forward(self, x: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        tok = self.norm(_to_tokens(x, self.over))  # [N, L, C]
        N, L, _ = tok.shape
        q, k, v = _project_heads(tok, self.to_qkv.weight, self.heads, self.dim_head)  # [N, heads, L, dh] each
        if self.rotary_dim:
            ang = rotary_angles(L, self.dim_head, self.rotary_dim, x.device)  # [L, dh/2]
            q, k = apply_rotary(q, ang), apply_rotary(k, ang)
        # contiguous inputs: SDPA would copy strided ones itself, and slower
        q, k, v = q.contiguous(), k.contiguous(), v.contiguous()
        mask = None if bias is None else bias.to(q.dtype)[None]  # [1, heads, L, L] additive
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # [N, heads, L, dh]
        out = self.to_out(out.transpose(1, 2).reshape(N, L, self.heads * self.dim_head))  # [N, L, C]
        return x + _from_tokens(out, self.over, x.shape)


class SpatialLinearAttention(nn.Module):
    """Per-frame linear attention (Shen et al. 2021; softmax of q over features, of k over positions), pre-LayerNorm,
    residual. Cost linear in H*W; written with matmuls (a kernelised attention has no SDPA form)."""

    def __init__(self, dim: int, heads: int, dim_head: int) -> None:
        super().__init__()
        self.heads, self.dim_head = heads, dim_head
        self.norm = nn.LayerNorm(dim, bias=False)
        self.to_qkv = nn.Linear(dim, 3 * heads * dim_head, bias=False)
        self.to_out = nn.Linear(heads * dim_head, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tok = self.norm(_to_tokens(x, "space"))  # [B*T, HW, C]
        N, L, _ = tok.shape
        q, k, v = _project_heads(tok, self.to_qkv.weight, self.heads, self.dim_head)  # [N, heads, HW, dh] views
        q = q.softmax(dim=-1) * self.dim_head**-0.5  # over features
        k = k.contiguous().softmax(dim=-2)  # over positions
        v = v.contiguous()
        context = k.transpose(-1, -2) @ v  # [N, heads, dh, dh]
        out = q @ context  # [N, heads, HW, dh]
        out = self.to_out(out.transpose(1, 2).reshape(N, L, self.heads * self.dim_head))  # [N, HW, C]
        return x + _from_tokens(out, "space", x.shape)


class Level(nn.Module):
    """One U-Net level: ResNet blocks, then spatial linear attention and temporal attention (each optional)."""

    def __init__(self, dims: list[tuple[int, int]], cfg: UNet3DConfig, emb_dim: int, rotary_dim: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            [ResnetBlock(a, b, emb_dim, cfg.groups, cfg.norm_across_frames) for a, b in dims]
        )
        d = dims[-1][1]
        self.spatial_attn = (
            SpatialLinearAttention(d, cfg.attn_heads, cfg.attn_dim_head) if cfg.use_spatial_attn else None
        )
        self.temporal_attn = (
            Attention(d, cfg.attn_heads, cfg.attn_dim_head, "time", rotary_dim) if cfg.use_temporal_attn else None
        )

    def forward(self, x: torch.Tensor, emb: torch.Tensor, time_bias: torch.Tensor | None) -> torch.Tensor:
        for block in self.blocks:
            x = block(x, emb)
        if self.spatial_attn is not None:
            x = self.spatial_attn(x)
        if self.temporal_attn is not None:
            x = self.temporal_attn(x, time_bias)
        return x


# ----------------------------------------------------------------------------------------------------------------
# the network


class UNet3D(nn.Module):
    """Denoiser ``forward(x [B, C_in, T, h, w], t [B], cond_image, text_emb, null_text_mask) -> [B, C_out, T, h, w]``.

    h and w must be divisible by ``2 ** (len(dim_mults) - 1)``. Device and dtype follow the input; works in
    ``channels_last_3d`` and under autocast.
    """

    def __init__(self, cfg: UNet3DConfig) -> None:
        super().__init__()
        self.cfg = cfg
        dim, heads, dh = cfg.dim, cfg.attn_heads, cfg.attn_dim_head
        rotary_dim = (min(32, dh) // 2) * 2 if cfg.temporal_rotary else 0
        k = cfg.init_kernel_size
        # The first conv over cat(x, cond_image) on channels is split by linearity into a conv of x plus a conv of
        # the condition; an image shared by all frames is then convolved once per video instead of T times.
        self.init_conv = nn.Conv3d(cfg.in_channels, dim, (1, k, k), padding=(0, k // 2, k // 2))
        self.init_cond_conv = (
            nn.Conv3d(cfg.cond_channels, dim, (1, k, k), padding=(0, k // 2, k // 2), bias=False)
            if cfg.cond_channels else None
        )
        self.time_bias = None
        if cfg.use_temporal_attn:
            self.time_bias = RelativePositionBias(heads, cfg.rel_pos_buckets, cfg.rel_pos_max_distance)
        self.init_temporal_attn = Attention(dim, heads, dh, "time", rotary_dim) if cfg.use_temporal_attn else None

        time_dim = dim * 4
        self.time_mlp = nn.Sequential(nn.Linear(dim, time_dim), nn.GELU(), nn.Linear(time_dim, time_dim))
        if cfg.text_dim and cfg.learned_null_text:
            self.null_text = nn.Parameter(torch.randn(cfg.text_dim))
        elif cfg.text_dim:
            self.register_buffer("null_text", torch.zeros(cfg.text_dim), persistent=False)
        else:
            self.null_text = None
        emb_dim = time_dim + cfg.text_dim

        widths = [dim] + [dim * m for m in cfg.dim_mults]
        in_out = list(zip(widths[:-1], widths[1:]))  # per level (in, out)
        n = cfg.num_res_blocks
        self.downs, self.downsamples = nn.ModuleList(), nn.ModuleList()
        for i, (a, b) in enumerate(in_out):
            self.downs.append(Level([(a, b)] + [(b, b)] * (n - 1), cfg, emb_dim, rotary_dim))
            last = i == len(in_out) - 1
            self.downsamples.append(nn.Identity() if last else nn.Conv3d(b, b, (1, 4, 4), (1, 2, 2), (0, 1, 1)))

        mid = widths[-1]
        self.mid_block1 = ResnetBlock(mid, mid, emb_dim, cfg.groups, cfg.norm_across_frames)
        self.mid_spatial_attn = Attention(mid, heads, dh, "space")
        self.mid_temporal_attn = Attention(mid, heads, dh, "time", rotary_dim) if cfg.use_temporal_attn else None
        self.mid_block2 = ResnetBlock(mid, mid, emb_dim, cfg.groups, cfg.norm_across_frames)

        self.ups, self.upsamples = nn.ModuleList(), nn.ModuleList()
        for i, (a, b) in enumerate(reversed(in_out)):
            self.ups.append(Level([(2 * b, a)] + [(a, a)] * (n - 1), cfg, emb_dim, rotary_dim))
            last = i == len(in_out) - 1
            self.upsamples.append(nn.Identity() if last else nn.ConvTranspose3d(a, a, (1, 4, 4), (1, 2, 2), (0, 1, 1)))

        head_channels = cfg.out_heads or (cfg.out_channels,)
        self.heads = nn.ModuleList(
            [
                nn.Sequential(Block(2 * dim, dim, cfg.groups, cfg.norm_across_frames), nn.Conv3d(dim, c, 1))
                for c in head_channels
            ]
        )

    # -- helpers ---------------------------------------------------------------------------------------------------

    def num_parameters(self, trainable_only: bool = False) -> int:
        return count_params(self, trainable_only)

    @property
    def downsample_factor(self) -> int:
        return 2 ** (len(self.cfg.dim_mults) - 1)

    def flops_per_forward(self, x_shape, backward: bool = False) -> int:
        """FLOPs of one forward (+ backward if ``backward``) at input ``x_shape`` = [B, C_in, T, h, w], counted by
        ``torch.utils.flop_counter.FlopCounterMode`` on a meta-device copy (no memory, no compute).
        Counts matmuls, convolutions and attention; norms and activations are not counted."""
        from torch.utils.flop_counter import FlopCounterMode

        B, _, T, H, W = x_shape
        with torch.device("meta"):
            model = UNet3D(self.cfg)
            x = torch.randn(B, self.cfg.in_channels, T, H, W)
            t = torch.zeros(B)
            cond = torch.randn(B, self.cfg.cond_channels, H, W) if self.cfg.cond_channels else None
            text = torch.randn(B, self.cfg.text_dim) if self.cfg.text_dim else None
        counter = FlopCounterMode(display=False)
        with counter:
            out = model(x, t, cond_image=cond, text_emb=text)
            if backward:
                out.sum().backward()
        return int(counter.get_total_flops())

    def _condition_vector(self, t: torch.Tensor, text_emb, null_text_mask, B: int, x: torch.Tensor) -> torch.Tensor:
        """[B, 4*dim (+ text_dim)]: time MLP of the sinusoidal embedding, concatenated with the (null) text."""
        t = torch.as_tensor(t, device=x.device)
        if t.ndim == 0:
            t = t.expand(B)
        if t.shape != (B,):
            raise ValueError(f"t must be a scalar or [B={B}] timesteps, got shape {tuple(t.shape)}")
        emb = self.time_mlp(sinusoidal_embedding(t, self.cfg.dim).to(x.dtype))  # [B, 4*dim]
        if not self.cfg.text_dim:
            if text_emb is not None:
                raise ValueError("this UNet3D is unconditional (text_dim=0) but text_emb was given")
            return emb
        null = self.null_text.to(x.dtype)[None].expand(B, -1)  # [B, D]
        if text_emb is None:
            text = null
        else:
            if text_emb.shape != (B, self.cfg.text_dim):
                raise ValueError(f"text_emb must be [B={B}, {self.cfg.text_dim}], got {tuple(text_emb.shape)}")
            text = text_emb.to(x.dtype)
            if null_text_mask is not None:
                text = torch.where(null_text_mask.to(x.device, torch.bool)[:, None], null, text)
        return torch.cat([emb, text], dim=-1)

    def _check_inputs(self, x: torch.Tensor, cond_image: torch.Tensor | None) -> torch.Tensor | None:
        """Validate shapes; returns the condition as [B, C_cond, 1 or T, h, w] (None without one)."""
        cfg = self.cfg
        if x.ndim != 5 or x.shape[1] != cfg.in_channels:
            raise ValueError(f"x must be [B, {cfg.in_channels}, T, h, w], got {tuple(x.shape)}")
        B, _, T, H, W = x.shape
        f = self.downsample_factor
        if H % f or W % f:
            raise ValueError(f"spatial size {H}x{W} must be divisible by {f} (2 ** (len(dim_mults) - 1))")
        if not cfg.cond_channels:
            if cond_image is not None:
                raise ValueError("this UNet3D takes no image condition (cond_channels=0) but cond_image was given")
            return None
        if cond_image is None:
            raise ValueError(f"cond_image [B, {cfg.cond_channels}, {H}, {W}] is required (cond_channels > 0)")
        if cond_image.ndim == 4:
            cond_image = cond_image[:, :, None]  # [B, C_cond, 1, h, w], broadcast over frames
        if cond_image.ndim != 5 or cond_image.shape[0] != B or cond_image.shape[1] != cfg.cond_channels or \
                cond_image.shape[3:] != (H, W) or cond_image.shape[2] not in (1, T):
            raise ValueError(
                f"cond_image must be [B={B}, {cfg.cond_channels}, {H}, {W}] or "
                f"[B, {cfg.cond_channels}, T={T}, {H}, {W}], "
                f"got {tuple(cond_image.shape)}"
            )
        return cond_image.to(x.dtype)

    # -- forward -----------------------------------------------------------------------------------------------------

    def forward(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        cond_image: torch.Tensor | None = None,
        text_emb: torch.Tensor | None = None,
        null_text_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """x: noisy ``[B, C_in, T, h, w]``; t: ``[B]`` int or float timesteps (or a scalar); cond_image:
        ``[B, C_cond, h, w]`` or ``[B, C_cond, T, h, w]``; text_emb: ``[B, text_dim]`` or None (= null condition);
        null_text_mask: ``[B]`` bool, True where the null condition replaces text_emb.
        Returns ``[B, C_out, T, h, w]``."""
        B, T = x.shape[0], x.shape[2]
        cond = self._check_inputs(x, cond_image)  # [B, C_cond, 1 or T, h, w] or None
        emb = self._condition_vector(t, text_emb, null_text_mask, B, x)
        time_bias = self.time_bias(T, x.device) if self.time_bias is not None else None  # [heads, T, T]

        h = self.init_conv(x)  # [B, dim, T, h, w]
        if cond is not None:
            h = h + self.init_cond_conv(cond)  # + [B, dim, 1 or T, h, w] = conv of cat(x, cond) on channels
        r = h
        if self.init_temporal_attn is not None:
            h = self.init_temporal_attn(h, time_bias)

        skips = []
        for level, down in zip(self.downs, self.downsamples):
            h = level(h, emb, time_bias)
            skips.append(h)
            h = down(h)  # [B, C, T, h/2, w/2] except at the last level

        h = self.mid_block1(h, emb)
        h = self.mid_spatial_attn(h)
        if self.mid_temporal_attn is not None:
            h = self.mid_temporal_attn(h, time_bias)
        h = self.mid_block2(h, emb)

        for level, up in zip(self.ups, self.upsamples):
            h = level(torch.cat([h, skips.pop()], dim=1), emb, time_bias)
            h = up(h)

        h = torch.cat([h, r], dim=1)  # [B, 2*dim, T, h, w]
        return torch.cat([head(h) for head in self.heads], dim=1)  # [B, C_out, T, h, w]
