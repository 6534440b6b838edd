"""Embedded, procedurally generated datasets that stand in for the paper's (which cannot be downloaded here).

- ``synth-faces`` (for MUG): 52 subjects (26 train / 26 test) x 7 expressions (MUG's class names, used verbatim as
  the condition text) x 3 takes; expressions deform brows, eyelids, mouth and head pose from a neutral first
  frame, and opening ones reveal teeth, tongue and sclera hidden in that frame.
- ``synth-actions`` (for UTD-MHAD / NATOPS): 16 articulated figures (8 / 8) x 12 MHAD actions (MHAD's texts) x 3
  takes: large articulated motion from a rest pose.

Each also has validation subjects (13 faces / 4 figures, split ``val``) rendered with another seed, where settings
are chosen (:func:`ensure_validation`).

Usage::

    from lfdm_bench.data.synth import ensure_synthetic, load_synthetic_info
    manifest = ensure_synthetic("synth-faces", size=64, frames=16)   # generated once, then cached
    info = load_synthetic_info(manifest.parent)                      # classes, splits, config

Importing this package has no side effects; nothing is written before :func:`ensure_synthetic` is called.
"""

from lfdm_bench.data.synth.make import (
    COMPLETE,
    SYNTH_DATASETS,
    VERSION,
    SynthConfig,
    SynthDatasetSpec,
    cache_folder,
    dataset_records,
    ensure_synthetic,
    ensure_validation,
    is_complete,
    load_synthetic_info,
    load_synthetic_records,
    make_config,
    render_take,
    split_subjects,
    subject_appearance,
    subject_ids,
    take_motion,
    validation_config,
)
from lfdm_bench.data.synth.render import STYLES

__all__ = [
    "COMPLETE", "STYLES", "SYNTH_DATASETS", "VERSION", "SynthConfig", "SynthDatasetSpec", "cache_folder",
    "dataset_records", "ensure_synthetic", "ensure_validation", "is_complete", "load_synthetic_info",
    "load_synthetic_records", "make_config", "render_take", "split_subjects", "subject_appearance", "subject_ids",
    "take_motion", "validation_config",
]
