"""The site's plain-ASGI middleware: security headers on every answer, a Server-Timing of
the app's own time, and an access line that keeps no secret."""

from __future__ import annotations

import logging
import time

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from privacy.web_auth import loggable_path

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; img-src 'self'; style-src 'self'; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
ACCESS_LOG = logging.getLogger("massiv.site")  # `massiv serve --access-log` shows it
PLAYER_CSP = (
    "default-src 'none'; media-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'none'"
)


class SecurityHeaders:
    """The security headers on every answer, `Server-Timing: app;dur=` (ms from the request
    reaching the app to its answer, the wait for a worker thread included; bench/serve.py reads
    it), and one access line with every secret cut out. Plain ASGI: Starlette's
    BaseHTTPMiddleware cost a task and a stream per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        player = scope["path"].startswith("/platform-media/")  # the browser's own player

        async def send_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.update(SECURITY_HEADERS)
                if player:
                    headers["Content-Security-Policy"] = PLAYER_CSP
                ms = (time.perf_counter() - start) * 1e3
                app_ms = f"app;dur={ms:.2f}"
                inner = headers.get("server-timing")  # a route's own, e.g. the gateway's
                headers["Server-Timing"] = f"{inner}, {app_ms}" if inner else app_ms
                if ACCESS_LOG.isEnabledFor(logging.INFO):
                    path = loggable_path(scope["path"], scope.get("query_string", b""))
                    ACCESS_LOG.info(
                        "%s %s %d %.1f ms", scope["method"], path, message["status"], ms
                    )
            await send(message)

        await self.app(scope, receive, send_headers)
