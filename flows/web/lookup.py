""" "Am I in it?": a creator gives a link to their video or uploads a clip, and the site says
yes or no for the current release, and nothing else.

Near-duplicates count, by the fingerprints and matcher of curation (curation.release.
membership). An upload is size-capped before it is parsed, decoded in a confined child
process (curation.video.isolated), and deleted after; a few decode at once, the rest are asked
to come back. The answer page is the same for every "no" and every "yes", and offers the
opt-out form, pre-filled with the link when there is one.
"""

from __future__ import annotations

import hashlib
import tempfile
import threading
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from curation.release.copies import fingerprint_source
from curation.release.membership import (
    ReleaseIndex,
    contains,
    media_of_post,
    release_index,
    stored_frames,
)
from curation.video.fingerprint import FingerprintSettings
from curation.video.isolated import UploadLimits, UploadRejected, fingerprint_untrusted
from flows.web.forms import FormKit
from privacy.media_gateway import MediaGateway
from privacy.opt_out import post_of_link
from storage.local import LocalStore
from storage.media import media_opener
from storage.runs import PlatformExport

FORM_OVERHEAD = 64 * 1024  # the multipart body beyond the clip: boundaries, token, link


class Lookups:
    """The current release's index (rebuilt when the current version changes) and the link
    and upload checks against it."""

    def __init__(self, kit: FormKit, gateway: MediaGateway) -> None:
        config = kit.config
        self.config, self.gateway = config, gateway
        self.store = LocalStore(config.access.store)
        self.export = PlatformExport(config.export_dir)
        self.open_media = media_opener(config.media_root)
        self.limits = UploadLimits(
            max_duration_s=config.upload_max_s, timeout_s=config.upload_timeout_s
        )
        self.decodes = threading.BoundedSemaphore(config.upload_decodes)
        self._index: ReleaseIndex | None = None
        self._lock = threading.Lock()

    def index(self) -> ReleaseIndex | None:
        version = self.gateway.view().version
        if version is None:
            return None
        with self._lock:
            if self._index is None or self._index.version != version:
                source = fingerprint_source(self.config.curation_dir)
                self._index = release_index(self.store, self.config.access.dataset, version, source)
            return self._index

    def settings(self, index: ReleaseIndex) -> FingerprintSettings:
        return index.source.fingerprint if index.source else FingerprintSettings()

    def link(self, post_id: int) -> bool:
        index = self.index()
        sha = media_of_post(self.export, post_id)
        if index is None or sha is None:
            return False
        if contains(index, sha, []):
            return True
        frames = stored_frames(index.source, sha)
        if not frames and index.source is not None:  # curation never saw it: fingerprint it now
            try:
                frames = self.decode(self.open_media(f"{sha}.mp4"), index)
            except (UploadRejected, OSError):  # the platform's own file: unreadable, no match
                return False
        return contains(index, None, frames)

    def upload(self, path: Path, sha: str) -> bool:
        index = self.index()
        if index is None:
            return False
        if contains(index, sha, []):
            return True
        return index.source is not None and contains(index, None, self.decode(path, index))

    def decode(self, media: Any, index: ReleaseIndex) -> list[dict[str, Any]]:
        if not self.decodes.acquire(blocking=False):
            raise HTTPException(503, "many videos are being checked right now; try again soon")
        try:
            with tempfile.TemporaryDirectory(prefix="massiv-lookup-") as tmp:
                if not isinstance(media, Path):  # bytes from S3: the child reads a file
                    copy = Path(tmp) / "media.mp4"
                    copy.write_bytes(media.read())
                    media = copy
                return fingerprint_untrusted(media, self.settings(index), self.limits)
        finally:
            self.decodes.release()


async def save_upload(clip: UploadFile, folder: Path, max_bytes: int) -> tuple[Path, str]:
    """The upload, copied to `folder` (at most max_bytes), and its sha256."""
    target, digest, size = folder / "upload", hashlib.sha256(), 0
    with target.open("wb") as out:
        while chunk := await clip.read(1 << 20):
            size += len(chunk)
            if size > max_bytes:
                raise HTTPException(413, f"the clip is larger than {max_bytes >> 20} MB")
            digest.update(chunk)
            out.write(chunk)
    if size == 0:
        raise HTTPException(400, "the clip is empty")
    return target, digest.hexdigest()


def lookup_router(kit: FormKit, gateway: MediaGateway) -> APIRouter:
    router = APIRouter()
    config, lookups = kit.config, Lookups(kit, gateway)
    max_bytes = config.upload_max_mb << 20
    platform = config.platform_url.removeprefix("https://").removeprefix("http://")

    def form(request: Request, status: int = 200, error: str | None = None) -> Response:
        context = {"platform": platform, "max_mb": config.upload_max_mb, "error": error}
        return kit.page(request, "lookup.html", status, **context)

    @router.get("/am-i-in-it", response_class=HTMLResponse)
    def page(request: Request) -> Response:
        return form(request)

    @router.post("/am-i-in-it", response_class=HTMLResponse)
    async def check(request: Request) -> Response:
        length = request.headers.get("content-length", "")
        if not length.isdigit():
            raise HTTPException(411, "send the form with its length")
        if int(length) > max_bytes + FORM_OVERHEAD:
            raise HTTPException(413, f"the clip is larger than {config.upload_max_mb} MB")
        async with request.form(max_files=1, max_fields=3, max_part_size=64 * 1024) as data:
            kit.csrf.check(request, str(data.get("csrf_token") or ""))
            client = request.client.host if request.client else "?"
            if not kit.state.allow_post(f"lookup:{client}", config.lookups_per_hour):
                raise HTTPException(429, "too many checks from this address; try again in an hour")
            link, clip = str(data.get("link") or "").strip(), data.get("clip")
            has_clip = isinstance(clip, UploadFile) and bool(clip.filename)
            if bool(link) == has_clip:
                return form(request, 400, "give the link of your video, or a clip, not both")
            if link:
                post_id = post_of_link(link, config.platform_url)
                if post_id is None:
                    return form(request, 400, f"that is not a link to a video on {platform}")
                found = await run_in_threadpool(lookups.link, post_id)
            else:
                assert isinstance(clip, UploadFile)
                with tempfile.TemporaryDirectory(prefix="massiv-upload-") as tmp:
                    path, sha = await save_upload(clip, Path(tmp), max_bytes)
                    try:
                        found = await run_in_threadpool(lookups.upload, path, sha)
                    except UploadRejected as exc:
                        return form(request, 400, f"we could not check that clip: {exc}")
        return kit.page(request, "lookup_answer.html", found=found, link=link)

    return router
