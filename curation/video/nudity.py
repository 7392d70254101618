"""Optional nudity screening of sampled frames with NudeNet (the extra `nudity`, off by default).

NudeNet's wheel ships its ONNX detector (`320n.onnx`), so nothing is downloaded at run time. Its
package metadata says MIT, but the LICENSE file it bundles is AGPL-3.0: it is an optional extra,
never a default dependency, and turning it on (`video.nudity_threshold`) is the operator's
licensing decision. A video's score is the highest detector score for an exposed-body label over
its sampled colour frames; the curate flow excludes videos at or above the threshold as
`video:sensitive_nudity`. The frames are scored in memory and never written anywhere.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np

# NudeNet labels that make a video sensitive; faces, covered parts and feet do not.
SENSITIVE_LABELS = frozenset(
    {
        "FEMALE_GENITALIA_EXPOSED",
        "MALE_GENITALIA_EXPOSED",
        "FEMALE_BREAST_EXPOSED",
        "BUTTOCKS_EXPOSED",
        "ANUS_EXPOSED",
    }
)


class NudityUnavailable(RuntimeError):
    """The detector was asked for but its optional extra is not installed."""


def available() -> bool:
    try:
        import nudenet  # noqa: F401
    except ImportError:
        return False
    return True


def require() -> None:
    """Fail early, with the fix, when the config asks for a detector that is not installed."""
    if not available():
        raise NudityUnavailable(
            "video.nudity_threshold is set but NudeNet is not installed: install the optional "
            "extra with `uv sync --extra nudity` (NudeNet bundles an AGPL-3.0 licence)"
        )


@functools.cache
def _detector() -> Any:
    require()
    from nudenet import NudeDetector

    return NudeDetector()  # loads the ONNX model from inside the installed package


def nudity_score(frames: Sequence[np.ndarray]) -> tuple[float, str | None]:
    """(highest score, its label) over BGR frames, for the sensitive labels only; (0, None)
    when nothing sensitive is detected."""
    best: tuple[float, str | None] = (0.0, None)
    detector = _detector()
    for frame in frames:
        for hit in detector.detect(np.ascontiguousarray(frame)):
            if hit["class"] in SENSITIVE_LABELS and float(hit["score"]) > best[0]:
                best = (float(hit["score"]), str(hit["class"]))
    return best
