"""Video fingerprints: a bag of 64-bit perceptual hashes of frames sampled at fixed times.

Decodes with PyAV (FFmpeg inside its wheel, no system ffmpeg). Frames are taken at fixed sample
times (1 per second by default, capped), or only at keyframes (much cheaper to decode). In fixed
mode the tail of each GOP after its last sample time is never decoded. Each
frame is turned grey at a reduced size, black bars are cropped (found once per video), and the
frame gets a 64-bit pHash equal to `imagehash.phash` on that grey frame, plus the pHash of its
mirror image (so a flipped re-upload still matches). Flat frames (no texture: their hashes are
noise) and repeats of the previous kept frame are dropped.

Each kept frame also gets region hashes (`probes`), for copies whose whole frame differs:
  - crop windows: the frame's 90% windows on a 3×3 grid of offsets. A re-upload cropped by 10%
    and scaled back is then within a few bits of one window (measured: every cropped copy in
    the benchmark corpus has frames within 2 bits, enough to surface the pair);
  - insets: rectangles bounded by edges that stay put while the picture changes (duets side by
    side, stitches stacked, picture-in-picture windows), found once per video from the temporal
    median of the frame gradients. The inset's hash is the hash of the video shown in it.

A file that cannot be fingerprinted raises `VideoError` with a reason (`empty_file`,
`unreadable_container`, `no_video_stream`, `unsupported_codec`, `truncated`,
`no_decodable_frames`, `no_textured_frames`); the caller quarantines it and goes on.
No framework imports: this runs inside Prefect tasks and Dask workers alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, BinaryIO, Literal

import av
import numpy as np
import scipy.fftpack
from PIL import Image

ALGORITHM_VERSION = "vfp-2"  # bump whenever the hashes a file gets could change
HASH_SIZE = 8
DCT_SIZE = 32  # imagehash.phash: hash_size × highfreq_factor (4)
_BIT_WEIGHTS = (1 << np.arange(63, -1, -1, dtype=np.uint64)).astype(np.uint64)


Box = tuple[int, int, int, int]  # top, bottom, left, right
MAX_LINES = 8  # inset search: the strongest lines per direction (at most 45² rectangles)


class VideoError(ValueError):
    """A video that cannot be fingerprinted; `reason` is a short stable code."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason, self.detail = reason, detail


@dataclass(frozen=True)
class FingerprintSettings:
    sample_fps: float = 1.0
    max_frames: int = 60
    mode: Literal["fixed", "keyframes"] = "fixed"
    work_width: int = 128  # frames are reduced to this width (height keeps the aspect ratio)
    black_level: int = 20  # a bar row/column is darker than this in every sampled frame
    min_texture: float = 6.0  # grey-level standard deviation below which a frame is flat
    repeat_bits: int = 4  # a frame within this many bits of the previous kept one is a repeat
    # FFmpeg threads per decode. 1: parallelism comes from running videos side by side (Dask
    # workers); FFmpeg's default (one per core) made 2 workers fight over the same cores.
    decoder_threads: int = 1
    crop_scale: float = 0.9  # crop windows: this share of width and height …
    crop_grid: int = 3  # … at grid × grid offsets (0: no crop windows)
    inset_edge: float = 6.0  # grey-level step an inset's border keeps in most frames
    max_insets: int = 6  # at most this many inset rectangles per video (0: none)
    colour_frames: int = 0  # keep this many sampled frames in colour (for a nudity detector)
    colour_width: int = 320


@dataclass(frozen=True)
class Fingerprint:
    times: np.ndarray  # float64 seconds, one per kept frame
    hashes: np.ndarray  # uint64 pHash per kept frame
    mirrored: np.ndarray  # uint64 pHash of the horizontally flipped frame
    probes: np.ndarray  # uint64 (frames, regions): crop windows, then insets
    duration_s: float
    width: int
    height: int
    sampled: int  # frames sampled before flat frames and repeats were dropped
    insets: tuple[Box, ...] = ()  # (top, bottom, left, right) in the black-bar-cropped frame
    colour: tuple[np.ndarray, ...] = ()  # BGR frames, evenly spread (settings.colour_frames)


def _thumbnails(grey: np.ndarray) -> np.ndarray:
    """32×32 LANCZOS thumbnails of grey frames, exactly as imagehash makes them."""
    if len(grey) == 0:
        return np.zeros((0, DCT_SIZE, DCT_SIZE), np.uint8)
    return np.stack(
        [
            np.asarray(
                Image.fromarray(np.ascontiguousarray(g), mode="L").resize(
                    (DCT_SIZE, DCT_SIZE), Image.Resampling.LANCZOS
                )
            )
            for g in grey
        ]
    )


def phash_bits(grey: np.ndarray) -> np.ndarray:
    """pHash of a stack of grey frames (n, h, w) uint8 → uint64 (n,), as imagehash.phash."""
    return _phash_of_small(_thumbnails(grey))


def _phash_of_small(small: np.ndarray) -> np.ndarray:
    # The same two fftpack DCTs as imagehash, on each frame of the stack.
    dct = scipy.fftpack.dct(scipy.fftpack.dct(small, axis=1), axis=2)
    low = dct[:, :HASH_SIZE, :HASH_SIZE].reshape(len(small), -1)
    bits = low > np.median(low, axis=1, keepdims=True)
    return (bits.astype(np.uint64) * _BIT_WEIGHTS).sum(axis=1, dtype=np.uint64)


def popcount64(x: np.ndarray) -> np.ndarray:
    """Set bits per uint64."""
    return np.bitwise_count(x.astype(np.uint64))


def _content_box(frames: np.ndarray, black_level: int) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the non-black area, judged over all sampled frames."""
    brightest = frames.max(axis=0)
    rows = np.flatnonzero(brightest.max(axis=1) > black_level)
    cols = np.flatnonzero(brightest.max(axis=0) > black_level)
    if len(rows) == 0 or len(cols) == 0:
        return 0, frames.shape[1], 0, frames.shape[2]
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def crop_windows(height: int, width: int, scale: float, grid: int) -> list[Box]:
    """`scale`-sized windows at grid × grid evenly spread offsets (centres of equal slices)."""
    h, w = round(height * scale), round(width * scale)
    steps = [(2 * i + 1) / (2 * grid) for i in range(grid)]
    return [
        (
            round((height - h) * fy),
            round((height - h) * fy) + h,
            round((width - w) * fx),
            round((width - w) * fx) + w,
        )
        for fy in steps
        for fx in steps
    ]


def _runs(strong: np.ndarray, min_length: int) -> list[tuple[int, int, int]]:
    """(line, start, end) of runs of True down each column of `strong` at least min_length
    long, after closing gaps of up to 4 pixels."""
    closed = strong | _close_gaps(strong, 4)
    out = []
    padded = np.pad(closed, ((1, 1), (0, 0))).astype(np.int8)
    edges = np.diff(padded, axis=0)
    for line in range(strong.shape[1]):
        starts = np.flatnonzero(edges[:, line] == 1)
        ends = np.flatnonzero(edges[:, line] == -1)
        out += [
            (line, int(a), int(b)) for a, b in zip(starts, ends, strict=True) if b - a >= min_length
        ]
    return out


def _close_gaps(strong: np.ndarray, gap: int) -> np.ndarray:
    """True where a pixel lies between two True pixels at most `gap` apart down its column."""
    before = np.zeros_like(strong)
    after = np.zeros_like(strong)
    for k in range(1, gap + 1):
        before[k:] |= strong[:-k]
        after[:-k] |= strong[k:]
    return before & after


def _merge_lines(lines: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """Lines within 2 pixels of each other (a border's two edges) count once: the longest."""
    merged: list[tuple[int, int, int]] = []
    for line in sorted(lines):
        if (
            merged
            and line[0] - merged[-1][0] <= 2
            and line[1] < merged[-1][2]
            and line[2] > merged[-1][1]
        ):
            if line[2] - line[1] > merged[-1][2] - merged[-1][1]:
                merged[-1] = line
            continue
        merged.append(line)
    return merged


def _strongest(
    lines: list[tuple[int, int, int]], step: np.ndarray, limit: int
) -> list[tuple[int, int, int]]:
    """The `limit` lines (position, start, end) with the largest mean step along them; `step`
    is indexed [position − 1, along]."""
    return sorted(lines, key=lambda r: -float(step[r[0] - 1, r[1] : r[2]].mean()))[:limit]


def inset_boxes(frames: np.ndarray, edge: float, limit: int) -> list[Box]:
    """Rectangles whose four sides are frame edges or lines that stay in place in most frames.

    A line is a run of pixels where the temporal median of the grey-level step across it is at
    least `edge`; moving content averages out, a split or a window border does not. Rectangles
    smaller than 10% of the frame (or 20% of the width, 15% of the height) are ignored; at most
    `limit` are kept, the tightest first.
    """
    if limit <= 0 or len(frames) < 3:
        return []
    grey = frames.astype(np.int16)
    _, height, width = grey.shape
    step_x = np.median(np.abs(np.diff(grey, axis=2)), axis=0)  # (height, width − 1)
    step_y = np.median(np.abs(np.diff(grey, axis=1)), axis=0)  # (height − 1, width)
    vertical = [(x + 1, a, b) for x, a, b in _runs(step_x >= edge, round(0.15 * height))]
    horizontal = [(y + 1, a, b) for y, a, b in _runs((step_y >= edge).T, round(0.2 * width))]
    # The strongest lines only (mean step along the line): texture that stays put (grain, a
    # still picture, a slow pan) makes weak lines everywhere; a split or a border is a step.
    vertical = _strongest(_merge_lines(vertical), step_x.T, MAX_LINES)
    horizontal = _strongest(_merge_lines(horizontal), step_y, MAX_LINES)

    def supported(lines: list[tuple[int, int, int]], at: int, lo: int, hi: int, end: int) -> bool:
        slack = 0.15 * (hi - lo)
        return at in (0, end) or any(
            pos == at and a <= lo + slack and b >= hi - slack for pos, a, b in lines
        )

    xs = sorted({0, width} | {x for x, _, _ in vertical})
    ys = sorted({0, height} | {y for y, _, _ in horizontal})
    boxes = []
    for i, left in enumerate(xs):
        for right in xs[i + 1 :]:
            for j, top in enumerate(ys):
                for bottom in ys[j + 1 :]:
                    w, h = right - left, bottom - top
                    if (w, h) == (width, height) or w * h < 0.1 * width * height:
                        continue
                    if w < 0.2 * width or h < 0.15 * height:
                        continue
                    if (
                        supported(vertical, left, top, bottom, width)
                        and supported(vertical, right, top, bottom, width)
                        and supported(horizontal, top, left, right, height)
                        and supported(horizontal, bottom, left, right, height)
                    ):
                        boxes.append((top, bottom, left, right))

    # Tightest first (most sides on a line rather than the frame's edge: a window, not the
    # window stretched to the frame's edge), then largest.
    def rank(box: Box) -> tuple[int, int, Box]:
        top, bottom, left, right = box
        edges = (top == 0) + (bottom == height) + (left == 0) + (right == width)
        return edges, -(bottom - top) * (right - left), box

    return sorted(boxes, key=rank)[:limit]


def _open(source: Path | BinaryIO) -> av.container.InputContainer:
    if isinstance(source, Path):
        if not source.is_file():
            raise VideoError("missing_file", str(source))
        if source.stat().st_size == 0:
            raise VideoError("empty_file")
    try:
        return av.open(str(source) if isinstance(source, Path) else source, mode="r")
    except (av.error.FFmpegError, OSError) as exc:
        raise VideoError("unreadable_container", type(exc).__name__) from None


def _displayed(frame: av.VideoFrame, out_width: int, turns: int, fmt: str) -> np.ndarray:
    """The frame as a player shows it (the stream's display rotation applied), `out_width`
    pixels wide, height by the displayed aspect ratio (even), in `fmt` (gray or bgr24)."""
    shown_w, shown_h = (frame.height, frame.width) if turns % 2 else (frame.width, frame.height)
    out_height = max(2, round(out_width * shown_h / max(shown_w, 1) / 2) * 2)
    w, h = (out_height, out_width) if turns % 2 else (out_width, out_height)
    pixels = frame.reformat(width=w, height=h, format=fmt, interpolation="AREA").to_ndarray()
    return np.ascontiguousarray(np.rot90(pixels, turns)) if turns else pixels


def _sample_frames(
    container: av.container.InputContainer, settings: FingerprintSettings
) -> tuple[list[float], list[np.ndarray], list[np.ndarray], float, int, int]:
    if not container.streams.video:
        raise VideoError("no_video_stream")
    stream = container.streams.video[0]
    ctx = stream.codec_context  # None when FFmpeg does not know the codec at all
    if ctx is None or ctx.codec is None or not ctx.codec.is_decoder:
        raise VideoError("unsupported_codec", str(ctx.name) if ctx is not None else "unknown")
    # Hashes of 32×32 thumbnails do not need deblocking or non-reference frames: skipping both
    # cuts decoding time by about 40% (docs/benchmarks.md).
    ctx.options = {"skip_loop_filter": "all"}
    ctx.thread_count = settings.decoder_threads
    ctx.skip_frame = "NONKEY" if settings.mode == "keyframes" else "NONREF"
    width, height = ctx.width, ctx.height
    turns = 0  # quarter turns counter-clockwise that display the frame (phones record sideways)
    duration = (
        float(stream.duration * stream.time_base)
        if stream.duration and stream.time_base
        else (container.duration / 1_000_000 if container.duration else 0.0)
    )
    times: list[float] = []
    greys: list[np.ndarray] = []
    colour: list[np.ndarray] = []
    # Sample k is the first frame at or after k / sample_fps seconds from the stream's start:
    # an integer counter (a float grid drifts for rates like 10/s), relative times (a copy whose
    # timestamps start at 1.5 s samples the same content as one starting at 0).
    start = (
        float(stream.start_time * stream.time_base)
        if (stream.start_time is not None and stream.time_base is not None)
        else 0.0
    )
    base = stream.time_base or Fraction(1, 1)
    next_k = 0
    last_packet_t = 0.0  # demuxed packets arrive whatever the decoder skips: truncation shows
    full = False

    def take(frames: list[av.VideoFrame]) -> None:
        nonlocal next_k, full, turns
        for frame in frames:
            if full:
                return
            # frame.pts in the stream's time base: frames flushed at the end have no `time`
            t = float(frame.pts * base) - start if frame.pts is not None else last_packet_t
            if t * settings.sample_fps + 1e-6 < next_k:
                continue
            if not times:
                turns = round(float(frame.rotation or 0) / 90) % 4
            times.append(t)
            greys.append(_displayed(frame, settings.work_width, turns, "gray"))
            if settings.colour_frames > 0:
                colour.append(_displayed(frame, settings.colour_width, turns, "bgr24"))
            next_k = int(np.floor(t * settings.sample_fps + 1e-6)) + 1
            full = len(times) >= settings.max_frames

    # Packets are held back one GOP (keyframe to keyframe) at a time. Within a GOP, packets are
    # decoded only until the decoder has passed the GOP's last sample time: the GOP's tail is
    # never decoded (with a 2 s GOP at 1 frame/s that is about half of all frames), and a GOP
    # with no sample time in it is skipped whole. Every GOP starts at a keyframe, so skipping
    # a tail leaves the next GOP decodable. Without timestamps every packet is decoded.
    gop: list[av.Packet] = []

    def decode_gop(end_t: float | None) -> None:
        for packet in gop:
            if full or (end_t is not None and next_k / settings.sample_fps >= end_t - 1e-6):
                return
            take(packet.decode())

    try:
        for packet in container.demux(stream):
            if full:
                break
            pts, packet_base = packet.pts, packet.time_base
            packet_t = (
                float(pts * packet_base) - start
                if pts is not None and packet_base is not None
                else None
            )
            if packet_t is not None:
                last_packet_t = max(last_packet_t, packet_t)
            if packet.is_keyframe and gop:
                decode_gop(packet_t)
                gop = []
            if packet.size or packet_t is not None:
                gop.append(packet)
        if not full:
            decode_gop(None)
            take(stream.decode(None))  # flush frames the decoder still holds
    except av.error.FFmpegError as exc:
        if not times:
            raise VideoError("no_decodable_frames", type(exc).__name__) from None
        raise VideoError("truncated", f"decoding failed after {last_packet_t:.1f}s") from None
    if not times:
        raise VideoError("no_decodable_frames")
    if not full and duration > 0 and last_packet_t < duration - max(2.0, 0.1 * duration):
        raise VideoError("truncated", f"data ends at {last_packet_t:.1f}s of {duration:.1f}s")
    if turns % 2:
        width, height = height, width
    return times, greys, colour, duration, width, height


def _evenly(items: list[np.ndarray], k: int) -> list[np.ndarray]:
    """At most k items, evenly spread, first included."""
    if len(items) <= k:
        return items
    return [items[i * len(items) // k] for i in range(k)]


def fingerprint_video(
    source: Path | BinaryIO, settings: FingerprintSettings | None = None
) -> Fingerprint:
    """Fingerprint one video file (path or readable binary file object)."""
    settings = settings or FingerprintSettings()
    with _open(source) as container:
        times, greys, colour, duration, width, height = _sample_frames(container, settings)
    frames = np.stack(greys)
    top, bottom, left, right = _content_box(frames, settings.black_level)
    cropped = frames[:, top:bottom, left:right]
    small = _thumbnails(cropped)
    textured = small.reshape(len(small), -1).std(axis=1) >= settings.min_texture
    hashes = _phash_of_small(small)
    mirrored = _phash_of_small(_thumbnails(cropped[:, :, ::-1]))
    keep: list[int] = []
    for i in np.flatnonzero(textured):
        if keep and popcount64(hashes[i] ^ hashes[keep[-1]]) <= settings.repeat_bits:
            continue
        keep.append(int(i))
    if not keep:
        raise VideoError("no_textured_frames")
    idx = np.array(keep)
    kept = cropped[idx]
    height_c, width_c = kept.shape[1:]
    windows = (
        crop_windows(height_c, width_c, settings.crop_scale, settings.crop_grid)
        if settings.crop_grid > 0
        else []
    )
    insets = inset_boxes(cropped, settings.inset_edge, settings.max_insets)
    probes = (
        np.stack([phash_bits(kept[:, t:b, x0:x1]) for t, b, x0, x1 in windows + insets], axis=1)
        if windows or insets
        else np.zeros((len(idx), 0), np.uint64)
    )
    return Fingerprint(
        np.asarray(times)[idx],
        hashes[idx],
        mirrored[idx],
        probes,
        duration,
        width,
        height,
        len(times),
        tuple(insets),
        tuple(_evenly(colour, settings.colour_frames)),
    )


def frame_rows(fp: Fingerprint) -> list[dict[str, Any]]:
    """A fingerprint's frames as the fingerprint store keeps them: (t, h, hm, p)."""
    return [
        {"t": float(t), "h": int(h), "hm": int(m), "p": p.tolist()}
        for t, h, m, p in zip(fp.times, fp.hashes, fp.mirrored, fp.probes, strict=True)
    ]
