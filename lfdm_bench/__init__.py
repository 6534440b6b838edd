"""lfdm-bench: train, sample and fairly evaluate conditional image-to-video generators (LFDM and baselines)."""

__version__ = "0.1.0"
