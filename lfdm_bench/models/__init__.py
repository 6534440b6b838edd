"""Models: the LFAE (stage 1, lfae/), the factorised 3D U-Net, the flow-target codec and the class-conditioned video
diffusion model shared by LFDM and LDM."""
