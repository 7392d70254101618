"""videohash 3.0.1 compatibility: the shim runs the real package; the PyAV port is bit-equal."""

from __future__ import annotations

import os
import shutil
import tempfile
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from PIL import Image

from curation.video.videohash_compat import hamming, videohash_of, videohash_reimplemented


def _frames(width: int, height: int, count: int, seed: int, bars: int = 0) -> list[np.ndarray]:
    """Gradients, moving discs and a frame counter: structured content that changes over time."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = rng.uniform(60, 255, size=3)
    discs = [
        (rng.uniform(0, 1, 2), rng.uniform(-0.5, 0.5, 2), int(rng.integers(6, width // 5 + 8)))
        for _ in range(4)
    ]
    colours = [tuple(int(c) for c in rng.integers(0, 256, 3)) for _ in discs]
    out = []
    for i in range(count):
        phase = 2 * np.pi * i / count
        img = np.empty((height, width, 3), np.float32)
        img[..., 0] = base[0] * (0.5 + 0.5 * np.sin(xx / width * 3 + phase))
        img[..., 1] = base[1] * yy / height
        img[..., 2] = base[2] * (0.5 + 0.5 * np.cos((xx + yy) / (width + height) * 4 - phase))
        frame = img.clip(0, 255).astype(np.uint8)
        for (pos, vel, radius), colour in zip(discs, colours, strict=True):
            cx, cy = ((pos + vel * i / count) % 1.0) * (width, height)
            cv2.circle(frame, (int(cx), int(cy)), radius, colour, -1)
        cv2.putText(
            frame, f"{seed}:{i}", (width // 10, height // 2), cv2.FONT_HERSHEY_SIMPLEX,
            width / 300, (255, 255, 255), max(1, width // 150),
        )  # fmt: skip
        if bars:
            frame[:bars] = 0
            frame[-bars:] = 0
        out.append(frame)
    return out


def _stripes(width: int, height: int, count: int) -> list[np.ndarray]:
    """Unrelated content: scrolling green stripes, a red ramp and a sweeping dark block."""
    yy, xx = np.mgrid[0:height, 0:width]
    out = []
    for i in range(count):
        img = np.zeros((height, width, 3), np.uint8)
        img[..., 0] = xx * 255 // width
        img[..., 1] = np.where(((yy + 3 * i) // 12) % 2, 200, 90)
        x0 = i * width // count
        cv2.rectangle(img, (x0 - 30, height // 4), (x0 + 30, 3 * height // 4), (10, 10, 60), -1)
        out.append(img)
    return out


def _encode(
    path: Path,
    frames: list[np.ndarray],
    fps: int | Fraction,
    crf: int = 20,
    pts: list[int] | None = None,
) -> Path:
    """H.264 via PyAV; `pts` (in ms) makes a clip with irregular timestamps."""
    height, width = frames[0].shape[:2]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        # One thread: threaded x264 output varies with machine load, and the clips must not.
        stream.options = {"crf": str(crf), "preset": "veryfast", "threads": "1"}
        if pts is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        for i, array in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(array, format="rgb24")
            if pts is not None:
                frame.pts, frame.time_base = pts[i], Fraction(1, 1000)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def _decode(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("videohash")
    base = _encode(d / "base.mp4", _frames(192, 144, 200, seed=1), fps=25)
    gap_ms = [40 * i for i in range(30)] + [3500 + 40 * i for i in range(20)]
    gap_ms += [7300 + 100 * i for i in range(25)]
    return {
        "base": base,
        "copy": Path(shutil.copyfile(base, d / "copy of base.mp4")),
        "requality": _encode(d / "requality.mp4", _decode(base), fps=25, crf=36),
        "other": _encode(d / "other.mp4", _stripes(192, 144, 200), fps=25),
        # Letterboxed, so the crop detection has something to find; mkv has 1 ms timestamps.
        "bars": _encode(d / "bars.mkv", _frames(176, 144, 150, seed=3, bars=24), fps=30),
        "ntsc": _encode(d / "ntsc.mov", _frames(160, 120, 110, seed=4), fps=Fraction(30000, 1001)),
        # Under 2 s: no crop-detection seek point has frames, so no crop is applied.
        "short": _encode(d / "short.mp4", _frames(160, 128, 36, seed=5), fps=24),
        # Timestamp gaps make ffmpeg's rate conversion repeat frames.
        "gaps": _encode(d / "gaps.mkv", _frames(160, 96, 75, seed=6), fps=25, pts=gap_ms),
        "portrait": _encode(d / "portrait.mp4", _frames(540, 960, 90, seed=7), fps=30),
    }


@pytest.fixture(scope="module")
def hashes(clips: dict[str, Path]) -> dict[str, str]:
    return {name: videohash_of(path) for name, path in clips.items()}


def test_hash_shape_and_determinism(clips: dict[str, Path], hashes: dict[str, str]) -> None:
    for h in hashes.values():
        assert len(h) == 66 and h.startswith("0b") and set(h[2:]) <= {"0", "1"}
    assert videohash_of(clips["base"]) == hashes["base"]


def test_copy_requality_and_unrelated(hashes: dict[str, str]) -> None:
    assert hashes["copy"] == hashes["base"]
    # videohash's own is_similar() threshold is 15 % of 64 bits, i.e. 10.
    assert hamming(hashes["base"], hashes["requality"]) <= 10
    # Unrelated clips land well beyond that threshold (random hashes would differ in ~32 bits,
    # but videohash's bits are correlated, e.g. its fixed tile colour pattern).
    assert hamming(hashes["base"], hashes["other"]) >= 16


def test_reimplementation_is_bit_equal(clips: dict[str, Path], hashes: dict[str, str]) -> None:
    for name, path in clips.items():
        assert videohash_reimplemented(path) == hashes[name], name


def test_shim_leaves_no_trace(
    clips: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    path_before, max_pixels = os.environ.get("PATH"), Image.MAX_IMAGE_PIXELS
    videohash_of(clips["short"])
    assert not hasattr(Image, "ANTIALIAS")
    assert os.environ.get("PATH") == path_before
    assert max_pixels == Image.MAX_IMAGE_PIXELS
    assert list(tmp_path.iterdir()) == []


def test_hamming() -> None:
    assert hamming("0b1010", "0b1010") == 0
    assert hamming("0b1010", "0b0101") == 4
    assert hamming("0b" + "1" * 64, "0b" + "0" * 64) == 64
    with pytest.raises(ValueError):
        hamming("0b101", "0b1010")
    with pytest.raises(ValueError):
        hamming("0x1f", "0x1f")
