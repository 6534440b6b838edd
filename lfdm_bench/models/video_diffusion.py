"""A class-conditioned video diffusion model: the 3D U-Net + the Gaussian diffusion + the class-text table.

Shared by LFDM (diffusing latent flow + occlusion ``[B, 3, T, h, w]`` with z0 as image condition) and the LDM
baseline (diffusing image-autoencoder latents ``[B, c, T, h, w]`` with the first frame's latent as condition):
the two differ only in what ``x0`` and ``cond_image`` are. :func:`build_video_diffusion` builds it for either.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import torch
from torch import nn

from lfdm_bench.diffusion.gaussian import GaussianDiffusion
from lfdm_bench.diffusion.schedule import DiffusionConfig
from lfdm_bench.models.unet3d import UNet3D, UNet3DConfig
from lfdm_bench.text import ClassEmbeddingTable
from lfdm_bench.utils.device import autocast, autocast_dtype


@dataclass
class VideoDiffusionConfig:
    """Everything needed to rebuild the model from a checkpoint (the table's rows are in the state dict)."""

    unet: UNet3DConfig = field(default_factory=UNet3DConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    class_texts: tuple[str, ...] = ()
    text_identity: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["class_texts"] = list(self.class_texts)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "VideoDiffusionConfig":
        from lfdm_bench.config import from_dict

        return from_dict(cls, d, "video_diffusion")


class VideoDiffusion(nn.Module):
    """``loss(x0, cond_image, class_index)`` (also its ``forward``, so that DDP's gradient averaging sees it) for
    training; ``sample(...)`` for generation.

    x0: ``[B, C, T, h, w]`` in about [-1, 1]; cond_image: ``[B, C_cond, h, w]``; class_index: int64 ``[B]``
    (rows of the class-text embedding table; ``None`` = unconditional / null condition).
    """

    def __init__(self, cfg: VideoDiffusionConfig, table: ClassEmbeddingTable | None = None):
        super().__init__()
        self.cfg = cfg
        self.unet = UNet3D(cfg.unet)
        self.diffusion = GaussianDiffusion(cfg.diffusion)
        if table is None and cfg.unet.text_dim > 0:
            # rebuilt from a checkpoint: the rows come with load_state_dict
            table = ClassEmbeddingTable(torch.zeros(len(cfg.class_texts), cfg.unet.text_dim), list(cfg.class_texts),
                                        identity=cfg.text_identity)
        self.table = table

    def text(self, class_index: torch.Tensor | None) -> torch.Tensor | None:
        if class_index is None or self.table is None:
            return None
        return self.table(class_index)

    def loss(self, x0: torch.Tensor, cond_image: torch.Tensor | None, class_index: torch.Tensor | None) -> torch.Tensor:
        """Scalar diffusion loss (float32) of a batch ``x0 [B, C, T, h, w]``."""
        return self.diffusion.training_loss(self.unet, x0, cond_image=cond_image, text_emb=self.text(class_index))

    def forward(self, x0: torch.Tensor, cond_image: torch.Tensor | None,
                class_index: torch.Tensor | None) -> torch.Tensor:
        """The training loss (see :meth:`loss`)."""
        return self.loss(x0, cond_image, class_index)

    @torch.no_grad()
    def sample(self, cond_image: torch.Tensor, class_index: torch.Tensor | None, n_frames: int, *,
               sampler: str = "ddim", steps: int = 10, eta: float = 1.0, guidance: float = 1.0,
               generator: torch.Generator | None = None, noise: torch.Tensor | None = None,
               precision: str = "fp32"):
        """-> ``SampleOutput(sample [B, C_out, T, h, w], nfe)``.

        precision: ``fp32`` | ``bf16`` | ``auto`` (bf16 on CUDA): the U-Net runs under autocast in that dtype, its
        output is cast back to float32, and the sampler's update (and the sample) stays float32."""
        b, _, h, w = cond_image.shape
        shape = (b, self.cfg.unet.out_channels, n_frames, h, w)
        dtype = autocast_dtype(precision, cond_image.device, "sample.precision")
        model_fn = self.unet
        if dtype is not None:
            def model_fn(x, t, **kw):
                with autocast(x.device, dtype):
                    return self.unet(x, t, **kw).float()

        return self.diffusion.sample(model_fn, shape, cond_image=cond_image, text_emb=self.text(class_index),
                                     guidance_scale=guidance, sampler=sampler, steps=steps, eta=eta,
                                     generator=generator, noise=noise, device=cond_image.device)


def build_video_diffusion(unet: UNet3DConfig, diffusion: DiffusionConfig, table: ClassEmbeddingTable,
                          class_texts: Sequence[str], **unet_overrides: Any) -> VideoDiffusion:
    """The U-Net of ``unet`` (channel counts from ``unet_overrides``, text width from ``table``), the diffusion and
    the class-text table; shared by LFDM (flow + occlusion, z0 condition) and LDM (latents, first-frame latent)."""
    unet = type(unet)(**{**asdict(unet), **unet_overrides, "text_dim": table.dim})
    vcfg = VideoDiffusionConfig(unet=unet, diffusion=diffusion, class_texts=tuple(class_texts),
                                text_identity=getattr(table, "identity", ""))
    return VideoDiffusion(vcfg, table)
