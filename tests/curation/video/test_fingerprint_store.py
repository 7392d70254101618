from io import BytesIO
from pathlib import Path

import polars as pl

from curation.video.fingerprint import FingerprintSettings
from curation.video.fingerprint_store import (
    fingerprint_batch,
    missing_items,
    scan_store,
    store_version,
    write_part,
)


def failing_opener(location: str) -> BytesIO:
    raise OSError(f"s3://bucket/{location}: EndpointConnectionError")


def test_transient_failures_are_not_stored_so_the_next_run_retries(tmp_path: Path) -> None:
    settings = FingerprintSettings()
    rows = fingerprint_batch([(1, "a", "a.mp4")], failing_opener, settings)
    assert rows["status"].to_list() == ["media_unavailable"]
    assert "EndpointConnectionError" in rows["detail"][0]
    version = store_version(settings)
    write_part(tmp_path, rows, version)
    assert scan_store(tmp_path, version).collect().height == 0
    items = pl.DataFrame({"post_id": [1], "media_sha256": ["a"], "location": ["a.mp4"]})
    assert missing_items(items, tmp_path, version).height == 1


def test_the_store_key_changes_with_the_sampling_settings() -> None:
    base = store_version(FingerprintSettings())
    assert base == store_version(FingerprintSettings())
    assert base != store_version(FingerprintSettings(mode="keyframes"))
    assert base != store_version(FingerprintSettings(sample_fps=2.0))
