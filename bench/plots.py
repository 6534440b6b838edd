"""Ablation plots (PNG): FVD vs steps, FVD vs guidance, FVD vs seconds per video, class accuracy vs steps.

Every function takes the ablation rows (dicts written by :func:`bench.ablate.run_ablation`: ``sampler``,
``steps``,
``guidance``, ``eta``, ``fvd``, ``acc_motion`` / ``acc_i3d``, ``seconds_per_video``, ``point``) and an output folder,
and returns the paths written (empty when the rows hold nothing to plot). Figures are drawn on matplotlib's Agg
canvas without pyplot, so nothing global is changed and no display is needed.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Hashable, Sequence

__all__ = ["plot_fvd_vs_steps", "plot_fvd_vs_guidance", "plot_fvd_vs_time", "plot_acc_vs_steps", "plot_all"]

Row = dict[str, Any]
ACC_KEYS = (("acc_motion", "probe-motion"), ("acc_i3d", "probe-i3d"))


def _ok(x: Any) -> bool:
    return x is not None and not (isinstance(x, float) and math.isnan(x))


def _eta_label(eta: Any) -> str:
    return "" if eta is None else f", eta {eta:g}"


def _lines(rows: Sequence[Row], key: Callable[[Row], Hashable], x: str, y: str) -> dict[Hashable, list[tuple]]:
    """Group rows by ``key`` -> sorted ``(x, y)`` points (rows without a value are left out)."""
    out: dict[Hashable, list[tuple]] = defaultdict(list)
    for r in rows:
        if _ok(r.get(x)) and _ok(r.get(y)):
            out[key(r)].append((float(r[x]), float(r[y])))
    return {k: sorted(v) for k, v in out.items()}


def _save(draw: Callable[[Any], None], path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.0, 4.0), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    draw(ax)
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def _line_plot(lines: dict[Hashable, list[tuple]], path: Path, xlabel: str, ylabel: str, title: str,
               label: Callable[[Hashable], str], logx: bool = False) -> list[Path]:
    if not lines:
        return []

    def draw(ax) -> None:
        for k in sorted(lines, key=str):
            xs, ys = zip(*lines[k])
            ax.plot(xs, ys, marker="o", label=label(k))
        if logx and all(x > 0 for pts in lines.values() for x, _ in pts):
            ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(title)

    return [_save(draw, path)]


def plot_fvd_vs_steps(rows: Sequence[Row], out: str | Path) -> list[Path]:
    """FVD against sampling steps: one line per (sampler, guidance, eta)."""
    lines = _lines(rows, lambda r: (r["sampler"], r["guidance"], r.get("eta")), "steps", "fvd")
    return _line_plot(lines, Path(out) / "fvd_vs_steps.png", "sampling steps", "FVD (lower is better)",
                      "FVD vs sampling steps", lambda k: f"{k[0]}, guidance {k[1]:g}{_eta_label(k[2])}", logx=True)


def plot_fvd_vs_guidance(rows: Sequence[Row], out: str | Path) -> list[Path]:
    """FVD against the guidance scale: one line per (sampler, steps, eta)."""
    lines = _lines(rows, lambda r: (r["sampler"], r["steps"], r.get("eta")), "guidance", "fvd")
    return _line_plot(lines, Path(out) / "fvd_vs_guidance.png", "guidance scale (1 = none)",
                      "FVD (lower is better)", "FVD vs guidance",
                      lambda k: f"{k[0]}, {k[1]} steps{_eta_label(k[2])}")


def plot_fvd_vs_time(rows: Sequence[Row], out: str | Path) -> list[Path]:
    """FVD against generation seconds per video: a scatter, each point labelled with its grid point."""
    pts = [r for r in rows if _ok(r.get("fvd")) and _ok(r.get("seconds_per_video"))]
    if not pts:
        return []

    def draw(ax) -> None:
        by_sampler: dict[str, list[Row]] = defaultdict(list)
        for r in pts:
            by_sampler[r["sampler"]].append(r)
        for s in sorted(by_sampler):
            ax.scatter([r["seconds_per_video"] for r in by_sampler[s]], [r["fvd"] for r in by_sampler[s]], label=s)
        for r in pts:
            ax.annotate(r["point"], (r["seconds_per_video"], r["fvd"]), fontsize=6, xytext=(3, 3),
                        textcoords="offset points")
        ax.set_xlabel("seconds per video")
        ax.set_ylabel("FVD (lower is better)")
        ax.set_title("FVD vs sampling time")

    return [_save(draw, Path(out) / "fvd_vs_time.png")]


def plot_acc_vs_steps(rows: Sequence[Row], out: str | Path) -> list[Path]:
    """Class accuracy of generated videos against steps: one line per (probe, sampler, guidance, eta)."""
    lines: dict[Hashable, list[tuple]] = {}
    for key, probe in ACC_KEYS:
        for k, v in _lines(rows, lambda r: (r["sampler"], r["guidance"], r.get("eta")), "steps", key).items():
            lines[(probe,) + k] = v
    return _line_plot(lines, Path(out) / "acc_vs_steps.png", "sampling steps", "class accuracy (higher is better)",
                      "Class accuracy vs sampling steps",
                      lambda k: f"{k[0]}: {k[1]}, guidance {k[2]:g}{_eta_label(k[3])}", logx=True)


def plot_all(rows: Sequence[Row], out: str | Path) -> list[Path]:
    """All four plots (those with data) into ``out``; returns the paths written."""
    paths: list[Path] = []
    for fn in (plot_fvd_vs_steps, plot_fvd_vs_guidance, plot_fvd_vs_time, plot_acc_vs_steps):
        paths += fn(rows, out)
    return paths
