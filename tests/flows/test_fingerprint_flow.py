"""Fingerprinting fans out on a 2-worker Dask LocalCluster; the store makes reruns incremental."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from prefect.settings import PREFECT_API_URL
from prefect_dask import DaskTaskRunner

from curation.config import VideoConfig
from curation.video import nudity
from curation.video.fingerprint_store import frames_for, scan_store, store_version
from curation.video.neardup import NearDupSettings, find_near_duplicates
from curation.video.settings import settings_of
from flows.fingerprint import fingerprint_videos, task_runner
from tests.curation.video.test_fingerprint import write_clip

pytestmark = pytest.mark.slow


def test_fingerprints_on_dask_then_incrementally(harness: None, tmp_path: Path) -> None:
    media = tmp_path / "media"
    media.mkdir()
    write_clip(media / "a.mp4", seed=1)
    write_clip(media / "a_reencoded.mp4", seed=1, crf=35)
    write_clip(media / "b.mp4", seed=2)
    write_clip(media / "c.mp4", seed=3)
    (media / "broken.mp4").write_bytes(b"\x00" * 1000)
    items = pl.DataFrame(
        {
            "post_id": [1, 2, 3, 4, 5, 6],
            "media_sha256": ["a", "a2", "b", "c", "x", "y"],
            "location": ["a.mp4", "a_reencoded.mp4", "b.mp4", "c.mp4", "broken.mp4", "gone.mp4"],
        }
    )
    config = VideoConfig(media_root=str(media), store=tmp_path / "store", workers=2, batch_size=2)
    first = fingerprint_videos(items, config)
    assert first.fingerprinted == 6
    assert first.by_status == {"ok": 4, "unreadable_container": 1, "missing_file": 1}

    again = fingerprint_videos(items, config)
    # Everything is in the store but the missing file, which is tried again (it may arrive).
    assert again.fingerprinted == 1 and again.by_status == {"missing_file": 1}

    changed = items.with_columns(
        pl.when(pl.col("post_id") == 4)
        .then(pl.lit("c-new"))
        .otherwise("media_sha256")
        .alias("media_sha256")
    )
    assert fingerprint_videos(changed, config).fingerprinted == 2  # replaced media + missing
    version = store_version(settings_of(config))
    assert scan_store(tmp_path / "store", version).collect().height == 6  # the missing file: kept

    posts = changed.with_row_index("video")
    frames = frames_for(posts, tmp_path / "store", version)
    result = find_near_duplicates(frames, NearDupSettings())
    duplicates = result.pairs.filter(pl.col("duplicate")).select("video_a", "video_b").rows()
    assert duplicates == [(0, 1)]  # a and its re-encode, nothing else


def test_a_new_algorithm_version_starts_empty(tmp_path: Path) -> None:
    from curation.video.fingerprint_store import missing_items, write_part

    rows = pl.DataFrame({"post_id": [1], "media_sha256": ["a"], "status": ["ok"]})
    full = rows.with_columns(detail=pl.lit(None, pl.String))
    write_part(tmp_path, full.select("post_id", "media_sha256", "status"), version="vfp-0")
    items = pl.DataFrame({"post_id": [1], "media_sha256": ["a"], "location": ["a.mp4"]})
    assert missing_items(items, tmp_path, version="vfp-0").height == 0
    assert missing_items(items, tmp_path, version="vfp-1").height == 1


@pytest.mark.skipif(not nudity.available(), reason="extra `nudity` not installed")
def test_the_nudity_detector_scores_each_video_when_turned_on(
    harness: None, tmp_path: Path
) -> None:
    media = tmp_path / "media"
    media.mkdir()
    write_clip(media / "a.mp4", seed=1)
    items = pl.DataFrame({"post_id": [1], "media_sha256": ["a"], "location": ["a.mp4"]})
    on = VideoConfig(
        media_root=str(media), store=tmp_path / "store", workers=0, nudity_threshold=0.6
    )
    off = on.model_copy(update={"nudity_threshold": None})
    assert store_version(settings_of(on)) != store_version(settings_of(off))  # scored apart
    assert fingerprint_videos(items, on).by_status == {"ok": 1}
    row = (
        scan_store(tmp_path / "store", store_version(settings_of(on))).collect().row(0, named=True)
    )
    assert row["nudity_score"] is not None and row["nudity_score"] < 0.6


def test_dask_workers_report_to_the_flows_own_prefect_api(harness: None) -> None:
    # Without this each worker process would start (and report to) a temporary server of its own.
    runner = task_runner(VideoConfig(workers=2))
    assert isinstance(runner, DaskTaskRunner)
    assert runner.cluster_kwargs["env"] == {"PREFECT_API_URL": PREFECT_API_URL.value()}
    assert PREFECT_API_URL.value()
