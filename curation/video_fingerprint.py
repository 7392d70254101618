"""Video fingerprints: a bag of 64-bit perceptual hashes of frames sampled at fixed times.

Decodes with PyAV (FFmpeg inside its wheel, no system ffmpeg). Frames are taken at fixed sample
times (1 per second by default, capped), or only at keyframes (much cheaper to decode). In fixed
mode the tail of each GOP after its last sample time is never decoded. Each
frame is turned grey at a reduced size, black bars are cropped (found once per video), and the
frame gets a 64-bit pHash equal to `imagehash.phash` on that grey frame, plus the pHash of its
mirror image (so a flipped re-upload still matches). Flat frames (no texture: their hashes are
noise) and repeats of the previous kept frame are dropped.

A file that cannot be fingerprinted raises `VideoError` with a reason (`empty_file`,
`unreadable_container`, `no_video_stream`, `unsupported_codec`, `truncated`,
`no_decodable_frames`, `no_textured_frames`); the caller quarantines it and goes on.
No framework imports: this runs inside Prefect tasks and Dask workers alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO, Literal

import av
import numpy as np
import scipy.fftpack
from PIL import Image

ALGORITHM_VERSION = "vfp-1"  # bump whenever the hashes a file gets could change
HASH_SIZE = 8
DCT_SIZE = 32  # imagehash.phash: hash_size × highfreq_factor (4)
_BIT_WEIGHTS = (1 << np.arange(63, -1, -1, dtype=np.uint64)).astype(np.uint64)


class VideoError(ValueError):
    """A video that cannot be fingerprinted; `reason` is a short stable code."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


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


@dataclass(frozen=True)
class Fingerprint:
    times: np.ndarray  # float64 seconds, one per kept frame
    hashes: np.ndarray  # uint64 pHash per kept frame
    mirrored: np.ndarray  # uint64 pHash of the horizontally flipped frame
    duration_s: float
    width: int
    height: int
    sampled: int  # frames sampled before flat frames and repeats were dropped


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


def _sample_frames(
    container: av.container.InputContainer, settings: FingerprintSettings
) -> tuple[list[float], list[np.ndarray], float, int, int]:
    if not container.streams.video:
        raise VideoError("no_video_stream")
    stream = container.streams.video[0]
    ctx = stream.codec_context
    if ctx.codec is None or not ctx.codec.is_decoder:
        raise VideoError("unsupported_codec", str(stream.codec_context.name))
    # Hashes of 32×32 thumbnails do not need deblocking or non-reference frames: skipping both
    # cuts decoding time by about 40% (docs/benchmarks.md).
    ctx.options = {"skip_loop_filter": "all"}
    ctx.thread_count = settings.decoder_threads
    ctx.skip_frame = "NONKEY" if settings.mode == "keyframes" else "NONREF"
    width, height = ctx.width, ctx.height
    work_h = max(2, round(settings.work_width * height / max(width, 1) / 2) * 2)
    duration = (
        float(stream.duration * stream.time_base)
        if stream.duration and stream.time_base
        else (container.duration / 1_000_000 if container.duration else 0.0)
    )
    times: list[float] = []
    greys: list[np.ndarray] = []
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
        nonlocal next_k, full
        for frame in frames:
            if full:
                return
            # frame.pts in the stream's time base: frames flushed at the end have no `time`
            t = float(frame.pts * base) - start if frame.pts is not None else last_packet_t
            if t * settings.sample_fps + 1e-6 < next_k:
                continue
            grey = frame.reformat(
                width=settings.work_width, height=work_h, format="gray", interpolation="AREA"
            ).to_ndarray()
            times.append(t)
            greys.append(grey)
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
    return times, greys, duration, width, height


def fingerprint_video(
    source: Path | BinaryIO, settings: FingerprintSettings | None = None
) -> Fingerprint:
    """Fingerprint one video file (path or readable binary file object)."""
    settings = settings or FingerprintSettings()
    with _open(source) as container:
        times, greys, duration, width, height = _sample_frames(container, settings)
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
    return Fingerprint(
        np.asarray(times)[idx], hashes[idx], mirrored[idx], duration, width, height, len(times)
    )
