"""LFDM stage 1: the latent flow autoencoder (LFAE), built on MRAA's region-based motion model.

``LFAE(LFAEConfig.tiny())`` / ``LFAE(LFAEConfig.paper())``; see :mod:`.lfae` for the tensor contract, :mod:`.warp`
for the grid conventions and :mod:`.losses` for the training losses.
"""

from .flow_predictor import DenseMotion, DenseMotionPredictor
from .generator import Generator, SourceFeatures
from .lfae import LFAE, LFAEConfig
from .losses import (EquivarianceLoss, LFAELoss, LFAELossConfig, MultiScaleReconstructionLoss, RandomTPS,
                     VGG19Features, VGG19Perceptual)
from .region_predictor import RegionParams, RegionPredictor
from .warp import identity_flow, identity_grid, warp

__all__ = [
    "LFAE", "LFAEConfig", "SourceFeatures", "Generator", "RegionParams", "RegionPredictor", "DenseMotion",
    "DenseMotionPredictor", "LFAELoss", "LFAELossConfig", "MultiScaleReconstructionLoss", "VGG19Features",
    "VGG19Perceptual", "EquivarianceLoss", "RandomTPS", "identity_grid", "identity_flow", "warp",
]
