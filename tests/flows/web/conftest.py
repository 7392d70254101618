"""A store with a withdrawn 1.0.0 and a current 1.0.1, the site over it, and a live server."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from curation.config import SiteConfig
from flows.web.app import create_app
from privacy.audit import open_desk
from privacy.blocklist import Blocklist
from privacy.config import AccessConfig
from storage.local import LocalStore
from synth.local_smtp import Mailbox, free_port, smtp_server
from synth.site import site_config as synth_site
from tests.curation.release.test_build import publish

WITHDRAWAL = "holds opted-out content; superseded by 1.0.1 <script>alert('x')</script>"


@pytest.fixture(scope="module")
def mailbox() -> Iterator[Mailbox]:
    with smtp_server() as box:
        yield box


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, mailbox: Mailbox) -> SiteConfig:
    root = tmp_path_factory.mktemp("site")
    store = LocalStore(root / "store")
    publish(store, "1.0.0", Blocklist.empty())
    publish(store, "1.0.1", Blocklist.empty())
    store.withdraw("d", "1.0.0", WITHDRAWAL, 30, datetime(2026, 3, 1, tzinfo=UTC))
    return site_config(root, mailbox, form_posts_per_hour=50)


def site_config(root: Path, mailbox: Mailbox, **settings: Any) -> SiteConfig:
    """A site on the store at `root / "store"`, its keys and state under `root`."""
    return synth_site(root, mailbox.port, **settings)


def approved(site: SiteConfig, name: str) -> str:
    """A grant the curator approved for `name`, as its ID."""
    desk = open_desk(site.access)
    grant = desk.request(name, "Uni", f"{name.lower()}@uni.example", "research", True)
    desk.approve(grant.id, "curator")
    return grant.id


@pytest.fixture(scope="module")
def access(site: SiteConfig) -> AccessConfig:
    return site.access


@pytest.fixture(scope="module")
def server(site: SiteConfig) -> Iterator[str]:
    """uvicorn on 127.0.0.1 in a thread, as `massiv serve` runs it."""
    port = free_port()
    live = uvicorn.Server(
        uvicorn.Config(create_app(site), host="127.0.0.1", port=port, log_level="warning")
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
