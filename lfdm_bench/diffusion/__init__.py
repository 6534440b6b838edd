"""Gaussian diffusion: schedules (schedule.py), the training/sampling process (gaussian.py) and samplers
(ddpm.py, ddim.py, diffusers_samplers.py, with the entry point samplers.sample)."""
