"""What moves over a frame: trajectories, captions, faces, dancers, props and stickers."""

from __future__ import annotations

import math

import cv2
import numpy as np

from synth.video.images import Colour, Frame, random_colour, skin_tone

PHRASES = (
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
FONTS = (
    cv2.FONT_HERSHEY_SIMPLEX,
    cv2.FONT_HERSHEY_DUPLEX,
    cv2.FONT_HERSHEY_TRIPLEX,
    cv2.FONT_HERSHEY_COMPLEX,
    cv2.FONT_HERSHEY_SCRIPT_COMPLEX,
)


class Trajectory:
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


def put_text(
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


def fit_scale(text: str, font: int, scale: float, thickness: int, max_w: int) -> float:
    (tw, _), _ = cv2.getTextSize(text, font, scale, thickness + 4)
    return scale * min(1.0, max_w / max(tw, 1))


def face(
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


class Actor:
    """Something that moves over the frame: a person, a dancer, a ball, a box or a star."""

    def __init__(self, rng: np.random.Generator, w: int, h: int, kind: str | None = None) -> None:
        self.kind = kind or str(rng.choice(["face", "ball", "box", "star", "face", "ball"]))
        self.path = Trajectory(rng, w, h, (0.1, 0.15, 0.9, 0.85))
        self.size = float(rng.uniform(0.06, 0.16) * w)
        self.colour = random_colour(rng)
        self.skin = skin_tone(rng)
        self.hair = random_colour(rng, (0.2, 0.6)) if rng.random() < 0.3 else (30, 22, 18)
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
            face(img, (x, y), s, self.skin, self.hair, t + self.phase, 1.0)
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
        face(img, (neck[0], neck[1] - int(head_r * 1.1)), head_r, self.skin, self.hair, t, 0.2)


class Caption:
    """Creator text burnt into a clip, optionally only for a while and drifting slowly."""

    def __init__(self, rng: np.random.Generator, w: int, h: int, text: str | None = None) -> None:
        self.text = text or str(rng.choice(PHRASES))
        if rng.random() < 0.3:
            self.text = self.text.upper()
        self.font = int(rng.choice(FONTS[:4]))
        self.thick = int(rng.integers(2, 4))
        self.scale = fit_scale(
            self.text, self.font, float(rng.uniform(0.9, 1.7)), self.thick, int(w * 0.9)
        )
        (tw, _), _ = cv2.getTextSize(self.text, self.font, self.scale, self.thick)
        self.org = (int(rng.uniform(0.03, 0.97) * max(1, w - tw)), int(rng.uniform(0.1, 0.92) * h))
        self.colour = random_colour(rng, (0.0, 0.8))
        self.drift = rng.normal(0, 4, 2)
        self.on, self.off = float(rng.uniform(0, 1.5)), float(rng.uniform(4, 60))

    def draw(self, img: Frame, t: float) -> None:
        if self.on <= t < self.off:
            org = (int(self.org[0] + self.drift[0] * t), int(self.org[1] + self.drift[1] * t))
            put_text(img, self.text, org, self.font, self.scale, self.colour, self.thick)


def emoji(img: Frame, kind: int, c: tuple[int, int], r: int, col: Colour) -> None:
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
