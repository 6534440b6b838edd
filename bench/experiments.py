"""The paper's other experiments on trained runs: unconditional generation, a new appearance domain, text encoders.

Each is a library function plus a command of the click group ``experiment``; each writes ``OUT/<name>.json`` (rows
+ the request + the evaluation protocol + the detector + the environment, rewritten atomically after every part, so a
rerun skips finished parts and a rerun with other settings is refused), ``OUT/<name>.md`` and ``OUT/<name>.csv``.

* :func:`run_unconditional` (``experiment unconditional``): a run (LFDM or LDM, by ``RUN/run.json``) sampled with
  the null condition and conditionally, with the same sources and seeds, both scored under ONE protocol (FVD +
  class accuracy). The accuracy of unconditional videos is measured against the class of their source video: a
  generator that ignores the class scores about chance there, which is the point of the comparison.
* :func:`run_new_domain` (``experiment new-domain``): the paper's FaceForensics experiment on the synthetic data: the
  same subjects and motions rendered in another style (``DataConfig.options.style``). The LFAE of an LFDM run is
  fine-tuned on the new domain's train split, (a) decoder only (``generator.decoder_modules()``: bottleneck, up
  blocks, final conv; everything else frozen, BatchNorm statistics of the frozen modules included) and (b) whole;
  then (1) reconstruction of new-domain test clips by the source LFAE, (a) and (b), and (2) new-domain generation
  with the SOURCE run's DM (not retrained) over each LFAE. Every variant is a run folder ``OUT/runs/<variant>``
  (``source``: the source LFAE as is) holding the new-domain config, its LFAE and a copy of the source DM
  checkpoint (``finetune.json`` says so).
* :func:`run_text_encoder` (``experiment text-encoder``): the DM trained twice from one shared LFAE with the same
  budget and seeds, text encoder ``bert`` (the config's text settings) vs ``onehot``, then sampled and scored
  (FVD, cFVD, class accuracy).

Example::

    lfdm-bench experiment unconditional --run runs/tiny-lfdm --i3d i3d-random
    lfdm-bench experiment new-domain --run runs/tiny-lfdm --style sketch --steps 500
    lfdm-bench experiment text-encoder --config synth-faces-cpu --lfae-run runs/synth-faces-cpu-lfdm
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import click
import torch
from torch import nn

__all__ = ["STYLES", "TEXT_ENCODERS", "ExperimentState", "decoder_parameters", "finetune_lfae", "new_domain_config",
           "run_unconditional", "run_new_domain", "run_text_encoder", "experiment"]

STYLES = ("flat", "shaded", "sketch")
TEXT_ENCODERS = ("bert", "onehot")
FINETUNE_VARIANTS = ("decoder", "whole")
LogFn = Callable[[str], None]


# ------------------------------------------------------------------------------------------------ shared pieces
class ExperimentState:
    """``OUT/<name>.json``: the request, the protocol, finished rows; refuses a resume with other settings."""

    def __init__(self, out: Path, name: str, request: dict[str, Any]):
        from lfdm_bench.metrics.tables import jsonable

        self.out, self.name, self.request = Path(out), name, jsonable(request)
        self.out.mkdir(parents=True, exist_ok=True)
        self.path = self.out / f"{name}.json"
        self.data: dict[str, Any] = {"experiment": name, "request": self.request, "protocol": None,
                                     "detector": None, "rows": [], "parts": {}, "notes": []}
        if self.path.is_file():
            old = json.loads(self.path.read_text())
            differ = sorted(k for k in set(self.request) | set(old.get("request", {}))
                            if self.request.get(k) != old.get("request", {}).get(k))
            if differ:
                raise ValueError(f"{self.out} holds a {name} experiment made with different settings "
                                 f"({', '.join(differ)}); rerun with the same settings to resume it, "
                                 "or pass another --out")
            self.data.update({k: v for k, v in old.items() if k != "request"})

    def done(self, part: str) -> bool:
        return part in self.data["parts"]

    def get(self, part: str) -> Any:
        return self.data["parts"][part]

    def mark(self, part: str, output: Any) -> None:
        self.data["parts"][part] = output
        self.save()

    def add_row(self, row: dict[str, Any]) -> None:
        self.data["rows"] = [r for r in self.data["rows"] if r.get("row") != row["row"]] + [row]
        self.save()

    def row(self, name: str) -> dict[str, Any] | None:
        return next((r for r in self.data["rows"] if r.get("row") == name), None)

    def save(self) -> None:
        from lfdm_bench.runs import environment, hardware_summary
        from lfdm_bench.utils.io import atomic_write_json
        from lfdm_bench.metrics.tables import jsonable

        self.data["environment"], self.data["hardware"] = environment(), hardware_summary()
        atomic_write_json(self.path, jsonable(self.data))


def _say(log_fn: LogFn | None) -> LogFn:
    return log_fn or (lambda m: print(m, file=sys.stderr, flush=True))


def _split_detector(detector: Any, protocol_kwargs: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """A path / ``"i3d-random"`` goes into the protocol; a FeatureSource replaces the protocol's I3D (tests)."""
    kw = dict(protocol_kwargs)
    if "i3d" in kw:
        kw["detector"] = kw.pop("i3d")
    if detector is None or isinstance(detector, (str, Path)):
        if detector is not None:
            kw["detector"] = str(detector)
        return None, kw
    return detector, kw


def _protocol(data: dict[str, Any], split: str, max_videos: int | None, protocol_kwargs: dict[str, Any]):
    from lfdm_bench.metrics.protocol import EvalProtocol

    kw = dict(protocol_kwargs)
    kw.setdefault("n_frames", int(data.get("n_frames", 16)))
    return EvalProtocol(dataset=data["dataset"], root=data.get("root"), dataset_options=dict(data.get("options") or {}),
                        split=split, max_generated=max_videos, **kw)


def _score(protocol, folder: Path, metrics: Sequence[str], detector: Any, cache: Any, progress: bool,
           say: LogFn, state: ExperimentState) -> dict[str, Any]:
    """Evaluate one sample folder; the protocol / detector actually used are stored in the state."""
    from lfdm_bench.bench.ablate import num_or_none, row_from_result
    from lfdm_bench.data.registry import get_dataset
    from lfdm_bench.sampling.generate import seconds_per_video
    from lfdm_bench.metrics.protocol import evaluate

    dataset = get_dataset(protocol.dataset, root=protocol.root, **protocol.dataset_options)
    result = evaluate(protocol, folder, metrics, dataset=dataset, detector=detector, cache=cache, progress=progress,
                      log_fn=say)
    state.data["protocol"], state.data["detector"] = result.protocol, result.detector
    for note in result.notes:
        if note not in state.data["notes"]:
            state.data["notes"].append(note)
    row = row_from_result(protocol.split, result)
    row["seconds_per_video"] = num_or_none(seconds_per_video(folder / "manifest.csv"))
    row["samples"] = str(folder)
    return row


def _sampler_of(run_dir: Path):
    from lfdm_bench.runs import Run

    info = Run(run_dir).read_json("run.json") or {}
    method = info.get("model", "lfdm")
    if method == "lfdm":
        from lfdm_bench.sampling.run import sample_lfdm_run as sample_run
    elif method == "ldm":
        from lfdm_bench.baselines.ldm.sample import sample_ldm_run as sample_run
    else:
        raise ValueError(f"{run_dir}/run.json names model {method!r}; expected 'lfdm' or 'ldm'")
    return method, sample_run


def _run_yaml(run_dir: Path) -> dict[str, Any]:
    import yaml

    return yaml.safe_load((Path(run_dir) / "config.yaml").read_text()) or {}


def _write_tables(state: ExperimentState, title: str, columns: Sequence[str], extra: Sequence[str] = ()) -> dict:
    """``OUT/<name>.md`` (protocol line, table, notes) and ``OUT/<name>.csv`` (raw rows)."""
    import pandas as pd

    from lfdm_bench.bench.ablate import display_rows
    from lfdm_bench.utils.io import atomic_write_text
    from lfdm_bench.metrics.tables import NOT_COMPARABLE, to_markdown

    rows = state.data["rows"]
    table = display_rows(rows, columns, {"kvd": 4, "acc_motion": 3, "acc_i3d": 3, "l1": 4, "ssim": 4,
                                         "seconds_per_video": 3}, g_columns=("guidance",))
    lines = [f"# {title}", ""]
    p, det = state.data.get("protocol"), state.data.get("detector") or {}
    if p:
        lines.append(f"Protocol: dataset {p.get('dataset')} {p.get('dataset_options') or ''}, split {p.get('split')}, "
                     f"{p.get('n_frames')} frames at {p.get('resolution')}px, ddof {p.get('ddof')}, "
                     f"detector {det.get('name')} (sha256 {str(det.get('sha256'))[:16]})")
        if not det.get("comparable_with_published"):
            lines.append(f"WARNING: {NOT_COMPARABLE}")
        lines.append("")
    lines += [to_markdown(table), ""]
    lines += [f"- {e}" for e in extra]
    lines += [f"- {n}" for n in state.data.get("notes", [])]
    md, csv = state.out / f"{state.name}.md", state.out / f"{state.name}.csv"
    atomic_write_text(md, "\n".join(lines) + "\n")
    atomic_write_text(csv, pd.DataFrame(list(rows)).to_csv(index=False))
    return {"md": md, "csv": csv, "json": state.path}


# ------------------------------------------------------------------------------------------ 1. unconditional
UNCOND_COLUMNS = ("row", "method", "condition", "guidance", "fvd", "acc_motion", "acc_i3d", "seconds_per_video",
                  "n_videos")


def run_unconditional(run_dir: str | Path, split: str = "test", per_pair: int = 1, max_videos: int | None = None,
                      metrics: Iterable[str] = ("fvd", "acc"), out: str | Path | None = None, progress: bool = False,
                      *, detector: Any = None, cache: Any = True, log_fn: LogFn | None = None,
                      **protocol_kwargs: Any) -> dict[str, Any]:
    """Conditional vs unconditional (null class) generation of one run, same sources and seeds, one protocol.

    Args:
        run_dir: a trained LFDM or LDM run (``RUN/run.json`` names the model).
        split: split of the source images (``test`` or ``train``).
        per_pair: videos per (subject, class) pair of the split.
        max_videos: evaluate at most this many generated videos (class-stratified, seeded; the same subset for both).
        metrics: metric names of :mod:`lfdm_bench.metrics.protocol` (default FVD + class accuracy).
        out: output folder (default ``RUN/experiments/unconditional``).
        detector, cache, **protocol_kwargs: as for :func:`lfdm_bench.bench.ablate.run_ablation`.

    Returns:
        the state dict written to ``OUT/unconditional.json`` (rows ``conditional`` and ``unconditional``).
    """
    from lfdm_bench.runs import Run
    from lfdm_bench.metrics.protocol import parse_metrics

    say = _say(log_fn)
    run = Run.open(run_dir)
    if split not in ("test", "train"):
        raise ValueError(f"split must be 'test' or 'train', got {split!r}")
    if int(per_pair) < 1:
        raise ValueError(f"per_pair must be >= 1, got {per_pair}")
    method, sample_run = _sampler_of(run.root)
    cfg = _run_yaml(run.root)
    s = cfg.get("sample", {})
    wanted = parse_metrics(metrics)
    detector, protocol_kwargs = _split_detector(detector, protocol_kwargs)
    protocol = _protocol(cfg["data"], split, max_videos, protocol_kwargs)
    out = Path(out) if out is not None else run.root / "experiments" / "unconditional"
    state = ExperimentState(out, "unconditional", {
        "run": str(run.root.resolve()), "method": method, "split": split, "per_pair": int(per_pair),
        "max_videos": max_videos, "metrics": list(wanted), "protocol": protocol.to_dict(),
        "detector_override": detector.info.to_dict() if detector is not None else None,
        "sampler": {k: s.get(k) for k in ("sampler", "steps", "eta", "guidance", "seed")}})
    for name, uncond in (("conditional", False), ("unconditional", True)):
        if state.row(name):
            say(f"[unconditional] {name}: done, skipped")
            continue
        folder = out / "samples" / name
        say(f"[unconditional] {name}: sampling {split} set")
        sample_run(run, split=split, per_pair=per_pair, unconditional=uncond, out=folder, progress=progress)
        row = {"row": name, "method": method, "condition": "null (class dropped)" if uncond else "class text",
               "unconditional": uncond, "guidance": None if uncond else s.get("guidance"),
               "sampler": s.get("sampler"), "steps": s.get("steps"), "eta": s.get("eta"),
               "sample_seed": s.get("seed"), "split": split,
               **_score(protocol, folder, wanted, detector, cache, progress, say, state)}
        state.add_row(row)
        say(f"[unconditional] {name}: fvd {row['fvd']}, acc {row['acc_motion']}")
    state.data["tables"] = {k: str(v) for k, v in _write_tables(
        state, f"Conditional vs unconditional generation ({method}, {split} subjects)", UNCOND_COLUMNS,
        ["Same source images and per-source seeds in both rows; unconditional = the null condition (guidance none).",
         "Accuracy of unconditional videos is against their source's class: near chance means the class is ignored."],
    ).items()}
    state.save()
    return state.data


# ------------------------------------------------------------------------------------------ 2. new domain
def new_domain_config(cfg, style: str, steps: int | None = None):
    """A copy of an :class:`LFDMConfig` whose data render ``style`` (and whose LFAE trains ``steps`` steps)."""
    from lfdm_bench.config import from_dict, to_dict
    from lfdm_bench.experiment import LFDMConfig

    if style not in STYLES:
        raise ValueError(f"style must be one of {STYLES}, got {style!r}")
    d = to_dict(cfg)
    d["data"]["options"] = {**(d["data"].get("options") or {}), "style": style}
    d["name"] = f"{d['name']}-{style}"
    if steps is not None:
        if int(steps) < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        d["lfae"]["train"]["steps"] = int(steps)
    return from_dict(LFDMConfig, d)


def decoder_parameters(lfae: nn.Module) -> list[nn.Parameter]:
    """The parameters of the LFAE generator's decoder (bottleneck residual blocks, up blocks, final conv)."""
    return [p for m in lfae.generator.decoder_modules() for p in m.parameters()]


def _freeze_except(model: nn.Module, trainable: list[nn.Module]) -> None:
    """Freeze every parameter outside ``trainable``; keep the frozen modules in eval mode (BatchNorm statistics
    frozen too) whenever the trainer puts the model in train mode."""
    model.requires_grad_(False)
    for m in trainable:
        m.requires_grad_(True)
    base_train = model.train

    def train(mode: bool = True) -> nn.Module:
        base_train(False)
        if mode:
            for m in trainable:
                m.train(True)
        return model

    model.train = train  # type: ignore[method-assign]
    model.train(model.training)


def finetune_lfae(cfg, run, init_checkpoint: str | Path, variant: str, progress: bool = True,
                  stop_at: int | None = None) -> dict[str, Any]:
    """Fine-tune an LFAE on ``cfg.data`` from ``init_checkpoint``: ``decoder`` (generator decoder only) or ``whole``.

    The checkpoint goes to ``RUN/checkpoints/lfae/last.pt`` like a normal stage 1 (so :func:`load_lfae` and
    sampling work on the run); a rerun resumes it, and a finished one is not retrained.
    """
    from lfdm_bench.models.lfae.lfae import LFAE, LFAEConfig
    from lfdm_bench.training.engine import Trainer, load_checkpoint
    from lfdm_bench.training.items import SeededClipItems
    from lfdm_bench.training.lfdm import clip_dataset, lfae_loss_fn, load_data, pair_collate

    if variant not in FINETUNE_VARIANTS:
        raise ValueError(f"variant must be one of {FINETUNE_VARIANTS}, got {variant!r}")
    ck = load_checkpoint(init_checkpoint)
    if LFAEConfig.from_dict(ck["model_config"]).to_dict() != cfg.lfae.model.to_dict():
        raise ValueError(f"{init_checkpoint} holds an LFAE with another architecture than the config's lfae.model")
    info = load_data(cfg.data)
    ds = SeededClipItems(clip_dataset(info, cfg.data, "train", seed=cfg.seed))
    torch.manual_seed(cfg.seed)
    model = LFAE(cfg.lfae.model)
    model.load_state_dict(ck["model"])
    if variant == "decoder":
        _freeze_except(model, model.generator.decoder_modules())
    params = [p for p in model.parameters() if p.requires_grad]
    loss_fn = lfae_loss_fn(cfg)

    trainer = Trainer(run, "lfae", model, loss_fn, ds, pair_collate, cfg.lfae.train,
                      model_config=asdict(cfg.lfae.model), params=params, progress=progress)
    out = trainer.fit(stop_at=stop_at)
    out.pop("losses", None)
    out["trainable_params"] = sum(p.numel() for p in params)
    out["params"] = sum(p.numel() for p in model.parameters())
    return out


def _copy_checkpoint(src: Path, dst: Path) -> None:
    """Copy a stage checkpoint (metadata kept: the DM target cache is keyed on the LFAE file's mtime)."""
    if not dst.is_file():
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_suffix(".tmp")
        shutil.copy2(src, tmp)
        tmp.replace(dst)


NEW_DOMAIN_COLUMNS = ("row", "part", "lfae", "trained", "z0", "l1", "psnr", "ssim", "fvd", "acc_motion", "acc_i3d",
                      "n_videos")
Z0_NOTE = {"source": "source encoder (unchanged)", "decoder": "source encoder (unchanged)",
           "whole": "fine-tuned encoder (changed: the DM was trained on the source encoder's z0)"}


def run_new_domain(run_dir: str | Path, style: str, steps: int | None = None, split: str = "test",
                   per_pair: int = 1, max_videos: int | None = None, max_recon: int | None = 128,
                   metrics: Iterable[str] = ("fvd", "acc"), out: str | Path | None = None, progress: bool = False,
                   *, detector: Any = None, cache: Any = True, log_fn: LogFn | None = None,
                   **protocol_kwargs: Any) -> dict[str, Any]:
    """The LFAE of an LFDM run moved to a new appearance domain (the paper's FaceForensics experiment).

    Args:
        run_dir: a trained LFDM run (LFAE + DM) on a synthetic dataset.
        style: the new domain: ``shaded`` or ``sketch`` (``flat`` is the default domain).
        steps: fine-tuning steps of each variant (default: the run's ``lfae.train.steps``).
        split: test subjects of the new domain for reconstruction and generation (``test`` or ``train``).
        max_recon: reconstruction scored on at most this many clips (an even cover of subjects and classes).
        per_pair, max_videos, metrics, detector, cache, **protocol_kwargs: as for :func:`run_unconditional`.

    Returns:
        the state written to ``OUT/new_domain.json``: rows ``recon:<variant>`` (plus ``recon:copy-frame-0``) and
        ``gen:<variant>`` for variants ``source`` (no fine-tuning), ``decoder``, ``whole``.
    """
    from lfdm_bench.config import load_config
    from lfdm_bench.experiment import LFDMConfig
    from lfdm_bench.runs import Run
    from lfdm_bench.sampling.run import sample_lfdm_run
    from lfdm_bench.training.items import spread
    from lfdm_bench.training.lfdm import clip_dataset, load_data, load_lfae, open_lfdm_run, pick_device
    from lfdm_bench.metrics.protocol import parse_metrics
    from lfdm_bench.metrics.reconstruction import lfae_reconstructor, reconstruction_scores

    say = _say(log_fn)
    src = Run.open(run_dir)
    if (src.read_json("run.json") or {}).get("model", "lfdm") != "lfdm":
        raise ValueError(f"{src.root} is not an LFDM run; new-domain fine-tuning needs an LFAE")
    if split not in ("test", "train"):
        raise ValueError(f"split must be 'test' or 'train', got {split!r}")
    for stage in ("lfae", "dm"):
        if not (src.checkpoints / stage / "last.pt").is_file():
            raise FileNotFoundError(f"{src.root} has no {stage} checkpoint; train the run first (`lfdm-bench train`)")
    src_cfg = load_config(LFDMConfig, src.config_path)
    if style == (src_cfg.data.options or {}).get("style", "flat"):
        raise ValueError(f"the run was trained on style {style!r} already; pick another style of {STYLES}")
    cfg = new_domain_config(src_cfg, style, steps)
    wanted = parse_metrics(metrics)
    detector, protocol_kwargs = _split_detector(detector, protocol_kwargs)
    from lfdm_bench.config import to_dict

    protocol = _protocol(to_dict(cfg.data), split, max_videos, protocol_kwargs)
    out = Path(out) if out is not None else src.root / "experiments" / f"new_domain_{style}"
    state = ExperimentState(out, "new_domain", {
        "run": str(src.root.resolve()), "style": style, "finetune_steps": cfg.lfae.train.steps, "split": split,
        "per_pair": int(per_pair), "max_videos": max_videos, "max_recon": max_recon, "metrics": list(wanted),
        "protocol": protocol.to_dict(), "data": to_dict(cfg.data),
        "detector_override": detector.info.to_dict() if detector is not None else None})
    device = pick_device(cfg.device)
    src_lfae_ck, src_dm_ck = src.checkpoints / "lfae" / "last.pt", src.checkpoints / "dm" / "last.pt"

    # 1. variant run folders: new-domain config, (fine-tuned) LFAE, the source DM copied
    runs: dict[str, Run] = {}
    for variant in ("source", *FINETUNE_VARIANTS):
        vcfg = cfg if variant != "source" else new_domain_config(src_cfg, style, None)
        run = open_lfdm_run(vcfg, out / "runs" / variant, str(src.root / "config.yaml"), [f"data.options.style={style}"])
        runs[variant] = run
        part = f"train:{variant}"
        if state.done(part):
            say(f"[new-domain] {part}: done, skipped")
            continue
        t0 = time.time()
        if variant == "source":
            _copy_checkpoint(src_lfae_ck, run.checkpoints / "lfae" / "last.pt")
            info = {"steps": 0, "trainable_params": 0}
        else:
            say(f"[new-domain] fine-tuning the LFAE ({variant}) on style {style} for {cfg.lfae.train.steps} steps")
            info = finetune_lfae(vcfg, run, src_lfae_ck, variant, progress=progress)
        _copy_checkpoint(src_dm_ck, run.checkpoints / "dm" / "last.pt")
        info = {**info, "variant": variant, "init": str(src_lfae_ck), "dm": f"copied from {src_dm_ck} (not retrained)",
                "z0": Z0_NOTE[variant], "wall_seconds": round(time.time() - t0, 2)}
        run.write_json(info, "finetune.json")
        state.mark(part, info)

    # 2. reconstruction of new-domain clips
    if not state.done("recon"):
        clips = clip_dataset(load_data(cfg.data), cfg.data, split, train=False)
        clips.records = spread(clips.records, max_recon)
        settings = {"dataset": cfg.data.dataset, "options": dict(cfg.data.options), "split": split,
                    "videos": len(clips), "size": cfg.data.size, "n_frames": cfg.data.n_frames,
                    "sampling": "uniform", "frames_scored": "1..T-1 reconstructed from frame 0"}
        for variant, run in runs.items():
            scores = reconstruction_scores(lfae_reconstructor(load_lfae(run, device)), clips)
            trained = state.get(f"train:{variant}")
            state.data["rows"].append({"row": f"recon:{variant}", "part": "reconstruction", "lfae": variant,
                                       "trained": trained["steps"], **scores["LFAE"], "settings": settings})
            if variant == "source":
                state.data["rows"].append({"row": "recon:copy-frame-0", "part": "reconstruction",
                                           "lfae": "copy-frame-0", **scores["copy-frame-0"], "settings": settings})
            say(f"[new-domain] reconstruction {variant}: psnr {scores['LFAE']['psnr']:.2f}")
        state.mark("recon", settings)

    # 3. generation with the source DM over each LFAE
    for variant, run in runs.items():
        name = f"gen:{variant}"
        if state.row(name):
            say(f"[new-domain] {name}: done, skipped")
            continue
        folder = out / "samples" / variant
        say(f"[new-domain] {name}: sampling {split} set of style {style}")
        sample_lfdm_run(run, split=split, per_pair=per_pair, out=folder, progress=progress)
        row = {"row": name, "part": "generation", "lfae": variant, "trained": state.get(f"train:{variant}")["steps"],
               "z0": Z0_NOTE[variant], "dm": "source run's DM (not retrained)",
               **_score(protocol, folder, wanted, detector, cache, progress, say, state)}
        state.add_row(row)
        say(f"[new-domain] {name}: fvd {row['fvd']}, acc {row['acc_motion']}")
    state.data["tables"] = {k: str(v) for k, v in _write_tables(
        state, f"New domain: style {style!r} (LFAE of {src.root.name})", NEW_DOMAIN_COLUMNS,
        [f"source = the run's LFAE, no fine-tuning; decoder = generator decoder only fine-tuned "
         f"({cfg.lfae.train.steps} steps, encoder + flow predictor frozen); whole = every LFAE parameter fine-tuned.",
         "Reconstruction: frames 1..T-1 of new-domain clips rebuilt from frame 0 (L1, PSNR, SSIM).",
         "Generation: the source run's DM, NOT retrained; for 'whole', z0 comes from a changed encoder, so the DM's "
         "conditioning space has moved (decoder-only keeps the encoder and flow predictor, so it is unchanged)."],
    ).items()}
    state.save()
    return state.data


# ------------------------------------------------------------------------------------------ 3. text encoder
TEXT_COLUMNS = ("row", "text_encoder", "text_dim", "dm_steps", "fvd", "cfvd", "acc_motion", "acc_i3d",
                "seconds_per_video", "n_videos")


def _text_variant(cfg, kind: str):
    from lfdm_bench.config import from_dict, to_dict
    from lfdm_bench.experiment import LFDMConfig

    d = to_dict(cfg)
    d["dm"]["text"]["kind"] = kind
    d["name"] = f"{d['name']}-text-{kind}"
    return from_dict(LFDMConfig, d)


def run_text_encoder(config: str | Path | None = None, overrides: Sequence[str] = (), lfae_run: str | Path | None = None,
                     split: str = "test", per_pair: int = 1, max_videos: int | None = None,
                     metrics: Iterable[str] = ("fvd", "cfvd", "acc"), out: str | Path | None = None,
                     progress: bool = False, *, detector: Any = None, cache: Any = True, log_fn: LogFn | None = None,
                     **protocol_kwargs: Any) -> dict[str, Any]:
    """The DM trained with a BERT text encoder and with one-hot classes, from one shared LFAE, same budget and seeds.

    Args:
        config: a config name or YAML path (``--set`` ``overrides`` apply); its ``dm.text`` settings are the
            ``bert`` variant's (kind forced to ``bert``). Default with ``lfae_run``: that run's config.
        lfae_run: reuse this run's trained LFAE (its checkpoint is copied into each variant's run); else it is
            trained once into ``OUT/runs/lfae``.
        split, per_pair, max_videos, metrics, detector, cache, **protocol_kwargs: as for :func:`run_unconditional`.

    Returns:
        the state written to ``OUT/text_encoder.json`` (rows ``bert`` and ``onehot``).
    """
    from lfdm_bench.config import load_config, to_dict
    from lfdm_bench.experiment import LFDMConfig, resolve_config_path
    from lfdm_bench.models.lfae.lfae import LFAEConfig
    from lfdm_bench.runs import Run
    from lfdm_bench.sampling.run import sample_lfdm_run
    from lfdm_bench.training.engine import load_checkpoint
    from lfdm_bench.training.lfdm import open_lfdm_run, train_lfae, train_dm
    from lfdm_bench.metrics.protocol import parse_metrics

    say = _say(log_fn)
    if config is None and lfae_run is None:
        raise ValueError("give a config (--config) or an LFAE run to reuse (--lfae-run)")
    if config is not None:
        cfg = load_config(LFDMConfig, resolve_config_path(config), overrides)
    else:
        cfg = load_config(LFDMConfig, Run.open(lfae_run).config_path, overrides)
    if lfae_run is not None:
        lrun = Run.open(lfae_run)
        lfae_ck = lrun.checkpoints / "lfae" / "last.pt"
        ck = load_checkpoint(lfae_ck)
        if not ck.get("finished", True):
            raise ValueError(f"{lfae_ck} is not finished training; finish it (`lfdm-bench train --stage lfae`)")
        if LFAEConfig.from_dict(ck["model_config"]).to_dict() != cfg.lfae.model.to_dict():
            raise ValueError(f"{lfae_run}'s LFAE has another architecture than the config's lfae.model")
        if _run_yaml(lrun.root).get("data") != to_dict(cfg.data):
            raise ValueError(f"{lfae_run} was trained on other data settings than the config's data section")
    if split not in ("test", "train"):
        raise ValueError(f"split must be 'test' or 'train', got {split!r}")
    wanted = parse_metrics(metrics)
    detector, protocol_kwargs = _split_detector(detector, protocol_kwargs)
    protocol = _protocol(to_dict(cfg.data), split, max_videos, protocol_kwargs)
    out = Path(out) if out is not None else Path("experiments") / f"{cfg.name}-text-encoder"
    state = ExperimentState(out, "text_encoder", {
        "config": str(config) if config is not None else None, "overrides": list(overrides),
        "resolved": to_dict(cfg), "lfae_run": str(Path(lfae_run).resolve()) if lfae_run else None, "split": split,
        "per_pair": int(per_pair), "max_videos": max_videos, "metrics": list(wanted), "protocol": protocol.to_dict(),
        "detector_override": detector.info.to_dict() if detector is not None else None})

    if lfae_run is None:
        shared = open_lfdm_run(cfg, out / "runs" / "lfae", str(config), list(overrides))
        if not state.done("train:lfae"):
            r = train_lfae(cfg, shared, progress=progress)
            state.mark("train:lfae", {"steps": r["steps"], "seconds": r["seconds"], "params": r["params"]})
        lfae_ck = shared.checkpoints / "lfae" / "last.pt"

    for kind in TEXT_ENCODERS:
        vcfg = _text_variant(cfg, kind)
        run = open_lfdm_run(vcfg, out / "runs" / kind, str(config), [*overrides, f"dm.text.kind={kind}"])
        _copy_checkpoint(lfae_ck, run.checkpoints / "lfae" / "last.pt")
        part = f"train:{kind}"
        if not state.done(part):
            say(f"[text-encoder] training the DM with text encoder {kind} ({vcfg.dm.train.steps} steps)")
            r = train_dm(vcfg, run, progress=progress)
            state.mark(part, {"steps": r["steps"], "seconds": r["seconds"], "params": r["params"],
                              "lfae": str(lfae_ck), "text": to_dict(vcfg.dm.text)})
        if state.row(kind):
            say(f"[text-encoder] {kind}: done, skipped")
            continue
        folder = out / "samples" / kind
        sample_lfdm_run(run, split=split, per_pair=per_pair, out=folder, progress=progress)
        dm_cfg = load_checkpoint(run.checkpoints / "dm" / "last.pt")["model_config"]
        row = {"row": kind, "text_encoder": kind, "text_identity": dm_cfg.get("text_identity"),
               "text_dim": (dm_cfg.get("unet") or {}).get("text_dim"), "dm_steps": vcfg.dm.train.steps,
               "dm_seed": vcfg.dm.train.seed, "seed": vcfg.seed, "text": to_dict(vcfg.dm.text),
               "train_seconds": state.get(part)["seconds"],
               **_score(protocol, folder, wanted, detector, cache, progress, say, state)}
        state.add_row(row)
        say(f"[text-encoder] {kind}: fvd {row['fvd']}, cfvd {row['cfvd']}, acc {row['acc_motion']}")
    state.data["tables"] = {k: str(v) for k, v in _write_tables(
        state, f"Text encoder: BERT vs one-hot ({cfg.name})", TEXT_COLUMNS,
        [f"Both DMs: one shared LFAE ({lfae_ck}), {cfg.dm.train.steps} steps, seed {cfg.seed}, same sampler "
         f"({cfg.sample.sampler}, {cfg.sample.steps} steps, guidance {cfg.sample.guidance:g})."],
    ).items()}
    state.save()
    return state.data


# ------------------------------------------------------------------------------------------------ CLI
_CTX = {"show_default": True, "help_option_names": ["-h", "--help"]}
_RUN = click.Path(file_okay=False, exists=True, path_type=Path)
_OUT = click.Path(file_okay=False, path_type=Path)


def _eval_options(default_metrics: str):
    """The evaluation options shared by the three commands."""
    from lfdm_bench.bench.ablate import metric_type

    def deco(f):
        for opt in reversed([
            click.option("--split", type=click.Choice(["test", "train"]), default="test",
                         help="Split of the source images."),
            click.option("--per-class", "per_pair", type=click.IntRange(min=1), default=1,
                         help="Videos per (subject, class) pair of the split."),
            click.option("--max-videos", type=click.IntRange(min=2), default=None, metavar="N",
                         help="Evaluate at most N generated videos per row (class-stratified) [default: all]."),
            click.option("--metric", "metric_names", type=metric_type(), multiple=True,
                         default=default_metrics.split(","), metavar="NAME",
                         help="Metric(s): fvd, cfvd, sfvd, kvd, acc, all; repeat or comma-separate."),
            click.option("--i3d", default=None, metavar="PATH|i3d-random",
                         help="I3D weights [default: $LFDM_BENCH_I3D or the cache]; i3d-random = smoke tests only."),
            click.option("--frames", type=click.IntRange(min=9), default=None,
                         help="Frames per clip [default: the run's]."),
            click.option("--ddof", type=click.Choice(["0", "1"]), default="1", help="Covariance divides by N - ddof."),
            click.option("--batch-size", type=click.IntRange(min=1), default=8, help="Videos per detector call."),
            click.option("--device", default=None, help="Torch device of the detector [default: cuda if available]."),
            click.option("--out", type=_OUT, default=None, metavar="DIR",
                         help="Output folder; an existing one is resumed."),
            click.option("--progress/--no-progress", default=False, help="Progress bars."),
        ]):
            f = opt(f)
        return f

    return deco


def _common(kw: dict[str, Any]) -> dict[str, Any]:
    names = [n for group in kw.pop("metric_names") for n in group]
    p = {"i3d": kw.pop("i3d"), "ddof": int(kw.pop("ddof")), "batch_size": kw.pop("batch_size"),
         "device": kw.pop("device")}
    frames = kw.pop("frames")
    if frames is not None:
        p["n_frames"] = frames
    return {**kw, "metrics": names, **p}


def _finish(state: dict[str, Any]) -> None:
    tables = state.get("tables", {})
    if tables.get("md"):
        click.echo(Path(tables["md"]).read_text())
    click.echo(f"{state['experiment']}.json: {tables.get('json')}  (tables: {tables.get('md')}, {tables.get('csv')})")


def _guard(fn: Callable[[], dict[str, Any]]) -> None:
    from lfdm_bench.metrics.detector import DetectorNotFoundError

    try:
        _finish(fn())
    except (DetectorNotFoundError, FileNotFoundError, ValueError) as e:
        raise click.ClickException(str(e)) from e


@click.group("experiment", context_settings=_CTX)
def experiment() -> None:
    """The paper's other experiments: unconditional generation, a new domain, BERT vs one-hot text. Resumable."""


@experiment.command("unconditional", context_settings=_CTX)
@click.option("--run", "run_dir", required=True, type=_RUN, metavar="DIR", help="A trained run (LFDM or LDM).")
@_eval_options("fvd,acc")
def unconditional_cmd(run_dir: Path, **kw: Any) -> None:
    """Conditional vs unconditional (null class) generation of RUN, same sources and seeds, one protocol."""
    _guard(lambda: run_unconditional(run_dir, **_common(kw)))


@experiment.command("new-domain", context_settings=_CTX)
@click.option("--run", "run_dir", required=True, type=_RUN, metavar="DIR", help="A trained LFDM run.")
@click.option("--style", required=True, type=click.Choice(["shaded", "sketch"]), help="Appearance of the new domain.")
@click.option("--steps", type=click.IntRange(min=1), default=None, metavar="N",
              help="Fine-tuning steps per variant [default: the run's lfae.train.steps].")
@click.option("--max-recon", type=click.IntRange(min=1), default=128, help="Clips scored for reconstruction.")
@_eval_options("fvd,acc")
def new_domain_cmd(run_dir: Path, style: str, steps: int | None, max_recon: int, **kw: Any) -> None:
    """Fine-tune RUN's LFAE on a new style (decoder only / whole), score reconstruction and generation with the
    run's DM (not retrained). Output: OUT/new_domain.json, .md, .csv [default OUT: RUN/experiments/new_domain_STYLE]."""
    _guard(lambda: run_new_domain(run_dir, style, steps, max_recon=max_recon, **_common(kw)))


@experiment.command("text-encoder", context_settings=_CTX)
@click.option("--config", default=None, metavar="NAME|PATH",
              help="LFDM config (its dm.text is the bert variant's) [default: the --lfae-run's config].")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Config override (repeatable).")
@click.option("--lfae-run", type=_RUN, default=None, metavar="DIR",
              help="Reuse this run's trained LFAE instead of training one.")
@_eval_options("fvd,cfvd,acc")
def text_encoder_cmd(config: str | None, overrides: tuple[str, ...], lfae_run: Path | None, **kw: Any) -> None:
    """Train the DM with a BERT text encoder and with one-hot classes from one LFAE (same budget and seeds), then
    sample and score both [default OUT: experiments/NAME-text-encoder]."""
    _guard(lambda: run_text_encoder(config, list(overrides), lfae_run, **_common(kw)))
