"""Fingerprint a file nobody vouches for (an upload to the site) in a child process.

The child caps its own memory, CPU time and file writes before it opens the file, refuses a
video longer or larger than the limits before decoding a frame, and is killed at the timeout.
Whatever the file does to the decoder, the site's process only ever reads one line of JSON.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from curation.video.fingerprint import (
    FingerprintSettings,
    VideoError,
    _open,
    fingerprint_video,
    frame_rows,
)

STATUS_REJECTED = 3  # the child's exit code for a file it refused (the reason on stdout)


@dataclass(frozen=True)
class UploadLimits:
    max_duration_s: float = 180.0
    max_pixels: int = 4096 * 4096  # of one frame
    timeout_s: float = 30.0  # wall clock, decode and fingerprint together
    memory_bytes: int = 3 << 30  # address space of the child (imports included)


class UploadRejected(Exception):
    """The file is not a video we can read within the limits (one line, safe to show)."""


def fingerprint_untrusted(
    path: Path, settings: FingerprintSettings, limits: UploadLimits = UploadLimits()
) -> list[dict[str, Any]]:
    """The frames of the video at `path`, fingerprinted in a confined child process."""
    command = [sys.executable, "-m", "curation.video.isolated", str(path)]
    job = json.dumps({"settings": asdict(settings), "limits": asdict(limits)})
    env = {"PATH": os.environ.get("PATH", ""), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    try:
        done = subprocess.run(
            command, input=job, capture_output=True, text=True, timeout=limits.timeout_s, env=env
        )
    except subprocess.TimeoutExpired:  # run() kills the child
        raise UploadRejected("the video took too long to read") from None
    try:
        answer = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        answer = {}
    if done.returncode == 0 and "frames" in answer:
        return list(answer["frames"])
    if done.returncode == STATUS_REJECTED and "error" in answer:
        raise UploadRejected(str(answer["error"]))
    raise UploadRejected("the file could not be read as a video")


def _confine(limits: UploadLimits) -> None:
    cpu = int(limits.timeout_s) + 1
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))  # writes no file
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _check_size(path: Path, limits: UploadLimits) -> None:
    with _open(path) as container:
        if not container.streams.video:
            raise VideoError("audio_only", "the file holds no video")
        stream = container.streams.video[0]
        if container.duration is None:
            raise VideoError("no_duration", "the file does not say how long it is")
        seconds = container.duration / 1_000_000
        if seconds > limits.max_duration_s:
            raise VideoError("too_long", f"{seconds:.0f} s; at most {limits.max_duration_s:.0f} s")
        codec = stream.codec_context
        if (codec.width or 0) * (codec.height or 0) > limits.max_pixels:
            raise VideoError("too_large", "the frames are too large")


def _child(path: Path) -> int:
    job = json.loads(sys.stdin.read())
    settings = FingerprintSettings(**job["settings"])
    limits = UploadLimits(**job["limits"])
    _confine(limits)  # from here on the untrusted file is touched
    try:
        _check_size(path, limits)
        frames = frame_rows(fingerprint_video(path, settings))
    except VideoError as exc:
        print(json.dumps({"error": _plain(exc)}))
        return STATUS_REJECTED
    except MemoryError:
        print(json.dumps({"error": "the video needs too much memory to read"}))
        return STATUS_REJECTED
    except Exception:  # whatever the decoder raised: nothing of it goes back but this
        print(json.dumps({"error": "the file could not be read as a video"}))
        return STATUS_REJECTED
    print(json.dumps({"frames": frames}))
    return 0


def _plain(exc: VideoError) -> str:
    known = {
        "too_long": f"the video is too long ({exc.detail})",
        "too_large": "the frames are too large",
        "audio_only": "the file holds no video",
        "no_textured_frames": "the video has no frames to compare (all flat)",
    }
    return known.get(exc.reason, "the file could not be read as a video")


if __name__ == "__main__":
    sys.exit(_child(Path(sys.argv[1])))
