"""The benchmark pipeline: data -> train LFDM, LDM (and VDM, ImaGINator when listed) -> choose each diffusion
generator's sampler on the validation subjects (sampler ablation) -> sample every method on train and test
subjects -> evaluate -> grids -> tables. The test split is scored once, at the end; no setting is chosen on it.
One command, resumable: ``OUT/state.json`` records finished stages, which are not redone, and every stage itself
resumes (training from its last checkpoint, sampling from its manifest, evaluation from the cached real features).

Layout of ``OUT``::

    state.json                 finished stages, their wall times and outputs
    (:class:`~bench.state.ResumeState`)
    bench_config.yaml          the resolved benchmark config
    runs/<generator>/          the training runs: lfdm, ldm, vdm, imaginator (unless given with <generator>_run)
    samples/<method>_<split>/  sample folders (manifest.csv + videos)
    metrics/<method>_<split>.json   every number of one evaluation + its protocol
    ablation/, ablation_ldm/, ablation_vdm/
                               each generator's sampler x steps x guidance grid on the validation subjects:
                               ablation.json/.md/.csv, plots/*.png; its best setting samples that generator
    grids/                     sample grids (PNG, GIF); compare_<subject>.png: real take vs the generators (compare.md)
    results.json, tables.md, tables.tex, *.csv
    report.html, report_files/ the page of it all (:mod:`bench.html_report`), per-class sample GIFs
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Sequence

from baselines.imaginator.config import load_imaginator_config
from baselines.imaginator.train import open_imaginator_run, train_imaginator_run
from baselines.ldm.config import load_ldm_config
from baselines.ldm.train import open_ldm_run, train_ldm_run
from baselines.retrieval import sample_baseline
from baselines.vdm.config import load_vdm_config
from baselines.vdm.train import open_vdm_run, train_vdm_run
from bench.ablate import run_ablation
from bench.config import GENERATORS, LABELS, METHODS, BenchConfig
from bench.generators import open_trained_run
from bench.grids import write_comparison_grids, write_method_grids, write_occlusion_figure
from bench.html_report import write_html_report
from bench.paper import paper_steps
from bench.report import load_source
from bench.results import ABLATION_DIRS, best_setting, build_results, result_feature_set, write_feature_set
from bench.state import ResumeState
from bench.tables import write_tables
from lfdm_bench.config import dump_yaml
from lfdm_bench.data.loading import clip_dataset, load_data
from lfdm_bench.lfdm.config import LFDMConfig, load_lfdm_config
from lfdm_bench.lfdm.load import lfdm_config
from lfdm_bench.lfdm.reconstruction import evaluate_lfae_run
from lfdm_bench.lfdm.train import open_lfdm_run, train_lfdm_run
from metrics.evaluate import evaluate
from metrics.protocol import EvalProtocol
from metrics.uncertainty import fvd_interval, leave_take_out, real_floor
from lfdm_bench.runs import Run
from lfdm_bench.training.trained_models import load_lfae
from lfdm_bench.sampling.generate import seconds_per_video
from lfdm_bench.sampling.plugin import Generator, GeneratorError, sample_generator
from lfdm_bench.utils.io import atomic_write_json, atomic_write_text, jsonable, read_json


def _lfdm_cfg(bc: BenchConfig) -> LFDMConfig:
    """The LFDM config of the benchmark: a reused run's (from its checkpoints), else the named config."""
    if bc.lfdm_run:
        return lfdm_config(Run.open(bc.lfdm_run))
    return load_lfdm_config(bc.lfdm_config, bc.lfdm_overrides)


def resolve_bench_detector(detector: str | None, dataset: str) -> str | None:
    """The benchmark's detector setting -> the protocol's: ``auto`` is the dataset's shipped embedded-domain VCNN
    (:data:`metrics.vcnn.DEFAULT_DETECTORS`); anything else is passed on (a VCNN name or JSON, an I3D
    weight path, ``i3d-random`` = pipeline smoke test)."""
    if detector != "auto":
        return detector
    from metrics.vcnn.source import default_detector_for

    name = default_detector_for(dataset)
    if name is None:
        raise ValueError(f"eval.detector 'auto' names the embedded-domain detector of an embedded dataset, but "
                         f"{dataset!r} has none: set eval.detector to an I3D weight path (or i3d-random for a smoke "
                         "test)")
    return name


def _same_but_paper(stored: str, resolved: str) -> bool:
    """Whether the stored ``bench_config.yaml`` is the ``resolved`` one but for its ``paper`` section (the paper's
    studies run after the main stages, on the same runs and samplers, and change none of them)."""
    import yaml

    try:
        old = yaml.safe_load(stored)
    except yaml.YAMLError:
        return False
    new = yaml.safe_load(resolved)
    if not isinstance(old, dict):
        return False
    old.pop("paper", None)
    new.pop("paper", None)
    return old == new


class BenchConfigMismatch(ValueError):
    """The output folder holds a benchmark of another config."""


class Benchmark:
    """Runs the stages of a :class:`BenchConfig` into ``out``."""

    def __init__(self, bc: BenchConfig, out: str | Path, progress: bool = True, log: Callable[[str], None] = print,
                 generators: Sequence[Generator] = ()):
        self.bc, self.out, self.progress, self.say = bc, Path(out), progress, log
        # generators of --generator (lfdm_bench.sampling.plugin): one method row each, after the config's methods
        self.generators = {g.name: g for g in generators}
        for g in generators:
            if g.name in METHODS or len(self.generators) != len(generators):
                raise GeneratorError(f"--generator {g.spec}: its name {g.name!r} is taken (by a method of the "
                                     f"benchmark or another --generator); give it another: NAME={g.source}")
        self.out.mkdir(parents=True, exist_ok=True)
        resolved = dump_yaml(bc)
        cfg_path = self.out / "bench_config.yaml"
        stored = cfg_path.read_text() if cfg_path.is_file() else resolved
        if stored != resolved and not _same_but_paper(stored, resolved):
            raise BenchConfigMismatch(f"{self.out} holds a benchmark with a different config; pass another --out or "
                                      f"the same config to resume it (only the paper section may change: a "
                                      f"finished benchmark can be extended by the paper's studies)")
        atomic_write_text(cfg_path, resolved)
        self.state = ResumeState(self.out / "state.json", what="a benchmark")
        self.lfdm_cfg = _lfdm_cfg(bc)

    # --- stage runner ------------------------------------------------------------------------------------------
    def stage(self, name: str, fn: Callable[[], Any], again: bool = False) -> Any:
        """Run stage ``name`` unless the state says it is done (``again``: run it anyway), timed and recorded."""
        if self.state.done(name) and not again:
            self.say(f"[bench] {name}: done earlier, skipped")
            return self.state.get(name)["output"]
        self.say(f"[bench] {name} ...")
        t0 = time.time()
        output = fn()
        self.state.mark_timed(name, time.time() - t0, output)
        self.say(f"[bench] {name}: {time.time() - t0:.1f} s")
        return output

    def run_dir(self, generator: str) -> Path:
        """The training run of a generator of :data:`bench.config.GENERATORS`: the config's ``<generator>_run``
        when given (reused), else ``OUT/runs/<generator>``."""
        given = getattr(self.bc, f"{generator}_run")
        return Path(given) if given else self.out / "runs" / generator

    @property
    def lfdm_dir(self) -> Path:
        return self.run_dir("lfdm")

    @property
    def ldm_dir(self) -> Path:
        return self.run_dir("ldm")

    # --- stages -------------------------------------------------------------------------------------------------
    def _data(self) -> dict:
        info = load_data(self.lfdm_cfg.data, progress=self.progress)
        return {"name": info.name, **info.summary()} if hasattr(info, "summary") else {"name": info.name}

    def _train_lfdm(self) -> dict:
        run = open_lfdm_run(self.lfdm_cfg, self.lfdm_dir, self.bc.lfdm_config, self.bc.lfdm_overrides)
        out = train_lfdm_run(self.lfdm_cfg, run, "all", self.progress)
        self.say(evaluate_lfae_run(run, self.lfdm_cfg))
        return {k: {"steps": v["steps"], "seconds": v["seconds"], "params": v["params"]} for k, v in out.items()}

    def _train_ldm(self) -> dict:
        cfg = load_ldm_config(self.bc.ldm_config, self.bc.ldm_overrides)
        run = open_ldm_run(cfg, self.ldm_dir, self.bc.ldm_config, self.bc.ldm_overrides)
        out = train_ldm_run(cfg, run, "all", self.progress)
        self.say(out["ae"]["table"])
        return {k: {"steps": v["steps"], "seconds": v["seconds"], "params": v["params"]} for k, v in out.items()}

    def _train_one_stage(self, generator: str) -> dict:
        """Train VDM or ImaGINator (one stage each) from the config's ``<generator>_config`` / ``_overrides``."""
        load, open_run, train = {"vdm": (load_vdm_config, open_vdm_run, train_vdm_run),
                                 "imaginator": (load_imaginator_config, open_imaginator_run,
                                                train_imaginator_run)}[generator]
        name, overrides = getattr(self.bc, f"{generator}_config"), getattr(self.bc, f"{generator}_overrides")
        cfg = load(name, overrides)
        out = train(cfg, open_run(cfg, self.run_dir(generator), name, overrides), "all", self.progress)
        return {k: {"steps": v["steps"], "seconds": v["seconds"], "params": v["params"]} for k, v in out.items()}

    def sampler(self, method: str) -> dict[str, Any]:
        """The sampler settings of generator ``method``: its validation ablation's best (``{}`` without an
        ablation: the run config's ``sample`` section)."""
        out = self.state.get(f"ablate:{method}")["output"] if self.state.done(f"ablate:{method}") else None
        best = out.get("chosen") if isinstance(out, dict) else None
        return {k: best[k] for k in ("sampler", "steps", "guidance", "eta")} if best else {}

    def _sample(self, method: str, split: str) -> str:
        folder = self.out / "samples" / f"{method}_{split}"
        if method in self.generators:  # the LFDM run's evaluation set, as for LFDM itself
            cfg = self.lfdm_cfg
            path = sample_generator(self.generators[method], load_data(cfg.data, progress=False), cfg.data, split,
                                    folder, per_pair=self.bc.per_pair, seed=cfg.sample.seed,
                                    batch_size=cfg.sample.batch_size, progress=self.progress)
        elif method in GENERATORS:
            trained = open_trained_run(self.run_dir(method))
            path = trained.sample(split=split, per_pair=self.bc.per_pair, out=folder, progress=self.progress,
                                  **self.sampler(method))
        else:
            path = sample_baseline(self.lfdm_dir, method, split, folder, per_pair=self.bc.per_pair,
                                   progress=self.progress)
        return str(path)

    def protocol(self, split: str) -> EvalProtocol:
        e, d = self.bc.eval, self.lfdm_cfg.data
        return EvalProtocol(dataset=d.dataset, root=d.root, dataset_options=dict(d.options), split=split,
                            preset=e.protocol, n_frames=e.n_frames, resolution=d.size, real_sampling=e.real_sampling,
                            max_real=e.max_real, max_generated=e.max_generated,
                            detector=resolve_bench_detector(e.detector, d.dataset), bn_eps=e.bn_eps, ddof=e.ddof,
                            precision=e.precision, allow_span_mismatch=e.allow_span_mismatch,
                            seed=e.seed, batch_size=e.batch_size)

    def protocol_kwargs(self, split: str) -> dict[str, Any]:
        """The main tables' protocol of ``split`` as keyword arguments of a run's ablation or experiment: without
        the dataset (they take the run's) and the number of generated videos (they set their own)."""
        protocol = asdict(self.protocol(split))
        for key in ("dataset", "root", "dataset_options", "split", "max_generated", "overrides"):
            del protocol[key]
        return protocol

    def _eval(self, method: str, split: str, root: Path | None = None, metrics: Sequence[str] | None = None,
              extra: dict[str, Any] | None = None) -> str:
        """Evaluate ``ROOT/samples/<method>_<split>`` (ROOT: the benchmark folder, or a paper study's) into
        ``ROOT/metrics/<method>_<split>.json`` and its ``.features.npz`` (``metrics``: default the config's;
        ``extra``: keys added to the record, e.g. a study's settings)."""
        root = self.out if root is None else Path(root)
        samples = root / "samples" / f"{method}_{split}"
        metrics = [m for m in (metrics if metrics is not None else self.bc.eval.metrics)
                   if not (method == "real" and m in ("psnr", "ssim"))]
        result = evaluate(self.protocol(split), samples, metrics, dataset=load_data(self.lfdm_cfg.data),
                          progress=self.progress, log_fn=self.say)
        record = result.to_dict()
        e = self.bc.eval
        ref = result.counts.get("real_split", {}).get(split, split)
        ddof = result.protocol["ddof"]
        feature_set = result_feature_set(result, split) if "fvd" in metrics else None
        if feature_set is not None:
            gen_feats, gen_subjects, real_feats, real_recs, _ = feature_set
            record["fvd_interval"] = fvd_interval(gen_feats, real_feats, e.bootstrap, e.seed, ddof,
                                                  gen_groups=gen_subjects, real_groups=[r.subject for r in real_recs])
            if not (method == "real" and ref == split):  # the paired differences to LFDM (tables stage) read these
                write_feature_set(root / "metrics" / f"{method}_{split}.features.npz", *feature_set)
            record["fvd_ci"] = record["fvd_interval"] and [record["fvd_interval"]["lo"], record["fvd_interval"]["hi"]]
            if method == "real" and ref == split:
                # the copied takes belong to the reference: score each take slot against the pair's other takes
                # instead, and write the real-vs-real floor (disjoint halves) beside it
                held = leave_take_out(real_feats, real_recs, split, ddof=ddof, seed=e.seed, n_boot=e.bootstrap)
                if held is not None:
                    record["values_vs_full_reference"] = {m: record["values"].get(m) for m in held["values"]}
                    record["values"].update(held["values"])
                    record["counts"].update(held["counts"])
                    record.update(fvd_ci=held["fvd_ci"], fvd_interval=held["fvd_interval"], what=held["what"])
                else:
                    record["what"] = ("copies of reference videos (one take per pair, nothing to hold out): an "
                                      "optimistic floor")
                floor = real_floor(real_feats, real_recs, split, ddof=ddof, seed=e.seed, n_boot=e.bootstrap)
                floor.update(protocol=record["protocol"], detector=record["detector"], method="floor", split=split,
                             seconds_per_video=None)
                atomic_write_json(root / "metrics" / f"floor_{split}.json", jsonable(floor))
        if method == "real_fresh":
            record["what"] = (f"{self.bc.per_pair} fresh real take(s) of every (subject, class) pair (new motion draws "
                              "of the same subjects and classes, not in the reference), evaluated like a generator")
        record["seconds_per_video"] = seconds_per_video(samples / "manifest.csv")
        record["method"], record["split"] = method, split
        record.update(extra or {})
        path = root / "metrics" / f"{method}_{split}.json"
        atomic_write_json(path, jsonable(record))
        return str(path)

    def _ablate(self, method: str) -> dict[str, Any]:
        """Generator ``method``'s sampler ablation on the validation subjects (no test video is read); its best
        setting (:func:`~bench.results.best_setting`) samples that generator's test and train sets."""
        a = self.bc.ablation
        load_data(self.lfdm_cfg.data, progress=False).split("val")  # a dataset without validation subjects: say so
        # the main tables' protocol on the validation split; the dataset comes from the run and the number of
        # generated videos from the grid
        protocol = self.protocol_kwargs("val")
        out = self.out / ABLATION_DIRS[method]
        rows = run_ablation(self.run_dir(method), a.samplers, a.steps, a.guidance,
                            a.etas, split="val", per_pair=a.per_pair, metrics=a.metrics, out=out,
                            progress=self.progress, log_fn=self.say, max_subjects=a.max_subjects, **protocol)
        chosen = best_setting(rows)
        if chosen:
            self.say(f"[bench] {method} sampler chosen on validation subjects: {chosen['sampler']}, "
                     f"{chosen['steps']} steps, guidance {chosen['guidance']:g}")
        return {"ablation": str(out / "ablation.json"), "split": "val", "chosen": chosen}

    def _grids(self) -> list[str]:
        methods = (*self.bc.methods, *self.generators)
        paths = write_method_grids({m: self.out / "samples" / f"{m}_test" for m in methods if m not in self.skipped()},
                                   self.out / "grids")
        generators = {LABELS[m]: self.out / "samples" / f"{m}_test" for m in GENERATORS if m in self.bc.methods}
        paths += write_comparison_grids(generators, self.out / "grids")
        if "lfdm" in self.bc.methods:  # what the LFAE keeps and what it paints (issue 21)
            info = load_data(self.lfdm_cfg.data, progress=False)
            clips = clip_dataset(info, self.lfdm_cfg.data, "test", train=False)
            paths += write_occlusion_figure(load_lfae(Run.open(self.lfdm_dir)), clips, self.out / "grids")
        return paths

    def skipped(self) -> dict[str, str]:
        """Methods of the config that cannot run on this dataset -> why (stated in the log and the tables)."""
        from lfdm_bench.data.synth.make import SYNTH_DATASETS

        d = self.lfdm_cfg.data.dataset
        if "real_fresh" not in self.bc.methods or d in SYNTH_DATASETS:
            return {}
        return {"real_fresh": f"{d} is not an embedded dataset: fresh real takes cannot be rendered for it"}

    def _tables(self) -> dict:
        wall = {k: v["seconds"] for k, v in self.state.data["parts"].items()}
        runs = {LABELS[m]: self.run_dir(m) for m in GENERATORS if m == "lfdm" or m in self.bc.methods}
        runs.setdefault("LDM", self.ldm_dir)  # its autoencoder table is read when the folder holds one
        results = build_results(self.out, self.bc, self.lfdm_cfg, runs, wall)
        results["skipped"] = self.skipped()
        seeds = self.out / "seeds.json"
        if seeds.is_file():  # written by `bench --seeds` (bench.seeds), which then rewrites tables and report
            results["training_seeds"] = read_json(seeds, "delete it, or run `lfdm-bench bench --seeds ...` again")
        if self.generators:  # only then: a benchmark without --generator writes the results it always did
            results["generators"] = {n: g.source for n, g in self.generators.items()}
        return {k: str(v) for k, v in write_tables(results, self.out).items()}

    def _report(self) -> str:
        records = load_data(self.lfdm_cfg.data, progress=False).records  # crop boxes of the source takes
        return str(write_html_report([load_source(self.out)], self.out / "report.html", source_records=records))

    # --- the whole thing ----------------------------------------------------------------------------------------
    def plan(self) -> list[tuple[str, Callable[[], Any]]]:
        bc = self.bc
        steps: list[tuple[str, Callable[[], Any]]] = [("data", self._data)]
        if not bc.lfdm_run:
            steps.append(("train:lfdm", self._train_lfdm))
        if "ldm" in bc.methods and not bc.ldm_run:
            steps.append(("train:ldm", self._train_ldm))
        steps += [(f"train:{g}", (lambda g=g: self._train_one_stage(g))) for g in ("vdm", "imaginator")
                  if g in bc.methods and not getattr(bc, f"{g}_run")]
        for m, why in self.skipped().items():
            self.say(f"[bench] {m}: skipped, {why}")
        # settings are chosen on the validation subjects before anything is sampled from the test subjects
        if bc.ablation.samplers:
            # each diffusion generator's (ImaGINator, a GAN, has no sampler to choose)
            steps += [(f"ablate:{m}", (lambda m=m: self._ablate(m))) for m in ABLATION_DIRS if m in bc.methods]
        pairs = [(m, "test") for m in bc.methods if m not in self.skipped()] + [
            (m, "train") for m in bc.train_split_methods if m not in self.skipped()]
        pairs += [(m, s) for s in ("test", "train") for m in self.generators]  # driven like LFDM and LDM
        if any(not self.state.done(f"eval:{m}:{s}") for m in self.generators for s in ("test", "train")):
            for part in ("grids", "tables", "report"):  # a --generator new to this folder: its rows join them
                self.state.data["parts"].pop(part, None)
        steps += [(f"sample:{m}:{s}", (lambda m=m, s=s: self._sample(m, s))) for m, s in pairs]
        steps += [(f"eval:{m}:{s}", (lambda m=m, s=s: self._eval(m, s))) for m, s in pairs]
        paper = paper_steps(self)  # the paper's other studies, after every main-table stage
        if any(not self.state.done(name) for name, _ in paper):
            for part in ("tables", "report"):  # studies new to this folder: their tables and claims join them
                self.state.data["parts"].pop(part, None)
        steps += paper
        if bc.grids:
            steps.append(("grids", self._grids))
        steps.append(("tables", self._tables))
        steps.append(("report", self._report))
        return steps

    def tables_and_report(self) -> None:
        """Rewrite results.json, the tables and report.html of a finished benchmark (``bench --seeds`` adds its
        training seeds to them)."""
        for name, fn in (("tables", self._tables), ("report", self._report)):
            self.stage(name, fn, again=True)

    def run(self) -> dict:
        t0 = time.time()
        for name, fn in self.plan():
            self.stage(name, fn)
        total = sum(v["seconds"] for v in self.state.data["parts"].values())
        self.say(f"[bench] finished in {time.time() - t0:.0f} s this call ({total:.0f} s of stage time in all); "
                 f"results in {self.out}")
        return self.state.data
