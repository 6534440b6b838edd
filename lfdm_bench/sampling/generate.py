"""Generate an evaluation set with any generator and write the sample folder that ``lfdm-bench eval`` reads.

A sample folder::

    OUT/manifest.csv      one VideoRecord per generated video (subject/split of the source, requested class,
                          params: source video (+ source_segment), seed, method, sampler settings, seconds)
    OUT/videos/*.mp4      the generated videos
    OUT/settings.json     the settings shared by every video (method, sampler, steps, guidance, checkpoint, ...)

Generation is resumable: the manifest is rewritten atomically after every batch and samples already listed there
are not generated again, so nothing already written is lost when a run dies. A folder holds ONE setting: writing
into a folder whose ``settings.json`` records other settings is refused (:class:`SampleFolderMismatch`, naming the
settings that differ) before anything is written; with the same settings the folder is resumed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from lfdm_bench.data.dataset import ClipDataset
from lfdm_bench.data.records import VideoRecord, read_manifest, write_manifest
from lfdm_bench.data.video_io import write_mp4
from lfdm_bench.sampling.eval_set import EvalSource
from lfdm_bench.utils.io import atomic_write_json

# generate_fn(source_images [B, 3, H, W] float [0,1], sources) -> videos [B, T, 3, H, W] float [0,1]
GenerateFn = Callable[[torch.Tensor, Sequence[EvalSource]], torch.Tensor]
# settings that may differ when a folder is resumed: where the run folder is (it may have been moved)
LOCATION_SETTINGS = ("run",)


class SampleFolderMismatch(ValueError):
    """A sample folder holds videos made with other settings (the message names them)."""


def _plain(obj: object) -> object:
    return json.loads(json.dumps(obj, sort_keys=True, default=str))


def check_sample_folder(out_dir: str | Path, settings: dict) -> None:
    """Refuse to add videos of ``settings`` to a sample folder that holds videos of other settings (its
    ``settings.json``, or for a folder without one the parameters of its manifest's first row); a new, empty or
    same-settings folder passes."""
    out_dir = Path(out_dir)
    new = _plain(settings)
    path, manifest = out_dir / "settings.json", out_dir / "manifest.csv"
    if path.is_file():
        try:
            old, where = json.loads(path.read_text()), str(path)
        except json.JSONDecodeError:
            old, where = None, str(path)
        if old is None:
            raise SampleFolderMismatch(f"{path} is not valid JSON, so the settings of the videos in {out_dir} are "
                                       "unknown: pass another --out, or delete the folder to sample it again")
        keys = set(old) | set(new)
    elif manifest.is_file() and (rows := read_manifest(manifest)):
        old, where = rows[0].params, f"{manifest} (row 2 params; no settings.json)"
        keys = set(new) & set(old)
    else:
        return
    differ = sorted(k for k in keys if k not in LOCATION_SETTINGS and _plain(old.get(k)) != new.get(k))
    if differ:
        shown = "; ".join(f"{k}: {json.dumps(old.get(k), default=str)} there, {json.dumps(new.get(k), default=str)} now"
                          for k in differ)
        raise SampleFolderMismatch(
            f"{out_dir} holds samples made with other settings ({where}): {shown}. A sample folder holds one "
            f"setting: pass another --out (or delete {out_dir} to sample it again)")


def initial_noise(sources: Sequence[EvalSource], shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """x_T for a batch ``[B, *shape]``: each video's noise depends only on its own seed (so batching does not change
    samples); shared by every diffusion generator."""
    noise = [torch.randn(shape, generator=torch.Generator().manual_seed(s.seed)) for s in sources]
    return torch.stack(noise).to(device)


def sample_dm(dm: Any, cond: torch.Tensor, sources: Sequence[EvalSource], shape: tuple[int, ...], *,
              unconditional: bool = False, stats: dict | None = None, **sampler: Any) -> torch.Tensor:
    """A video DM's sample ``[B, *shape]`` (``shape = (C, T, h, w)``) for a batch of ``sources`` and the DM's image
    condition ``cond`` ``[B, c, h, w]``, as every diffusion generator draws it: each source's class (none when
    ``unconditional``), x_T from each source's own seed (:func:`initial_noise`), the stochastic samplers' per-step
    noise from the first source's seed; ``sampler``: ``sampler``, ``steps``, ``eta``, ``guidance``, ``precision``
    of ``dm.sample``. ``stats`` (optional dict) receives the network evaluations per video (``nfe``)."""
    device = cond.device
    cls = None if unconditional else torch.tensor([s.class_index for s in sources], device=device)
    noise = initial_noise(sources, shape, device)
    gen = torch.Generator(device=device).manual_seed(sources[0].seed)
    out = dm.sample(cond, cls, shape[1], generator=gen, noise=noise, **sampler)
    if stats is not None:
        stats["nfe"] = out.nfe
    return out.sample


def source_images(sources: Sequence[EvalSource], size: int, crop=None) -> torch.Tensor:
    """Frame 0 of each source video, resized and padded like training clips -> ``[B, 3, size, size]`` in [0, 1]."""
    ds = ClipDataset([s.record for s in sources], n_frames=1, size=size, sampling="first", crop=crop)
    return torch.stack([ds.first_frame(i) for i in range(len(sources))])


def generate_eval_samples(generate_fn: GenerateFn, sources: Sequence[EvalSource], out_dir: str | Path, *,
                          method: str, size: int, settings: dict | None = None, batch_size: int = 8,
                          fps: int = 10, crop=None, progress: bool = True) -> Path:
    """Run ``generate_fn`` over ``sources`` in batches and write the sample folder; returns the manifest path."""
    from lfdm_bench.utils.progress import progress_bar

    out_dir = Path(out_dir)
    settings = dict(settings or {})
    settings["method"] = method
    check_sample_folder(out_dir, settings)  # before anything is written
    (out_dir / "videos").mkdir(parents=True, exist_ok=True)
    manifest = out_dir / "manifest.csv"
    atomic_write_json(out_dir / "settings.json", settings)
    done: list[VideoRecord] = read_manifest(manifest) if manifest.is_file() else []
    done_ids = {r.take for r in done}
    todo = [s for s in sources if s.sample_id not in done_ids]
    bar = progress_bar(total=len(sources), initial=len(sources) - len(todo), desc=f"sample {method}", unit="video",
                       disable=not progress, dynamic_ncols=True)
    for start in range(0, len(todo), batch_size):
        batch = todo[start:start + batch_size]
        images = source_images(batch, size, crop=crop)
        t0 = time.perf_counter()
        with torch.no_grad():
            videos = generate_fn(images, batch)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        seconds = (time.perf_counter() - t0) / len(batch)
        if videos.ndim != 5 or videos.shape[0] != len(batch) or videos.shape[2] != 3:
            raise ValueError(f"{method}: generate_fn must return [B, T, 3, H, W], got {tuple(videos.shape)}")
        videos = videos.detach().float().clamp(0, 1).cpu()
        for src, vid in zip(batch, videos):
            path = out_dir / "videos" / f"{src.sample_id}.mp4"
            write_mp4(path, vid, fps=fps)
            done.append(VideoRecord(
                path=str(path), subject=src.subject, class_index=src.class_index, class_name=src.class_name,
                text=src.text, split=src.split, take=src.sample_id, n_frames=int(vid.shape[0]),
                params={"source": src.record.path, "seed": src.seed, "seconds": round(seconds, 5), **settings,
                        **({"source_segment": list(src.record.params["segment"])}
                           if src.record.params.get("segment") is not None else {})},
            ))
        write_manifest(done, manifest, relative_to=out_dir)
        bar.update(len(batch))
    bar.close()
    return manifest


def seconds_per_video(manifest: str | Path) -> float:
    """Mean generation time per video recorded in a sample folder's manifest."""
    recs = read_manifest(manifest)
    vals = [float(r.params["seconds"]) for r in recs if "seconds" in r.params]
    return float(np.mean(vals)) if vals else float("nan")
