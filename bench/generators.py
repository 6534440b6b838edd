"""The generator registry: the trained generators behind one interface, LFDM (:mod:`lfdm_bench.lfdm`) and the LDM,
VDM and ImaGINator baselines (:mod:`baselines.ldm`, :mod:`baselines.vdm`, :mod:`baselines.imaginator`). It sits
above the methods (which never import each other) and below the rest of the benchmark and the command line; the
model kinds themselves are listed once, in :mod:`lfdm_bench.kinds`.

:func:`open_trained_run` reads what a run folder holds from its checkpoints (:func:`lfdm_bench.checkpoints.run_record`)
and returns a :class:`TrainedRun` whose ``sample`` runs that model's sampler: the one place that maps a run's model
kind to its code (the ``sample`` and ``ablate`` commands, the benchmark and the experiments all go through it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from baselines.imaginator.config import ImaGINatorRunConfig
from baselines.imaginator.sample import sample_imaginator_run
from baselines.ldm.config import LDMConfig
from baselines.ldm.sample import sample_ldm_run
from baselines.vdm.config import VDMConfig
from baselines.vdm.sample import sample_vdm_run
from lfdm_bench.checkpoints import run_record
from lfdm_bench.config import from_dict
from lfdm_bench.kinds import MODELS
from lfdm_bench.lfdm.config import LFDMConfig
from lfdm_bench.lfdm.sample import sample_lfdm_run
from lfdm_bench.runs import Run
from lfdm_bench.data.loading import load_data
from lfdm_bench.sampling.plugin import Generator, sample_generator

# model kind -> (its config class, its sampler: sampler(run, split, **sample_run arguments) -> manifest path)
_CODE: dict[str, tuple[type, Callable[..., Path]]] = {"lfdm": (LFDMConfig, sample_lfdm_run),
                                                      "ldm": (LDMConfig, sample_ldm_run),
                                                      "vdm": (VDMConfig, sample_vdm_run),
                                                      "imaginator": (ImaGINatorRunConfig, sample_imaginator_run)}
if set(_CODE) != set(MODELS):  # a kind added to lfdm_bench.kinds needs its code here
    raise ImportError(f"the generator registry covers {sorted(_CODE)}, lfdm_bench.kinds.MODELS is {list(MODELS)}")
GENERATORS = {kind: _CODE[kind] for kind in MODELS}  # in the order of lfdm_bench.kinds.MODELS


@dataclass(frozen=True)
class TrainedRun:
    """A trained run: its folder, model kind (``lfdm`` / ``ldm`` / ``vdm`` / ``imaginator``) and resolved config
    (from its checkpoints)."""

    run: Run
    model: str
    config: LFDMConfig | LDMConfig | VDMConfig | ImaGINatorRunConfig

    def sample(self, split: str = "test", **kwargs: Any) -> Path:
        """Sample the evaluation set of ``split`` into a sample folder (arguments of
        :func:`lfdm_bench.sampling.run.sample_run`); returns its manifest."""
        return GENERATORS[self.model][1](self.run, split, **kwargs)

    def sample_with(self, generator: Generator, split: str = "test", per_pair: int | None = None,
                    out: str | Path | None = None, under: str | Path | None = None, progress: bool = True) -> Path:
        """Sample this run's evaluation set of ``split`` (its data, ``sample.per_pair`` unless given,
        ``sample.seed``) with another generator (:mod:`lfdm_bench.sampling.plugin`) into ``out``, else
        ``under/<split>_<name>`` (``under`` defaults to ``RUN/samples``); returns the manifest."""
        cfg = self.config
        under = under if under is not None else self.run.samples
        folder = Path(out) if out else Path(under) / f"{split}_{generator.name}"
        manifest = sample_generator(generator, load_data(cfg.data, progress=progress), cfg.data, split, folder,
                                    per_pair=per_pair or cfg.sample.per_pair, seed=cfg.sample.seed,
                                    batch_size=cfg.sample.batch_size, progress=progress)
        self.run.log(f"sampled {split} videos with --generator {generator.spec} -> {manifest}")
        return manifest


def open_trained_run(run_dir: str | os.PathLike | Run) -> TrainedRun:
    """Open a trained LFDM, LDM, VDM or ImaGINator run folder; errors name the folder and what is missing."""
    run = run_dir if isinstance(run_dir, Run) else Run.open(run_dir)
    record = run_record(run)
    if record.model not in GENERATORS:
        raise ValueError(f"{record.source} names model {record.model!r}; expected one of {', '.join(GENERATORS)}")
    return TrainedRun(run, record.model, from_dict(GENERATORS[record.model][0], record.config))
