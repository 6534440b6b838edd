"""The VDM baseline: video diffusion in pixel space (Ho et al. 2022, the paper's "VDM" row), on the benchmark's
shared 3D U-Net, conditioned on the source frame and the class text like LFDM and LDM. No first stage: the U-Net
sees the frames themselves, in ``p x p`` pixel patches stacked on channels (:mod:`baselines.vdm.config`)."""

from baselines.vdm.config import VDMConfig, load_vdm_config

__all__ = ["VDMConfig", "load_vdm_config"]
