"""Training items for the engine's ``(index, seed)`` batches: clips drawn from a seed, or rows of cached tensors."""

from __future__ import annotations

from pathlib import Path
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


def cached_tensors_path(run, name: str, key: dict) -> Path:
    """Where :func:`cached_tensors` keeps the outputs of ``key``: ``RUN/cache/<name>_<hash>.pt``."""
    from lfdm_bench.utils.io import stable_hash

    return run.root / "cache" / f"{name}_{stable_hash(key)}.pt"


def cached_tensors(run, name: str, key: dict, compute, what: str) -> dict[str, torch.Tensor]:
    """Frozen-stage outputs computed once per ``key`` and kept in ``RUN/cache/<name>_<hash>.pt`` (atomic write);
    a later call (a resumed run) loads them instead of recomputing. With several processes, process 0 computes and
    writes them while the others wait, then every process loads the file."""
    from lfdm_bench.utils import dist
    from lfdm_bench.utils.io import atomic_torch_save

    path = cached_tensors_path(run, name, key)
    if dist.world_size() > 1:
        if dist.is_main_process() and not path.is_file():
            atomic_torch_save(compute(), path)
            run.log(f"[dm] precomputed {what} -> {path}")
        dist.barrier()
        return torch.load(path, weights_only=True)
    if path.is_file():
        try:
            tensors = torch.load(path, weights_only=True)
            run.log(f"[dm] reusing precomputed {what} {path}")
            return tensors
        except Exception as e:  # a truncated / overwritten cache file: compute it again, never crash on a cache
            run.log(f"[dm] ignoring unreadable {path} ({type(e).__name__}); computing the {what} again", echo=True)
    tensors = compute()
    atomic_torch_save(tensors, path)
    run.log(f"[dm] precomputed {what} of {len(next(iter(tensors.values())))} clips -> {path}")
    return tensors


class PreloadedClips(torch.utils.data.Dataset):
    """Every clip of a deterministic ClipDataset (``uniform``/``first`` sampling) decoded ONCE into memory as uint8
    ``[N, T, 3, H, W]``; items are ``(Clip, seed)`` like :class:`SeededClipItems`, with the dataset's horizontal-flip
    augmentation drawn from the seed. Decoding videos in every step dominated CPU training time (~10x the model)."""

    def __init__(self, ds: ClipDataset, progress: bool = True):
        from lfdm_bench.data.clip import Clip
        from lfdm_bench.utils.progress import progress_bar

        if ds.sampling not in ("uniform", "first"):
            raise ValueError(f"PreloadedClips needs deterministic clips (uniform/first), got sampling={ds.sampling!r}")
        self.ds, self._clip = ds, Clip
        hflip, ds.hflip = ds.hflip, 0.0  # decode unflipped; flips are drawn per item below
        clips = [ds.get(i) for i in progress_bar(range(len(ds)), desc="decoding training clips", disable=not progress,
                                                 dynamic_ncols=True)]
        ds.hflip = hflip
        self.meta = [(c.subject, c.class_index, c.text, c.path, c.indices, c.class_name, c.take) for c in clips]
        self.video = torch.stack([(c.video * 255).round().to(torch.uint8) for c in clips])  # [N, T, 3, H, W]

    def __len__(self) -> int:
        return len(self.meta)

    def __getitem__(self, item: tuple[int, int]):
        i, seed = item
        subject, cls, text, path, indices, name, take = self.meta[i]
        video = self.video[i].float() / 255.0  # [T, 3, H, W]
        flip = self.ds.hflip > 0 and np.random.default_rng([seed, 7]).random() < self.ds.hflip
        if flip:
            video = video.flip(-1)
        clip = self._clip(video=video, subject=subject, class_index=cls, text=text, path=path, indices=list(indices),
                          class_name=name, take=take, hflipped=bool(flip))
        return clip, seed


def training_items(ds: ClipDataset, preload: bool = True, progress: bool = True) -> torch.utils.data.Dataset:
    """Preloaded clips when the clips are deterministic and ``preload`` is on, else clips decoded per item."""
    if preload and ds.sampling in ("uniform", "first"):
        return PreloadedClips(ds, progress=progress)
    return SeededClipItems(ds)
