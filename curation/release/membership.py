"""Is a creator's video in a release? ("Am I in it?" on the site.)

A video counts as in the release when its media file is one of the released files, or when
it near-duplicates a released video by the same fingerprints and matcher curation used (the
fingerprint store of the latest run, looked up by media checksum). The answer is a bool:
nothing about which video matched, or how many, ever leaves this module.
"""

from __future__ import annotations

import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from curation.release.copies import FingerprintSource, fingerprint_source
from curation.video.fingerprint import FingerprintSettings
from curation.video.fingerprint_store import FRAME, scan_store
from curation.video.isolated import UploadLimits, UploadRejected, fingerprint_untrusted
from curation.video.neardup import match_references
from curation.video.screen import explode_frames
from storage.local import LocalStore
from storage.media import media_opener
from storage.runs import PlatformExport

NO_FRAMES = explode_frames(pl.DataFrame(schema={"video": pl.Int32, "frames": pl.List(FRAME)}))


@dataclass(frozen=True)
class ReleaseIndex:
    version: str
    media: frozenset[str]  # media_sha256 of every released video
    frames: pl.DataFrame  # (video, frame, t, h, hm, p) of the released videos fingerprinted
    source: FingerprintSource | None


def release_index(
    store: LocalStore, dataset: str, version: str, source: FingerprintSource | None
) -> ReleaseIndex:
    """What `contains` compares against, for one version (its media index and frames)."""
    media = pl.read_parquet(store.build(dataset, version).media, columns=["media_sha256"])
    if source is None:
        return ReleaseIndex(version, frozenset(media["media_sha256"]), NO_FRAMES, None)
    released = media.unique().sort("media_sha256").with_row_index("video")
    stored = (
        scan_store(source.store, source.version)
        .filter(pl.col("status") == "ok")
        .select("media_sha256", "frames")
        .join(released.lazy(), on="media_sha256")
        .unique("media_sha256", keep="last")
        .collect()
    )
    frames = explode_frames(stored.select("video", "frames")).sort("video", "frame")
    return ReleaseIndex(version, frozenset(media["media_sha256"]), frames, source)


def contains(index: ReleaseIndex, media_sha256: str | None, frames: list[dict[str, Any]]) -> bool:
    """True when the video (its file's checksum, its fingerprint's frames) is in the release."""
    if media_sha256 is not None and media_sha256 in index.media:
        return True
    if not frames or index.source is None or index.frames.is_empty():
        return False
    query = explode_frames(
        pl.DataFrame(
            {"video": [0], "frames": [frames]},
            schema={"video": pl.Int32, "frames": pl.List(FRAME)},
        )
    )
    return not match_references(index.frames, query, index.source.settings).is_empty()


def media_of_post(export: PlatformExport, post_id: int) -> str | None:
    """The media checksum of a post of the platform export (None: no such post)."""
    if not export.posts:
        return None
    found = (
        pl.scan_parquet(export.posts)
        .filter(pl.col("post_id") == post_id)
        .select("media_sha256")
        .head(1)
        .collect()
    )
    return found["media_sha256"][0] if found.height else None


def stored_frames(source: FingerprintSource | None, media_sha256: str) -> list[dict[str, Any]]:
    """The frames curation stored for a media file (empty when it never fingerprinted it)."""
    if source is None:
        return []
    found = (
        scan_store(source.store, source.version)
        .filter((pl.col("status") == "ok") & (pl.col("media_sha256") == media_sha256))
        .select("frames")
        .tail(1)
        .collect()
    )
    return list(found["frames"][0]) if found.height else []


class Busy(Exception):
    """As many videos as allowed are being decoded right now; ask again later."""


class Membership:
    """The checks behind "Am I in it?": the index of the current version (built again when
    the version changes), and links and uploads checked against it. At most `decodes` videos
    are fingerprinted at once (Busy beyond), each in a confined child process."""

    def __init__(
        self,
        store: LocalStore,
        dataset: str,
        curation_dir: Path,
        export_dir: Path,
        media_root: str,
        limits: UploadLimits,
        decodes: int,
    ) -> None:
        self.store, self.dataset, self.curation_dir = store, dataset, curation_dir
        self.export = PlatformExport(export_dir)
        self.open_media = media_opener(media_root)
        self.limits = limits
        self.decodes = threading.BoundedSemaphore(decodes)
        self._index: ReleaseIndex | None = None
        self._lock = threading.Lock()

    def index(self, version: str) -> ReleaseIndex:
        with self._lock:
            if self._index is None or self._index.version != version:
                source = fingerprint_source(self.curation_dir)
                self._index = release_index(self.store, self.dataset, version, source)
            return self._index

    def link(self, version: str | None, post_id: int) -> bool:
        """Is the export's post `post_id` (its file, or a copy of it) in `version`?"""
        sha = media_of_post(self.export, post_id)
        if version is None or sha is None:
            return False
        index = self.index(version)
        if contains(index, sha, []):
            return True
        frames = stored_frames(index.source, sha)
        if not frames and index.source is not None:  # curation never saw it: fingerprint it now
            try:
                frames = self._decode(self.open_media(f"{sha}.mp4"), index)
            except (UploadRejected, OSError):  # the platform's own file: unreadable, no match
                return False
        return contains(index, None, frames)

    def upload(self, version: str | None, path: Path, sha: str) -> bool:
        """Is the uploaded file (or a copy of it) in `version`? UploadRejected: not a video
        we can read within the limits."""
        if version is None:
            return False
        index = self.index(version)
        if contains(index, sha, []):
            return True
        return index.source is not None and contains(index, None, self._decode(path, index))

    def _decode(self, media: Any, index: ReleaseIndex) -> list[dict[str, Any]]:
        if not self.decodes.acquire(blocking=False):
            raise Busy
        try:
            with tempfile.TemporaryDirectory(prefix="massiv-lookup-") as tmp:
                if not isinstance(media, Path):  # bytes from S3: the child reads a file
                    copy = Path(tmp) / "media.mp4"
                    copy.write_bytes(media.read())
                    media = copy
                settings = index.source.fingerprint if index.source else FingerprintSettings()
                return fingerprint_untrusted(media, settings, self.limits)
        finally:
            self.decodes.release()
