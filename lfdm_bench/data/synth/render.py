"""Antialiased, vectorised 2-D rasterisation for the synthetic datasets: signed distances, coverage, styles.

Coordinates: a square canvas spans ``[-1, 1]`` on both axes, ``u`` to the right and ``v`` downwards; a pixel is
``px = 2 / size`` wide and pixel centres sit at ``-1 + px * (i + 0.5)``. Shape functions take coordinates ``x, y``
(``[H, W]`` or ``[T, H, W]``) and parameters that are scalars or per-frame arrays ``[T]`` (broadcast to
``[T, 1, 1]``), and return signed distances ``[T, H, W]`` (negative inside, in the units of ``x, y``). The
coverage of a pixel by a shape is the analytic box-filter estimate ``clip(0.5 - d / px, 0, 1)`` (exact for a
straight edge through an axis-aligned pixel, a good approximation for curved ones), so no supersampling is needed
and every frame of a clip is rendered at once.

Layers are premultiplied ``(rgb [T, H, W, 3], alpha [T, H, W])`` pairs made by :func:`shade`, which applies a
style: ``flat`` (plain colours), ``shaded`` (rims darkened from the distance field, top-left light, vignette) or
``sketch`` (pale colours on paper with graphite outlines). :class:`Painter` composites layers in call order;
:func:`composite_depth` composites them by per-pixel depth (articulated figures whose limbs cross).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

STYLES = ("flat", "shaded", "sketch")
PAPER = np.array([0.95, 0.93, 0.87], np.float32)
INK = np.array([0.16, 0.15, 0.18], np.float32)
_EPS = 1e-6


def check_style(style: str) -> str:
    """Return ``style`` if it is one of :data:`STYLES`, else raise ``ValueError`` naming the valid ones."""
    if style not in STYLES:
        raise ValueError(f"style must be one of {STYLES}, got {style!r}")
    return style


def pixel_grid(size: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Pixel-centre coordinates ``u, v`` (float32 ``[size, size]``, in ``[-1, 1]``) and the pixel width ``px``."""
    px = 2.0 / size
    c = (-1.0 + px * (np.arange(size, dtype=np.float32) + 0.5)).astype(np.float32)
    v, u = np.meshgrid(c, c, indexing="ij")
    return u, v, px


def fp(x) -> np.ndarray:
    """A scalar or per-frame parameter ``[T]`` as float32, shaped to broadcast against ``[T, H, W]``."""
    a = np.asarray(x, dtype=np.float32)
    if a.ndim == 0:
        return a
    if a.ndim == 1:
        return a[:, None, None]
    raise ValueError(f"shape parameters must be scalars or per-frame arrays [T], got shape {a.shape}")


def to_local(x, y, cx, cy, angle=0.0, scale=1.0) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates in a frame centred at ``(cx, cy)``, rotated by ``angle`` (radians, clockwise on screen) and
    scaled by ``scale``: a shape of local size ``r`` then has canvas size ``r * scale``; multiply local distances
    by ``scale`` to get canvas distances."""
    dx, dy = x - fp(cx), y - fp(cy)
    c, s = np.cos(fp(angle)), np.sin(fp(angle))
    inv = 1.0 / fp(scale)
    return (c * dx + s * dy) * inv, (-s * dx + c * dy) * inv


# ----------------------------------------------------------------------------------------------------------------
# Signed distances
# ----------------------------------------------------------------------------------------------------------------

def sdf_circle(x, y, cx, cy, r) -> np.ndarray:
    """Exact signed distance to a circle."""
    return np.hypot(x - fp(cx), y - fp(cy)) - fp(r)


def sdf_ellipse(x, y, cx, cy, rx, ry, angle=0.0) -> np.ndarray:
    """Approximate (first-order) signed distance to an ellipse: exact on the boundary's gradient scale."""
    lx, ly = to_local(x, y, cx, cy, angle)
    rx, ry = fp(rx), fp(ry)
    k0 = np.hypot(lx / rx, ly / ry)
    k1 = np.hypot(lx / (rx * rx), ly / (ry * ry))
    return k0 * (k0 - 1.0) / (k1 + _EPS)


def sdf_box(x, y, cx, cy, hx, hy, r=0.0, angle=0.0) -> np.ndarray:
    """A box of half-sizes ``hx, hy`` with corners rounded by ``r`` (the box grows by ``r``)."""
    lx, ly = to_local(x, y, cx, cy, angle)
    qx, qy = np.abs(lx) - fp(hx), np.abs(ly) - fp(hy)
    outside = np.hypot(np.maximum(qx, 0.0), np.maximum(qy, 0.0))
    return outside + np.minimum(np.maximum(qx, qy), 0.0) - fp(r)


def sdf_segment(x, y, ax, ay, bx, by) -> tuple[np.ndarray, np.ndarray]:
    """Distance to the segment ``a-b`` and the position ``h`` in ``[0, 1]`` of the nearest point along it."""
    ax, ay = fp(ax), fp(ay)
    px_, py_ = x - ax, y - ay
    ex, ey = fp(bx) - ax, fp(by) - ay
    h = np.clip((px_ * ex + py_ * ey) / (ex * ex + ey * ey + _EPS), 0.0, 1.0)
    return np.hypot(px_ - ex * h, py_ - ey * h), h


def sdf_capsule(x, y, ax, ay, bx, by, ra, rb=None) -> tuple[np.ndarray, np.ndarray]:
    """A thick segment with radius ``ra`` at ``a`` and ``rb`` at ``b`` (tapered, approximately); returns
    ``(d, h)`` where ``h`` is the position along the axis (for per-pixel depth)."""
    d, h = sdf_segment(x, y, ax, ay, bx, by)
    r = fp(ra) if rb is None else fp(ra) + (fp(rb) - fp(ra)) * h
    return d - r, h


def sdf_polygon(x, y, pts) -> np.ndarray:
    """Exact signed distance to a simple polygon ``pts`` ``[N, 2]`` or per-frame ``[T, N, 2]`` (either winding)."""
    pts = np.asarray(pts, dtype=np.float32)
    if pts.ndim == 2:
        pts = pts[None]
    if pts.ndim != 3 or pts.shape[-1] != 2 or pts.shape[1] < 3:
        raise ValueError(f"polygon vertices must be [N, 2] or [T, N, 2] with N >= 3, got shape {pts.shape}")
    px_ = pts[:, :, 0, None, None]  # [T, N, 1, 1]
    py_ = pts[:, :, 1, None, None]
    n = pts.shape[1]
    d2 = (x - px_[:, 0]) ** 2 + (y - py_[:, 0]) ** 2
    sign = np.ones(np.broadcast_shapes(d2.shape, np.shape(x)), dtype=np.float32)
    for i in range(n):
        j = i - 1
        ex, ey = px_[:, j] - px_[:, i], py_[:, j] - py_[:, i]
        wx, wy = x - px_[:, i], y - py_[:, i]
        h = np.clip((wx * ex + wy * ey) / (ex * ex + ey * ey + _EPS), 0.0, 1.0)
        d2 = np.minimum(d2, (wx - ex * h) ** 2 + (wy - ey * h) ** 2)
        c1, c2, c3 = y >= py_[:, i], y < py_[:, j], ex * wy > ey * wx
        flip = (c1 & c2 & c3) | (~c1 & ~c2 & ~c3)
        sign = np.where(flip, -sign, sign)
    return sign * np.sqrt(d2)


def sdf_polyline(x, y, pts, r) -> np.ndarray:
    """A stroke of half-width ``r`` along the open polyline ``pts`` ``[N, 2]`` or ``[T, N, 2]``."""
    pts = np.asarray(pts, dtype=np.float32)
    if pts.ndim == 2:
        pts = np.broadcast_to(pts, (1,) + pts.shape)
    d = None
    for i in range(pts.shape[1] - 1):
        a, b = pts[:, i], pts[:, i + 1]
        di, _ = sdf_segment(x, y, a[:, 0], a[:, 1], b[:, 0], b[:, 1])
        d = di if d is None else np.minimum(d, di)
    return d - fp(r)


def bezier_points(p0, p1, p2, n: int = 8) -> np.ndarray:
    """``n`` points on quadratic Bezier curves; control points ``[2]`` or ``[T, 2]`` -> ``[T, n, 2]``."""
    p0, p1, p2 = (np.atleast_2d(np.asarray(p, np.float32)) for p in (p0, p1, p2))
    t = np.linspace(0.0, 1.0, n, dtype=np.float32)[None, :, None]
    return ((1 - t) ** 2) * p0[:, None] + (2 * (1 - t) * t) * p1[:, None] + (t ** 2) * p2[:, None]


def bezier_through(p0, mid, p2) -> np.ndarray:
    """The control point that makes a quadratic Bezier from ``p0`` to ``p2`` pass through ``mid`` at ``t = 0.5``."""
    return 2.0 * np.asarray(mid, np.float32) - 0.5 * (np.asarray(p0, np.float32) + np.asarray(p2, np.float32))


def ring(d, half_width) -> np.ndarray:
    """The outline band of width ``2 * half_width`` around the boundary of a shape with distance ``d``."""
    return np.abs(d) - fp(half_width)


def union(*ds) -> np.ndarray:
    """Shapes combined (minimum of their distances)."""
    out = ds[0]
    for d in ds[1:]:
        out = np.minimum(out, d)
    return out


def intersect(*ds) -> np.ndarray:
    """The common part of shapes (maximum of their distances)."""
    out = ds[0]
    for d in ds[1:]:
        out = np.maximum(out, d)
    return out


def subtract(d, cut) -> np.ndarray:
    """Shape ``d`` with shape ``cut`` removed."""
    return np.maximum(d, -cut)


def smooth_union(d1, d2, k: float) -> np.ndarray:
    """Union with a rounded blend of radius ``k`` (polynomial smooth minimum)."""
    h = np.clip(0.5 + 0.5 * (d2 - d1) / k, 0.0, 1.0)
    return d2 + (d1 - d2) * h - k * h * (1.0 - h)


def coverage(d, px: float) -> np.ndarray:
    """Fraction of each pixel inside the shape (``[..]`` float32 in ``[0, 1]``)."""
    return np.clip(0.5 - d / px, 0.0, 1.0).astype(np.float32)


# ----------------------------------------------------------------------------------------------------------------
# Random appearance helpers
# ----------------------------------------------------------------------------------------------------------------

def uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    """A uniform draw in ``[lo, hi)`` rounded to 4 decimals (appearance / motion parameters stay JSON-friendly)."""
    return round(float(rng.uniform(lo, hi)), 4)


def random_colour(rng: np.random.Generator, base=None, jitter: float = 0.04) -> list[float]:
    """A palette colour with a little jitter, or (``base=None``) a random moderately saturated colour."""
    if base is None:
        h, s, v = rng.random(), rng.uniform(0.25, 0.75), rng.uniform(0.35, 0.9)
        i, f = int(h * 6) % 6, h * 6 - int(h * 6)
        p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
        base = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
    return [round(float(np.clip(c + rng.uniform(-jitter, jitter), 0, 1)), 4) for c in base]


# ----------------------------------------------------------------------------------------------------------------
# Backgrounds
# ----------------------------------------------------------------------------------------------------------------

PATTERNS = ("plain", "stripes", "diagonal", "checker", "dots", "grid", "waves", "gradient")


def pattern(u, v, kind: str, period: float, px: float, angle: float = 0.0) -> np.ndarray:
    """An antialiased periodic pattern (float32 ``[H, W]`` in ``[0, 1]``, 1 = pattern ink) of period ``period``."""
    if kind not in PATTERNS:
        raise ValueError(f"background pattern must be one of {PATTERNS}, got {kind!r}")
    c, s = np.cos(angle), np.sin(angle)
    a, b = c * u + s * v, -s * u + c * v
    tri = lambda z: np.abs((z / period) % 1.0 - 0.5) * period  # noqa: E731  distance to the nearest mid-period line
    if kind == "plain":
        return np.zeros_like(u)
    if kind == "stripes":
        return coverage(tri(a) - 0.25 * period, px)
    if kind == "diagonal":
        return coverage(tri((a + b) * 0.7071) - 0.2 * period, px)
    if kind == "checker":  # antialiased xor of two square waves
        sa, sb = coverage(tri(a) - 0.25 * period, px), coverage(tri(b) - 0.25 * period, px)
        return 0.15 + 0.7 * (sa + sb - 2 * sa * sb)
    if kind == "dots":
        return coverage(np.hypot(tri(a), tri(b)) - 0.22 * period, px)
    if kind == "grid":
        return coverage(np.minimum(tri(a), tri(b)) - 0.04 * period - 0.3 * px, px)
    if kind == "waves":
        return coverage(tri(b + 0.25 * period * np.sin(a * 2 * np.pi / (2 * period))) - 0.22 * period, px)
    return np.clip(0.5 + 0.5 * (b + 0.3 * a), 0.0, 1.0).astype(np.float32)  # gradient


# ----------------------------------------------------------------------------------------------------------------
# Styles and compositing
# ----------------------------------------------------------------------------------------------------------------

def style_background(rgb: np.ndarray, u, v, style: str) -> np.ndarray:
    """Apply a style to a background image ``[H, W, 3]`` in ``[0, 1]``."""
    if style == "shaded":
        vig = 1.0 - 0.35 * np.clip(u * u + v * v - 0.3, 0.0, None)
        return np.clip(rgb * (0.92 + 0.1 * (-0.5 * (u + v)))[..., None] * vig[..., None], 0, 1)
    if style == "sketch":
        return (PAPER * 0.8 + 0.2 * rgb.mean(-1, keepdims=True) * PAPER).astype(np.float32)
    return rgb


def shade(d, color, style: str, px: float, u=None, v=None, alpha=1.0, relief: float = 0.1,
          outline: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """A styled, premultiplied layer from a distance field ``d`` ``[T, H, W]`` and an RGB ``color`` in ``[0, 1]``.

    ``alpha`` (scalar or ``[T]``) scales the layer's opacity; ``relief`` is the depth (canvas units) over which the
    ``shaded`` style lightens the interior from the rim; ``outline`` draws the graphite contour in ``sketch``.
    Returns ``(rgb [T, H, W, 3], a [T, H, W])`` with ``rgb`` premultiplied by ``a``.
    """
    color = np.asarray(color, np.float32)
    cov = coverage(d, px) * fp(alpha)
    if style == "flat":
        return cov[..., None] * color, cov
    if style == "shaded":
        inner = np.clip(-d / relief, 0.0, 1.0) ** 0.6
        light = 0.62 + 0.38 * inner
        if u is not None:
            light = light * (1.0 + 0.12 * (-(u + v) * 0.5))
        rgb = np.clip(color * light[..., None], 0.0, 1.0)
        return cov[..., None] * rgb, cov
    if style == "sketch":
        fill = 0.45 * color + 0.55 * PAPER
        gray = fill.mean() if fill.ndim == 1 else fill.mean(-1, keepdims=True)
        fill = 0.6 * fill + 0.4 * gray
        if not outline:
            return cov[..., None] * fill, cov
        ink = coverage(ring(d, 0.45 * px + 0.004), px) * fp(alpha)
        a = cov * (1.0 - ink) + ink
        return (cov * (1.0 - ink))[..., None] * fill + ink[..., None] * INK, a
    raise ValueError(f"style must be one of {STYLES}, got {style!r}")


@dataclass(frozen=True)
class Region:
    """A rectangle of pixels ``[rows, cols]`` of a canvas and its pixel-centre coordinates ``u, v`` ``[h, w]``."""

    rows: slice
    cols: slice
    u: np.ndarray
    v: np.ndarray


class Painter:
    """Composites styled layers, back to front in call order, onto a ``[T, size, size, 3]`` float canvas.

    Small shapes are drawn inside a :class:`Region` (from :meth:`region`) so their distances are only evaluated
    where they can be visible.
    """

    def __init__(self, frames: int, size: int, style: str = "flat"):
        self.style = check_style(style)
        self.frames, self.size = int(frames), int(size)
        self.u, self.v, self.px = pixel_grid(size)
        self.img = np.zeros((self.frames, size, size, 3), np.float32)
        self.full = Region(slice(0, size), slice(0, size), self.u, self.v)

    def region(self, u0: float, u1: float, v0: float, v1: float) -> Region:
        """The pixels whose centres may lie within ``[u0, u1] x [v0, v1]`` (canvas units), plus a 2-pixel margin."""
        n, px = self.size, self.px
        c0 = int(np.clip(np.floor((u0 + 1) / px) - 2, 0, n))
        c1 = int(np.clip(np.ceil((u1 + 1) / px) + 2, c0, n))
        r0 = int(np.clip(np.floor((v0 + 1) / px) - 2, 0, n))
        r1 = int(np.clip(np.ceil((v1 + 1) / px) + 2, r0, n))
        rows, cols = slice(r0, r1), slice(c0, c1)
        return Region(rows, cols, self.u[rows, cols], self.v[rows, cols])

    def background(self, rgb: np.ndarray) -> None:
        """Fill every frame with a static background ``[H, W, 3]`` (styled here)."""
        self.img[:] = style_background(np.asarray(rgb, np.float32), self.u, self.v, self.style)

    def fill(self, d, color, alpha=1.0, relief: float = 0.1, outline: bool = True,
             region: Region | None = None) -> None:
        """Paint the inside of the shape with distance ``d`` (``[T, h, w]``, over ``region`` or the whole canvas)
        in ``color``; layers whose ``alpha`` is 0 in every frame are skipped."""
        if np.max(alpha) <= 0:
            return
        reg = region or self.full
        view = self.img[:, reg.rows, reg.cols]
        if view.size == 0:
            return
        d = np.broadcast_to(d, view.shape[:3])
        rgb, a = shade(d, color, self.style, self.px, reg.u, reg.v, alpha, relief, outline)
        view *= 1.0 - a[..., None]
        view += rgb

    def result(self) -> np.ndarray:
        """The canvas as uint8 ``[T, H, W, 3]``."""
        return np.clip(np.rint(self.img * 255.0), 0, 255).astype(np.uint8)


def composite_depth(base: np.ndarray, layers: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> np.ndarray:
    """Composite premultiplied layers ``(rgb [T, H, W, 3], a [T, H, W], z [T, H, W])`` over ``base``
    ``[T, H, W, 3]`` in per-pixel depth order (larger ``z`` is nearer the viewer and drawn later; ties keep the
    order of ``layers``)."""
    if not layers:
        return base
    shape = base.shape[:3]
    s = len(layers)
    a = np.stack([np.broadcast_to(l[1], shape) for l in layers]).reshape(s, -1)  # [S, N]
    hit = np.flatnonzero(a.max(0) > 0)  # only pixels some layer covers
    if hit.size == 0:
        return base
    a = a[:, hit]
    rgb = np.stack([np.broadcast_to(l[0], shape + (3,)).reshape(-1, 3)[hit] for l in layers])  # [S, n, 3]
    z = np.stack([np.broadcast_to(l[2], shape).reshape(-1)[hit] for l in layers])  # [S, n]
    z = np.where(a > 0, z, -np.inf)  # empty pixels of a layer go to the back, where they change nothing
    order = np.argsort(z, axis=0, kind="stable")  # [S, n], far to near
    n = hit.size
    flat = order * n + np.arange(n)  # index into the [S * n] flattening
    a, rgb = a.reshape(-1), rgb.reshape(-1, 3)
    out = base.reshape(-1, 3)[hit]
    for k in range(s):
        out *= 1.0 - a[flat[k]][:, None]
        out += rgb[flat[k]]
    res = base.copy().reshape(-1, 3)
    res[hit] = out
    return res.reshape(base.shape)
