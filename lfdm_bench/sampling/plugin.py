"""Any conditional image-to-video generator, plugged into the evaluation sets that LFDM and LDM are driven with.

The interface (a "generator")::

    generate(source_frames, class_texts, seeds) -> videos
        source_frames  torch.float32 [B, 3, H, W] in [0, 1]: frame 0 of each source video (H = W = data.size)
        class_texts    list[str], B: the requested class's condition text (the dataset's class text)
        seeds          list[int], B: each video's seed (a pure function of the evaluation set: the same for every
                       method); use it, e.g. torch.Generator().manual_seed(seed), so batching changes nothing
        videos         float [B, T, 3, H, W] in [0, 1], T = the evaluation set's frames (data.n_frames), frame 0 the
                       source frame; the frames span the time of a training clip (data.sampling)

Optional attributes of the object: ``name`` (its method row; a spec ``NAME=module:object`` overrides it),
``n_frames`` (the frames it makes: checked against the evaluation set after ``setup``, before the first batch),
``settings`` (a dict recorded in the sample folder's ``settings.json``) and ``setup(info: GeneratorSetup)``, called once before the
first batch. A class is instantiated without arguments.

A generator is named by a spec: ``module:object`` (``object`` may be dotted; ``module`` may be a ``.py`` path; the
current folder is importable), or the name of an entry point of the group :data:`ENTRY_POINT_GROUP` of an installed
package. :func:`sample_generator` writes the same sample folder (videos, manifest, settings) as every generator of
the toolkit, over the same evaluation set (:func:`lfdm_bench.sampling.eval_set.build_eval_set`). The generator runs
under :func:`torch.random.fork_rng`: whatever global random numbers it draws do not change those of the caller.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from lfdm_bench.data.config import DataConfig
from lfdm_bench.data.info import DatasetInfo
from lfdm_bench.data.records import VideoRecord
from lfdm_bench.sampling.eval_set import EvalSource, build_eval_set
from lfdm_bench.sampling.generate import GenerateFn, generate_eval_samples

ENTRY_POINT_GROUP = "lfdm_bench.generators"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$")
RANGE_TOLERANCE = 1e-3  # values this far outside [0, 1] (rounding) are clamped like every generator's; more: an error


class GeneratorError(ValueError):
    """A generator spec that cannot be loaded, or a generator whose output breaks the interface (the message names
    the spec)."""


@dataclass(frozen=True)
class GeneratorSetup:
    """What ``setup(info)`` of a generator is told before the first batch."""

    dataset: str
    class_names: list[str]
    class_texts: list[str]
    size: int  # H = W of the source frames and of the videos
    n_frames: int  # T of the videos
    clip_sampling: str  # the time span the frames stand for (data.sampling of the run config)
    split: str  # the split of the source images
    train_records: list[VideoRecord] = field(default_factory=list)  # the training videos (e.g. to fit something)


@dataclass
class Generator:
    """A loaded generator: its spec (as given), its name (method row), the callable and where it came from."""

    spec: str
    name: str
    fn: Callable[..., Any]
    source: str  # "module:object" or "entry point NAME (module:object)"

    def settings(self) -> dict[str, Any]:
        extra = getattr(self.fn, "settings", None)
        return {"generator": self.source, **({"generator_settings": dict(extra)} if isinstance(extra, dict) else {})}


def _import_module(spec: str, module: str):
    if module.endswith(".py") or "/" in module or "\\" in module:
        path = Path(module)
        if not path.is_file():
            raise GeneratorError(f"--generator {spec}: {path} is not a file")
        mod_spec = importlib.util.spec_from_file_location(path.stem, path)
        mod = importlib.util.module_from_spec(mod_spec)
        try:
            mod_spec.loader.exec_module(mod)
        except Exception as e:  # the plugin's own error, in one line
            raise GeneratorError(f"--generator {spec}: importing {path} failed: {type(e).__name__}: {e}") from None
        return mod
    cwd = str(Path.cwd())
    if cwd not in sys.path and "" not in sys.path:  # `lfdm-bench` (the console script) does not put it there
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name and (module == e.name or module.startswith(e.name + ".")):
            raise GeneratorError(f"--generator {spec}: no module named {module!r} (run from the folder that holds "
                                 "it, or install it)") from None
        raise GeneratorError(f"--generator {spec}: importing {module} failed: {e}") from None
    except Exception as e:
        raise GeneratorError(f"--generator {spec}: importing {module} failed: {type(e).__name__}: {e}") from None


def _entry_point(spec: str) -> tuple[Any, str]:
    eps = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    found = [ep for ep in eps if ep.name == spec]
    if not found:
        names = sorted({ep.name for ep in eps})
        have = f"installed: {', '.join(names)}" if names else "none is installed"
        raise GeneratorError(f"--generator {spec}: not a module:object spec, and no entry point of group "
                             f"{ENTRY_POINT_GROUP} is named {spec!r} ({have})")
    try:
        return found[0].load(), f"entry point {spec} ({found[0].value})"
    except Exception as e:
        raise GeneratorError(f"--generator {spec}: loading entry point {found[0].value} failed: "
                             f"{type(e).__name__}: {e}") from None


def load_generator(spec: str) -> Generator:
    """The generator of ``[NAME=]module:object`` or ``[NAME=]ENTRY_POINT``; errors (:class:`GeneratorError`) name the
    spec."""
    label, _, target = spec.partition("=") if "=" in spec.split(":", 1)[0] else ("", "", spec)
    if not target:
        raise GeneratorError(f"--generator {spec}: empty; expected module:object or an entry point name")
    if ":" in target:
        module, _, attr = target.partition(":")
        if not module or not attr:
            raise GeneratorError(f"--generator {spec}: expected module:object, e.g. examples.affine_toy:generator")
        obj = _import_module(spec, module)
        for part in attr.split("."):
            if not hasattr(obj, part):
                raise GeneratorError(f"--generator {spec}: {module} has no attribute {attr!r}")
            obj = getattr(obj, part)
        source, default_name = target, attr.split(".")[-1]
    else:
        obj, source = _entry_point(target)
        default_name = target
    if isinstance(obj, type):
        try:
            obj = obj()
        except Exception as e:
            raise GeneratorError(f"--generator {spec}: {obj.__name__}() failed: {type(e).__name__}: {e}") from None
    if not callable(obj):
        raise GeneratorError(f"--generator {spec}: {type(obj).__name__} object is not callable; expected "
                             "generate(source_frames, class_texts, seeds) -> videos")
    name = label or getattr(obj, "name", None) or default_name
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise GeneratorError(f"--generator {spec}: name {name!r} must be 1-64 letters, digits or _.+- (set the "
                             "object's name, or give NAME=module:object)")
    return Generator(spec, name, obj, source)


def check_videos(spec: str, videos: Any, b: int, n_frames: int, size: int) -> torch.Tensor:
    """The output of a generator, checked against the interface: a floating tensor ``[b, n_frames, 3, size, size]``
    of finite values in [0, 1] (within :data:`RANGE_TOLERANCE`)."""
    where = f"--generator {spec}"
    if not isinstance(videos, torch.Tensor):
        raise GeneratorError(f"{where}: returned {type(videos).__name__}; expected a torch tensor "
                             f"[B, T, 3, H, W] = [{b}, {n_frames}, 3, {size}, {size}]")
    if not videos.is_floating_point():
        raise GeneratorError(f"{where}: returned dtype {videos.dtype}; expected a floating tensor in [0, 1]")
    want = (b, n_frames, 3, size, size)
    if tuple(videos.shape) != want:
        raise GeneratorError(f"{where}: returned shape {tuple(videos.shape)}; expected [B, T, 3, H, W] = {list(want)} "
                             "(B sources, T frames of the evaluation set, H = W = the source frames' size)")
    if not bool(torch.isfinite(videos).all()):
        raise GeneratorError(f"{where}: returned non-finite values (nan or inf)")
    lo, hi = float(videos.min()), float(videos.max())
    if lo < -RANGE_TOLERANCE or hi > 1 + RANGE_TOLERANCE:
        raise GeneratorError(f"{where}: returned values in [{lo:.4g}, {hi:.4g}]; expected [0, 1]")
    return videos


def generate_fn(gen: Generator, n_frames: int, size: int) -> GenerateFn:
    """The generator as the sampling loop's ``generate_fn(images, sources)``: texts and seeds from the sources,
    global random state forked, output checked."""

    def run(images: torch.Tensor, sources: Sequence[EvalSource]) -> torch.Tensor:
        with torch.random.fork_rng(devices=[]):
            try:
                videos = gen.fn(images, [s.text for s in sources], [int(s.seed) for s in sources])
            except GeneratorError:
                raise
            except Exception as e:
                raise GeneratorError(f"--generator {gen.spec}: failed on {len(sources)} sources: "
                                     f"{type(e).__name__}: {e}") from e
        return check_videos(gen.spec, videos, len(sources), n_frames, size)

    return run


def sample_generator(gen: Generator, info: DatasetInfo, data: DataConfig, split: str, out: str | Path, *,
                     per_pair: int = 1, seed: int = 0, batch_size: int = 8, progress: bool = True) -> Path:
    """Write the sample folder of ``gen`` over the evaluation set of ``split`` (``per_pair`` and ``seed``: the run
    config's, as for its own generator); returns the manifest."""
    sources = build_eval_set(info.records, split, per_pair=per_pair, seed=seed)
    setup = getattr(gen.fn, "setup", None)
    if callable(setup):
        with torch.random.fork_rng(devices=[]):
            setup(GeneratorSetup(dataset=data.dataset, class_names=list(info.class_names),
                                 class_texts=list(info.class_texts), size=data.size, n_frames=data.n_frames,
                                 clip_sampling=data.sampling, split=split, train_records=info.split("train")))
    n_frames = getattr(gen.fn, "n_frames", None)
    if n_frames is not None and int(n_frames) != int(data.n_frames):
        raise GeneratorError(f"--generator {gen.spec}: makes {n_frames} frames (its n_frames, after setup); this "
                             f"evaluation set needs {data.n_frames} (data.n_frames)")
    settings = {**gen.settings(), "per_pair": per_pair, "dataset": data.dataset,
                "dataset_options": dict(data.options), "dataset_root": data.root, "size": data.size,
                "n_frames": data.n_frames, "sample_seed": seed, "clip_sampling": data.sampling}
    return generate_eval_samples(generate_fn(gen, data.n_frames, data.size), sources, out, method=gen.name,
                                 size=data.size, settings=settings, batch_size=batch_size, progress=progress)
