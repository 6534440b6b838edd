"""A cheap stand-in for the I3D in end-to-end tests of the benchmark and experiments (the I3D is tested in
test_i3d.py): pooled appearance [B, 24] plus per-frame motion [B, T]."""

import torch


def use_standin_detector(mp) -> None:
    """Make :func:`metrics.evaluate.build_detector` (and the sanity mode's) return the stand-in (``mp``: a
    pytest MonkeyPatch)."""
    from metrics import evaluate, sanity
    from metrics.video_features import FunctionDetector

    def feats(videos):
        v = videos.float() / (255.0 if videos.dtype == torch.uint8 else 1.0)  # [B, T, 3, H, W]
        pooled = torch.nn.functional.adaptive_avg_pool3d(v.transpose(1, 2), (2, 2, 2)).flatten(1)  # [B, 24]
        motion = (v - v[:, :1]).abs().mean(dim=(2, 3, 4))  # [B, T]
        return torch.cat([pooled, motion], 1)

    for module in (evaluate, sanity):
        mp.setattr(module, "build_detector", lambda p: FunctionDetector(feats, "standin-test"))
