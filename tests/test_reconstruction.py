"""Autoencoder reconstruction scores against a direct numpy computation, and the two PSNR aggregates."""

import numpy as np
import torch

from metrics.reconstruction import format_table, reconstruction_scores


class _Clips:
    def __init__(self, videos):
        self.videos = videos

    def __len__(self):
        return len(self.videos)

    def get(self, i):
        return type("Clip", (), {"video": self.videos[i]})()


def test_scores_match_numpy_and_pooled_psnr_ignores_the_cap():
    g = torch.Generator().manual_seed(0)
    videos = torch.rand(5, 6, 3, 12, 12, generator=g)
    videos[:, 1] = videos[:, 0]  # frame 1 holds still: copy-frame-0 reproduces it exactly

    def distort(v):
        return (0.9 * v + 0.05 + 0.02 * torch.sin(40 * v)).clamp(0, 1)

    def reconstruct(v):
        return {"copy-frame-0": v[:, :1].expand_as(v), "noisy": distort(v)}

    s = reconstruction_scores(reconstruct, _Clips(videos), batch_size=2)
    target = videos[:, 1:].double().numpy()
    for name, pred in (("copy-frame-0", videos[:, :1].expand_as(videos)), ("noisy", distort(videos))):
        p = pred[:, 1:].double().numpy()
        mse = ((p - target) ** 2).mean(axis=(2, 3, 4))  # [B, T-1]
        per_frame = np.minimum(10 * np.log10(1 / np.maximum(mse, 1e-300)), 100.0)
        assert s[name]["frames"] == 25
        np.testing.assert_allclose(s[name]["l1"], np.abs(p - target).mean(), rtol=1e-5)
        np.testing.assert_allclose(s[name]["psnr"], per_frame.mean(), rtol=1e-5)
        np.testing.assert_allclose(s[name]["psnr_pooled"], 10 * np.log10(1 / mse.mean()), rtol=1e-6)
    # the exact copies (capped at 100 dB) lift copy-frame-0's mean PSNR, not its pooled PSNR
    assert s["copy-frame-0"]["psnr"] - s["copy-frame-0"]["psnr_pooled"] > 10
    assert "PSNR dB (pooled MSE)" in format_table(s)


def test_per_subject_psnr_when_the_clips_carry_records():
    g = torch.Generator().manual_seed(1)
    videos = torch.rand(6, 5, 3, 12, 12, generator=g)
    clips = _Clips(videos)
    clips.records = [type("Rec", (), {"subject": s})() for s in ("b", "a", "b", "a", "c", "b")]

    def reconstruct(v):
        return {"noisy": (v + 0.03).clamp(0, 1)}

    s = reconstruction_scores(reconstruct, clips, batch_size=4)["noisy"]
    p, t = (videos[:, 1:] + 0.03).clamp(0, 1).double().numpy(), videos[:, 1:].double().numpy()
    frame_mse = ((p - t) ** 2).mean(axis=(2, 3, 4))  # [6, 4]
    subjects = np.array([r.subject for r in clips.records])
    assert sorted(s["per_subject_psnr"]) == ["a", "b", "c"]
    for k, v in s["per_subject_psnr"].items():  # pooled over the subject's frames, not a mean of frame PSNRs
        np.testing.assert_allclose(v, 10 * np.log10(1 / frame_mse[subjects == k].mean()), rtol=1e-5)
    assert "per_subject_psnr" not in reconstruction_scores(reconstruct, _Clips(videos))["noisy"]  # no records
