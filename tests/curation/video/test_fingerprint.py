from collections.abc import Callable
from pathlib import Path

import av
import cv2
import imagehash
import numpy as np
import pytest
from PIL import Image

from curation.video.fingerprint import (
    FingerprintSettings,
    VideoError,
    fingerprint_video,
    phash_bits,
    popcount64,
)


def write_clip(
    path: Path,
    seconds: float = 4.0,
    fps: int = 15,
    size: tuple[int, int] = (180, 320),
    seed: int = 0,
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
    crf: int = 23,
) -> Path:
    """A small H.264 clip with textured, moving content (a pan over a blurred noise canvas)."""
    w, h = size
    rng = np.random.default_rng(seed)
    canvas = cv2.GaussianBlur(
        cv2.resize(
            (rng.random((40, 40, 3)) * 255).astype(np.uint8),
            (w * 3, h * 2),
            interpolation=cv2.INTER_CUBIC,
        ),
        (0, 0),
        2,
    )
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"crf": str(crf), "preset": "ultrafast"}
        for i in range(int(seconds * fps)):
            x = int(i * w * 1.5 / (seconds * fps))
            frame: np.ndarray = np.ascontiguousarray(canvas[h // 4 : h // 4 + h, x : x + w])
            cv2.putText(
                frame, f"{seed}", (10, h // 2), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (255, 255, 255), 3
            )
            if transform is not None:
                frame = np.ascontiguousarray(transform(frame), dtype=np.uint8)
            picture = av.VideoFrame.from_ndarray(frame.astype(np.uint8), format="bgr24")
            for packet in stream.encode(picture):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """For each hash of `a`, the distance to the closest hash of `b`."""
    return popcount64(a[:, None] ^ b[None, :]).min(axis=1)


def test_phash_equals_imagehash() -> None:
    rng = np.random.default_rng(1)
    frames = (rng.random((12, 90, 60)) * 255).astype(np.uint8)
    frames[6:] = cv2.GaussianBlur(frames[6:].transpose(1, 2, 0), (0, 0), 3).transpose(2, 0, 1)
    expected = [int(str(imagehash.phash(Image.fromarray(f))), 16) for f in frames]
    assert [int(h) for h in phash_bits(frames)] == expected


def test_fingerprint_samples_one_frame_per_second(tmp_path: Path) -> None:
    fp = fingerprint_video(write_clip(tmp_path / "a.mp4", seconds=6))
    assert fp.sampled == 6 and 1 <= len(fp.hashes) <= 6
    assert np.all(np.diff(fp.times) >= 0.99) and fp.duration_s == pytest.approx(6, abs=0.2)
    assert (fp.width, fp.height) == (180, 320)
    again = fingerprint_video(tmp_path / "a.mp4")
    assert np.array_equal(fp.hashes, again.hashes)


def test_frame_hashes_are_imagehash_of_the_grey_frame(tmp_path: Path) -> None:
    path = write_clip(tmp_path / "a.mp4", seconds=3)
    settings = FingerprintSettings(min_texture=0, repeat_bits=-1)
    fp = fingerprint_video(path, settings)
    with av.open(str(path)) as c:
        first = next(c.decode(video=0))
    grey = first.reformat(width=128, height=228, format="gray", interpolation="AREA").to_ndarray()
    assert int(fp.hashes[0]) == int(str(imagehash.phash(Image.fromarray(grey))), 16)
    assert int(fp.mirrored[0]) == int(str(imagehash.phash(Image.fromarray(grey[:, ::-1]))), 16)


def test_edits_stay_close_and_other_videos_do_not(tmp_path: Path) -> None:
    base = fingerprint_video(write_clip(tmp_path / "a.mp4"))
    reencoded = fingerprint_video(write_clip(tmp_path / "b.mp4", crf=35))
    barred = fingerprint_video(
        write_clip(
            tmp_path / "c.mp4",
            transform=lambda f: cv2.copyMakeBorder(
                cv2.resize(f, (180, 240)), 40, 40, 0, 0, cv2.BORDER_CONSTANT, value=0
            ),
        )
    )
    mirrored = fingerprint_video(write_clip(tmp_path / "d.mp4", transform=lambda f: f[:, ::-1]))
    other = fingerprint_video(write_clip(tmp_path / "e.mp4", seed=9))
    assert np.median(distance(reencoded.hashes, base.hashes)) <= 6
    assert np.median(distance(barred.hashes, base.hashes)) <= 12  # bars cropped, aspect changed
    assert np.median(distance(mirrored.mirrored, base.hashes)) <= 6
    assert np.median(distance(other.hashes, base.hashes)) >= 16


def nearest_region(copy: np.ndarray, regions: np.ndarray) -> np.ndarray:
    """Per frame of `copy`, the distance to the nearest region hash of the same frame."""
    return np.bitwise_count(copy[:, None] ^ regions).min(axis=1)


def test_a_cropped_copy_is_close_to_one_of_the_crop_windows(tmp_path: Path) -> None:
    base = fingerprint_video(write_clip(tmp_path / "a.mp4", seconds=6))
    cropped = fingerprint_video(
        write_clip(
            tmp_path / "b.mp4",
            seconds=6,
            transform=lambda f: cv2.resize(f[4:292, 14:176], (180, 320)),  # 90%, off centre
        )
    )
    n = min(len(base.hashes), len(cropped.hashes))
    assert base.probes.shape[1] == 9  # a 3×3 grid of 90% windows, no insets in a plain clip
    whole = np.median(distance(cropped.hashes[:n], base.hashes[:n]))
    windows = np.median(nearest_region(cropped.hashes[:n], base.probes[:n, :9]))
    assert windows <= 6 and windows < whole


def test_an_inset_is_found_and_hashes_like_the_video_inside(tmp_path: Path) -> None:
    inside = fingerprint_video(write_clip(tmp_path / "a.mp4", seconds=6))

    def window(frame: np.ndarray) -> np.ndarray:  # the clip, half size, over a flat background
        out = np.full_like(frame, 90)
        out[80:240, 80:170] = cv2.resize(frame, (90, 160), interpolation=cv2.INTER_AREA)
        return out

    host = fingerprint_video(write_clip(tmp_path / "b.mp4", seconds=6, transform=window))
    assert host.insets, "the window should be found"
    n = min(len(inside.hashes), len(host.hashes))
    assert np.median(nearest_region(inside.hashes[:n], host.probes[:n, 9:])) <= 6
    assert np.median(distance(inside.hashes[:n], host.hashes[:n])) > 12


def test_keyframe_mode_decodes_only_keyframes(tmp_path: Path) -> None:
    fp = fingerprint_video(write_clip(tmp_path / "a.mp4"), FingerprintSettings(mode="keyframes"))
    assert fp.sampled >= 1 and len(fp.hashes) <= fp.sampled


def test_flat_frames_are_dropped(tmp_path: Path) -> None:
    path = write_clip(tmp_path / "flat.mp4", transform=lambda f: np.full_like(f, 128))
    with pytest.raises(VideoError) as info:
        fingerprint_video(path)
    assert info.value.reason == "no_textured_frames"


def audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=16000)
        for i in range(20):
            frame = av.AudioFrame.from_ndarray(
                np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
            )
            frame.sample_rate, frame.pts = 16000, i * 1024
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def unknown_codec(path: Path) -> Path:
    """A Matroska file whose video track names a codec FFmpeg does not know (same length ID)."""
    data = write_clip(path.with_suffix(".mkv")).read_bytes()
    assert data.count(b"V_MPEG4/ISO/AVC") == 1
    path.write_bytes(data.replace(b"V_MPEG4/ISO/AVC", b"V_MASSIV/NOPE/X"))
    return path


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda p: (p.write_bytes(b""), p)[1], "empty_file"),
        (
            lambda p: (p.write_bytes(np.random.default_rng(0).bytes(50_000)), p)[1],
            "unreadable_container",
        ),
        (audio_only, "no_video_stream"),
        (unknown_codec, "unsupported_codec"),
    ],
)
def test_bad_files_get_a_reason(tmp_path: Path, make: Callable[[Path], Path], reason: str) -> None:
    with pytest.raises(VideoError) as info:
        fingerprint_video(make(tmp_path / "bad.mp4"))
    assert info.value.reason == reason


def test_a_truncated_file_is_refused(tmp_path: Path) -> None:
    # Matroska keeps the duration in its header: a file cut short says how long it should be.
    data = write_clip(tmp_path / "whole.mkv", seconds=12).read_bytes()
    (tmp_path / "cut.mkv").write_bytes(data[: len(data) // 3])
    assert fingerprint_video(tmp_path / "whole.mkv").sampled == 12
    with pytest.raises(VideoError) as info:
        fingerprint_video(tmp_path / "cut.mkv")
    assert info.value.reason == "truncated"


@pytest.mark.parametrize("rate", [0.5, 2.0, 5.0])
def test_the_sampling_grid_holds_at_any_rate(tmp_path: Path, rate: float) -> None:
    settings = FingerprintSettings(sample_fps=rate, min_texture=0, repeat_bits=-1)
    fp = fingerprint_video(write_clip(tmp_path / "a.mp4", seconds=4, fps=15), settings)
    assert fp.sampled == int(4 * rate)  # one frame per 1/rate seconds, no drift
    assert np.all(np.diff(fp.times) >= 1 / rate - 1 / 15)


@pytest.mark.parametrize("gop", [5, 15, 40])
def test_skipping_gop_tails_samples_what_a_full_decode_would(tmp_path: Path, gop: int) -> None:
    path = tmp_path / "b.mp4"
    rng = np.random.default_rng(gop)
    with av.open(str(path), "w") as out:  # B-frames and a short GOP: frames arrive reordered
        stream = out.add_stream("libx264", rate=15)
        stream.width, stream.height, stream.pix_fmt = 96, 160, "yuv420p"
        stream.options = {"preset": "veryfast", "bf": "3", "g": str(gop), "keyint_min": str(gop)}
        for _ in range(90):
            noise = rng.integers(0, 255, (160, 96, 3), dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(noise, format="bgr24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    settings = FingerprintSettings(sample_fps=2.0, min_texture=0, repeat_bits=-1)
    fp = fingerprint_video(path, settings)
    with av.open(str(path)) as c:  # every packet decoded, the same decoder options
        c.streams.video[0].codec_context.options = {"skip_loop_filter": "all"}
        c.streams.video[0].codec_context.skip_frame = "NONREF"
        frames = sorted(c.decode(video=0), key=lambda f: f.pts or 0)
        picked = [next(f for f in frames if float(f.time) * 2 + 1e-6 >= k) for k in range(12)]
        expected = [float(f.time) for f in picked]
        greys = [
            f.reformat(width=128, height=214, format="gray", interpolation="AREA").to_ndarray()
            for f in picked
        ]
    assert fp.times.tolist() == pytest.approx(expected)
    assert fp.hashes.tolist() == phash_bits(np.stack(greys)).tolist()


def test_a_sideways_recording_is_hashed_as_it_is_displayed(tmp_path: Path) -> None:
    upright = write_clip(tmp_path / "a.mp4", seconds=4)
    sideways = tmp_path / "b.mp4"  # what a phone writes: the picture turned, plus a rotation tag
    with av.open(str(upright)) as src, av.open(str(sideways), "w") as out:
        stream = out.add_stream("libx264", rate=15)
        stream.width, stream.height, stream.pix_fmt = 320, 180, "yuv420p"
        stream.set_display_rotation(90)  # a player turns it 90° counter-clockwise
        for frame in src.decode(video=0):
            turned = np.ascontiguousarray(np.rot90(frame.to_ndarray(format="bgr24"), -1), np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(turned, format="bgr24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    a, b = fingerprint_video(upright), fingerprint_video(sideways)
    assert (b.width, b.height) == (180, 320)
    n = min(len(a.hashes), len(b.hashes))
    assert np.median(distance(a.hashes[:n], b.hashes[:n])) <= 4
