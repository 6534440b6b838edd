"""Training items for the engine's ``(index, seed)`` batches: clips drawn from a seed, or rows of cached tensors."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from lfdm_bench.data.dataset import ClipDataset


class SeededClipItems(torch.utils.data.Dataset):
    """Adapts a ClipDataset to ``(index, seed)`` items: the clip (frames, flips) depends only on the seed.

    Items are ``(Clip, seed)``."""

    def __init__(self, ds: ClipDataset):
        self.ds = ds

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, item: tuple[int, int]):
        i, seed = item
        return self.ds.get(i, np.random.default_rng(seed)), seed


class TensorItems(torch.utils.data.Dataset):
    """Rows of precomputed tensors (e.g. frozen-stage targets): item ``(i, seed)`` -> ``{name: tensor[i]}``."""

    def __init__(self, tensors: dict[str, torch.Tensor]):
        lengths = {len(v) for v in tensors.values()}
        if len(lengths) != 1:
            raise ValueError(f"TensorItems: tensors of different lengths {sorted(lengths)}")
        self.t = tensors

    def __len__(self) -> int:
        return len(next(iter(self.t.values())))

    def __getitem__(self, item: tuple[int, int]) -> dict[str, torch.Tensor]:
        i, _ = item
        return {k: v[i] for k, v in self.t.items()}


def stack_collate(items: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {k: torch.stack([it[k] for it in items]) for k in items[0]}


def spread(records: Sequence, n: int | None) -> list:
    """At most ``n`` records evenly spread over the (sorted) list: an even cover of subjects and classes."""
    records = list(records)
    if n is None or len(records) <= n:
        return records
    step = len(records) / n
    return [records[int(i * step)] for i in range(n)]
