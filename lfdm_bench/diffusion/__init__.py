"""Gaussian diffusion: schedules (schedule.py), the training/sampling process (gaussian.py) and samplers
(ddpm.py, ddim.py, diffusers_samplers.py, with the entry point samplers.sample); what a DM over a per-frame signal
diffuses and in which layout (target.py, patches.py: LDM's latents, VDM's pixels)."""
