"""Sampling: evaluation sets, generation loops and sample folders shared by LFDM, LDM and the baselines."""
