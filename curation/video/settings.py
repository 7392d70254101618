"""The video config turned into the settings of the fingerprinter and the matcher."""

from __future__ import annotations

from curation.config import VideoConfig
from curation.video.fingerprint import FingerprintSettings
from curation.video.neardup import NearDupSettings


def settings_of(config: VideoConfig) -> FingerprintSettings:
    return FingerprintSettings(
        sample_fps=config.sample_fps,
        max_frames=config.max_frames,
        mode=config.mode,
        crop_grid=config.crop_grid,
        max_insets=config.max_insets,
        colour_frames=config.nudity_frames if config.nudity_threshold is not None else 0,
    )


def neardup_settings(video: VideoConfig) -> NearDupSettings:
    return NearDupSettings(
        blocks=video.blocks,
        strict_bits=video.strict_bits,
        frame_bits=video.frame_bits,
        min_share=video.min_share,
        min_aligned=video.min_aligned,
        max_bucket=video.max_bucket,
        probe_frames=video.probe_frames,
        inset_probe_frames=video.inset_probe_frames,
    )
