"""The ``sample`` section of a run config (LFDM and LDM alike): sampler settings and the evaluation set's size."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class SampleConfig:
    sampler: str = "ddim"  # ddim | ddpm | dpmsolver++ | euler | unipc | diffusers-ddim
    steps: int = 10
    eta: float = 1.0
    guidance: float = 1.0  # 1 = no classifier-free guidance (the paper's default)
    per_pair: int = 1  # videos per (subject, class) pair of the evaluation set
    batch_size: int = 16
    seed: int = 0
    unconditional: bool = False  # generate with the null condition (the paper's unconditional experiment)
    precision: str = "auto"  # auto (bf16 autocast on CUDA, fp32 on CPU) | fp32 | bf16; the sampler's update stays fp32

    def __post_init__(self) -> None:
        from lfdm_bench.diffusion.samplers import resolve_sampler

        resolve_sampler(self.sampler)  # an unknown name lists the valid ones
        for key in ("steps", "per_pair", "batch_size"):
            if int(getattr(self, key)) < 1:
                raise ValueError(f"sample.{key} must be >= 1, got {getattr(self, key)}")
        if self.eta < 0:
            raise ValueError(f"sample.eta must be >= 0, got {self.eta}")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise ValueError(f"sample.precision must be auto, fp32 or bf16, got {self.precision!r}")
