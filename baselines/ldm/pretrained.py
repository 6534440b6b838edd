"""The LDM baseline's pretrained first stage: a KL autoencoder trained on a generic corpus, shipped in the package.

The paper's LDM uses an image autoencoder pretrained on generic images; an autoencoder trained on the benchmark's
26 training faces only memorises them and renders an unseen subject as another, blurred face. Here the "generic
images" are frames of many synthetic subjects rendered with another seed, exactly as the VCNN detector's corpus
(:mod:`metrics.vcnn.corpus`, reused as is: same renderer, mp4 encoding and clip reader, and the same
appearance-fingerprint check that no subject is shared with the benchmark). The first ``n_subjects`` subjects
train the autoencoder (every frame of every class and take); the last ``n_heldout_subjects`` are never trained on
and validate it on unseen faces.

Shipped files (``baselines/ldm/weights/``): ``<name>.pt`` (float16 state dict) and ``<name>.json`` (architecture,
corpus spec and fingerprints, training settings and loss curve, validation on held-out corpus subjects and on the
benchmark's test subjects, the weights' sha256, the command that retrains them). :func:`load_pretrained` verifies the
sha256 before loading (:class:`AutoencoderChecksumError` otherwise). ``lfdm-bench ldm-ae train`` retrains them,
bit-identically on one CPU thread (:func:`~metrics.vcnn.train.deterministic`).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor

from baselines.ldm.autoencoder import AutoencoderLoss, KLAutoencoder, KLAutoencoderConfig
from metrics.vcnn.corpus import Corpus, CorpusSpec
from metrics.vcnn.train import DetectorTrainConfig
from metrics.vcnn.train import deterministic
from lfdm_bench.utils.paths import resolve_shipped_json, shipped_names
from lfdm_bench.utils.params import count_params

__all__ = ["WEIGHTS_DIR", "DEFAULT_CORPORA", "DEFAULT_ARCHITECTURES", "WEIGHTS_VERSION", "EARLIER_VERSIONS",
           "VERSION_STEPS", "version_architecture", "AutoencoderChecksumError", "PretrainConfig", "PretrainedAE",
           "pretrain_autoencoder", "ae_reconstructor", "video_scores", "export_autoencoder", "resolve_metadata",
           "load_pretrained", "shipped_autoencoders", "FORMAT_VERSION"]

FORMAT_VERSION = 1
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
LogFn = Callable[[str], None]

DEFAULT_CORPORA: dict[str, CorpusSpec] = {
    # 256 x 7 x 2 = 3584 videos (57,344 frames), a seed (2000) of its own: no benchmark subject (seed 0), none of the
    # detector's corpus (seed 1000); 240 subjects train, 16 validate
    "synth-faces": CorpusSpec("synth-faces", seed=2000, n_subjects=240, n_heldout_subjects=16, n_takes=2, val_take=1),
}
DEFAULT_ARCHITECTURES: dict[str, KLAutoencoderConfig] = {
    # KL-f2: 32x32 RGB -> 16x16x8 latents (1.5x fewer values than pixels). v1 was KL-f4 (8x8x8): 22.9 dB pooled on
    # the benchmark's test frames, below even a bicubic 2x down-and-up (~28 dB): 32-px frames carry 1-2 px detail
    # that a 4x-downsampled grid loses. The LDM's U-Net sees the 16x16 grid in 2x2 patches (ae.diffusion_patch: 2),
    # so its cost stays that of LFDM's 8x8 grid.
    "synth-faces": KLAutoencoderConfig(image_size=32, base_channels=32, channel_mult=(1, 2), num_res_blocks=1,
                                       latent_channels=8, kl_weight=1e-6, mid_attention=True, norm_groups=8),
}
WEIGHTS_VERSION = "v2"
"""Version of :data:`DEFAULT_ARCHITECTURES`, in the default weight names (``<dataset>-klae-v2``)."""
EARLIER_VERSIONS: dict[str, tuple[dict[str, Any], int]] = {
    # version -> (changes to the dataset's default architecture, default training steps)
    "v1": ({"channel_mult": (1, 2, 2)}, 1200),  # KL-f4, 8x8x8 latents for 32x32 frames
}
VERSION_STEPS = {WEIGHTS_VERSION: 5000} | {v: steps for v, (_, steps) in EARLIER_VERSIONS.items()}


def version_architecture(dataset: str, version: str = WEIGHTS_VERSION) -> KLAutoencoderConfig:
    """The architecture of weights ``version`` for ``dataset`` (``v2``: :data:`DEFAULT_ARCHITECTURES`; ``v1``: KL-f4)."""
    if version == WEIGHTS_VERSION:
        return DEFAULT_ARCHITECTURES[dataset]
    if version not in EARLIER_VERSIONS:
        raise ValueError(f"unknown autoencoder version {version!r}; known: {sorted(VERSION_STEPS)}")
    return replace(DEFAULT_ARCHITECTURES[dataset], **EARLIER_VERSIONS[version][0])


class AutoencoderChecksumError(RuntimeError):
    """A weight file whose sha256 differs from the one recorded in its metadata."""


@dataclass(frozen=True)
class PretrainConfig:
    """Optimisation of the pretraining (stored in the metadata): Adam, ``batch_size`` random corpus frames per step,
    linear warm-up then cosine decay to ``lr * final_lr_ratio`` (the detector's schedule), loss
    :class:`AutoencoderLoss` (multi-scale L1 + ``kl_weight`` * KL, no perceptual term: no VGG weights here)."""

    steps: int = VERSION_STEPS[WEIGHTS_VERSION]
    batch_size: int = 16
    lr: float = 1e-3
    warmup_steps: int = 50
    final_lr_ratio: float = 0.02
    seed: int = 0
    threads: int = 1
    log_every: int = 50

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1 or self.threads < 1 or self.lr <= 0:
            raise ValueError(f"PretrainConfig needs steps, batch_size, threads >= 1 and lr > 0; got {self}")

    lr_at = DetectorTrainConfig.lr_at


@dataclass
class PretrainedAE:
    """A trained (float16-rounded) autoencoder and what describes it."""

    model: KLAutoencoder
    train: PretrainConfig
    history: list[dict[str, float]]
    seconds: float
    validation: dict[str, Any]


def _frames(videos: Tensor, index: Tensor) -> Tensor:
    """Frames ``index`` (flat over ``[N, T]``) of uint8 videos ``[N, T, 3, S, S]`` -> float ``[B, 3, S, S]`` in [0, 1]."""
    t = videos.shape[1]
    return videos[index // t, index % t].float() / 255.0


def pretrain_autoencoder(corpus: Corpus, arch: KLAutoencoderConfig, config: PretrainConfig, *,
                         log_fn: LogFn | None = None) -> PretrainedAE:
    """Train ``arch`` on every frame of the corpus' training subjects (all classes and takes), batches drawn without
    replacement from a seeded permutation; returns the float16-rounded model (validation not yet run)."""
    say = log_fn or (lambda s: None)
    rows = torch.from_numpy(corpus.rows(heldout=False, takes="all"))
    t = corpus.videos.shape[1]
    frames = (rows[:, None] * t + torch.arange(t)).reshape(-1)  # flat (video, frame) indices into corpus.videos
    history: list[dict[str, float]] = []
    t0 = time.perf_counter()
    with deterministic(config.threads):
        torch.manual_seed(config.seed)
        model = KLAutoencoder(arch).train()
        loss_mod = AutoencoderLoss.from_config(arch)
        opt = torch.optim.Adam(model.parameters(), lr=config.lr, betas=(0.9, 0.99))
        rng = np.random.default_rng(config.seed)
        order = np.empty(0, dtype=np.int64)
        running: dict[str, float] = {}
        for step in range(config.steps):
            if order.size < config.batch_size:
                order = np.concatenate([order, rng.permutation(frames.numpy())])
            idx, order = torch.from_numpy(order[:config.batch_size].copy()), order[config.batch_size:]
            for g in opt.param_groups:
                g["lr"] = config.lr_at(step)
            x = _frames(corpus.videos, idx)  # [B, 3, S, S]
            out = model(x)  # decodes a posterior sample (global RNG, seeded above)
            loss, parts = loss_mod(x, out["reconstruction"], out["posterior"])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            for k, v in parts.items():
                running[k] = running.get(k, 0.0) + float(v)
            if (step + 1) % config.log_every == 0 or step + 1 == config.steps:
                n = (step % config.log_every) + 1
                row = {"step": step + 1, "lr": config.lr_at(step), "seconds": round(time.perf_counter() - t0, 2)}
                row |= {k: round(v / n, 6) for k, v in running.items()}
                history.append(row)
                running = {}
                say(" ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()))
        with torch.no_grad():  # what is shipped: float16 weights
            for p in list(model.parameters()) + list(model.buffers()):
                if p.is_floating_point():
                    p.copy_(p.half().float())
    return PretrainedAE(model=model.eval().requires_grad_(False), train=config, history=history,
                        seconds=time.perf_counter() - t0, validation={})


def ae_reconstructor(ae: KLAutoencoder):
    """Every frame encoded (posterior mean) and decoded by itself, plus the copy-frame-0 baseline."""
    device = next(ae.parameters()).device

    def reconstruct(video: torch.Tensor) -> dict[str, torch.Tensor]:
        v = video.to(device)  # [B, T, 3, H, W]
        recon = ae.decode_video(ae.encode_video(v.transpose(1, 2), chunk_size=256), chunk_size=256)  # [B, 3, T, H, W]
        return {"LDM-AE": recon.transpose(1, 2), "copy-frame-0": v[:, :1].expand_as(v)}

    return reconstruct


class _Videos:
    """uint8 videos ``[N, T, 3, S, S]`` as the clip collection :func:`reconstruction_scores` reads."""

    def __init__(self, videos: Tensor):
        self.videos = videos

    def __len__(self) -> int:
        return self.videos.shape[0]

    def get(self, i: int) -> SimpleNamespace:
        return SimpleNamespace(video=self.videos[i].float() / 255.0)


def video_scores(model: KLAutoencoder, clips: Any, threads: int = 1) -> dict[str, float]:
    """L1, mean / pooled PSNR, SSIM of ``model`` on frames 1..T-1 of ``clips`` (a ClipDataset, or uint8 videos
    ``[N, T, 3, S, S]``): every frame encoded (posterior mean) and decoded by itself, as the LDM run scores it."""
    from metrics.reconstruction import reconstruction_scores

    clips = _Videos(clips) if isinstance(clips, Tensor) else clips
    with deterministic(threads):
        return reconstruction_scores(ae_reconstructor(model), clips)["LDM-AE"]


def export_autoencoder(trained: PretrainedAE, corpus: Corpus, out_dir: str | os.PathLike, name: str, *,
                       command: str, extra: dict[str, Any] | None = None) -> tuple[Path, Path]:
    """Write ``<name>.pt`` (float16 state dict) and ``<name>.json`` (metadata, written last; both atomically)."""
    from lfdm_bench.utils.io import atomic_save, atomic_write_json, sha256_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().clone().half() if v.is_floating_point() else v.detach().clone()
             for k, v in trained.model.state_dict().items()}
    pt = out / f"{name}.pt"

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:  # through a file object: equal weights give a byte-identical file
            torch.save(state, f)

    atomic_save(pt, write)
    spec = corpus.spec
    meta = {
        "format": FORMAT_VERSION, "name": name, "kind": "ldm-autoencoder", "dataset": spec.dataset,
        "note": (f"KL autoencoder (LDM's first stage) pretrained on a {spec.dataset} corpus rendered with seed "
                 f"{spec.seed}: {spec.n_subjects} subjects, none of the benchmark's"),
        "weights": {"file": pt.name, "sha256": sha256_file(pt), "bytes": pt.stat().st_size, "dtype": "float16",
                    "n_parameters": count_params(trained.model)},
        "architecture": trained.model.cfg.to_dict(),
        "corpus": spec.to_dict() | {"n_videos": int(corpus.videos.shape[0]),
                                    "n_training_frames": int(len(corpus.rows(heldout=False, takes="all"))
                                                             * corpus.videos.shape[1]),
                                    "fingerprints": corpus.fingerprints,
                                    "fingerprint": "sha256 of the appearance dict's canonical JSON [:16]",
                                    "benchmark_check": corpus.benchmark_check},
        "training": asdict(trained.train) | {"seconds": round(trained.seconds, 1), "optimizer": "Adam(0.9, 0.99)",
                                             "loss": "multi-scale L1 (1, 1/2, 1/4, 1/8) + kl_weight * KL",
                                             "first": trained.history[0] if trained.history else None,
                                             "final": trained.history[-1] if trained.history else None,
                                             "torch": torch.__version__, "deterministic_algorithms": True},
        "validation": trained.validation,
        "command": command,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
    } | (extra or {})
    js = out / f"{name}.json"
    atomic_write_json(js, meta)
    return pt, js


def shipped_autoencoders() -> list[str]:
    """Names of the pretrained autoencoders shipped in the package (``baselines/ldm/weights/*.json``)."""
    return shipped_names(WEIGHTS_DIR)


def resolve_metadata(name_or_path: str | os.PathLike[str]) -> Path:
    """The metadata JSON of a shipped name (``synth-faces-klae-v2``) or a JSON path; errors list the shipped ones."""
    return resolve_shipped_json(name_or_path, WEIGHTS_DIR, "pretrained autoencoder (ae.pretrained)",
                                "lfdm-bench ldm-ae train --out DIR")


def load_pretrained(name_or_path: str | os.PathLike[str]) -> tuple[KLAutoencoder, dict[str, Any]]:
    """The float32 autoencoder (eval mode, frozen, ``scale_factor`` 1) and its metadata; the weight file's sha256
    is checked against the metadata first, then the state dict is loaded strictly."""
    meta_path = resolve_metadata(name_or_path)
    try:
        meta = json.loads(meta_path.read_text())
        weights = meta_path.parent / meta["weights"]["file"]
        expected = meta["weights"]["sha256"]
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{meta_path} is not a pretrained-autoencoder metadata file ({e!r})") from None
    if not weights.is_file():
        raise FileNotFoundError(f"weight file {weights} named by {meta_path} is missing")
    from lfdm_bench.utils.io import sha256_file

    digest = sha256_file(weights)
    if digest != expected:
        raise AutoencoderChecksumError(
            f"weight file {weights} has sha256 {digest[:16]}..., but {meta_path.name} records {expected[:16]}...: "
            f"the file is corrupt or belongs to other weights (retrain: {meta.get('command', 'lfdm-bench ldm-ae')})")
    model = KLAutoencoder(KLAutoencoderConfig.from_dict(meta["architecture"]))
    state = torch.load(weights, map_location="cpu", weights_only=True)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()}, strict=True)
    return model.eval().requires_grad_(False), meta
