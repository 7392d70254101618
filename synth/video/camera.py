"""A virtual camera panning and zooming over a scene canvas larger than the frame."""

from __future__ import annotations

import math

import cv2
import numpy as np

from synth.video.images import Frame

CANVAS_SCALE = 1.5  # scene canvases are this much larger than the frame: room to pan and zoom


class Camera:
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


def canvas_size(w: int, h: int) -> tuple[int, int]:
    return int(h * CANVAS_SCALE), int(w * CANVAS_SCALE)
