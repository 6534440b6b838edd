"""Inception-I3D (Kinetics-400), the detector behind FVD.

The module layout reproduces the ``i3d_pretrained_400.pt`` state dict used by VideoGPT, TATS and cd-fvd
(287 tensors, converted from TF-Hub ``i3d-kinetics-400``): every parameter and buffer name and shape is
identical, and there are no ``num_batches_tracked`` buffers (checkpoints that carry them load too).

Contract of :class:`InceptionI3d` (and of every detector returned by :func:`load_i3d`)::

    input : float [B, 3, T, 224, 224], RGB, values in [-1, 1] (``2 * x / 255 - 1``), T >= 9
    output: float [B, 400] pre-softmax Kinetics-400 logits, averaged over the time positions

Convolutions and max pools use TensorFlow "SAME" padding computed from the actual input size, so the
network is exact for any T and matches the TF graph. BatchNorm always uses its running statistics; the
detector can never enter training mode. BatchNorm epsilon is a constructor argument: 1e-3 reproduces the
TF-Hub graph, 1e-5 reproduces the VideoGPT/TATS/cd-fvd PyTorch port.

Three sources of weights (see :func:`load_i3d`):

* a plain state dict in the ``i3d_pretrained_400.pt`` layout (also piergiaj's ``rgb_imagenet.pt``,
  whose weights differ and whose values are therefore not comparable),
* StyleGAN-V's TorchScript ``i3d_torchscript.pt`` (wrapped by :class:`TorchScriptI3D`),
* ``"i3d-random"``: the same architecture with a fixed, machine-independent random initialisation whose first
  layer takes temporal differences (see :func:`build_random_i3d`), for smoke tests and the embedded benchmark.
  Its values are not comparable with published numbers (``is_pretrained = False``).

Whether a file's values are comparable with published numbers is decided by its sha256 alone
(:mod:`metrics.weights`): a known published digest, or "unverified weights"; random content (the
``i3d-random`` construction, untrained BatchNorm statistics) is labelled random whatever the file is called.
"""

from __future__ import annotations

import math
import os
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lfdm_bench.utils.io import sha256_file

from .weights import WeightsLabel, label_weights, random_weights_reason

__all__ = [
    "MIN_FRAMES",
    "I3D_INPUT_SIZE",
    "NUM_CLASSES",
    "RANDOM_I3D_NAME",
    "I3DWeightsError",
    "InceptionI3d",
    "TorchScriptI3D",
    "build_random_i3d",
    "load_i3d",
    "check_i3d_input",
]

MIN_FRAMES = 9
"""Fewest frames I3D accepts: the final (2, 7, 7) average pool needs 2 time positions."""
I3D_INPUT_SIZE = 224
NUM_CLASSES = 400
RANDOM_I3D_NAME = "i3d-random"

# Mixed blocks: name -> (in_channels, b0, b1a, b1b, b2a, b2b, b3b), from the TF-Hub graph.
_MIXED: dict[str, tuple[int, int, int, int, int, int, int]] = {
    "Mixed_3b": (192, 64, 96, 128, 16, 32, 32),
    "Mixed_3c": (256, 128, 128, 192, 32, 96, 64),
    "Mixed_4b": (480, 192, 96, 208, 16, 48, 64),
    "Mixed_4c": (512, 160, 112, 224, 24, 64, 64),
    "Mixed_4d": (512, 128, 128, 256, 24, 64, 64),
    "Mixed_4e": (512, 112, 144, 288, 32, 64, 64),
    "Mixed_4f": (528, 256, 160, 320, 32, 128, 128),
    "Mixed_5b": (832, 256, 160, 320, 32, 128, 128),
    "Mixed_5c": (832, 384, 192, 384, 48, 128, 128),
}

Triple = tuple[int, int, int]


class I3DWeightsError(ValueError):
    """A weight file does not match the I3D layout (missing, unexpected or mis-shaped tensors)."""


def _same_pad(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF "SAME" padding of one dimension: (front, back), the odd pixel goes to the back."""
    if size % stride == 0:
        total = max(kernel - stride, 0)
    else:
        total = max(kernel - size % stride, 0)
    return total // 2, total - total // 2


def _pad_same(x: Tensor, kernel: Triple, stride: Triple) -> Tensor:
    """Zero-pad ``x`` [B, C, T, H, W] so that a (kernel, stride) window behaves like TF "SAME"."""
    pt = _same_pad(x.shape[2], kernel[0], stride[0])
    ph = _same_pad(x.shape[3], kernel[1], stride[1])
    pw = _same_pad(x.shape[4], kernel[2], stride[2])
    if pt == ph == pw == (0, 0):
        return x
    return F.pad(x, (*pw, *ph, *pt))  # F.pad lists the last dim first


class FrozenBatchNorm3d(nn.Module):
    """BatchNorm over [B, C, T, H, W] that always uses running statistics.

    Holds ``weight``, ``bias``, ``running_mean``, ``running_var`` (the checkpoint's names) and no
    ``num_batches_tracked``; a state dict that carries that counter loads anyway (it is dropped).
    """

    def __init__(self, channels: int, eps: float) -> None:
        super().__init__()
        self.eps = float(eps)
        self.weight = nn.Parameter(torch.ones(channels), requires_grad=False)
        self.bias = nn.Parameter(torch.zeros(channels), requires_grad=False)
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # type: ignore[override]
        state_dict.pop(prefix + "num_batches_tracked", None)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, x: Tensor) -> Tensor:
        return F.batch_norm(
            x, self.running_mean, self.running_var, self.weight, self.bias, training=False, eps=self.eps
        )

    def extra_repr(self) -> str:
        return f"{self.weight.shape[0]}, eps={self.eps}"


class Unit3D(nn.Module):
    """SAME pad -> Conv3d (no bias) -> BatchNorm -> ReLU; keys ``conv3d.weight``, ``bn.*``."""

    def __init__(self, c_in: int, c_out: int, kernel: Triple = (1, 1, 1), stride: Triple = (1, 1, 1),
                 bn_eps: float = 1e-3) -> None:
        super().__init__()
        self.kernel, self.stride = kernel, stride
        self.conv3d = nn.Conv3d(c_in, c_out, kernel, stride=stride, padding=0, bias=False)
        self.bn = FrozenBatchNorm3d(c_out, bn_eps)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.bn(self.conv3d(_pad_same(x, self.kernel, self.stride))))


class MaxPoolSame(nn.Module):
    """Max pool with TF "SAME" zero padding (equivalent to -inf padding: inputs are post-ReLU)."""

    def __init__(self, kernel: Triple, stride: Triple) -> None:
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def forward(self, x: Tensor) -> Tensor:
        return F.max_pool3d(_pad_same(x, self.kernel, self.stride), self.kernel, self.stride)


class InceptionBlock(nn.Module):
    """Four branches concatenated on channels: 1x1 | 1x1->3x3x3 | 1x1->3x3x3 | maxpool3->1x1."""

    def __init__(self, c_in: int, b0: int, b1a: int, b1b: int, b2a: int, b2b: int, b3b: int,
                 bn_eps: float) -> None:
        super().__init__()
        self.b0 = Unit3D(c_in, b0, bn_eps=bn_eps)
        self.b1a = Unit3D(c_in, b1a, bn_eps=bn_eps)
        self.b1b = Unit3D(b1a, b1b, (3, 3, 3), bn_eps=bn_eps)
        self.b2a = Unit3D(c_in, b2a, bn_eps=bn_eps)
        self.b2b = Unit3D(b2a, b2b, (3, 3, 3), bn_eps=bn_eps)
        self.b3a = MaxPoolSame((3, 3, 3), (1, 1, 1))
        self.b3b = Unit3D(c_in, b3b, bn_eps=bn_eps)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat(
            [self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x))], dim=1
        )


class Logits(nn.Module):
    """The classifier head: 1x1x1 conv 1024 -> 400 with bias, no BN, no ReLU (key ``logits.conv3d``)."""

    def __init__(self, c_in: int = 1024, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        self.conv3d = nn.Conv3d(c_in, num_classes, (1, 1, 1), bias=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv3d(x)


def check_i3d_input(x: Tensor) -> None:
    """Raise a ValueError unless ``x`` is float [B, 3, T>=9, 224, 224] (what every I3D here expects)."""
    if not isinstance(x, Tensor) or x.ndim != 5 or x.shape[1] != 3:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(
            f"I3D expects a float tensor [B, 3, T, 224, 224] with values in [-1, 1], got {shape}. "
            "Use metrics.preprocess.to_i3d_input (or metrics.FeatureExtractor) to convert videos."
        )
    if not x.is_floating_point():
        raise ValueError(f"I3D expects a floating-point tensor in [-1, 1], got dtype {x.dtype}; "
                         "use metrics.preprocess.to_i3d_input to convert uint8 videos.")
    if x.shape[2] < MIN_FRAMES:
        raise ValueError(
            f"I3D needs at least {MIN_FRAMES} frames per clip (its last pooling needs 2 time positions), "
            f"got T={x.shape[2]} in input of shape {tuple(x.shape)}. Evaluate longer clips "
            "(FVD is usually computed on 16 frames)."
        )
    if x.shape[3] != I3D_INPUT_SIZE or x.shape[4] != I3D_INPUT_SIZE:
        raise ValueError(
            f"I3D expects 224x224 frames, got {x.shape[3]}x{x.shape[4]}; resize with "
            "metrics.preprocess.to_i3d_input first."
        )


class InceptionI3d(nn.Module):
    """Inception-I3D up to the time-averaged Kinetics-400 logits.

    Args:
        bn_eps: BatchNorm epsilon. 1e-3 (default) as in the TF-Hub graph; 1e-5 as in VideoGPT/TATS.
        num_classes: width of the logits layer (400 for Kinetics-400 checkpoints).

    ``forward(x)``: x float [B, 3, T, 224, 224] in [-1, 1], T >= 9 -> float [B, num_classes] logits
    (pre-softmax, mean over the T' = ceil(ceil(ceil(T/2)/2)/2) - 1 time positions).

    The module stays in eval mode: ``train()`` is overridden and always selects eval mode.
    Attributes ``name``, ``is_pretrained``, ``sha256`` and ``source`` describe where the weights came from.
    """

    def __init__(self, bn_eps: float = 1e-3, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        self.bn_eps = float(bn_eps)
        self.name = "i3d-uninitialised"
        self.is_pretrained = False
        self.sha256 = ""
        self.source = ""
        e = self.bn_eps
        layers: list[tuple[str, nn.Module]] = [
            ("Conv3d_1a_7x7", Unit3D(3, 64, (7, 7, 7), (2, 2, 2), e)),
            ("MaxPool3d_2a_3x3", MaxPoolSame((1, 3, 3), (1, 2, 2))),
            ("Conv3d_2b_1x1", Unit3D(64, 64, bn_eps=e)),
            ("Conv3d_2c_3x3", Unit3D(64, 192, (3, 3, 3), bn_eps=e)),
            ("MaxPool3d_3a_3x3", MaxPoolSame((1, 3, 3), (1, 2, 2))),
        ]
        for name in ("Mixed_3b", "Mixed_3c"):
            layers.append((name, InceptionBlock(*_MIXED[name], bn_eps=e)))
        layers.append(("MaxPool3d_4a_3x3", MaxPoolSame((3, 3, 3), (2, 2, 2))))
        for name in ("Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e", "Mixed_4f"):
            layers.append((name, InceptionBlock(*_MIXED[name], bn_eps=e)))
        layers.append(("MaxPool3d_5a_2x2", MaxPoolSame((2, 2, 2), (2, 2, 2))))
        for name in ("Mixed_5b", "Mixed_5c"):
            layers.append((name, InceptionBlock(*_MIXED[name], bn_eps=e)))
        self.end_points = [name for name, _ in layers]
        for name, module in layers:
            self.add_module(name, module)
        self.logits = Logits(1024, num_classes)
        self.requires_grad_(False)
        self.train(False)

    def train(self, mode: bool = True) -> InceptionI3d:
        """Always eval mode: the detector must never use batch statistics or dropout."""
        return super().train(False)

    def forward(self, x: Tensor) -> Tensor:
        check_i3d_input(x)
        for name in self.end_points:
            x = getattr(self, name)(x)  # Mixed_5c output: [B, 1024, T', 7, 7]
        x = F.avg_pool3d(x, kernel_size=(2, 7, 7), stride=1)  # [B, 1024, T'-1, 1, 1]
        x = self.logits(x)  # dropout would go here; identity at eval
        return x.squeeze(4).squeeze(3).mean(dim=2)  # [B, 400]


def _random_tensor(rng: np.random.RandomState, shape: tuple[int, ...], bound: float) -> Tensor:
    # uniform(-bound, bound) from 53-bit uniforms in float64 numpy: no transcendental functions and no
    # fused multiply-add, so the values are bit-identical on every machine.
    u = rng.random_sample(size=shape)
    return torch.from_numpy(((2.0 * u - 1.0) * bound).astype(np.float32))


RANDOM_I3D_VERSION = "2"
"""Version of the ``i3d-random`` construction (part of its ``sha256`` identity, hence of feature-cache keys)."""


def build_random_i3d(bn_eps: float = 1e-3, seed: int = 0) -> InceptionI3d:
    """The ``i3d-random`` detector: I3D with a fixed, machine-independent initialisation.

    Conv weights are kaiming-uniform (bound ``sqrt(6 / fan_in)``, in the state-dict key order, one
    ``numpy.random.RandomState(seed)`` stream); the logits layer uses bound ``sqrt(3 / fan_in)`` and bias 0;
    BatchNorm weight 1, bias 0, running mean 0, running var 1. Then the first layer (``Conv3d_1a_7x7``, 7 taps in
    time) is made a temporal difference: each filter's random spatial kernel ``S`` (its 7 temporal slices summed,
    divided by sqrt 7) is placed as ``-S`` at tap 2 and ``+S`` at tap 3, zeros elsewhere, so every first-layer
    response is ``S * (frame 2o+1 - frame 2o)``: the taps never reach the temporal "SAME" padding for an even
    number of frames.

    Why: with plain random weights the network is blind to motion on small videos (appearance dominates every
    feature): on synth-faces a still image scored a LOWER FVD against real videos than other real videos did
    (0.74 vs 1.98), and the static baseline beat every generator. With the difference layer, a still video maps to
    exactly zero features and FVD follows motion realism (moving edges; appearance enters only through what moves).
    For smoke tests and the embedded benchmark only: its features, and any FVD computed from them, are not
    comparable with published numbers (``sha256 = "i3d-random-v2"``).
    """
    model = InceptionI3d(bn_eps=bn_eps)
    rng = np.random.RandomState(seed)
    with torch.no_grad():
        for key, tensor in model.state_dict().items():
            if key.endswith("conv3d.weight"):
                fan_in = int(np.prod(tensor.shape[1:]))
                gain = 3.0 if key.startswith("logits.") else 6.0
                tensor.copy_(_random_tensor(rng, tuple(tensor.shape), math.sqrt(gain / fan_in)))
            elif key.endswith(("bn.bias", "running_mean", "conv3d.bias")):
                tensor.zero_()
            elif key.endswith(("bn.weight", "running_var")):
                tensor.fill_(1.0)
        w = model.Conv3d_1a_7x7.conv3d.weight  # [64, 3, 7, 7, 7] (out, in, t, h, w)
        taps = w.double().numpy()
        spatial = taps[:, :, 0].copy()
        for k in range(1, taps.shape[2]):  # elementwise float64 adds in a fixed order: bit-identical everywhere
            spatial += taps[:, :, k]
        spatial = torch.from_numpy((spatial / math.sqrt(taps.shape[2])).astype(np.float32))  # [64, 3, 7, 7]
        w.zero_()
        w[:, :, 2] = -spatial
        w[:, :, 3] = spatial
    model.name = RANDOM_I3D_NAME
    model.is_pretrained = False
    model.sha256 = f"{RANDOM_I3D_NAME}-v{RANDOM_I3D_VERSION}"
    model.weights = WeightsLabel("random", f"random weights (built-in {RANDOM_I3D_NAME} v{RANDOM_I3D_VERSION}, seed "
                                           f"{seed}): NOT comparable with published numbers")
    model.source = (f"{RANDOM_I3D_NAME} v{RANDOM_I3D_VERSION} (seed {seed}, temporal-difference first layer; "
                    "not comparable with published numbers)")
    return model


class TorchScriptI3D(nn.Module):
    """Wraps StyleGAN-V's TorchScript I3D (``i3d_torchscript.pt``) behind the :class:`InceptionI3d` contract.

    ``forward(x)``: float [B, 3, T, 224, 224] in [-1, 1] -> [B, 400]; the input is quantised back to uint8
    (``round((x + 1) * 127.5)``) because the TorchScript module takes uint8 video.
    ``forward_uint8(v)``: uint8 [B, 3, T, H, W] in [0, 255] at any resolution -> [B, 400]; the module
    rescales and resizes internally (``rescale=True, resize=True, return_features=True``), which is how
    StyleGAN-V computed FVD (preset ``torchscript_call="uint8-internal"``).
    ``forward_float(x)``: float [B, 3, T, 224, 224] in [-1, 1] passed as it is with ``rescale=False, resize=False``,
    as fvd-comparison's ``compute_our_fvd`` (which the LFDM authors used) calls it (``torchscript_call="float-224"``).
    """

    accepts_uint8 = True

    def __init__(self, module: torch.jit.ScriptModule, name: str = "i3d_torchscript.pt") -> None:
        super().__init__()
        self.module = module
        self.bn_eps = float("nan")  # baked into the TorchScript graph
        self.name = name
        self.is_pretrained = True
        self.sha256 = ""
        self.source = ""
        self.train(False)

    def train(self, mode: bool = True) -> TorchScriptI3D:
        """Always eval mode."""
        return super().train(False)

    def forward_uint8(self, videos: Tensor) -> Tensor:
        if videos.dtype != torch.uint8 or videos.ndim != 5 or videos.shape[1] != 3:
            raise ValueError(f"TorchScript I3D expects uint8 [B, 3, T, H, W], got {videos.dtype} "
                             f"{tuple(videos.shape)}")
        if videos.shape[2] < MIN_FRAMES:
            raise ValueError(f"I3D needs at least {MIN_FRAMES} frames per clip, got T={videos.shape[2]}.")
        out = self.module(videos, rescale=True, resize=True, return_features=True)
        if out.ndim != 2 or out.shape[0] != videos.shape[0]:
            raise ValueError(f"TorchScript I3D returned shape {tuple(out.shape)}, expected [B, 400]; "
                             "is this StyleGAN-V's i3d_torchscript.pt?")
        return out.float()

    def forward_float(self, x: Tensor) -> Tensor:
        check_i3d_input(x)
        out = self.module(x.float(), rescale=False, resize=False, return_features=True)
        if out.ndim != 2 or out.shape[0] != x.shape[0]:
            raise ValueError(f"TorchScript I3D returned shape {tuple(out.shape)}, expected [B, 400]; "
                             "is this StyleGAN-V's i3d_torchscript.pt?")
        return out.float()

    def forward(self, x: Tensor) -> Tensor:
        check_i3d_input(x)
        u8 = ((x.float() + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8)
        return self.forward_uint8(u8)


def _is_torchscript(path: Path) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as zf:
        return any(n.split("/", 1)[-1].startswith("code/") or n.endswith("/constants.pkl") for n in zf.namelist())


def _check_state_dict(state: Mapping[str, Tensor], model: nn.Module, path: Path) -> None:
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    given = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    missing = sorted(set(expected) - set(given))
    unexpected = sorted(set(given) - set(expected))
    not_tensor = sorted(k for k in set(given) & set(expected) if not isinstance(given[k], Tensor))
    misshaped = sorted(
        f"{k}: file {tuple(given[k].shape)} vs model {expected[k]}"
        for k in set(given) & set(expected) if isinstance(given[k], Tensor) and tuple(given[k].shape) != expected[k]
    )
    if not (missing or unexpected or misshaped or not_tensor):
        return

    def show(items: list[str]) -> str:
        return ", ".join(items[:8]) + (f", ... ({len(items)} in all)" if len(items) > 8 else "")

    parts = [f"{path} is not an I3D state dict in the i3d_pretrained_400.pt layout "
             f"({len(expected)} tensors expected, {len(given)} found)."]
    if missing:
        parts.append(f"Missing keys: {show(missing)}.")
    if unexpected:
        parts.append(f"Unexpected keys: {show(unexpected)}.")
    if misshaped:
        parts.append(f"Mis-shaped tensors: {show(misshaped)}.")
    if not_tensor:
        parts.append(f"Entries that are not tensors: {show(not_tensor)}.")
    parts.append("Pass the VideoGPT/TATS 'i3d_pretrained_400.pt' or StyleGAN-V's 'i3d_torchscript.pt'.")
    raise I3DWeightsError(" ".join(parts))


def load_i3d(path: str | os.PathLike[str], bn_eps: float = 1e-3,
             map_location: str | torch.device = "cpu") -> nn.Module:
    """Load an I3D detector in eval mode.

    Args:
        path: ``"i3d-random"``, a plain state dict file in the ``i3d_pretrained_400.pt`` layout
            (a ``{"state_dict": ...}`` wrapper is unwrapped; ``num_batches_tracked`` entries are ignored),
            or a TorchScript archive (StyleGAN-V's ``i3d_torchscript.pt``).
        bn_eps: BatchNorm epsilon for state-dict and random detectors (1e-3 TF-Hub, 1e-5 VideoGPT/TATS);
            TorchScript graphs carry their own.
        map_location: device the weights are loaded to.

    Returns:
        An ``nn.Module`` mapping float [B, 3, T, 224, 224] in [-1, 1] (T >= 9) to [B, 400] logits, with
        attributes ``name``, ``is_pretrained``, ``sha256`` (file checksum, or ``"i3d-random-v2"``), ``bn_eps`` and
        ``weights`` (a :class:`~metrics.weights.WeightsLabel`: published checkpoint only for a known
        digest, random for ``i3d-random`` or random-looking content, else unverified).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        I3DWeightsError: the file is not an I3D state dict (lists missing/unexpected/mis-shaped keys).
    """
    if str(path) == RANDOM_I3D_NAME:
        return build_random_i3d(bn_eps=bn_eps).to(map_location)
    file = Path(path).expanduser()
    if not file.is_file():
        raise FileNotFoundError(f"I3D weight file not found: {file}")
    digest = sha256_file(file)
    model: nn.Module
    random_reason = None
    if _is_torchscript(file):
        with warnings.catch_warnings():  # torch >= 2.9 deprecates TorchScript; the file format is still read
            warnings.simplefilter("ignore", DeprecationWarning)
            module = torch.jit.load(str(file), map_location=map_location)
        model = TorchScriptI3D(module, name=file.name)
    else:
        try:
            state = torch.load(file, map_location=map_location, weights_only=True)
        except Exception as exc:  # pickle/zip errors: say which file and what was expected, in one line
            reason = (str(exc).splitlines() or [""])[0] or type(exc).__name__
            if reason.startswith("Weights only load failed"):  # torch's paragraph of advice: not a weights file
                reason = "not a PyTorch weights file"
            raise I3DWeightsError(f"Could not read {file} as a PyTorch state dict or TorchScript archive ({reason}); "
                                  "a detector is I3D weights (.pt), a VCNN name (e.g. synth-faces-vcnn-v1) or its "
                                  ".json, or i3d-random") from exc
        if isinstance(state, Mapping) and isinstance(state.get("state_dict"), Mapping):
            state = state["state_dict"]
        if not isinstance(state, Mapping):
            raise I3DWeightsError(f"{file} holds a {type(state).__name__}, expected a state dict (str -> Tensor).")
        i3d = InceptionI3d(bn_eps=bn_eps)
        _check_state_dict(state, i3d, file)
        random_reason = random_weights_reason(state)
        i3d.load_state_dict(dict(state), strict=True)
        i3d.name, i3d.is_pretrained = file.name, random_reason is None
        model = i3d.to(map_location)
    model.sha256 = digest
    model.weights = label_weights(digest, file.name, random_reason)
    model.source = str(file)
    return model.eval()
