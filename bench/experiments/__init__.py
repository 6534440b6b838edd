"""The paper's other experiments on trained runs (the ``lfdm-bench experiment`` command group is in
:mod:`bench.experiments.commands`).

* :func:`~bench.experiments.unconditional.run_unconditional` (``experiment unconditional``): a run sampled
  with the null condition and conditionally, same sources and seeds, one protocol;
* :func:`~bench.experiments.new_domain.run_new_domain` (``experiment new-domain``): an LFDM run's LFAE
  fine-tuned to another appearance (decoder only / whole), reconstruction and generation with the run's DM;
* :func:`~bench.experiments.text_encoder.run_text_encoder` (``experiment text-encoder``): the DM trained
  with BERT text and with one-hot classes from one LFAE;
* :func:`~bench.experiments.flow_target.run_flow_target` (``experiment flow-target``): the DM trained on
  the paper's absolute-grid target and on the displacement target from one LFAE.

Each writes ``OUT/<name>.json`` (rows + the request + the evaluation protocol + the detector + the environment,
rewritten atomically after every part, so a rerun skips finished parts and a rerun with other settings is refused),
``OUT/<name>.md`` and ``OUT/<name>.csv`` (:mod:`bench.experiments.common`).

Example::

    lfdm-bench experiment unconditional --run runs/tiny-lfdm --i3d i3d-random
    lfdm-bench experiment new-domain --run runs/tiny-lfdm --style sketch --steps 500
    lfdm-bench experiment text-encoder --config synth-faces-cpu --lfae-run runs/synth-faces-cpu-lfdm
    lfdm-bench experiment flow-target --config synth-faces-cpu --lfae-run runs/synth-faces-cpu-lfdm
"""

from __future__ import annotations

from bench.experiments.flow_target import run_flow_target
from bench.experiments.new_domain import run_new_domain
from bench.experiments.text_encoder import run_text_encoder
from bench.experiments.unconditional import run_unconditional

__all__ = ["run_unconditional", "run_new_domain", "run_text_encoder", "run_flow_target"]
