"""The ImaGINator baseline: a conditional video GAN (Wang et al., WACV 2020), the paper's first comparison row, at
the embedded benchmark's size (:mod:`baselines.imaginator.model` says where it differs from the paper's)."""

from baselines.imaginator.config import ImaGINatorRunConfig, load_imaginator_config

__all__ = ["ImaGINatorRunConfig", "load_imaginator_config"]
