"""LFDM, the method: its run config, its two training stages on the shared engine, loading its checkpoints, its
generator (sample latent flows with the DM, render them with the LFAE) and its training previews."""
