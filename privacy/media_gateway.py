"""The media gateway behind every released `media_url`: a live grant, a video the current
version holds and the platform still has, one signed log entry, then a short-lived URL of the
platform's media store (the video never passes through the site).

A video that some version released but the current one no longer holds (opted out) is gone,
and so is one whose media the platform has taken down (its takedown list, a side input of the
export): both answer 410 and are logged. A video no version released is unknown (404), with
nothing said about why. The current version must be checked against the newest opt-out batch,
as the desk requires. Log entries go through group commit (privacy/log_commit.py), so hundreds
of concurrent redirects share their fsyncs.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from privacy.access import AccessDenied, AccessDesk
from privacy.access_log import hash_url
from privacy.log_commit import GroupCommit
from storage.local import LocalStore, newest_live, unchecked_batch

DEFAULT_URL_S = 60  # enough to start playing; a URL cannot be recalled once handed out


class VideoGone(LookupError):
    """410: the dataset or the platform removed this video."""


class UnknownVideo(LookupError):
    """404: no version of the dataset released this video."""


@dataclass(frozen=True)
class MediaView:
    """What the store says now: the current version, its videos (video_id → media_sha256),
    every video any version released, and the media the platform took down."""

    version: str | None
    current: dict[str, str]
    released: frozenset[str]
    taken_down: frozenset[str]
    unchecked: str | None  # why the current version may not be served yet


def read_takedowns(path: Path | None) -> frozenset[str]:
    """The media_sha256 of every video the platform took down (CSV with that column)."""
    if path is None or not path.is_file():
        return frozenset()
    frame = pl.read_csv(
        path, columns=["media_sha256"], schema_overrides={"media_sha256": pl.String}
    )
    return frozenset(frame["media_sha256"].drop_nulls().to_list())


class MediaGateway:
    def __init__(
        self,
        desk: AccessDesk,
        store: LocalStore,
        commit: GroupCommit,
        presign: Callable[[str, int], str],
        takedowns: Path | None = None,
        url_seconds: int = DEFAULT_URL_S,
    ) -> None:
        self.desk = desk
        self.store = store  # the curator's store, with the versions' media indexes
        self.commit = commit
        self.presign = presign  # (media file name, seconds) → URL of the platform's store
        self.takedowns = takedowns
        self.url_seconds = url_seconds
        self._view: tuple[tuple[tuple[str, int], ...], MediaView] | None = None
        self._view_lock = threading.Lock()

    def open(self, grant_id: str, video_id: str, now: datetime | None = None) -> str:
        """The URL to redirect to (the access logged), or VideoGone / UnknownVideo /
        AccessDenied (each logged but the last, which the desk logs)."""
        with self.desk.live_grant(grant_id, now):
            url, event, details, refusal = self._decide(video_id)
            self.commit.append(event, grant_id, details, now)
        if refusal is not None:
            raise refusal
        return url

    async def open_async(self, grant_id: str, video_id: str) -> str:
        """`open` for the site's event loop: the check runs inline (well under a millisecond),
        and the wait for the log's commit holds no thread."""
        async with self.desk.live_grant_async(grant_id):
            url, event, details, refusal = self._decide(video_id)
            await asyncio.wrap_future(self.commit.submit(event, grant_id, details))
        if refusal is not None:
            raise refusal
        return url

    def _decide(self, video_id: str) -> tuple[str, str, dict[str, Any], Exception | None]:
        """(URL, log event, its details, the refusal to raise once it is logged)."""
        view = self.view()
        reason: str | None = None
        if view.unchecked:
            reason = view.unchecked
        elif video_id not in view.current:
            if video_id not in view.released:
                raise UnknownVideo(video_id)
            reason = "removed from the dataset (opted out)"
        elif view.current[video_id] in view.taken_down:
            reason = "taken down on the platform"
        if reason is not None:
            refusal = (
                AccessDenied(reason) if view.unchecked else VideoGone(f"video {video_id}: {reason}")
            )
            return "", "media_refused", {"video": video_id, "reason": reason}, refusal
        url = self.presign(f"{view.current[video_id]}.mp4", self.url_seconds)
        details = {"video": video_id, "version": view.version, "url_sha256": hash_url(url)}
        return url, "media_access", details, None

    def view(self) -> MediaView:
        """The store's state, read again only when one of its files changed."""
        stamp = self._stamp()
        with self._view_lock:
            if self._view is None or self._view[0] != stamp:
                self._view = (stamp, self._read_view())
            return self._view[1]

    def _stamp(self) -> tuple[tuple[str, int], ...]:
        store, dataset = self.store, self.desk.dataset
        root = store.root / dataset
        paths = [root, root / "withdrawn.json", root / "coverage.json", store.builds_dir(dataset)]
        if self.takedowns is not None:
            paths.append(self.takedowns)
        return tuple((str(p), _mtime(p)) for p in paths)

    def _read_view(self) -> MediaView:
        store, dataset = self.store, self.desk.dataset
        versions = store.versions(dataset)
        current = newest_live(versions, store.withdrawn(dataset))
        released: set[str] = set()
        videos: dict[str, str] = {}
        for version in versions:
            index = store.build(dataset, version).media
            if not index.is_file():
                continue
            frame = pl.read_parquet(index)
            released.update(frame["video_id"].to_list())
            if version == current:
                videos = dict(zip(frame["video_id"], frame["media_sha256"], strict=True))
        batch = unchecked_batch(store, dataset, current) if current else None
        unchecked = None
        if current is None:
            unchecked = f"no version of {dataset} is available"
        elif batch is not None:
            unchecked = self.desk.unchecked_reason(current, batch)
        return MediaView(
            current, videos, frozenset(released), read_takedowns(self.takedowns), unchecked
        )


def _mtime(path: Path) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except FileNotFoundError:
        return 0
