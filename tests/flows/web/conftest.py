"""A store with a withdrawn 1.0.0 and a current 1.0.1, the site over it, and a live server."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import uvicorn

from flows.web.app import create_app
from privacy.blocklist import Blocklist
from privacy.config import AccessConfig
from storage.local import LocalStore
from tests.curation.release.test_build import publish

WITHDRAWAL = "holds opted-out content; superseded by 1.0.1 <script>alert('x')</script>"


@pytest.fixture(scope="module")
def access(tmp_path_factory: pytest.TempPathFactory) -> AccessConfig:
    root = tmp_path_factory.mktemp("site")
    store = LocalStore(root / "store")
    publish(store, "1.0.0", Blocklist.empty())
    publish(store, "1.0.1", Blocklist.empty())
    store.withdraw("d", "1.0.0", WITHDRAWAL, 30, datetime(2026, 3, 1, tzinfo=UTC))
    return AccessConfig(access_dir=root / "access", store=root / "store", dataset="d")


@pytest.fixture(scope="module")
def server(access: AccessConfig) -> Iterator[str]:
    """uvicorn on 127.0.0.1 in a thread, as `massiv serve` runs it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    live = uvicorn.Server(
        uvicorn.Config(create_app(access), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=live.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not live.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    live.should_exit = True
    thread.join(timeout=10)


def chromium_path() -> Path:
    path = Path("/usr/bin/chromium")
    if not path.is_file():
        pytest.fail("Debian's Chromium is missing: `make test` installs it (apt package chromium)")
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=str(chromium_path()),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield chromium
        chromium.close()
