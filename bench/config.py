"""The benchmark config: which runs to train or reuse, which methods to sample, how to evaluate."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lfdm_bench.kinds import MODELS

# real_fresh ("real, fresh takes", the floor at the methods' sizes) exists for the embedded datasets only: the
# benchmark skips it, saying so, on others; lfae / lfae_fit: the LFAE with predicted / target-fitted (oracle) flows
GENERATORS = MODELS  # the trained generators (lfdm_bench.kinds), first among the methods
LABELS = {"lfdm": "LFDM", "ldm": "LDM", "vdm": "VDM", "imaginator": "ImaGINator"}  # in grids, captions, run facts
METHODS = (*GENERATORS, "static", "retrieval", "real", "real_fresh", "lfae", "lfae_fit")


@dataclass
class BenchEvalConfig:
    """The evaluation protocol of every number of the benchmark (see
    :class:`metrics.protocol.EvalProtocol`)."""

    metrics: tuple[str, ...] = ("fvd", "cfvd", "sfvd", "kvd", "acc", "psnr", "ssim", "motion", "expr")
    # "auto": the embedded dataset's shipped VCNN (synth-faces-vcnn-v1, ...); or a VCNN name / JSON, a path to I3D
    # weights (comparable only with a known published sha256), or i3d-random (a pipeline smoke test only)
    detector: str = "auto"
    protocol: str = "lfdm-bench"  # FVD preset (metrics.presets): lfdm-bench, tf, stylegan-v, videogpt, ...
    # None = the preset's value; a value given here overrides the preset and is recorded as an override
    n_frames: int | None = None
    real_sampling: str | None = None
    max_real: int | None = None  # real clips per split; None = the preset's number (all for lfdm-bench)
    max_generated: int | None = None
    allow_span_mismatch: bool = False  # compute FVD even when real and generated clips span different times
    ddof: int | None = None
    bn_eps: float | None = None
    precision: str | None = None  # fp32 (default of every preset) or bf16 (the fp32 drift is then stored)
    batch_size: int = 8
    # bootstrap resamples (of both the generated and the real videos) for the SE of the 95% FVD interval
    # (metrics.uncertainty.fvd_interval; 0 = off)
    bootstrap: int = 200
    seed: int = 0


@dataclass
class BenchAblationConfig:
    """Table 3: a sampler x steps x guidance grid of each diffusion generator (LFDM, LDM, VDM: ``lfdm-bench ablate``
    inside the benchmark) on the first ``max_subjects`` VALIDATION subjects (every class; ``None``: all), against
    the real validation videos. Each generator's best setting by one rule
    (:func:`bench.results.best_setting`) then samples its test and train videos: no setting is chosen on
    the test subjects. ``samplers: []`` skips it (the run configs' samplers are used)."""

    samplers: tuple[str, ...] = ("ddim", "dpmsolver++")
    steps: tuple[int, ...] = (5, 10, 20)
    guidance: tuple[float, ...] = (1.0, 3.0)
    etas: tuple[float, ...] = (1.0,)
    max_subjects: int | None = None
    per_pair: int = 1  # videos per (subject, class) pair at each setting (the main tables' per_pair is separate)
    metrics: tuple[str, ...] = ("fvd", "acc", "motion", "expr")


PAPER_STUDIES = ("unconditional", "text_encoder", "new_domain", "ddim_steps")


@dataclass
class BenchPaperConfig:
    """The paper's other experiments, run by the benchmark on its own trained runs after the main tables
    (:mod:`bench.paper`; ``lfdm-bench bench --config bench-paper``): each study samples the TEST subjects
    (``per_pair`` videos per (subject, class) pair: 182 for synth-faces) with the sampler the validation ablation
    chose for that generator, and scores them under the main tables' protocol, with subject-cluster intervals and
    paired differences inside the study. ``studies: []`` (the default benchmark) runs none.

    unconditional: every generator of ``methods`` with the null class (FVD against all real test videos).
    text_encoder: LFDM's DM retrained with one-hot class codes (same LFAE, budget, seeds, sampler) vs the run's
        BERT DM.
    new_domain: LFDM's LFAE fine-tuned on a new appearance (``new_domain_style``), decoder only vs whole, for
        ``new_domain_steps`` steps; reconstruction (``new_domain_recon`` clips) and generation with the run's DM.
    ddim_steps: LFDM with DDIM at each of ``ddim_steps`` (the chosen guidance and eta), to answer "do more DDIM
        steps make FVD worse?" with motion, class accuracy and expression beside FVD."""

    studies: tuple[str, ...] = ()
    per_pair: int = 1
    metrics: tuple[str, ...] = ("fvd", "acc", "motion", "expr")
    ddim_steps: tuple[int, ...] = (5, 10, 20, 50, 100)
    new_domain_style: str = "sketch"
    new_domain_steps: int | None = 500
    new_domain_recon: int = 128

    def __post_init__(self) -> None:
        bad = [s for s in self.studies if s not in PAPER_STUDIES]
        if bad:
            raise ValueError(f"paper.studies: unknown {bad}; valid: {list(PAPER_STUDIES)}")
        if self.per_pair < 1:
            raise ValueError(f"paper.per_pair must be >= 1, got {self.per_pair}")
        if "ddim_steps" in self.studies and (len(self.ddim_steps) < 2 or min(self.ddim_steps) < 1):
            raise ValueError(f"paper.ddim_steps needs >= 2 step counts >= 1, got {list(self.ddim_steps)}")
        if self.new_domain_steps is not None and self.new_domain_steps < 1:
            raise ValueError(f"paper.new_domain_steps must be >= 1 (or null: the run's LFAE steps), got "
                             f"{self.new_domain_steps}")


@dataclass
class BenchConfig:
    """``lfdm-bench bench --config configs/bench-*.yaml``; every stage is resumable."""

    name: str = "bench"
    lfdm_config: str = "synth-faces-cpu"
    lfdm_overrides: tuple[str, ...] = ()
    ldm_config: str = "ldm-synth-faces-cpu"
    ldm_overrides: tuple[str, ...] = ()
    vdm_config: str = "vdm-synth-faces-cpu"
    vdm_overrides: tuple[str, ...] = ()
    imaginator_config: str = "imaginator-synth-faces-cpu"
    imaginator_overrides: tuple[str, ...] = ()
    lfdm_run: str | None = None  # reuse a trained LFDM run directory instead of training one
    ldm_run: str | None = None
    vdm_run: str | None = None
    imaginator_run: str | None = None
    methods: tuple[str, ...] = METHODS
    train_split_methods: tuple[str, ...] = GENERATORS  # also sampled from train-subject images (generalisation gap)
    per_pair: int = 1  # videos per (subject, class) pair
    eval: BenchEvalConfig = field(default_factory=BenchEvalConfig)
    ablation: BenchAblationConfig = field(default_factory=BenchAblationConfig)
    paper: BenchPaperConfig = field(default_factory=BenchPaperConfig)
    grids: bool = True
    notes: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        bad = [m for m in self.methods if m not in METHODS]
        if bad:
            raise ValueError(f"methods: unknown {bad}; valid: {list(METHODS)}")
        bad = [m for m in self.train_split_methods if m not in self.methods]
        if bad:
            raise ValueError(f"train_split_methods {bad} are not in methods {list(self.methods)}")
        if self.per_pair < 1:
            raise ValueError(f"per_pair must be >= 1, got {self.per_pair}")
        needs = {"unconditional": None, "text_encoder": "lfdm", "new_domain": "lfdm", "ddim_steps": "lfdm"}
        bad = [s for s in self.paper.studies if needs[s] and needs[s] not in self.methods]
        if bad:
            raise ValueError(f"paper.studies {bad} need lfdm in methods")
