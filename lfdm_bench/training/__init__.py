"""Training: the one engine every stage runs on (engine.py) and its training items (items.py). The stages themselves
live with their method: LFDM's in :mod:`lfdm_bench.lfdm.train`, LDM's in :mod:`baselines.ldm.train`."""
