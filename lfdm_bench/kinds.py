"""The model kinds a run can hold and their training stages: the one list the rest derives from.

Standard library only, so the command line's ``--help`` reads it without importing torch. Derived here:
:data:`MODELS` (run folders, checkpoints), :data:`RECORD_STAGES` (the checkpoints that name a run),
:data:`STAGE_CHOICES` and :func:`train_stages` (``lfdm-bench train --model / --stage``, LDM's ``train_ldm_run``).
The generator registry (:mod:`bench.generators`) maps each kind to its code.
"""

from __future__ import annotations

# model kind -> its training stages in order: stage 1 (LFDM's LFAE, LDM's image autoencoder), then the video DM
# (VDM, pixel-space diffusion, has no stage 1; ImaGINator, a conditional video GAN, one stage "gan")
MODEL_STAGES: dict[str, tuple[str, ...]] = {"lfdm": ("lfae", "dm"), "ldm": ("ae", "dm"), "vdm": ("dm",),
                                            "imaginator": ("gan",)}
MODELS: tuple[str, ...] = tuple(MODEL_STAGES)
ALL_STAGES = "all"  # the --stage value that trains every stage of the model, in order


def _stages_by_position(newest_first: bool = False) -> tuple[str, ...]:
    """Every kind's stages, each name once: stage 1s first, then the later stages (``lfae, ae, dm``), or the
    reverse order of positions (``dm, lfae, ae``)."""
    depth = max(len(s) for s in MODEL_STAGES.values())
    positions = reversed(range(depth)) if newest_first else range(depth)
    return tuple(dict.fromkeys(s[i] for i in positions for s in MODEL_STAGES.values() if i < len(s)))


# the stages whose checkpoint names the run, newest first: the diffusion model, then stage 1 (LFAE / LDM's AE)
RECORD_STAGES: tuple[str, ...] = _stages_by_position(newest_first=True)
# what `lfdm-bench train --stage` accepts (each model accepts its own stages and "all": see train_stages)
STAGE_CHOICES: tuple[str, ...] = (*_stages_by_position(), ALL_STAGES)


def train_stages(model: str) -> tuple[str, ...]:
    """The ``--stage`` values of ``model``: its stages, then ``all``."""
    return (*MODEL_STAGES[model], ALL_STAGES)
