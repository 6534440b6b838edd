"""The ``data`` section of a run config: which videos, at which size and length, sampled how (LFDM and LDM alike)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass
class DataConfig:
    """Which videos, at which size and length, sampled how."""

    dataset: str = "synth-faces"  # synth-faces | synth-actions | mug | mhad | natops | path/to/manifest.csv
    root: str | None = None  # where a real dataset lives
    options: dict[str, Any] = field(default_factory=dict)  # dataset options (synthetic: size, frames, n_subjects, ...)
    size: int = 32  # model resolution (frames resized keeping aspect and zero-padded to size x size)
    n_frames: int = 16  # frames per clip (the paper: 40)
    sampling: Literal["uniform", "random", "very_random", "first"] = "uniform"
    hflip: float = 0.0  # probability of a horizontal flip in training (the paper: 0.5 for the LFAE)
    skip_bad: bool = False  # skip unreadable videos (reported) instead of failing
    preload: bool = True  # decode deterministic (uniform) training clips once into memory instead of every step

    def __post_init__(self) -> None:
        if not 8 <= self.size <= 512:
            raise ValueError(f"data.size must be in [8, 512], got {self.size}")
        if self.n_frames < 2:
            raise ValueError(f"data.n_frames must be >= 2, got {self.n_frames}")
