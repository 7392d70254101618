"""H.264 MP4 writing and reading, and the make_*_clip functions that render and encode clips."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

from synth.video.clips import (
    HEIGHT,
    WIDTH,
    person_frames,
    setting_frames,
    slideshow_frames,
    source_frames,
)
from synth.video.images import Frame


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


class Writer:
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
    writer = Writer(path, fps, size, crf, gop)
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
    frames = source_frames(seed, _n_frames(duration_s, fps), fps)
    return _write(path, frames, fps, (WIDTH, HEIGHT), crf, 2 * fps)


def make_person_clip(path: Path, seed: int, duration_s: float = 15.0, fps: int = 15) -> ClipInfo:
    """An unrelated talking-head clip (a vlog or reaction), 540×960."""
    frames = person_frames(seed, _n_frames(duration_s, fps), fps)
    return _write(path, frames, fps, (WIDTH, HEIGHT), 23, 2 * fps)


def make_slideshow_clip(
    path: Path, template_seed: int, seed: int, duration_s: float = 12.0, fps: int = 15
) -> ClipInfo:
    """A slideshow from template `template_seed` with pictures/captions drawn from `seed`."""
    frames = slideshow_frames(template_seed, seed, _n_frames(duration_s, fps), fps)
    return _write(path, frames, fps, (WIDTH, HEIGHT), 23, 2 * fps)


def make_setting_clip(
    path: Path, setting_seed: int, seed: int, duration_s: float = 12.0, fps: int = 15
) -> ClipInfo:
    """A clip shot in setting `setting_seed` with dancers, props and camera path from `seed`."""
    frames = setting_frames(setting_seed, seed, _n_frames(duration_s, fps), fps)
    return _write(path, frames, fps, (WIDTH, HEIGHT), 23, 2 * fps)
