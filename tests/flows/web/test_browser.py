"""The site in a real browser: Debian's Chromium, driven by Playwright, against uvicorn."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

# Screenshots for docs/: MASSIV_SCREENSHOTS=docs/screenshots make test (kept in tmp otherwise).
SHOTS = os.environ.get("MASSIV_SCREENSHOTS")


def new_page(browser: Any, tmp_path: Path) -> tuple[Any, Path]:
    """A page the size of the README's screenshots, and where to put them."""
    shots = Path(SHOTS) if SHOTS else tmp_path
    shots.mkdir(parents=True, exist_ok=True)
    return browser.new_page(viewport={"width": 1100, "height": 900}), shots


def test_the_homepage_in_chromium(server: str, browser: Any, tmp_path: Path) -> None:
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    response = page.goto(server + "/")
    assert response is not None and response.status == 200
    assert page.title() == "d"
    rows = page.locator("section.versions tbody tr")
    assert rows.count() == 2
    assert rows.nth(0).inner_text().split("\t")[:2] == ["1.0.1", "current"]
    assert "withdrawn: holds opted-out content" in rows.nth(1).inner_text()
    # The stylesheet loaded under the site's own CSP (no console error, styled header).
    colour = page.locator("header").evaluate("e => getComputedStyle(e).backgroundColor")
    assert colour == "rgb(31, 58, 95)" and errors == []
    with page.expect_response(lambda r: r.url.endswith("croissant.json")) as caught:
        page.click("text=Croissant >> nth=0")
    assert caught.value.status == 200
    shots = Path(SHOTS) if SHOTS else tmp_path
    shots.mkdir(parents=True, exist_ok=True)
    page.goto(server + "/")
    page.screenshot(path=str(shots / "home.png"), full_page=True)
    assert (shots / "home.png").stat().st_size > 10_000
    page.close()


def test_a_researcher_requests_access_in_chromium(
    server: str, browser: Any, mailbox: Any, tmp_path: Path
) -> None:
    page, shots = new_page(browser, tmp_path)
    page.goto(server + "/access")
    page.fill("input[name=name]", "Ravi Menon")
    page.fill("input[name=institution]", "IISc Bangalore")
    page.fill("input[name=email]", "ravi@iisc.example")
    page.fill("textarea[name=purpose]", "Multilingual video understanding")
    page.check("input[name=terms]")
    page.screenshot(path=str(shots / "access-form.png"), full_page=True)
    page.click("button[type=submit]")
    assert "waiting for you to confirm your address" in page.inner_text("main")
    page.goto(server + mailbox.link("ravi@iisc.example"))
    page.click("button[type=submit]")
    assert "/access/status/" in page.url
    assert "requested" in page.inner_text("dl.status")
    page.screenshot(path=str(shots / "access-status.png"), full_page=True)
    page.close()


def test_a_creator_opts_out_in_chromium(
    server: str, browser: Any, mailbox: Any, tmp_path: Path
) -> None:
    page, shots = new_page(browser, tmp_path)
    page.goto(server + "/")
    page.click("text=Leave the dataset")
    page.fill("textarea[name=links]", "not a link")
    page.fill("input[name=email]", "maya@mail.example")
    page.click("button[type=submit]")
    assert "not a link to a video on sharevideo.example" in page.inner_text("p.error")
    page.fill("textarea[name=links]", "https://sharevideo.example/@maya/video/4242")
    page.screenshot(path=str(shots / "opt-out-form.png"), full_page=True)
    page.click("button[type=submit]")
    assert "confirm your address" in page.inner_text("main")
    page.goto(server + mailbox.link("maya@mail.example"))
    page.click("button[type=submit]")
    assert "the next daily opt-out run processes it" in page.inner_text("table.outcomes")
    page.screenshot(path=str(shots / "opt-out-status.png"), full_page=True)
    page.close()


def test_the_curator_works_both_queues_in_chromium(
    server: str, browser: Any, site: Any, mailbox: Any, tmp_path: Path
) -> None:
    from privacy.audit import open_desk
    from privacy.opt_out import read_requests
    from privacy.web_auth import hash_password

    site.curator_password_file.write_text(hash_password("a long enough password") + "\n")
    grant = open_desk(site.access).request("Lena Roy", "IIIT Hyderabad", "lena@iiit.example",
                                           "short-video affect", True)  # fmt: skip
    page, shots = new_page(browser, tmp_path)
    page.goto(server + "/opt-out")  # a creator asks to take out a whole account
    page.fill("input[name=handle]", "@ravi.films")
    page.fill("input[name=email]", "ravi@mail.example")
    page.click("button[type=submit]")
    page.goto(server + mailbox.link("ravi@mail.example"))
    page.click("button[type=submit]")
    assert "waits for the curator" in page.inner_text("main")

    page.goto(server + "/curator")
    assert "/curator/login" in page.url
    page.fill("input[name=password]", "a long enough password")
    page.click("button[type=submit]")
    row = page.locator("table.queue tr", has_text=grant.id)
    assert "Lena Roy" in row.inner_text()
    page.screenshot(path=str(shots / "curator.png"), full_page=True)
    row.locator("button", has_text="Approve").click()
    assert open_desk(site.access).grants()[grant.id].status == "approved"
    assert grant.id in page.locator("section", has_text="Approved").inner_text()
    waiting = page.locator("section", has_text="Whole-account opt-outs").locator(
        "tr", has_text="@ravi.films"
    )
    waiting.locator("button", has_text="Confirm").click()
    assert "None waiting" in page.locator("section", has_text="Whole-account opt-outs").inner_text()
    filed = read_requests(site.opt_out_requests).select("scope", "target").rows()
    assert filed.count(("creator", "https://sharevideo.example/@ravi.films")) == 1
    page.close()
