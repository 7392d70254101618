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
from collections.abc import Callable
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from curation.release.membership import Busy, Membership
from curation.video.isolated import UploadLimits, UploadRejected
from flows.web.forms import FormKit
from privacy.media_gateway import MediaGateway
from privacy.opt_out import post_of_link
from storage.local import LocalStore

FORM_OVERHEAD = 64 * 1024  # the multipart body beyond the clip: boundaries, token, link


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
    config = kit.config
    membership = Membership(
        LocalStore(config.access.store),
        config.access.dataset,
        config.curation_dir,
        config.export_dir,
        config.media_root,
        UploadLimits(max_duration_s=config.upload_max_s, timeout_s=config.upload_timeout_s),
        config.upload_decodes,
    )

    async def ask(check: Callable[..., bool], *args: object) -> bool:
        """A check of the current version, in a worker thread (decoding takes a while)."""
        try:
            return await run_in_threadpool(check, gateway.view().version, *args)
        except Busy:
            busy = "many videos are being checked right now; try again soon"
            raise HTTPException(503, busy) from None

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
            kit.limit(request, "lookup")
            link, clip = str(data.get("link") or "").strip(), data.get("clip")
            has_clip = isinstance(clip, UploadFile) and bool(clip.filename)
            if bool(link) == has_clip:
                return form(request, 400, "give the link of your video, or a clip, not both")
            if link:
                post_id = post_of_link(link, config.platform_url)
                if post_id is None:
                    return form(request, 400, f"that is not a link to a video on {platform}")
                found = await ask(membership.link, post_id)
            else:
                assert isinstance(clip, UploadFile)
                with tempfile.TemporaryDirectory(prefix="massiv-upload-") as tmp:
                    path, sha = await save_upload(clip, Path(tmp), max_bytes)
                    try:
                        found = await ask(membership.upload, path, sha)
                    except UploadRejected as exc:
                        return form(request, 400, f"we could not check that clip: {exc}")
        return kit.page(request, "lookup_answer.html", found=found, link=link)

    return router
