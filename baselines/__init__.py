"""Baselines the paper compares LFDM against.

``lfdm_bench.baselines.ldm``: LDM, a 3D U-Net diffusion over the latents of a per-frame image autoencoder (stage 1
lives in ``lfdm_bench.baselines.ldm.autoencoder``); ``lfdm_bench.baselines.calibration`` and
``lfdm_bench.baselines.retrieval``: the calibration baselines (static, real, retrieval).
"""
