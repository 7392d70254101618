"""Procedural, natural-image-like scenes: landscapes, textures, rooms, skylines, beaches,
flowers; and the colour helpers they share."""

from __future__ import annotations

import colorsys
import math
from collections.abc import Callable, Sequence

import cv2
import numpy as np

from synth.video.rng import keyed_rng

_GRAIN = 2.5  # static sensor-like noise (8-bit levels): flat areas are never perfectly flat

Frame = np.ndarray  # (H, W, 3) uint8 RGB
Colour = tuple[int, int, int]


def _noise(
    rng: np.random.Generator, h: int, w: int, scale: float, octaves: int, persistence: float = 0.5
) -> np.ndarray:
    """Multi-octave value noise in [0, 1], float32 (h, w); `scale` is the coarsest cell in px."""
    out = np.zeros((h, w), np.float32)
    amp, total, cell = 1.0, 0.0, float(scale)
    for _ in range(octaves):
        gh = max(2, math.ceil(h / cell) + 1)
        gw = max(2, math.ceil(w / cell) + 1)
        grid = rng.random((gh, gw), dtype=np.float32)
        out += amp * cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
        total += amp
        amp *= persistence
        cell /= 2
        if cell < 2:
            break
    lo, hi = float(out.min()), float(out.max())
    # averaging octaves pulls values toward 0.5; stretch so palettes use their full range
    return (out - lo) / max(hi - lo, 1e-6)


def _soft(img: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur with a wide sigma, done at reduced size: full-size wide kernels cost ~1 s."""
    f = max(1, int(sigma // 3))
    h, w = img.shape[:2]
    small = cv2.resize(img, (max(1, w // f), max(1, h // f)), interpolation=cv2.INTER_AREA)
    return cv2.resize(
        cv2.GaussianBlur(small, (0, 0), sigma / f), (w, h), interpolation=cv2.INTER_LINEAR
    )


def hsv(h: float, s: float, v: float) -> np.ndarray:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, min(max(s, 0.0), 1.0), min(max(v, 0.0), 1.0))
    return np.array([r, g, b], np.float32) * 255


def skin_tone(rng: np.random.Generator) -> Colour:
    c = hsv(
        float(rng.uniform(0.03, 0.09)), float(rng.uniform(0.3, 0.6)), float(rng.uniform(0.35, 0.95))
    )
    return (int(c[0]), int(c[1]), int(c[2]))


def random_colour(rng: np.random.Generator, s: tuple[float, float] = (0.3, 0.9)) -> Colour:
    c = hsv(float(rng.random()), float(rng.uniform(*s)), float(rng.uniform(0.35, 1.0)))
    return (int(c[0]), int(c[1]), int(c[2]))


def _palette(rng: np.random.Generator) -> np.ndarray:
    """A 256-entry colour ramp (uint8 RGB) with a coherent hue scheme."""
    hue = float(rng.random())
    spread = float(rng.choice([0.08, 0.15, 0.5]))  # analogous, wider, complementary
    n = int(rng.integers(3, 6))
    stops = np.sort(rng.random(n))
    stops[0], stops[-1] = 0.0, 1.0
    cols = np.stack(
        [
            hsv(
                hue + spread * float(rng.uniform(-1, 1)),
                float(rng.uniform(0.25, 0.85)),
                0.12 + 0.85 * (k / (n - 1)) ** 0.8 * float(rng.uniform(0.8, 1.0)),
            )
            for k in range(n)
        ]
    )
    x = np.linspace(0, 1, 256)
    lut = np.stack([np.interp(x, stops, cols[:, c]) for c in range(3)], axis=1)
    return np.clip(lut, 0, 255).astype(np.uint8)


def vgrad(h: int, w: int, top: np.ndarray, bottom: np.ndarray, gamma: float = 1.0) -> np.ndarray:
    g = (np.linspace(0, 1, h, dtype=np.float32) ** gamma)[:, None, None]
    col = top[None, None, :] * (1 - g) + bottom[None, None, :] * g
    return np.ascontiguousarray(np.broadcast_to(col, (h, w, 3)), dtype=np.float32)


def _landscape(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Sky, clouds and layered fractal ridges fading into haze (atmospheric perspective)."""
    mood = int(rng.integers(4))  # day, sunset, overcast, night
    jit = rng.uniform(-0.04, 0.04, 3)
    top, low, haze_v, land_h, land_s, land_v = [
        ((0.6, 0.75, 0.75), (0.55, 0.3, 0.95), 0.85, 0.28, 0.55, 0.45),
        ((0.7, 0.7, 0.35), (0.06, 0.6, 1.0), 0.7, 0.8, 0.4, 0.3),
        ((0.58, 0.1, 0.55), (0.58, 0.05, 0.85), 0.75, 0.25, 0.3, 0.4),
        ((0.65, 0.7, 0.22), (0.62, 0.45, 0.5), 0.45, 0.62, 0.4, 0.2),
    ][mood]
    sky_top = hsv(top[0] + jit[0], top[1], top[2])
    sky_low = hsv(low[0] + jit[1], low[1], low[2])
    horizon = float(rng.uniform(0.3, 0.5))
    hz = int(horizon * h)
    img = vgrad(h, w, sky_top, sky_low, gamma=0.8)
    img[hz:] = sky_low
    clouds = _noise(rng, h, w, scale=w / rng.uniform(1.0, 2.5), octaves=6, persistence=0.55)
    cmask = np.clip((clouds - rng.uniform(0.45, 0.65)) * 3.0, 0, 1)
    cloud_col = hsv(low[0], 0.1, min(1.0, low[2] + 0.1))
    img += (cloud_col - img) * (cmask * 0.85)[..., None]
    if mood == 3:  # stars
        ys, xs = rng.integers(0, hz, 300), rng.integers(0, w, 300)
        img[ys, xs] = 230
    if mood in (0, 1) and rng.random() < 0.6:  # sun glow
        sun = np.zeros((h, w), np.float32)
        cv2.circle(
            sun,
            (int(rng.uniform(0.1, 0.9) * w), int(hz * rng.uniform(0.3, 0.9))),
            int(w * 0.05),
            1.0,
            -1,
            cv2.LINE_AA,
        )
        halo = _soft(sun, w * 0.03) * 2.5 + cv2.GaussianBlur(sun, (0, 0), 3)
        img += np.minimum(halo, 1.5)[..., None] * np.array([255, 230, 180], np.float32) * 0.6
    rows = np.arange(h, dtype=np.float32)[:, None]
    n_layers = int(rng.integers(3, 6))
    for k in range(n_layers):
        depth = k / (n_layers - 1)
        base = hz + depth * (0.42 * h) * rng.uniform(0.8, 1.0)
        amp = h * rng.uniform(0.05, 0.2) * (1.1 - 0.5 * depth)
        ridge = base - amp * _noise(rng, 1, w, scale=w / rng.uniform(0.8, 3.0), octaves=7)[0]
        top_row = max(0, int(ridge.min()) - 2)
        mask = np.clip(rows[top_row:] - ridge[None, :] + 0.5, 0, 1)
        colour = hsv(
            land_h + rng.uniform(-0.06, 0.06),
            land_s * rng.uniform(0.6, 1.2),
            land_v * rng.uniform(0.6, 1.2),
        )
        fog = 0.75 * (1 - depth) ** 1.5
        colour = colour * (1 - fog) + sky_low * haze_v * fog
        tex = _noise(rng, h - top_row, w, scale=rng.uniform(30, 120), octaves=5, persistence=0.6)
        shade = 0.7 + 0.6 * tex * (0.3 + 0.7 * depth)
        dark = 1.0 - 0.35 * np.clip((rows[top_row:] - ridge[None, :]) / (0.4 * h), 0, 1)
        layer = colour[None, None, :] * (shade * dark)[..., None]
        sub = img[top_row:]
        sub += (layer - sub) * mask[..., None]
    if rng.random() < 0.3:  # a lake mirroring what is above the waterline
        wl = int(rng.uniform(0.6, 0.8) * h)
        span = min(h - wl, wl)
        ripple = _noise(rng, span, w, scale=rng.uniform(6, 20), octaves=3)
        refl = img[wl - span : wl][::-1] * 0.7
        refl *= (0.85 + 0.3 * ripple)[..., None]
        img[wl : wl + span] = refl
    return img


def _texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Domain-warped fractal noise through a colour ramp, lit as a height field (rock, marble)."""
    base = _noise(
        rng,
        h,
        w,
        scale=w / rng.uniform(0.7, 2.5),
        octaves=8,
        persistence=float(rng.uniform(0.45, 0.62)),
    )
    amp = rng.uniform(20, 120)
    wx = (_noise(rng, h, w, scale=w / 2, octaves=3) - 0.5) * amp
    wy = (_noise(rng, h, w, scale=w / 2, octaves=3) - 0.5) * amp
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    n = cv2.remap(base, xs + wx, ys + wy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    if rng.random() < 0.4:  # terraced, like strata or topographic bands
        n = np.floor(n * 8) / 8 * 0.6 + n * 0.4
    lut = _palette(rng)
    img = lut[(np.clip(n, 0, 1) * 255).astype(np.uint8)].astype(np.float32)
    gx = cv2.Sobel(n, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(n, cv2.CV_32F, 0, 1, ksize=3)
    ang = rng.uniform(0, 2 * np.pi)
    shade = 1.0 + 12.0 * (gx * np.cos(ang) + gy * np.sin(ang))
    return img * np.clip(shade, 0.4, 1.6)[..., None]


def _interior(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A room: wall, wooden floor, window, furniture, framed pictures and a lamp glow."""
    wall = hsv(rng.random(), rng.uniform(0.05, 0.45), rng.uniform(0.5, 0.9))
    img = vgrad(h, w, wall * 1.05, wall * 0.75)
    img *= (0.92 + 0.16 * _noise(rng, h, w, scale=w / 1.5, octaves=4))[..., None]
    fy = int(rng.uniform(0.6, 0.75) * h)
    wood = hsv(rng.uniform(0.05, 0.11), rng.uniform(0.4, 0.7), rng.uniform(0.35, 0.7))
    n = _noise(rng, h - fy, w, scale=40, octaves=4)
    xs = np.arange(w, dtype=np.float32)[None, :]
    grain = 0.5 + 0.5 * np.sin(2 * np.pi * (xs / rng.uniform(60, 120) + 3 * n))
    planks = np.where((xs % rng.uniform(70, 140)) < 3, 0.55, 1.0)
    img[fy:] = wood[None, None, :] * ((0.75 + 0.3 * grain) * planks)[..., None]
    img[fy : fy + 4] *= 0.6  # skirting shadow
    for _ in range(int(rng.integers(1, 3))):  # windows with a bright blurred outside
        ww, wh = int(rng.uniform(0.18, 0.35) * w), int(rng.uniform(0.18, 0.3) * h)
        x0, y0 = int(rng.uniform(0.02, 0.95) * (w - ww)), int(rng.uniform(0.08, 0.5) * (fy - wh))
        out = vgrad(wh, ww, hsv(0.58, 0.4, 1.0), hsv(0.3, 0.3, 0.9))
        trees = _noise(rng, wh, ww, scale=ww / 3, octaves=4)
        out += (np.array([60, 120, 50], np.float32) - out) * (
            np.clip((trees - 0.55) * 4, 0, 1) * 0.8
        )[..., None]
        img[y0 : y0 + wh, x0 : x0 + ww] = cv2.GaussianBlur(out, (0, 0), 2.5)
        frame_col = (235.0, 235.0, 230.0)
        cv2.rectangle(img, (x0, y0), (x0 + ww, y0 + wh), frame_col, 8)
        cv2.line(img, (x0 + ww // 2, y0), (x0 + ww // 2, y0 + wh), frame_col, 6)
    for _ in range(int(rng.integers(1, 4))):  # framed pictures
        pw, ph = int(rng.uniform(0.08, 0.2) * w), int(rng.uniform(0.06, 0.14) * h)
        x0, y0 = int(rng.random() * (w - pw)), int(rng.uniform(0.1, 0.7) * (fy - ph))
        art = _palette(rng)[(_noise(rng, ph, pw, scale=pw / 2, octaves=4) * 255).astype(np.uint8)]
        img[y0 : y0 + ph, x0 : x0 + pw] = art
        cv2.rectangle(img, (x0, y0), (x0 + pw, y0 + ph), (40.0, 30.0, 25.0), 5)
    for _ in range(int(rng.integers(1, 4))):  # furniture blocks with a soft contact shadow
        fw, fh = int(rng.uniform(0.2, 0.5) * w), int(rng.uniform(0.08, 0.25) * h)
        x0, y1 = int(rng.random() * (w - fw)), int(fy + rng.uniform(0.05, 0.6) * (h - fy))
        shadow = np.zeros((h, w), np.float32)
        cv2.ellipse(shadow, (x0 + fw // 2, y1), (fw // 2 + 10, 18), 0, 0, 360, 1.0, -1)
        img *= 1 - 0.45 * _soft(shadow, 12)[..., None]
        col = tuple(
            float(c) for c in hsv(rng.random(), rng.uniform(0.2, 0.7), rng.uniform(0.25, 0.75))
        )
        cv2.rectangle(img, (x0, y1 - fh), (x0 + fw, y1), col, -1, cv2.LINE_AA)
        cv2.rectangle(
            img,
            (x0, y1 - fh),
            (x0 + fw, y1 - fh + 14),
            tuple(c * 1.2 for c in col),
            -1,
            cv2.LINE_AA,
        )
    glow = np.zeros((h, w), np.float32)
    cv2.circle(glow, (int(rng.random() * w), int(rng.uniform(0.1, 0.5) * h)), 30, 1.0, -1)
    img += _soft(glow, 60)[..., None] * np.array([255, 220, 160], np.float32) * 8
    return cv2.GaussianBlur(img, (0, 0), 1.2)


def _city(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A skyline by day, at dusk or at night: facades, windows, street-light bokeh after dark."""
    tod = int(rng.integers(3))  # day, dusk, night
    sky = [
        (hsv(0.58, 0.6, 0.9), hsv(0.55, 0.25, 1.0)),
        (hsv(0.7, 0.6, 0.45), hsv(rng.uniform(0.02, 0.1), 0.7, 1.0)),
        (hsv(0.65, 0.8, 0.1), hsv(rng.uniform(0.7, 1.0), 0.6, 0.4)),
    ][tod]
    img = vgrad(h, w, sky[0], sky[1])
    hue, sat = float(rng.random()), float(rng.uniform(0.05, 0.4))
    lit_p = (0.05, 0.4, 0.35)[tod]
    lit = (255.0, float(rng.uniform(170, 240)), float(rng.uniform(90, 200)))
    ground = int(rng.uniform(0.65, 0.85) * h)
    x = -int(rng.integers(0, 40))
    while x < w:
        bw = int(rng.uniform(0.1, 0.35) * w)
        top = int(ground - rng.uniform(0.1, 0.65) * h)
        v = float(rng.uniform(0.35, 0.85)) * (1.0, 0.45, 0.15)[tod]
        facade = hsv(hue + rng.uniform(-0.08, 0.08), sat, v)
        cv2.rectangle(img, (x, top), (x + bw, h), tuple(float(c) for c in facade), -1)
        cv2.rectangle(img, (x, top), (x + bw // 6, h), tuple(float(c) * 0.75 for c in facade), -1)
        pitch_x, pitch_y = int(rng.integers(12, 26)), int(rng.integers(18, 34))
        win_w, win_h = int(pitch_x * rng.uniform(0.4, 0.7)), int(pitch_y * rng.uniform(0.4, 0.7))
        dark = tuple(float(c) * 0.5 for c in facade)
        for wy in range(top + 12, ground - 10, pitch_y):
            for wx in range(x + 8, x + bw - 12, pitch_x):
                cv2.rectangle(
                    img,
                    (wx, wy),
                    (wx + win_w, wy + win_h),
                    lit if rng.random() < lit_p else dark,
                    -1,
                )
        x += bw + int(rng.integers(0, 20))
    road = _noise(rng, h - ground, w, scale=60, octaves=4)
    img[ground:] = img[ground:] * 0.3 + (40 + 50 * road[..., None]) * (1.0, 0.6, 0.3)[tod]
    if tod > 0:
        bokeh = np.zeros((h, w, 3), np.float32)
        for _ in range(int(rng.integers(15, 70))):
            c = tuple(float(v) for v in hsv(rng.choice([0.08, 0.12, 0.0, 0.6, 0.33]), 0.6, 1.0))
            cy = int(rng.uniform(0.45, 1.0) * h)
            cv2.circle(
                bokeh, (int(rng.random() * w), cy), int(rng.uniform(8, 45)), c, -1, cv2.LINE_AA
            )
        img += _soft(bokeh, float(rng.uniform(3, 8))) * 0.7
    return cv2.GaussianBlur(img, (0, 0), 0.8)


def _sea(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A beach: sky, a sea of stretched wave noise, surf line, sand, sometimes a headland."""
    img = vgrad(
        h,
        w,
        hsv(rng.uniform(0.55, 0.62), rng.uniform(0.3, 0.7), 0.95),
        hsv(rng.uniform(0.5, 0.6), 0.15, 1.0),
    )
    clouds = _noise(rng, h, w, scale=w / 1.5, octaves=5)
    img += (250 - img) * (np.clip((clouds - 0.55) * 3, 0, 1) * 0.8)[..., None]
    hz = int(rng.uniform(0.3, 0.5) * h)
    shore = int(hz + rng.uniform(0.25, 0.45) * (h - hz))
    if rng.random() < 0.5:  # a headland on the horizon
        ridge = hz - h * 0.06 * _noise(rng, 1, w, scale=w / 2, octaves=5)[0]
        ridge[: int(rng.uniform(0.3, 0.7) * w)] = hz
        rows = np.arange(hz, dtype=np.float32)[:, None]
        m = np.clip(rows - ridge[None, :], 0, 1)
        img[:hz] += (np.array([70, 90, 70], np.float32) - img[:hz]) * m[..., None]
    # waves: noise squashed vertically, perspective makes far waves thinner
    waves = cv2.resize(
        _noise(rng, shore - hz, w // 8 + 2, scale=12, octaves=4),
        (w, shore - hz),
        interpolation=cv2.INTER_CUBIC,
    )
    depth = np.linspace(0, 1, shore - hz, dtype=np.float32)[:, None]
    deep = hsv(rng.uniform(0.5, 0.6), rng.uniform(0.5, 0.9), rng.uniform(0.35, 0.6))
    shallow = hsv(rng.uniform(0.45, 0.5), 0.5, 0.8)
    col = deep * (1 - depth[..., None]) + shallow * depth[..., None]
    img[hz:shore] = col * (0.75 + 0.5 * waves[..., None])
    surf = np.clip(1 - np.abs(np.arange(h - shore, dtype=np.float32) - 12) / 12, 0, 1)[:, None]
    sand = hsv(rng.uniform(0.08, 0.12), rng.uniform(0.2, 0.45), rng.uniform(0.7, 0.95))
    tex = _noise(rng, h - shore, w, scale=30, octaves=4)
    img[shore:] = sand * (0.85 + 0.25 * tex[..., None])
    img[shore:] += (250 - img[shore:]) * (surf * (0.5 + 0.5 * tex))[..., None]
    return img


def _flowers(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A close-up: a defocused garden behind sharp flowers with petals and leaves."""
    lut = _palette(rng)
    bg = lut[(_noise(rng, h // 4, w // 4, scale=w / 8, octaves=4) * 255).astype(np.uint8)]
    img = cv2.GaussianBlur(cv2.resize(bg.astype(np.float32), (w, h)), (0, 0), 12)
    img = img * 0.5 + np.array([40, 90, 40], np.float32) * 0.5
    petal_h = float(rng.random())
    for _ in range(int(rng.integers(4, 12))):
        cx, cy, r = int(rng.random() * w), int(rng.random() * h), int(rng.uniform(0.05, 0.14) * w)
        leaf = tuple(float(v) for v in hsv(rng.uniform(0.22, 0.38), 0.7, rng.uniform(0.3, 0.6)))
        cv2.ellipse(
            img,
            (cx + r, cy + r),
            (int(r * 1.4), r // 2),
            float(rng.uniform(0, 180)),
            0,
            360,
            leaf,
            -1,
            cv2.LINE_AA,
        )
        col = hsv(petal_h + rng.uniform(-0.05, 0.05), rng.uniform(0.5, 0.9), rng.uniform(0.7, 1))
        n_pet, rot = int(rng.integers(5, 9)), float(rng.uniform(0, 360))
        for k in range(n_pet):
            ang = math.radians(rot + k * 360 / n_pet)
            px, py = int(cx + 0.6 * r * math.cos(ang)), int(cy + 0.6 * r * math.sin(ang))
            shade = tuple(float(v) * (0.85 + 0.15 * (k % 2)) for v in col)
            cv2.ellipse(
                img,
                (px, py),
                (int(r * 0.6), int(r * 0.3)),
                math.degrees(ang),
                0,
                360,
                shade,
                -1,
                cv2.LINE_AA,
            )
        cv2.circle(img, (cx, cy), max(2, r // 4), (230.0, 190.0, 40.0), -1, cv2.LINE_AA)
    return cv2.GaussianBlur(img, (0, 0), 1.0)


_SCENES: dict[str, Callable[[np.random.Generator, int, int], np.ndarray]] = {
    "landscape": _landscape,
    "texture": _texture,
    "interior": _interior,
    "city": _city,
    "sea": _sea,
    "flowers": _flowers,
}
_SCENE_WEIGHTS = {"landscape": 3, "texture": 2, "interior": 2, "city": 2, "sea": 2, "flowers": 1}


def scene(seed: int, h: int, w: int, kinds: Sequence[str] = tuple(_SCENES)) -> np.ndarray:
    """A finished uint8 RGB scene: content, colour grade, vignette and a little static grain."""
    rng = keyed_rng(seed, "scene")
    p = np.array([_SCENE_WEIGHTS[k] for k in kinds], np.float64)
    kind = str(rng.choice(list(kinds), p=p / p.sum()))
    img = _SCENES[kind](rng, h, w)
    if rng.random() < 0.5:  # light leak / soft colour blobs, as in phone footage
        blobs = np.zeros((h // 8, w // 8, 3), np.float32)
        for _ in range(int(rng.integers(1, 4))):
            c = tuple(float(v) for v in hsv(rng.random(), 0.6, 1.0))
            cv2.circle(
                blobs,
                (int(rng.random() * w / 8), int(rng.random() * h / 8)),
                int(rng.uniform(0.1, 0.3) * w / 8),
                c,
                -1,
            )
        img += cv2.resize(cv2.GaussianBlur(blobs, (0, 0), w / 60), (w, h)) * float(
            rng.uniform(0.1, 0.3)
        )
    grade = rng.uniform(0.9, 1.1, 3).astype(np.float32)
    yy, xx = np.ogrid[-1 : 1 : h * 1j, -1 : 1 : w * 1j]
    vignette = (1.0 - 0.35 * (xx**2 + yy**2) ** 1.5).astype(np.float32)
    img = img * grade[None, None, :] * np.clip(vignette, 0.4, 1)[..., None]
    img += rng.standard_normal((h, w, 1), dtype=np.float32) * _GRAIN
    return np.clip(img, 0, 255).astype(np.uint8)
