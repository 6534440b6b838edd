"""``synth-faces``: procedurally drawn faces performing MUG's seven expressions (a stand-in for MUG).

A subject is an appearance (:func:`sample_face`: face shape, skin, hair style and colour, eyes, accessories,
background); a take is a motion (:func:`sample_expression`: class, onset, speed, amplitude, optional release,
blinks). :func:`expression_controls` turns a motion into per-frame controls (brows, eyelids, mouth corners, jaw,
head tilt / nod / shift), zero at frame 0 so every clip starts from the subject's neutral face, and
:func:`render_face` draws them. Opening expressions reveal what frame 0 hides: teeth and tongue inside an opening
mouth, sclera above and below the iris of widened eyes.

Face-local coordinates: the face ellipse is centred at the origin with half-axes about ``0.45 x 0.57`` canvas units
(the canvas spans ``[-1, 1]``), ``y`` downwards; the head pose maps them onto the canvas.
"""

from __future__ import annotations

import numpy as np

from lfdm_bench.data.synth import render as R

CLASS_NAMES: tuple[str, ...] = ("anger", "disgust", "fear", "happiness", "neutral", "sadness", "surprise")
CLASS_TEXTS: tuple[str, ...] = CLASS_NAMES  # MUG / LFDM use the class name verbatim as the condition text

CONTROLS = ("brow_in", "brow_out", "brow_squeeze", "eye_open", "lower_lid", "mouth_w", "corners", "corner_asym",
            "upper_lip", "upper_asym", "jaw", "lower_teeth", "nose_wrinkle", "cheek", "head_roll", "head_dx",
            "head_dy", "head_scale", "feat_dx", "feat_dy")
_HEAD = ("head_roll", "head_dx", "head_dy", "head_scale", "feat_dx", "feat_dy")

# Apex value of every control per class (face-local units; brows / corners: + is down; eye_open: relative).
APEX: dict[str, dict[str, float]] = {
    "anger": dict(brow_in=0.075, brow_out=-0.005, brow_squeeze=0.035, eye_open=-0.25, lower_lid=0.25, mouth_w=-0.15,
                  corners=0.025, jaw=0.05, lower_teeth=1.0, upper_lip=0.012, head_dy=0.03, feat_dy=0.03,
                  head_scale=0.09),
    "disgust": dict(brow_in=0.045, brow_out=0.01, brow_squeeze=0.02, eye_open=-0.35, lower_lid=0.45, upper_lip=0.05,
                    upper_asym=0.05, jaw=0.03, corners=0.03, corner_asym=-0.03, nose_wrinkle=1.0, head_roll=0.13,
                    head_dx=-0.06, feat_dx=-0.04),
    "fear": dict(brow_in=-0.1, brow_out=-0.05, brow_squeeze=0.025, eye_open=0.6, mouth_w=0.22, corners=0.03, jaw=0.08,
                 lower_teeth=1.0, upper_lip=0.01, head_dx=0.04, head_dy=-0.03, head_scale=-0.1, head_roll=-0.04,
                 feat_dy=-0.015),
    "happiness": dict(corners=-0.085, mouth_w=0.3, jaw=0.08, cheek=1.0, eye_open=-0.3, lower_lid=0.55,
                      head_roll=0.06, head_dy=-0.02, brow_out=-0.012),
    "neutral": {},
    "sadness": dict(brow_in=-0.075, brow_out=0.045, brow_squeeze=0.02, eye_open=-0.35, corners=0.08, mouth_w=-0.08,
                    head_dy=0.08, feat_dy=0.05, head_roll=-0.04),
    "surprise": dict(brow_in=-0.13, brow_out=-0.11, eye_open=0.95, jaw=0.27, mouth_w=-0.3, upper_lip=0.02,
                     head_dy=-0.06, feat_dy=-0.03),
}
_SPEED = {"surprise": 0.6, "fear": 0.8, "sadness": 1.3}  # relative rise time

SKIN = ((0.98, 0.86, 0.76), (0.95, 0.79, 0.66), (0.88, 0.68, 0.53), (0.77, 0.56, 0.41), (0.62, 0.43, 0.31),
        (0.47, 0.31, 0.22), (0.34, 0.23, 0.17))
HAIR = ((0.07, 0.06, 0.06), (0.24, 0.15, 0.09), (0.45, 0.28, 0.14), (0.64, 0.31, 0.14), (0.87, 0.72, 0.42),
        (0.68, 0.68, 0.70), (0.24, 0.36, 0.78), (0.82, 0.36, 0.58))
IRIS = ((0.36, 0.22, 0.11), (0.17, 0.10, 0.06), (0.47, 0.39, 0.17), (0.25, 0.52, 0.30), (0.28, 0.50, 0.82),
        (0.46, 0.52, 0.58))
HAIR_STYLES = ("short", "bob", "long", "bun", "curly", "bald")


def sample_face(rng: np.random.Generator) -> dict:
    """Draw one subject's appearance (a JSON-serialisable dict of floats, colours and choices)."""
    u = lambda lo, hi: R.uniform(rng, lo, hi)  # noqa: E731
    skin = R.random_colour(rng, SKIN[rng.integers(len(SKIN))], 0.03)
    hair_i = int(rng.choice(len(HAIR), p=[0.2, 0.2, 0.15, 0.1, 0.13, 0.08, 0.07, 0.07]))
    a = dict(
        skin=skin, hair=R.random_colour(rng, HAIR[hair_i], 0.03),
        iris=R.random_colour(rng, IRIS[rng.integers(len(IRIS))], 0.03),
        hair_style=str(rng.choice(HAIR_STYLES, p=[0.22, 0.2, 0.2, 0.12, 0.14, 0.12])),
        lips=[round(s * f, 4) for s, f in zip(skin, (0.86, 0.55, 0.55))],
        cx=u(-0.06, 0.06), cy=u(-0.04, 0.04), scale=u(1.08, 1.2),
        rx=u(0.40, 0.49), ry=u(0.52, 0.61), jaw=u(0.1, 0.4), hairline=u(0.0, 0.06),
        eye_dx=u(0.16, 0.2), eye_y=u(-0.09, -0.04), eye_r=u(0.075, 0.092),
        eye_h=u(0.5, 0.6), eye_tilt=u(-0.12, 0.12), gaze=u(-0.012, 0.012),
        brow_gap=u(0.1, 0.13), brow_t=u(0.017, 0.03), brow_len=u(0.1, 0.13),
        brow_arch=u(0.0, 0.035), nose_y=u(0.1, 0.15), nose_w=u(0.035, 0.055),
        mouth_y=u(0.28, 0.33), mouth_w=u(0.12, 0.16), mouth_curve=u(-0.008, 0.015),
        lip_t=u(0.014, 0.024), blush=u(0.0, 0.25),
        bg=R.random_colour(rng), bg_pattern=str(rng.choice(R.PATTERNS)), bg_period=u(0.18, 0.45),
        bg_angle=u(-0.8, 0.8), bg_contrast=u(-0.18, 0.18), shirt=R.random_colour(rng),
        glasses=None, hat=None, earrings=None,
    )
    if rng.random() < 0.35:
        a["glasses"] = dict(shape=str(rng.choice(["round", "rect"])),
                            color=R.random_colour(rng, (0.1, 0.1, 0.12), 0.1))
    if rng.random() < 0.25:
        a["hat"] = dict(kind=str(rng.choice(["beanie", "cap"])), color=R.random_colour(rng))
    if rng.random() < 0.3:
        a["earrings"] = dict(kind=str(rng.choice(["stud", "hoop"])),
                             color=R.random_colour(rng, [(0.93, 0.78, 0.3), (0.8, 0.82, 0.86)][rng.integers(2)], 0.03))
    return a


def sample_expression(rng: np.random.Generator, class_index: int, frames: int) -> dict:
    """Draw one take's motion of class ``class_index``: onset, rise, amplitude, optional release, jitter, blinks.

    Times are fractions of the clip (``0`` = first frame, ``1`` = last); blink centres are frame indices.
    """
    if not 0 <= class_index < len(CLASS_NAMES):
        raise ValueError(f"class_index must be in [0, {len(CLASS_NAMES)}), got {class_index}")
    name = CLASS_NAMES[class_index]
    u = lambda lo, hi: R.uniform(rng, lo, hi)  # noqa: E731
    onset = u(0.05, 0.3)
    m = dict(cls=name, onset=onset, rise=round(u(0.25, 0.5) * _SPEED.get(name, 1.0), 4),
             amplitude=u(0.75, 1.1), release=bool(rng.random() < 0.3), head_lag=u(0.0, 0.08),
             jitter={k: u(-0.15, 0.15) for k in CONTROLS})
    m["release_at"] = round(min(onset + m["rise"] + u(0.1, 0.3), 0.9), 4)
    m["fall"], m["keep"] = u(0.15, 0.35), u(0.2, 0.6)
    width = max(1.5, 0.05 * frames)
    n_blinks = int(rng.integers(1, 3)) if name == "neutral" else int(rng.random() < 0.3)
    lo = width + 1.0
    m["blinks"] = sorted(u(lo, max(lo, frames - 1.5)) for _ in range(n_blinks))
    m["drift"] = [u(-0.012, 0.012), u(-0.008, 0.008)] if name == "neutral" else [0.0, 0.0]
    return m


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def expression_controls(motion: dict, frames: int) -> dict[str, np.ndarray]:
    """Per-frame controls (float32 ``[T]`` for every name in :data:`CONTROLS`, plus ``blink`` in ``[0, 1]``);
    all are exactly 0 at frame 0."""
    t = np.arange(frames, dtype=np.float32) / max(frames - 1, 1)

    def env(delay: float) -> np.ndarray:
        e = _smoothstep((t - motion["onset"] - delay) / motion["rise"])
        if motion["release"]:
            e = e * (1.0 - (1.0 - motion["keep"]) * _smoothstep((t - motion["release_at"] - delay) / motion["fall"]))
        return e * (t > 0)

    apex = APEX[motion["cls"]]
    e_face, e_head = env(0.0), env(motion["head_lag"])
    out = {}
    for k in CONTROLS:
        val = apex.get(k, 0.0) * motion["amplitude"] * (1.0 + motion["jitter"].get(k, 0.0))
        out[k] = (val * (e_head if k in _HEAD else e_face)).astype(np.float32)
    drift = 0.5 - 0.5 * np.cos(np.pi * t)  # 0 at frame 0
    out["head_dx"] = out["head_dx"] + motion["drift"][0] * drift
    out["head_dy"] = out["head_dy"] + motion["drift"][1] * drift
    k = np.arange(frames, dtype=np.float32)
    width = max(1.5, 0.05 * frames)
    blink = np.zeros(frames, np.float32)
    for c in motion["blinks"]:
        blink = np.maximum(blink, np.clip(1.0 - np.abs(k - c) / width, 0.0, 1.0))
    out["blink"] = blink
    return out


def _dark(c, f: float) -> np.ndarray:
    return np.asarray(c, np.float32) * f


def _pts(px_, py_) -> np.ndarray:
    """Per-frame points ``[T, 2]`` from scalar / ``[T]`` coordinates."""
    return np.stack(np.broadcast_arrays(np.asarray(px_, np.float32), np.asarray(py_, np.float32)), -1)


class _Head:
    """The head pose of every frame: face-local coordinates over canvas regions, and fills in local units."""

    MARGIN = 0.08  # local units: room for the per-frame feature offsets

    def __init__(self, painter: R.Painter, cx, cy, roll, scale):
        self.P, self.cx, self.cy, self.roll, self.scale = painter, cx, cy, roll, scale
        self.S = R.fp(scale)

    def view(self, box: tuple[float, float, float, float] | None = None):
        """``(x, y, fill)`` over the canvas pixels that the local box ``(x0, x1, y0, y1)`` covers in any frame
        (``None``: the whole canvas); ``fill(d, color, **kw)`` paints a local-unit distance field there."""
        if box is None:
            reg = self.P.full
        else:
            m = self.MARGIN
            lx = np.array([box[0] - m, box[1] + m, box[0] - m, box[1] + m], np.float32)[None]
            ly = np.array([box[2] - m, box[2] - m, box[3] + m, box[3] + m], np.float32)[None]
            c, s = np.cos(self.roll)[:, None], np.sin(self.roll)[:, None]
            sc = np.asarray(self.scale, np.float32)[:, None]
            cu = self.cx[:, None] + sc * (c * lx - s * ly)  # [T, 4] canvas corners
            cv = self.cy[:, None] + sc * (s * lx + c * ly)
            reg = self.P.region(cu.min(), cu.max(), cv.min(), cv.max())
        x, y = R.to_local(reg.u, reg.v, self.cx, self.cy, self.roll, self.scale)

        def fill(d, color, **kw) -> None:
            self.P.fill(d * self.S, color, region=reg, **kw)

        return x, y, fill


def render_face(app: dict, motion: dict, size: int = 64, frames: int = 16, style: str = "flat") -> np.ndarray:
    """Render one take: uint8 ``[frames, size, size, 3]``; frame 0 is the subject's neutral face."""
    if not (8 <= size <= 512 and frames >= 1):
        raise ValueError(f"render_face: size must be in [8, 512] and frames >= 1, got size={size}, frames={frames}")
    c = expression_controls(motion, frames)
    P = R.Painter(frames, size, style)
    u, v, px = P.u, P.v, P.px
    pat = R.pattern(u, v, app["bg_pattern"], app["bg_period"], px, app["bg_angle"])
    bg = np.asarray(app["bg"], np.float32)
    P.background(np.clip(bg + app["bg_contrast"] * pat[..., None] * (1 if bg.mean() < 0.6 else -1) * 1.5, 0, 1))

    head = _Head(P, app["cx"] + c["head_dx"], app["cy"] + c["head_dy"], c["head_roll"],
                 app["scale"] * (1.0 + c["head_scale"]))
    rx, ry, skin = app["rx"], app["ry"], np.asarray(app["skin"], np.float32)
    fdx, fdy = c["feat_dx"], c["feat_dy"]
    ex0, ey0, er = app["eye_dx"], app["eye_y"], app["eye_r"]
    hl = ey0 - 0.2 - app["hairline"]  # hairline height
    hair = np.asarray(app["hair"], np.float32)
    style_h = app["hair_style"]

    # --- behind the head: hair, neck, shirt
    x, y, fill = head.view()
    bump = lambda d, n, a: d + a * np.sin(n * np.arctan2(y + 0.1, x))  # noqa: E731  curly edges
    if style_h == "bob":
        fill(R.intersect(R.sdf_ellipse(x, y, 0, -0.04, rx * 1.18, ry * 1.02), y - 0.32), hair, relief=0.15)
    elif style_h == "long":
        fill(R.union(R.sdf_ellipse(x, y, 0, -0.05, rx * 1.2, ry * 1.05),
                     R.sdf_box(x, y, 0, 0.45, rx * 1.12, 0.5, 0.08)), hair, relief=0.15)
    elif style_h == "curly":
        fill(bump(R.sdf_ellipse(x, y, 0, -0.12, rx * 1.32, ry * 1.1), 14, 0.025), hair, relief=0.2)
    elif style_h == "bun":
        fill(R.sdf_circle(x, y, 0, -ry - 0.1, 0.16), hair, relief=0.1)
    fill(R.sdf_capsule(x, y, 0, ry * 0.5, 0, ry * 0.5 + 0.6, rx * 0.45)[0], _dark(skin, 0.88), relief=0.1)
    shirt = R.sdf_ellipse(u, v, app["cx"] + 0.3 * c["head_dx"], 1.3, 0.92, 0.52)
    vneck = R.sdf_polygon(u, v, np.array([[-0.13, 0.7], [0.13, 0.7], [0.0, 0.95]], np.float32) + [app["cx"], 0])
    P.fill(R.subtract(shirt, vneck), app["shirt"], relief=0.25)

    # --- ears and earrings
    for side in (-1, 1):
        ex, ey = side * (rx - 0.02), ey0 + 0.07
        x, y, fill = head.view((ex - 0.1, ex + 0.1, ey - 0.12, ey + 0.22))
        ex = ex - 0.5 * fdx
        fill(R.sdf_ellipse(x, y, ex, ey, 0.07, 0.11), skin, relief=0.05)
        fill(R.sdf_ellipse(x, y, ex + side * 0.015, ey, 0.03, 0.06), _dark(skin, 0.8), alpha=0.5, outline=False)
        if app["earrings"]:
            e = app["earrings"]
            d = R.sdf_circle(x, y, ex + side * 0.01, ey + 0.13, 0.024)
            fill(R.ring(R.sdf_circle(x, y, ex + side * 0.01, ey + 0.15, 0.04), 0.01) if e["kind"] == "hoop" else d,
                 e["color"], relief=0.02, outline=False)

    # --- face (the chin follows the jaw)
    x, y, fill = head.view()
    face = R.smooth_union(R.sdf_ellipse(x, y, 0, -0.05, rx, ry * 0.95),
                          R.sdf_ellipse(x, y, 0, ry * 0.35 + 0.6 * c["jaw"], rx * (1 - app["jaw"]), ry * 0.62), 0.1)
    fill(face, skin, relief=0.3)

    # --- per side: blush (rising with the cheeks), eye, brow
    for side in (-1, 1):
        by = ey0 - app["brow_gap"]
        x, y, fill = head.view((side * ex0 - 0.16, side * ex0 + 0.16, by - 0.16, ey0 + 0.26))
        fill(R.sdf_ellipse(x, y, side * (ex0 + 0.05) + fdx, ey0 + 0.2 - 0.05 * c["cheek"] + fdy, 0.085, 0.05),
             (0.93, 0.42, 0.42), alpha=app["blush"] + 0.3 * c["cheek"], outline=False)
        # sclera clipped by the lids; the iris is taller than the neutral opening, so widening reveals sclera
        ex, ey = side * ex0 + fdx, ey0 + fdy
        ery = np.maximum(er * app["eye_h"] * (1 + c["eye_open"]) * (1 - c["blink"]), 0.003)
        scl = R.sdf_ellipse(x, y, ex, ey, er, ery, side * app["eye_tilt"])
        scl_open = R.intersect(scl, y - R.fp(ey + ery * (1 - 0.8 * c["lower_lid"])))
        fill(scl_open, (0.97, 0.97, 0.95), relief=0.04)
        ix = ex + app["gaze"]
        fill(R.intersect(R.sdf_circle(x, y, ix, ey, er * 0.62), scl_open), app["iris"], relief=0.05, outline=False)
        fill(R.intersect(R.sdf_circle(x, y, ix, ey, er * 0.28), scl_open), (0.05, 0.04, 0.05), outline=False)
        fill(R.intersect(R.sdf_circle(x, y, ix - er * 0.22, ey - er * 0.2, er * 0.14), scl_open), (1, 1, 1),
             alpha=0.85, outline=False)
        fill(R.intersect(R.ring(scl, 0.011), y - R.fp(ey + 0.2 * ery)), (0.12, 0.08, 0.08), outline=False)
        p_in = _pts(side * (ex0 - 0.55 * app["brow_len"]) - side * c["brow_squeeze"] + fdx, by + c["brow_in"] + fdy)
        p_out = _pts(side * (ex0 + 0.6 * app["brow_len"]) + fdx, by + c["brow_out"] + 0.01 + fdy)
        mid = 0.5 * (p_in + p_out) - [0.0, app["brow_arch"]]
        pts = R.bezier_points(p_in, R.bezier_through(p_in, mid, p_out), p_out, 5)
        fill(R.sdf_polyline(x, y, pts, app["brow_t"]), _dark(hair, 0.75), relief=0.02, outline=False)

    # --- forehead lines (raised brows), nose and its wrinkles (disgust)
    x, y, fill = head.view((-0.2, 0.2, ey0 - app["brow_gap"] - 0.2, app["nose_y"] + 0.07))
    raise_ = np.clip(-(c["brow_in"] + c["brow_out"]) / 0.15, 0, 1)
    for k in range(2):
        yy = ey0 - app["brow_gap"] - 0.08 - 0.045 * k + fdy
        pts = R.bezier_points(_pts(-0.14 + fdx, yy), _pts(fdx, yy - 0.025), _pts(0.14 + fdx, yy), 5)
        fill(R.sdf_polyline(x, y, pts, 0.006), _dark(skin, 0.72), alpha=0.8 * raise_, outline=False)
    nx, ny = 1.4 * fdx, app["nose_y"] + fdy - 0.02 * c["nose_wrinkle"]
    fill(R.sdf_capsule(x, y, nx + 0.02, ey0 + 0.05 + fdy, nx + 0.03, ny - 0.02, 0.013)[0],
         _dark(skin, 0.8), alpha=0.35, outline=False)
    fill(R.sdf_ellipse(x, y, nx, ny, app["nose_w"] * (1 + 0.3 * c["nose_wrinkle"]), 0.035), _dark(skin, 0.9),
         alpha=0.6, relief=0.03, outline=False)
    for side in (-1, 1):
        fill(R.sdf_ellipse(x, y, nx + side * app["nose_w"] * (0.55 + 0.2 * c["nose_wrinkle"]), ny + 0.015, 0.017,
                           0.011), _dark(skin, 0.5), alpha=0.85, outline=False)
        if np.any(c["nose_wrinkle"] > 0):
            for k in range(2):
                wy = ey0 + 0.05 + 0.03 * k + fdy
                fill(R.sdf_capsule(x, y, nx + side * 0.015, wy, nx + side * 0.05, wy - 0.01, 0.006)[0],
                     _dark(skin, 0.6), alpha=c["nose_wrinkle"], outline=False)

    # --- smile lines and mouth: cavity, tongue, teeth, lips
    mw = app["mouth_w"] * (1 + c["mouth_w"])
    my = app["mouth_y"] + fdy
    w0 = app["mouth_w"] * 1.35 + 0.12
    x, y, fill = head.view((-w0, w0, app["nose_y"] - 0.06, app["mouth_y"] + 0.45))
    if np.any(c["cheek"] > 0):
        for side in (-1, 1):
            a0, a1 = _pts(nx + side * (app["nose_w"] + 0.03), ny), _pts(fdx + side * (mw + 0.06), my - 0.03)
            a2 = _pts(fdx + side * (mw + 0.05), my + 0.06)
            fill(R.sdf_polyline(x, y, R.bezier_points(a0, a1, a2, 5), 0.008), _dark(skin, 0.7),
                 alpha=0.7 * c["cheek"], outline=False)
    curve = app["mouth_curve"]
    pl = _pts(fdx - mw, my + c["corners"] + c["corner_asym"])  # [T, 2]
    pr = _pts(fdx + mw, my + c["corners"] - c["corner_asym"])
    up_mid = _pts(fdx + c["upper_asym"], my + curve - c["upper_lip"] - 0.2 * c["jaw"])
    lo_mid = _pts(fdx, my + curve + c["jaw"])
    upper = R.bezier_points(pl, R.bezier_through(pl, up_mid, pr), pr, 9)  # [T, 9, 2]
    lower = R.bezier_points(pl, R.bezier_through(pl, lo_mid, pr), pr, 9)
    opened = np.clip((c["jaw"] + c["upper_lip"]) / 0.01, 0.0, 1.0)  # 0 when closed: frame 0 shows no cavity
    if np.any(opened > 0):
        cavity = R.sdf_polygon(x, y, np.concatenate([upper, lower[:, ::-1][:, 1:-1]], 1))
        fill(cavity, (0.3, 0.06, 0.09), alpha=opened, relief=0.03, outline=False)
        fill(R.intersect(R.sdf_ellipse(x, y, lo_mid[:, 0], lo_mid[:, 1] - 0.005, mw * 0.55, 0.045), cavity),
             (0.82, 0.36, 0.42), alpha=opened, relief=0.03, outline=False)
        teeth_u = R.sdf_polygon(x, y, np.concatenate([upper, (upper + [0.0, 0.045])[:, ::-1]], 1))
        fill(R.intersect(teeth_u, cavity), (0.97, 0.96, 0.9), alpha=opened, relief=0.02, outline=False)
        if np.any(c["lower_teeth"] > 0):
            teeth_l = R.sdf_polygon(x, y, np.concatenate([lower, (lower - [0.0, 0.038])[:, ::-1]], 1))
            fill(R.intersect(teeth_l, cavity), (0.95, 0.94, 0.88), alpha=c["lower_teeth"] * opened, outline=False)
    fill(R.sdf_polyline(x, y, upper, app["lip_t"] * 0.8), app["lips"], relief=0.02, outline=False)
    fill(R.sdf_polyline(x, y, lower, app["lip_t"] * 1.15), app["lips"], relief=0.02, outline=False)

    # --- hair in front / hat, glasses
    x, y, fill = head.view((-rx * 1.2, rx * 1.2, -ry * 1.3 - 0.15, hl + 0.2))
    cap = R.intersect(R.sdf_ellipse(x, y, 0, -0.08, rx * 1.06, ry * 1.0), y - (hl + 0.07 * (x / rx) ** 2))
    if app["hat"]:
        h = app["hat"]
        fill(R.intersect(R.sdf_ellipse(x, y, 0, -0.1, rx * 1.1, ry * 1.02), y - (hl - 0.02)), h["color"], relief=0.2)
        if h["kind"] == "beanie":
            fill(R.sdf_capsule(x, y, -rx * 1.02, hl - 0.03, rx * 1.02, hl - 0.03, 0.055)[0], _dark(h["color"], 0.8))
            fill(R.sdf_circle(x, y, 0, -ry * 1.1 - 0.06, 0.07), _dark(h["color"], 0.9), relief=0.05)
        else:
            fill(R.sdf_ellipse(x, y, rx * 0.35, hl - 0.01, rx * 0.95, 0.055), _dark(h["color"], 0.8), relief=0.05)
    elif style_h == "curly":
        fill(cap + 0.02 * np.sin(14 * np.arctan2(y + 0.1, x)), hair, relief=0.12)
    elif style_h == "bob":
        fill(R.intersect(R.sdf_ellipse(x, y, 0, -0.08, rx * 1.08, ry * 1.0), y - hl - 0.05 - 0.012 * np.sin(
            x * 40)), hair, relief=0.12)
    elif style_h == "long":
        fill(R.intersect(R.sdf_ellipse(x, y, 0, -0.08, rx * 1.06, ry * 1.0), y - (hl + 0.1 * x / rx)), hair,
             relief=0.12)
    elif style_h != "bald":
        fill(cap, hair, relief=0.12)
    if app["glasses"]:
        g = app["glasses"]
        x, y, fill = head.view((-rx, rx, ey0 - 0.15, ey0 + 0.15))
        for side in (-1, 1):
            gx, gy = side * ex0 + fdx, ey0 + fdy + 0.005
            lens = (R.sdf_ellipse(x, y, gx, gy, er * 1.55, er * 1.25) if g["shape"] == "round"
                    else R.sdf_box(x, y, gx, gy, er * 1.3, er * 0.95, 0.02))
            fill(lens, (0.75, 0.85, 0.95), alpha=0.15, outline=False)
            fill(R.ring(lens, 0.011), g["color"], relief=0.01, outline=False)
            fill(R.sdf_capsule(x, y, gx + side * er * 1.5, gy - 0.01, side * (rx - 0.01) - 0.5 * fdx, gy - 0.02,
                               0.009)[0], g["color"], outline=False)
        bx = ex0 - er * 1.45
        fill(R.sdf_capsule(x, y, fdx - bx, ey0 + fdy, fdx + bx, ey0 + fdy, 0.01)[0], g["color"], outline=False)
    return P.result()
