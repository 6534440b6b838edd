"""``synth-actions``: an articulated figure performing MHAD-like actions (a stand-in for UTD-MHAD / NATOPS).

The figure faces the camera: a head, a torso and two-segment arms and legs drawn as thick antialiased capsules
and composited by per-pixel depth, so arms crossing in front of the chest hide it and arms swinging back go
behind. A subject is an appearance (:func:`sample_figure`: proportions, build, skin, hair, clothes, background);
a take is a motion (:func:`sample_action`: onset, duration, amplitude, cycles, phase). An action is a list of
keyframe poses (:func:`action_keyframes`) interpolated smoothly; a pose gives every limb segment a 3-D direction
``(a, f)`` in degrees: ``a`` rotates it outward from hanging down in the image plane (negative: across the body),
``f`` tilts it towards the camera. Frame 0 is the rest pose, so every clip starts from the subject's neutral
appearance. The subject's right side is on the image's left (as in MHAD's recordings).

Body units: the figure's height ``B`` (head top to soles) in canvas units (the canvas spans ``[-1, 1]``).
"""

from __future__ import annotations

import numpy as np

from lfdm_bench.data.synth import render as R

# (MHAD action id, text); the class name is the text, as LFDM conditions on it verbatim.
MHAD_ACTIONS: tuple[tuple[int, str], ...] = (
    (1, "right arm swipe to the left"), (2, "right arm swipe to the right"), (3, "right hand wave"),
    (4, "two hand front clap"), (5, "right arm throw"), (6, "cross arms in the chest"),
    (9, "draw circle clockwise"), (13, "front boxing"), (16, "two arms curl"), (18, "two hand push"),
    (22, "jogging"), (27, "squat"),
)
CLASS_NAMES: tuple[str, ...] = tuple(t for _, t in MHAD_ACTIONS)
CLASS_TEXTS: tuple[str, ...] = CLASS_NAMES
MHAD_IDS: tuple[int, ...] = tuple(i for i, _ in MHAD_ACTIONS)

SEGMENTS = ("ua_r", "fa_r", "ua_l", "fa_l", "th_r", "sh_r", "th_l", "sh_l")
REST = {"ua": (8.0, 0.0), "fa": (5.0, 4.0), "th": (3.0, 0.0), "sh": (2.0, 0.0)}
PERIODIC = {"right hand wave": (2, 4), "two hand front clap": (2, 3), "two arms curl": (2, 3),
            "front boxing": (2, 4), "jogging": (2, 4), "draw circle clockwise": (1, 2), "squat": (1, 2)}
_PHASED = ("right hand wave", "front boxing", "jogging")  # may start on either side / half-cycle
_SIDE = {"r": -1.0, "l": 1.0}  # image-x direction of "outward" for the subject's right / left limbs


def _both(seg: str, af) -> dict:
    return {f"{seg}_r": af, f"{seg}_l": af}


def action_keyframes(name: str, cycles: int = 2, phase: int = 0) -> list[tuple[float, dict]]:
    """Keyframes ``(time in [0, 1], pose)`` of one action; a pose maps segments (``ua_r`` ...) to ``(a, f)``
    degrees and ``lean`` / ``pitch`` (torso roll, forward bend) to degrees; missing entries are the rest pose.
    ``cycles`` repeats periodic actions; ``phase`` (0 / 1) starts them on the other side / half-cycle."""
    if name not in CLASS_NAMES:
        raise ValueError(f"unknown action {name!r}; expected one of {CLASS_NAMES}")
    k: list[tuple[float, dict]] = [(0.0, {})]

    def cyc(t0, t1, poses):  # poses alternate over `cycles` repetitions between t0 and t1
        n = len(poses) * cycles
        for i in range(n):
            k.append((t0 + (t1 - t0) * i / max(n - 1, 1), poses[(i + phase) % len(poses)]))

    if name == "right arm swipe to the left":
        k += [(0.3, {"ua_r": (105, 15), "fa_r": (100, 20), "lean": -4}),
              (0.62, {"ua_r": (-80, 60), "fa_r": (-88, 28), "lean": 6}),
              (0.75, {"ua_r": (-82, 62), "fa_r": (-90, 30)})]
    elif name == "right arm swipe to the right":
        k += [(0.3, {"ua_r": (-70, 55), "fa_r": (-85, 25), "lean": 5}),
              (0.62, {"ua_r": (105, 15), "fa_r": (100, 20), "lean": -6}),
              (0.75, {"ua_r": (108, 15), "fa_r": (102, 20)})]
    elif name == "right hand wave":
        up = {"ua_r": (105, 10)}
        k.append((0.2, {**up, "fa_r": (160, 10)}))
        cyc(0.3, 0.82, [{**up, "fa_r": (130, 10)}, {**up, "fa_r": (192, 10)}])
    elif name == "two hand front clap":
        k.append((0.2, {**_both("ua", (25, 55)), **_both("fa", (-35, 60))}))
        cyc(0.28, 0.85, [{**_both("ua", (25, 55)), **_both("fa", (-88, 25))},
                         {**_both("ua", (28, 55)), **_both("fa", (-30, 60))}])
    elif name == "right arm throw":
        k += [(0.38, {"ua_r": (150, -30), "fa_r": (175, -40), "ua_l": (40, 30), "lean": -8, "pitch": -6}),
              (0.62, {"ua_r": (40, 75), "fa_r": (30, 80), "ua_l": (15, -20), "lean": 7, "pitch": 12})]
    elif name == "cross arms in the chest":
        crossed = {"ua_r": (0, 40), "fa_r": (-100, 22), "ua_l": (0, 38), "fa_l": (-100, 10)}
        k += [(0.45, crossed), (0.85, crossed)]
    elif name == "draw circle clockwise":  # clockwise as the subject sees it (counter-clockwise on screen)
        k.append((0.15, {"ua_r": (125, 40), "fa_r": (125, 45)}))
        n = 8 * cycles
        for i in range(n + 1):
            ang = 2 * np.pi * (i / 8 + 0.5 * phase)
            a, f = 125 + 38 * np.cos(ang), 40 - 28 * np.sin(ang)
            k.append((0.22 + 0.63 * i / n, {"ua_r": (a, f), "fa_r": (a, f + 5)}))
    elif name == "front boxing":
        guard = {**_both("ua", (25, -10)), **_both("fa", (160, 45))}
        k.append((0.15, guard))
        punch_r = {**guard, "ua_r": (-12, 80), "fa_r": (-12, 85), "lean": 4}
        punch_l = {**guard, "ua_l": (-12, 80), "fa_l": (-12, 85), "lean": -4}
        cyc(0.25, 0.8, [punch_r, guard, punch_l, guard])
        k.append((0.88, guard))
    elif name == "two arms curl":
        down = {**_both("ua", (4, 0)), **_both("fa", (4, 8))}
        cyc(0.15, 0.85, [{**_both("ua", (4, 5)), **_both("fa", (178, 40))}, down])
    elif name == "two hand push":
        k += [(0.3, {**_both("ua", (15, -35)), **_both("fa", (-20, 75))}),
              (0.58, {**_both("ua", (10, 82)), **_both("fa", (5, 86)), "pitch": 8}),
              (0.75, {**_both("ua", (10, 82)), **_both("fa", (5, 86)), "pitch": 8})]
    elif name == "jogging":
        arms = {**_both("fa", (5, 75))}
        a = {**arms, "th_r": (0, 78), "sh_r": (0, -8), "th_l": (0, -10), "sh_l": (0, -18),
             "ua_r": (10, -35), "ua_l": (10, 45)}
        b = {**arms, "th_l": (0, 78), "sh_l": (0, -8), "th_r": (0, -10), "sh_r": (0, -18),
             "ua_l": (10, -35), "ua_r": (10, 45)}
        cyc(0.12, 0.9, [a, b])
    elif name == "squat":
        low = {**_both("th", (22, 75)), **_both("sh", (-4, -28)), **_both("ua", (5, 80)), **_both("fa", (5, 85)),
               "pitch": 15}
        for i in range(cycles):
            t0 = 0.08 + 0.84 * i / cycles
            span = 0.84 / cycles
            k += [(t0 + 0.45 * span, low), (t0 + 0.6 * span, low), (t0 + span, {})]
    k.append((1.0, {}))
    return sorted(k, key=lambda kv: kv[0])


def sample_figure(rng: np.random.Generator) -> dict:
    """Draw one subject's appearance: proportions (body units), build, colours, hair, clothes, background."""
    skins = [(0.96, 0.82, 0.7), (0.87, 0.67, 0.52), (0.7, 0.5, 0.36), (0.5, 0.34, 0.24), (0.36, 0.24, 0.17)]
    hairs = [(0.08, 0.06, 0.05), (0.3, 0.18, 0.1), (0.8, 0.65, 0.38), (0.6, 0.3, 0.14), (0.6, 0.6, 0.62)]
    u = lambda lo, hi: R.uniform(rng, lo, hi)  # noqa: E731
    return dict(
        height=u(1.55, 1.75), cx=u(-0.1, 0.1), floor=u(0.88, 0.94), build=u(0.85, 1.2),
        head_r=u(0.062, 0.074), shoulder=u(0.1, 0.13), hip=u(0.055, 0.075), torso=u(0.28, 0.32),
        upper_arm=u(0.17, 0.2), forearm=u(0.15, 0.18), thigh=u(0.23, 0.26), shin=u(0.21, 0.24), rest_arm=u(4, 14),
        skin=R.random_colour(rng, skins[rng.integers(len(skins))], 0.03),
        hair=R.random_colour(rng, hairs[rng.integers(len(hairs))], 0.03),
        hair_style=str(rng.choice(["short", "long", "bald", "cap"], p=[0.45, 0.3, 0.1, 0.15])),
        cap=R.random_colour(rng), shirt=R.random_colour(rng), long_sleeves=bool(rng.random() < 0.5),
        trousers=R.random_colour(rng), shorts=bool(rng.random() < 0.3),
        shoes=R.random_colour(rng, (0.15, 0.13, 0.12), 0.1),
        wall=R.random_colour(rng), floor_color=R.random_colour(rng), wall_pattern=str(rng.choice(R.PATTERNS)),
        wall_period=u(0.15, 0.4), wall_angle=u(-0.6, 0.6), wall_contrast=u(0.08, 0.24), horizon=u(0.12, 0.35),
    )


def sample_action(rng: np.random.Generator, class_index: int, frames: int) -> dict:
    """Draw one take of action ``class_index``: onset and duration (fractions of the clip), amplitude, cycles,
    phase and per-keyframe jitter (time and angle)."""
    if not 0 <= class_index < len(CLASS_NAMES):
        raise ValueError(f"class_index must be in [0, {len(CLASS_NAMES)}), got {class_index}")
    name = CLASS_NAMES[class_index]
    lo, hi = PERIODIC.get(name, (1, 1))
    m = dict(cls=name, onset=R.uniform(rng, 0.0, 0.15), amplitude=R.uniform(rng, 0.8, 1.12),
             cycles=int(rng.integers(lo, hi + 1)), phase=int(rng.integers(2)) if name in _PHASED else 0)
    m["duration"] = round(float(min(1.0 - m["onset"], rng.uniform(0.75, 1.2) * (1.0 - m["onset"]))), 4)
    n_keys = len(action_keyframes(name, m["cycles"], m["phase"]))
    m["time_jitter"] = [R.uniform(rng, -0.02, 0.02) for _ in range(n_keys)]
    m["angle_jitter"] = [R.uniform(rng, -6, 6) for _ in range(2 * len(SEGMENTS))]
    return m


def _direction(a, f, side: float) -> np.ndarray:
    """Unit 3-D direction (x right, y down, z towards the camera) from ``(a, f)`` degrees."""
    a, f = np.radians(a), np.radians(f)
    return np.stack([side * np.sin(a) * np.cos(f), np.cos(a) * np.cos(f), np.sin(f)], -1)


def pose_sequence(app: dict, motion: dict, frames: int) -> dict[str, np.ndarray]:
    """Per-frame pose: segment directions ``[T, 3]`` (unit vectors) and ``lean``, ``pitch`` ``[T]`` (radians).
    Frame 0 is the rest pose."""
    keys = action_keyframes(motion["cls"], motion["cycles"], motion["phase"])
    inner = np.arange(len(keys)) % (len(keys) - 1) > 0  # the first and last keyframes keep their times
    times = np.array([t for t, _ in keys]) + np.array(motion["time_jitter"]) * inner
    times = np.maximum.accumulate(np.clip(times, 0, 1))
    rest = {s: (app["rest_arm"] if s[:2] == "ua" else REST[s[:2]][0], REST[s[:2]][1]) for s in SEGMENTS}
    amp = motion["amplitude"]
    jit = np.array(motion["angle_jitter"]).reshape(len(SEGMENTS), 2)
    vecs = {s: [] for s in SEGMENTS}
    scal = {"lean": [], "pitch": []}
    for _, pose in keys:
        for i, s in enumerate(SEGMENTS):
            side = _SIDE[s[-1]]
            d0 = _direction(*rest[s], side)
            if s in pose:  # amplitude scales the move from rest in direction space, then renormalises
                d = _direction(pose[s][0] + jit[i, 0], pose[s][1] + jit[i, 1], side)
                d = d0 + amp * (d - d0)
                d0 = d / np.linalg.norm(d)
            vecs[s].append(d0)
        for n in scal:
            scal[n].append(np.radians(amp * pose.get(n, 0.0)))
    t = np.arange(frames) / max(frames - 1, 1)
    p = np.clip((t - motion["onset"]) / motion["duration"], 0.0, 1.0)
    # piecewise cosine-eased interpolation between consecutive keyframes
    j = np.clip(np.searchsorted(times, p, side="right") - 1, 0, len(keys) - 2)
    w = np.clip((p - times[j]) / np.maximum(times[j + 1] - times[j], 1e-6), 0, 1)
    w = (0.5 - 0.5 * np.cos(np.pi * w))[:, None]
    out: dict[str, np.ndarray] = {}
    for s in SEGMENTS:
        v = np.array(vecs[s])
        d = v[j] * (1 - w) + v[j + 1] * w
        out[s] = (d / np.linalg.norm(d, axis=-1, keepdims=True)).astype(np.float32)
    for n in scal:
        v = np.array(scal[n])
        out[n] = (v[j] * (1 - w[:, 0]) + v[j + 1] * w[:, 0]).astype(np.float32)
    return out


def skeleton(app: dict, pose: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """3-D joint positions ``[T, 3]`` (canvas units; feet on the floor) and the projection to the image."""
    B = app["height"]
    T = pose["lean"].shape[0]
    lean, pitch = pose["lean"], pose["pitch"]
    up = np.stack([np.sin(lean) * np.cos(pitch), -np.cos(lean) * np.cos(pitch), np.sin(pitch)], -1)
    lat = np.stack([np.cos(lean), np.sin(lean), np.zeros(T)], -1)  # towards the subject's left (image +x)
    J: dict[str, np.ndarray] = {"pelvis": np.zeros((T, 3))}
    J["neck"] = J["pelvis"] + B * app["torso"] * up
    for s, side in _SIDE.items():
        J[f"shoulder_{s}"] = J["neck"] + side * B * app["shoulder"] * lat - 0.03 * B * up
        J[f"elbow_{s}"] = J[f"shoulder_{s}"] + B * app["upper_arm"] * pose[f"ua_{s}"]
        J[f"wrist_{s}"] = J[f"elbow_{s}"] + B * app["forearm"] * pose[f"fa_{s}"]
        J[f"hip_{s}"] = J["pelvis"] + side * B * app["hip"] * lat
        J[f"knee_{s}"] = J[f"hip_{s}"] + B * app["thigh"] * pose[f"th_{s}"]
        J[f"ankle_{s}"] = J[f"knee_{s}"] + B * app["shin"] * pose[f"sh_{s}"]
    J["head"] = J["neck"] + (0.035 * B + B * app["head_r"]) * up
    # feet on the floor: the lower ankle touches it (y grows downwards)
    lowest = np.maximum(J["ankle_r"][:, 1], J["ankle_l"][:, 1])
    shift = np.stack([np.full(T, app["cx"]), app["floor"] - 0.03 * B - lowest, np.zeros(T)], -1)
    for n in J:
        J[n] = J[n] + shift
    return J


def _project(p: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Weak perspective: points nearer the camera (z > 0) look bigger. ``[T, 3]`` -> ``[T, 2]``."""
    return centre + (p[:, :2] - centre) * (1.0 + 0.45 * p[:, 2:3])


def render_action(app: dict, motion: dict, size: int = 64, frames: int = 16, style: str = "flat",
                  chunk: int = 16) -> np.ndarray:
    """Render one take: uint8 ``[frames, size, size, 3]``; frame 0 is the subject in the rest pose.
    ``chunk`` frames are composited at once (bounds memory at large sizes)."""
    if not (8 <= size <= 512 and frames >= 1):
        raise ValueError(f"render_action: size must be in [8, 512] and frames >= 1, got size={size}, frames={frames}")
    R.check_style(style)
    J = skeleton(app, pose_sequence(app, motion, frames))
    u, v, px = R.pixel_grid(size)
    pat = R.pattern(u, v, app["wall_pattern"], app["wall_period"], px, app["wall_angle"])
    wall = np.clip(np.asarray(app["wall"], np.float32) * (1 - app["wall_contrast"] * pat[..., None]), 0, 1)
    fl = R.coverage(v - (app["floor"] - app["horizon"]), px)[..., None]  # 1 above the wall / floor line
    bg = wall * fl + np.asarray(app["floor_color"], np.float32) * (1 - fl)
    bg = R.style_background(bg, u, v, style)
    # only the pixels the figure can reach in this clip are composited
    pts = np.concatenate([_project(p, J["pelvis"][:, :2]) for p in J.values()])
    m = 0.12 * app["height"]
    c0, c1 = (int(np.clip((q + 1) / px, 0, size)) for q in (pts[:, 0].min() - m, pts[:, 0].max() + m + px))
    r0, r1 = (int(np.clip((q + 1) / px, 0, size)) for q in (pts[:, 1].min() - m, pts[:, 1].max() + m + px))
    uc, vc = u[r0:r1, c0:c1], v[r0:r1, c0:c1]
    out = np.empty((frames, size, size, 3), np.uint8)
    for t0 in range(0, frames, chunk):
        sl = slice(t0, min(frames, t0 + chunk))
        Jc = {n: p[sl] for n, p in J.items()}
        img = np.broadcast_to(bg, (sl.stop - t0, size, size, 3)).copy()
        img[:, r0:r1, c0:c1] = R.composite_depth(img[:, r0:r1, c0:c1], _figure_layers(app, Jc, uc, vc, px, style))
        out[sl] = np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)
    return out


def _figure_layers(app: dict, J: dict[str, np.ndarray], u, v, px: float, style: str) -> list:
    """Premultiplied layers ``(rgb, alpha, depth)`` of the figure for the frames of ``J``."""
    B, bd = app["height"], app["build"]
    centre = J["pelvis"][:, :2]
    P = {n: _project(p, centre) for n, p in J.items()}
    Z = {n: p[:, 2] for n, p in J.items()}
    skin, shirt = app["skin"], app["shirt"]
    # sleeves a shade apart from the shirt, so arms stay visible in front of the chest
    sleeve = np.clip(np.asarray(shirt, np.float32) * (0.78 if np.mean(shirt) > 0.35 else 1.3), 0, 1)
    layers = []

    def add(d, color, z, bias=0.0, relief=0.05):
        rgb, a = R.shade(d, color, style, px, u, v, relief=relief)
        layers.append((rgb, a, np.broadcast_to(R.fp(z) if np.ndim(z) == 1 else z, a.shape) + bias))

    def limb(a, b, r0, r1, color, bias):
        d, h = R.sdf_capsule(u, v, P[a][:, 0], P[a][:, 1], P[b][:, 0], P[b][:, 1], r0, r1)
        add(d, color, R.fp(Z[a]) + (R.fp(Z[b]) - R.fp(Z[a])) * h, bias, relief=r0)

    ua, fa, th, sh = (0.048 * B * bd, 0.041 * B * bd, 0.064 * B * bd, 0.053 * B * bd)
    z_torso = 0.5 * (Z["neck"] + Z["pelvis"])
    if app["hair_style"] == "long":
        add(R.sdf_ellipse(u, v, P["head"][:, 0], P["head"][:, 1] + 0.5 * app["head_r"] * B, 1.15 * app["head_r"] * B,
                          1.5 * app["head_r"] * B), app["hair"], Z["head"], -0.3)
    quad = np.stack([P["shoulder_r"], P["shoulder_l"], P["hip_l"] + [0.01 * B, 0], P["hip_r"] - [0.01 * B, 0]], 1)
    add(R.sdf_polygon(u, v, quad) - 0.035 * B * bd, shirt, z_torso, 0.0, relief=0.08)
    add(R.sdf_capsule(u, v, P["hip_r"][:, 0], P["hip_r"][:, 1], P["hip_l"][:, 0], P["hip_l"][:, 1], 0.05 * B * bd)[0],
        app["trousers"], z_torso, -0.01)
    add(R.sdf_capsule(u, v, P["neck"][:, 0], P["neck"][:, 1] + 0.02 * B, P["neck"][:, 0], P["neck"][:, 1] - 0.04 * B,
                      0.022 * B * bd)[0], np.asarray(skin) * 0.9, Z["neck"], -0.005)
    for s in ("r", "l"):
        limb(f"shoulder_{s}", f"elbow_{s}", ua, ua * 0.92, sleeve, 0.02)
        limb(f"elbow_{s}", f"wrist_{s}", fa, fa * 0.85, sleeve * 0.85 if app["long_sleeves"] else skin, 0.021)
        hand = P[f"wrist_{s}"] + 0.025 * B * (P[f"wrist_{s}"] - P[f"elbow_{s}"]) / (
            np.linalg.norm(P[f"wrist_{s}"] - P[f"elbow_{s}"], axis=-1, keepdims=True) + 1e-6)
        add(R.sdf_circle(u, v, hand[:, 0], hand[:, 1], 0.03 * B * (1 + 0.45 * Z[f"wrist_{s}"])), skin,
            Z[f"wrist_{s}"], 0.025)
        limb(f"hip_{s}", f"knee_{s}", th, th * 0.85, app["trousers"], -0.02)
        limb(f"knee_{s}", f"ankle_{s}", sh, sh * 0.8, skin if app["shorts"] else app["trousers"], -0.021)
        sd = _SIDE[s]
        add(R.sdf_ellipse(u, v, P[f"ankle_{s}"][:, 0] + sd * 0.015 * B, P[f"ankle_{s}"][:, 1] + 0.015 * B, 0.04 * B,
                          0.022 * B), app["shoes"], Z[f"ankle_{s}"], -0.015)
    hr = app["head_r"] * B
    hx, hy, zh = P["head"][:, 0], P["head"][:, 1], Z["head"]
    head = R.sdf_ellipse(u, v, hx, hy, hr * 0.88, hr)
    add(head, skin, zh, 0.01, relief=0.06)
    for sd in (-1, 1):
        add(R.sdf_circle(u, v, hx + sd * 0.36 * hr, hy + 0.05 * hr, 0.11 * hr), (0.08, 0.07, 0.08), zh, 0.012)
    if app["hair_style"] in ("short", "long"):
        add(R.intersect(R.sdf_ellipse(u, v, hx, hy - 0.1 * hr, hr * 0.95, hr * 1.02), v - R.fp(hy - 0.3 * hr)),
            app["hair"], zh, 0.013)
    elif app["hair_style"] == "cap":
        add(R.intersect(R.sdf_ellipse(u, v, hx, hy - 0.15 * hr, hr * 0.98, hr), v - R.fp(hy - 0.35 * hr)),
            app["cap"], zh, 0.013)
        add(R.sdf_ellipse(u, v, hx + 0.3 * hr, hy - 0.35 * hr, 0.8 * hr, 0.15 * hr), app["cap"], zh, 0.014)
    return layers
