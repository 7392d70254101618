"""A researcher's journey in Chromium: signs in with a password, is told that a version they
downloaded was withdrawn, and confirms deleting it; the confirmation lands in the signed log."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from curation.config import SiteConfig
from privacy.audit import open_desk
from privacy.blocklist import Blocklist
from privacy.web_auth import hash_password
from storage.local import LocalStore
from storage.site_state import SiteState
from tests.curation.release.test_build import publish
from tests.flows.web.conftest import Mailbox, approved, site_config
from tests.flows.web.test_browser import new_page

PASSWORD = "a researcher's long password"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, mailbox: Mailbox) -> SiteConfig:
    root = tmp_path_factory.mktemp("researcher")
    publish(LocalStore(root / "store"), "1.0.0", Blocklist.empty())
    return site_config(root, mailbox)


def test_a_researcher_is_told_of_a_withdrawal_and_confirms_deleting_it(
    site: SiteConfig, server: str, browser: Any, tmp_path: Path
) -> None:
    grant = approved(site, "Noor")
    desk = open_desk(site.access)
    desk.issue(grant)  # Noor downloads 1.0.0; then an opt-out withdraws it
    store = LocalStore(site.access.store)
    publish(store, "1.0.1", Blocklist.empty())
    store.withdraw("d", "1.0.0", "held videos whose creators opted out", 30, datetime.now(UTC))
    SiteState(site.state).set_password("noor@uni.example", hash_password(PASSWORD))

    page, shots = new_page(browser, tmp_path)
    page.goto(server + "/researcher")
    assert page.url.endswith("/researcher/login")
    page.screenshot(path=str(shots / "researcher-login.png"), full_page=True)
    form = page.locator("form", has=page.locator("input[name=password]"))
    form.locator("input[name=email]").fill("noor@uni.example")
    form.locator("input[name=password]").fill(PASSWORD)
    form.locator("button").click()
    notice = page.locator("section.notice")
    assert "Version 1.0.0 was withdrawn" in notice.inner_text()
    assert "use 1.0.1" in notice.inner_text()
    assert page.locator("ul.files a").count() > 0  # 1.0.1's files
    assert page.title().startswith("Your access")
    page.screenshot(path=str(shots / "researcher.png"), full_page=True)
    notice.locator("button", has_text="I deleted version 1.0.0").click()
    assert "You confirmed deleting it" in page.locator("section.notice").inner_text()
    confirmed = [e for e in open_desk(site.access).log.entries()
                 if e["event"] == "deletion_confirmed"]  # fmt: skip
    assert [(e["actor"], e["details"]) for e in confirmed] == [(grant, {"version": "1.0.0"})]
    page.close()
