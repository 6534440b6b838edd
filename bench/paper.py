"""The paper's other experiments, run by the benchmark on its own trained runs (``lfdm-bench bench --config
bench-paper``; :class:`bench.config.BenchPaperConfig`): unconditional generation, BERT vs one-hot class codes, a new
appearance domain, and DDIM step counts.

Every study samples the TEST subjects (``paper.per_pair`` videos per (subject, class) pair) with the sampler that
the validation ablation chose for the generator (nothing is chosen here), and is scored by the benchmark's own
evaluation (its protocol, detector, subject-cluster intervals) into its own folder::

    OUT/paper/<study>/samples/<row>_test/          sample folders
    OUT/paper/<study>/metrics/<row>_test.json      every number of one row + its protocol
    OUT/paper/<study>/metrics/<row>_test.features.npz   per-video features: the paired differences inside the study
    OUT/paper/new_domain/new_domain.json           the new-domain experiment's own state and tables
                                                   (:mod:`bench.experiments.new_domain`), features in features/

Each row is one benchmark stage (``paper:<study>:<row>``), so an interrupted run resumes where it stopped. The
tables stage reads them back (:func:`bench.results.paper_results`) into ``results.json["paper"]``: rows, and each
row's FVD minus the study's reference row with a paired subject-cluster interval, which the claims table
(:mod:`bench.claims`) reads.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Callable

from bench.config import GENERATORS, LABELS
from bench.generators import open_trained_run
from bench.results import PAPER_DIR, PAPER_SPLIT, method_summary
from lfdm_bench.checkpoints import copy_checkpoint
from lfdm_bench.config import from_dict, to_dict
from lfdm_bench.lfdm.config import LFDMConfig
from lfdm_bench.lfdm.train import open_lfdm_run, train_dm
from lfdm_bench.runs import Run
from lfdm_bench.utils.io import read_json

__all__ = ["paper_steps"]

SPLIT = PAPER_SPLIT


def ddim_row(steps: int) -> str:
    return f"ddim_s{int(steps)}"


TEXT_KINDS = ("bert", "onehot")


def other_text_kind(cfg: LFDMConfig) -> str:
    """The class conditioning the text-encoder study retrains with: one-hot codes for a BERT run, and BERT for a
    one-hot run (the tiny configs)."""
    return "onehot" if cfg.dm.text.kind == "bert" else "bert"


def _text_config(cfg: LFDMConfig, kind: str) -> LFDMConfig:
    d = to_dict(cfg)
    d["dm"]["text"]["kind"] = kind
    d["name"] = f"{d['name']}-text-{kind}"
    return from_dict(LFDMConfig, d)


class PaperStudies:
    """The stages of ``bench.paper.studies`` for a :class:`bench.pipeline.Benchmark` ``b`` (its run folders, chosen
    samplers, evaluation and protocol are used as they are)."""

    def __init__(self, b: Any):
        self.b, self.bc, self.pc = b, b.bc, b.bc.paper
        self.root = b.out / PAPER_DIR

    def folder(self, study: str) -> Path:
        return self.root / study

    def _sample_and_eval(self, study: str, row: str, run_dir: Path, settings: dict[str, Any],
                         info: dict[str, Any]) -> dict[str, Any]:
        """Sample ``run_dir`` on the test subjects with ``settings`` into the study's folder and evaluate it."""
        root = self.folder(study)
        folder = root / "samples" / f"{row}_{SPLIT}"
        open_trained_run(run_dir).sample(split=SPLIT, per_pair=self.pc.per_pair, out=folder,
                                         progress=self.b.progress, **settings)
        path = self.b._eval(row, SPLIT, root=root, metrics=self.pc.metrics,
                            extra={"paper": {"study": study, "row": row, "run": str(run_dir), "settings": settings,
                                             **info}})
        s = method_summary(read_json(Path(path)), SPLIT)
        self.b.say(f"[paper] {study} {row}: fvd {s['fvd']}, acc {s['acc']}, motion x real {s['motion_ratio']}")
        return {"metrics": str(path), "fvd": s["fvd"], "n_videos": s["n_generated"]}

    # --- studies -------------------------------------------------------------------------------------------------
    def unconditional(self, g: str) -> dict[str, Any]:
        settings = {**self.b.sampler(g), "unconditional": True}
        if "guidance" in settings:
            settings["guidance"] = 1.0  # no class to guide towards
        return self._sample_and_eval("unconditional", g, self.b.run_dir(g), settings,
                                     {"generator": LABELS[g], "condition": "null class"})

    def text_kinds(self) -> tuple[str, str]:
        """(the benchmark LFDM run's class conditioning, the one the study retrains with)."""
        return self.b.lfdm_cfg.dm.text.kind, other_text_kind(self.b.lfdm_cfg)

    def text_run(self) -> Path:
        return self.folder("text_encoder") / "runs" / self.text_kinds()[1]

    def train_text_variant(self) -> dict[str, Any]:
        """LFDM's DM retrained with the other class conditioning (one-hot codes for the default's BERT) from the
        run's LFAE (same config, budget and seeds); the LFAE checkpoint is copied with its metadata, so the run's
        precomputed flow targets are reused."""
        src = Run.open(self.b.lfdm_dir)
        kind = self.text_kinds()[1]
        cfg = _text_config(self.b.lfdm_cfg, kind)
        run = open_lfdm_run(cfg, self.text_run(), self.bc.lfdm_config, [*self.bc.lfdm_overrides,
                                                                        f"dm.text.kind={kind}"])
        copy_checkpoint(src.checkpoints / "lfae" / "last.pt", run.checkpoints / "lfae" / "last.pt")
        for f in sorted((src.root / "cache").glob("dm_targets_*.pt")):  # keyed on the LFAE file: same key here
            if not (run.root / "cache" / f.name).is_file():
                (run.root / "cache").mkdir(parents=True, exist_ok=True)
                shutil.copy2(f, run.root / "cache" / f.name)
        self.b.say(f"[paper] text_encoder: training the DM with {kind} class conditioning ({cfg.dm.train.steps} "
                   "steps)")
        r = train_dm(cfg, run, progress=self.b.progress)
        return {"steps": r["steps"], "seconds": r["seconds"], "params": r["params"], "run": str(run.root)}

    def text_encoder(self, row: str) -> dict[str, Any]:
        own = row == self.text_kinds()[0]
        return self._sample_and_eval("text_encoder", row, self.b.lfdm_dir if own else self.text_run(),
                                     self.b.sampler("lfdm"),
                                     {"text_encoder": row, "dm": "the benchmark's LFDM run" if own else
                                      "retrained from the same LFAE (same config, budget, seeds)"})

    def ddim(self, steps: int) -> dict[str, Any]:
        chosen = self.b.sampler("lfdm")
        settings = {"sampler": "ddim", "steps": int(steps), "guidance": chosen.get("guidance", 1.0),
                    "eta": chosen.get("eta", 0.0)}
        return self._sample_and_eval("ddim_steps", ddim_row(steps), self.b.lfdm_dir, settings,
                                     {"steps": int(steps)})

    def new_domain(self) -> dict[str, Any]:
        from bench.experiments.new_domain import run_new_domain

        state = run_new_domain(self.b.lfdm_dir, self.pc.new_domain_style, self.pc.new_domain_steps, split=SPLIT,
                               per_pair=self.pc.per_pair, max_recon=self.pc.new_domain_recon,
                               metrics=self.pc.metrics, out=self.folder("new_domain"), progress=self.b.progress,
                               log_fn=self.b.say, sampler=self.b.sampler("lfdm"), features=True,
                               **self.b.protocol_kwargs(SPLIT))
        return {"state": str(self.folder("new_domain") / "new_domain.json"),
                "rows": [r["row"] for r in state["rows"]]}

    def steps(self) -> list[tuple[str, Callable[[], Any]]]:
        """The studies' stages, in order: ``paper:<study>:<row>``."""
        out: list[tuple[str, Callable[[], Any]]] = []
        studies, methods = self.pc.studies, self.bc.methods
        if "unconditional" in studies:
            out += [(f"paper:unconditional:{g}", (lambda g=g: self.unconditional(g))) for g in GENERATORS
                    if g in methods]
        if "text_encoder" in studies:
            out += [("paper:text_encoder:train", self.train_text_variant)]
            out += [(f"paper:text_encoder:{r}", (lambda r=r: self.text_encoder(r))) for r in TEXT_KINDS]
        if "new_domain" in studies:
            out.append(("paper:new_domain", self.new_domain))
        if "ddim_steps" in studies:
            out += [(f"paper:ddim_steps:{n}", (lambda n=n: self.ddim(n))) for n in sorted(set(self.pc.ddim_steps))]
        return out


def paper_steps(b: Any) -> list[tuple[str, Callable[[], Any]]]:
    return PaperStudies(b).steps()
