"""Which I3D weights produced a number: a table of known checkpoint digests and an honest label for every file.

FVD values are comparable with published ones only when the detector is the published checkpoint. A file name proves
nothing (any state dict can be saved as ``i3d_pretrained_400.pt``), so the label comes from the file's sha256:

* ``published``: the digest is in :data:`KNOWN_I3D_DIGESTS` -> "matches published checkpoint X" (with how sure we
  are of the digest); the only status whose values are marked comparable with published numbers;
* ``unverified``: any other file -> "unverified weights (sha256 ...)": maybe the right network, but nothing here can
  tell; its values are not marked comparable;
* ``random``: the built-in ``i3d-random`` stand-in, or a file whose content shows untrained or random weights
  (:func:`random_weights_reason`), whatever its name; never comparable.

The digest table holds only what public sources establish (researched for issue 15; the full search is in
``docs/fvd_presets.md``):

* StyleGAN-V's ``i3d_torchscript.pt`` (``universome/stylegan-v@1f630af59d8f34a4a70417abc412c1c7c3b0d97c:
  src/metrics/frechet_video_distance.py#L22`` downloads it from
  ``https://www.dropbox.com/s/ge9e5ujwgetktms/i3d_torchscript.pt?dl=1``): its authors publish no digest; the sha256
  below is recorded, identically, by 10 distinct third-party files in the public code index (e.g. a download script
  pinning ``huggingface.co/flateon/FVD-I3D-torchscript/resolve/1c2d61711c52571ad617a1063e6fa691b212e184/
  i3d_torchscript.pt`` to it, an ``FVD(FID)`` metric class with ``FileHashItem("i3d_torchscript.pt", sha256=...)``,
  READMEs stating "Expected size: 51,235,320 bytes"); the index does not name those files' repositories, and one of
  them says "the I3D digest is not represented as an independently published upstream checksum". Confidence:
  medium (consistent third-party records, no first-party checksum).
* VideoGPT / TATS / cd-fvd ``i3d_pretrained_400.pt`` (Google Drive id ``1mQK8KD8G6UWRa5t87SRMm5PVXtlpneJT``;
  ``github.com/songweige/TATS/raw/main/tats/fvd/i3d_pretrained_400.pt``), piergiaj's ``rgb_imagenet.pt`` and the
  TF-Hub ``i3d-kinetics-400/1`` module: NO digest found in any public source searched, so these files are labelled
  "unverified" even when they are the genuine checkpoints. Add a digest here only with a public source for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

__all__ = ["KnownCheckpoint", "WeightsLabel", "KNOWN_I3D_DIGESTS", "WEIGHT_STATUSES", "label_weights",
           "random_weights_reason"]

WEIGHT_STATUSES = ("published", "unverified", "random", "function")


@dataclass(frozen=True)
class KnownCheckpoint:
    """A published I3D checkpoint identified by its sha256."""

    name: str
    size_bytes: int | None
    provenance: str
    digest_source: str
    confidence: str


@dataclass(frozen=True)
class WeightsLabel:
    """What is known about a detector's weights.

    Attributes:
        status: ``published`` | ``unverified`` | ``random`` | ``function`` (a feature function, not I3D weights).
        label: the text printed with every result.
        checkpoint: the known checkpoint's name (``published`` only).
    """

    status: str
    label: str
    checkpoint: str | None = None

    @property
    def comparable(self) -> bool:
        return self.status == "published"


KNOWN_I3D_DIGESTS: dict[str, KnownCheckpoint] = {
    "bec6519f66ea534e953026b4ae2c65553c17bf105611c746d904657e5860a5e2": KnownCheckpoint(
        name="StyleGAN-V i3d_torchscript.pt",
        size_bytes=51_235_320,
        provenance=("universome/stylegan-v@1f630af59d8f34a4a70417abc412c1c7c3b0d97c:"
                    "src/metrics/frechet_video_distance.py#L22 detector_url = "
                    "'https://www.dropbox.com/s/ge9e5ujwgetktms/i3d_torchscript.pt?dl=1'"),
        digest_source=("10 distinct third-party files in the public code index record this sha256 (e.g. a download "
                       "script pinning huggingface.co/flateon/FVD-I3D-torchscript/resolve/"
                       "1c2d61711c52571ad617a1063e6fa691b212e184/i3d_torchscript.pt to it; READMEs stating 'Expected "
                       "size: 51,235,320 bytes'); not published by StyleGAN-V's authors"),
        confidence="medium: consistent third-party records, no first-party checksum",
    ),
}


def random_weights_reason(state: Mapping[str, Any]) -> str | None:
    """Why an I3D state dict holds random or untrained weights, or ``None`` when nothing shows it.

    Two content signatures (file names are ignored):

    * the ``i3d-random`` construction (:func:`metrics.i3d.build_random_i3d`): the first layer's 7 temporal
      taps are zero except taps 2 and 3, which are exact negatives of each other;
    * untrained BatchNorm: every ``running_mean`` is 0 and every ``running_var`` is 1 (a trained network's running
      statistics never stay at their initial values).
    """
    w = state.get("Conv3d_1a_7x7.conv3d.weight")
    if w is not None and getattr(w, "ndim", 0) == 5 and w.shape[2] == 7:
        taps = np.asarray(w.detach().cpu().double().numpy() if hasattr(w, "detach") else w)
        others = np.delete(taps, [2, 3], axis=2)
        if not np.any(others) and np.any(taps[:, :, 3]) and np.array_equal(taps[:, :, 2], -taps[:, :, 3]):
            return "the i3d-random construction (temporal-difference first layer)"
    means = [v for k, v in state.items() if k.endswith("bn.running_mean")]
    variances = [v for k, v in state.items() if k.endswith("bn.running_var")]
    if means and variances and all(not bool((m != 0).any()) for m in means) and \
            all(not bool((v != 1).any()) for v in variances):
        return "untrained BatchNorm statistics (every running mean 0, every running variance 1)"
    return None


def label_weights(sha256: str, name: str, random_reason: str | None = None) -> WeightsLabel:
    """The label of a weight file with checksum ``sha256`` (file ``name``); ``random_reason``: what
    :func:`random_weights_reason` found in its content, if anything."""
    if random_reason is not None:
        return WeightsLabel("random", f"random weights ({name}: {random_reason}; sha256 {sha256[:12]}): NOT "
                                      "comparable with published numbers")
    known = KNOWN_I3D_DIGESTS.get(sha256)
    if known is not None:
        return WeightsLabel("published", f"matches published checkpoint {known.name} (sha256 {sha256[:12]}; digest "
                                         f"confidence {known.confidence})", checkpoint=known.name)
    return WeightsLabel("unverified", f"unverified weights (sha256 {sha256}): not a known published checkpoint "
                                      "digest, so comparability with published numbers cannot be established")
