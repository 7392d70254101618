"""Shared test helpers: tiny inline frames of posts in the export's shape."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import polars as pl
import pytest

from curation.stages.ingest import EXPORT_COLUMNS, TIMESTAMP_FORMAT
from synth.local_postgres import local_postgres
from synth.local_s3 import S3Server, seaweedfs

BASE_POST: dict[str, Any] = {
    "post_id": 1,
    "creator_id": 100,
    "created_at": "2021-05-03T10:00:00.000Z",
    "language": "hi",
    "duration_s": 20.0,
    "view_count": 1000,
    "like_count": 50,
    "share_count": 5,
    "comment_count": 3,
    "media_url": "https://cdn.sharevideo.example/v/someone/1.mp4",
    "media_sha256": "aa" * 32,
    "caption": "दोस्त प्यार",
    "hashtags": "#viral",
    "report_count": 0,
    "moderation_label": None,
}


def raw_posts(*rows: dict[str, Any]) -> pl.DataFrame:
    """Export-shaped posts: each row is BASE_POST with the given fields changed."""
    return pl.DataFrame([{**BASE_POST, **row} for row in rows], schema=EXPORT_COLUMNS)


def posts(*rows: dict[str, Any]) -> pl.DataFrame:
    """Validated posts (with `created_ts`), for stages after ingest."""
    frame = raw_posts(*rows)
    return frame.with_columns(
        pl.col("created_at")
        .str.to_datetime(TIMESTAMP_FORMAT, time_unit="ms", time_zone="UTC")
        .alias("created_ts")
    )


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture(autouse=True)
def _no_real_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see a pseudonym key from the developer's environment."""
    monkeypatch.delenv("MASSIV_PSEUDONYM_KEY", raising=False)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A real S3 server (SeaweedFS) on 127.0.0.1 for the whole session, with credentials."""
    with seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A real Postgres server on 127.0.0.1 for the whole session: the URL of a database whose
    user may create more."""
    with local_postgres() as url:
        yield url
