"""VCNN: the embedded benchmark's FVD detector, a small video CNN trained on a corpus of the embedded datasets.

FID on toy domains uses a classifier trained on that domain; this is the same for the embedded synth-faces /
synth-actions data: a reduced I3D-style 3D CNN (:mod:`metrics.vcnn.model`) at the evaluation's native
32x32 x 16 frames, trained (:mod:`metrics.vcnn.train`) on videos rendered with another seed and no
benchmark subject (:mod:`metrics.vcnn.corpus`) to recognise the class, the subject, the subject's rendered
appearance attributes and the take's motion trajectory, so its compact feature sees appearance and motion. The trained
weights ship in ``metrics/vcnn/weights/`` (float16, sha256-checked at load) with a JSON of metadata: architecture,
corpus spec and subject fingerprints, training settings, validation (linear-probe accuracies on held-out corpus
videos), pinned features, and the command that retrains them. Values are internal to the embedded benchmark: NOT
comparable with published (Kinetics I3D) FVDs.

    from metrics.vcnn import load_detector
    det = load_detector("synth-faces-vcnn-v1")   # a FeatureSource: det(videos [B, T, 3, H, W]) -> float64 [B, 16]
    det.check_dataset(dataset)                   # refuses a dataset sharing a subject with the training corpus

CLI: ``lfdm-bench detector train --dataset synth-faces [--out DIR]`` (deterministic on one CPU thread) and
``lfdm-bench detector info``.
"""

from metrics.vcnn.source import (DEFAULT_DETECTORS, DetectorChecksumError, EmbeddedDetectorInfo,
                                            SubjectOverlapError, VCNNDetector, default_detector_for, is_vcnn_detector,
                                            load_detector, shipped_detectors)

__all__ = ["DEFAULT_DETECTORS", "DetectorChecksumError", "EmbeddedDetectorInfo", "SubjectOverlapError",
           "VCNNDetector", "default_detector_for", "is_vcnn_detector", "load_detector", "shipped_detectors"]
