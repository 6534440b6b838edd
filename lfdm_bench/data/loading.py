"""A run config's data: the dataset of a :class:`DataConfig` and its clip datasets (training and evaluation)."""

from __future__ import annotations

from lfdm_bench.config import ConfigError
from lfdm_bench.data.config import DataConfig
from lfdm_bench.data.dataset import ClipDataset
from lfdm_bench.data.info import DatasetInfo
from lfdm_bench.data.registry import SYNTHETIC_DATASETS, get_dataset


def load_data(cfg: DataConfig, progress: bool = True) -> DatasetInfo:
    """The dataset of a config (synthetic sets are generated and cached on first use, with a progress bar when
    ``progress``)."""
    options = dict(cfg.options)
    if cfg.dataset in SYNTHETIC_DATASETS:
        options["progress"] = progress
    try:
        return get_dataset(cfg.dataset, root=cfg.root, **options)
    except TypeError as e:  # an option the dataset's loader does not know (the message names it)
        raise ConfigError(f"data.options: {e}") from None


def clip_dataset(info: DatasetInfo, cfg: DataConfig, split: str, train: bool = True, seed: int = 0) -> ClipDataset:
    """The clips of ``split``: training clips (the config's frame sampling and flips) or, with ``train=False``,
    deterministic evaluation clips (uniform frames, no flips)."""
    recs = info.split(split)
    if not recs:
        raise ValueError(f"dataset {info.name} has no {split} videos")
    return ClipDataset(recs, n_frames=cfg.n_frames, size=cfg.size, sampling=cfg.sampling if train else "uniform",
                       skip_bad=cfg.skip_bad, seed=seed, hflip=cfg.hflip if train else 0.0)
