"""One training engine for every stage (LFAE, flow DM, LDM autoencoder, LDM DM): a loop you can read in one screen.

What it guarantees:
- data are a pure function of (seed, step): :class:`StepBatchSampler` draws the batch of step ``s`` from a
  generator seeded by ``(seed, s)``, so a resumed run sees exactly the batches an uninterrupted run would;
- checkpoints (model, EMA, optimiser, LR scheduler, step, RNG states, the model's constructor config and the run's
  kind and resolved config, see :mod:`lfdm_bench.checkpoints`) are written atomically every ``ckpt_every`` steps
  and at the end, and ``fit()`` resumes from the last one by itself;
- accelerate handles devices and processes (one process on CPU with no launcher, ``accelerate launch`` for several
  GPUs), bf16 autocast on GPU, gradient clipping, a progress bar with loss and it/s (plain lines when stderr
  is not a terminal), CSV logs;
- ``train.log_with=tensorboard`` (and/or ``wandb``) also sends every CSV row and the training previews to
  TensorBoard / W&B through accelerate's trackers (:mod:`lfdm_bench.training.trackers`).

Several processes (``accelerate launch --multi_gpu --num_processes N ...``): ``train.batch_size`` is the batch of
one step over all processes; process r takes the r-th of N equal slices of the step's batch (the batch stays a
function of (seed, step)), DDP averages the gradients, so N processes optimise what one process would (up to
BatchNorm statistics, which stay per process, and the random draws of the loss, which follow (seed, step, rank)).
Only process 0 writes checkpoints, logs and previews; the others wait for the last checkpoint before going on.

Speed options of :class:`TrainConfig`: ``mixed_precision`` (bf16 autocast; the LFAE's geometry stays fp32),
``channels_last`` (channels_last / channels_last_3d weights) and ``compile`` (``torch.compile`` of the stage's
network, off by default).
"""

from __future__ import annotations

import copy
import csv
import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Literal, Sequence

import torch
from torch import nn

from lfdm_bench.checkpoints import read_checkpoint_file
from lfdm_bench.runs import Run
from lfdm_bench.training.trackers import StageTrackers, check_available, parse_log_with
from lfdm_bench.utils.io import atomic_torch_save, remove_stale_temp_files
from lfdm_bench.utils.seed import rng_state, set_rng_state


@dataclass
class TrainConfig:
    """Optimisation settings of one stage."""

    steps: int = 1000
    batch_size: int = 8
    lr: float = 2e-4
    betas: tuple[float, float] = (0.9, 0.99)
    weight_decay: float = 0.0
    grad_clip: float | None = 1.0
    lr_decay_at: tuple[float, ...] = ()  # fractions of `steps` at which lr is multiplied by 0.1 (LFAE: 0.6, 0.9)
    warmup_steps: int = 0
    ema_decay: float | None = None  # None = no EMA (the paper's default)
    seed: int = 0
    log_every: int = 10
    ckpt_every: int = 200
    sample_every: int = 0  # 0 = only at the end
    mixed_precision: Literal["auto", "no", "bf16"] = "auto"  # auto: bf16 on CUDA, fp32 on CPU
    num_workers: int = 0
    log_with: str | None = None  # also log to "tensorboard" and/or "wandb" (comma-separated); the CSV log always
    channels_last: bool = False  # 4-D weights in channels_last, 5-D in channels_last_3d (cuDNN's faster layout)
    compile: bool = False  # torch.compile the stage's network (nn.Module.compile: same state dict keys)

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"train.steps must be >= 1, got {self.steps}")
        if self.batch_size < 1:
            raise ValueError(f"train.batch_size must be >= 1, got {self.batch_size}")
        if self.lr <= 0:
            raise ValueError(f"train.lr must be > 0, got {self.lr}")
        parse_log_with(self.log_with)
        if self.mixed_precision not in ("auto", "no", "bf16"):
            raise ValueError(f"train.mixed_precision must be auto, no or bf16, got {self.mixed_precision!r}")


class StepBatchSampler(torch.utils.data.Sampler):
    """Yields, for steps ``start..steps-1``, a batch of ``(index, item_seed)`` pairs that depend only on (seed, step).

    Every item gets its own seed so random clip sampling / augmentation is reproducible on resume too.
    With ``world`` processes, process ``rank`` gets the rank-th of ``world`` equal contiguous slices of each batch.
    """

    def __init__(self, n_items: int, batch_size: int, steps: int, seed: int = 0, start: int = 0, rank: int = 0,
                 world: int = 1):
        if n_items < 1:
            raise ValueError("the training set is empty: check the dataset and its split (with data.skip_bad=true, "
                             "unreadable videos are skipped with a warning that lists them)")
        if batch_size % world:
            raise ValueError(f"train.batch_size={batch_size} must be divisible by the number of processes ({world}): "
                             "each process takes an equal slice of every step's batch")
        self.n, self.bs, self.steps, self.seed, self.start = n_items, batch_size, steps, seed, start
        self.rank, self.world = rank, world

    @property
    def batch_size(self) -> int:
        """Items per step on this process."""
        return self.bs // self.world

    def batch_for_step(self, step: int) -> list[tuple[int, int]]:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + step)
        # an epoch-free scheme: sample without replacement within the batch when possible
        idx = torch.randperm(self.n, generator=g)[: self.bs] if self.bs <= self.n else torch.randint(self.n, (self.bs,), generator=g)
        seeds = torch.randint(2**31 - 1, (len(idx),), generator=g)
        return [(int(i), int(s)) for i, s in zip(idx, seeds)]

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        n = self.batch_size
        for step in range(self.start, self.steps):
            yield self.batch_for_step(step)[self.rank * n:(self.rank + 1) * n]

    def __len__(self) -> int:
        return max(0, self.steps - self.start)


class EMA:
    """Exponential moving average of a model's parameters and buffers (kept in fp32 on the model's device)."""

    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.shadow = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        for s, p in zip(self.shadow.parameters(), model.parameters()):
            s.lerp_(p.detach().to(s.dtype), 1.0 - self.decay)
        for s, b in zip(self.shadow.buffers(), model.buffers()):
            s.copy_(b)


LossFn = Callable[[nn.Module, Any], "tuple[torch.Tensor, dict[str, float]]"]
# on_sample(model, step) -> None, or the preview it wrote as a uint8 video [T, H, W, 3] (sent to the trackers)
SampleFn = Callable[[nn.Module, int], Any]


def to_channels_last(model: nn.Module) -> nn.Module:
    """Parameters and buffers of 4 dims in ``channels_last``, of 5 dims in ``channels_last_3d`` (in place; values
    unchanged). ``nn.Module.to(memory_format=...)`` takes one format for both and fails on models that mix 2-D and
    3-D convolutions."""
    formats = {4: torch.channels_last, 5: torch.channels_last_3d}
    for t in [*model.parameters(), *model.buffers()]:
        if t.dim() in formats:
            t.data = t.data.contiguous(memory_format=formats[t.dim()])
    return model


def step_seed(seed: int, step: int, rank: int) -> int:
    """Seed of the global RNG at ``step`` on process ``rank`` of a multi-process run."""
    return (seed * 1_000_003 + step * 7_919 + rank * 104_729) % (2**63 - 1)


def _lr_lambda(cfg: TrainConfig) -> Callable[[int], float]:
    milestones = sorted(int(round(f * cfg.steps)) for f in cfg.lr_decay_at)

    def f(step: int) -> float:
        warm = min(1.0, (step + 1) / cfg.warmup_steps) if cfg.warmup_steps > 0 else 1.0
        return warm * 0.1 ** sum(step >= m for m in milestones)

    return f


class Trainer:
    """Trains ``model`` with ``loss_fn(model, batch) -> (loss, logs)`` on batches from ``dataset`` (``logs``: named
    floats or 0-d tensors, read back to the host only for the log rows).

    ``name`` names the stage: checkpoints go to ``RUN/checkpoints/<name>/last.pt``, logs to
    ``RUN/logs/<name>.csv``. ``model_config`` (a plain dict) and ``run_info``
    (:func:`lfdm_bench.checkpoints.run_info`) are stored in every checkpoint so the model can be rebuilt and sampled
    without the YAML. ``on_sample(model, step)`` is called every ``sample_every`` steps and at the end; the preview
    video it may return goes to the trackers of ``cfg.log_with``.
    ``params``: the parameters to optimise (default: those with ``requires_grad``); ``train_only``: when given, only
    these sub-modules are put in train mode while training, the rest of the model stays in eval mode (frozen
    BatchNorm statistics of frozen parts). ``compile_modules``: what ``cfg.compile`` compiles (default: the model;
    e.g. the U-Net of a diffusion model whose loss is not its ``forward``).
    """

    def __init__(self, run: Run, name: str, model: nn.Module, loss_fn: LossFn, dataset: torch.utils.data.Dataset,
                 collate_fn: Callable, cfg: TrainConfig, model_config: dict | None = None,
                 on_sample: SampleFn | None = None, params: list | None = None,
                 progress: bool = True, run_info: dict | None = None, train_only: Sequence[nn.Module] | None = None,
                 compile_modules: Sequence[nn.Module] | None = None):
        from accelerate import Accelerator

        self.run, self.name, self.cfg, self.loss_fn = run, name, cfg, loss_fn
        self.dataset, self.collate_fn, self.model_config, self.on_sample = dataset, collate_fn, model_config or {}, on_sample
        self.progress, self.run_info, self.train_only = progress, run_info, train_only
        mp = cfg.mixed_precision
        if mp == "auto":
            mp = "bf16" if torch.cuda.is_available() else "no"
        self.accelerator = Accelerator(mixed_precision=mp, cpu=not torch.cuda.is_available())
        if torch.cuda.is_available():  # cuDNN picks the fastest convolution algorithms for the (fixed) shapes
            torch.backends.cudnn.benchmark = True
        if cfg.batch_size % self.accelerator.num_processes:
            raise ValueError(f"train.batch_size={cfg.batch_size} must be divisible by the number of processes "
                             f"({self.accelerator.num_processes}): each takes an equal slice of every step's batch")
        if cfg.channels_last:
            to_channels_last(model)
        self.model = model
        trainable = params if params is not None else [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.Adam(trainable, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, _lr_lambda(cfg))
        self.ema = EMA(model, cfg.ema_decay) if cfg.ema_decay else None
        if cfg.compile:  # after the EMA's copy: the shadow model stays a plain module
            for m in compile_modules if compile_modules is not None else [model]:
                m.compile()
        self.step = 0
        self.ckpt_path = run.checkpoints / name / "last.pt"
        self.log_path = run.root / "logs" / f"{name}.csv"
        self.log_with = parse_log_with(cfg.log_with)
        check_available(self.log_with, name)  # before any training, not after the first log_every steps
        self.trackers: StageTrackers | None = None

    # --- checkpoints -------------------------------------------------------------------------------------------
    def state_dict(self, finished: bool = False) -> dict:
        model = self.accelerator.unwrap_model(self.model)
        return {
            "stage": self.name,
            "model": model.state_dict(),
            "model_config": self.model_config,
            "run": self.run_info,
            "ema": self.ema.shadow.state_dict() if self.ema else None,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "step": self.step,
            "rng": rng_state(),
            "train_config": self._train_config(),
            "finished": finished,
        }

    def _train_config(self) -> dict[str, Any]:
        return vars(self.cfg) | {"betas": list(self.cfg.betas), "lr_decay_at": list(self.cfg.lr_decay_at)}

    def save(self, finished: bool = False) -> None:
        if self.accelerator.is_main_process:
            atomic_torch_save(self.state_dict(finished), self.ckpt_path)

    def try_resume(self) -> bool:
        """Restore everything from ``last.pt`` if it exists. Returns whether a checkpoint was loaded."""
        remove_stale_temp_files(self.ckpt_path)  # leftovers of a checkpoint write killed mid-way
        if not self.ckpt_path.is_file():
            return False
        ck = read_checkpoint_file(self.ckpt_path)  # an unreadable file: an error naming it and how to go on
        self.accelerator.unwrap_model(self.model).load_state_dict(ck["model"])
        if self.ema and ck.get("ema") is not None:
            self.ema.shadow.load_state_dict(ck["ema"])
        self.optimizer.load_state_dict(ck["optimizer"])
        self.scheduler.load_state_dict(ck["scheduler"])
        self.step = int(ck["step"])
        set_rng_state(ck["rng"])
        self.run.log(f"[{self.name}] resumed from {self.ckpt_path} at step {self.step}")
        return True

    def _truncate_log(self) -> None:
        """Drop log rows written after the checkpoint we resumed from (they will be written again)."""
        if not self.log_path.is_file():
            return
        with open(self.log_path, newline="") as f:
            rows = list(csv.reader(f))
        if not rows:
            return
        kept = [rows[0]] + [r for r in rows[1:] if r and int(r[0]) <= self.step]
        with open(self.log_path, "w", newline="") as f:
            csv.writer(f).writerows(kept)

    def _log_row(self, row: dict[str, float]) -> None:
        new = not self.log_path.is_file()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(row))
            if new:
                w.writeheader()
            w.writerow(row)

    # --- the loop ----------------------------------------------------------------------------------------------
    def fit(self, stop_at: int | None = None) -> dict[str, Any]:
        """Train until ``cfg.steps`` (or ``stop_at``, to simulate an interruption in tests). Resumes by itself."""
        cfg = self.cfg
        if self.try_resume():
            self._truncate_log()
        if self.step >= cfg.steps:
            self.run.log(f"[{self.name}] already trained ({self.step} steps); nothing to do")
            return {"steps": self.step, "resumed": True, "seconds": 0.0}
        end = min(cfg.steps, stop_at) if stop_at is not None else cfg.steps
        acc = self.accelerator
        world, rank = acc.num_processes, acc.process_index
        # the engine shards each step's batch itself (accelerate's loader sharding would change what a step is);
        # loss functions move their batch to the model's device
        sampler = StepBatchSampler(len(self.dataset), cfg.batch_size, end, seed=cfg.seed, start=self.step,
                                   rank=rank, world=world)
        loader = torch.utils.data.DataLoader(self.dataset, batch_sampler=sampler, collate_fn=self.collate_fn,
                                             num_workers=cfg.num_workers, persistent_workers=False,
                                             generator=torch.Generator())  # keeps the global RNG untouched
        model, optimizer = acc.prepare(self.model, self.optimizer)
        if world > 1:
            self.run.log(f"[{self.name}] world={world}: {world} processes, {sampler.batch_size} items each per step "
                         f"(batch {cfg.batch_size}), device {acc.device}")
        self.model = model
        self._train_mode(model, True)
        if self.log_with and self.accelerator.is_main_process:
            self.trackers = StageTrackers(self.log_with, self.run.root, self.name, self.step,
                                          config={"stage": self.name, **self._train_config(),
                                                  "model_config": self.model_config})
        try:
            return self._loop(model, optimizer, loader, end)
        finally:
            if self.trackers is not None:
                self.trackers.close()
                self.trackers = None

    def _loop(self, model: nn.Module, optimizer: Any, loader: Any, end: int) -> dict[str, Any]:
        from lfdm_bench.utils.progress import progress_bar

        cfg, acc = self.cfg, self.accelerator
        world, rank = acc.num_processes, acc.process_index
        bar = progress_bar(total=end, initial=self.step, desc=self.name, unit="step", dynamic_ncols=True,
                           disable=not self.progress or not self.accelerator.is_main_process)
        t0, last_t, last_step, run_loss, history = time.time(), time.time(), self.step, None, []
        for batch in loader:
            if world > 1:  # the loss's random draws differ between processes and follow (seed, step, rank)
                torch.manual_seed(step_seed(cfg.seed, self.step, rank))
            with self.accelerator.autocast():
                loss, logs = self.loss_fn(model, batch)
            optimizer.zero_grad(set_to_none=True)
            self.accelerator.backward(loss)
            grad_norm = None
            if cfg.grad_clip:  # a tensor, read back only when a log row is written
                grad_norm = self.accelerator.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            lv = float(loss.detach())  # the step's one read back to the host (on CUDA: waits for the backward)
            if not math.isfinite(lv):  # before the optimizer step: the weights are still the last good ones
                self.save()
                raise FloatingPointError(f"[{self.name}] loss is {lv} at step {self.step}; "
                                         f"last good checkpoint: {self.ckpt_path}")
            optimizer.step()
            self.scheduler.step()
            if self.ema:
                self.ema.update(self.accelerator.unwrap_model(model))
            self.step += 1
            history.append(lv)
            run_loss = lv if run_loss is None else 0.9 * run_loss + 0.1 * lv
            bar.update(1)
            if self.step % cfg.log_every == 0 or self.step == end:
                now = time.time()
                its = (self.step - last_step) / max(now - last_t, 1e-9)
                last_t, last_step = now, self.step
                row = {"step": self.step, "loss": lv, "lr": self.scheduler.get_last_lr()[0], "it_s": its,
                       "grad_norm": float(grad_norm) if grad_norm is not None else math.nan,
                       **{k: float(v) for k, v in logs.items()}}  # logs may hold tensors: read here, not every step
                if self.accelerator.is_main_process:
                    self._log_row(row)
                if self.trackers is not None:
                    self.trackers.log(row, self.step)
                bar.set_postfix(loss=f"{run_loss:.4f}", its=f"{its:.2f}")
            if self.step % cfg.ckpt_every == 0 and self.step < end:
                self.save()
            if self.on_sample and cfg.sample_every and self.step % cfg.sample_every == 0 and self.step < end:
                self._sample()
        bar.close()
        finished = self.step >= cfg.steps
        self.save(finished=finished)
        acc.wait_for_everyone()  # the next stage of every process reads this checkpoint
        if finished and self.on_sample:
            self._sample()
        seconds = time.time() - t0
        self.run.log(f"[{self.name}] trained to step {self.step} in {seconds:.1f}s")
        return {"steps": self.step, "seconds": seconds, "losses": history}

    def _sample(self) -> None:
        if not self.accelerator.is_main_process:
            return
        model = self.ema.shadow if self.ema else self.accelerator.unwrap_model(self.model)
        was = model.training
        model.eval()
        with torch.no_grad():
            preview = self.on_sample(model, self.step)
        self._train_mode(model, was)
        if self.trackers is not None and preview is not None:
            self.trackers.log_preview(preview, self.step)

    def _train_mode(self, model: nn.Module, mode: bool) -> None:
        """``model.train(mode)``, except that with ``train_only`` only those sub-modules train."""
        if mode and self.train_only is not None:
            model.eval()
            for m in self.train_only:
                m.train()
        else:
            model.train(mode)
