"""Synthetic near-duplicate video benchmark, deterministic from a seed.

Sources are portrait 540×960 clips of procedural, natural-image-like content (fractal landscapes,
beaches, domain-warped rock/marble textures, rooms, skylines, flower close-ups) seen through a
panning/zooming camera, with 1–4 scene cuts, text and moving faces, dancers and objects. Each
source is then edited the way a platform sees re-uploads (`EDITS`): re-encoded, halved, cropped,
letterboxed, captioned, watermarked, greyscaled, mirrored, trimmed, sped up/down, or put beside a
reaction video. Distractors are unrelated clips (a third of them talking heads) plus hard
negatives: slideshows from one template (same background, frame, title, fonts, stickers and
transitions) with different pictures, and clips shot at one spot of one setting with different
people, props and camera paths. Ground truth: two clips are near-duplicates iff they share a
non-null `source_id` in `corpus.parquet`.

Everything is drawn with numpy/cv2 and encoded with PyAV's libx264 (`preset=ultrafast`); nothing
is downloaded. The same arguments give the same `corpus.parquet` and the same decoded frames (on
one machine the files came out byte-identical, also with workers=2).

Measured on this machine's 2 shared cores while another job kept the load at ~3–4, fps=15:
    source clip, 20 s:           ~1.4 s (a scene canvas 0.05–0.15 s, then ~3 ms render + ~2 ms
                                 encode per frame)
    one edit of a 20 s source:   0.4–1.1 s alone (half_size fastest; pip_reaction, reencode
                                 slowest); all 12 fanned out from one decode: ~8.2 s
    distractor, 20 s:            ~1.1 s (talking head, slideshow or setting alike)
    10 sources × 12 edits + 75 distractors (205 clips, 52 min of video, 426 MB):
                                 112 s with workers=1, 85 s with workers=2
    => 40 × 12 + 300 (820 clips, default durations: median 14 s, mostly 8–25 s): ~7.5 min
       with workers=1, ~6 min with workers=2, ~1.7 GB.
"""

from __future__ import annotations

import colorsys
import hashlib
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist
from typing import Any

import av
import cv2
import numpy as np
import polars as pl

WIDTH, HEIGHT = 540, 960
CANVAS_SCALE = 1.5  # scene canvases are this much larger than the frame: room to pan and zoom
_GRAIN = 2.5  # static sensor-like noise (8-bit levels): flat areas are never perfectly flat
EDITS: tuple[str, ...] = (
    "reencode",
    "half_size",
    "crop10",
    "black_bars",
    "text_overlay",
    "logo",
    "greyscale",
    "mirror",
    "trim3",
    "speed_0_8",
    "speed_1_25",
    "pip_reaction",
)
CORPUS_SCHEMA: dict[str, Any] = {
    "clip_id": pl.String,
    "path": pl.String,
    "source_id": pl.String,
    "edit": pl.String,
    "group": pl.String,
    "duration_s": pl.Float64,
    "width": pl.Int64,
    "height": pl.Int64,
}

Frame = np.ndarray  # (H, W, 3) uint8 RGB
Colour = tuple[int, int, int]

_PHRASES = (
    "wait for it",
    "POV: monday",
    "day 3 of 30",
    "road trip!",
    "part 2",
    "no way",
    "#fyp",
    "#viral",
    "sunday vibes",
    "best day ever",
    "cooking time",
    "so cute",
    "follow for more",
    "level 99",
    "morning run",
    "guess what",
    "dont skip",
    "watch till end",
    "new dance",
    "my village",
    "home sweet home",
    "throwback",
    "tag a friend",
    "rate 1-10",
    "mood",
    "fail",
    "before / after",
    "chai break",
    "festival night",
    "rainy day",
)
_TEMPLATE_TITLES = (
    "HAPPY BIRTHDAY",
    "SUMMER 2021",
    "OUR STORY",
    "TOP 5 PLACES",
    "MEMORIES",
    "BEST FRIENDS",
    "WEDDING DAY",
    "TRAVEL DIARY",
)
_FONTS = (
    cv2.FONT_HERSHEY_SIMPLEX,
    cv2.FONT_HERSHEY_DUPLEX,
    cv2.FONT_HERSHEY_TRIPLEX,
    cv2.FONT_HERSHEY_COMPLEX,
    cv2.FONT_HERSHEY_SCRIPT_COMPLEX,
)


@dataclass(frozen=True)
class ClipInfo:
    """What was written: frame size, frame count and rate."""

    path: Path
    width: int
    height: int
    n_frames: int
    fps: int

    @property
    def duration_s(self) -> float:
        return self.n_frames / self.fps


# --- randomness ---------------------------------------------------------------------------------


def _rng(*keys: int | str) -> np.random.Generator:
    """A generator keyed by a tuple; Python's salted hash() would break run-to-run determinism."""
    digest = hashlib.blake2b(repr(keys).encode(), digest_size=16).digest()
    return np.random.default_rng(int.from_bytes(digest, "little"))


def _subseed(*keys: int | str) -> int:
    return int(_rng(*keys).integers(0, 2**62))


def _even(x: float) -> int:
    # yuv420p needs even frame sizes
    return max(2, round(x / 2) * 2)


# --- procedural images --------------------------------------------------------------------------


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


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, min(max(s, 0.0), 1.0), min(max(v, 0.0), 1.0))
    return np.array([r, g, b], np.float32) * 255


def _skin(rng: np.random.Generator) -> Colour:
    c = _hsv(
        float(rng.uniform(0.03, 0.09)), float(rng.uniform(0.3, 0.6)), float(rng.uniform(0.35, 0.95))
    )
    return (int(c[0]), int(c[1]), int(c[2]))


def _random_colour(rng: np.random.Generator, s: tuple[float, float] = (0.3, 0.9)) -> Colour:
    c = _hsv(float(rng.random()), float(rng.uniform(*s)), float(rng.uniform(0.35, 1.0)))
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
            _hsv(
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


def _vgrad(h: int, w: int, top: np.ndarray, bottom: np.ndarray, gamma: float = 1.0) -> np.ndarray:
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
    sky_top = _hsv(top[0] + jit[0], top[1], top[2])
    sky_low = _hsv(low[0] + jit[1], low[1], low[2])
    horizon = float(rng.uniform(0.3, 0.5))
    hz = int(horizon * h)
    img = _vgrad(h, w, sky_top, sky_low, gamma=0.8)
    img[hz:] = sky_low
    clouds = _noise(rng, h, w, scale=w / rng.uniform(1.0, 2.5), octaves=6, persistence=0.55)
    cmask = np.clip((clouds - rng.uniform(0.45, 0.65)) * 3.0, 0, 1)
    cloud_col = _hsv(low[0], 0.1, min(1.0, low[2] + 0.1))
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
        colour = _hsv(
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
    wall = _hsv(rng.random(), rng.uniform(0.05, 0.45), rng.uniform(0.5, 0.9))
    img = _vgrad(h, w, wall * 1.05, wall * 0.75)
    img *= (0.92 + 0.16 * _noise(rng, h, w, scale=w / 1.5, octaves=4))[..., None]
    fy = int(rng.uniform(0.6, 0.75) * h)
    wood = _hsv(rng.uniform(0.05, 0.11), rng.uniform(0.4, 0.7), rng.uniform(0.35, 0.7))
    n = _noise(rng, h - fy, w, scale=40, octaves=4)
    xs = np.arange(w, dtype=np.float32)[None, :]
    grain = 0.5 + 0.5 * np.sin(2 * np.pi * (xs / rng.uniform(60, 120) + 3 * n))
    planks = np.where((xs % rng.uniform(70, 140)) < 3, 0.55, 1.0)
    img[fy:] = wood[None, None, :] * ((0.75 + 0.3 * grain) * planks)[..., None]
    img[fy : fy + 4] *= 0.6  # skirting shadow
    for _ in range(int(rng.integers(1, 3))):  # windows with a bright blurred outside
        ww, wh = int(rng.uniform(0.18, 0.35) * w), int(rng.uniform(0.18, 0.3) * h)
        x0, y0 = int(rng.uniform(0.02, 0.95) * (w - ww)), int(rng.uniform(0.08, 0.5) * (fy - wh))
        out = _vgrad(wh, ww, _hsv(0.58, 0.4, 1.0), _hsv(0.3, 0.3, 0.9))
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
            float(c) for c in _hsv(rng.random(), rng.uniform(0.2, 0.7), rng.uniform(0.25, 0.75))
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
        (_hsv(0.58, 0.6, 0.9), _hsv(0.55, 0.25, 1.0)),
        (_hsv(0.7, 0.6, 0.45), _hsv(rng.uniform(0.02, 0.1), 0.7, 1.0)),
        (_hsv(0.65, 0.8, 0.1), _hsv(rng.uniform(0.7, 1.0), 0.6, 0.4)),
    ][tod]
    img = _vgrad(h, w, sky[0], sky[1])
    hue, sat = float(rng.random()), float(rng.uniform(0.05, 0.4))
    lit_p = (0.05, 0.4, 0.35)[tod]
    lit = (255.0, float(rng.uniform(170, 240)), float(rng.uniform(90, 200)))
    ground = int(rng.uniform(0.65, 0.85) * h)
    x = -int(rng.integers(0, 40))
    while x < w:
        bw = int(rng.uniform(0.1, 0.35) * w)
        top = int(ground - rng.uniform(0.1, 0.65) * h)
        v = float(rng.uniform(0.35, 0.85)) * (1.0, 0.45, 0.15)[tod]
        facade = _hsv(hue + rng.uniform(-0.08, 0.08), sat, v)
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
            c = tuple(float(v) for v in _hsv(rng.choice([0.08, 0.12, 0.0, 0.6, 0.33]), 0.6, 1.0))
            cy = int(rng.uniform(0.45, 1.0) * h)
            cv2.circle(
                bokeh, (int(rng.random() * w), cy), int(rng.uniform(8, 45)), c, -1, cv2.LINE_AA
            )
        img += _soft(bokeh, float(rng.uniform(3, 8))) * 0.7
    return cv2.GaussianBlur(img, (0, 0), 0.8)


def _sea(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A beach: sky, a sea of stretched wave noise, surf line, sand, sometimes a headland."""
    img = _vgrad(
        h,
        w,
        _hsv(rng.uniform(0.55, 0.62), rng.uniform(0.3, 0.7), 0.95),
        _hsv(rng.uniform(0.5, 0.6), 0.15, 1.0),
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
    deep = _hsv(rng.uniform(0.5, 0.6), rng.uniform(0.5, 0.9), rng.uniform(0.35, 0.6))
    shallow = _hsv(rng.uniform(0.45, 0.5), 0.5, 0.8)
    col = deep * (1 - depth[..., None]) + shallow * depth[..., None]
    img[hz:shore] = col * (0.75 + 0.5 * waves[..., None])
    surf = np.clip(1 - np.abs(np.arange(h - shore, dtype=np.float32) - 12) / 12, 0, 1)[:, None]
    sand = _hsv(rng.uniform(0.08, 0.12), rng.uniform(0.2, 0.45), rng.uniform(0.7, 0.95))
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
        leaf = tuple(float(v) for v in _hsv(rng.uniform(0.22, 0.38), 0.7, rng.uniform(0.3, 0.6)))
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
        col = _hsv(petal_h + rng.uniform(-0.05, 0.05), rng.uniform(0.5, 0.9), rng.uniform(0.7, 1))
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


def _scene(seed: int, h: int, w: int, kinds: Sequence[str] = tuple(_SCENES)) -> np.ndarray:
    """A finished uint8 RGB scene: content, colour grade, vignette and a little static grain."""
    rng = _rng(seed, "scene")
    p = np.array([_SCENE_WEIGHTS[k] for k in kinds], np.float64)
    kind = str(rng.choice(list(kinds), p=p / p.sum()))
    img = _SCENES[kind](rng, h, w)
    if rng.random() < 0.5:  # light leak / soft colour blobs, as in phone footage
        blobs = np.zeros((h // 8, w // 8, 3), np.float32)
        for _ in range(int(rng.integers(1, 4))):
            c = tuple(float(v) for v in _hsv(rng.random(), 0.6, 1.0))
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


# --- moving things ------------------------------------------------------------------------------


class _Path:
    """A smooth 2-D trajectory in frame pixels: drift plus two sine wobbles per axis."""

    def __init__(self, rng: np.random.Generator, w: int, h: int, box: tuple[float, ...]) -> None:
        x0, y0, x1, y1 = box
        self.base = np.array([rng.uniform(x0, x1) * w, rng.uniform(y0, y1) * h])
        self.vel = rng.normal(0, 0.03, 2) * np.array([w, h])
        self.amp = rng.uniform(0, 0.12, (2, 2)) * np.array([[w], [h]])
        self.freq = rng.uniform(0.05, 0.6, (2, 2))
        self.phase = rng.uniform(0, 2 * np.pi, (2, 2))

    def at(self, t: float) -> tuple[int, int]:
        p = (
            self.base
            + self.vel * t
            + (self.amp * np.sin(2 * np.pi * self.freq * t + self.phase)).sum(1)
        )
        return int(p[0]), int(p[1])


def _text(
    img: Frame,
    text: str,
    org: tuple[int, int],
    font: int,
    scale: float,
    colour: Colour,
    thickness: int,
    outline: Colour | None = (0, 0, 0),
) -> None:
    if outline is not None:
        cv2.putText(img, text, org, font, scale, outline, thickness + 4, cv2.LINE_AA)
    cv2.putText(img, text, org, font, scale, colour, thickness, cv2.LINE_AA)


def _fit_scale(text: str, font: int, scale: float, thickness: int, max_w: int) -> float:
    (tw, _), _ = cv2.getTextSize(text, font, scale, thickness + 4)
    return scale * min(1.0, max_w / max(tw, 1))


def _face(
    img: Frame, c: tuple[int, int], r: int, skin: Colour, hair: Colour, t: float, talk: float
) -> None:
    """A cartoon head: hair, face, blinking eyes, a mouth that opens when `talk` > 0."""
    x, y = c
    r = max(r, 4)
    cv2.ellipse(
        img, (x, y - r // 6), (int(r * 1.05), int(r * 1.1)), 0, 0, 360, hair, -1, cv2.LINE_AA
    )
    cv2.ellipse(img, (x, y), (int(r * 0.85), r), 0, 0, 360, skin, -1, cv2.LINE_AA)
    cv2.ellipse(
        img,
        (x, y - int(r * 0.55)),
        (int(r * 0.85), int(r * 0.5)),
        0,
        180,
        360,
        hair,
        -1,
        cv2.LINE_AA,
    )
    blink = (t * 0.7) % 3.0 < 0.12
    for sx in (-1, 1):
        ex, ey = x + sx * int(r * 0.33), y - int(r * 0.1)
        if blink:
            cv2.line(img, (ex - r // 7, ey), (ex + r // 7, ey), (40, 30, 30), max(1, r // 20))
        else:
            cv2.ellipse(
                img,
                (ex, ey),
                (max(2, r // 6), max(2, r // 9)),
                0,
                0,
                360,
                (245, 245, 245),
                -1,
                cv2.LINE_AA,
            )
            cv2.circle(
                img,
                (ex + int(r * 0.03 * math.sin(t)), ey),
                max(1, r // 14),
                (35, 25, 20),
                -1,
                cv2.LINE_AA,
            )
    dark = tuple(int(v * 0.75) for v in skin)
    cv2.line(img, (x, y), (x - r // 12, y + r // 4), dark, max(1, r // 18), cv2.LINE_AA)
    open_ = talk * abs(math.sin(t * 9.0) * math.sin(t * 2.3))
    cv2.ellipse(
        img,
        (x, y + int(r * 0.5)),
        (max(2, int(r * 0.28)), max(1, int(r * (0.04 + 0.16 * open_)))),
        0,
        0,
        360,
        (120, 30, 40),
        -1,
        cv2.LINE_AA,
    )


class _Actor:
    """Something that moves over the frame: a person, a dancer, a ball, a box or a star."""

    def __init__(self, rng: np.random.Generator, w: int, h: int, kind: str | None = None) -> None:
        self.kind = kind or str(rng.choice(["face", "ball", "box", "star", "face", "ball"]))
        self.path = _Path(rng, w, h, (0.1, 0.15, 0.9, 0.85))
        self.size = float(rng.uniform(0.06, 0.16) * w)
        self.colour = _random_colour(rng)
        self.skin = _skin(rng)
        self.hair = _random_colour(rng, (0.2, 0.6)) if rng.random() < 0.3 else (30, 22, 18)
        self.spin = float(rng.uniform(-1.5, 1.5))
        self.tempo = float(rng.uniform(1.2, 2.5))
        self.phase = float(rng.uniform(0, 2 * np.pi))

    def draw(self, img: Frame, t: float) -> None:
        x, y = self.path.at(t)
        s = int(self.size)
        if self.kind == "face":
            body = (x, y + int(2.2 * s))
            cv2.ellipse(
                img, body, (int(1.5 * s), int(1.3 * s)), 0, 180, 360, self.colour, -1, cv2.LINE_AA
            )
            _face(img, (x, y), s, self.skin, self.hair, t + self.phase, 1.0)
        elif self.kind == "dancer":
            self._dancer(img, x, y, t)
        elif self.kind == "ball":
            cv2.circle(img, (x + 4, y + 6), s, (20, 20, 20), -1, cv2.LINE_AA)
            cv2.circle(img, (x, y), s, self.colour, -1, cv2.LINE_AA)
            hi = tuple(min(255, int(v * 0.5 + 140)) for v in self.colour)
            cv2.circle(img, (x - s // 3, y - s // 3), max(2, s // 3), hi, -1, cv2.LINE_AA)
        else:
            ang = self.spin * t + self.phase
            if self.kind == "box":
                pts = cv2.boxPoints(((x, y), (1.6 * s, 1.1 * s), math.degrees(ang)))
            else:
                k = np.arange(10)
                rad = np.where(k % 2 == 0, s, s * 0.45)
                pts = np.stack(
                    [x + rad * np.cos(ang + k * np.pi / 5), y + rad * np.sin(ang + k * np.pi / 5)],
                    1,
                )
            poly = [pts.astype(np.int32)]
            cv2.fillPoly(img, poly, self.colour, cv2.LINE_AA)
            cv2.polylines(img, poly, True, (20, 20, 20), 2, cv2.LINE_AA)

    def _dancer(self, img: Frame, x: int, y: int, t: float) -> None:
        """A limbed figure whose arms and legs swing to a beat; (x, y) is the hip."""
        hgt = self.size * 4.0
        w = 2 * math.pi * self.tempo * t + self.phase
        sway = int(0.06 * hgt * math.sin(w / 2))
        hip = (x + sway, y + int(0.03 * hgt * abs(math.sin(w))))
        neck = (hip[0] + int(0.04 * hgt * math.sin(w / 2 + 1)), hip[1] - int(0.32 * hgt))
        limb = max(3, int(0.055 * hgt))
        pants = tuple(int(v * 0.5) for v in self.colour)
        for side in (-1, 1):
            a = side * (0.25 + 0.35 * math.sin(w + (side > 0) * math.pi))
            knee = (hip[0] + int(0.24 * hgt * math.sin(a)), hip[1] + int(0.24 * hgt * math.cos(a)))
            foot = (knee[0] + int(0.24 * hgt * math.sin(a * 0.3)), knee[1] + int(0.24 * hgt))
            cv2.line(img, hip, knee, pants, limb, cv2.LINE_AA)
            cv2.line(img, knee, foot, pants, limb, cv2.LINE_AA)
        cv2.line(img, hip, neck, self.colour, int(limb * 2.2), cv2.LINE_AA)
        for side in (-1, 1):
            a = side * (0.8 + 0.9 * math.sin(w * 1.0 + side * 0.9 + self.phase))
            elbow = (neck[0] + int(0.2 * hgt * math.sin(a)), neck[1] + int(0.2 * hgt * math.cos(a)))
            b = a + side * (0.6 + 0.8 * math.sin(w * 2))
            hand = (
                elbow[0] + int(0.18 * hgt * math.sin(b)),
                elbow[1] + int(0.18 * hgt * math.cos(b)),
            )
            cv2.line(img, neck, elbow, self.colour, limb, cv2.LINE_AA)
            cv2.line(img, elbow, hand, self.skin, int(limb * 0.8), cv2.LINE_AA)
        head_r = int(0.085 * hgt)
        _face(img, (neck[0], neck[1] - int(head_r * 1.1)), head_r, self.skin, self.hair, t, 0.2)


class _Caption:
    """Creator text burnt into a clip, optionally only for a while and drifting slowly."""

    def __init__(self, rng: np.random.Generator, w: int, h: int, text: str | None = None) -> None:
        self.text = text or str(rng.choice(_PHRASES))
        if rng.random() < 0.3:
            self.text = self.text.upper()
        self.font = int(rng.choice(_FONTS[:4]))
        self.thick = int(rng.integers(2, 4))
        self.scale = _fit_scale(
            self.text, self.font, float(rng.uniform(0.9, 1.7)), self.thick, int(w * 0.9)
        )
        (tw, _), _ = cv2.getTextSize(self.text, self.font, self.scale, self.thick)
        self.org = (int(rng.uniform(0.03, 0.97) * max(1, w - tw)), int(rng.uniform(0.1, 0.92) * h))
        self.colour = _random_colour(rng, (0.0, 0.8))
        self.drift = rng.normal(0, 4, 2)
        self.on, self.off = float(rng.uniform(0, 1.5)), float(rng.uniform(4, 60))

    def draw(self, img: Frame, t: float) -> None:
        if self.on <= t < self.off:
            org = (int(self.org[0] + self.drift[0] * t), int(self.org[1] + self.drift[1] * t))
            _text(img, self.text, org, self.font, self.scale, self.colour, self.thick)


# --- camera -------------------------------------------------------------------------------------


class _Camera:
    """A pan/zoom path over a scene canvas with a little hand shake."""

    def __init__(
        self,
        rng: np.random.Generator,
        canvas: np.ndarray,
        w: int,
        h: int,
        anchor: tuple[float, float, float] | None = None,
    ) -> None:
        """`anchor` = (zoom in [0, 1], x, y in [0, 1]): a tripod spot the path stays close to."""
        self.w, self.h = w, h
        ch, cw = canvas.shape[:2]
        self.canvas = canvas
        s_min, s_max = 0.72, min(cw / w, ch / h) * 0.97
        if anchor is None:
            z = rng.uniform(0, 1) + np.array([0.0, rng.uniform(-0.4, 0.4)])
            fx, fy = rng.uniform(0, 1, 2), rng.uniform(0, 1, 2)
        else:  # same spot as other clips of the setting, framed a little differently
            z = anchor[0] + rng.uniform(-0.12, 0.12, 2)
            fx, fy = anchor[1] + rng.uniform(-0.12, 0.12, 2), anchor[2] + rng.uniform(-0.1, 0.1, 2)
        self.s = s_min + (s_max - s_min) * np.clip(z, 0, 1)
        fx, fy = np.clip(fx, 0, 1), np.clip(fy, 0, 1)
        # centre range that keeps the window (plus shake) inside the canvas at each zoom
        self.c = np.array(
            [
                [
                    w * s / 2 + 8 + fx[k] * (cw - w * s - 16),
                    h * s / 2 + 8 + fy[k] * (ch - h * s - 16),
                ]
                for k, s in enumerate(self.s)
            ]
        )
        self.shake = float(rng.choice([0.0, 1.5, 4.0]))
        self.f = rng.uniform(0.3, 1.5, 4)

    def render(self, u: float, t: float) -> Frame:
        """The frame at path fraction `u` in [0, 1] (time `t` s drives the shake)."""
        e = u * u * (3 - 2 * u)  # ease in/out: real pans accelerate and settle
        s = float(self.s[0] + (self.s[1] - self.s[0]) * e)
        cx, cy = self.c[0] + (self.c[1] - self.c[0]) * e
        cx += self.shake * (math.sin(2 * math.pi * self.f[0] * t) + math.sin(5.3 * self.f[1] * t))
        cy += self.shake * (math.sin(2 * math.pi * self.f[2] * t) + math.sin(4.1 * self.f[3] * t))
        m = np.array([[s, 0, cx - s * self.w / 2], [0, s, cy - s * self.h / 2]], np.float32)
        return cv2.warpAffine(
            self.canvas,
            m,
            (self.w, self.h),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REFLECT,
        )


def _canvas_size(w: int, h: int) -> tuple[int, int]:
    return int(h * CANVAS_SCALE), int(w * CANVAS_SCALE)


# --- clip generators (frame iterators) ----------------------------------------------------------


def _cut_points(rng: np.random.Generator, n_frames: int, fps: int) -> list[int]:
    """Frame indices where scenes start: 1–4 cuts, no shot shorter than ~1.2 s."""
    min_len = max(1, int(1.2 * fps))
    max_cuts = min(4, n_frames // min_len - 1)
    if max_cuts < 1:
        return [0]
    n_cuts = int(rng.integers(1, max_cuts + 1))
    lengths = min_len + np.floor(
        rng.dirichlet(np.ones(n_cuts + 1)) * (n_frames - (n_cuts + 1) * min_len)
    )
    return [0, *np.cumsum(lengths[:-1]).astype(int).tolist()]


def _source_frames(
    seed: int, n_frames: int, fps: int, w: int = WIDTH, h: int = HEIGHT
) -> Iterator[Frame]:
    """A creator's clip: several shots of different scenes, moving camera, actors and text."""
    rng = _rng(seed, "source")
    starts = [*_cut_points(rng, n_frames, fps), n_frames]
    ch, cw = _canvas_size(w, h)
    overlay = _Caption(rng, w, h) if rng.random() < 0.5 else None  # persists across cuts
    if overlay is not None:
        overlay.on, overlay.off, overlay.drift[:] = 0.0, 1e9, 0.0
    for k in range(len(starts) - 1):
        srng = _rng(seed, "shot", k)
        canvas = _scene(_subseed(seed, "canvas", k), ch, cw)
        cam = _Camera(srng, canvas, w, h)
        actors = [_Actor(srng, w, h) for _ in range(int(srng.integers(1, 5)))]
        texts = [_Caption(srng, w, h) for _ in range(int(srng.integers(0, 3)))]
        a, b = starts[k], starts[k + 1]
        for i in range(a, b):
            t = (i - a) / fps
            frame = cam.render((i - a) / max(1, b - a - 1), t)
            for actor in actors:
                actor.draw(frame, t)
            for cap in texts:
                cap.draw(frame, t)
            if overlay is not None:
                overlay.draw(frame, i / fps)
            yield frame


class _PersonVideo:
    """A talking-head/upper-body video (reactions, vlogs) rendered on demand, frame by frame."""

    def __init__(self, seed: int, w: int, h: int, fps: int) -> None:
        rng = _rng(seed, "person")
        self.w, self.h, self.fps = w, h, fps
        ch, cw = int(h * 1.2), int(w * 1.2)
        self.cam = _Camera(
            rng, _scene(_subseed(seed, "room"), ch, cw, ("interior", "city", "flowers")), w, h
        )
        self.cam.shake = 1.0
        self.r = int(min(w * 0.26, h * 0.16) * rng.uniform(0.9, 1.2))
        self.skin = _skin(rng)
        self.hair = (30, 22, 18) if rng.random() < 0.7 else _random_colour(rng, (0.2, 0.6))
        self.shirt = _random_colour(rng)
        self.x = w * rng.uniform(0.4, 0.6)
        self.f = rng.uniform(0.2, 0.5, 3)
        self.caption = _Caption(rng, w, h) if rng.random() < 0.4 else None

    def frame(self, i: int) -> Frame:
        t = i / self.fps
        img = self.cam.render(0.5 + 0.5 * math.sin(t * 0.1), t)
        x = int(self.x + self.r * 0.3 * math.sin(2 * math.pi * self.f[0] * t))
        y = int(self.h * 0.5 + self.r * 0.15 * math.sin(2 * math.pi * self.f[1] * t))
        r = self.r
        cv2.ellipse(
            img,
            (x, y + int(2.6 * r)),
            (int(2.0 * r), int(1.7 * r)),
            0,
            180,
            360,
            self.shirt,
            -1,
            cv2.LINE_AA,
        )
        cv2.rectangle(
            img, (x - int(2.0 * r), y + int(2.6 * r)), (x + int(2.0 * r), self.h), self.shirt, -1
        )
        cv2.rectangle(
            img,
            (x - r // 3, y + int(0.7 * r)),
            (x + r // 3, y + int(1.2 * r)),
            tuple(int(v * 0.85) for v in self.skin),
            -1,
        )
        _face(img, (x, y), r, self.skin, self.hair, t, 1.0)
        if math.sin(2 * math.pi * self.f[2] * t) > 0.4:  # hands up while making a point
            hy = y + int(1.8 * r - 0.6 * r * math.sin(2 * math.pi * self.f[2] * t))
            for sx in (-1, 1):
                cv2.ellipse(
                    img,
                    (x + sx * int(1.5 * r), hy),
                    (int(0.3 * r), int(0.4 * r)),
                    0,
                    0,
                    360,
                    self.skin,
                    -1,
                    cv2.LINE_AA,
                )
        if self.caption is not None:
            self.caption.draw(img, t)
        return img


def _person_frames(seed: int, n_frames: int, fps: int) -> Iterator[Frame]:
    video = _PersonVideo(seed, WIDTH, HEIGHT, fps)
    for i in range(n_frames):
        yield video.frame(i)


class _SlideTemplate:
    """A slideshow app template: background, picture frame, title, fonts, decorations, timing.

    Clips made from one template differ only in their pictures and per-slide captions.
    """

    def __init__(self, seed: int, w: int = WIDTH, h: int = HEIGHT) -> None:
        rng = _rng(seed, "template")
        self.w, self.h = w, h
        c1, c2 = _hsv(rng.random(), 0.5, 0.9), _hsv(rng.random(), 0.6, 0.5)
        bg = _vgrad(h, w, c1, c2)
        style = int(rng.integers(3))
        if style == 0:  # diagonal stripes
            yy, xx = np.mgrid[0:h, 0:w]
            bg *= (0.85 + 0.15 * (((xx + yy) // 40) % 2))[..., None]
        elif style == 1:  # polka dots
            for yy_ in range(20, h, 70):
                for xx_ in range(20 + (yy_ // 70 % 2) * 35, w, 70):
                    cv2.circle(
                        bg, (xx_, yy_), 12, tuple(float(v) * 1.15 for v in c1), -1, cv2.LINE_AA
                    )
        self.bg = np.clip(bg, 0, 255).astype(np.uint8)
        mx = int(rng.uniform(0.06, 0.14) * w)
        self.win = (
            mx,
            int(rng.uniform(0.17, 0.24) * h),
            w - 2 * mx,
            int(rng.uniform(0.5, 0.6) * h),
        )
        self.border = int(rng.integers(6, 20))
        self.border_col = _random_colour(rng, (0.0, 0.3))
        self.shadow = bool(rng.random() < 0.7)
        self.title = str(rng.choice(_TEMPLATE_TITLES))
        self.font = int(rng.choice(_FONTS))
        self.title_col = _random_colour(rng)
        self.title_scale = _fit_scale(self.title, self.font, 1.8, 3, int(w * 0.9))
        self.cap_font = int(rng.choice(_FONTS[:4]))
        cap = _hsv(float(rng.random()), float(rng.uniform(0.0, 0.5)), 1.0)
        self.cap_col: Colour = (int(cap[0]), int(cap[1]), int(cap[2]))  # light, black outline
        self.transition = str(rng.choice(["fade", "slide", "zoom", "wipe"]))
        self.slide_s = float(rng.uniform(1.8, 3.2))
        self.trans_s = float(rng.uniform(0.3, 0.7))
        self.kb = float(rng.uniform(0.05, 0.15)) * float(rng.choice([-1, 1]))  # Ken Burns zoom
        self.decor = [
            (
                int(rng.integers(3)),
                int(rng.random() * w),
                int(rng.random() * h),
                int(rng.integers(10, 26)),
                _random_colour(rng),
                float(rng.uniform(0, 6)),
            )
            for _ in range(int(rng.integers(4, 10)))
        ]


def _slideshow_frames(
    template_seed: int, clip_seed: int, n_frames: int, fps: int
) -> Iterator[Frame]:
    """A slideshow from a shared template filled with this clip's own pictures and captions."""
    tpl = _SlideTemplate(template_seed)
    rng = _rng(clip_seed, "slides")
    x0, y0, ww, wh = tpl.win
    n_slides = math.ceil(n_frames / fps / tpl.slide_s) + 1
    pic_h, pic_w = int(wh * 1.2), int(ww * 1.2)
    pics: dict[int, np.ndarray] = {}
    captions = [str(rng.choice(_PHRASES)) for _ in range(n_slides)]
    pic_seeds = [_subseed(clip_seed, "pic", k) for k in range(n_slides)]

    def picture(k: int, tau: float) -> np.ndarray:
        if k not in pics:
            if len(pics) > 2:  # only the current and next slide are ever needed
                pics.clear()
            pics[k] = _scene(pic_seeds[k], pic_h, pic_w)
        z = 1.0 + abs(tpl.kb) * (tau if tpl.kb > 0 else 1 - tau)
        s = 1.2 / z  # 1.2 shows the whole (1.2× oversized) picture; larger z zooms in
        m = np.array([[s, 0, (pic_w - ww * s) / 2], [0, s, (pic_h - wh * s) / 2]], np.float32)
        return cv2.warpAffine(pics[k], m, (ww, wh), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)

    for i in range(n_frames):
        t = i / fps
        k = int(t // tpl.slide_s)
        tau = (t - k * tpl.slide_s) / tpl.slide_s
        img = tpl.bg.copy()
        pic = picture(k, tau)
        into = (t - k * tpl.slide_s) - (tpl.slide_s - tpl.trans_s)
        if into > 0:  # transition to the next slide, the same way in every clip of the template
            a = into / tpl.trans_s
            nxt = picture(k + 1, 0.0)
            if tpl.transition == "fade":
                pic = cv2.addWeighted(pic, 1 - a, nxt, a, 0)
            elif tpl.transition == "slide":
                off = int(a * ww)
                pic = np.concatenate([pic[:, off:], nxt[:, :off]], axis=1)
            elif tpl.transition == "wipe":
                pic = pic.copy()
                pic[: int(a * wh)] = nxt[: int(a * wh)]
            else:
                zoomed = cv2.resize(pic, None, fx=1 + a, fy=1 + a)
                zh, zw = zoomed.shape[:2]
                pic = cv2.addWeighted(
                    zoomed[(zh - wh) // 2 :][:wh, (zw - ww) // 2 :][:, :ww], 1 - a, nxt, a, 0
                )
        if tpl.shadow:
            cv2.rectangle(img, (x0 + 12, y0 + 14), (x0 + ww + 12, y0 + wh + 14), (20, 20, 20), -1)
        b = tpl.border
        cv2.rectangle(img, (x0 - b, y0 - b), (x0 + ww + b, y0 + wh + b), tpl.border_col, -1)
        img[y0 : y0 + wh, x0 : x0 + ww] = pic
        (tw, _), _ = cv2.getTextSize(tpl.title, tpl.font, tpl.title_scale, 3)
        _text(
            img,
            tpl.title,
            ((tpl.w - tw) // 2, y0 - b - 40),
            tpl.font,
            tpl.title_scale,
            tpl.title_col,
            3,
            (255, 255, 255),
        )
        cap = captions[k]
        cs = _fit_scale(cap, tpl.cap_font, 1.3, 2, int(tpl.w * 0.85))
        (cw_, _), _ = cv2.getTextSize(cap, tpl.cap_font, cs, 2)
        _text(img, cap, ((tpl.w - cw_) // 2, y0 + wh + b + 60), tpl.cap_font, cs, tpl.cap_col, 2)
        for kind, dx, dy, r, col, ph in tpl.decor:
            rr = int(r * (0.8 + 0.3 * math.sin(3 * t + ph)))  # twinkle
            _emoji(img, kind, (dx, dy), rr, col)
        yield img


def _emoji(img: Frame, kind: int, c: tuple[int, int], r: int, col: Colour) -> None:
    """Emoji-like stickers: smiley, heart or star."""
    x, y = c
    if kind == 0:
        cv2.circle(img, (x, y), r, (255, 204, 40), -1, cv2.LINE_AA)
        cv2.circle(img, (x, y), r, (120, 80, 0), max(1, r // 12), cv2.LINE_AA)
        for sx in (-1, 1):
            cv2.circle(img, (x + sx * r // 3, y - r // 4), max(1, r // 7), (60, 40, 20), -1)
        cv2.ellipse(
            img,
            (x, y + r // 8),
            (r // 2, r // 3),
            0,
            10,
            170,
            (60, 40, 20),
            max(1, r // 8),
            cv2.LINE_AA,
        )
    elif kind == 1:
        for sx in (-1, 1):
            cv2.circle(img, (x + sx * r // 2, y - r // 4), r // 2 + 1, col, -1, cv2.LINE_AA)
        pts = np.array([[x - r, y - r // 6], [x + r, y - r // 6], [x, y + r]], np.int32)
        cv2.fillPoly(img, [pts], col, cv2.LINE_AA)
    else:
        k = np.arange(10)
        rad = np.where(k % 2 == 0, r, r * 0.45)
        pts = np.stack([x + rad * np.sin(k * np.pi / 5), y - rad * np.cos(k * np.pi / 5)], 1)
        cv2.fillPoly(img, [pts.astype(np.int32)], col, cv2.LINE_AA)


def _setting_frames(setting_seed: int, clip_seed: int, n_frames: int, fps: int) -> Iterator[Frame]:
    """One continuous shot in a shared setting; people, props and camera path are the clip's own."""
    ch, cw = _canvas_size(WIDTH, HEIGHT)
    canvas = _scene(
        _subseed(setting_seed, "setting"), ch, cw, ("landscape", "interior", "city", "sea")
    )
    spot = _rng(setting_seed, "spot").uniform(0.1, 0.9, 3)
    rng = _rng(clip_seed, "setting-clip")
    cam = _Camera(rng, canvas, WIDTH, HEIGHT, (float(spot[0]), float(spot[1]), float(spot[2])))
    actors = [_Actor(rng, WIDTH, HEIGHT, "dancer") for _ in range(int(rng.integers(1, 4)))]
    for actor in actors:  # dancers stand on the ground, in the lower half
        actor.path = _Path(rng, WIDTH, HEIGHT, (0.2, 0.55, 0.8, 0.7))
        actor.path.amp *= 0.4
        actor.size = float(rng.uniform(0.1, 0.16) * WIDTH)
    actors += [_Actor(rng, WIDTH, HEIGHT) for _ in range(int(rng.integers(0, 3)))]
    texts = [_Caption(rng, WIDTH, HEIGHT) for _ in range(int(rng.integers(0, 2)))]
    grade = rng.uniform(0.92, 1.08, 3).astype(np.float32)  # a different phone / time of day
    lut = np.clip(np.arange(256, dtype=np.float32)[:, None] * grade[None, :], 0, 255)
    lut = np.ascontiguousarray(lut.astype(np.uint8)[:, None, :])  # cv2.LUT's per-channel layout
    for i in range(n_frames):
        t = i / fps
        frame = cam.render(i / max(1, n_frames - 1), t)
        frame = cv2.LUT(frame, lut)
        for actor in actors:
            actor.draw(frame, t)
        for cap in texts:
            cap.draw(frame, t)
        yield frame


# --- encoding / decoding ------------------------------------------------------------------------


class _Writer:
    """An H.264 MP4 writer fed RGB frames (converted with cv2, faster than swscale here)."""

    def __init__(
        self,
        path: Path,
        fps: int,
        size: tuple[int, int],
        crf: int,
        gop: int,
        preset: str = "ultrafast",
    ) -> None:
        self.path, self.size, self.fps = path, size, fps
        path.parent.mkdir(parents=True, exist_ok=True)
        self.out = av.open(str(path), "w", format="mp4")
        self.stream = self.out.add_stream("libx264", rate=fps)
        self.stream.width, self.stream.height = size
        self.stream.pix_fmt = "yuv420p"
        self.stream.codec_context.gop_size = gop
        self.stream.options = {"crf": str(crf), "preset": preset}
        self.n = 0

    def write(self, rgb: Frame) -> None:
        if rgb.shape[1::-1] != self.size:
            raise ValueError(f"frame {rgb.shape[1::-1]} != stream {self.size}")
        yuv = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2YUV_I420)
        frame = av.VideoFrame.from_ndarray(np.asarray(yuv, np.uint8), format="yuv420p")
        frame.pts = self.n
        self.n += 1
        for packet in self.stream.encode(frame):
            self.out.mux(packet)

    def close(self) -> ClipInfo:
        for packet in self.stream.encode():
            self.out.mux(packet)
        self.out.close()
        return ClipInfo(self.path, self.size[0], self.size[1], self.n, self.fps)


def _write(
    path: Path, frames: Iterable[Frame], fps: int, size: tuple[int, int], crf: int, gop: int
) -> ClipInfo:
    writer = _Writer(path, fps, size, crf, gop)
    try:
        for f in frames:
            writer.write(f)
    finally:
        info = writer.close()
    return info


def read_frames(path: Path) -> Iterator[Frame]:
    """Decode a clip to RGB uint8 frames (cv2 conversion, matching how they were written)."""
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            yuv = frame.to_ndarray(format="yuv420p")
            yield cv2.cvtColor(yuv, cv2.COLOR_YUV2RGB_I420)


def probe(path: Path) -> ClipInfo:
    """Frame size, frame count (by decoding) and rate of a clip."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        fps = round(float(rate)) if rate else 0
        # MP4 stores the frame count; decode to count only when a container does not
        n = stream.frames or sum(1 for _ in container.decode(video=0))
        return ClipInfo(path, stream.codec_context.width, stream.codec_context.height, n, fps)


def _n_frames(duration_s: float, fps: int) -> int:
    return max(1, round(duration_s * fps))


def make_source_clip(
    path: Path, seed: int, duration_s: float = 20.0, fps: int = 15, crf: int = 22
) -> ClipInfo:
    """An original 540×960 clip: 1–4 cuts between procedural scenes, camera moves, actors, text."""
    frames = _source_frames(seed, _n_frames(duration_s, fps), fps)
    return _write(path, frames, fps, (WIDTH, HEIGHT), crf, 2 * fps)


def make_person_clip(path: Path, seed: int, duration_s: float = 15.0, fps: int = 15) -> ClipInfo:
    """An unrelated talking-head clip (a vlog or reaction), 540×960."""
    frames = _person_frames(seed, _n_frames(duration_s, fps), fps)
    return _write(path, frames, fps, (WIDTH, HEIGHT), 23, 2 * fps)


def make_slideshow_clip(
    path: Path, template_seed: int, seed: int, duration_s: float = 12.0, fps: int = 15
) -> ClipInfo:
    """A slideshow from template `template_seed` with pictures/captions drawn from `seed`."""
    frames = _slideshow_frames(template_seed, seed, _n_frames(duration_s, fps), fps)
    return _write(path, frames, fps, (WIDTH, HEIGHT), 23, 2 * fps)


def make_setting_clip(
    path: Path, setting_seed: int, seed: int, duration_s: float = 12.0, fps: int = 15
) -> ClipInfo:
    """A clip shot in setting `setting_seed` with dancers, props and camera path from `seed`."""
    frames = _setting_frames(setting_seed, seed, _n_frames(duration_s, fps), fps)
    return _write(path, frames, fps, (WIDTH, HEIGHT), 23, 2 * fps)


# --- edits --------------------------------------------------------------------------------------


class _Edit:
    """A streaming edit: sees source frames in order, emits zero or more output frames each."""

    def __init__(self, rng: np.random.Generator, fps: int, w: int, h: int) -> None:
        self.fps, self.w, self.h = fps, w, h
        self.size = (w, h)
        self.crf = int(rng.integers(24, 30))  # platforms re-encode every upload
        self.gop = 2 * fps
        self.preset = "ultrafast"

    def push(self, i: int, frame: Frame) -> list[Frame]:
        return [self.apply(i, frame)]

    def apply(self, i: int, frame: Frame) -> Frame:
        return frame


class _Reencode(_Edit):
    def __init__(self, rng: np.random.Generator, fps: int, w: int, h: int) -> None:
        super().__init__(rng, fps, w, h)
        self.crf = int(rng.integers(32, 38))
        self.gop = int(rng.choice([5, 8, 10])) * fps
        self.preset = "superfast"  # another encoder's decisions, not just another quantiser


class _HalfSize(_Edit):
    def __init__(self, rng: np.random.Generator, fps: int, w: int, h: int) -> None:
        super().__init__(rng, fps, w, h)
        self.size = (_even(w / 2), _even(h / 2))

    def apply(self, i: int, frame: Frame) -> Frame:
        return cv2.resize(frame, self.size, interpolation=cv2.INTER_AREA)


class _Crop10(_Edit):
    """Cut 10% of width and height (split randomly between the sides), scale back up."""

    def __init__(self, rng: np.random.Generator, fps: int, w: int, h: int) -> None:
        super().__init__(rng, fps, w, h)
        cw, ch = round(0.9 * w), round(0.9 * h)
        x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        self.box = (x0, y0, cw, ch)

    def apply(self, i: int, frame: Frame) -> Frame:
        x0, y0, cw, ch = self.box
        return cv2.resize(
            frame[y0 : y0 + ch, x0 : x0 + cw], self.size, interpolation=cv2.INTER_LINEAR
        )


class _BlackBars(_Edit):
    """Content shrunk (aspect kept) onto black: bars on all sides, not always centred."""

    def __init__(self, rng: np.random.Generator, fps: int, w: int, h: int) -> None:
        super().__init__(rng, fps, w, h)
        s = float(rng.uniform(0.66, 0.88))
        self.inner = (_even(w * s), _even(h * s))
        self.x0 = (w - self.inner[0]) // 2
        self.y0 = int((h - self.inner[1]) * rng.uniform(0.25, 0.75))

    def apply(self, i: int, frame: Frame) -> Frame:
        iw, ih = self.inner
        # INTER_AREA is ~4× slower at non-integer factors and looks the same at ≥ 0.5×
        small = cv2.resize(frame, self.inner, interpolation=cv2.INTER_LINEAR)
        top, left = self.y0, self.x0
        return cv2.copyMakeBorder(
            small,
            top,
            self.h - ih - top,
            left,
            self.w - iw - left,
            cv2.BORDER_CONSTANT,
            value=(0, 0, 0),
        )


class _TextOverlay(_Edit):
    """A re-uploader's caption lines (boxed or outlined) and bobbing emoji-like stickers."""

    def __init__(self, rng: np.random.Generator, fps: int, w: int, h: int) -> None:
        super().__init__(rng, fps, w, h)
        self.lines: list[tuple[str, int, float, int, int, Colour, bool, float]] = []
        band = float(rng.choice([0.12, 0.45, 0.75]))
        for k in range(int(rng.integers(1, 4))):
            text = " ".join(rng.choice(_PHRASES, int(rng.integers(1, 3))))
            font = int(rng.choice(_FONTS[:4]))
            scale = _fit_scale(text, font, float(rng.uniform(1.0, 1.6)), 3, int(w * 0.88))
            y = int((band + 0.06 * k) * h)
            self.lines.append(
                (
                    text,
                    font,
                    scale,
                    3,
                    y,
                    _random_colour(rng, (0.0, 0.5)),
                    bool(rng.random() < 0.5),
                    float(rng.uniform(0, 2)) * (k > 0),
                )
            )
        self.stickers = [
            (
                int(rng.integers(3)),
                int(rng.uniform(0.1, 0.9) * w),
                int((band + rng.uniform(-0.08, 0.2)) * h),
                int(rng.integers(22, 46)),
                _random_colour(rng),
                float(rng.uniform(0, 6)),
            )
            for _ in range(int(rng.integers(1, 5)))
        ]

    def apply(self, i: int, frame: Frame) -> Frame:
        img = frame.copy()
        t = i / self.fps
        for text, font, scale, thick, y, col, boxed, on in self.lines:
            if t < on:
                continue
            (tw, th), base = cv2.getTextSize(text, font, scale, thick)
            x = (self.w - tw) // 2
            if boxed:  # the semi-transparent caption box of an in-app editor
                y0, y1 = max(0, y - th - 12), min(self.h, y + base + 10)
                x0, x1 = max(0, x - 14), min(self.w, x + tw + 14)
                img[y0:y1, x0:x1] = (img[y0:y1, x0:x1] * 0.35).astype(np.uint8)
                _text(img, text, (x, y), font, scale, (255, 255, 255), thick, None)
            else:
                _text(img, text, (x, y), font, scale, col, thick)
        for kind, x, y, r, col, ph in self.stickers:
            _emoji(img, kind, (x, y + int(6 * math.sin(4 * t + ph))), r, col)
        return img


class _Logo(_Edit):
    """A translucent corner watermark that jumps to another corner every few seconds."""

    def __init__(self, rng: np.random.Generator, fps: int, w: int, h: int) -> None:
        super().__init__(rng, fps, w, h)
        handle = "@" + "".join(
            rng.choice(list("abcdefghijklmnopqrstuvwxyz0123456789_"), int(rng.integers(5, 11)))
        )
        font, scale = cv2.FONT_HERSHEY_SIMPLEX, float(rng.uniform(0.55, 0.8))
        (tw, th), _ = cv2.getTextSize(handle, font, scale, 2)
        pw, ph = tw + th * 3 + 20, th * 3
        rgb = np.zeros((ph, pw, 3), np.uint8)
        alpha = np.zeros((ph, pw), np.uint8)  # cv2 draws text on 8-bit images only
        cv2.rectangle(alpha, (0, 0), (pw - 1, ph - 1), 115, -1)
        r = ph // 2 - 4
        cv2.circle(rgb, (ph // 2, ph // 2), r, _random_colour(rng, (0.6, 1.0)), -1, cv2.LINE_AA)
        cv2.circle(alpha, (ph // 2, ph // 2), r, 230, -1, cv2.LINE_AA)
        tri = np.array(
            [
                [ph // 2 - r // 3, ph // 2 - r // 2],
                [ph // 2 - r // 3, ph // 2 + r // 2],
                [ph // 2 + r // 2, ph // 2],
            ],
            np.int32,
        )
        cv2.fillPoly(rgb, [tri], (255, 255, 255), cv2.LINE_AA)
        cv2.putText(
            rgb, handle, (ph + 6, ph // 2 + th // 2), font, scale, (255, 255, 255), 2, cv2.LINE_AA
        )
        cv2.putText(alpha, handle, (ph + 6, ph // 2 + th // 2), font, scale, 217, 2, cv2.LINE_AA)
        self.rgb, self.alpha = rgb.astype(np.float32), alpha[..., None].astype(np.float32) / 255
        m = 16
        corners = [(m, m), (w - pw - m, m), (m, h - ph - m - 60), (w - pw - m, h - ph - m - 60)]
        order = rng.permutation(4)
        self.corners = [corners[int(k)] for k in order]
        self.hop_s = float(rng.uniform(3, 8)) if rng.random() < 0.5 else 1e9

    def apply(self, i: int, frame: Frame) -> Frame:
        img = frame.copy()
        x, y = self.corners[int(i / self.fps / self.hop_s) % 4]
        ph, pw = self.alpha.shape[:2]
        roi = img[y : y + ph, x : x + pw].astype(np.float32)
        img[y : y + ph, x : x + pw] = (roi + (self.rgb - roi) * self.alpha).astype(np.uint8)
        return img


class _Greyscale(_Edit):
    def apply(self, i: int, frame: Frame) -> Frame:
        return cv2.cvtColor(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)


class _Mirror(_Edit):
    def apply(self, i: int, frame: Frame) -> Frame:
        return cv2.flip(frame, 1)


class _Trim(_Edit):
    """Drop the first 3 s (or fewer, so that at least 1 s remains of very short sources)."""

    SECONDS = 3.0

    def __init__(self, rng: np.random.Generator, fps: int, w: int, h: int, n_src: int) -> None:
        super().__init__(rng, fps, w, h)
        self.skip = min(round(self.SECONDS * fps), max(0, n_src - fps))

    def push(self, i: int, frame: Frame) -> list[Frame]:
        return [] if i < self.skip else [frame]


class _Speed(_Edit):
    """Play `speed`× as fast at the same frame rate: output frame j shows source frame j·speed."""

    def __init__(self, rng: np.random.Generator, fps: int, w: int, h: int, speed: float) -> None:
        super().__init__(rng, fps, w, h)
        self.speed, self.j = speed, 0

    def push(self, i: int, frame: Frame) -> list[Frame]:
        out = []
        # nearest source frame, as platforms' speed tools drop or repeat frames
        while math.floor(self.j * self.speed + 0.5) <= i:
            if math.floor(self.j * self.speed + 0.5) == i:
                out.append(frame)
            self.j += 1
        return out


class _PipReaction(_Edit):
    """The source beside, above or inside an unrelated reaction video (duet, stitch, PiP)."""

    def __init__(self, rng: np.random.Generator, fps: int, w: int, h: int, seed: int) -> None:
        super().__init__(rng, fps, w, h)
        self.layout = str(rng.choice(["duet", "stack", "pip"]))
        left = bool(rng.random() < 0.5)
        if self.layout == "duet":  # two 9:16 halves side by side, black above and below
            hw, hh = _even(w / 2), _even(h / 2)
            y0 = (h - hh) // 2
            self.src_box = (0 if left else w - hw, y0, hw, hh)
            self.person_box = (w - hw if left else 0, y0, hw, hh)
        elif self.layout == "stack":  # source fitted in one half over a blurred copy of itself
            hh = _even(h / 2)
            top = bool(rng.random() < 0.5)
            self.src_box = (0, 0 if top else h - hh, w, hh)
            self.person_box = (0, h - hh if top else 0, w, hh)
        else:  # person fills the frame, source in a corner window
            s = float(rng.uniform(0.42, 0.6))
            sw, sh = _even(w * s), _even(h * s)
            self.src_box = (16 if left else w - sw - 16, int(rng.uniform(0.05, 0.4) * h), sw, sh)
            self.person_box = (0, 0, w, h)
        self.person = _PersonVideo(seed, self.person_box[2], self.person_box[3], fps)

    def apply(self, i: int, frame: Frame) -> Frame:
        out = np.zeros((self.h, self.w, 3), np.uint8)
        px, py, pw, ph = self.person_box
        out[py : py + ph, px : px + pw] = self.person.frame(i)
        sx, sy, sw, sh = self.src_box
        if self.layout == "stack":
            bg = cv2.resize(frame, (sw // 8, int(sw / 8 * frame.shape[0] / frame.shape[1])))
            bg = cv2.resize(
                cv2.GaussianBlur(bg, (0, 0), 3), (sw, sw * frame.shape[0] // frame.shape[1])
            )
            off = (bg.shape[0] - sh) // 2
            region = (bg[off : off + sh] * 0.6).astype(np.uint8)
            fw = _even(sh * frame.shape[1] / frame.shape[0])
            x = (sw - fw) // 2
            region[:, x : x + fw] = cv2.resize(frame, (fw, sh), interpolation=cv2.INTER_LINEAR)
            out[sy : sy + sh, sx : sx + sw] = region
        else:
            if self.layout == "pip":
                cv2.rectangle(
                    out, (sx - 4, sy - 4), (sx + sw + 3, sy + sh + 3), (255, 255, 255), -1
                )
            out[sy : sy + sh, sx : sx + sw] = cv2.resize(
                frame, (sw, sh), interpolation=cv2.INTER_LINEAR
            )
        return out


def _make_edit(
    name: str, rng: np.random.Generator, fps: int, w: int, h: int, n_src: int, seed: int
) -> _Edit:
    simple: dict[str, type[_Edit]] = {
        "reencode": _Reencode,
        "half_size": _HalfSize,
        "crop10": _Crop10,
        "black_bars": _BlackBars,
        "text_overlay": _TextOverlay,
        "logo": _Logo,
        "greyscale": _Greyscale,
        "mirror": _Mirror,
    }
    if name in simple:
        return simple[name](rng, fps, w, h)
    if name == "trim3":
        return _Trim(rng, fps, w, h, n_src)
    if name == "speed_0_8":
        return _Speed(rng, fps, w, h, 0.8)
    if name == "speed_1_25":
        return _Speed(rng, fps, w, h, 1.25)
    if name == "pip_reaction":
        return _PipReaction(rng, fps, w, h, _subseed(seed, "reaction"))
    raise ValueError(f"unknown edit {name!r}; known: {', '.join(EDITS)}")


def apply_edits(src: Path, targets: Mapping[str, Path], seed: int = 0) -> dict[str, ClipInfo]:
    """Write each edit of `src` to its target path, decoding the source only once."""
    info = probe(src)
    edits = {
        name: _make_edit(
            name, _rng(seed, "edit", name), info.fps, info.width, info.height, info.n_frames, seed
        )
        for name in targets
    }
    writers = {
        name: _Writer(targets[name], info.fps, e.size, e.crf, e.gop, e.preset)
        for name, e in edits.items()
    }
    try:
        for i, frame in enumerate(read_frames(src)):
            for name, e in edits.items():
                for out in e.push(i, frame):
                    writers[name].write(out)
    finally:
        infos = {name: w.close() for name, w in writers.items()}
    return infos


def _edit_fn(name: str) -> Callable[[Path, Path, int], ClipInfo]:
    def run(src: Path, dst: Path, seed: int = 0) -> ClipInfo:
        return apply_edits(src, {name: dst}, seed)[name]

    run.__name__ = name
    run.__doc__ = f"Write the `{name}` edit of clip `src` to `dst`."
    return run


reencode = _edit_fn("reencode")
half_size = _edit_fn("half_size")
crop10 = _edit_fn("crop10")
black_bars = _edit_fn("black_bars")
text_overlay = _edit_fn("text_overlay")
logo = _edit_fn("logo")
greyscale = _edit_fn("greyscale")
mirror = _edit_fn("mirror")
trim3 = _edit_fn("trim3")
speed_0_8 = _edit_fn("speed_0_8")
speed_1_25 = _edit_fn("speed_1_25")
pip_reaction = _edit_fn("pip_reaction")


# --- corpus -------------------------------------------------------------------------------------


def _durations(rng: np.random.Generator, n: int, min_s: float, max_s: float) -> np.ndarray:
    """Lognormal durations (median 14 s, mostly 8–25 s) truncated to [min_s, max_s]."""
    dist = NormalDist(math.log(14.0), 0.4)
    lo, hi = dist.cdf(math.log(min_s)), dist.cdf(math.log(max_s))
    u = lo + (hi - lo) * rng.random(n)
    u = np.clip(u, 1e-12, 1 - 1e-12)
    return np.array([math.exp(dist.inv_cdf(float(x))) for x in u])


def _group_sizes(rng: np.random.Generator, total: int) -> list[int]:
    sizes: list[int] = []
    while sum(sizes) < total:
        sizes.append(min(int(rng.integers(3, 6)), total - sum(sizes)))
    if len(sizes) > 1 and sizes[-1] < 2:  # a one-clip group has nothing to look like
        sizes[-2] += sizes.pop()
    return sizes


@dataclass(frozen=True)
class _Job:
    kind: str  # source | distractor | lookalike_slideshow | lookalike_setting
    clip_id: str
    seed: int
    duration_s: float
    group: str | None = None
    group_seed: int = 0
    person: bool = False


def _run_job(job: _Job, out_dir: Path, fps: int, edits: Sequence[str]) -> list[dict[str, Any]]:
    path = out_dir / "videos" / f"{job.clip_id}.mp4"
    rel = f"videos/{job.clip_id}.mp4"

    def row(
        info: ClipInfo,
        clip_id: str,
        rel_path: str,
        edit: str,
        source: str | None,
        group: str | None,
    ) -> dict[str, Any]:
        return {
            "clip_id": clip_id,
            "path": rel_path,
            "source_id": source,
            "edit": edit,
            "group": group,
            "duration_s": info.duration_s,
            "width": info.width,
            "height": info.height,
        }

    if job.kind == "source":
        info = make_source_clip(path, job.seed, job.duration_s, fps)
        rows = [row(info, job.clip_id, rel, "original", job.clip_id, job.clip_id)]
        targets = {e: out_dir / "videos" / f"{job.clip_id}-{e}.mp4" for e in edits}
        for e, einfo in apply_edits(path, targets, job.seed).items():
            rows.append(
                row(
                    einfo,
                    f"{job.clip_id}-{e}",
                    f"videos/{job.clip_id}-{e}.mp4",
                    e,
                    job.clip_id,
                    job.clip_id,
                )
            )
        return rows
    if job.kind == "lookalike_slideshow":
        info = make_slideshow_clip(path, job.group_seed, job.seed, job.duration_s, fps)
    elif job.kind == "lookalike_setting":
        info = make_setting_clip(path, job.group_seed, job.seed, job.duration_s, fps)
    elif job.person:
        info = make_person_clip(path, job.seed, job.duration_s, fps)
    else:
        info = make_source_clip(path, job.seed, job.duration_s, fps, crf=23)
    return [row(info, job.clip_id, rel, job.kind, None, job.group)]


def _plan(n_sources: int, n_distractors: int, seed: int, min_s: float, max_s: float) -> list[_Job]:
    rng = _rng(seed, "plan")
    dur = _durations(rng, n_sources + n_distractors, min_s, max_s)
    jobs = [
        _Job("source", f"s{i:04d}", _subseed(seed, "source", i), float(dur[i]))
        for i in range(n_sources)
    ]
    n_slide = round(0.2 * n_distractors)
    n_set = round(0.2 * n_distractors)
    n_plain = n_distractors - n_slide - n_set
    d = iter(dur[n_sources:].tolist())
    for j in range(n_plain):
        jobs.append(
            _Job(
                "distractor",
                f"d{j:04d}",
                _subseed(seed, "distractor", j),
                next(d),
                person=bool(rng.random() < 0.3),
            )
        )
    for kind, tag, n in (("lookalike_slideshow", "t", n_slide), ("lookalike_setting", "g", n_set)):
        for g, size in enumerate(_group_sizes(rng, n) if n else []):
            group = f"{tag}{g:03d}"
            for m in range(size):
                jobs.append(
                    _Job(
                        kind,
                        f"{group}-{m}",
                        _subseed(seed, kind, g, m),
                        next(d),
                        group,
                        _subseed(seed, kind, g),
                    )
                )
    return jobs


def synthesize_corpus(
    out_dir: Path,
    n_sources: int,
    n_distractors: int,
    seed: int,
    fps: int = 15,
    min_s: float = 5,
    max_s: float = 60,
    edits: list[str] | None = None,
    progress: Callable[[int], None] | None = None,
    workers: int = 1,
) -> Path:
    """Write `out_dir/videos/*.mp4` and `out_dir/corpus.parquet`; returns the parquet path.

    Each source gets every edit in `edits` (default: all of `EDITS`). Durations are lognormal
    (median 14 s) truncated to [min_s, max_s]; `trim3` keeps at least 1 s of very short sources.
    Of the distractors, 20% are template slideshows and 20% same-setting clips, in groups of 3–5.
    `progress(n)` is called with the number of clips just written. `workers` > 1 renders clips
    in that many processes (the output does not depend on it).
    """
    edits = list(EDITS) if edits is None else list(edits)
    unknown = sorted(set(edits) - set(EDITS))
    if unknown:
        raise ValueError(f"unknown edits {unknown}; known: {', '.join(EDITS)}")
    if not 0 < min_s <= max_s:
        raise ValueError("need 0 < min_s <= max_s")
    (out_dir / "videos").mkdir(parents=True, exist_ok=True)
    jobs = _plan(n_sources, n_distractors, seed, min_s, max_s)
    results: list[list[dict[str, Any]]] = []
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            futures = [pool.submit(_run_job, job, out_dir, fps, edits) for job in jobs]
            for fut in futures:
                results.append(fut.result())
                if progress:
                    progress(len(results[-1]))
    else:
        for job in jobs:
            results.append(_run_job(job, out_dir, fps, edits))
            if progress:
                progress(len(results[-1]))
    corpus = pl.DataFrame([r for rows in results for r in rows], schema=CORPUS_SCHEMA)
    path = out_dir / "corpus.parquet"
    corpus.write_parquet(path)
    return path
