"""The edits a platform sees in re-uploads, streamed frame by frame (`EDITS`, `apply_edits`)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path

import cv2
import numpy as np

from synth.video.actors import FONTS, PHRASES, emoji, fit_scale, put_text
from synth.video.clips import PersonVideo
from synth.video.codec import ClipInfo, Writer, probe, read_frames
from synth.video.images import Colour, Frame, random_colour
from synth.video.rng import keyed_rng, subseed

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


def _even(x: float) -> int:
    # yuv420p needs even frame sizes
    return max(2, round(x / 2) * 2)


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
            text = " ".join(rng.choice(PHRASES, int(rng.integers(1, 3))))
            font = int(rng.choice(FONTS[:4]))
            scale = fit_scale(text, font, float(rng.uniform(1.0, 1.6)), 3, int(w * 0.88))
            y = int((band + 0.06 * k) * h)
            self.lines.append(
                (
                    text,
                    font,
                    scale,
                    3,
                    y,
                    random_colour(rng, (0.0, 0.5)),
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
                random_colour(rng),
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
                put_text(img, text, (x, y), font, scale, (255, 255, 255), thick, None)
            else:
                put_text(img, text, (x, y), font, scale, col, thick)
        for kind, x, y, r, col, ph in self.stickers:
            emoji(img, kind, (x, y + int(6 * math.sin(4 * t + ph))), r, col)
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
        cv2.circle(rgb, (ph // 2, ph // 2), r, random_colour(rng, (0.6, 1.0)), -1, cv2.LINE_AA)
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
        self.person = PersonVideo(seed, self.person_box[2], self.person_box[3], fps)

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
        return _PipReaction(rng, fps, w, h, subseed(seed, "reaction"))
    raise ValueError(f"unknown edit {name!r}; known: {', '.join(EDITS)}")


def apply_edits(src: Path, targets: Mapping[str, Path], seed: int = 0) -> dict[str, ClipInfo]:
    """Write each edit of `src` to its target path, decoding the source only once."""
    info = probe(src)
    edits = {
        name: _make_edit(
            name,
            keyed_rng(seed, "edit", name),
            info.fps,
            info.width,
            info.height,
            info.n_frames,
            seed,
        )
        for name in targets
    }
    writers = {
        name: Writer(targets[name], info.fps, e.size, e.crf, e.gop, e.preset)
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
