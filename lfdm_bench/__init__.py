"""lfdm-bench: train, sample and fairly evaluate conditional image-to-video generators (LFDM and baselines).

Import names are folder names: this package (``lfdm_bench/``) holds the core (data, models, diffusion, text, training,
sampling, the LFDM method); the top-level packages ``metrics/``, ``baselines/``, ``bench/`` and the module ``cli.py``
sit beside it (``from metrics.fvd import fvd_from_stats`` is ``metrics/fvd.py``). Importing this package has no side
effect.
"""

__version__ = "0.1.0"
