"""Named FVD protocol presets: the rules of each reference implementation, as data.

A preset fixes every setting of the I3D path that changes an FVD value: BatchNorm epsilon, covariance divisor, which
frames of real and generated videos make a clip, how frames are brought to the evaluation resolution and to 224x224,
how float frames are quantised to uint8, the network precision, and how many videos the reference uses. An
:class:`~metrics.protocol.EvalProtocol` starts from one preset (``--protocol NAME``); settings given
explicitly override it and are recorded as overrides.

The rules come from the reference code (file, commit and line cited per preset in :data:`PRESETS`; the research note
behind them is ``docs/fvd_presets.md``). What the stored public sources could not establish is listed in each
preset's ``unverified`` entries and printed with every result made under it; nothing there is a guess passed off
as a fact.

Settings (the fields of :class:`FVDPreset`):

* ``real_clips``: ``uniform`` (T frames evenly spaced over the whole video, LFDM's ``np.linspace``), ``first``
  (frames 0..T-1), ``window`` (T consecutive frames from one offset drawn uniformly in ``[0, L - T]`` per video,
  seeded; short videos dropped) or ``windows-all`` (the first N windows of a seeded permutation of ALL T-frame windows
  of the set: several per video possible, long videos weigh more).
* ``generated_clips``: ``first`` (frames 0..T-1 of each generated video) or ``window`` (as for real).
* ``real_split``: ``same`` (real videos of the generated videos' source split) or ``train`` (TATS).
* ``subset``: how at most ``max_real`` / ``max_generated`` videos are chosen: ``stratified`` (class-stratified,
  seeded) or ``sorted-first`` (the first N in sorted path order, StyleGAN-V).
* ``load_resize``: frames -> the evaluation resolution: ``pad`` (keep aspect, zero-pad, antialiased: the toolkit's
  loader), ``shortside-crop`` (shorter side bilinear, no antialias, ``ceil`` on the long side, centre crop:
  TATS / VideoGPT ``data.py``), ``shortside-crop-antialias`` (the same with antialias: cd-fvd).
* ``resize_method``: evaluation frames -> 224x224 (:data:`metrics.preprocess.RESIZE_METHODS`).
* ``real_quantize`` / ``generated_quantize``: float frames -> uint8 after the load resize: ``round``, ``truncate``
  (``(x * 255).byte()``), ``truncate-shifted`` (``((x - 0.5) + 0.5) * 255`` truncated: TATS / VideoGPT centre clips
  at 0 in ``data.py`` and shift back before ``.byte()``, which moves 63 of the 256 levels down by one even without a
  resize) or ``round-half-up`` (``floor(255 x + 0.5)``: StyleGAN-V's ``(x * 127.5 + 128).clamp(0, 255).to(uint8)``).
* ``precision``: ``fp32`` (TF32 off on CUDA) everywhere; ``bf16`` only when asked.
* ``torchscript_call``: how StyleGAN-V's ``i3d_torchscript.pt`` is called when it is the detector:
  ``uint8-internal`` (``rescale=True, resize=True``: it scales and resizes itself) or ``float-224`` (``rescale=False,
  resize=False``: the toolkit's resize and ``[-1, 1]`` scaling, as fvd-comparison's ``compute_our_fvd``).
* ``n_real`` / ``n_generated`` / ``n_trials``: the reference's numbers of videos and repeats (guidance: the result
  notes when an evaluation uses fewer).
* ``fd_route``: how the reference computes the Fréchet distance. The toolkit always uses its symmetric
  eigendecomposition (:func:`metrics.fvd.frechet_distance`), equal to each route in exact arithmetic and
  within ~1e-7 relative in float64 (pinned per preset by ``tests/test_fvd_presets.py``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["FVDPreset", "PRESETS", "PRESET_NAMES", "DEFAULT_PRESET", "PRESET_FIELDS", "REAL_CLIPS", "GENERATED_CLIPS",
           "REAL_SPLITS", "SUBSETS", "LOAD_RESIZES", "QUANTIZE_MODES", "PRECISIONS", "TORCHSCRIPT_CALLS",
           "get_preset"]

REAL_CLIPS = ("uniform", "first", "window", "windows-all")
GENERATED_CLIPS = ("first", "window")
REAL_SPLITS = ("same", "train")
SUBSETS = ("stratified", "sorted-first")
LOAD_RESIZES = ("pad", "shortside-crop", "shortside-crop-antialias")
QUANTIZE_MODES = ("round", "truncate", "truncate-shifted", "round-half-up")
PRECISIONS = ("fp32", "bf16")
TORCHSCRIPT_CALLS = ("uint8-internal", "float-224")

# EvalProtocol field -> FVDPreset field of the same name: the settings a preset fixes and a flag may override
PRESET_FIELDS = ("n_frames", "real_sampling", "generated_sampling", "real_split", "subset", "bn_eps", "ddof",
                 "load_resize", "resize_method", "real_quantize", "generated_quantize", "precision",
                 "torchscript_call")


@dataclass(frozen=True)
class FVDPreset:
    """The settings of one reference protocol (see the module docstring for each field's values)."""

    name: str
    reproduces: str
    n_frames: int
    real_sampling: str
    generated_sampling: str
    real_split: str
    subset: str
    bn_eps: float
    ddof: int
    load_resize: str
    resize_method: str
    real_quantize: str
    generated_quantize: str
    precision: str
    torchscript_call: str
    n_real: int | None
    n_generated: int | None
    n_trials: int
    fd_route: str
    sources: tuple[str, ...] = ()
    unverified: tuple[str, ...] = ()
    differences: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        for name, allowed in (("real_sampling", REAL_CLIPS), ("generated_sampling", GENERATED_CLIPS),
                              ("real_split", REAL_SPLITS), ("subset", SUBSETS), ("load_resize", LOAD_RESIZES),
                              ("real_quantize", QUANTIZE_MODES), ("generated_quantize", QUANTIZE_MODES),
                              ("precision", PRECISIONS), ("torchscript_call", TORCHSCRIPT_CALLS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"preset {self.name}: {name} must be one of {allowed}, got {getattr(self, name)!r}")
        if self.ddof not in (0, 1):
            raise ValueError(f"preset {self.name}: ddof must be 0 or 1")

    def settings(self) -> dict[str, Any]:
        """The values a protocol takes from this preset (the :data:`PRESET_FIELDS`)."""
        return {k: getattr(self, k) for k in PRESET_FIELDS}

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("sources", "unverified", "differences"):
            d[k] = list(d[k])
        return d


_TFGAN = ("tensorflow/gan@141eb6cab738959dd9b3978d41f5980527488a96:tensorflow_gan/python/eval/classifier_metrics.py "
          "frechet_classifier_distance_from_activations: float64 activations, covariance 1/(n-1), "
          "_symmetric_matrix_square_root by SVD keeping singular values < 1e-10 unrooted")

PRESETS: dict[str, FVDPreset] = {p.name: p for p in (
    FVDPreset(
        name="lfdm-bench", reproduces="this toolkit's own protocol (the benchmark's default)",
        n_frames=16, real_sampling="uniform", generated_sampling="first", real_split="same", subset="stratified",
        bn_eps=1e-3, ddof=1, load_resize="pad", resize_method="bilinear-tats", real_quantize="round",
        generated_quantize="round", precision="fp32", torchscript_call="uint8-internal",
        n_real=None, n_generated=None, n_trials=1, fd_route="symmetric eigendecomposition (float64)",
        sources=("LFDM's loaders (nihaomiao/CVPR23_LFDM@4e1564f:DM/datasets_mug.py MUG_test) sample "
                 "np.linspace(0, N-1, T) frames: real clips span the whole video, like the generator's training "
                 "clips",),
        differences=("real clips spread over the whole video (generators are trained on such clips); TF-Hub's "
                     "BatchNorm eps 1e-3 with 1/(N-1) covariances; keep-aspect zero-pad loading",)),
    FVDPreset(
        name="tf", reproduces="the original TensorFlow FVD (Unterthiner et al. 2018, google-research "
                              "frechet_video_distance + TF-GAN)",
        n_frames=16, real_sampling="uniform", generated_sampling="first", real_split="same", subset="stratified",
        bn_eps=1e-3, ddof=1, load_resize="pad", resize_method="tf-legacy-bilinear", real_quantize="round",
        generated_quantize="round", precision="fp32", torchscript_call="uint8-internal",
        n_real=None, n_generated=None, n_trials=1,
        fd_route="TF-GAN: trace(sqrt(A S_gen A)), A = sqrt(S_real), both by SVD (singular values < 1e-10 kept)",
        sources=(
            "google-research/google-research@0090728722a50ca15f2f10cf9423aeb8054620d0:"
            "frechet_video_distance/frechet_video_distance.py#L48 tf.image.resize_bilinear(all_frames, "
            "size=target_resolution) (align_corners=False, half_pixel_centers=False: legacy grid), "
            "#L51 scaled_videos = 2. * tf.cast(output_videos, tf.float32) / 255. - 1 (after the resize), "
            "#L118/#L124 logits 'RGB/inception_i3d/Mean:0', #L140 frechet_classifier_distance_from_activations",
            _TFGAN,
            "BatchNorm eps 1e-3: Sonnet 1 BatchNorm default (google-deepmind/sonnet@29c2d3d6:"
            "sonnet/python/modules/batch_norm.py eps=1e-3)",
        ),
        unverified=("BatchNorm eps 1e-3 is inferred from Sonnet 1's default; the TF-Hub graph itself is binary",
                    "clip selection and number of videos are the caller's in the TF code (its example.py uses 16 "
                    "videos of 15 frames); the toolkit's uniform real clips / first generated frames stand in",
                    "quantisation: the TF code resizes whatever it is given; uint8 frames rounded by the toolkit"),
        differences=("legacy TF bilinear grid (src = dst * in / out, no half-pixel offset) on 0-255 values",)),
    FVDPreset(
        name="stylegan-v", reproduces="StyleGAN-V's fvd2048_16f (FVD16; also the metric later works compute with "
                                      "its calc_metrics_for_dataset.py)",
        n_frames=16, real_sampling="window", generated_sampling="first", real_split="same", subset="sorted-first",
        bn_eps=1e-3, ddof=0, load_resize="pad", resize_method="bilinear-tats", real_quantize="round-half-up",
        generated_quantize="round-half-up", precision="fp32", torchscript_call="uint8-internal",
        n_real=2048, n_generated=2048, n_trials=1,
        fd_route="scipy.linalg.sqrtm(S_gen @ S_real), real part",
        sources=(
            "universome/stylegan-v@1f630af59d8f34a4a70417abc412c1c7c3b0d97c:src/metrics/frechet_video_distance.py"
            "#L22 i3d_torchscript.pt, #L23 rescale=True, resize=True, return_features=True, #L26 "
            "load_n_consecutive = num_frames, #L28 discard_short_videos = True, #L38-39 generated: "
            "load_n_consecutive_random_offset = False (first 16 frames), #L54-56 sqrtm(np.dot(sigma_gen, "
            "sigma_real)), np.real(...)",
            "src/training/dataset.py@char 16569 random_offset = random.randint(0, num_frames_available - "
            "load_n_consecutive * subsample_factor + subsample_factor - 1) (one window per video)",
            "src/metrics/metric_utils.py#L224/#L230 first min(#videos, max_items) videos in sorted order, #L99-101 "
            "float64 sums, #L125-126 cov = raw_cov / num_items - outer(mean, mean) (1/N), #L285 (img * 127.5 + "
            "128).clamp(0, 255).to(torch.uint8); metric_main.py#L117 max_real=2048, num_gen=2048, num_frames=16",
            "src/scripts/calc_metrics_for_dataset.py#L49-50 allow_tf32 = False (matmul and cuDNN)",
        ),
        unverified=("i3d_torchscript.pt's internal resize and BatchNorm eps (TorchScript binary): with a state dict "
                    "the toolkit uses eps 1e-3 (the graph claims to port TF-Hub) and bilinear-tats to 224",
                    "the reference's random offsets are unseeded (DataLoader workers); here seeded per video",
                    "real frames: StyleGAN-V reads stored frames at the dataset resolution; here the toolkit's "
                    "keep-aspect loader, quantised round-half-up"),
        differences=("16 consecutive real frames at a random offset, one clip per video; first 16 generated frames; "
                     "1/N covariance",)),
    FVDPreset(
        name="videogpt", reproduces="VideoGPT's public scripts/compute_fvd.py (BAIR; 256 clips, 4 trials)",
        n_frames=16, real_sampling="windows-all", generated_sampling="first", real_split="same",
        subset="stratified", bn_eps=1e-5, ddof=1, load_resize="shortside-crop", resize_method="videogpt-shortside-crop",
        real_quantize="truncate-shifted", generated_quantize="truncate", precision="fp32",
        torchscript_call="uint8-internal", n_real=256, n_generated=256, n_trials=4,
        fd_route="TF-GAN SVD route in torch (float32 on GPU), sigma = generated",
        sources=(
            "wilson1yan/VideoGPT@c6655e8c8fe5bd398f244d2d931bbc60724bd036:videogpt/fvd/pytorch_i3d.py#L81 "
            "nn.BatchNorm3d(..., eps=1e-5, momentum=0.001)",
            "wilson1yan/VideoGPT@3eee7ec237d62d97981e0bcfbd9e7f6318fd278b:videogpt/data.py#L78 .float() / 255., "
            "#L87 scale = resolution / min(h, w), #L92-93 F.interpolate(bilinear, align_corners=False), #L97 centre "
            "crop, #L102 video -= 0.5; #L48 VideoClips(files, sequence_length) (all windows, shuffled loader)",
            "scripts/compute_fvd.py@3eee7ec#L87 fake = (fake * 255).astype('uint8'), #L100-102 real = real + 0.5; "
            "(real * 255).astype('uint8'), #L109 256 videos, #L122 --n_trials 4",
            "videogpt/fvd/fvd.py@3eee7ec#L74 fact = 1.0 / (m.size(1) - 1), #L36-37 torch.svd square root",
        ),
        unverified=("whether upstream fvd.py multiplies the [-0.5, 0.5] input by 2 (stored version returns "
                    "videos without '* 2', forks and JunyaoHu's copy have 'return videos * 2'): [-1, 1] used here",
                    "the reference draws its 256 windows with an unseeded shuffle; here a seeded permutation",
                    "VideoGPT runs the FD in float32 on the GPU; here float64 (differences ~1e-5 relative)"),
        differences=("windows drawn over all windows of the split (a video can give several); shorter side to 224 "
                     "plus centre crop; real frames resized twice (to the resolution, truncated, then to 224)",)),
    FVDPreset(
        name="tats", reproduces="TATS's FVD (UCF-101 / Sky / Taichi tables: 2048 train-split clips vs 2048 samples)",
        n_frames=16, real_sampling="windows-all", generated_sampling="first", real_split="train",
        subset="stratified", bn_eps=1e-5, ddof=1, load_resize="shortside-crop", resize_method="bilinear-tats",
        real_quantize="truncate-shifted", generated_quantize="truncate", precision="fp32",
        torchscript_call="uint8-internal", n_real=2048, n_generated=2048, n_trials=1,
        fd_route="TF-GAN SVD route in torch (float32 on GPU), sigma = generated",
        sources=(
            "songweige/TATS@26c33f5bb762f86589c0971e98d0c4565f9a7f63:tats/fvd/fvd.py#L15 TARGET_RESOLUTION = "
            "(224, 224), #L22-23 F.interpolate(bilinear, align_corners=False), #L26 2. * output_videos / 255. - 1, "
            "#L83 fact = 1.0 / (m.size(1) - 1), #L45 torch.svd, #L109 data.train_dataloader(), #L116/#L123 [:2048]",
            "tats/data.py#L98 .float() / 255., #L121-127 shorter side bilinear (no antialias), #L130-133 centre "
            "crop, #L136 video -= 0.5, #L59 VideoClips (all windows), #L74 __len__ = num_clips()",
            "scripts/sample_vqgan_transformer_short_videos.py#L99 (x * 255).astype(np.uint8), "
            "#L113 ((video + 0.5) * 255).byte()",
        ),
        unverified=("BatchNorm eps 1e-5 assumed: tats/fvd/pytorch_i3d.py is not in the public index (cd-fvd's and "
                    "VideoGPT's copies of the same class use 1e-5)",
                    "the reference's window draws are unseeded; here a seeded permutation",
                    "TATS runs the FD in float32 on the GPU; here float64"),
        differences=("real clips from the TRAIN split, drawn over all windows; straight bilinear to 224x224",)),
    FVDPreset(
        name="cd-fvd", reproduces="cd-fvd's I3D FVD (content-debiased FVD paper, arXiv 2404.12391)",
        n_frames=16, real_sampling="window", generated_sampling="window", real_split="same", subset="stratified",
        bn_eps=1e-5, ddof=0, load_resize="shortside-crop-antialias", resize_method="bilinear-tats",
        real_quantize="truncate", generated_quantize="truncate", precision="fp32",
        torchscript_call="uint8-internal", n_real=None, n_generated=2048, n_trials=1,
        fd_route="scipy.linalg.sqrtm(S_real @ S_gen), real part",
        sources=(
            "songweige/content-debiased-fvd@a22cd10f76757a18916b4d0a2c07d0501a18cb01:cdfvd/third_party/i3d/"
            "pytorch_i3d.py#L76 eps=1e-5; third_party/i3d/utils.py#L11 TARGET_RESOLUTION = (224, 224), #L13-25 "
            "bilinear align_corners=False, #L24 2. * output_videos / 255. - 1",
            "cdfvd/utils/data_utils.py@38d63c389cb7c3a79c4bf9679bbf63e6af986aa0#L40 / 255., #L53-57 shorter side "
            "(ceil), #L58-59 F.interpolate(..., antialias=True), #L62-65 centre crop, #L178/#L191 one random window "
            "per video (random.randint(0, n_clip - 1))",
            "cdfvd/fvd.py@0919683745f35d992a23d7122defdeb9ed1ac4fd#L133/#L155 (video * 255) ... .byte(), "
            "#L126/#L152 seed_everything(seed), #L97-98 sqrtm(np.dot(sigma_real, sigma_fake)); "
            "utils/metric_utils.py@a22cd10#L134-135 cov = raw_cov / num_items - outer(mean, mean)",
        ),
        unverified=("cd-fvd seeds Python's random module (default seed 42 in code, 0 in its README); the toolkit "
                    "draws its windows from its own seeded generator, so the offsets are not cd-fvd's",),
        differences=("one random window per video for real AND generated videos; antialiased shorter-side load "
                     "resize; 1/N covariance",)),
    FVDPreset(
        name="lfdm", reproduces="the LFDM paper's FVD / cFVD / sFVD (CVPR 2023; fvd-comparison's compute_our_fvd, "
                                "10,000 generated 40-frame 128x128 videos)",
        n_frames=40, real_sampling="uniform", generated_sampling="first", real_split="same", subset="stratified",
        bn_eps=1e-3, ddof=1, load_resize="pad", resize_method="bilinear-tats", real_quantize="truncate",
        generated_quantize="truncate", precision="fp32", torchscript_call="float-224",
        n_real=None, n_generated=10000, n_trials=1,
        fd_route="scipy.linalg.sqrtm(S_gen @ S_real), real part (np.cov: 1/(N-1))",
        sources=(
            "nihaomiao/CVPR23_LFDM issue #27: 'I use the FVD code provided here' -> universome/fvd-comparison"
            "@1c54d8d:compare_metrics.py#L32 compute_our_fvd, #L34 rescale=False, resize=False, "
            "return_features=True, #L45 our_fvd.compute_fvd",
            "our_fvd.py (verbatim copy text2cinemagraph/text2cinemagraph@9f6ef67:evaluate/our_fvd.py) #L22 "
            "np.cov(feats, rowvar=False), #L14 sqrtm(np.dot(sigma_gen, sigma_real))",
            "issue #36: 10,000 videos, 40 frames at 128x128 sampled from the ground-truth video; LFDM saves frames "
            "by truncation (DM/test_video_flow_diffusion_mug.py@4e1564f sample_img: np.array(rec_img, np.uint8))",
        ),
        unverified=("how the authors scaled and resized 128x128 clips before compute_our_fvd (rescale=False, "
                    "resize=False): bilinear-tats to 224 and 2x/255-1 assumed",
                    "which of LFDM's samplers picked the 40 real frames (MUG_test linspace or MUG_gen very_random): "
                    "uniform assumed",
                    "the number of real videos; whether FVD read saved (truncated) frames or float tensors",
                    "i3d_torchscript.pt's BatchNorm eps (binary): with a state dict eps 1e-3 is used"),
        differences=("all 40 frames of every video; StyleGAN-V's detector but fvd-comparison's statistics "
                     "(1/(N-1)), not StyleGAN-V's (1/N)",)),
)}
PRESET_NAMES = tuple(PRESETS)
DEFAULT_PRESET = "lfdm-bench"


def get_preset(name: str) -> FVDPreset:
    """The preset called ``name``; unknown names raise a ValueError listing the valid ones."""
    if name not in PRESETS:
        raise ValueError(f"unknown FVD protocol preset {name!r}; valid names: {', '.join(PRESET_NAMES)}")
    return PRESETS[name]
