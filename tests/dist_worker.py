"""What each process of the 2-process CPU job of tests/test_distributed.py runs (gloo, through accelerate).

Also the single-process references: the same functions with no launcher (world size 1).
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch import nn

N_A, N_B, DIM, BATCH = 11, 9, 6, 2  # odd set sizes: the two shards differ in size


def videos(n: int, seed: int) -> torch.Tensor:
    """n tiny videos ``[n, T=4, 3, 8, 8]`` whose content depends on the seed."""
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 4, 3, 8, 8, generator=g, dtype=torch.float64)


def features(v: torch.Tensor) -> np.ndarray:
    """A tiny deterministic detector: per video, a fixed projection of its frame means and differences -> [n, DIM]."""
    w = torch.Generator().manual_seed(123)
    proj = torch.randn(9, DIM, generator=w, dtype=torch.float64)
    means = v.mean(dim=(3, 4))  # [n, T, 3]
    motion = (v[:, 1:] - v[:, :-1]).abs().mean(dim=(1, 3, 4))  # [n, 3]
    x = torch.cat([means[:, 0], means[:, -1], motion], dim=1)  # [n, 9]
    return torch.tanh(x @ proj).numpy()


def local_stats(v: torch.Tensor, indices: range):
    """Features and FeatureStats (updated in batches of BATCH) of the videos ``indices``."""
    from metrics.fvd import FeatureStats

    stats, feats = FeatureStats(DIM), []
    for start in range(indices.start, indices.stop, BATCH):
        f = features(v[start:min(start + BATCH, indices.stop)])
        feats.append(f)
        stats.update(f)
    return (np.concatenate(feats) if feats else np.zeros((0, DIM))), stats


class Linear(torch.utils.data.Dataset):
    """y = x @ w with x from the item seed: a deterministic loss (no random draws), so 2 processes = 1 process."""

    def __len__(self):
        return 32

    def __getitem__(self, item):
        i, seed = item
        x = torch.randn(4, generator=torch.Generator().manual_seed(seed)) + 0.01 * i
        return x, (x @ torch.arange(1.0, 5.0)).reshape(1)


def collate(items):
    return torch.stack([a for a, _ in items]), torch.stack([b for _, b in items])


def loss_fn(model, batch):
    x, y = batch
    return nn.functional.mse_loss(model(x), y), {}


def train_toy(root: str, steps: int = 12):
    """Train the toy regression with the engine; returns the Trainer."""
    from lfdm_bench.runs import Run
    from lfdm_bench.training.engine import TrainConfig, Trainer

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 1))
    cfg = TrainConfig(steps=steps, batch_size=8, lr=3e-2, log_every=4, ckpt_every=5, seed=3)
    trainer = Trainer(Run.create(root), "toy", model, loss_fn, Linear(), collate, cfg, progress=False)
    trainer.fit()
    return trainer


def worker(rank: int, world: int, port: int, out_dir: str) -> None:
    """One process of the job: FVD features and statistics of its shards, gathered; then 2-process training."""
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    from metrics.distributed import gather_features, gather_stats, shard
    from lfdm_bench.utils import dist

    out = {"rank": dist.rank(), "world": dist.world_size()}
    for name, n, seed in (("a", N_A, 0), ("b", N_B, 1)):
        part = shard(n)
        feats, stats = local_stats(videos(n, seed), part)
        out[f"{name}_shard"] = (part.start, part.stop)
        out[f"{name}_features"] = gather_features(feats)
        merged = gather_stats(stats)
        out[f"{name}_stats"] = (merged.n, merged.mean(), merged.cov(1))
    trainer = train_toy(os.path.join(out_dir, "run"))
    out["params"] = {k: v.detach().clone() for k, v in trainer.accelerator.unwrap_model(trainer.model).state_dict().items()}
    out["ddp"] = type(trainer.model).__name__
    torch.save(out, os.path.join(out_dir, f"rank{rank}.pt"))
