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
