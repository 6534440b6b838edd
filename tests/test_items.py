"""Training items: preloaded clips equal the decoded clips; flips and picks depend only on the item seed."""

import numpy as np
import torch

from lfdm_bench.data.dataset import ClipDataset
from lfdm_bench.data.records import VideoRecord
from lfdm_bench.data.video_io import write_mp4
from lfdm_bench.data.records import spread
from lfdm_bench.training.items import PreloadedClips, SeededClipItems, TensorItems, training_items


def _dataset(tmp_path, hflip=0.0, sampling="uniform"):
    recs = []
    for k in range(3):
        v = np.zeros((6, 32, 32, 3), np.uint8)
        v[:, :, : 8 + 4 * k] = 255  # a bar on the left whose width identifies the video
        v[:, :, :, 1] = np.arange(6)[:, None, None] * 40  # green ramps over time
        write_mp4(tmp_path / f"v{k}.mp4", v)
        recs.append(VideoRecord(str(tmp_path / f"v{k}.mp4"), f"s{k}", k, f"c{k}", f"c{k}", "train"))
    return ClipDataset(recs, n_frames=4, size=32, sampling=sampling, hflip=hflip)


def test_preloaded_equals_decoded(tmp_path):
    ds = _dataset(tmp_path)
    pre = PreloadedClips(ds, progress=False)
    for i in range(3):
        a, _ = pre[(i, 5)]
        b = ds.get(i)
        assert a.class_index == b.class_index and a.indices == b.indices
        torch.testing.assert_close(a.video, b.video, atol=1 / 255 + 1e-6, rtol=0)


def test_preloaded_flip_depends_on_seed_only(tmp_path):
    pre = PreloadedClips(_dataset(tmp_path, hflip=0.5), progress=False)
    flips = [pre[(0, s)][0].hflipped for s in range(40)]
    assert 5 < sum(flips) < 35  # about half flipped
    assert flips == [pre[(0, s)][0].hflipped for s in range(40)]  # reproducible
    a, b = pre[(0, flips.index(True))][0].video, pre[(0, flips.index(False))][0].video
    torch.testing.assert_close(a, b.flip(-1))


def test_random_sampling_is_not_preloaded(tmp_path):
    assert isinstance(training_items(_dataset(tmp_path, sampling="random"), preload=True), SeededClipItems)
    assert isinstance(training_items(_dataset(tmp_path), preload=False), SeededClipItems)


def test_tensor_items_and_spread():
    t = TensorItems({"a": torch.arange(5), "b": torch.arange(5) * 2})
    assert t[(3, 0)] == {"a": 3, "b": 6} and len(t) == 5
    assert spread(list(range(10)), 5) == [0, 2, 4, 6, 8] and spread([1, 2], None) == [1, 2]
