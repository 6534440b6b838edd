"""The shipped embedded-domain detectors as FVD feature sources (the evaluation's :class:`FeatureSource` interface).

``load_detector("synth-faces-vcnn-v1")`` reads ``metrics/vcnn/weights/synth-faces-vcnn-v1.{json,pt}``, checks the
weight file's sha256 against the metadata (a mismatch raises :class:`DetectorChecksumError` naming the file), loads
the state dict strictly and returns a :class:`VCNNDetector`: ``detector(videos [B, T, 3, H, W]) -> float64 [B, D]``,
``detector.info`` (an :class:`EmbeddedDetectorInfo`, a :class:`~metrics.detector.DetectorInfo` that also
says the detector is embedded-domain, not comparable with published FVDs) and ``detector.check_dataset(dataset)``, which
refuses a dataset sharing a subject with the detector's training corpus.

A detector is named by its shipped name, or by the path of its metadata JSON (a detector trained with
``lfdm-bench detector train --out DIR``).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch
from torch import Tensor

from metrics.detector import DetectorInfo
from metrics.vcnn.corpus import SubjectOverlapError, check_no_shared_subjects, record_fingerprints
from metrics.vcnn.model import RESIZE_RULE, VCNN, VCNNConfig, prepare_videos
from lfdm_bench.utils.paths import resolve_shipped_json, shipped_names

__all__ = ["WEIGHTS_DIR", "DEFAULT_DETECTORS", "DetectorChecksumError", "EmbeddedDetectorInfo", "VCNNDetector",
           "shipped_detectors", "is_vcnn_detector", "resolve_metadata", "load_detector", "default_detector_for",
           "render_options", "read_size",
           "SubjectOverlapError"]

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_DETECTORS = {"synth-faces": "synth-faces-vcnn-v1", "synth-actions": "synth-actions-vcnn-v1"}
"""The embedded benchmark's detector for each embedded dataset."""


class DetectorChecksumError(RuntimeError):
    """A weight file whose sha256 differs from the one recorded in its metadata."""


@dataclass(frozen=True)
class EmbeddedDetectorInfo(DetectorInfo):
    """:class:`DetectorInfo` of an embedded-domain detector (stored with every number it produced).

    Extra attributes:
        kind: ``"embedded-domain"``.
        domain: the dataset it was trained for (``synth-faces`` ...).
        feature_dim: D.
        input_size, frames_trained: what the network sees (other frame sizes are resized, see ``resize_method``).
        note: what the values mean (not comparable with published FVDs).
    """

    kind: str = "embedded-domain"
    domain: str = ""
    feature_dim: int = 0
    input_size: int = 0
    frames_trained: int = 0
    note: str = ""


def shipped_detectors() -> list[str]:
    """Names of the detectors shipped in the package (``metrics/vcnn/weights/*.json``)."""
    return shipped_names(WEIGHTS_DIR)


def is_vcnn_detector(value: Any) -> bool:
    """True for a shipped detector name or a path to a VCNN metadata JSON (what :func:`load_detector` accepts)."""
    if not isinstance(value, (str, os.PathLike)):
        return False
    text = str(value)
    if text in shipped_detectors():
        return True
    p = Path(text)
    if p.suffix == ".json" and p.is_file():
        try:
            return json.loads(p.read_text()).get("kind") == "embedded-domain"
        except (OSError, ValueError):
            return False
    return False


def resolve_metadata(name_or_path: str | os.PathLike[str]) -> Path:
    """The metadata JSON of a shipped name (``synth-faces-vcnn-v1``) or a JSON path; errors list the shipped ones."""
    return resolve_shipped_json(name_or_path, WEIGHTS_DIR, "embedded detector", "lfdm-bench detector train --out DIR")


def _sha256(path: Path) -> str:
    from lfdm_bench.utils.io import sha256_file

    return sha256_file(path)


def load_model(meta_path: Path) -> tuple[VCNN, dict[str, Any]]:
    """The float32 :class:`VCNN` (eval mode) and its metadata; checksum verified, state dict loaded strictly."""
    meta = json.loads(meta_path.read_text())
    weights = meta_path.parent / meta["weights"]["file"]
    if not weights.is_file():
        raise FileNotFoundError(f"weight file {weights} named by {meta_path} is missing")
    digest = _sha256(weights)
    if digest != meta["weights"]["sha256"]:
        raise DetectorChecksumError(
            f"weight file {weights} has sha256 {digest}, but {meta_path.name} records {meta['weights']['sha256']}: "
            "the file is corrupt or belongs to another detector (retrain with the command in the metadata, "
            f"'{meta.get('command', 'lfdm-bench detector train')}')")
    arch = {k: v for k, v in meta["architecture"].items() if k != "class"}
    model = VCNN(VCNNConfig.from_dict(arch))
    state = torch.load(weights, map_location="cpu", weights_only=True)
    model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    return model.eval(), meta


class VCNNDetector:
    """A shipped (or trained) VCNN as a feature source.

    Args:
        name_or_path: shipped name or metadata path.
        device: torch device (default CPU; the network is small).
        batch_size: clips per forward pass.

    Calling it: ``detector(videos)`` with ``videos`` uint8 ``[B, T, 3, H, W]`` (or float in ``[0, 1]``) returns
    float64 ``[B, D]`` standardised features; frames of another size than the network's input are resized
    (:data:`metrics.vcnn.model.RESIZE_RULE`).
    """

    accepts_uint8 = True

    def __init__(self, name_or_path: str | os.PathLike[str], *, device: str | torch.device | None = None,
                 batch_size: int = 64) -> None:
        self.meta_path = resolve_metadata(name_or_path)
        self.model, self.meta = load_model(self.meta_path)
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.model.to(self.device)
        self.batch_size = int(batch_size)
        cfg = self.model.config
        self.info = EmbeddedDetectorInfo(
            name=self.meta["name"], sha256=self.meta["weights"]["sha256"], bn_eps=math.nan,
            resize_method=f"none at {cfg.input_size}x{cfg.input_size}; otherwise {RESIZE_RULE}", precision="fp32",
            comparable_with_published=False, weights_status="function",
            weights_label=(f"embedded-domain detector {self.meta['name']} (sha256 "
                           f"{str(self.meta['weights']['sha256'])[:12]}, trained on {self.meta['dataset']}): not I3D "
                           "weights, NOT comparable with published numbers"),
            kind="embedded-domain", domain=self.meta["dataset"],
            feature_dim=cfg.feature_dim, input_size=cfg.input_size, frames_trained=cfg.frames,
            note=self.meta["note"])
        self._corpus_fps: dict[str, str] = dict(self.meta["corpus"]["fingerprints"])

    @property
    def feature_dim(self) -> int:
        return self.model.config.feature_dim

    def __call__(self, videos: Tensor | np.ndarray) -> np.ndarray:
        x = torch.as_tensor(videos)
        if x.ndim != 5:
            raise ValueError(f"{self.info.name} expects videos [B, T, 3, H, W], got shape {tuple(x.shape)}")
        if x.shape[0] == 0:
            return np.zeros((0, self.feature_dim))
        out = []
        with torch.inference_mode():
            for s in range(0, x.shape[0], self.batch_size):
                chunk = prepare_videos(x[s:s + self.batch_size], self.model.config.input_size).to(self.device)
                out.append(self.model(chunk).double().cpu())
        return torch.cat(out).numpy()

    extract = __call__

    def check_records(self, records: Iterable[Any], what: str = "the evaluated videos") -> int:
        """Raise :class:`SubjectOverlapError` if a record's subject appearance belongs to the training corpus.

        Returns the number of subjects checked (0 when the records carry no appearances, e.g. real datasets).
        """
        return check_no_shared_subjects(self._corpus_fps, record_fingerprints(records),
                                        corpus_name=f"detector {self.info.name}'s training corpus", other_name=what)

    def check_dataset(self, dataset: Any) -> int:
        """:meth:`check_records` on every record of a :class:`~lfdm_bench.data.registry.DatasetInfo`."""
        return self.check_records(dataset.records, what=f"dataset {getattr(dataset, 'name', '?')}")


def load_detector(name_or_path: str | os.PathLike[str], **kwargs: Any) -> VCNNDetector:
    """:class:`VCNNDetector` of a shipped name or metadata path (``device``, ``batch_size`` forwarded)."""
    return VCNNDetector(name_or_path, **kwargs)


def render_options(name_or_path: str | os.PathLike[str]) -> dict[str, Any]:
    """The synthetic-dataset options (``size``, ``frames``) the detector's corpus was rendered with: the embedded
    benchmark's rendering (``configs/synth-faces-cpu.yaml``: 64 px, 16 frames, read at 32 px)."""
    corpus = json.loads(resolve_metadata(name_or_path).read_text())["corpus"]
    return {"size": int(corpus["size"]), "frames": int(corpus["frames"])}


def read_size(name_or_path: str | os.PathLike[str]) -> int:
    """The side the detector's corpus clips were read at (the embedded benchmark's evaluation resolution)."""
    return int(json.loads(resolve_metadata(name_or_path).read_text())["corpus"]["read_size"])


def default_detector_for(dataset: str) -> str | None:
    """The shipped detector of an embedded dataset (``None`` for other datasets)."""
    return DEFAULT_DETECTORS.get(dataset)
