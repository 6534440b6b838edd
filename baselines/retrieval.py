"""The ``retrieval`` calibration baseline, and one entry point that writes a sample folder for any calibration baseline.

``retrieval`` answers "how far does real motion, transferred by the trained LFAE, get without any diffusion?": for
each source it takes a real *training* video of the requested class from *another* subject (chosen
deterministically by the source's seed), computes with the LFAE the flow + occlusion from that video's frame 0 to
each of its frames (:meth:`LFAE.dm_target_from_video`) and renders them on the source image
(:meth:`LFAE.generate_from_dm`). It is LFDM with the DM replaced by a nearest-class lookup of real latent flows.

``lfae`` ("LFAE (predicted flows)") and ``lfae_fit`` ("LFAE (flows fitted to the target)") are the calibration rows
of the autoencoder itself: each source video's *own* motion (frame 0 to every frame) rendered on its frame 0, i.e.
the LFAE's reconstruction of the real take. ``lfae`` uses the flow predictor's flows from (frame 0, frame t) as they
come; ``lfae_fit`` refines them by Adam steps against the target frame itself (:meth:`LFAE.refine_flow`, the steps of
:func:`lfdm_bench.training.trained_models.fit_steps`): an oracle that sees the frames it renders. Neither is a
ceiling LFDM can reach by construction: its DM is trained on fitted flows of training videos and samples flows
without seeing any target.

``static``, ``real`` and ``real_fresh`` come from :mod:`baselines.calibration`. :func:`sample_baseline`
writes their sample folders (``RUN/samples/<split>_<kind>/``, method = the kind) over the evaluation set of a run,
exactly the sources and seeds the generators get; ``retrieval`` also writes ``retrieved.json`` (sample id ->
the training video whose motion was used).
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Mapping, Sequence

import torch

from baselines.calibration import assign_fresh_takes, real_generator, static_generator, video_generator
from lfdm_bench.checkpoints import run_record
from lfdm_bench.config import from_dict
from lfdm_bench.data.config import DataConfig
from lfdm_bench.data.dataset import ClipDataset
from lfdm_bench.data.loading import load_data
from lfdm_bench.data.records import VideoRecord
from lfdm_bench.runs import Run
from lfdm_bench.sampling.config import SampleConfig
from lfdm_bench.sampling.eval_set import EvalSource, build_eval_set
from lfdm_bench.sampling.generate import generate_eval_samples
from lfdm_bench.training.dm_targets import cached_dm_targets
from lfdm_bench.training.trained_models import fit_steps, load_lfae
from lfdm_bench.utils.device import pick_device
from lfdm_bench.utils.io import atomic_write_json

BASELINES = ("static", "real", "retrieval", "lfae", "lfae_fit", "real_fresh")


def _by_class(train_records: Sequence[VideoRecord]) -> dict[int, list[VideoRecord]]:
    by_class: dict[int, list[VideoRecord]] = defaultdict(list)
    for r in sorted(train_records, key=lambda r: (r.subject, r.take, r.path)):
        by_class[r.class_index].append(r)
    return by_class


def retrieve(by_class: dict[int, list[VideoRecord]], source: EvalSource) -> VideoRecord:
    """The training video of ``source.class_index`` from another subject picked by ``source.seed``."""
    candidates = [r for r in by_class.get(source.class_index, []) if r.subject != source.subject]
    if not candidates:
        raise ValueError(f"retrieval: no training video of class {source.class_name!r} from a subject other than "
                         f"{source.subject!r}; the baseline needs at least two training subjects per class")
    return candidates[source.seed % len(candidates)]


def _render_real_flows(lfae, recs: Sequence[VideoRecord], images: torch.Tensor, n_frames: int, size: int,
                       sampling: str, crop, refine_steps: int | None = None,
                       known: Mapping[str, torch.Tensor] | None = None) -> torch.Tensor:
    """The flows of ``recs`` (frame 0 -> t, estimated by the LFAE; refined by ``refine_steps``, default the
    config's) rendered on ``images`` -> ``[B, T, 3, H, W]``. ``known`` (video path -> ``[3, T, h, w]``) holds
    targets computed earlier the same way (stage 2's precomputed training targets); they are used when every
    video of the batch is in it."""
    device = next(lfae.parameters()).device
    if known is not None and all(r.path in known for r in recs):
        target = torch.stack([known[r.path] for r in recs]).to(device)
    else:
        ds = ClipDataset(recs, n_frames=n_frames, size=size, sampling=sampling, crop=crop)
        video = torch.stack([ds.get(i).video for i in range(len(recs))]).to(device)  # [B, T, 3, H, W]
        target = lfae.dm_target_from_video(video.transpose(1, 2), refine_steps=refine_steps)  # [B, 3, T, h, w]
    out = lfae.generate_from_dm(images.to(device), target)  # [B, 3, T, H, W]
    return out.transpose(1, 2)  # [B, T, 3, H, W]


def lfae_generator(lfae, n_frames: int, size: int, *, fit: bool = False, sampling: str = "uniform", crop=None):
    """``generate_fn`` of ``lfae`` (``fit=False``: the flow predictor's flows) / ``lfae_fit`` (flows refined against
    the target frames, :func:`fit_steps`): each source video's own motion rendered on its frame 0 (the image given)."""
    steps = fit_steps(lfae) if fit else 0

    def generate(images: torch.Tensor, sources: Sequence[EvalSource]) -> torch.Tensor:
        return _render_real_flows(lfae, [s.record for s in sources], images, n_frames, size, sampling, crop, steps)

    return generate


def retrieval_generator(lfae, train_records: Sequence[VideoRecord], n_frames: int, size: int, *,
                        sampling: str = "uniform", crop=None, chosen: dict[str, str] | None = None,
                        known: Mapping[str, torch.Tensor] | None = None):
    """``generate_fn(images [B, 3, H, W] in [0, 1], sources) -> videos [B, T, 3, H, W] in [0, 1]``.

    ``lfae``: a trained :class:`~lfdm_bench.models.lfae.lfae.LFAE` (frozen); ``train_records``: the videos motion
    may be taken from (training split); the retrieved clip is read like training clips (``n_frames`` frames by
    ``sampling``, resized to ``size``). ``chosen`` (optional dict) receives ``sample_id -> retrieved video path``.
    ``known``: the training videos' flow targets computed earlier (video path -> ``[3, T, h, w]``, as
    :func:`~lfdm_bench.training.dm_targets.cached_dm_targets` gives them): read instead of computed again.
    """
    by_class = _by_class(train_records)

    def generate(images: torch.Tensor, sources: Sequence[EvalSource]) -> torch.Tensor:
        recs = [retrieve(by_class, s) for s in sources]
        if chosen is not None:
            chosen.update({s.sample_id: r.path for s, r in zip(sources, recs)})
        return _render_real_flows(lfae, recs, images, n_frames, size, sampling, crop, known=known)

    return generate


def sample_baseline(run_dir: str | Path, kind: str, split: str = "test", out: str | Path | None = None, *,
                    per_pair: int | None = None, batch_size: int | None = None, progress: bool = True) -> Path:
    """Write the sample folder of calibration baseline ``kind`` over the evaluation set of a run; returns the manifest.

    ``run_dir``: a trained run (``retrieval`` needs an LFDM run's trained LFAE; ``static`` and ``real`` need only its
    data and sample settings, so an LDM run works too), read from its checkpoints. The evaluation set (sources,
    seeds, ``per_pair``) is the run's, as for its generator.
    """
    if kind not in BASELINES:
        raise ValueError(f"unknown baseline {kind!r}; expected one of {', '.join(BASELINES)}")
    run = Run.open(run_dir)
    record = run_record(run)
    if record.model != "lfdm" and kind in ("retrieval", "lfae", "lfae_fit"):
        raise ValueError(f"{run.root} is an {record.model.upper()} run; the {kind} baseline needs an LFDM run's "
                         "trained LFAE")
    data = from_dict(DataConfig, record.config["data"], "data")
    sample = from_dict(SampleConfig, record.config["sample"], "sample")
    per_pair = per_pair or sample.per_pair
    info = load_data(data)
    sources = build_eval_set(info.records, split, per_pair=per_pair, seed=sample.seed)
    n, size = data.n_frames, data.size
    chosen: dict[str, str] = {}
    extra: dict = {}
    if kind == "static":
        gen = static_generator(n)
    elif kind == "real":
        gen = real_generator(info.records, n, size)
    elif kind == "real_fresh":
        from lfdm_bench.data.synth.takes import extended_takes

        fresh = extended_takes(data.dataset, per_pair, splits=[split], fresh_only=True, root=data.root,
                               progress=progress, **data.options)
        takes = assign_fresh_takes(sources, fresh)
        gen = video_generator(lambda s: takes[s.sample_id], n, size)
        ks = sorted({r.params["take_index"] for r in fresh})
        extra = {"fresh_takes": f"takes {ks[0]}..{ks[-1]} of every {split} pair, rendered with the dataset's seed "
                                "(not in the reference set)",
                 "frame0": "the source image (every take of a pair starts from the same rest pose)"}
    elif kind in ("lfae", "lfae_fit"):
        lfae = load_lfae(run, pick_device(record.config.get("device", "auto")))
        gen = lfae_generator(lfae, n, size, fit=kind == "lfae_fit")
        extra = {"flows": f"fitted to the target frames ({fit_steps(lfae)} Adam steps): an oracle"
                 if kind == "lfae_fit" else "the flow predictor's, from (frame 0, frame t)"}
    else:
        lfae = load_lfae(run, pick_device(record.config.get("device", "auto")))
        train = info.split("train")
        # the DM's training targets are these videos' refined flows, computed in training: read, not recomputed
        known = cached_dm_targets(run, lfae, train, n, size)
        gen = retrieval_generator(lfae, train, n, size, chosen=chosen, known=known)
        extra = {"flows": "the retrieved training video's flows, refined by the LFAE's own settings (stage 2's "
                          "training targets)"}
        run.log(f"retrieval: training flows {'read from the DM training cache' if known is not None else 'computed'}")
    folder = Path(out) if out else run.samples / f"{split}_{kind}"
    settings = {"baseline": kind, "per_pair": per_pair, "dataset": data.dataset, "dataset_options": dict(data.options),
                "dataset_root": data.root, "size": size, "n_frames": n, "run": str(run.root.resolve()),
                "sample_seed": sample.seed, **extra,
                "clip_sampling": "uniform"}  # real / retrieval clips are read uniformly over the whole video
    manifest = generate_eval_samples(gen, sources, folder, method=kind, size=size, settings=settings,
                                     batch_size=batch_size or sample.batch_size, progress=progress)
    if chosen:  # merged with an earlier, interrupted call's choices
        path = folder / "retrieved.json"
        previous = json.loads(path.read_text()) if path.is_file() else {}
        atomic_write_json(path, {**previous, **chosen})
    run.log(f"baseline {kind}: {len(sources)} {split} videos -> {manifest}")
    return manifest
