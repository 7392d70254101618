"""The media gateway's routes: `/media/{video_id}` (what every released media_url points at)
for a signed-in researcher or an API token, and, when the platform's media store is a local
folder (the demo), `/platform-media/{name}` serving its signed, short-lived links."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import FileResponse, RedirectResponse

from flows.web.api import bearer_grant
from flows.web.forms import SESSION_COOKIE, FormKit
from flows.web.researcher import PREFIX
from privacy.access import AccessDenied
from privacy.media_gateway import MediaGateway, UnknownVideo, VideoGone
from privacy.web_auth import media_signature, media_signature_ok
from storage.location import is_s3, s3_client, split_s3

MEDIA_NAME = re.compile(r"^[0-9a-f]{64}\.mp4$")
VIDEO_ID = re.compile(r"^[0-9a-f]{4,64}$")


def presigner(kit: FormKit) -> Callable[[str, int], str]:
    """(name, seconds) → URL of the platform's media store: presigned S3 GETs, or signed
    links to this site's /platform-media for a local folder."""
    root = kit.config.media_root
    if is_s3(root):
        bucket, prefix = split_s3(root)

        def s3_url(name: str, seconds: int) -> str:
            key = f"{prefix}/{name}" if prefix else name
            return str(
                s3_client().generate_presigned_url(
                    "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=seconds
                )
            )

        return s3_url

    def local_url(name: str, seconds: int) -> str:
        expires = int(time.time()) + seconds
        sig = media_signature(kit.csrf.secret, name, expires)
        return f"/platform-media/{quote(name)}?expires={expires}&sig={sig}"

    return local_url


def media_router(kit: FormKit, gateway: MediaGateway) -> APIRouter:
    router = APIRouter()
    config, state = kit.config, kit.state

    def caller(request: Request) -> str:
        """The grant of an API token (Authorization: Bearer) or of a researcher's session."""
        grant = bearer_grant(state, request)
        if grant is not None:
            return grant
        who = state.session(request.cookies.get(SESSION_COOKIE), config.session_idle_s)
        if who is None or not who.startswith(PREFIX):
            raise HTTPException(401, "sign in on the researcher's page, or send an API token")
        return who.removeprefix(PREFIX)

    # Async: the check is quick and the wait is for the log's writer, so hundreds of viewers
    # wait together on the event loop rather than queueing for the 40 worker threads.
    @router.get("/media/{video_id}")
    async def media(request: Request, video_id: str) -> Response:
        start = time.perf_counter()
        grant = caller(request)
        if not VIDEO_ID.match(video_id):
            raise HTTPException(404, "no such video")
        try:
            url = await gateway.open_async(grant, video_id)
        except AccessDenied as exc:
            raise HTTPException(403, str(exc)) from None
        except VideoGone as exc:
            raise HTTPException(410, str(exc)) from None
        except UnknownVideo:
            raise HTTPException(404, "no such video") from None
        took = f"gateway;dur={(time.perf_counter() - start) * 1e3:.2f}"
        headers = {"Cache-Control": "no-store", "Server-Timing": took}
        return RedirectResponse(url, status_code=302, headers=headers)

    if not is_s3(config.media_root):
        folder = Path(config.media_root)

        @router.get("/platform-media/{name}")
        def platform_media(name: str, expires: int = 0, sig: str = "") -> Response:
            if not MEDIA_NAME.match(name) or not media_signature_ok(
                kit.csrf.secret, name, expires, sig
            ):
                raise HTTPException(403, "this media link is not valid")
            if expires < time.time():
                raise HTTPException(403, "this media link has expired")
            path = folder / name
            if not path.is_file():  # the platform deleted it
                raise HTTPException(404, "the platform has no such video")
            return FileResponse(path, media_type="video/mp4")

    return router
