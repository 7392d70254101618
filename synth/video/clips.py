"""Frame iterators of whole clips: a creator's source, a talking head, a template slideshow,
a shot in a shared setting."""

from __future__ import annotations

import math
from collections.abc import Iterator

import cv2
import numpy as np

from synth.video.actors import (
    FONTS,
    PHRASES,
    Actor,
    Caption,
    Trajectory,
    emoji,
    face,
    fit_scale,
    put_text,
)
from synth.video.camera import Camera, canvas_size
from synth.video.images import Colour, Frame, hsv, random_colour, scene, skin_tone, vgrad
from synth.video.rng import keyed_rng, subseed

WIDTH, HEIGHT = 540, 960
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


def source_frames(
    seed: int, n_frames: int, fps: int, w: int = WIDTH, h: int = HEIGHT
) -> Iterator[Frame]:
    """A creator's clip: several shots of different scenes, moving camera, actors and text."""
    rng = keyed_rng(seed, "source")
    starts = [*_cut_points(rng, n_frames, fps), n_frames]
    ch, cw = canvas_size(w, h)
    overlay = Caption(rng, w, h) if rng.random() < 0.5 else None  # persists across cuts
    if overlay is not None:
        overlay.on, overlay.off, overlay.drift[:] = 0.0, 1e9, 0.0
    for k in range(len(starts) - 1):
        srng = keyed_rng(seed, "shot", k)
        canvas = scene(subseed(seed, "canvas", k), ch, cw)
        cam = Camera(srng, canvas, w, h)
        actors = [Actor(srng, w, h) for _ in range(int(srng.integers(1, 5)))]
        texts = [Caption(srng, w, h) for _ in range(int(srng.integers(0, 3)))]
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


class PersonVideo:
    """A talking-head/upper-body video (reactions, vlogs) rendered on demand, frame by frame."""

    def __init__(self, seed: int, w: int, h: int, fps: int) -> None:
        rng = keyed_rng(seed, "person")
        self.w, self.h, self.fps = w, h, fps
        ch, cw = int(h * 1.2), int(w * 1.2)
        self.cam = Camera(
            rng, scene(subseed(seed, "room"), ch, cw, ("interior", "city", "flowers")), w, h
        )
        self.cam.shake = 1.0
        self.r = int(min(w * 0.26, h * 0.16) * rng.uniform(0.9, 1.2))
        self.skin = skin_tone(rng)
        self.hair = (30, 22, 18) if rng.random() < 0.7 else random_colour(rng, (0.2, 0.6))
        self.shirt = random_colour(rng)
        self.x = w * rng.uniform(0.4, 0.6)
        self.f = rng.uniform(0.2, 0.5, 3)
        self.caption = Caption(rng, w, h) if rng.random() < 0.4 else None

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
        face(img, (x, y), r, self.skin, self.hair, t, 1.0)
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


def person_frames(seed: int, n_frames: int, fps: int) -> Iterator[Frame]:
    video = PersonVideo(seed, WIDTH, HEIGHT, fps)
    for i in range(n_frames):
        yield video.frame(i)


class SlideTemplate:
    """A slideshow app template: background, picture frame, title, fonts, decorations, timing.

    Clips made from one template differ only in their pictures and per-slide captions.
    """

    def __init__(self, seed: int, w: int = WIDTH, h: int = HEIGHT) -> None:
        rng = keyed_rng(seed, "template")
        self.w, self.h = w, h
        c1, c2 = hsv(rng.random(), 0.5, 0.9), hsv(rng.random(), 0.6, 0.5)
        bg = vgrad(h, w, c1, c2)
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
        self.border_col = random_colour(rng, (0.0, 0.3))
        self.shadow = bool(rng.random() < 0.7)
        self.title = str(rng.choice(_TEMPLATE_TITLES))
        self.font = int(rng.choice(FONTS))
        self.title_col = random_colour(rng)
        self.title_scale = fit_scale(self.title, self.font, 1.8, 3, int(w * 0.9))
        self.cap_font = int(rng.choice(FONTS[:4]))
        cap = hsv(float(rng.random()), float(rng.uniform(0.0, 0.5)), 1.0)
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
                random_colour(rng),
                float(rng.uniform(0, 6)),
            )
            for _ in range(int(rng.integers(4, 10)))
        ]


def slideshow_frames(
    template_seed: int, clip_seed: int, n_frames: int, fps: int
) -> Iterator[Frame]:
    """A slideshow from a shared template filled with this clip's own pictures and captions."""
    tpl = SlideTemplate(template_seed)
    rng = keyed_rng(clip_seed, "slides")
    x0, y0, ww, wh = tpl.win
    n_slides = math.ceil(n_frames / fps / tpl.slide_s) + 1
    pic_h, pic_w = int(wh * 1.2), int(ww * 1.2)
    pics: dict[int, np.ndarray] = {}
    captions = [str(rng.choice(PHRASES)) for _ in range(n_slides)]
    pic_seeds = [subseed(clip_seed, "pic", k) for k in range(n_slides)]

    def picture(k: int, tau: float) -> np.ndarray:
        if k not in pics:
            if len(pics) > 2:  # only the current and next slide are ever needed
                pics.clear()
            pics[k] = scene(pic_seeds[k], pic_h, pic_w)
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
        put_text(
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
        cs = fit_scale(cap, tpl.cap_font, 1.3, 2, int(tpl.w * 0.85))
        (cw_, _), _ = cv2.getTextSize(cap, tpl.cap_font, cs, 2)
        put_text(img, cap, ((tpl.w - cw_) // 2, y0 + wh + b + 60), tpl.cap_font, cs, tpl.cap_col, 2)
        for kind, dx, dy, r, col, ph in tpl.decor:
            rr = int(r * (0.8 + 0.3 * math.sin(3 * t + ph)))  # twinkle
            emoji(img, kind, (dx, dy), rr, col)
        yield img


def setting_frames(setting_seed: int, clip_seed: int, n_frames: int, fps: int) -> Iterator[Frame]:
    """One continuous shot in a shared setting; people, props and camera path are the clip's own."""
    ch, cw = canvas_size(WIDTH, HEIGHT)
    canvas = scene(
        subseed(setting_seed, "setting"), ch, cw, ("landscape", "interior", "city", "sea")
    )
    spot = keyed_rng(setting_seed, "spot").uniform(0.1, 0.9, 3)
    rng = keyed_rng(clip_seed, "setting-clip")
    cam = Camera(rng, canvas, WIDTH, HEIGHT, (float(spot[0]), float(spot[1]), float(spot[2])))
    actors = [Actor(rng, WIDTH, HEIGHT, "dancer") for _ in range(int(rng.integers(1, 4)))]
    for actor in actors:  # dancers stand on the ground, in the lower half
        actor.path = Trajectory(rng, WIDTH, HEIGHT, (0.2, 0.55, 0.8, 0.7))
        actor.path.amp *= 0.4
        actor.size = float(rng.uniform(0.1, 0.16) * WIDTH)
    actors += [Actor(rng, WIDTH, HEIGHT) for _ in range(int(rng.integers(0, 3)))]
    texts = [Caption(rng, WIDTH, HEIGHT) for _ in range(int(rng.integers(0, 2)))]
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
