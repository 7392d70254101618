from pathlib import Path

import numpy as np
import pytest

from curation.video import nudity
from curation.video.fingerprint import FingerprintSettings, fingerprint_video
from synth.video import make_person_clip

# `make test` installs the optional extra; without it these tests say why they cannot run.
needs_nudenet = pytest.mark.skipif(not nudity.available(), reason="extra `nudity` not installed")


@needs_nudenet
def test_the_detector_ships_in_its_wheel_and_scores_real_frames(tmp_path: Path) -> None:
    clip = make_person_clip(tmp_path / "vlog.mp4", seed=4, duration_s=4.0)
    assert clip.duration_s > 0
    fp = fingerprint_video(tmp_path / "vlog.mp4", FingerprintSettings(colour_frames=3))
    assert len(fp.colour) == 3 and fp.colour[0].shape == (568, 320, 3)
    score, label = nudity.nudity_score(fp.colour)
    assert 0.0 <= score < 0.5 and (label is None or label in nudity.SENSITIVE_LABELS)
    # The model really ran: NudeNet finds nothing sensitive in flat grey, and the call returns
    # per-frame detections (a list) for any BGR frame.
    detector = nudity._detector()
    assert detector.detect(np.full((320, 320, 3), 128, np.uint8)) == []


def test_a_missing_extra_is_named_with_its_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nudity, "available", lambda: False)
    with pytest.raises(nudity.NudityUnavailable, match="uv sync --extra nudity"):
        nudity.require()


def test_only_exposed_body_labels_count(monkeypatch: pytest.MonkeyPatch) -> None:
    class Detector:  # stands in for the model: its labels and scores are what is under test
        def detect(self, frame: np.ndarray) -> list[dict]:
            return [
                {"class": "FACE_FEMALE", "score": 0.95, "box": [0, 0, 9, 9]},
                {"class": "BUTTOCKS_EXPOSED", "score": 0.7, "box": [0, 0, 9, 9]},
                {"class": "FEET_EXPOSED", "score": 0.8, "box": [0, 0, 9, 9]},
            ]

    monkeypatch.setattr(nudity, "_detector", Detector)
    frames = [np.zeros((4, 4, 3), np.uint8)] * 2
    assert nudity.nudity_score(frames) == (0.7, "BUTTOCKS_EXPOSED")
    assert nudity.nudity_score([]) == (0.0, None)
