"""Baselines the paper compares LFDM against.

``baselines.ldm``: LDM, a 3D U-Net diffusion over the latents of a per-frame image autoencoder (stage 1
lives in ``baselines.ldm.autoencoder``); ``baselines.calibration`` and
``baselines.retrieval``: the calibration baselines (static, real, retrieval).
"""
