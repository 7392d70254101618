"""The 64-bit hash of PyPI `videohash` 3.0.1, computable on this stack.

videohash 3.0.1 does not run here as shipped: it uses `PIL.Image.ANTIALIAS` (removed in
Pillow 10) and shells out to an `ffmpeg` found on PATH (there is none; imageio-ffmpeg bundles
one). It never calls `ffprobe`: the duration is parsed from `ffmpeg -i` stderr, and `yt-dlp` is
only for URLs, which are not supported here.

- `videohash_of(path)`: the real package, run in a scoped environment: `Image.ANTIALIAS` aliased
  to `Image.Resampling.LANCZOS`, imageio-ffmpeg's binary symlinked as `ffmpeg` in a private temp
  dir prepended to PATH, `Image.MAX_IMAGE_PIXELS` (which the package sets to None) restored, and
  the package's files written under a temp dir that is removed afterwards. Calls are serialised
  by a lock; PATH is process-wide, so other threads spawning `ffmpeg` meanwhile would see ours.
- `videohash_reimplemented(path)`: the same algorithm with PyAV + Pillow + imagehash + numpy, no
  ffmpeg binary. Bit-equal to `videohash_of` on every clip tried (H.264 in mp4/mkv/mov/ts and an
  animated GIF; 15, 24, 25, 29.97, 30 fps; 8/10-bit, 4:2:0/4:2:2/4:4:4, full range; black bars;
  < 2 s; timestamp gaps): every 144x144 frame decodes to identical pixels, although the JPEG
  bytes differ (PyAV's mjpeg files are ~400 B larger). What it reproduces:
  * crop detection: for each start in `_CROP_STARTS`, `ffmpeg -ss T -i v -vframes 3 -vf
    cropdetect` lets 4 frames through the filter; with its default skip=2 frames 3 and 4 give
    `crop=` lines (cumulative box). cropdetect is GPL and not in PyAV's LGPL build, so it is
    re-implemented (black mode, defaults); the most frequent line wins, first seen on ties.
  * extraction `-vf crop -s 144x144 -r 1` to JPEG: crop, bicubic scale and a format filter to
    full range via a PyAV filter graph; frame choice by the ffmpeg CLI's constant-frame-rate
    logic (`video_sync_process`: it emits the first two frames, then roughly the frame 0.9 s
    before each whole second); libavcodec's mjpeg encoder at the CLI defaults (200 kb/s, 1/1).
  * collage (LANCZOS thumbnails, Pillow JPEG q75) -> `imagehash.whash`; 64 tiles of the frame
    strip -> imagedominantcolor's rule; bit = whash bit XOR (dominant colour matches r/g/b/l).
  Not reproduced (raises or may differ): decoder formats cropdetect cannot take directly (e.g.
  pal8: ffmpeg converts first; raises NotImplementedError), frames without timestamps, streams
  changing size mid-way, raw streams without container timestamps.
  The PyAV FFmpeg (8.1) differs from imageio-ffmpeg's (9.0); equality rests on swscale/mjpeg
  giving the same pixels in both, so re-check after upgrading either (the tests do).
- Known non-determinism in videohash itself: a tile's "l" test is `max(set(...), key=count)`,
  whose tie-break follows str hash order, i.e. PYTHONHASHSEED. Both functions share it within a
  process, but a tile with an exact tie can flip one bit between processes.
- imagedominantcolor calls `Image.getdata()`, which Pillow 14 removes; the shim will need
  another alias then (the reimplementation does not use it).

Timing (20 s 540x960 30 fps H.264 clip, 2 cores, median of 3 runs): `videohash_of` 2.25 s,
`videohash_reimplemented` 0.71 s (the package runs 15 ffmpeg processes; the port decodes a few
frames per crop seek point and the clip once).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import tempfile
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from math import ceil, sqrt
from pathlib import Path

import av
import av.filter
import imagehash
import numpy as np
from PIL import Image

_ENV_LOCK = threading.Lock()


def hamming(a: str, b: str) -> int:
    """Number of differing bits between two '0b…' hash strings of equal length."""
    if not (a.startswith("0b") and b.startswith("0b")) or len(a) != len(b):
        raise ValueError(f"need two '0b' bit strings of equal length, got {a!r} and {b!r}")
    return (int(a, 2) ^ int(b, 2)).bit_count()


# --- shim around the real package --------------------------------------------------------------


@contextmanager
def _videohash_environment() -> Iterator[None]:
    """Make videohash 3.0.1 runnable for the duration of the block, then undo it all."""
    import imageio_ffmpeg

    with _ENV_LOCK, tempfile.TemporaryDirectory(prefix="videohash-bin-") as bin_dir:
        os.symlink(imageio_ffmpeg.get_ffmpeg_exe(), os.path.join(bin_dir, "ffmpeg"))
        old_path = os.environ.get("PATH")
        old_max_pixels = Image.MAX_IMAGE_PIXELS
        had_antialias = hasattr(Image, "ANTIALIAS")
        # Prepended, so the hash never depends on some other ffmpeg that happens to be on PATH.
        os.environ["PATH"] = bin_dir + (os.pathsep + old_path if old_path else "")
        if not had_antialias:
            # LANCZOS is the filter Pillow's ANTIALIAS was an alias of.
            setattr(Image, "ANTIALIAS", Image.Resampling.LANCZOS)  # noqa: B010
        try:
            yield
        finally:
            if not had_antialias:
                delattr(Image, "ANTIALIAS")
            Image.MAX_IMAGE_PIXELS = old_max_pixels
            if old_path is None:
                os.environ.pop("PATH", None)
            else:
                os.environ["PATH"] = old_path


def videohash_of(path: Path) -> str:
    """`videohash.VideoHash(path=...).hash` of a local video file (name needs an extension)."""
    from videohash import VideoHash

    with (
        _videohash_environment(),
        tempfile.TemporaryDirectory(prefix="videohash-store-") as store,
        warnings.catch_warnings(),
    ):
        # imagedominantcolor calls Image.getdata() (deprecated, gone in Pillow 14) once per tile.
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="imagedominantcolor")
        # The trailing separator matters: videohash treats paths without one as files.
        vh = VideoHash(path=str(Path(path).resolve()), storage_path=store + os.sep)
        vh.image.close()
        return str(vh.hash)


# --- reimplementation ---------------------------------------------------------------------------

# Seek points of videohash's FramesExtractor.detect_crop, in seconds, in its order.
_CROP_STARTS = (2, 5, 10, 20, 40, 100, 300, 600, 1200, 2400, 7200, 14400)
_CROP_RE = re.compile(r"crop\=[0-9]{1,4}:[0-9]{1,4}:[0-9]{1,4}:[0-9]{1,4}")
_US = Fraction(1, 1_000_000)
# The format filter the ffmpeg CLI puts before its mjpeg encoder.
_JPEG_FORMATS = "pix_fmts=yuvj420p|yuvj422p|yuvj444p|yuv420p|yuv422p|yuv444p:color_ranges=pc"
_TILE_CLASSES = ["r"] * 16 + ["g"] * 16 + ["b"] * 16 + ["l"] * 16


def _rescale_q(a: int, src: Fraction, dst: Fraction) -> int:
    """av_rescale_q: a*src/dst rounded to nearest, halves away from zero."""
    num, den = src.numerator * dst.denominator, dst.numerator * src.denominator
    q = (abs(a) * num + den // 2) // den
    return q if a >= 0 else -q


def _time_base(stream: av.VideoStream) -> Fraction:
    """The stream's time base (demuxers always set one)."""
    if stream.time_base is None:
        raise ValueError("video stream without a time base")
    return stream.time_base


def _c_div(a: int, b: int) -> int:
    """C integer division (truncates toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


class _CropDetect:
    """libavfilter cropdetect, mode=black with its defaults (limit 24/255, round 16, skip 2)."""

    def __init__(self, width: int, height: int, bitdepth: int, packed_rgb: bool) -> None:
        self.x1, self.y1, self.x2, self.y2 = width - 1, height - 1, 0, 0
        self.packed_rgb = packed_rgb
        # The filter keeps limit as a C float and rounds the upscaled value with lrint.
        self.limit = round(float(np.float32(24 / 255) * np.float32((1 << bitdepth) - 1)))
        self.frame_nb = -2

    def push(self, luma: np.ndarray) -> str | None:
        """Feed one luma plane; the `crop=w:h:x:y` the filter would log, if any."""
        self.frame_nb += 1
        if self.frame_nb <= 0:
            return None
        h, w = luma.shape
        # Packed RGB arrives summed over its 3 channels, so divide by 3x the length.
        div = 3 if self.packed_rgb else 1
        rows = (luma.sum(axis=1, dtype=np.int64) // (w * div) > self.limit).tolist()
        cols = (luma.sum(axis=0, dtype=np.int64) // (h * div) > self.limit).tolist()
        self.y1 = next((y for y in range(self.y1) if rows[y]), self.y1)
        self.y2 = next((y for y in range(h - 1, max(self.y2, self.y1), -1) if rows[y]), self.y2)
        self.x1 = next((x for x in range(self.x1) if cols[x]), self.x1)
        self.x2 = next((x for x in range(w - 1, max(self.x2, self.x1), -1) if cols[x]), self.x2)
        x, y = (self.x1 + 1) & ~1, (self.y1 + 1) & ~1
        cw, ch = self.x2 - x + 1, self.y2 - y + 1
        shrink = cw - 16 * _c_div(cw, 16)
        cw -= shrink
        x += (_c_div(shrink, 2) + 1) & ~1
        shrink = ch - 16 * _c_div(ch, 16)
        ch -= shrink
        y += (_c_div(shrink, 2) + 1) & ~1
        return f"crop={cw}:{ch}:{x}:{y}"


# cropdetect's input formats: luma-first planar/semi-planar ones, whose first plane it averages,
# and packed RGB, whose first three bytes per pixel it averages. Others (e.g. pal8) would get an
# ffmpeg-chosen conversion first, which is not reproduced.
_LUMA_FIRST = {
    *(f"yuv{s}p" for s in ("420", "422", "444", "411", "440", "410")),
    *("yuvj420p", "yuvj422p", "yuvj444p", "gray"),
    *(f"yuv{s}p{bits}le" for s in ("420", "422", "444") for bits in (9, 10, 12, 14, 16)),
    "nv12",
    "nv21",
}
_PACKED_RGB = {"rgb24": 3, "bgr24": 3, "rgba": 4, "bgra": 4}


def _crop_plane(frame: av.VideoFrame) -> np.ndarray:
    """What cropdetect averages per row/column: luma samples, or RGB sums over 3 channels."""
    name = frame.format.name
    plane = frame.planes[0]
    raw = np.frombuffer(memoryview(plane), dtype=np.uint8).reshape(-1, plane.line_size)
    if name in _PACKED_RGB:
        step = _PACKED_RGB[name]
        pixels = raw[: frame.height, : frame.width * step].reshape(frame.height, frame.width, step)
        return pixels[:, :, :3].sum(axis=2, dtype=np.int64)
    if name not in _LUMA_FIRST:
        raise NotImplementedError(f"cropdetect input format {name} is not reproduced")
    wide = frame.format.components[0].bits > 8
    raw = raw[: frame.height, : frame.width * (2 if wide else 1)]
    return np.ascontiguousarray(raw).view("<u2") if wide else raw


def _detect_crop(path: Path) -> str | None:
    """The `crop=…` videohash would pass to ffmpeg, or None when cropdetect logged nothing."""
    crops: list[str] = []
    for start in _CROP_STARTS:
        # A fresh demuxer per seek point, as each ffmpeg run has one.
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            start_us = container.start_time or 0
            target = _rescale_q(start * 1_000_000 + start_us, _US, _time_base(stream))
            # On a failed seek ffmpeg warns and decodes from the current position; so do we.
            with contextlib.suppress(av.FFmpegError):
                container.seek(start * 1_000_000 + start_us, backward=True)
            detector: _CropDetect | None = None
            seen = 0
            for frame in container.decode(stream):
                # Accurate seek: frames before the seek point never reach the filter.
                if frame.pts is None or frame.pts < target:
                    continue
                if detector is None:
                    bits = frame.format.components[0].bits
                    packed = frame.format.name in _PACKED_RGB
                    detector = _CropDetect(frame.width, frame.height, bits, packed)
                line = detector.push(_crop_plane(frame))
                if line is not None and (m := _CROP_RE.match(line)):
                    crops.append(m.group(0))
                seen += 1
                if seen == 4:  # `-vframes 3` lets one more frame through the filter
                    break
        if not seen:
            break  # nothing at or after this point, so nothing after later ones either
    # videohash's choice: the most frequent, first seen on ties.
    return max(crops, key=crops.count) if crops else None


class _FrameEncoder:
    """crop -> 144x144 bicubic -> full-range YUV -> mjpeg, as `ffmpeg -vf crop -s 144x144`."""

    def __init__(self, crop: str | None, time_base: Fraction) -> None:
        self.crop = crop
        self.time_base = time_base
        self.graph: av.filter.Graph | None = None
        self.codec: av.VideoCodecContext | None = None
        self.jpegs: list[bytes] = []

    def _build(self, frame: av.VideoFrame) -> None:
        tb = self.time_base
        args = (
            f"video_size={frame.width}x{frame.height}:pix_fmt={frame.format.name}"
            f":time_base={tb.numerator}/{tb.denominator}:pixel_aspect=0/1"
        )
        # ffmpeg hands the decoder's colour tags to its buffer source; 0/2 mean unspecified.
        if frame.color_range:
            args += f":range={int(frame.color_range)}"
        if int(frame.colorspace) != 2:
            args += f":colorspace={int(frame.colorspace)}"
        graph = av.filter.Graph()
        nodes = [graph.add("buffer", args)]
        if self.crop:
            nodes.append(graph.add("crop", self.crop.removeprefix("crop=")))
        nodes.append(graph.add("scale", "144:144"))  # scale's default flags: bicubic
        nodes.append(graph.add("format", _JPEG_FORMATS))
        nodes.append(graph.add("buffersink"))
        graph.link_nodes(*nodes).configure()
        self.graph = graph

    def scale(self, frame: av.VideoFrame) -> av.VideoFrame:
        """The 144x144 frame ffmpeg would hand to its encoder."""
        if self.graph is None:
            self._build(frame)
        assert self.graph is not None
        self.graph.vpush(frame)
        out = self.graph.vpull()
        if self.codec is None:
            codec = av.CodecContext.create("mjpeg", "w")
            assert isinstance(codec, av.VideoCodecContext)
            codec.width, codec.height = out.width, out.height
            codec.pix_fmt = out.format.name
            codec.color_range = out.color_range
            # The CLI's defaults for `-r 1` to image2: time base 1/1, 200 kb/s rate control.
            codec.time_base = Fraction(1, 1)
            codec.framerate = Fraction(1, 1)
            codec.bit_rate = 200_000
            self.codec = codec
        return out

    def encode(self, frame: av.VideoFrame | None, pts: int = 0) -> None:
        """Encode one scaled frame at `pts` (None flushes)."""
        if self.codec is None:
            return
        if frame is not None:
            frame.pts, frame.time_base = pts, Fraction(1, 1)
        self.jpegs.extend(bytes(packet) for packet in self.codec.encode(frame))


def _extract_jpegs(path: Path, crop: str | None) -> list[bytes]:
    """The JPEG frames of `ffmpeg -i v [-vf crop] -s 144x144 -r 1 %07d.jpeg`, in order."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        tb = _time_base(stream)
        enc = _FrameEncoder(crop, tb)
        # ffmpeg shifts input timestamps so that the file starts at 0.
        offset = _rescale_q(container.start_time or 0, _US, tb)
        next_pts, history = 0, [0, 0, 0]
        prev: av.VideoFrame | None = None
        last_pts: int | None = None
        last_duration = 1
        for frame in container.decode(stream):
            if frame.pts is None:
                continue
            pts = frame.pts - offset
            # ffmpeg's decoder-side duration estimate (containers with timestamps).
            ts_diff = pts - last_pts if last_pts is not None else -1
            dur = frame.duration or 0
            if dur <= 0 or (dur == 1 and ts_diff > 2):
                dur = ts_diff if ts_diff > 0 else (dur if dur > 0 else max(last_duration, 1))
            last_pts, last_duration = pts, dur
            # video_sync_process() in CFR mode, output time base 1/1 (16 extra bits).
            duration = dur * tb.numerator / tb.denominator
            sync = _rescale_q(pts, tb, Fraction(1, 1 << 16)) / (1 << 16)
            if sync != round(sync):
                sync += (1 if sync > 0 else -1) / (1 << 17)
            delta0 = sync - next_pts
            delta = delta0 + duration
            if delta0 < 0 < delta:
                delta0 = 0.0
            n_prev, n = 0, 1
            if delta < -1.1:
                n = 0
            elif delta > 1.1:
                n = round(float(np.float32(delta)))  # llrintf
                if delta0 > 1.1:
                    n_prev = round(float(np.float32(delta0 - 0.6)))
            history = [n_prev, *history[:2]]
            if n:
                current = enc.scale(frame) if n > n_prev else None
                repeat = enc.scale(prev) if n_prev and prev is not None else None
                for i in range(n):
                    src = repeat if i < n_prev and repeat is not None else current
                    if src is not None:
                        enc.encode(src, next_pts)
                        next_pts += 1
            prev = frame
        # At EOF ffmpeg repeats the last frame the median of the last three repeat counts.
        n_tail = sorted(history)[1]
        if n_tail and prev is not None:
            last = enc.scale(prev)
            for _ in range(n_tail):
                enc.encode(last, next_pts)
                next_pts += 1
    enc.encode(None)
    if not enc.jpegs:
        raise ValueError(f"no frames extracted from {path}")
    return enc.jpegs


def _dominant_color(tile: Image.Image) -> str:
    """imagedominantcolor 1.0.1's verdict for one tile: 'r', 'g', 'b', 'l' or 'n'."""
    small = tile.resize((16, 16), Image.Resampling.LANCZOS).convert("RGBA")
    px = np.asarray(small).astype(np.int16).transpose(1, 0, 2).reshape(-1, 4)  # column-major
    r, g, b = px[:, 0], px[:, 1], px[:, 2]
    labels = np.full(len(px), "l")
    labels[(b > r) & (b > g)] = "b"
    labels[(g > b) & (g > r)] = "g"
    labels[(r > g) & (r > b)] = "r"
    per_pixel: list[str] = labels.tolist()
    # Same expression as the package, so ties break the same way (set order, see docstring).
    if max(set(per_pixel), key=per_pixel.count) == "l":
        return "l"
    nr, ng, nb = (per_pixel.count(c) for c in "rgb")
    mpd = int(len(per_pixel) * (10 / 100))
    if nr - mpd > ng and nr - mpd > nb:
        return "r"
    if ng - mpd > nb and ng - mpd > nr:
        return "g"
    if nb - mpd > nr and nb - mpd > ng:
        return "b"
    return "n"


def _hash_of_jpegs(jpegs: list[bytes]) -> str:
    """videohash's collage wavelet hash XOR tile dominant colours, from the frame JPEGs."""
    count = len(jpegs)
    per_row = round(sqrt(count))
    with Image.open(io.BytesIO(jpegs[0])) as first:
        fw, fh = first.size
    scale = 1024 / (per_row * fw)
    cell_w, cell_h = ceil(fw * scale), ceil(fh * scale)
    collage = Image.new("RGB", (1024, ceil(scale * fh * ceil(count / per_row))))
    for k, data in enumerate(jpegs):
        # thumbnail() lets the JPEG decoder downscale (draft mode), so decode like the package.
        with Image.open(io.BytesIO(data)) as frame:
            frame.thumbnail((cell_w, cell_h), Image.Resampling.LANCZOS)
            collage.paste(frame, ((k % per_row) * cell_w, (k // per_row) * cell_h))
    saved = io.BytesIO()
    collage.save(saved, format="JPEG")  # the package hashes its re-read collage.jpg
    with Image.open(saved) as reread:
        wavelet_bits = imagehash.whash(reread).hash.flatten().tolist()

    strip = Image.new("RGB", (fw * count, fh))
    for k, data in enumerate(jpegs):
        with Image.open(io.BytesIO(data)) as frame:
            strip.paste(frame, (k * fw, 0))
    tile_w, tile_h = strip.width // 8, strip.height // 8
    colors = [
        _dominant_color(strip.crop((x, y, x + tile_w, y + tile_h)))
        for y in range(0, strip.height - 8, tile_h)
        for x in range(0, strip.width - 8, tile_w)
    ]
    bits = [(_TILE_CLASSES[i] == colors[i]) != bool(wavelet_bits[i]) for i in range(64)]
    return "0b" + "".join("1" if bit else "0" for bit in bits)


def videohash_reimplemented(path: Path) -> str:
    """Bit-equal reimplementation of `videohash_of` with PyAV (no ffmpeg binary)."""
    return _hash_of_jpegs(_extract_jpegs(Path(path), _detect_crop(Path(path))))
