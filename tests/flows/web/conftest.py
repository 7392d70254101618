"""A store with a withdrawn 1.0.0 and a current 1.0.1, the site over it, and a live server."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from curation.config import SiteConfig
from flows.web.app import create_app
from privacy.blocklist import Blocklist
from privacy.config import AccessConfig
from storage.local import LocalStore
from tests.curation.release.test_build import publish

WITHDRAWAL = "holds opted-out content; superseded by 1.0.1 <script>alert('x')</script>"


@dataclass
class Mailbox:
    """What a real SMTP server (aiosmtpd on 127.0.0.1) received."""

    port: int
    messages: list[EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content, policy=default))
        return "250 OK"

    def link(self, to: str, kind: str = "confirm") -> str:
        """The newest link of `kind` mailed to `to`, as a path."""
        for message in reversed(self.messages):
            if message["To"] == to:
                body = message.get_body().get_content()
                found = re.search(
                    rf"http://[^/\s]+(/(?:access|opt-out|researcher)/{kind}/\S+)", body
                )
                if found:
                    return found.group(1)
        raise AssertionError(f"no {kind} link mailed to {to}")


@pytest.fixture(scope="module")
def mailbox() -> Iterator[Mailbox]:
    from aiosmtpd.controller import Controller

    box = Mailbox(_free_port())
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    yield box
    controller.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
    access = AccessConfig(
        access_dir=root / "access",
        store=root / "store",
        dataset="d",
        signing_key=root / "keys" / "log.key",
        token_secret=root / "keys" / "token.key",
    )
    return SiteConfig(
        access=access,
        smtp_port=mailbox.port,
        state=root / "site.sqlite3",
        secret_file=root / "keys" / "site.key",
        curator_password_file=root / "keys" / "curator.argon2",
        **settings,
    )


@pytest.fixture(scope="module")
def access(site: SiteConfig) -> AccessConfig:
    return site.access


@pytest.fixture(scope="module")
def server(site: SiteConfig) -> Iterator[str]:
    """uvicorn on 127.0.0.1 in a thread, as `massiv serve` runs it."""
    port = _free_port()
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
