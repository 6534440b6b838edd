"""Datasets: embedded synthetic sets, loaders for MUG / UTD-MHAD / NATOPS, clips and video I/O."""
